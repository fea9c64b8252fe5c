// Browser benchmark: waymark side by side with Snowplow, Segment, PostHog, Amplitude and GrowthBook
// (installed from npm as dev dependencies) and a no-op floor, in one headless run of Debian's
// Chromium (playwright-core). Every tracker is loaded the way a site loads it and configured as its
// docs advise (bench/peers/trackers.mjs); waymark talks to the real waymark-collector, the peers to
// a loopback sink (bench/peers/sink.mjs). The same code measures every tracker:
//   - bytes of everything it loads (every response the page gets up to ready, its own HTML aside),
//     raw and gzip -9 (the servers send them uncompressed; CDP Network gives the bodies);
//   - time from script start (`__t0`, just before its tags) to ready;
//   - track() on the main thread: median and p95 per call over a 2 000-call burst, the burst's
//     wall time, and the main thread's busy time over the burst and the 2 s after it (the renderer
//     main thread's tasks in a Chromium trace: deferred work, batching and sending included), with
//     the long tasks among it;
//   - memory after the burst: the JS heap after a forced GC (CDP), plus wasm memory for waymark;
//   - events delivered within 5 s of the burst's end (counted at the sink / in the collector's
//     database), and the time until the last one arrived;
//   - of 200 calls made right before leaving: events delivered when the page navigates away in the
//     same task, and when the tab is closed (page.close with beforeunload) just after.
// For waymark also: a returning visitor's time to personalization against first contentful paint,
// with the demo site's journey inspector off and on. Trackers are interleaved (the order rotates
// every round) and rounds repeated; medians and the spread (min..max) are reported.
//
//   node bench/browser_bench.mjs [--rounds 5] [--exit-rounds 2] [--calls 2000] [--exit-calls 200]
//        [--only waymark,segment] [--out bench/results/browser.json] [--verbose]
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { SITE_KEY, adminGet, parseMetrics, startCollector, stopCollector } from '../tests/collector/helpers.mjs';
import { startSink } from './peers/sink.mjs';
import { INGEST_PATH, packageVersion, sinkFiles, sinkRoutes, trackers as trackerList } from './peers/trackers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUNDS = Number(flag('--rounds', 5));
const EXIT_ROUNDS = Math.min(ROUNDS, Number(flag('--exit-rounds', 2)));
const CALLS = Number(flag('--calls', 2000));
const EXIT_CALLS = Number(flag('--exit-calls', 200));
const ONLY = flag('--only', '') ? flag('--only', '').split(',') : null;
const OUT = path.resolve(ROOT, flag('--out', 'bench/results/browser.json'));
const VERBOSE = args.includes('--verbose');
const DELIVERY_WINDOW_MS = 5000; // "delivered within 5 s of the burst"
const EXIT_WINDOW_MS = 1500; // after leaving: a request the page did not get out by then never comes
const TRACE_WINDOW_MS = 2000; // main-thread time of the burst and the 2 s after it
const CHROMIUM = process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium';
// TOOLCHAIN.md's flags; the host resolver rule makes every request off loopback fail at once
// (the peers' own telemetry, remote config, ...) instead of waiting on this closed network.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'];

