// The journey map from the collector in real Chromium: GET /v1/map on load (cross-origin, with
// its ETag), cached for the next page (revalidated with If-None-Match: 304), a new version picked
// up, and a map given to init() that the core refuses: the error names the field and the last
// good map stays in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { ROOT, useBrowserRig, waymarkReady, waitFor } from './harness.mjs';
import { adminHeaders, request } from '../collector/helpers.mjs';

const rig = useBrowserRig();
const DEFAULT_MAP = JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8'));

/** The default map at `version` with another default hero text (to see which map is in use). */
function mapWithHero(version, text) {
  const m = structuredClone(DEFAULT_MAP);
  delete m.$schema;
  m.version = version;
  m.content.slots.find((s) => s.id === 'hero').default.content.text = text;
  return m;
}

async function publish(map) {
  const res = await request(rig.collector, { method: 'PUT', path: '/v1/map', headers: { 'Content-Type': 'application/json', ...adminHeaders() }, body: JSON.stringify(map) });
  assert.equal(res.status, 200, res.text);
}

test('the collector map is used, cached with its ETag, and a new version is picked up', async () => {
  await publish(mapWithHero(2, 'Hero from map version 2'));
  const context = await rig.newContext();
  const mapRequests = [];
  const compilerRequests = [];
  context.on('request', (r) => {
    if (new URL(r.url()).pathname === '/v1/map') mapRequests.push(r);
    if (r.url().includes('waymark-compiler.wasm')) compilerRequests.push(r.url());
  });
  const page = await rig.newPage(context);
  await page.goto(rig.pageUrl('index.html'));
  await waymarkReady(page);
  await waitFor(() => page.evaluate(() => document.querySelector('h1').textContent === 'Hero from map version 2'), { what: 'hero from map v2' });
  assert.equal(await page.evaluate(() => waymark.context().mapVersion), 2);
  await page.waitForTimeout(300); // the cached map reaches IndexedDB

  // Next page: the cached map is in use from the start and revalidated with If-None-Match.
  const again = await rig.newPage(context);
  const answers = [];
  again.on('response', (r) => { if (new URL(r.url()).pathname === '/v1/map' && r.request().method() === 'GET') answers.push(r.status()); });
  await again.goto(rig.pageUrl('index.html'));
  await waymarkReady(again);
  assert.equal(await again.evaluate(() => waymark.context().mapVersion), 2, 'the cached map, before any answer');
  await waitFor(() => answers.length > 0, { what: 'map revalidation' });
  assert.deepEqual(answers, [304]);
  const revalidation = mapRequests.filter((r) => r.method() === 'GET').at(-1);
  // The compiled form (its own ETag): the engine loads it without a JSON parser, and no compiler
  // module is fetched on any of these pages.
  assert.match(await revalidation.headerValue('if-none-match'), /^"v2-[0-9a-f]{8}-c"$/);
  assert.equal(await revalidation.headerValue('accept'), 'application/vnd.waymark.map; v=1');

  // A new version on the collector reaches the next page view.
  await publish(mapWithHero(3, 'Hero from map version 3'));
  const third = await rig.newPage(context);
  await third.goto(rig.pageUrl('index.html'));
  await waymarkReady(third);
  await waitFor(() => third.evaluate(() => document.querySelector('h1').textContent === 'Hero from map version 3'), { what: 'hero from map v3' });
  assert.equal(await third.evaluate(() => waymark.context().mapVersion), 3);
  assert.deepEqual([page, again, third].flatMap((p) => p.pageErrors), []);
  assert.deepEqual(compilerRequests, [], 'the collector\'s compiled map needs no compiler');
  await context.close();
});

test('a map the core refuses: a path-precise error, and the last good map stays', async () => {
  const context = await rig.newContext();
  const page = await rig.newPage(context);
  // Maps given as JSON load the compiler module, once for the page.
  const compilerRequests = [];
  page.on('request', (r) => { if (r.url().includes('waymark-compiler.wasm')) compilerRequests.push(r.url()); });
  const bad = mapWithHero(9, 'never shown');
  bad.transitions[0].when = { count: { event: 'page_viewed', within: 'soon' } };
  await page.addInitScript((m) => { window.__initOptions = { map: m, mapFromCollector: false }; }, bad);
  await page.goto(rig.pageUrl('plain.html'));
  await waymarkReady(page);
  const errors = await page.evaluate(() => window.__errors);
  assert.equal(errors[0].code, 'invalid_map');
  assert.equal(errors[0].message, 'the map given to init() was refused: transitions[0].when.count.within: expected a duration');
  assert.notEqual(await page.textContent('h1'), 'never shown');
  // setMap with a good map, then a bad one: the good one stays.
  const good = mapWithHero(10, 'Hero from map version 10');
  assert.equal(await page.evaluate((m) => waymark.setMap(m), good), true);
  assert.equal(await page.textContent('h1'), 'Hero from map version 10');
  assert.equal(await page.evaluate((m) => waymark.setMap(m), bad), false);
  assert.equal(await page.evaluate(() => waymark.context().mapVersion), 10);
  assert.equal(await page.textContent('h1'), 'Hero from map version 10');
  assert.equal(compilerRequests.length, 1, `compiler fetched once: ${compilerRequests}`);
  await context.close();
});
