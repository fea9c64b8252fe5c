// `npm start` as a user runs it (scripts/start.mjs after the build): the collector on its SQLite
// file serving the dashboard, the demo site, generated keys; then, in headless Chromium, a visitor
// who arrives from an e-mail campaign, reads, leaves a lead, starts a trial, upgrades and invites a
// friend: at each step the page shows that stage's content, the collector's profile has the same
// stages, and the dashboard shows the visitor in the funnel and the timeline. Screenshots of each
// step and of the dashboard's views go to build/screenshots/. Ctrl-C stops everything; a second
// start reuses the keys and the data.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, launchBrowser, waitFor } from './harness.mjs';

const SHOTS = path.join(ROOT, 'build', 'screenshots');
fs.mkdirSync(SHOTS, { recursive: true });
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'waymark-start-'));
const running = [];
after(() => {
  for (const p of running) if (p.exitCode === null) p.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Starts `node scripts/start.mjs`; resolves once it printed its URLs. */
function npmStart() {
  const proc = spawn(process.execPath, ['scripts/start.mjs'], {
    cwd: ROOT,
    env: { ...process.env, WAYMARK_DATA_DIR: dataDir, WAYMARK_PORT: '0', WAYMARK_DEMO_PORT: '0', WAYMARK_SEED_VISITORS: '60' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(proc);
  proc.output = '';
  proc.stdout.on('data', (d) => (proc.output += d));
  proc.stderr.on('data', (d) => (proc.output += d));
  proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return waitFor(() => /Stop with Ctrl-C/.test(proc.output), { timeoutMs: 60000, what: `npm start output:\n${proc.output}` }).then(() => {
    const grab = (label) => proc.output.match(new RegExp(`${label}\\s+(\\S+)`))[1];
    return { proc, demo: grab('Demo site').replace(/\/$/, ''), dashboard: grab('Dashboard'), siteKey: grab('Site key'), adminKey: grab('Admin key') };
  });
}

async function stop(app) {
  app.proc.kill('SIGINT');
  const { code, signal } = await app.proc.exited;
  assert.equal(signal, null, app.proc.output);
  assert.equal(code, 0, app.proc.output);
  assert.match(app.proc.output, /stopped \(collector exit code 0\)/);
}

const api = async (app, route) => {
  const base = new URL(app.dashboard).origin;
  const res = await fetch(`${base}${route}`, { headers: { Authorization: `Bearer ${app.adminKey}` } });
  return { status: res.status, json: res.status === 200 ? await res.json() : null };
};

let app;
let anonymousId;

test('npm start: collector, dashboard and demo site up, with sample data and printed keys', async () => {
  app = await npmStart();
  assert.match(app.siteKey, /^pk_demo_[0-9a-f]{16}$/);
  assert.match(app.adminKey, /^ak_[0-9a-f]{32}$/);
  assert.match(app.proc.output, /first start: sending 60 simulated visitors.*0 rejected/);
  const home = await fetch(`${app.demo}/`);
  assert.equal(home.status, 200);
  assert.match(await home.text(), new RegExp(`data-key="${app.siteKey}"`));
  const dash = await fetch(new URL(app.dashboard).origin + '/');
  assert.equal(dash.status, 200);
  const overview = await api(app, '/v1/stats/overview');
  // Every stored journey (the simulated visitors reach back beyond the reports' default 30 days).
  assert.ok(overview.json.reprojection.profiles >= 60, JSON.stringify(overview.json));
});

test('walk-through: e-mail campaign → read → lead → trial → customer → advocate, content follows the stage', async () => {
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const stageShown = () => page.textContent('#wm-stage');
    const heroText = (scope = '') => page.innerText(`${scope} [data-waymark-slot="hero"]`.trim());
    const expectStage = async (stage) => waitFor(async () => (await stageShown()) === stage, { what: `#wm-stage = ${stage} (was ${await stageShown()})` });
    const shot = (name) => page.screenshot({ path: path.join(SHOTS, `demo-${name}.png`), fullPage: false });

    await page.goto(`${app.demo}/blog/journey-mapping-guide.html?utm_source=newsletter&utm_medium=email&utm_campaign=guide`);
    await expectStage('awareness');
    assert.match(await heroText('#article-end'), /^Analytics your whole team can actually read./);
    await shot('1-awareness-campaign');
    anonymousId = await page.evaluate(() => waymark.context().anonymousId);

    await page.locator('#article-end').scrollIntoViewIfNeeded();
    await expectStage('engaged');
    await waitFor(async () => (await heroText('#article-end')).includes('See how teams turn visitors into customers'), { what: 'engaged hero' });
    await shot('2-engaged-read');

    await page.click('#article-end [data-waymark-slot="cta"]');
    await page.waitForURL('**/lead.html');
    await expectStage('engaged');
    await page.fill('#lead-name', 'Jo Tester');
    await page.fill('#lead-email', 'jo@example.com');
    await page.fill('#lead-company', 'Acme');
    await page.click('#lead-submit');
    await expectStage('lead');
    await waitFor(async () => (await heroText()).includes('20-minute walkthrough'), { what: 'lead hero' });
    await shot('3-lead');

    await page.click('#lead-thanks [data-waymark-slot="cta"]');
    await page.waitForURL('**/signup.html');
    await page.fill('#su-name', 'Jo Tester');
    await page.fill('#su-email', 'jo@example.com');
    await page.fill('#su-workspace', 'acme');
    await page.fill('#su-password', 'correct horse battery');
    await page.click('#signup-submit');
    await page.waitForURL('**/app.html');
    await expectStage('trial');
    await waitFor(async () => (await heroText()).includes('Your trial is running'), { what: 'trial hero' });
    await shot('4-trial');

    await page.click('.app-hero [data-waymark-slot="cta"]');
    await page.waitForURL('**/upgrade.html');
    await page.click('#pay');
    await expectStage('customer');
    await waitFor(async () => (await heroText('#order-done')).includes('Welcome back'), { what: 'customer hero' });
    await shot('5-customer');

    await page.click('#order-done [data-waymark-slot="cta"]');
    await page.waitForURL('**/account.html*');
    await page.fill('#invite-email', 'friend@example.com');
    await page.click('#invite-send');
    await expectStage('advocate');
    await shot('6-advocate');

    // The home page's note under the hero fits the stage: an advocate is not offered the free plan.
    await page.goto(`${app.demo}/`);
    await expectStage('advocate');
    await waitFor(async () => /friend you invite/.test(await page.textContent('[data-testid="hero-note"]')), { what: 'advocate hero note' });
    assert.doesNotMatch(await page.textContent('[data-testid="hero-note"]'), /Free for up to 3 seats/);

    // The inspector explains the stage.
    await page.goto(`${app.demo}/account.html?inspect=1`);
    await page.waitForSelector('#wm-inspector [data-wm-stage-id]');
    await waitFor(async () => (await page.textContent('#wm-inspector [data-wm-stage-id]')).includes('advocate'), { what: 'inspector stage' });
    await shot('7-inspector');
    await page.evaluate(() => waymark.flush());
    assert.deepEqual(errors, []);

    // The collector computed the same journey with the same engine.
    const profile = await waitFor(async () => {
      const r = await api(app, `/v1/profiles/${encodeURIComponent(anonymousId)}`);
      return r.json && r.json.stage === 'advocate' ? r.json : null;
    }, { what: 'collector profile at advocate' });
    assert.match(profile.user_id, /^usr_/);
    assert.deepEqual(profile.transitions.map((t) => t.to), ['engaged', 'lead', 'trial', 'customer', 'advocate']);
    // Where the two engines saw an event at a different stage, say so (a known, rare disagreement
    // when two pages' events are milliseconds apart: the collector orders by skew-corrected time).
    const disagreed = profile.touchpoints.filter((t) => t.browser_stage && t.browser_stage !== t.server_stage)
      .map((t) => `${t.name} at ${t.path}: browser ${t.browser_stage}, collector ${t.server_stage}`);
    if (disagreed.length) console.log(`# stage mismatches: ${disagreed.join('; ')}`);
    assert.ok(profile.stage_mismatches <= 1, `browser and collector disagreed at: ${disagreed.join('; ')}`);

    // The dashboard shows the visitor in the funnel and in the timeline.
    const dash = await context.newPage();
    await dash.setViewportSize({ width: 1366, height: 900 });
    // The dashboard runs under its Content-Security-Policy without a violation, and its biggest
    // file comes precompressed (brotli made at build, not per request).
    const cspViolations = [];
    dash.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    const echarts = dash.waitForResponse((r) => r.url().endsWith('/echarts.min.js'));
    await dash.goto(app.dashboard);
    const reached = dash.locator('[data-testid="funnel-reached-advocate"]');
    await reached.waitFor();
    assert.ok(Number((await reached.textContent()).replace(/\D/g, '')) >= 1);
    // Ordered progress: no step of the funnel holds more visitors than the one before.
    const rates = await dash.locator('[data-testid^="funnel-conversion-"]').allTextContents();
    assert.ok(rates.length >= 5, rates.join(' '));
    for (const rate of rates) assert.ok(!(Number.parseFloat(rate) > 100), `a step above 100 %: ${rates.join(' ')}`);
    assert.equal((await (await echarts).allHeaders())['content-encoding'], 'br', 'echarts.min.js is sent as its .br sibling');
    // Every stored journey is computed under the current map (no publish waits for re-projection).
    const reprojection = dash.locator('[data-testid="overview-reprojection"] + dd');
    await reprojection.waitFor();
    assert.match(await reprojection.textContent(), /map version \d+: up to date/);
    assert.equal((await dash.locator('[data-testid="overview-reprojection"]').textContent()).trim(), '100%');
    await dash.screenshot({ path: path.join(SHOTS, 'dashboard-overview.png'), fullPage: true });
    for (const id of ['journey-map', 'funnel', 'paths', 'attribution', 'content-gaps']) {
      await dash.locator(`#${id}`).screenshot({ path: path.join(SHOTS, `dashboard-${id}.png`) });
    }
    await dash.fill('[data-testid="timeline-search"]', anonymousId);
    await dash.press('[data-testid="timeline-search"]', 'Enter');
    await waitFor(async () => ((await dash.textContent('[data-testid="timeline-stage"]')) || '').toLowerCase().includes('advocate'), { what: 'timeline stage' });
    await dash.locator('#timeline').screenshot({ path: path.join(SHOTS, 'dashboard-timeline.png') });
    assert.deepEqual(cspViolations, [], 'no Content-Security-Policy violation on the dashboard');
  } finally {
    await browser.close();
  }
});

test('Ctrl-C stops cleanly; a second npm start reuses the keys and the data', async () => {
  const before = (await api(app, '/v1/stats/overview')).json.events;
  await stop(app);
  const again = await npmStart();
  assert.equal(again.siteKey, app.siteKey);
  assert.equal(again.adminKey, app.adminKey);
  assert.doesNotMatch(again.proc.output, /first start/);
  assert.equal((await api(again, '/v1/stats/overview')).json.events, before);
  const profile = await api(again, `/v1/profiles/${encodeURIComponent(anonymousId)}`);
  assert.equal(profile.json.stage, 'advocate');
  await stop(again);
});