const DIST = path.join(ROOT, 'dist');
for (const f of ['waymark.js', 'waymark.wasm']) {
  if (!fs.existsSync(path.join(DIST, f))) {
    console.error(`browser bench: dist/${f} missing; run npm run build`);
    process.exit(1);
  }
}
// Read once: the working tree is shared, and a rebuild of dist/ during the run must not mix SDK
// versions within one run.
const SDK_FILES = new Map(['waymark.js', 'waymark.wasm'].map((f) => [f, fs.readFileSync(path.join(DIST, f))]));
const INSPECTOR_JS = fs.readFileSync(path.join(ROOT, 'demo', 'site', 'inspector.js'));
const SDK_HASH = crypto.createHash('sha256').update(SDK_FILES.get('waymark.js')).update(SDK_FILES.get('waymark.wasm')).digest('hex').slice(0, 12);
const log = (...a) => VERBOSE && console.log(...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The site: one page per tracker, the SDK files, the no-op script, a blank page to leave to.

const NOOP_JS = 'window.noop = { track: function (n, p) { (this.q || (this.q = [])).push([n, p]); } };';

function pageHtml(tracker, withSlot) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>bench ${tracker.id}</title>
<script>window.__t0 = performance.now(); window.__longTasks = [];
new PerformanceObserver(function (l) { l.getEntries().forEach(function (e) { window.__longTasks.push([e.startTime, e.duration]); }); }).observe({ type: 'longtask', buffered: true });</script>
${tracker.head}
<script>window.bench.ready().then(function () { window.__readyAt = performance.now(); }, function (e) { window.__readyError = String(e); });</script>
</head><body>${withSlot ? '<h1 data-waymark-slot="hero">Know where every visitor is in their journey.</h1>' : '<h1>Know where every visitor is in their journey.</h1>'}<p>content</p></body></html>`;
}

function startSite(list) {
  const byId = new Map(list.map((t) => [t.id, t]));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    // Cross-origin isolation gives performance.now() 5 us resolution instead of 100 us.
    const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
    if (url.pathname.startsWith('/waymark/')) {
      const body = SDK_FILES.get(path.basename(url.pathname));
      if (!body) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { ...isolation, 'Content-Type': url.pathname.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
      res.end(body);
    } else if (url.pathname === '/noop.js') {
      res.writeHead(200, { ...isolation, 'Content-Type': 'text/javascript' });
      res.end(NOOP_JS);
    } else if (url.pathname === '/inspector.js') {
      res.writeHead(200, { ...isolation, 'Content-Type': 'text/javascript' });
      res.end(INSPECTOR_JS);
    } else if (url.pathname === '/blank') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>elsewhere</title><p>another site</p>');
    } else {
      const m = /^\/(returning-)?([\w-]+)\.html$/.exec(url.pathname);
      const tracker = m && byId.get(m[2]);
      if (!tracker) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { ...isolation, 'Content-Type': 'text/html' });
      res.end(pageHtml(tracker, Boolean(m[1]) || tracker.id.startsWith('waymark')));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}`, port: server.address().port })));
}

// ---------------------------------------------------------------------------------------------
// Statistics

const median = (xs) => {
  const s = xs.filter((x) => x != null && !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};
const spread = (xs) => {
  const v = xs.filter((x) => x != null && !Number.isNaN(x));
  return v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length } : null;
};

/**
 * The renderer main thread's busy time in a trace: the durations of its tasks, clipped to the
 * window that starts at the `bench:burst-start` mark and lasts `windowMs`; `busyShare` is the
 * fraction of the window it was busy.
 */
function mainThreadBusy(trace, windowMs) {
  const events = trace.traceEvents || trace;
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args && e.args.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const mark = events.find((e) => e.name === 'bench:burst-start' && mains.has(`${e.pid}:${e.tid}`)) || events.find((e) => e.name === 'bench:burst-start');
  if (!mark) return { mainThreadMs: null, busyShare: null };
  const from = mark.ts;
  const to = from + windowMs * 1000;
  let us = 0;
  let burstTaskEnded = false;
  for (const e of events) {
    if (e.ph !== 'X' || e.name !== 'ThreadControllerImpl::RunTask' || !mains.has(`${e.pid}:${e.tid}`)) continue;
    const a = Math.max(e.ts, from);
    const b = Math.min(e.ts + (e.dur || 0), to);
    // The task that runs the burst started before the mark: it counts from the mark on.
    if (b > a) us += b - a;
    if (e.ts <= from && e.ts + (e.dur || 0) >= from) burstTaskEnded = true;
  }
  // A task is written to the trace when it ends: when the burst's task (with the microtasks the
  // tracker queued in it) had not ended when tracing stopped, the thread was busy all window long.
  if (!burstTaskEnded) us = windowMs * 1000;
  return { mainThreadMs: us / 1000, busyShare: us / 1000 / windowMs, burstTaskEnded };
}

// ---------------------------------------------------------------------------------------------
// Counting delivered events: at the sink (peers) or in the collector's database (waymark).

let collector;
let sink;

async function collectorCursor() {
  const r = await adminGet(collector, '/v1/events/recent?limit=1');
  return r.json?.cursor ?? 0;
}

async function collectorAccepted() {
  const r = await adminGet(collector, '/metrics');
  let n = 0;
  for (const [k, v] of parseMetrics(r.text)) if (k.startsWith('waymark_events_total{') && k.includes('result="accepted"')) n += v;
  return n;
}

/** Stored `feature_used` events of one visitor after `cursor`, received by `until`. */
async function collectorDelivered(anonymousId, cursor, until = Infinity) {
  let after = cursor;
  let count = 0;
  let lastAt = null;
  for (let guard = 0; guard < 1000; guard++) {
    const r = await adminGet(collector, `/v1/events/recent?after=${after}&limit=200`);
    const events = r.json?.events ?? [];
    for (const e of events) {
      if (e.anonymous_id === anonymousId && e.name === 'feature_used' && e.received_at <= until) {
        count += 1;
        if (lastAt === null || e.received_at > lastAt) lastAt = e.received_at;
      }
    }
    if (events.length < 200) break;
    after = r.json.cursor;
  }
  return { count, lastAt };
}

