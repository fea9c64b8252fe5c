// The trackers the browser benchmark measures side by side, each loaded the way a site loads it
// and configured as its own documentation advises, every one pointed at loopback: waymark at the
// real collector, the peers at the sink (bench/peers/sink.mjs), the no-op script as the floor.
//
// Each entry gives the <head> markup of its page (after the benchmark's `__t0` mark) and exposes
// `window.bench = { ready(): Promise, track(name, props), id?() }`, the only thing the measuring
// code calls, so every tracker is measured by the same code. `notes` says how it was loaded and
// configured; it goes into the results table.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NM = path.join(ROOT, 'node_modules');

export function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(NM, name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

const SEGMENT_KEY = 'benchWriteKey';
const POSTHOG_TOKEN = 'phc_bench';
const AMPLITUDE_KEY = 'bench-api-key-0123456789';
const GROWTHBOOK_KEY = 'sdk-bench';
// PostHog's docs put a `defaults` date in init(); the newest one this version knows.
const POSTHOG_DEFAULTS = '2026-08-30';

/** Requests that carry events (not counted as bytes the tracker loads): the paths of every ingestion API. */
export const INGEST_PATH = /(\/v1\/batch|\/com\.snowplowanalytics\.snowplow\/tp2|\/segment\/v1\/[tpigasb]|\/posthog\/(e|i\/v0\/e|batch|s)\/?|\/amplitude\/2\/httpapi|\/growthbook\/track)$/;

/** Files the sink serves: URL path -> file on disk. */
export function sinkFiles() {
  const files = new Map();
  const add = (url, file) => {
    if (fs.existsSync(file)) files.set(url, file);
  };
  add('/snowplow/sp.js', path.join(NM, '@snowplow/browser-tracker/dist/index.umd.min.js'));
  // Segment: the snippet loads analytics.js/v1/<key>/analytics.min.js (the standalone bundle),
  // which loads its chunks from <cdn>/analytics-next/bundles/.
  const segUmd = path.join(NM, '@segment/analytics-next/dist/umd');
  add(`/segment/analytics.js/v1/${SEGMENT_KEY}/analytics.min.js`, path.join(segUmd, 'standalone.js'));
  for (const f of fs.existsSync(segUmd) ? fs.readdirSync(segUmd) : []) {
    if (f.endsWith('.js')) add(`/segment/analytics-next/bundles/${f}`, path.join(segUmd, f));
  }
  // PostHog: the snippet loads <assets>/static/array.js; lazy extensions come from /static/ too.
  const phDist = path.join(NM, 'posthog-js/dist');
  const phVersion = packageVersion('posthog-js');
  for (const f of fs.existsSync(phDist) ? fs.readdirSync(phDist) : []) {
    if (!f.endsWith('.js')) continue;
    add(`/posthog/static/${f}`, path.join(phDist, f));
    add(`/posthog/static/${phVersion}/${f}`, path.join(phDist, f)); // versioned lazy extensions
  }
  add('/amplitude/analytics-browser-min.js', path.join(NM, '@amplitude/analytics-browser/lib/scripts/amplitude-min.js'));
  add('/growthbook/auto.min.js', path.join(NM, '@growthbook/growthbook/dist/bundles/auto.min.js'));
  return files;
}

/** The sink's answers to the peers' configuration and ingestion requests. */
export function sinkRoutes(sinkUrl) {
  const host = sinkUrl.replace(/^https?:\/\//, '');
  const segmentSettings = {
    integrations: {
      'Segment.io': { apiKey: SEGMENT_KEY, apiHost: `${host}/segment/v1`, protocol: 'http', unbundledIntegrations: [], addBundledMetadata: true, maybeBundledConfigIds: {}, versionSettings: { version: '4.4.7', componentTypes: ['browser'] } },
    },
    plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
    edgeFunction: {},
    analyticsNextEnabled: true,
    middlewareSettings: {},
    enabledMiddleware: {},
    metrics: { sampleRate: 0.1 },
    legacyVideoPluginsEnabled: false,
    remotePlugins: [],
  };
  const posthogProject = { supportedCompression: ['gzip', 'gzip-js'], captureDeadClicks: false, capturePerformance: false, autocapture_opt_out: false, autocaptureExceptions: false, analytics: { endpoint: '/i/v0/e/' }, elementsChainAsString: true, sessionRecording: false, heatmaps: false, surveys: false, productTours: false, conversations: false, logs: false, defaultIdentifiedOnly: true, siteApps: [], toolbarParams: {}, isAuthenticated: false };
  const growthbookFeatures = {
    status: 200,
    features: {
      'hero-test': { defaultValue: false, rules: [{ key: 'hero-test', variations: [false, true], weights: [0.5, 0.5], coverage: 1, hashAttribute: 'id' }] },
    },
    experiments: [],
    dateUpdated: '2026-01-01T00:00:00.000Z',
  };
  return [
    ['/segment/v1/projects/', (req, res, { send }) => (send(200, segmentSettings), true)],
    // A project with no flags, surveys, replay or heatmaps: what PostHog's API answers for it.
    ['/posthog/flags', (req, res, { send }) => (send(200, { flags: {}, featureFlags: {}, featureFlagPayloads: {}, errorsWhileComputingFlags: false, ...posthogProject }), true)],
    ['/posthog/decide', (req, res, { send }) => (send(200, { featureFlags: {}, featureFlagPayloads: {}, errorsWhileComputingFlags: false, ...posthogProject }), true)],
    ['/posthog/array/', (req, res, { url, send }) => {
      const config = { token: POSTHOG_TOKEN, hasFeatureFlags: false, ...posthogProject };
      if (url.pathname.endsWith('.js')) send(200, `(window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{})[${JSON.stringify(POSTHOG_TOKEN)}]={config:${JSON.stringify(config)},siteApps:[]};`, 'text/javascript');
      else send(200, config);
      return true;
    }],
    ['/posthog/', (req, res, { send }) => (req.method === 'POST' ? (send(200, { status: 1 }), true) : false)],
    ['/amplitude/', (req, res, { send, body, count, now }) => (send(200, { code: 200, events_ingested: count, payload_size_bytes: body.length, server_upload_time: now }), true)],
    ['/growthbook/api/features/', (req, res, { send }) => (send(200, growthbookFeatures), true)],
    ['/snowplow/', (req, res, { send }) => (send(200, 'ok', 'text/plain'), true)],
    ['/segment/v1/', (req, res, { send }) => (send(200, { success: true }), true)],
  ];
}

/**
 * The trackers, in a fixed order (rounds rotate it). `ctx`: { sink, collector, siteKey }.
 * delivery: 'collector' (counted at the real collector by anonymous id), 'sink', or null (nothing
 * is sent: the floor).
 */
export function trackers(ctx) {
  const { sink, collector, siteKey } = ctx;
  const posthog = (id, label, extra, notes) => ({
    id,
    label,
    pkg: 'posthog-js',
    delivery: 'sink',
    notes,
    head: `<script src="${sink}/posthog/static/array.js"></script>
<script>window.__phReady = new Promise(function (resolve) {
  posthog.init(${JSON.stringify(POSTHOG_TOKEN)}, Object.assign({ api_host: ${JSON.stringify(`${sink}/posthog`)}, defaults: ${JSON.stringify(POSTHOG_DEFAULTS)}, person_profiles: 'identified_only', loaded: function () { resolve(); } }, ${JSON.stringify(extra)}));
});
window.bench = { ready: function () { return window.__phReady; }, track: function (n, p) { posthog.capture(n, p); } };</script>`,
  });
  return [
    {
      id: 'noop',
      label: 'no-op floor',
      pkg: null,
      delivery: null,
      notes: 'a 1-line script whose track() pushes to an array: the page and harness cost',
      head: `<script src="/noop.js"></script>
<script>window.bench = { ready: function () { return Promise.resolve(); }, track: function (n, p) { window.noop.track(n, p); } };</script>`,
    },
    {
      id: 'waymark',
      label: 'waymark',
      pkg: null,
      delivery: 'collector',
      notes: 'script tag in <head> (dist/waymark.js + waymark.wasm beside it), data-key and data-endpoint, defaults (autocapture on), against the real waymark-collector; counted in the collector database',
      head: `<script src="/waymark/waymark.js" data-key="${siteKey}" data-endpoint="${collector}"></script>
<script>window.bench = { ready: function () { return waymark.ready(); }, track: function (n, p) { waymark.track(n, p); }, id: function () { return waymark.user().anonymousId(); } };</script>`,
    },
    {
      id: 'waymark-inspector',
      label: 'waymark + inspector',
      pkg: null,
      delivery: null,
      notes: 'as waymark, plus the demo site\'s journey inspector (demo/site/inspector.js, defer, ?inspect=1) open on the page; delivery is the same SDK and is not measured again',
      query: '?inspect=1',
      head: `<script src="/waymark/waymark.js" data-key="${siteKey}" data-endpoint="${collector}"></script>
<script src="/inspector.js" defer></script>
<script>window.bench = { ready: function () { return waymark.ready(); }, track: function (n, p) { waymark.track(n, p); }, id: function () { return waymark.user().anonymousId(); } };</script>`,
    },
    {
      id: 'snowplow',
      label: 'Snowplow',
      pkg: '@snowplow/browser-tracker',
      delivery: 'sink',
      notes: 'the package\'s own browser bundle (dist/index.umd.min.js, global snowplowBrowserTracking; the sp.js tag is another package); newTracker as the docs\' example: appId, cookieSameSite Lax, session context; trackPageView() on load; track = trackSelfDescribingEvent (iglu:com.example/<name>/jsonschema/1-0-0); defaults otherwise: POST to /com.snowplowanalytics.snowplow/tp2, bufferSize 1, keepalive off, and the queue in localStorage (up to 1 000 events), rewritten whole on every add and removal (browser-tracker-core\'s localStorage event store: setItem(JSON.stringify(queue))), which is what keeps its main thread busy long after a burst',
      head: `<script src="${sink}/snowplow/sp.js"></script>
<script>(function () {
  var sp = window.snowplowBrowserTracking;
  sp.newTracker('sp', ${JSON.stringify(`${sink}/snowplow`)}, { appId: 'waymark-bench', cookieSameSite: 'Lax', contexts: { session: true } });
  sp.trackPageView();
  window.bench = { ready: function () { return Promise.resolve(); }, track: function (n, p) { sp.trackSelfDescribingEvent({ event: { schema: 'iglu:com.example/' + n + '/jsonschema/1-0-0', data: p } }); } };
})();</script>`,
    },
    {
      id: 'segment',
      label: 'Segment',
      pkg: '@segment/analytics-next',
      delivery: 'sink',
      notes: 'the snippet\'s queue stub, then the standalone bundle (dist/umd/standalone.js, what cdn.segment.com serves as analytics.min.js) with its lazy chunks; settings (as the CDN would give: Segment.io only, apiHost = sink) fetched from <cdn>/v1/projects/<key>/settings; analytics.page() on load; default delivery (one fetch per event, no batching, no keepalive)',
      head: `<script>!function () {
  var a = window.analytics = window.analytics || [];
  if (a.initialize) return;
  a.invoked = true;
  a.methods = ['trackSubmit', 'trackClick', 'trackLink', 'trackForm', 'pageview', 'identify', 'reset', 'group', 'track', 'ready', 'alias', 'debug', 'page', 'screen', 'once', 'off', 'on', 'addSourceMiddleware', 'addIntegrationMiddleware', 'setAnonymousId', 'addDestinationMiddleware', 'register'];
  a.factory = function (m) { return function () { var args = Array.prototype.slice.call(arguments); args.unshift(m); a.push(args); return a; }; };
  for (var i = 0; i < a.methods.length; i++) a[a.methods[i]] = a.factory(a.methods[i]);
  a._writeKey = ${JSON.stringify(SEGMENT_KEY)};
  a._cdn = ${JSON.stringify(`${sink}/segment`)};
  a.SNIPPET_VERSION = '5.2.1';
  a.page();
}();
window.__sgReady = new Promise(function (resolve) { window.analytics.ready(function () { resolve(); }); });
window.bench = { ready: function () { return window.__sgReady; }, track: function (n, p) { window.analytics.track(n, p); } };</script>
<script src="${sink}/segment/analytics.js/v1/${SEGMENT_KEY}/analytics.min.js" data-global-segment-analytics-key="analytics"></script>`,
    },
    posthog('posthog', 'PostHog (defaults)', {},
      'the browser bundle the snippet loads (dist/array.js, from <api_host>/static/), posthog.init with api_host = sink, defaults \'' + POSTHOG_DEFAULTS + '\', person_profiles identified_only (the docs\' snippet); everything else default: client-side rate limit (10 events/s, burst 100) and the bot filter, which drops every event from HeadlessChrome: in this headless run nothing is sent'),
    posthog('posthog-relaxed', 'PostHog (relaxed)', { opt_out_useragent_filter: true, rate_limiting: { events_per_second: 100000, events_burst_limit: 100000 } },
      'as PostHog (defaults), with opt_out_useragent_filter: true (the docs\' setting for tests) and rate_limiting raised to 100 000 events/s and burst, so a 2 000-event burst is kept; a real (not headless) visitor with the defaults gets the rate limit alone: about 100 events of the burst, then 10 per second'),
    {
      id: 'amplitude',
      label: 'Amplitude',
      pkg: '@amplitude/analytics-browser',
      delivery: 'sink',
      notes: 'the script the snippet loads (lib/scripts/amplitude-min.js, global amplitude), amplitude.init(key, { serverUrl: sink/2/httpapi }) with default autocapture and batching (30 events or 1 s); the docs\' page-exit advice: on pagehide setTransport(\'beacon\') and flush(); ready waits for its remote configuration from amplitude.com, which fails here (blocked host): with fetchRemoteConfig: false ready was in line with the others in a check by hand (not part of the run)',
      head: `<script src="${sink}/amplitude/analytics-browser-min.js"></script>
<script>window.__ampReady = amplitude.init(${JSON.stringify(AMPLITUDE_KEY)}, { serverUrl: ${JSON.stringify(`${sink}/amplitude/2/httpapi`)} }).promise;
window.addEventListener('pagehide', function () { amplitude.setTransport('beacon'); amplitude.flush(); });
window.bench = { ready: function () { return window.__ampReady; }, track: function (n, p) { amplitude.track(n, p); } };</script>`,
    },
    {
      id: 'growthbook',
      label: 'GrowthBook',
      pkg: '@growthbook/growthbook',
      delivery: 'sink',
      notes: 'the script-tag bundle (dist/bundles/auto.min.js) with data-client-key, data-api-host = sink (serves a 1-feature, 1-experiment payload) and data-tracking="growthbook" + data-event-ingestor-host = sink (GrowthBook\'s own event logging: batches after 100 ms, sendBeacon on pagehide); track = gb.logEvent(name, props); ready = features loaded',
      head: `<script src="${sink}/growthbook/auto.min.js" data-client-key="${GROWTHBOOK_KEY}" data-api-host="${sink}/growthbook" data-tracking="growthbook" data-event-ingestor-host="${sink}/growthbook"></script>
<script>window.__gbReady = new Promise(function (resolve) {
  function check() { if (window._growthbook && window._growthbook.ready) { resolve(); return true; } return false; }
  if (check()) return;
  document.addEventListener('growthbookdata', check);
  (function poll() { if (!check()) setTimeout(poll, 10); })();
});
window.bench = { ready: function () { return window.__gbReady; }, track: function (n, p) { window._growthbook.logEvent(n, p); } };</script>`,
    },
  ];
}
