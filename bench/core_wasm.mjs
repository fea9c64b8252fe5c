// The core in WebAssembly: events per second through the default map (log cap 500, the stream of
// bench/core_bench.cpp's Stream(20000)), under Node and in Debian's Chromium, through the call the
// SDK makes, JourneyEngine.track(envelopes) of js/src/engine.js (the typed boundary: records
// written to wasm memory, outcomes read back, js/src/record.js), and, in the same run and module,
// through the JSON call it replaced (JSON.stringify, the test build's wm_test_track_json,
// JSON.parse), in batches of 100 envelopes. Both run in the test build
// (build/wasm/wasm/waymark_test.wasm), which holds the production engine and exports plus that call. The native counterpart of the JSON
// call is BM_TrackJsonBatchDefaultMap/100 in bench/core_bench.cpp. Wall-clock time on both sides.
//
//   node bench/core_wasm.mjs [--seconds 3] [--out bench/results/core-wasm.json] [--no-chromium]
//                            [--wasm-dir build/wasm/wasm]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const SECONDS = Number(flag('--seconds', 3));
const OUT = path.resolve(ROOT, flag('--out', 'bench/results/core-wasm.json'));
const WITH_CHROMIUM = !args.includes('--no-chromium');
// --wasm-dir: another build of the same tree (the flag table in wasm/CMakeLists.txt compares them).
const WASM_DIR = path.resolve(ROOT, flag('--wasm-dir', path.join('build', 'wasm', 'wasm')));
const WASM = path.join(WASM_DIR, 'waymark_test.wasm');
const SDK_DIR = path.join(ROOT, 'js', 'src');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

for (const f of [WASM]) {
  if (!fs.existsSync(f)) {
    console.error(`core wasm bench: ${path.relative(ROOT, f)} missing; run npm run build`);
    process.exit(1);
  }
}

// Read once: a rebuild of build/wasm during the run must not mix engine versions.
const WASM_BYTES = fs.readFileSync(WASM);

// Runs in Node and, serialized, in the page: the same stream and the same calls in both. Returns
// events per second (median of the timed repetitions) and the spread, for `mode` 'typed' (the
// SDK's call) or 'json' (the call it replaced).
async function runStream(Module, JourneyEngine, seconds, mode) {
  const kNames = ['page_viewed', 'page_viewed', 'page_viewed', 'feature_viewed', 'content_read',
    'pricing_viewed', 'feature_used', 'feature_used', 'video_played', 'page_viewed', 'lead_submitted',
    'trial_started', 'feature_used', 'order_completed', 'feature_used', 'friend_invited'];
  const N = 20000;
  const PER_CALL = 100;
  const T0 = 1700000000000;
  const batches = [];
  let batch = [];
  for (let i = 0; i < N; i++) {
    batch.push({
      id: `0190a5b2-0000-7000-8000-${100000000000 + i}`,
      seq: i,
      anonymous_id: 'anon-bench',
      name: kNames[i % 16],
      type: 'track',
      time: T0 + i * 7 * 1000,
      properties: { section: `s${i % 5}`, value: i % 100 },
      context: { path: `/p/${i % 37}` },
    });
    if (batch.length === PER_CALL) {
      batches.push(batch);
      batch = [];
    }
  }
  const map = null; // the embedded default map (its log cap is 500, as in bench/core_bench.cpp)
  const call = mode === 'typed'
    ? (engine, b) => engine.track(b)
    : (engine, b) => {
      const handle = engine._live();
      const [length] = handle._write(JSON.stringify(b));
      const answer = JSON.parse(handle._text(Module.exports.wm_test_track_json(handle._ptr, length)));
      if (!answer.ok) throw new Error(answer.error.message);
      return answer.value;
    };
  const once = () => {
    const engine = new JourneyEngine(Module, map);
    const t = performance.now();
    let accepted = 0;
    for (const b of batches) {
      const results = call(engine, b);
      if (results.length === b.length) accepted++;
    }
    const ms = performance.now() - t;
    engine.dispose();
    if (accepted !== batches.length) throw new Error(`a batch was refused (${accepted}/${batches.length})`);
    return ms;
  };
  once(); // warm-up (compilation tiers, allocator)
  const times = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < seconds * 1000 && times.length < 50)) times.push(once());
  const rates = times.map((ms) => N / (ms / 1000)).sort((a, b) => a - b);
  const mid = rates.length % 2 ? rates[(rates.length - 1) / 2] : (rates[rates.length / 2 - 1] + rates[rates.length / 2]) / 2;
  return { eventsPerSecond: mid, min: rates[0], max: rates[rates.length - 1], repetitions: rates.length, eventsPerRepetition: N, eventsPerCall: PER_CALL };
}