/**
 * Waits until `expected` events of the run arrived or `deadline` (epoch ms) passed; returns the
 * count that arrived by the deadline and the last arrival time.
 */
async function awaitDelivery(tracker, run, expected, deadline) {
  if (tracker.delivery === 'sink') {
    while (Date.now() < deadline && sink.delivered(run.token).count < expected) await sleep(50);
    return sink.delivered(run.token, deadline);
  }
  // waymark: a cheap poll of the collector's counter, then the exact count by visitor.
  for (;;) {
    const now = Date.now();
    if (now >= deadline) break;
    if ((await collectorAccepted()) - run.acceptedBefore >= expected) {
      const exact = await collectorDelivered(run.anonymousId, run.cursor, deadline);
      if (exact.count >= expected) return exact;
    }
    await sleep(100);
  }
  // The collector answers (and its events become readable) only after the commit: events it had
  // received by the deadline may still be committing. Count by receive time, as the sink does,
  // once the count stops growing (at most 5 s more).
  let last = await collectorDelivered(run.anonymousId, run.cursor, deadline);
  for (let i = 0; i < 10 && last.count < expected; i++) {
    await sleep(500);
    const again = await collectorDelivered(run.anonymousId, run.cursor, deadline);
    if (again.count === last.count && i > 0) break;
    last = again;
  }
  return last;
}

async function startRun(tracker, label) {
  const run = { token: `run-${tracker.id}-${label}-${Math.random().toString(36).slice(2, 8)}` };
  if (tracker.delivery === 'collector') {
    run.cursor = await collectorCursor();
    run.acceptedBefore = await collectorAccepted();
  }
  return run;
}

// ---------------------------------------------------------------------------------------------
// Measurements

let site;
let browser;
let reportBurst = () => {};

async function openPage(tracker, { network = false } = {}) {
  const context = await browser.newContext();
  await context.exposeFunction('__benchReport', (r) => reportBurst(r));
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  const net = { responses: new Map(), external: new Set(), bodies: [] };
  if (network) {
    await cdp.send('Network.enable', { maxResourceBufferSize: 64 * 1024 * 1024, maxTotalBufferSize: 256 * 1024 * 1024 });
    cdp.on('Network.requestWillBeSent', (e) => {
      const u = new URL(e.request.url);
      if (!['127.0.0.1', 'localhost'].includes(u.hostname) && u.protocol.startsWith('http')) net.external.add(`${u.hostname}${u.pathname}`);
      net.responses.set(e.requestId, { url: e.request.url, method: e.request.method, type: e.type });
    });
    cdp.on('Network.responseReceived', (e) => {
      const r = net.responses.get(e.requestId);
      if (r) Object.assign(r, { status: e.response.status, mime: e.response.mimeType });
    });
    cdp.on('Network.loadingFinished', (e) => {
      const r = net.responses.get(e.requestId);
      if (!r || r.type === 'Document') return;
      r.encoded = e.encodedDataLength;
      net.bodies.push(cdp.send('Network.getResponseBody', { requestId: e.requestId }).then((b) => {
        r.body = b.base64Encoded ? Buffer.from(b.body, 'base64') : Buffer.from(b.body, 'utf8');
      }, () => {
        r.body = null;
      }));
    });
    cdp.on('Network.loadingFailed', (e) => {
      const r = net.responses.get(e.requestId);
      if (r) r.failed = e.errorText;
    });
  }
  await page.goto(`${site.url}/${tracker.id}.html${tracker.query || ''}`);
  const ready = await page.evaluate(() => Promise.race([
    window.bench.ready().then(() => ({ ok: true })),
    new Promise((r) => setTimeout(() => r({ ok: false, error: window.__readyError || 'not ready within 15 s' }), 15000)),
  ]));
  if (!ready.ok) throw new Error(`${tracker.id}: ${ready.error}`);
  const readyMs = await page.evaluate(() => window.__readyAt - window.__t0);
  return { context, page, cdp, net, readyMs };
}

