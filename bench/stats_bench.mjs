// The dashboard's reports at 10 k and at 1 M events (issue 14's aim: at most 2x), on SQLite and on
// PostgreSQL, in one run.
//
//   node bench/stats_bench.mjs [--small 10000] [--large 1000000] [--runs 7] [--backends sqlite,postgres]
//                              [--out bench/results/stats.json]
//
// Each database is loaded by bench/stats_seed.cpp through the collector's ingestion and projection
// code (no HTTP: it keeps the bench short), visitors spread over the last 29 days. Then the real
// collector serves it and every GET /v1/stats/... the dashboard calls is timed over keep-alive HTTP
// on loopback (default range: the last 30 days, so every event is in it): one warm-up, then the
// median of `runs`. Also timed: all of them at once, as the dashboard fetches them. On PostgreSQL
// the loaded database is vacuumed and analyzed first (what autovacuum does soon after a load; its
// background work would otherwise land in the timings).
//
// Then the dashboard itself (build/dashboard, served by that collector) is loaded cold in headless
// Chromium, `runs` times after a warm-up, to the moment every view of its first refresh is drawn
// (the page's data-drawn mark, ms since navigation): issue 15's aim compares 1 M with 10 k. A
// screenshot of every view at each size goes to build/screenshots/bench-<events>-<view>.png.
//
// Then, on the large database, a map publish: the stored map again as the next version, and the
// collector's background re-projection timed until every journey is replayed, against the same
// events through Engine::Track in one process (bench/stats_seed.cpp --reproject).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { psql, startPostgres } from '../tests/collector/postgres.mjs';
import { startCollector as startCollectorAt, stopCollector } from './collector_process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEED = path.join(ROOT, 'build', 'native', 'bench', 'waymark_stats_seed');
const ENDPOINTS = ['overview', 'funnel', 'transitions', 'time-in-stage', 'attribution', 'content-gaps', 'paths', 'webhooks'];

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const SMALL = Number(option('small', '10000'));
const LARGE = Number(option('large', '1000000'));
const RUNS = Number(option('runs', '7'));
const BACKENDS = option('backends', 'sqlite,postgres').split(',').filter(Boolean);
const OUT = option('out', path.join(ROOT, 'bench', 'results', 'stats.json'));

const startCollector = (db, extra = []) =>
  startCollectorAt(db, ['--admin-key', 'bench', '--advance-interval', '0', ...extra], { maxSockets: 16 });
const DASHBOARD = path.join(ROOT, 'build', 'dashboard');
const SHOTS = path.join(ROOT, 'build', 'screenshots');
const VIEWS = ['overview', 'journey-map', 'funnel', 'steps', 'paths', 'attribution', 'content-gaps', 'live', 'timeline', 'map-editor'];

