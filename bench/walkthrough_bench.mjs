// Browser and collector, the same journey (issue 13's aim): the demo walk-through of
// tests/browser/06-demo.test.mjs (e-mail campaign → read → lead → trial → customer → advocate)
// run N times in headless Chromium against `npm start`'s collector and demo site, each a new
// visitor. For each, the collector's profile counts the events whose stage, as the browser reported
// it, differs from the stage the collector computed (`stage_mismatches`); the figure is their sum,
// with the final stages of both sides. A count, not a test: the machine's timing varies.
//
//   node bench/walkthrough_bench.mjs [--runs 20] [--out bench/results/walkthrough.json]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const RUNS = Number(flag('--runs', 20));
const OUT = path.resolve(ROOT, flag('--out', 'bench/results/walkthrough.json'));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function waitFor(fn, { timeoutMs = 15000, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `node scripts/start.mjs` on free ports with its own data folder; resolves with its URLs and keys. */
async function npmStart(dataDir) {
  const proc = spawn(process.execPath, ['scripts/start.mjs'], {
    cwd: ROOT,
    env: { ...process.env, WAYMARK_DATA_DIR: dataDir, WAYMARK_PORT: '0', WAYMARK_DEMO_PORT: '0', WAYMARK_SEED_VISITORS: '5' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.output = '';
  proc.stdout.on('data', (d) => (proc.output += d));
  proc.stderr.on('data', (d) => (proc.output += d));
  proc.exited = new Promise((resolve) => proc.on('exit', resolve));
  await waitFor(() => /Stop with Ctrl-C/.test(proc.output), { timeoutMs: 120000, what: 'npm start' });
  const grab = (label) => proc.output.match(new RegExp(`${label}\\s+(\\S+)`))[1];
  return { proc, demo: grab('Demo site').replace(/\/$/, ''), dashboard: grab('Dashboard'), adminKey: grab('Admin key') };
}

/** One visitor's walk-through; returns the anonymous id and the stage the browser ends in. */
async function walkThrough(browser, app) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    const stage = () => page.textContent('#wm-stage');
    const expectStage = (s) => waitFor(async () => (await stage()) === s, { what: `stage ${s}` });
    await page.goto(`${app.demo}/blog/journey-mapping-guide.html?utm_source=newsletter&utm_medium=email&utm_campaign=guide`);
    await expectStage('awareness');
    const anonymousId = await page.evaluate(() => waymark.context().anonymousId);
    await page.locator('#article-end').scrollIntoViewIfNeeded();
    await expectStage('engaged');
    await page.click('#article-end [data-waymark-slot="cta"]');
    await page.waitForURL('**/lead.html');
    await page.fill('#lead-name', 'Jo Tester');
    await page.fill('#lead-email', 'jo@example.com');
    await page.fill('#lead-company', 'Acme');
    await page.click('#lead-submit');
    await expectStage('lead');
    await page.click('#lead-thanks [data-waymark-slot="cta"]');
    await page.waitForURL('**/signup.html');
    await page.fill('#su-name', 'Jo Tester');
    await page.fill('#su-email', 'jo@example.com');
    await page.fill('#su-workspace', 'acme');
    await page.fill('#su-password', 'correct horse battery');
    await page.click('#signup-submit');
    await page.waitForURL('**/app.html');
    await expectStage('trial');
    await page.click('.app-hero [data-waymark-slot="cta"]');
    await page.waitForURL('**/upgrade.html');
    await page.click('#pay');
    await expectStage('customer');
    await page.click('#order-done [data-waymark-slot="cta"]');
    await page.waitForURL('**/account.html*');
    await page.fill('#invite-email', 'friend@example.com');
    await page.click('#invite-send');
    await expectStage('advocate');
    await page.evaluate(() => waymark.flush());
    return { anonymousId, browserStage: await stage() };
  } finally {
    await context.close();
  }
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'waymark-walkthrough-'));
const app = await npmStart(dataDir);
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: process.env.WAYMARK_CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
const runs = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const started = Date.now();
    try {
      runs.push({ ...(await walkThrough(browser, app)), ms: Date.now() - started });
    } catch (err) {
      runs.push({ error: String(err && err.message), ms: Date.now() - started });
    }
  }
  // The collector's view of each visitor (profile reads project what is waiting first).
  const base = new URL(app.dashboard).origin;
  for (const run of runs) {
    if (!run.anonymousId) continue;
    const profile = await waitFor(async () => {
      const res = await fetch(`${base}/v1/profiles/${encodeURIComponent(run.anonymousId)}`, { headers: { Authorization: `Bearer ${app.adminKey}` } });
      const json = res.status === 200 ? await res.json() : null;
      return json; // a profile read projects what is waiting for it first
    }, { what: `profile ${run.anonymousId}` });
    run.collectorStage = profile.stage;
    run.mismatches = profile.stage_mismatches;
    run.events = profile.event_count;
  }
} finally {
  await browser.close();
  app.proc.kill('SIGINT');
  await app.proc.exited;
  fs.rmSync(dataDir, { recursive: true, force: true });
}

const done = runs.filter((r) => r.anonymousId);
const result = {
  date: new Date().toISOString(),
  runs: RUNS,
  completed: done.length,
  failed: runs.filter((r) => r.error).map((r) => r.error),
  mismatches: done.reduce((n, r) => n + (r.mismatches ?? 0), 0),
  finalStageDisagreements: done.filter((r) => r.collectorStage !== r.browserStage).length,
  events: done.reduce((n, r) => n + (r.events ?? 0), 0),
  perRun: runs,
};
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(result, null, 2));
console.log(`walk-through: ${result.completed}/${RUNS} completed, ${result.mismatches} stage mismatches over ${result.events} events, ` +
  `${result.finalStageDisagreements} final stages differing; results written to ${path.relative(ROOT, OUT)}`);