/** Bytes of what the page loaded so far (its own HTML aside): raw and gzip -9, per file. */
async function loadedBytes(net, page) {
  await Promise.all(net.bodies);
  // When each file was requested against the first paint (Resource Timing, in page time): what a
  // visitor downloads before seeing anything (issue 12: at most 16 KB for waymark).
  const timing = await page.evaluate(() => {
    const paint = performance.getEntriesByType('paint').find((e) => e.name === 'first-paint');
    return { paint: paint ? paint.startTime : null, starts: performance.getEntriesByType('resource').map((e) => [e.name, e.startTime]) };
  }).catch(() => ({ paint: null, starts: [] }));
  const startOf = new Map(timing.starts);
  const files = [];
  for (const r of net.responses.values()) {
    if (r.type === 'Document' || !r.body || INGEST_PATH.test(new URL(r.url).pathname)) continue;
    const start = startOf.get(r.url);
    const beforePaint = timing.paint != null && start != null ? start < timing.paint : null;
    files.push({ url: r.url.replace(/^https?:\/\/[^/]+/, ''), method: r.method, status: r.status, raw: r.body.length, gzip: zlib.gzipSync(r.body, { level: 9 }).length, beforePaint });
  }
  return {
    raw: files.reduce((s, f) => s + f.raw, 0),
    gzip: files.reduce((s, f) => s + f.gzip, 0),
    gzipBeforePaint: timing.paint == null ? null : files.filter((f) => f.beforePaint).reduce((s, f) => s + f.gzip, 0),
    firstPaintMs: timing.paint,
    requests: files.length,
    files,
    external: [...net.external],
  };
}

/** Resolves what `promise` gives, or `fallback` after `ms` (a page whose main thread is still busy). */
function within(promise, ms, fallback) {
  let timer;
  return Promise.race([promise, new Promise((r) => { timer = setTimeout(() => r(fallback), ms); })]).finally(() => clearTimeout(timer));
}

/** Closes a context; a page whose main thread is still busy is crashed first (closing it would
 * wait for its unload handlers, which a saturated main thread runs only much later). */
async function closeContext(context, cdp, busy) {
  const t = Date.now();
  if (busy) {
    cdp.send('Page.crash').catch(() => {});
    await sleep(200);
  }
  await context.close();
  log(`    context closed in ${Date.now() - t} ms`);
}

/**
 * One burst. `alongside()` (the exit tests of the same tracker, or nothing) runs while the burst's
 * 5 s delivery window runs out, after the main-thread window and the memory probes.
 */
async function measureBurst(tracker, alongside = async () => null) {
  const { context, page, cdp, readyMs } = await openPage(tracker);
  let busy = false;
  try {
    const run = tracker.delivery ? await startRun(tracker, 'burst') : { token: `run-${tracker.id}-burst` };
    if (tracker.delivery === 'collector') run.anonymousId = await page.evaluate(() => window.bench.id());
    await page.waitForTimeout(300); // what a tracker does right after ready (flags, page views) settles
    await browser.startTracing(page, { categories: ['toplevel', 'blink.user_timing'] });
    // The burst runs in a task of its own and reports through a binding the moment its loop ends:
    // work a tracker queues in microtasks or later tasks cannot delay the report, and the window
    // (the burst and the 2 s after it) is timed from Node, so it cannot stretch the window either.
    const report = new Promise((resolve) => { reportBurst = resolve; });
    await page.evaluate(({ calls, token }) => {
      setTimeout(() => {
        const api = window.bench;
        window.__ltBefore = window.__longTasks.length;
        const per = new Float64Array(calls);
        performance.mark('bench:burst-start');
        const start = performance.now();
        for (let i = 0; i < calls; i++) {
          const t = performance.now();
          api.track('feature_used', { i, run: token, feature: 'journeys', note: 'benchmark burst' });
          per[i] = performance.now() - t;
        }
        const burstMs = performance.now() - start;
        window.__burstStart = start;
        const sorted = Array.from(per).sort((a, b) => a - b);
        window.__benchReport({
          isolated: window.crossOriginIsolated,
          burstMs,
          burstEndEpoch: Date.now(),
          medianUs: sorted[Math.floor(calls / 2)] * 1000,
          p95Us: sorted[Math.floor(calls * 0.95)] * 1000,
          maxUs: sorted[calls - 1] * 1000,
        });
      }, 0);
    }, { calls: CALLS, token: run.token });
    const out = await within(report, 60000, null);
    if (!out) throw new Error('the burst did not finish within 60 s');
    await sleep(Math.max(0, out.burstEndEpoch + TRACE_WINDOW_MS - Date.now()));
    // From the window's end, at once: the trace is collected (slow while the page is still busy),
    // the page is probed, the delivery window runs out, and the exit tests run alongside.
    const tStop = Date.now();
    const side = alongside();
    side.catch(() => {});
    const delivery = tracker.delivery ? awaitDelivery(tracker, run, CALLS, out.burstEndEpoch + DELIVERY_WINDOW_MS) : Promise.resolve(null);
    delivery.catch(() => {});
    const tracing = browser.stopTracing().then((buf) => {
      log(`    stopTracing ${Date.now() - tStop} ms`);
      return mainThreadBusy(JSON.parse(buf.toString('utf8')), out.burstMs + TRACE_WINDOW_MS);
    });
    out.readyMs = readyMs;
    // Long tasks, wasm memory and the heap: the page may still be busy; then they are unknown.
    const after = await within(page.evaluate(() => {
      const tasks = window.__longTasks.slice(window.__ltBefore).filter(([startTime]) => startTime >= window.__burstStart);
      let wasm = null;
      try {
        const m = window.waymark && window.waymark._tracker && window.waymark._tracker._module;
        wasm = m && m.HEAPU8 ? m.HEAPU8.length : null;
      } catch {
        wasm = null;
      }
      return { longTaskMs: tasks.reduce((s, [, d]) => s + d, 0), longTasks: tasks.length, wasmBytes: wasm };
    }), 1500, null);
    out.unresponsiveAfterWindow = after === null;
    busy = out.unresponsiveAfterWindow;
    if (after) {
      Object.assign(out, after);
      const heap = await within(cdp.send('HeapProfiler.collectGarbage').then(() => cdp.send('Runtime.getHeapUsage')), 1500, null);
      out.heapBytes = heap ? heap.usedSize : null;
    }
    Object.assign(out, await tracing);
    if (tracker.delivery) {
      const got = await delivery;
      out.delivered5s = got.count;
      log(`    delivery counted ${Date.now() - tStop} ms after the window`);
      out.lastArrivalMs = got.count === CALLS && got.lastAt != null ? Math.max(0, got.lastAt - out.burstEndEpoch) : null;
      if (tracker.delivery === 'collector') {
        // The SDK's own counters: what it sent, what its storage budget made it drop.
        const st = await within(page.evaluate(() => window.waymark.stats()), 2000, null);
        out.sdkDropped = st && st.queue && st.queue.dropped ? Object.values(st.queue.dropped).reduce((a, b) => a + b, 0) : null;
        out.sdkSent = st && st.transport ? st.transport.sent : null;
        log('    waymark stats:', JSON.stringify(st));
      }
    }
    out.alongside = await side;
    return out;
  } finally {
    await closeContext(context, cdp, busy);
  }
}