// Cold loads of the dashboard (a new browser context each: no cache) to its data-drawn mark.
async function dashboardLoads(c, events) {
  const { chromium } = await import('playwright-core');
  const { CHROMIUM_ARGS } = await import('../tests/browser/harness.mjs');
  const browser = await chromium.launch({ executablePath: process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const times = [];
  try {
    for (let run = 0; run <= RUNS; run++) {
      const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${c.url}/#key=bench`);
      await page.waitForFunction(() => document.documentElement.dataset.drawn, null, { timeout: 120000 });
      const ms = Number(await page.evaluate(() => document.documentElement.dataset.drawn));
      if (run > 0) times.push(ms);
      if (run === RUNS) {
        fs.mkdirSync(SHOTS, { recursive: true });
        for (const view of VIEWS) {
          await page.locator(`#${view}`).screenshot({ path: path.join(SHOTS, `bench-${events}-${view}.png`) }).catch(() => {});
        }
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return { median_ms: round(median(times)), runs_ms: times.map((t) => round(t)) };
}

function get(c, p) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.get(new URL(p, c.url), { agent: c.agent, headers: { Authorization: 'Bearer bench' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (res.statusCode !== 200) reject(new Error(`${p}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
        else resolve({ ms, json: JSON.parse(text) });
      });
    });
    req.on('socket', (s) => s.setNoDelay(true));
    req.on('error', reject);
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const round = (x, places = 2) => Math.round(x * 10 ** places) / 10 ** places;

async function measure(db, events, settle) {
  // The collector creates the schema and stores its map; the seeder needs both.
  await stopCollector(await startCollector(db));
  const { stdout } = await promisify(execFile)(SEED, ['--db', db, '--events', String(events)], { maxBuffer: 1 << 20 });
  const seeded = JSON.parse(stdout.trim().split('\n').pop());
  await settle?.(db);
  let c = await startCollector(db);
  try {
    const times = Object.fromEntries(ENDPOINTS.map((e) => [e, []]));
    const together = [];
    let overview = null;
    for (let run = 0; run <= RUNS; run++) {
      for (const e of ENDPOINTS) {
        const r = await get(c, `/v1/stats/${e}`);
        if (run > 0) times[e].push(r.ms);
        if (e === 'overview') overview = r.json;
      }
      const started = process.hrtime.bigint();
      await Promise.all(ENDPOINTS.map((e) => get(c, `/v1/stats/${e}`)));
      if (run > 0) together.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    if (overview.events !== events) throw new Error(`overview counts ${overview.events} events in range, ${events} were loaded`);
    await stopCollector(c);
    c = await startCollector(db, ['--static', DASHBOARD]);
    const dashboard = await dashboardLoads(c, events);
    return {
      dashboard_load_ms: dashboard.median_ms,
      dashboard_load_runs_ms: dashboard.runs_ms,
      events,
      visitors: seeded.visitors,
      load_events_per_second: seeded.events_per_second,
      profiles_in_range: overview.profiles,
      median_ms: Object.fromEntries(ENDPOINTS.map((e) => [e, round(median(times[e]))])),
      all_at_once_ms: round(median(together)),
    };
  } finally {
    await stopCollector(c);
  }
}

async function main() {
  const results = { cores: os.cpus().length, runs: RUNS, backends: {} };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'waymark-stats-bench-'));
  let pg = null;
  try {
    for (const backend of BACKENDS) {
      let location;
      let settle = null;
      if (backend === 'postgres') {
        pg = await startPostgres();
        location = async (name) => {
          await psql(pg, `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
          return pg.url.replace(/\/[^/]*$/, `/${name}`);
        };
        settle = (url) => psql({ url }, 'VACUUM ANALYZE');
      } else {
        location = async (name) => path.join(tmp, `${name}.db`);
      }
      const small = await measure(await location('small'), SMALL, settle);
      process.stderr.write(`stats bench: ${backend} ${SMALL} events: ${JSON.stringify(small.median_ms)}\n`);
      const largeDb = await location('large');
      const large = await measure(largeDb, LARGE, settle);
      process.stderr.write(`stats bench: ${backend} ${LARGE} events: ${JSON.stringify(large.median_ms)}\n`);
      const { stdout } = await promisify(execFile)(SEED, ['--db', largeDb, '--reproject'], { maxBuffer: 1 << 20 });
      const reprojection = JSON.parse(stdout.trim().split('\n').pop());
      process.stderr.write(`stats bench: ${backend} re-projection: ${JSON.stringify(reprojection)}\n`);
      const ratio = Object.fromEntries(ENDPOINTS.map((e) => [e, round(large.median_ms[e] / small.median_ms[e])]));
      ratio.all_at_once = round(large.all_at_once_ms / small.all_at_once_ms);
      const dashboardRatio = round(large.dashboard_load_ms / small.dashboard_load_ms);
      results.backends[backend] = { small, large, ratio, worst_ratio: Math.max(...Object.values(ratio)), dashboard_ratio: dashboardRatio, reprojection };
      process.stderr.write(`stats bench: ${backend} dashboard load ${small.dashboard_load_ms} ms at ${SMALL}, ${large.dashboard_load_ms} ms at ${LARGE}: ${dashboardRatio}x\n`);
      if (pg) {
        await pg.stop();
        pg = null;
      }
    }
  } finally {
    if (pg) await pg.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(`${OUT}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  fs.renameSync(`${OUT}.tmp`, OUT);
  console.log(JSON.stringify(results, null, 2));
}

main().catch((err) => {
  console.error(`stats bench: ${err.stack || err}`);
  process.exit(1);
});
