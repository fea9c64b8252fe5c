// The dashboard as a growth team uses it, in Chromium against the real collector (serving
// build/dashboard) on seeded visitors whose journeys are known: a period (preset, custom, kept in
// the address and after a reload), the comparison with the previous period, CSV export, the
// project picker, the event-type filters of the live stream and the timeline, and a 64-stage map
// laid out without overlapping labels. Every expected number is counted here from the seeded
// journeys, not read from the collector.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { ROOT, launchBrowser, waitFor } from './harness.mjs';
import { ADMIN, SITE_KEY, makeEvent, postBatch, request, startCollector, stopCollector } from '../collector/helpers.mjs';

const SHOTS = path.join(ROOT, 'build', 'screenshots');
fs.mkdirSync(SHOTS, { recursive: true });
const SERVER_KEY = 'SERVER-KEY-for-the-dashboard-test';
const DAY = 24 * 60 * 60 * 1000;
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

// What each seeded journey does, and the stages the default map takes it through (as
// tests/collector/09-dashboard-api checks on the API): the last one skips from awareness to
// customer, so ordered progress counts it at every stage between.
const JOURNEYS = [
  { names: ['page_viewed'], stages: ['awareness'] },
  { names: ['page_viewed', 'pricing_viewed'], stages: ['awareness', 'engaged'] },
  { names: ['page_viewed', 'pricing_viewed', 'lead_submitted'], stages: ['awareness', 'engaged', 'lead'] },
  { names: ['page_viewed', 'order_completed'], stages: ['awareness', 'customer'] },
];
const MAIN_PATH = ['awareness', 'engaged', 'lead', 'qualified', 'trial', 'customer', 'retained', 'advocate'];

// Three groups by arrival: the last 7 days, 8 to 13 days ago (the 7 days before), 20 days ago.
const GROUPS = { recent: { visitors: 8, daysAgo: 2 }, previous: { visitors: 5, daysAgo: 10 }, older: { visitors: 3, daysAgo: 20 } };

function seed() {
  const now = Date.now();
  const events = [];
  const visitors = [];
  for (const [group, { visitors: count, daysAgo }] of Object.entries(GROUPS)) {
    for (let v = 0; v < count; v++) {
      const journey = JOURNEYS[v % JOURNEYS.length];
      const anon = `dash-${group}-${v}`;
      let t = now - daysAgo * DAY + v * 60000;
      // A third arrive from the newsletter, the rest from Google: the sources of the breakdown
      // (and of the orders, v % 4 === 3: some of each).
      const source = v % 3 === 0 ? 'newsletter' : 'google.com';
      const context =
        source === 'newsletter'
          ? { url: 'https://allowed.example/?utm_source=newsletter', path: '/', campaign: { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'spring' } }
          : { url: 'https://allowed.example/', path: '/', referrer: 'https://www.google.com/' };
      journey.names.forEach((name, i) => events.push(makeEvent({ anonymous_id: anon, name, time: (t += 1000), ...(i === 0 ? { context } : {}) })));
      visitors.push({ group, anon, journey, source });
    }
  }
  // Content impressions: the noise the live stream and the timeline hide by default.
  const noisy = visitors[0].anon;
  for (let i = 0; i < 3; i++) {
    events.push(makeEvent({ anonymous_id: noisy, name: 'content_shown', time: now - 2 * DAY + 30000 + i, properties: { slot: 'hero', variant: 'hero_default' } }));
  }
  return { events, visitors, noisy };
}

/** Visitors per main-path stage who got that far (furthest stage's rank at least the stage's). */
function expectedProgress(visitors) {
  const out = Object.fromEntries(MAIN_PATH.map((s) => [s, 0]));
  for (const v of visitors) {
    const furthest = Math.max(...v.journey.stages.map((s) => MAIN_PATH.indexOf(s)));
    for (let r = 0; r <= furthest; r++) out[MAIN_PATH[r]]++;
  }
  return out;
}

let srv;
let seeded;
let browser;
const base = () => `http://127.0.0.1:${srv.port}`;

before(async () => {
  srv = await startCollector({ extraArgs: ['--static', path.join(ROOT, 'build', 'dashboard'), '--server-key', SERVER_KEY] });
  seeded = seed();
  const res = await postBatch(srv, { sent_at: Date.now(), events: seeded.events });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.accepted, seeded.events.length, res.text);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await stopCollector(srv);
});

async function openDashboard(query = '') {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(`${base()}/${query}#key=${ADMIN}`);
  return page;
}

const text = async (page, testid) => ((await page.textContent(`[data-testid="${testid}"]`)) || '').trim();
const count = (s) => Number(String(s).replace(/[^\d]/g, ''));