/**
 * 200 calls, then leave: `navigate` (same task) or `close` (the tab, with beforeunload). A fresh
 * visitor each time, and properties of a realistic size (about 300 bytes per event as waymark
 * sends it whole, 200 of them over the 64 KB a page may send while it unloads): issue 11's
 * third-party harness lost 12 of 200 with such events where the small ones of earlier runs fit.
 */
async function measureExit(tracker, mode, withBytes) {
  const { context, page, net } = await openPage(tracker, { network: withBytes });
  try {
    const run = await startRun(tracker, mode);
    if (tracker.delivery === 'collector') run.anonymousId = await page.evaluate(() => window.bench.id());
    const out = {};
    if (withBytes) {
      await page.waitForTimeout(300); // what loads right after ready (lazy chunks) counts too
      out.bytes = await loadedBytes(net, page);
    }
    const elsewhere = `http://localhost:${site.port}/blank`;
    let leftAt;
    if (mode === 'navigate') {
      leftAt = await page.evaluate(({ calls, token, to }) => {
        for (let i = 0; i < calls; i++) window.bench.track('feature_used', { i, run: token, feature: 'journeys', note: 'leaving the pricing page', section: `pricing-table-bottom-cta-${i}`, plan: 'pro', value: 49.99, currency: 'EUR' });
        const t = Date.now();
        window.location.href = to;
        return t;
      }, { calls: EXIT_CALLS, token: run.token, to: elsewhere }).catch(() => Date.now());
    } else {
      leftAt = await page.evaluate(({ calls, token }) => {
        for (let i = 0; i < calls; i++) window.bench.track('feature_used', { i, run: token, feature: 'journeys', note: 'leaving the pricing page', section: `pricing-table-bottom-cta-${i}`, plan: 'pro', value: 49.99, currency: 'EUR' });
        return Date.now();
      }, { calls: EXIT_CALLS, token: run.token });
      await page.close({ runBeforeUnload: true });
    }
    if (tracker.delivery) {
      const got = await awaitDelivery(tracker, run, EXIT_CALLS, leftAt + EXIT_WINDOW_MS);
      out.delivered = got.count;
    }
    return out;
  } finally {
    await context.close();
  }
}

