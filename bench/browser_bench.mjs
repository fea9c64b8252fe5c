// Browser benchmark of the SDK in Debian's Chromium (playwright-core), against the real collector
// on loopback. Measures what a site pays for the script tag:
//   - gzip bytes of everything the script tag loads (dist/waymark.js + dist/waymark.wasm);
//   - time from script start to ready (init() resolved: wasm compiled, journey restored);
//   - track() on the main thread: median and p95 per call over a 2 000-call burst, the burst's
//     wall time, and the main thread's busy time over the burst and the 2 s after it (the
//     renderer main thread's tasks in a Chromium trace: deferred engine work and storage
//     included), with the long tasks among it;
//   - memory after the burst (JS heap, wasm memory);
//   - for a returning visitor: when personalization was applied relative to first contentful paint.
// A no-op script measured in the same rounds is the floor. Rounds are interleaved and repeated;
// medians and the spread (min..max) are reported, since this machine is noisy.
//
//   node bench/browser_bench.mjs [--rounds 5] [--calls 2000] [--out bench/results/browser.json]
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { SITE_KEY, startCollector, stopCollector } from '../tests/collector/helpers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUNDS = Number(flag('--rounds', 5));
const CALLS = Number(flag('--calls', 2000));
const OUT = path.resolve(ROOT, flag('--out', 'bench/results/browser.json'));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const DIST = path.join(ROOT, 'dist');
for (const f of ['waymark.js', 'waymark.wasm']) {
  if (!fs.existsSync(path.join(DIST, f))) {
    console.error(`browser bench: dist/${f} missing; run npm run build`);
    process.exit(1);
  }
}

// The page under test. `__t0` is taken just before the tracker's script tag; the burst is run by
// the benchmark itself through page.evaluate.
function pageHtml(kind, collector) {
  const tag = kind === 'waymark'
    ? `<script src="/waymark/waymark.js" data-key="${SITE_KEY}" data-endpoint="${collector}"></script>`
    : '<script src="/noop.js"></script>';
  return `<!doctype html><html><head><meta charset="utf-8"><title>bench</title>
<script>window.__t0 = performance.now(); window.__longTasks = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push([e.startTime, e.duration]); }).observe({ type: 'longtask', buffered: true });</script>
${tag}
<script>(window.waymark || window.noop).ready().then(() => { window.__readyAt = performance.now(); });</script>
</head><body><h1 data-waymark-slot="hero">Know where every visitor is in their journey.</h1><p>content</p></body></html>`;
}

const NOOP_JS = `window.noop = { ready: () => Promise.resolve(), track: function (n, p) { (this.q || (this.q = [])).push([n, p]); } };`;

function startSite(collector) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    // Cross-origin isolation gives performance.now() 5 us resolution instead of 100 us.
    const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store' };
    if (url.pathname.startsWith('/waymark/')) {
      const file = path.join(DIST, path.basename(url.pathname));
      res.writeHead(200, { ...isolation, 'Content-Type': file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' });
      res.end(fs.readFileSync(file));
    } else if (url.pathname === '/noop.js') {
      res.writeHead(200, { ...isolation, 'Content-Type': 'text/javascript' });
      res.end(NOOP_JS);
    } else {
      res.writeHead(200, { ...isolation, 'Content-Type': 'text/html' });
      res.end(pageHtml(url.pathname.includes('noop') ? 'noop' : 'waymark', collector));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` })));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

async function measure(browser, site, kind) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.url}/${kind}.html`);
  // The main thread's busy time over the burst and the 2 s after it (deferred work included):
  // the durations of the renderer main thread's tasks in a Chromium trace (no sampling overhead).
  await page.evaluate(() => (window.waymark || window.noop).ready());
  await page.waitForTimeout(500);
  await browser.startTracing(page, { categories: ['toplevel'] });
  const out = await page.evaluate(async ({ kind, calls }) => {
    const api = kind === 'waymark' ? window.waymark : window.noop;
    await api.ready();
    const readyMs = window.__readyAt - window.__t0;
    const isolated = window.crossOriginIsolated;
    const before = window.__longTasks.length;
    const per = new Float64Array(calls);
    const start = performance.now();
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      api.track('feature_used', { i, feature: 'journeys', note: 'benchmark burst' });
      per[i] = performance.now() - t;
    }
    const burstMs = performance.now() - start;
    await new Promise((r) => setTimeout(r, 2000)); // deferred work: snapshot, batching, sending
    // Long tasks that started after the burst began (the burst's own task started before it and
    // is counted as burstMs).
    const tasks = window.__longTasks.slice(before).filter(([startTime]) => startTime >= start);
    const sorted = Array.from(per).sort((a, b) => a - b);
    const heap = performance.memory ? performance.memory.usedJSHeapSize : null;
    const wasm = kind === 'waymark' && window.waymark._tracker._module.HEAPU8 ? window.waymark._tracker._module.HEAPU8.length : null;
    return {
      readyMs, isolated, burstMs,
      medianUs: sorted[Math.floor(calls / 2)] * 1000,
      p95Us: sorted[Math.floor(calls * 0.95)] * 1000,
      longTaskMs: tasks.reduce((s, [, d]) => s + d, 0),
      longTasks: tasks.length,
      heapBytes: heap,
      wasmBytes: wasm,
    };
  }, { kind, calls: CALLS });
  out.mainThreadMs = mainThreadBusyMs(JSON.parse((await browser.stopTracing()).toString('utf8')));
  await context.close();
  return out;
}

