// Where the main-thread time of a waymark burst goes: a CPU profile (CDP Profiler, 100 us sampling)
// of 2 000 track() calls and the 2 s after them, with the unminified ESM build (dist/index.mjs) so
// function names are readable. Not part of `npm run bench`; run it to explain the burst figure.
//
//   node bench/profile_burst.mjs
import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SITE_KEY, startCollector, stopCollector } from '../tests/collector/helpers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const collector = await startCollector({ siteKeys: [SITE_KEY] });
const server = http.createServer((req, res) => {
  const f = req.url.split('?')[0];
  if (f.startsWith('/dist/')) { res.writeHead(200, {'Content-Type': f.endsWith('.wasm') ? 'application/wasm' : 'text/javascript'}); res.end(fs.readFileSync(ROOT + f)); return; }
  res.writeHead(200, {'Content-Type': 'text/html'}); res.end(`<!doctype html><script type="module">import waymark from '/dist/index.mjs'; window.waymark = waymark; waymark.init({ key: '${SITE_KEY}', endpoint: '${collector.url}' });</script><h1>x</h1>`);
});
await new Promise(r => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless','--no-sandbox','--disable-gpu'] });
const page = await browser.newPage();
await page.goto(`http://127.0.0.1:${server.address().port}/`);
await page.waitForFunction(() => window.waymark && window.waymark.ready);
await page.evaluate(() => waymark.ready());
await page.waitForTimeout(300);
const cdp = await page.context().newCDPSession(page);
await cdp.send('Profiler.enable'); await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
await cdp.send('Profiler.start');
await page.evaluate(() => { for (let i = 0; i < 2000; i++) waymark.track('feature_used', { i, run: 'run-x', feature: 'journeys', note: 'benchmark burst' }); });
await page.waitForTimeout(2000);
const { profile } = await cdp.send('Profiler.stop');
const self = new Map(); const byId = new Map(profile.nodes.map(n => [n.id, n]));
const dt = profile.timeDeltas; const counts = new Map();
profile.samples.forEach((id, k) => counts.set(id, (counts.get(id) || 0) + (dt[k] || 0)));
for (const [id, us] of counts) { const n = byId.get(id); const cf = n.callFrame; const key = `${cf.functionName || '(anon)'} ${cf.url.split('/').pop()}:${cf.lineNumber}`; self.set(key, (self.get(key) || 0) + us); }
// Self time by where it runs: the wasm engine, the SDK's JS, the browser's own work (IndexedDB put/
// delete, postMessage, ...), idle.
const byFile = new Map(); for (const [k, us] of self) { const f = k.includes('wasm') ? 'wasm' : k.split(' ')[1].split(':')[0] || k.split(' ')[0]; byFile.set(f, (byFile.get(f)||0)+us); }
console.log('self time by place:', [...byFile].sort((a,b)=>b[1]-a[1]).slice(0,10).map(([k,v])=>`${k} ${(v/1000).toFixed(0)}ms`).join(' | '));
console.log([...self].sort((a,b)=>b[1]-a[1]).slice(0,25).map(([k,v])=>`${(v/1000).toFixed(1)}ms ${k}`).join('\n'));
await browser.close(); server.close(); await stopCollector(collector);