async function expectFunnel(page, expected, what) {
  await waitFor(async () => count(await text(page, 'funnel-progressed-awareness')) === expected.awareness, {
    what: `${what}: awareness ${expected.awareness} (shown ${await text(page, 'funnel-progressed-awareness')})`,
  });
  for (const stage of MAIN_PATH) {
    assert.equal(count(await text(page, `funnel-progressed-${stage}`)), expected[stage], `${what}: ${stage}`);
  }
}

test('a period: presets, a custom range kept in the address and after a reload', async () => {
  const page = await openDashboard('?range=7d');
  const recent = seeded.visitors.filter((v) => v.group === 'recent');
  await expectFunnel(page, expectedProgress(recent), 'last 7 days');
  // Each view is drawn when its own reports arrive: the overview is waited for on its own.
  await waitFor(async () => count(await text(page, 'overview-profiles')) === recent.length, { what: 'overview: new visitors' });
  assert.doesNotMatch(page.url(), /key=/, 'the admin key leaves the address');
  assert.match(page.url(), /\?range=7d$/);
  await page.locator('#journey-map').screenshot({ path: path.join(SHOTS, 'dashboard-range-7d-journey-map.png') });

  // Content gaps: every recent visitor stopped before the last stage and was shown no content
  // made for a stage (the 3 impressions were the hero's default): each stage they stopped at is
  // a gap, with the visitors it lost.
  const lost = {};
  for (const v of recent) {
    const furthest = MAIN_PATH[Math.max(...v.journey.stages.map((st) => MAIN_PATH.indexOf(st)))];
    lost[furthest] = (lost[furthest] || 0) + 1;
  }
  await waitFor(async () => (await text(page, 'content-gaps-lost')) === `${recent.length} visitors lost`, { what: 'visitors lost in gaps' });
  assert.equal(await text(page, 'content-gaps-count'), `${Object.keys(lost).length} content gaps:`);
  for (const [stage, n] of Object.entries(lost)) {
    assert.equal(count(await text(page, `gap-lost-${stage}`)), n, `lost at ${stage}`);
    assert.equal(await page.getAttribute(`[data-testid="gap-row-${stage}"]`, 'data-gap'), 'true', `${stage} is a gap`);
  }
  assert.equal(await text(page, 'gap-per-visitor-awareness'), '0.00');
  // Did content help: the one visitor shown the hero in awareness went no further; of the
  // others, all but those whose journey ended in awareness did.
  const further = recent.filter((v) => v.journey.stages.length > 1).length;
  const others = recent.length - 1;
  assert.equal(await text(page, 'gap-onward-awareness'), `${Math.round((100 * further) / recent.length)}%`);
  assert.equal(await text(page, 'gap-variants-onward-awareness'), `hero/hero_default 0% of 1 vs ${Math.round((100 * further) / others)}% of ${others}`);
  await page.locator('#content-gaps').screenshot({ path: path.join(SHOTS, 'dashboard-content-gaps-7d.png') });

  await page.selectOption('[data-testid="range-preset"]', '30d');
  await expectFunnel(page, expectedProgress(seeded.visitors), 'last 30 days');
  assert.doesNotMatch(page.url(), /range=/, '30 days is the default: nothing in the address');

  const from = isoDay(Date.now() - 12 * DAY);
  const to = isoDay(Date.now() - 8 * DAY);
  await page.selectOption('[data-testid="range-preset"]', 'custom');
  await page.fill('[data-testid="range-from"]', to);
  await page.fill('[data-testid="range-to"]', from);
  await page.click('[data-testid="range-apply"]');
  assert.equal(await text(page, 'range-error'), 'From is after To.');
  await page.fill('[data-testid="range-from"]', from);
  await page.fill('[data-testid="range-to"]', to);
  await page.click('[data-testid="range-apply"]');
  const previous = expectedProgress(seeded.visitors.filter((v) => v.group === 'previous'));
  await expectFunnel(page, previous, 'custom range');
  assert.ok(page.url().includes(`from=${from}&to=${to}`), page.url());
  assert.match(await text(page, 'overview-events') + (await page.textContent('.kpi-events dt')), /in 5 days/);

  await page.reload();
  await expectFunnel(page, previous, 'custom range after a reload');
  assert.equal(await page.inputValue('[data-testid="range-from"]'), from);
  assert.equal(await page.inputValue('[data-testid="range-to"]'), to);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('comparison with the previous period, side by side', async () => {
  const page = await openDashboard('?range=7d&compare=1');
  const recent = expectedProgress(seeded.visitors.filter((v) => v.group === 'recent'));
  const before7 = expectedProgress(seeded.visitors.filter((v) => v.group === 'previous'));
  await expectFunnel(page, recent, 'last 7 days');
  await waitFor(async () => (await page.locator('[data-testid="funnel-previous-awareness"]').count()) > 0, { what: 'previous column' });
  for (const stage of MAIN_PATH) {
    assert.equal(count((await text(page, `funnel-previous-${stage}`)).split(' ')[0]), before7[stage], `previous ${stage}`);
  }
  await waitFor(async () => /before: 5/.test(await text(page, 'overview-previous-profiles')), { what: 'overview comparison' });
  assert.match(await text(page, 'range-summary'), /compared with/);
  await page.screenshot({ path: path.join(SHOTS, 'dashboard-compare.png'), fullPage: true });
  await page.context().close();
});

test('a breakdown by source and a filter on one source, kept in the address', async () => {
  const page = await openDashboard('?range=7d&breakdown=source');
  const recent = seeded.visitors.filter((v) => v.group === 'recent');
  const bySource = (source) => recent.filter((v) => v.source === source);
  await waitFor(async () => (await page.locator('[data-testid="breakdown-table"]').count()) === 1, { what: 'breakdown table' });
  const headers = await page.locator('[data-testid^="breakdown-value-"]').allTextContents();
  assert.equal(headers.length, 2, headers.join(' | '));
  for (const [i, header] of headers.entries()) {
    const source = header.startsWith('newsletter') ? 'newsletter' : 'google.com';
    assert.ok(header.startsWith(source), header);
    assert.match(header, new RegExp(`${bySource(source).length} visitors`));
    const expected = expectedProgress(bySource(source));
    for (const stage of MAIN_PATH) {
      assert.equal(count((await text(page, `breakdown-cell-${stage}-${i}`)).split(' ')[0]), expected[stage], `${source} ${stage}`);
    }
  }
  await waitFor(async () => (await page.locator('[data-testid="path-by-value"]').count()) > 0, { what: 'paths by source' });
  // Attribution by the converting journeys' source: the orders (v % 4 === 3) of each source.
  const orderedBy = (source) => bySource(source).filter((v) => v.journey.names.includes('order_completed')).length;
  const expectedRows = ['google.com', 'newsletter'].filter((src) => orderedBy(src) > 0).map((src) => `${src}|${orderedBy(src)}`).sort();
  await waitFor(async () => (await page.locator('[data-testid="attribution-breakdown-row"]').count()) === expectedRows.length, { what: 'attribution by source' });
  const rowsShown = await page.locator('[data-testid="attribution-breakdown-row"]').evaluateAll((trs) => trs.map((tr) => `${tr.children[0].textContent}|${tr.children[1].textContent}`));
  assert.deepEqual(rowsShown.sort(), expectedRows);
  await page.locator('#funnel').screenshot({ path: path.join(SHOTS, 'dashboard-funnel-by-source.png') });
  // Content gaps by source: each source's visitors lost per stage (where their journey stopped,
  // below the last rank), every such stage a gap (they were shown no stage content).
  const lostBy = (visitors) => {
    const out = {};
    for (const v of visitors) {
      const furthest = MAIN_PATH[Math.max(...v.journey.stages.map((st) => MAIN_PATH.indexOf(st)))];
      out[furthest] = (out[furthest] || 0) + 1;
    }
    return out;
  };
  await waitFor(async () => (await page.locator('[data-testid="gap-breakdown-table"]').count()) === 1, { what: 'content gaps by source' });
  const gapHeaders = await page.locator('[data-testid^="gap-breakdown-value-"]').allTextContents();
  assert.equal(gapHeaders.length, 2, gapHeaders.join(' | '));
  for (const [i, header] of gapHeaders.entries()) {
    const source = header.startsWith('newsletter') ? 'newsletter' : 'google.com';
    assert.match(header, new RegExp(`^${source}${bySource(source).length} visitors`));
    const lost = lostBy(bySource(source));
    for (const stage of MAIN_PATH.slice(0, -1)) {
      const cell = await text(page, `gap-breakdown-${i}-${stage}`);
      assert.equal(Number(/(\d+) lost/.exec(cell)[1]), lost[stage] || 0, `${source} lost at ${stage}: ${cell}`);
      assert.equal(await page.getAttribute(`[data-testid="gap-breakdown-${i}-${stage}"]`, 'data-gap'), String(Boolean(lost[stage])), `${source} ${stage}`);
    }
  }
  await page.locator('#content-gaps').screenshot({ path: path.join(SHOTS, 'dashboard-content-gaps-by-source.png') });

  // Filter: pick the dimension, then one of its values (listed with their visitors).
  await page.selectOption('[data-testid="segment-filter-dimension"]', 'source');
  await waitFor(async () => (await page.locator('[data-testid="segment-filter-value"] option').count()) >= 3, { what: 'source values' });
  await page.selectOption('[data-testid="segment-filter-value"]', 'newsletter');
  await expectFunnel(page, expectedProgress(bySource('newsletter')), 'newsletter only');
  assert.equal(await text(page, 'funnel-segment'), 'Source = newsletter');
  await waitFor(async () => (await text(page, 'paths-segment')).startsWith('Source = newsletter'), { what: 'paths filtered' });
  await waitFor(async () => (await text(page, 'content-gaps-segment')) === 'Source = newsletter', { what: 'content gaps filtered' });
  for (const [stage, n] of Object.entries(lostBy(bySource('newsletter')))) {
    if (stage !== MAIN_PATH.at(-1)) assert.equal(count(await text(page, `gap-lost-${stage}`)), n, `newsletter lost at ${stage}`);
  }
  assert.equal(await page.locator('[data-testid="gap-breakdown-table"]').count(), 0, 'no breakdown with a filter');
  assert.match(page.url(), /filter=source%3Anewsletter/);
  assert.doesNotMatch(page.url(), /breakdown=/);
  await page.reload();
  await expectFunnel(page, expectedProgress(bySource('newsletter')), 'newsletter after a reload');
  await page.click('[data-testid="segment-clear"]');
  await expectFunnel(page, expectedProgress(recent), 'everyone again');
  assert.doesNotMatch(page.url(), /filter=/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a funnel of chosen steps: stages and events in order within a window, who dropped where', async () => {
  const page = await openDashboard('?range=7d');
  const recent = seeded.visitors.filter((v) => v.group === 'recent');
  const did = (v, stage) => v.journey.stages.includes(stage);
  // The default steps: the map's first three stages.
  await waitFor(async () => (await page.locator('[data-testid^="step-kind-"]').count()) === 3, { what: 'three default steps' });
  await page.click('[data-testid="steps-run"]');
  await waitFor(async () => (await page.locator('[data-testid="steps-table"]').count()) === 1, { what: 'steps table' });
  const expected = [recent.length, recent.filter((v) => did(v, 'engaged')).length, recent.filter((v) => did(v, 'engaged') && did(v, 'lead')).length];
  for (const [i, n] of expected.entries()) assert.equal(count(await text(page, `steps-entered-${i}`)), n, `step ${i + 1}`);
  assert.match(page.url(), /steps=stage%3Aawareness%2Cstage%3Aengaged%2Cstage%3Alead/);

  // Who dropped before step 2 opens in the timeline.
  await page.click('[data-testid="steps-dropped-1"]');
  const dropped = page.locator('[data-testid="steps-dropped-visitor"]');
  assert.equal(await dropped.count(), expected[0] - expected[1]);
  await dropped.first().click();
  await waitFor(async () => (await page.locator('[data-testid="timeline-stage"]').count()) === 1, { what: 'the dropped visitor\'s timeline' });

  // An event as the last step, within an hour of arriving: the visitors who ordered.
  await page.click('[data-testid="step-remove-2"]');
  await page.selectOption('[data-testid="step-kind-1"]', 'event');
  await page.fill('[data-testid="step-name-1"]', 'order_completed');
  await page.selectOption('[data-testid="steps-window"]', '1h');
  await page.click('[data-testid="steps-run"]');
  const ordered = recent.filter((v) => v.journey.names.includes('order_completed')).length;
  await waitFor(async () => count(await text(page, 'steps-entered-1')) === ordered, { what: `${ordered} ordered within the hour` });
  assert.match(await text(page, 'steps-time-to-convert'), new RegExp(`${ordered} visitors did every step`));
  assert.match(page.url(), /window=1h/);
  await page.locator('#steps').screenshot({ path: path.join(SHOTS, 'dashboard-steps-funnel.png') });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('attribution by source and by campaign of the touches', async () => {
  const page = await openDashboard('?range=30d');
  await waitFor(async () => (await page.locator('[data-testid="attribution-table"]').count()) === 1, { what: 'attribution table' });
  await page.selectOption('[data-testid="attribution-by"]', 'source');
  // Orders came from the journeys that skip to customer (v % 4 === 3): their landings' sources.
  const ordered = seeded.visitors.filter((v) => v.journey.names.includes('order_completed'));
  const sources = [...new Set(ordered.map((v) => v.source))].sort();
  await waitFor(async () => (await page.locator('[data-testid^="attribution-row-"]').count()) === sources.length, { what: `${sources.length} sources` });
  const rows = (await page.locator('[data-testid^="attribution-row-"] th').allTextContents()).sort();
  assert.deepEqual(rows, sources);
  // First touch: each source's share is its share of the orders.
  for (const source of sources) {
    const share = ordered.filter((v) => v.source === source).length / ordered.length;
    const cell = await page.locator(`[data-testid="attribution-row-${source}"] td`).first().textContent();
    assert.ok(cell.startsWith(`${(share * 100).toFixed(1)}%`), `${source}: ${cell}`);
  }
  await page.selectOption('[data-testid="attribution-by"]', 'campaign');
  // The newsletter's landings carry the spring campaign; Google's none.
  const campaigns = [...new Set(ordered.map((v) => (v.source === 'newsletter' ? 'spring' : '(none)')))].sort();
  await waitFor(async () => JSON.stringify((await page.locator('[data-testid^="attribution-row-"] th').allTextContents()).sort()) === JSON.stringify(campaigns), {
    what: `campaigns ${campaigns.join(', ')}`,
  });
  await page.locator('#attribution').screenshot({ path: path.join(SHOTS, 'dashboard-attribution-by-campaign.png') });
  // The conversions a trigger fired on: every first order here fired "converted".
  await page.selectOption('[data-testid="attribution-stage"]', 'trigger:converted');
  await waitFor(async () => /that fired converted/.test(await page.textContent('#attribution .card-sub')), { what: 'attribution of the trigger' });
  assert.match(await page.textContent('#attribution .card-sub'), new RegExp(`^${ordered.length} conversions`));
  assert.equal(await page.isDisabled('[data-testid="attribution-by"]'), true);
  await page.context().close();
});

test('every table downloads as CSV with the numbers shown', async () => {
  const page = await openDashboard('?range=7d');
  const recent = expectedProgress(seeded.visitors.filter((v) => v.group === 'recent'));
  await expectFunnel(page, recent, 'last 7 days');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="csv-funnel"]')]);
  const today = isoDay(Date.now());
  assert.equal(download.suggestedFilename(), `waymark-default-funnel-${isoDay(Date.now() - 6 * DAY)}-to-${today}.csv`);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  const [head, ...rows] = csv.trimEnd().split('\r\n').map((l) => l.split(','));
  const progressed = head.indexOf('progressed');
  for (const stage of MAIN_PATH) {
    const row = rows.find((r) => r[1] === stage);
    assert.equal(Number(row[progressed]), recent[stage], `CSV ${stage}`);
  }
  for (const id of ['csv-paths', 'csv-attribution', 'csv-content-gaps', 'csv-transitions', 'csv-overview', 'csv-time-in-stage', 'csv-funnel-steps']) {
    const [file] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid="${id}"]`)]);
    const body = fs.readFileSync(await file.path(), 'utf8');
    assert.match(body, /^[a-z0-9_.]+(,[a-z0-9_.]+)*\r\n/, `${id}: a header row`);
  }
  await page.context().close();
});

test('live events and the timeline hide content impressions by default and mark stage changes', async () => {
  const page = await openDashboard();
  const shown = seeded.events.length;
  await waitFor(async () => (await page.locator('[data-testid="live-item"]').count()) === shown, { what: 'every seeded event in the stream' });
  await waitFor(async () => (await text(page, 'live-hidden')) === '3 hidden', { what: 'impressions hidden' });
  assert.equal(await page.locator('[data-testid="live-item"][data-name="content_shown"]:visible').count(), 0);
  assert.ok((await page.locator('[data-testid="live-stage-change"]').count()) >= 1, 'stage changes are marked');
  await page.selectOption('[data-testid="live-filter"]', 'all');
  assert.equal(await page.locator('[data-testid="live-item"]:visible').count(), shown);
  await page.selectOption('[data-testid="live-filter"]', 'changes');
  const visible = page.locator('[data-testid="live-item"]:visible');
  assert.ok((await visible.count()) >= 1);
  for (const change of await visible.evaluateAll((els) => els.map((e) => e.dataset.change))) assert.equal(change, 'true');
  await page.selectOption('[data-testid="live-filter"]', 'name:pricing_viewed');
  const names = await visible.evaluateAll((els) => els.map((e) => e.dataset.name));
  assert.equal(names.length, seeded.events.filter((e) => e.name === 'pricing_viewed').length);
  for (const name of names) assert.equal(name, 'pricing_viewed');

  await page.fill('[data-testid="timeline-search"]', seeded.noisy);
  await page.press('[data-testid="timeline-search"]', 'Enter');
  await waitFor(async () => (await text(page, 'timeline-hidden')) === '3 hidden', { what: 'timeline impressions hidden' });
  assert.equal(await page.locator('[data-testid="timeline-item"][data-name="content_shown"]:visible').count(), 0);
  await page.selectOption('[data-testid="timeline-filter"]', 'all');
  assert.equal(await page.locator('[data-testid="timeline-item"][data-name="content_shown"]:visible').count(), 3);
  await page.locator('#timeline').screenshot({ path: path.join(SHOTS, 'dashboard-timeline-filter.png') });
  await page.context().close();
});

test('the map editor lists every error of an invalid map with its path, and states the size limit', async () => {
  const page = await openDashboard();
  const editor = page.locator('[data-testid="map-editor-text"]');
  await waitFor(async () => (await editor.inputValue()).includes('"stages"'), { what: 'the map in the editor' });
  const map = JSON.parse(await editor.inputValue());
  map.version += 1;
  map.stages[1].phase = 'middle';
  map.stages[2].rank = 'high';
  map.transitions[0].to = 'nowhere';
  await editor.fill(JSON.stringify(map, null, 2));
  await page.click('[data-testid="map-validate"]');
  await waitFor(async () => (await page.locator('[data-testid="map-error-item"]').count()) === 3, { what: 'three problems listed' });
  assert.equal(await text(page, 'map-error-count'), '3 problems');
  const items = await page.locator('[data-testid="map-error-item"]').allTextContents();
  assert.match(items[0], /^stages\[1\]\.phase: /);
  assert.match(items[1], /^stages\[2\]\.rank: /);
  assert.match(items[2], /^transitions\[0\]\.to: unknown stage "nowhere"/);
  // "Show" selects the field in the text.
  await page.locator('[data-testid="map-error-item"] button').nth(1).click();
  const selected = await editor.evaluate((ta) => ta.value.slice(ta.selectionStart, ta.selectionEnd));
  assert.match(selected, /^"rank": "high"/);
  await page.locator('#map-editor').screenshot({ path: path.join(SHOTS, 'dashboard-map-errors.png') });

  map.description = 'x'.repeat(600 * 1024);
  await editor.fill(JSON.stringify(map));
  await page.click('[data-testid="map-validate"]');
  await waitFor(async () => (await page.locator('[data-testid="map-too-large"]').count()) === 1, { what: 'the size limit stated' });
  assert.match(await text(page, 'map-too-large'), /the collector takes at most 524288 bytes/);
  await page.context().close();
});

/** Node labels of the journey map that are drawn in its visible part, and the pairs that overlap. */
function overlappingLabels(page) {
  return page.evaluate(() => {
    const chart = window.echarts.getInstanceByDom(document.getElementById('jm-chart'));
    const zr = chart.getZr();
    const width = zr.getWidth();
    const boxes = [];
    // Rich labels are drawn as one text span per line: a stage's name, then its counts. Edge
    // counts (digits only) and the phase titles are not stage labels.
    const phases = /^(Before conversion|After conversion|Side stages)/;
    for (const el of zr.storage.getDisplayList(true)) {
      if (el.type !== 'tspan' || el.ignore || el.invisible || !el.style) continue;
      const line = String(el.style.text || '');
      if (!line || /^[\d,]+$/.test(line) || phases.test(line)) continue;
      const r = el.getBoundingRect().clone();
      const m = el.getComputedTransform();
      if (m) r.applyTransform(m);
      if (r.x + r.width <= 16 || r.x >= width - 16) continue; // outside the shown window
      boxes.push({ x: r.x, y: r.y, w: r.width, h: r.height, text: line.slice(0, 40), counts: /reached$/.test(line) });
    }
    const overlaps = [];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        if (a.x < b.x + b.w - 1 && b.x < a.x + a.w - 1 && a.y < b.y + b.h - 1 && b.y < a.y + a.h - 1) overlaps.push([a.text, b.text]);
      }
    }
    return { labels: boxes.filter((b) => b.counts).length, overlaps };
  });
}

test('projects: a second project opens by its key, the picker switches back without asking', async () => {
  const created = await request(srv, {
    method: 'POST',
    path: '/v1/projects',
    headers: { Authorization: `Bearer ${SERVER_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 'shop', name: 'The shop', server_side: true }),
  });
  assert.equal(created.status, 201, created.text);
  const shop = created.json;

  // The shop's map has the map's limit of 64 stages, with long names; 5 visitors use 3 of them.
  const stages = Array.from({ length: 64 }, (_, i) => ({
    id: `s${String(i).padStart(2, '0')}`,
    name: `Stage ${i} of a long and descriptive journey name`,
    rank: i,
  }));
  const map = {
    id: 'shop',
    version: 2,
    name: 'Sixty-four stages',
    stages,
    transitions: [
      { id: 'one', from: 's00', to: 's01', when: { event: 'went_one' } },
      { id: 'two', from: 's01', to: 's02', when: { event: 'went_two' } },
    ],
  };
  const put = await request(srv, {
    method: 'PUT',
    path: '/v1/map',
    headers: { Authorization: `Bearer ${shop.admin_key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(map),
  });
  assert.equal(put.status, 200, put.text);
  const now = Date.now();
  const events = [];
  for (let v = 0; v < 5; v++) {
    const anon = `shop-${v}`;
    events.push(makeEvent({ anonymous_id: anon, name: 'page_viewed', time: now - 60000 }));
    if (v < 3) events.push(makeEvent({ anonymous_id: anon, name: 'went_one', time: now - 50000 }));
    if (v < 1) events.push(makeEvent({ anonymous_id: anon, name: 'went_two', time: now - 40000 }));
  }
  const sent = await postBatch(srv, { sent_at: now, events }, { key: shop.site_key });
  assert.equal(sent.status, 200, sent.text);
  assert.equal(sent.json.accepted, events.length, sent.text);

  const page = await openDashboard('?range=7d');
  await waitFor(async () => (await page.inputValue('[data-testid="project-picker"]')) === 'default', { what: 'project default shown' });
  await page.selectOption('[data-testid="project-picker"]', { label: 'Open another project…' });
  await page.fill('[data-testid="auth-key"]', shop.admin_key);
  await page.click('[data-testid="auth-submit"]');
  await waitFor(async () => (await page.inputValue('[data-testid="project-picker"]')) === 'shop', { what: 'project shop shown' });
  assert.match(page.url(), /project=shop/);
  await waitFor(async () => /61 stages without traffic hidden/.test(await text(page, 'journey-map-hidden')), { what: 'empty stages hidden' });
  await waitFor(async () => count(await text(page, 'overview-profiles')) === 5, { what: 'the shop\'s 5 visitors' });
  // The chart draws on the next frames (lazy update, animation): wait for its labels.
  let layout = null;
  await waitFor(async () => (layout = await overlappingLabels(page)).labels === 3, { what: `3 stage labels drawn (${layout && layout.labels})` });
  assert.deepEqual(layout.overlaps, []);

  // Every stage: the map opens on its first columns, zoomable, and still no label overlaps.
  await page.check('[data-testid="journey-map-empty"]');
  await waitFor(async () => await page.isVisible('[data-testid="journey-map-reset"]'), { what: 'zoomed in on a wide map' });
  await waitFor(async () => (layout = await overlappingLabels(page)).labels >= 6, { what: `a window of the 64 stages drawn (${layout && layout.labels})` });
  await page.waitForTimeout(600); // the chart's update animation settles
  await page.locator('#journey-map').screenshot({ path: path.join(SHOTS, 'dashboard-journey-map-64-stages.png') });
  layout = await overlappingLabels(page);
  assert.ok(layout.labels >= 6 && layout.labels < 64, `a window of the 64 stages is shown (${layout.labels} labels)`);
  assert.deepEqual(layout.overlaps, []);

  // Back to default: its key is remembered, nothing is asked.
  await page.selectOption('[data-testid="project-picker"]', 'default');
  await expectFunnel(page, expectedProgress(seeded.visitors.filter((v) => v.group === 'recent')), 'default again');
  assert.equal(await page.isVisible('[data-testid="auth-form"]'), false);
  assert.doesNotMatch(page.url(), /project=/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('renaming a stage in the visual editor renames every place that names it: the map stays valid', async () => {
  const page = await openDashboard();
  const editor = page.locator('[data-testid="map-editor-text"]');
  await waitFor(async () => (await page.locator('[data-testid="visual-stage-advocate"]').count()) === 1, { what: 'the visual editor' });
  const original = await editor.inputValue();
  // The graph draws the transitions as arrows between the stage boxes: every (from, to) pair
  // once ("*" from every other stage), the picked stage's in full.
  const map = JSON.parse(original);
  const pairs = new Set();
  for (const t of map.transitions) {
    const froms = (Array.isArray(t.from) ? t.from : [t.from]).flatMap((f) => (f === '*' ? map.stages.map((st) => st.id) : [f]));
    for (const f of froms) if (f !== t.to && map.stages.some((st) => st.id === t.to)) pairs.add(`${f}>${t.to}`);
  }
  await page.click('[data-testid="visual-stage-trial"]');
  await waitFor(async () => (await page.locator('[data-testid="visual-edge"]').count()) === pairs.size, { what: `${pairs.size} arrows` });
  const drawn = await page.locator('[data-testid="visual-edge"]').evaluateAll((paths) =>
    paths.map((p) => {
      const box = (el) => el.getBoundingClientRect();
      const near = (a, b) => a.left <= b.right + 2 && b.left <= a.right + 2 && a.top <= b.bottom + 2 && b.top <= a.bottom + 2;
      const from = document.querySelector(`.visual-node[data-stage="${p.dataset.from}"]`);
      const to = document.querySelector(`.visual-node[data-stage="${p.dataset.to}"]`);
      return { pair: `${p.dataset.from}>${p.dataset.to}`, picked: p.classList.contains('picked'), touches: near(box(p), box(from)) && near(box(p), box(to)) };
    }),
  );
  assert.deepEqual(new Set(drawn.map((e) => e.pair)), pairs);
  assert.ok(drawn.every((e) => e.touches), JSON.stringify(drawn.filter((e) => !e.touches)));
  assert.deepEqual(drawn.filter((e) => e.picked).map((e) => e.pair).sort(), [...pairs].filter((p) => p.split('>').includes('trial')).sort());
  await page.locator('[data-testid="visual-graph"]').screenshot({ path: path.join(SHOTS, 'dashboard-visual-graph.png') });
  await page.click('[data-testid="visual-stage-advocate"]');
  await page.fill('[data-testid="visual-stage-id"]', 'promoter');
  await page.locator('[data-testid="visual-stage-id"]').dispatchEvent('change');
  const edited = await editor.inputValue();
  // Transitions 7 (to), 8, 9 and 11 (from), two content variants; transition 7's own id stays.
  assert.equal(await text(page, 'visual-status'), 'Renamed “advocate” to “promoter” in 6 places that name it.');
  assert.equal(edited.replaceAll('"promoter"', '"advocate"'), original, 'nothing else changed');
  assert.equal(JSON.parse(edited).transitions[7].id, 'advocate');
  await waitFor(async () => (await page.locator('[data-testid="map-valid"]').count()) === 1, { what: 'the core says valid' });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

// Last: it publishes a new version of project default's map.
test('the visual map editor: add a stage and a transition, checked as you go, preview, publish; the rest of the JSON untouched', async () => {
  const page = await openDashboard();
  const editor = page.locator('[data-testid="map-editor-text"]');
  await waitFor(async () => (await editor.inputValue()).includes('"stages"'), { what: 'the map in the editor' });
  await waitFor(async () => (await page.locator('[data-testid="visual-stage-trial"]').count()) === 1, { what: 'the visual editor' });
  const original = await editor.inputValue();
  const before = JSON.parse(original);

  // A stage: added, renamed (inputs commit on change).
  await page.click('[data-testid="visual-add-stage"]');
  const commit = async (testid, value) => {
    await page.fill(`[data-testid="${testid}"]`, value);
    await page.locator(`[data-testid="${testid}"]`).dispatchEvent('change');
  };
  await commit('visual-stage-id', 'evaluation');
  await commit('visual-stage-name', 'Evaluation');
  // A transition from trial into it, on an event.
  await page.click('[data-testid="visual-stage-trial"]');
  await page.click('[data-testid="visual-add-transition"]');
  const index = before.transitions.length;
  await page.selectOption(`[data-testid="visual-transition-to-${index}"]`, 'evaluation');
  await commit(`visual-when-${index}-event`, 'demo_requested');

  const text = await editor.inputValue();
  const after = JSON.parse(text);
  const maxRank = Math.max(...before.stages.map((st) => st.rank));
  assert.deepEqual(after.stages.at(-1), { id: 'evaluation', name: 'Evaluation', rank: maxRank + 1 });
  assert.deepEqual(after.transitions.at(-1), { id: 'trial_next', from: 'trial', to: 'evaluation', when: { event: 'demo_requested' } });
  assert.deepEqual({ ...after, stages: after.stages.slice(0, -1), transitions: after.transitions.slice(0, -1) }, before);
  // Byte for byte: the old text's lines are all there, in order; only the two additions are new
  // (and a comma where a line gained a successor).
  const oldLines = original.split('\n');
  const added = [];
  let k = 0;
  for (const line of text.split('\n')) {
    if (k < oldLines.length && (line === oldLines[k] || line === `${oldLines[k]},`)) k++;
    else added.push(line.trim());
  }
  assert.equal(k, oldLines.length, 'every line of the old text is kept, in order');
  assert.match(added.join(' '), /evaluation/);
  // Only the two additions: the stage (one line) and the transition (one line, or its lines).
  assert.ok(added.every((line) => /"evaluation"|"Evaluation"|"trial_next"|"demo_requested"|^"rank": \d+,?$|^"from": "trial",?$|^"when": \{|^[{}\],]*$/.test(line)), added.join('\n'));
  assert.ok(added.length <= 9, added.join('\n'));

  // Checked by the core as it changes.
  await waitFor(async () => (await page.locator('[data-testid="map-valid"]').count()) === 1, { what: 'the core says valid' });
  await page.click('[data-testid="map-preview"]');
  await waitFor(async () => (await page.locator('[data-testid="map-preview-table"]').count()) === 1, { what: 'the preview' });
  await page.locator('#map-editor').screenshot({ path: path.join(SHOTS, 'dashboard-visual-editor.png') });
  // Publishing needs a higher version: the editor offers the bump.
  await page.click('[data-testid="map-publish"]');
  await page.click('[data-testid="map-bump-publish"]');
  await waitFor(async () => (await page.locator('[data-testid="map-published"]').count()) === 1, { what: 'published' });
  const live = await (await fetch(`${base()}/v1/map`, { headers: { Authorization: `Bearer ${ADMIN}` } })).json();
  assert.equal(live.version, before.version + 1);
  assert.ok(live.stages.some((st) => st.id === 'evaluation'));
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
