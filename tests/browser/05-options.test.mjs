// Opt-in options in real Chromium: Do-Not-Track (off by default, local-only when asked to honour
// it) and outbound-link autocapture (off by default); Segment-shaped calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { batchText, defaultMap, useBrowserRig, waymarkReady } from './harness.mjs';

const rig = useBrowserRig();

async function open(initOptions, initScript) {
  const page = await rig.newPage();
  page.batchRequests = [];
  page.on('request', (r) => { if (r.url().includes('/v1/batch')) page.batchRequests.push(batchText(r)); });
  await page.addInitScript((o) => { window.__initOptions = o; }, initOptions);
  if (initScript) await page.addInitScript(initScript);
  await page.goto(rig.pageUrl('plain.html'));
  await waymarkReady(page);
  return page;
}

const DNT = () => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' });

test('Do-Not-Track is honoured only when asked: then local-only, nothing sent', async () => {
  const ignoring = await open({ batchDelayMs: 10 }, DNT);
  assert.equal(await ignoring.evaluate(() => waymark.context().consent), 'granted');
  await ignoring.close();

  const honouring = await open({ respectDoNotTrack: true, batchDelayMs: 10 }, DNT);
  assert.equal(await honouring.evaluate(() => waymark.context().consent), 'denied');
  await honouring.evaluate(async () => {
    waymark.track('signed_up');
    waymark.track('trial_started');
    await waymark.flush({ timeoutMs: 1000 });
  });
  assert.equal(await honouring.evaluate(() => waymark.stage()), 'trial', 'the journey still runs locally');
  assert.equal(await honouring.textContent('h1'), 'Your trial is running: finish setting up your first journey.');
  await honouring.waitForTimeout(500);
  assert.deepEqual(honouring.batchRequests, []);
  await honouring.context().close();
});

test('outbound links: off by default, tracked with origin and path when on', async () => {
  const trackedLinks = async (page) => {
    await page.evaluate(() => {
      const a = document.createElement('a');
      a.href = 'https://partner.example/docs/page?token=secret';
      a.id = 'out';
      a.textContent = 'partner';
      a.addEventListener('click', (e) => e.preventDefault());
      document.body.appendChild(a);
      window.__outbound = [];
      waymark.on('event', (e) => { if (e.name === 'outbound_link_clicked') window.__outbound.push(e); });
    });
    await page.click('#out');
    await page.evaluate(() => waymark.stage()); // processes what is waiting
    return page.evaluate(() => window.__outbound.length);
  };
  const off = await open({});
  assert.equal(await trackedLinks(off), 0);
  await off.context().close();
  const on = await open({ autocapture: { outboundLinks: true }, batchDelayMs: 10 });
  // The default map sends only a few properties in awareness; send all of them here.
  const sendAll = { ...defaultMap(), sync: { default: { events: '*', properties: '*' } } };
  assert.equal(await on.evaluate((map) => waymark.setMap(map), sendAll), true);
  assert.equal(await trackedLinks(on), 1);
  await on.evaluate(() => waymark.flush());
  const sent = on.batchRequests.map((b) => JSON.parse(b)).flatMap((b) => b.events).find((e) => e.name === 'outbound_link_clicked');
  assert.deepEqual(sent.properties, { url: 'https://partner.example/docs/page', host: 'partner.example' }, 'no query string leaves the page');
  await on.context().close();
});

test('Segment-shaped calls: page(category, name, props), identify(userId, traits), track with callback', async () => {
  const page = await open({ batchDelayMs: 10 });
  const sendAll = { ...defaultMap(), sync: { default: { events: '*', properties: '*' } } }; // see every property that was sent
  const result = await page.evaluate(async (map) => {
    if ((await waymark.setMap(map)) !== true) throw new Error('setMap refused the map');
    const events = [];
    waymark.on('event', (e) => { if (e.name !== 'content_shown') events.push(e.name); });
    waymark.page('Docs', 'Getting started', { section: 'intro' });
    let called = false;
    waymark.track('Trial Started', { plan: 'pro' }, {}, () => { called = true; });
    waymark.identify('user-42', { email: 'jo@example.com', plan: 'pro' });
    await waymark.flush();
    await new Promise((r) => setTimeout(r, 50));
    return { events, called, stage: waymark.stage(), user: waymark.context().userId };
  }, sendAll);
  assert.deepEqual(result.events, ['page_viewed', 'trial_started', 'user_identified']);
  assert.equal(result.called, true);
  assert.equal(result.stage, 'trial');
  assert.equal(result.user, 'user-42');
  const sent = page.batchRequests.map((b) => JSON.parse(b)).flatMap((b) => b.events);
  const view = sent.find((e) => e.name === 'page_viewed' && e.properties && e.properties.category === 'Docs');
  assert.deepEqual(view.properties, { section: 'intro', category: 'Docs', name: 'Getting started' });
  assert.equal(sent.find((e) => e.name === 'user_identified').user_id, 'user-42');
  await page.context().close();
});