// A returning visitor: first visit reaches the trial stage, the second load is measured.
async function returning(browser, site) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.url}/waymark.html`);
  await page.evaluate(async () => {
    await waymark.ready();
    waymark.track('signed_up');
    waymark.track('trial_started');
    await waymark.flush();
  });
  await page.waitForTimeout(1200); // the snapshot is saved within 1 s
  const again = await context.newPage();
  await again.goto(`${site.url}/waymark.html`);
  const r = await again.evaluate(async () => {
    await waymark.ready();
    const readyMs = performance.now() - window.__t0;
    const mark = performance.getEntriesByName('waymark:personalized')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return { readyMs, personalizedMs: mark ? mark.startTime : null, fcpMs: fcp ? fcp.startTime : null, hero: document.querySelector('h1').textContent };
  });
  await context.close();
  return r;
}

/** Milliseconds the page's renderer main thread spent running tasks in a trace. */
function mainThreadBusyMs(trace) {
  const events = trace.traceEvents || trace;
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args && e.args.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  let us = 0;
  for (const e of events) {
    if (e.ph === 'X' && e.name === 'ThreadControllerImpl::RunTask' && mains.has(`${e.pid}:${e.tid}`)) us += e.dur || 0;
  }
  return us / 1000;
}

const gzipBytes = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;

const collector = await startCollector({ siteKeys: [SITE_KEY] });
const site = await startSite(collector.url);
const browser = await chromium.launch({ executablePath: process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
const runs = { waymark: [], noop: [] };
const returningRuns = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? ['noop', 'waymark'] : ['waymark', 'noop'];
    for (const kind of order) runs[kind].push(await measure(browser, site, kind));
    returningRuns.push(await returning(browser, site));
    process.stdout.write(`round ${round + 1}/${ROUNDS} done\n`);
  }
} finally {
  await browser.close();
  site.server.close();
  await stopCollector(collector);
}

const summarize = (list) => {
  const keys = ['readyMs', 'medianUs', 'p95Us', 'burstMs', 'longTaskMs', 'mainThreadMs', 'heapBytes', 'wasmBytes'];
  const o = {};
  for (const k of keys) if (list[0][k] != null) o[k] = spread(list.map((r) => r[k]));
  o.crossOriginIsolated = list.every((r) => r.isolated);
  return o;
};
const jsFile = path.join(DIST, 'waymark.js');
const wasmFile = path.join(DIST, 'waymark.wasm');
const result = {
  date: new Date().toISOString(),
  chromium: (await (async () => {
    try {
      const { execFileSync } = await import('node:child_process');
      return execFileSync('/usr/bin/chromium', ['--version']).toString().trim();
    } catch {
      return 'unknown';
    }
  })()),
  rounds: ROUNDS,
  calls: CALLS,
  bytes: {
    js: fs.statSync(jsFile).size,
    wasm: fs.statSync(wasmFile).size,
    jsGzip: gzipBytes(jsFile),
    wasmGzip: gzipBytes(wasmFile),
  },
  waymark: summarize(runs.waymark),
  noop: summarize(runs.noop),
  returning: {
    readyMs: spread(returningRuns.map((r) => r.readyMs)),
    personalizedMs: spread(returningRuns.map((r) => r.personalizedMs)),
    fcpMs: spread(returningRuns.map((r) => r.fcpMs)),
    personalizedBeforeFcp: returningRuns.every((r) => r.personalizedMs != null && r.fcpMs != null && r.personalizedMs < r.fcpMs),
  },
};
result.bytes.totalGzip = result.bytes.jsGzip + result.bytes.wasmGzip;
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(result, null, 2));

const f = (x, d = 1) => (x == null || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
const row = (label, s, d = 1) => `${label.padEnd(34)} ${f(s.median, d).padStart(10)}  (${f(s.min, d)}..${f(s.max, d)})`;
console.log(`\nwaymark SDK in ${result.chromium}, ${ROUNDS} rounds, ${CALLS} track() calls per burst`);
console.log(`bytes the script tag loads: js ${result.bytes.jsGzip} B gzip + wasm ${result.bytes.wasmGzip} B gzip = ${result.bytes.totalGzip} B gzip (raw ${result.bytes.js + result.bytes.wasm} B)`);
console.log(`performance.now() resolution: ${result.waymark.crossOriginIsolated ? '5 us (cross-origin isolated)' : '100 us (not isolated)'}`);
for (const [label, s] of Object.entries(result.waymark)) if (typeof s === 'object') console.log(row(`waymark ${label}`, s));
for (const [label, s] of Object.entries(result.noop)) if (typeof s === 'object') console.log(row(`no-op floor ${label}`, s));
console.log(row('returning visitor: ready ms', result.returning.readyMs));
console.log(row('returning visitor: personalized at ms', result.returning.personalizedMs));
console.log(row('returning visitor: first contentful paint ms', result.returning.fcpMs));
console.log(`personalized before first contentful paint in every round: ${result.returning.personalizedBeforeFcp}`);
console.log(`browser bench: results written to ${path.relative(ROOT, OUT)}`);