async function inNode() {
  const { engineImports, engineModuleFrom } = await import(path.join(SDK_DIR, 'wasm-module.js'));
  const { JourneyEngine } = await import(path.join(SDK_DIR, 'engine.js'));
  const { instance } = await WebAssembly.instantiate(WASM_BYTES, engineImports);
  const Module = engineModuleFrom(instance);
  return { typed: await runStream(Module, JourneyEngine, SECONDS, 'typed'), json: await runStream(Module, JourneyEngine, SECONDS, 'json') };
}

async function inChromium() {
  const { chromium } = await import('playwright-core');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/js/') && /^[a-z-]+\.js$/.test(url.pathname.slice(4))) {
      res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'no-store' });
      res.end(fs.readFileSync(path.join(SDK_DIR, url.pathname.slice(4))));
    } else if (url.pathname === '/waymark_test.wasm') {
      res.writeHead(200, { 'Content-Type': 'application/wasm', 'Cache-Control': 'no-store' });
      res.end(WASM_BYTES);
    } else {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><title>core wasm</title>');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const browser = await chromium.launch({ executablePath: process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    return await page.evaluate(async ({ src, seconds }) => {
      const { engineImports, engineModuleFrom } = await import('/js/wasm-module.js');
      const { JourneyEngine } = await import('/js/engine.js');
      const { instance } = await WebAssembly.instantiateStreaming(fetch('/waymark_test.wasm'), engineImports);
      const Module = engineModuleFrom(instance);
      // eslint-disable-next-line no-new-func
      const run = new Function(`return (${src})`)();
      return { typed: await run(Module, JourneyEngine, seconds, 'typed'), json: await run(Module, JourneyEngine, seconds, 'json') };
    }, { src: runStream.toString(), seconds: SECONDS });
  } finally {
    await browser.close();
    server.close();
  }
}

const result = { date: new Date().toISOString(), node: process.version, v8: process.versions.v8, wasmBytes: fs.statSync(path.join(WASM_DIR, 'waymark.wasm')).size };
const line = (where, r) => `core wasm ${where}: typed ${Math.round(r.typed.eventsPerSecond)} events/s ` +
  `(${Math.round(r.typed.min)}..${Math.round(r.typed.max)}), JSON ${Math.round(r.json.eventsPerSecond)} events/s ` +
  `(${Math.round(r.json.min)}..${Math.round(r.json.max)}): ${(r.typed.eventsPerSecond / r.json.eventsPerSecond).toFixed(2)}x`;
const node = await inNode();
result.node_wasm = node.typed;
result.node_wasm_json = node.json;
console.log(line(`under Node ${process.version}`, node));
if (WITH_CHROMIUM) {
  try {
    result.chromium = execFileSync(process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium', ['--version']).toString().trim();
  } catch {
    result.chromium = 'unknown';
  }
  const chromium = await inChromium();
  result.chromium_wasm = chromium.typed;
  result.chromium_wasm_json = chromium.json;
  console.log(line(`in ${result.chromium}`, chromium));
}
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(result, null, 2));
console.log(`core wasm bench: results written to ${path.relative(ROOT, OUT)}`);
