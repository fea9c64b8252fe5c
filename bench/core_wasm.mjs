// The core in WebAssembly: events per second through the default map (log cap 500, the stream of
// bench/core_bench.cpp's Stream(20000)), under Node and in Debian's Chromium, through the very call
// the SDK makes: `new Module.Engine(map, false)._track(batch)` with batches of 100 envelopes as
// JSON text (wasm/bindings.cpp). The native counterpart is BM_TrackJsonBatchDefaultMap/100 in
// bench/core_bench.cpp (same stream, same batches, the binding's parse/track/answer done natively).
// Wall-clock time on both sides.
//
//   node bench/core_wasm.mjs [--seconds 3] [--out bench/results/core-wasm.json] [--no-chromium]
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
const WASM_DIR = path.join(ROOT, 'build', 'wasm', 'wasm');
const GLUE = path.join(WASM_DIR, 'waymark.js');
const WASM = path.join(WASM_DIR, 'waymark.wasm');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

for (const f of [GLUE, WASM]) {
  if (!fs.existsSync(f)) {
    console.error(`core wasm bench: ${path.relative(ROOT, f)} missing; run npm run build`);
    process.exit(1);
  }
}

// Read once: a rebuild of build/wasm during the run must not mix engine versions.
const GLUE_BYTES = fs.readFileSync(GLUE);
const WASM_BYTES = fs.readFileSync(WASM);

// Runs in Node and, serialized, in the page: the same stream and the same calls in both. Returns
// events per second (median of the timed repetitions) and the spread.
async function runStream(Module, seconds) {
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
      batches.push(JSON.stringify(batch));
      batch = [];
    }
  }
  const map = JSON.parse(Module._defaultMap());
  map.noise = map.noise || {};
  map.noise.log_cap = 500;
  const mapJson = JSON.stringify(map);
  const once = () => {
    const engine = new Module.Engine(mapJson, false);
    const t = performance.now();
    let accepted = 0;
    for (const b of batches) {
      const answer = engine._track(b);
      if (answer.charCodeAt(6) === 116) accepted++; // {"ok":true...
    }
    const ms = performance.now() - t;
    engine.delete();
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
  const require = createRequire(import.meta.url);
  const factory = require(GLUE);
  // Node 20's fetch breaks emscripten 3.1.6's wasm loading (TOOLCHAIN.md, quirk 3): pass the bytes.
  const Module = await factory({ wasmBinary: WASM_BYTES });
  return runStream(Module, SECONDS);
}

async function inChromium() {
  const { chromium } = await import('playwright-core');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/waymark.js' || url.pathname === '/waymark.wasm') {
      const wasmFile = url.pathname.endsWith('.wasm');
      res.writeHead(200, { 'Content-Type': wasmFile ? 'application/wasm' : 'text/javascript', 'Cache-Control': 'no-store' });
      res.end(wasmFile ? WASM_BYTES : GLUE_BYTES);
    } else {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><title>core wasm</title><script src="/waymark.js"></script>');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const browser = await chromium.launch({ executablePath: process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    return await page.evaluate(async ({ src, seconds }) => {
      const Module = await window.WaymarkModule();
      // eslint-disable-next-line no-new-func
      const run = new Function(`return (${src})`)();
      return run(Module, seconds);
    }, { src: runStream.toString(), seconds: SECONDS });
  } finally {
    await browser.close();
    server.close();
  }
}

const result = { date: new Date().toISOString(), node: process.version, v8: process.versions.v8, wasmBytes: WASM_BYTES.length };
result.node_wasm = await inNode();
console.log(`core wasm under Node ${process.version}: ${Math.round(result.node_wasm.eventsPerSecond)} events/s ` +
  `(${Math.round(result.node_wasm.min)}..${Math.round(result.node_wasm.max)}, ${result.node_wasm.repetitions} x 20 000 events)`);
if (WITH_CHROMIUM) {
  try {
    result.chromium = execFileSync(process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium', ['--version']).toString().trim();
  } catch {
    result.chromium = 'unknown';
  }
  result.chromium_wasm = await inChromium();
  console.log(`core wasm in ${result.chromium}: ${Math.round(result.chromium_wasm.eventsPerSecond)} events/s ` +
    `(${Math.round(result.chromium_wasm.min)}..${Math.round(result.chromium_wasm.max)}, ${result.chromium_wasm.repetitions} x 20 000 events)`);
}
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(result, null, 2));
console.log(`core wasm bench: results written to ${path.relative(ROOT, OUT)}`);