// A returning visitor: the first visit reaches the trial stage, the second load is measured.
async function returning(tracker) {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${site.url}/returning-${tracker.id}.html${tracker.query || ''}`);
    await page.evaluate(async () => {
      await waymark.ready();
      waymark.track('signed_up');
      waymark.track('trial_started');
      await waymark.flush();
    });
    await page.waitForTimeout(1200); // the snapshot is saved within 1 s
    const again = await context.newPage();
    await again.goto(`${site.url}/returning-${tracker.id}.html${tracker.query || ''}`);
    return await again.evaluate(async () => {
      await waymark.ready();
      const readyMs = performance.now() - window.__t0;
      await new Promise((r) => setTimeout(r, 100));
      const mark = performance.getEntriesByName('waymark:personalized')[0];
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      return { readyMs, personalizedMs: mark ? mark.startTime : null, fcpMs: fcp ? fcp.startTime : null, hero: document.querySelector('h1').textContent };
    });
  } finally {
    await context.close();
  }
}

/** Bytes of POST /v1/batch bodies the collector received (as sent, compressed or not). */
async function collectorBatchBytes() {
  const r = await adminGet(collector, '/metrics');
  let n = 0;
  for (const [k, v] of parseMetrics(r.text)) if (k.startsWith('waymark_http_request_body_bytes_total{') && k.includes('route="/v1/batch"')) n += v;
  return n;
}

/**
 * Upload bytes per event (issue 12): the burst's 2 000 calls, alone on the collector (after the
 * rounds), flushed; request body bytes on the wire (the collector's counter, before it
 * decompresses) over the events it accepted.
 */
async function measureUploadBytes(tracker) {
  const { context, page } = await openPage(tracker);
  try {
    const bytes0 = await collectorBatchBytes();
    const accepted0 = await collectorAccepted();
    const flushed = await page.evaluate(async (calls) => {
      for (let i = 0; i < calls; i++) window.waymark.track('feature_used', { i, run: 'run-upload', feature: 'journeys', note: 'benchmark burst' });
      return window.waymark.flush({ timeoutMs: 20000 });
    }, CALLS);
    await sleep(500); // the counters are bumped after each answer is sent
    const bytes = (await collectorBatchBytes()) - bytes0;
    const events = (await collectorAccepted()) - accepted0;
    return { bytes, events, bytesPerEvent: events > 0 ? bytes / events : null, pending: flushed.pending };
  } finally {
    await context.close();
  }
}

/**
 * A page passes a huge value to track() (issue 11): the main-thread cost of a track() whose
 * property is a 1 MB string against one with a 100-byte string, each call followed by stage()
 * (which runs the engine on it at once), alternating, 15 of each; medians in ms.
 */
async function measureBigValue(tracker) {
  const { context, page } = await openPage(tracker);
  try {
    return await page.evaluate(() => {
      const small = 'x'.repeat(100);
      const big = 'x'.repeat(1 << 20);
      const time = (value, i) => {
        const t0 = performance.now();
        window.waymark.track('feature_used', { value, i });
        window.waymark.stage();
        return performance.now() - t0;
      };
      const runs = { small: [], big: [] };
      for (let i = 0; i < 3; i++) time(small, -1 - i); // warm-up
      for (let i = 0; i < 15; i++) {
        runs.small.push(time(small, i));
        runs.big.push(time(big, i));
      }
      const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
      return { smallMs: median(runs.small), bigMs: median(runs.big), runs };
    });
  } finally {
    await context.close();
  }
}

/**
 * Where one waymark burst's main-thread time goes: a CPU profile (100 µs sampling) of the burst
 * and the 2 s after it, self time by place (the wasm engine, the SDK's script, IndexedDB,
 * BroadcastChannel, garbage collection, the browser's own work).
 */
async function profileWaymark(tracker) {
  const { context, page, cdp } = await openPage(tracker);
  try {
    await page.waitForTimeout(300);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
    await cdp.send('Profiler.start');
    const report = new Promise((resolve) => { reportBurst = resolve; });
    await page.evaluate(({ calls }) => {
      setTimeout(() => {
        for (let i = 0; i < calls; i++) window.bench.track('feature_used', { i, run: 'run-profile', feature: 'journeys', note: 'benchmark burst' });
        window.__benchReport({});
      }, 0);
    }, { calls: CALLS });
    await within(report, 30000, null);
    await sleep(TRACE_WINDOW_MS);
    const { profile } = await cdp.send('Profiler.stop');
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const us = new Map();
    profile.samples.forEach((id, k) => us.set(id, (us.get(id) || 0) + (profile.timeDeltas[k] || 0)));
    const places = { wasm: 0, sdkScript: 0, indexedDb: 0, broadcastChannel: 0, garbageCollector: 0, browser: 0, other: 0 };
    const IDB = new Set(['put', 'delete', 'add', 'get', 'getAll', 'getAllKeys', 'transaction', 'objectStore', 'openCursor', 'clear', 'count']);
    for (const [id, t] of us) {
      const cf = byId.get(id).callFrame;
      if (cf.functionName === '(idle)') continue;
      let place = 'other';
      if (cf.url.endsWith('.wasm') || cf.functionName.startsWith('wasm-function')) place = 'wasm';
      else if (cf.url.includes('/waymark/waymark.js')) place = 'sdkScript';
      else if (!cf.url && IDB.has(cf.functionName)) place = 'indexedDb';
      else if (!cf.url && cf.functionName === 'postMessage') place = 'broadcastChannel';
      else if (cf.functionName === '(garbage collector)') place = 'garbageCollector';
      else if (cf.functionName === '(program)') place = 'browser';
      places[place] += t / 1000;
    }
    const busy = Object.values(places).reduce((a, b) => a + b, 0);
    return { busyMs: busy, ms: places };
  } finally {
    await closeContext(context, cdp, false);
  }
}

// ---------------------------------------------------------------------------------------------
// The run

const started = Date.now();
collector = await startCollector({ siteKeys: [SITE_KEY] });
sink = await startSink({ files: sinkFiles(), routes: sinkRoutes });
const trackersNow = trackerList({ sink: sink.url, collector: collector.url, siteKey: SITE_KEY }).filter((t) => !ONLY || ONLY.includes(t.id));
site = await startSite(trackersNow);
browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
let profile = null;
let bigValue = null;
let uploadBytes = null;
const results = Object.fromEntries(trackersNow.map((t) => [t.id, { bursts: [], navigate: [], close: [], bytes: [], returning: [], errors: [] }]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = trackersNow.map((_, i) => trackersNow[(i + round) % trackersNow.length]);
    for (const tracker of order) {
      const r = results[tracker.id];
      const t0 = Date.now();
      try {
        // The exit tests (navigate and close, at once, each counted by its own run token) run
        // while the burst's delivery window runs out; bytes are taken on the navigate page.
        const exits = round >= EXIT_ROUNDS ? async () => null
          : tracker.delivery ? () => Promise.all([measureExit(tracker, 'navigate', true), measureExit(tracker, 'close', false)])
            : () => Promise.all([measureExit(tracker, 'navigate', true)]);
        const burst = await measureBurst(tracker, exits);
        const ex = burst.alongside;
        delete burst.alongside;
        r.bursts.push(burst);
        if (ex) {
          r.bytes.push(ex[0].bytes);
          if (tracker.delivery) {
            r.navigate.push(ex[0].delivered);
            r.close.push(ex[1].delivered);
          }
        }
        log(`    burst and exits done ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        if (tracker.id.startsWith('waymark') && round < EXIT_ROUNDS) r.returning.push(await returning(tracker));
      } catch (err) {
        r.errors.push(`round ${round + 1}: ${err.message}`);
        console.error(`browser bench: ${tracker.id} round ${round + 1}: ${err.message}`);
      }
      log(`  ${tracker.id}: ${((Date.now() - t0) / 1000).toFixed(1)} s`, JSON.stringify(r.bursts[r.bursts.length - 1] || {}));
    }
    process.stdout.write(`round ${round + 1}/${ROUNDS} done (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  }
  const waymarkTracker = trackersNow.find((t) => t.id === 'waymark');
  if (waymarkTracker) profile = await profileWaymark(waymarkTracker).catch((err) => ({ error: err.message }));
  if (waymarkTracker) bigValue = await measureBigValue(waymarkTracker).catch((err) => ({ error: err.message }));
  if (waymarkTracker) uploadBytes = await measureUploadBytes(waymarkTracker).catch((err) => ({ error: err.message }));
} finally {
  await browser.close();
  site.server.close();
  await sink.close();
  await stopCollector(collector);
}

// ---------------------------------------------------------------------------------------------
// Summary

let chromiumVersion = 'unknown';
try {
  chromiumVersion = execFileSync(CHROMIUM, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  // keep unknown
}
const summarize = (t) => {
  const r = results[t.id];
  const b = r.bursts;
  const pick = (k) => spread(b.map((x) => x[k]));
  // Everything it loads: the round in which it loaded the most (a late configuration fetch may
  // miss the cut-off at ready + 0.3 s in another round).
  const most = r.bytes.length ? r.bytes.reduce((a, x) => (x.gzip > a.gzip ? x : a)) : null;
  const o = {
    label: t.label,
    package: t.pkg,
    version: t.pkg ? packageVersion(t.pkg) : null,
    delivery: t.delivery,
    notes: t.notes,
    rounds: b.length,
    bytes: most ? { raw: most.raw, gzip: most.gzip, gzipBeforePaint: most.gzipBeforePaint, firstPaintMs: most.firstPaintMs, requests: most.requests, files: most.files, externalBlocked: most.external, gzipPerRound: r.bytes.map((x) => x.gzip) } : null,
    readyMs: pick('readyMs'),
    trackMedianUs: pick('medianUs'),
    trackP95Us: pick('p95Us'),
    trackMaxUs: pick('maxUs'),
    trackMeanUs: spread(b.map((x) => (x.burstMs * 1000) / CALLS)),
    burstMs: pick('burstMs'),
    mainThreadMs: pick('mainThreadMs'),
    busyShare: pick('busyShare'),
    unresponsiveAfterWindow: b.filter((x) => x.unresponsiveAfterWindow).length,
    longTaskMs: pick('longTaskMs'),
    longTasks: pick('longTasks'),
    heapBytes: pick('heapBytes'),
    wasmBytes: pick('wasmBytes'),
    crossOriginIsolated: b.length > 0 && b.every((x) => x.isolated),
    errors: r.errors,
    perRound: { bursts: b, navigate: r.navigate, close: r.close },
  };
  if (t.delivery) {
    o.delivered5s = pick('delivered5s');
    o.allDeliveredRounds = b.filter((x) => x.delivered5s === CALLS).length;
    o.lastArrivalMs = pick('lastArrivalMs');
    o.deliveredOnNavigate = spread(r.navigate);
    o.deliveredOnClose = spread(r.close);
    if (t.delivery === 'collector') {
      o.sdkDropped = pick('sdkDropped');
      o.sdkSent = pick('sdkSent');
    }
  }
  if (r.returning.length) {
    o.returning = {
      readyMs: spread(r.returning.map((x) => x.readyMs)),
      personalizedMs: spread(r.returning.map((x) => x.personalizedMs)),
      fcpMs: spread(r.returning.map((x) => x.fcpMs)),
      personalizedBeforeFcp: r.returning.every((x) => x.personalizedMs != null && x.fcpMs != null && x.personalizedMs < x.fcpMs),
      heroTexts: [...new Set(r.returning.map((x) => x.hero))],
    };
  }
  return o;
};
const result = {
  date: new Date().toISOString(),
  chromium: chromiumVersion,
  chromiumArgs: CHROMIUM_ARGS,
  sdk: { sha256: SDK_HASH, jsBytes: SDK_FILES.get('waymark.js').length, wasmBytes: SDK_FILES.get('waymark.wasm').length },
  waymarkBurstProfile: profile,
  waymarkBigValue: bigValue,
  waymarkUploadBytes: uploadBytes,
  node: process.version,
  rounds: ROUNDS,
  exitRounds: EXIT_ROUNDS,
  calls: CALLS,
  exitCalls: EXIT_CALLS,
  deliveryWindowMs: DELIVERY_WINDOW_MS,
  exitWindowMs: EXIT_WINDOW_MS,
  traceWindowMs: TRACE_WINDOW_MS,
  seconds: (Date.now() - started) / 1000,
  sinkUnknownRequests: [...new Set(sink.stats.unknown)].slice(0, 50),
  trackers: Object.fromEntries(trackersNow.map((t) => [t.id, summarize(t)])),
};
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(result, null, 2));

const f = (s, d = 1) => (s == null || s.median == null ? 'n/a' : `${s.median.toFixed(d)} (${s.min.toFixed(d)}..${s.max.toFixed(d)})`);
console.log(`\n${result.chromium}, ${ROUNDS} rounds (${EXIT_ROUNDS} with the exit tests), ${CALLS} track() calls per burst, ${result.seconds.toFixed(0)} s`);
for (const [id, s] of Object.entries(result.trackers)) {
  console.log(`${id.padEnd(18)} gzip ${s.bytes ? s.bytes.gzip : 'n/a'} B | ready ${f(s.readyMs)} ms | track ${f(s.trackMedianUs)} us p95 ${f(s.trackP95Us)} | main thread ${f(s.mainThreadMs, 0)} ms | heap ${s.heapBytes ? (s.heapBytes.median / 1e6).toFixed(1) : 'n/a'} MB` +
    (s.delivery ? ` | 5 s: ${f(s.delivered5s, 0)} | nav: ${f(s.deliveredOnNavigate, 0)} | close: ${f(s.deliveredOnClose, 0)}` : '') + (s.errors.length ? ` | errors ${s.errors.length}` : ''));
}
console.log(`browser bench: results written to ${path.relative(ROOT, OUT)}`);
