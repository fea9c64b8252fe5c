// Privacy and storage in real Chromium, judged from the collector's side (the recording proxy and
// the stored profile) and from what the browser keeps: Global Privacy Control, the consent states,
// a storage that is full, redaction of e-mail addresses and phone numbers, the dataLayer bridge and
// the marked clicks and form submits.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { useBrowserRig, waymarkReady, waitFor } from './harness.mjs';

const rig = useBrowserRig();

const TRIAL_HERO = 'Your trial is running: finish setting up your first journey.';
const EMAIL = 'someone@example.com';
const PHONE_FORMS = ['+1 415 555 0134', '(415) 555-0134', '415-555-0134', '555 0134', '555-0134', '5550134', '4155550134'];

/** Opens a page, recording every request it makes to the collector's /v1/batch (sent or not). */
async function open(name, { initOptions, initScript, context } = {}) {
  const page = await rig.newPage(context);
  page.batchRequests = [];
  page.on('request', (r) => {
    if (r.url().includes('/v1/batch')) page.batchRequests.push(r.postData());
  });
  if (initOptions) await page.addInitScript((o) => { window.__initOptions = o; }, initOptions);
  if (initScript) await page.addInitScript(initScript);
  await page.goto(rig.pageUrl(name));
  const anon = await waymarkReady(page);
  return [page, anon];
}

/** What the proxy saw for one visitor: the events sent and the ids the collector accepted. */
function seenFor(anon) {
  const sent = [];
  const accepted = new Set();
  let duplicates = 0;
  for (const b of rig.proxy.batches) {
    const mine = ((b.sent && b.sent.events) || []).filter((e) => e.anonymous_id === anon);
    sent.push(...mine);
    const ids = new Set(mine.map((e) => e.id));
    for (const r of (b.answer && b.answer.results) || []) {
      if (ids.has(r.id) && r.status === 'accepted') accepted.add(r.id);
      if (ids.has(r.id) && r.status === 'duplicate') duplicates++;
    }
  }
  return { sent, accepted, duplicates };
}

/** Everything waymark keeps in the page's origin: IndexedDB databases (with their rows) and localStorage keys. */
function lastingStorage(page) {
  return page.evaluate(async () => {
    const out = { databases: {}, localStorage: {} };
    for (const { name } of await indexedDB.databases()) {
      if (!name.startsWith('waymark')) continue;
      const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open(name);
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const rows = {};
      for (const store of db.objectStoreNames) {
        rows[store] = await new Promise((resolve, reject) => {
          const tx = db.transaction(store, 'readonly');
          const keys = tx.objectStore(store).getAllKeys();
          const values = tx.objectStore(store).getAll();
          tx.oncomplete = () => resolve(keys.result.map((k, i) => [k, values.result[i]]));
          tx.onerror = () => reject(tx.error);
        });
      }
      db.close();
      out.databases[name] = rows;
    }
    for (const key of Object.keys(localStorage)) if (key.startsWith('waymark')) out.localStorage[key] = localStorage.getItem(key);
    return out;
  });
}

const rowCount = (storage) => Object.values(storage.databases).reduce((n, db) => n + Object.values(db).reduce((m, rows) => m + rows.length, 0), 0);

test('Global Privacy Control: nothing sent, nothing lasting stored, personalization still works', async () => {
  const context = await rig.newContext();
  const gpc = () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });
  const batches0 = rig.proxy.batches.length;
  const [page, anon] = await open('index.html', { initScript: gpc, context });
  assert.equal(await page.evaluate(() => navigator.globalPrivacyControl), true);
  const stats = await page.evaluate(() => waymark.stats());
  assert.equal(stats.optOut, 'global_privacy_control');
  assert.equal(stats.consent, 'denied');
  await page.evaluate(() => {
    waymark.track('signed_up');
    waymark.track('trial_started');
  });
  assert.equal(await page.evaluate(() => waymark.stage()), 'trial');
  assert.equal(await page.textContent('h1'), TRIAL_HERO, 'the page is personalized locally');
  await page.evaluate(() => waymark.flush());
  await page.waitForTimeout(2500); // longer than the batch delay and the snapshot delay
  assert.deepEqual(page.batchRequests, [], 'the page made no /v1/batch request');
  assert.equal(rig.proxy.batches.length, batches0, 'the collector received nothing');
  assert.deepEqual(await lastingStorage(page), { databases: {}, localStorage: {} }, 'no IndexedDB database, no localStorage key');
  // A new page of the same site remembers nothing.
  await page.goto(rig.pageUrl('index.html'));
  const again = await waymarkReady(page);
  assert.notEqual(again, anon, 'a new anonymous id: the last one was never stored');
  assert.equal(await page.evaluate(() => waymark.stage()), 'awareness');
  assert.equal(rig.proxy.batches.length, batches0);
  assert.equal(seenFor(anon).sent.length, 0);
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

test("consent 'pending' holds events; 'granted' delivers them", async () => {
  const context = await rig.newContext();
  const [page, anon] = await open('plain.html', { initOptions: { consent: 'pending', batchDelayMs: 50 }, context });
  const ids = await page.evaluate(() => [1, 2, 3].map((i) => waymark.track('feature_used', { i }).id));
  await page.evaluate(() => waymark.track('pricing_viewed', { plan: 'pro' }));
  assert.equal(await page.evaluate(() => waymark.stage()), 'engaged', 'tracking works while pending');
  await page.waitForTimeout(1500);
  assert.deepEqual(page.batchRequests, [], 'nothing sent while pending');
  assert.equal(rowCount(await lastingStorage(page)), 0, 'nothing stored while pending');
  assert.deepEqual((await lastingStorage(page)).localStorage, {});
  const held = await page.evaluate(() => waymark.stats().held); // for the messages below
  await page.evaluate(() => waymark.consent('granted'));
  const flushed = await page.evaluate(() => waymark.flush());
  assert.equal(flushed.pending, 0, JSON.stringify(flushed));
  const seen = seenFor(anon);
  const lost = ids.filter((id) => !seen.accepted.has(id));
  assert.deepEqual(lost, [], `events tracked while pending never reached the collector (the SDK held ${held} events)`);
  const names = seen.sent.map((e) => e.name);
  assert.ok(names.includes('page_viewed') && names.includes('pricing_viewed'), `the landing view and the rest too: ${names}`);
  assert.equal(seen.accepted.size, held, 'every held event was delivered');
  const profile = await waitFor(() => rig.profile(anon), { what: 'profile' });
  assert.equal(profile.stage, 'engaged');
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

test("consent 'denied': what was stored is deleted and nothing more is sent", async () => {
  const context = await rig.newContext();
  const [page, anon] = await open('plain.html', { initOptions: { batchDelayMs: 60000 }, context });
  await page.evaluate(() => waymark.track('pricing_viewed', { plan: 'pro' }));
  await page.evaluate(() => waymark.flush());
  await page.waitForTimeout(1300); // the snapshot is written
  const stored = await lastingStorage(page);
  assert.ok(rowCount(stored) > 0, 'with consent the journey was stored');
  assert.ok(Object.keys(stored.localStorage).length > 0, 'and the decisions for the first frame');
  const sentBefore = page.batchRequests.length;
  // Queued, not yet sent (the batch delay is a minute), when consent is withdrawn.
  const queued = await page.evaluate(() => [1, 2, 3].map((i) => waymark.track('feature_used', { i }).id));
  assert.equal(await page.evaluate(() => waymark.stats().queue.queued), 3);
  await page.evaluate(() => waymark.consent('denied'));
  await page.evaluate(() => waymark.track('lead_submitted'));
  assert.equal(await page.evaluate(() => waymark.stage()), 'lead', 'local-only: the stage still moves');
  await page.evaluate(() => waymark.flush());
  await page.waitForTimeout(1500);
  const after = await lastingStorage(page);
  assert.equal(rowCount(after), 0, `stored data deleted: ${JSON.stringify(after).slice(0, 300)}`);
  assert.deepEqual(after.localStorage, {});
  // Leaving the page (pagehide) must not send the queue either.
  await page.goto('about:blank');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(page.batchRequests.length, sentBefore, 'no request after consent was denied');
  const sentIds = new Set(seenFor(anon).sent.map((e) => e.id));
  for (const id of queued) assert.ok(!sentIds.has(id), 'a queued event never left');
  assert.ok(!seenFor(anon).sent.some((e) => e.name === 'lead_submitted'));
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

test('storage full (IndexedDB and localStorage): the page keeps working in memory and delivers', async () => {
  const quota = () => {
    const quotaError = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    IDBFactory.prototype.open = function open() {
      const req = { result: undefined, error: null, readyState: 'pending' };
      setTimeout(() => {
        req.error = quotaError();
        req.readyState = 'done';
        if (typeof req.onerror === 'function') req.onerror(new Event('error'));
      }, 0);
      return req;
    };
    Storage.prototype.setItem = function setItem() { throw quotaError(); };
  };
  const context = await rig.newContext();
  const [page, anon] = await open('plain.html', { initOptions: { batchDelayMs: 50 }, initScript: quota, context });
  assert.equal(await page.evaluate(() => waymark.stats().queue.backend), 'memory');
  const results = await page.evaluate(() => [waymark.track('signed_up'), waymark.track('trial_started')]);
  assert.ok(results.every((r) => r && r.id && r.status !== 'rejected'), JSON.stringify(results));
  assert.equal(await page.evaluate(() => waymark.stage()), 'trial');
  assert.equal(await page.textContent('h1'), TRIAL_HERO, 'personalization applied');
  const flushed = await page.evaluate(() => waymark.flush());
  assert.equal(flushed.pending, 0, JSON.stringify(flushed));
  const seen = seenFor(anon);
  for (const r of results) assert.ok(seen.accepted.has(r.id), 'delivered from the memory queue');
  const errors = await page.evaluate(() => window.__errors);
  const storageErrors = errors.filter((e) => e.code === 'storage_full' || e.code === 'storage_failed');
  assert.ok(storageErrors.length >= 1, `a storage error was reported: ${JSON.stringify(errors)}`);
  assert.equal(new Set(storageErrors.map((e) => e.code)).size, storageErrors.length, `one report per kind: ${JSON.stringify(storageErrors)}`);
  assert.ok(storageErrors.some((e) => e.code === 'storage_full'), 'a quota error is reported as storage_full');
  const profile = await waitFor(() => rig.profile(anon), { what: 'profile' });
  assert.equal(profile.stage, 'trial');
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

test('an e-mail address in the URL and a phone number in a property never reach the collector', async () => {
  const context = await rig.newContext();
  const [page, anon] = await open(`plain.html?email=${EMAIL}&utm_source=mail&utm_content=${encodeURIComponent(EMAIL)}`,
    { initOptions: { batchDelayMs: 50 }, context });
  await page.evaluate(() => waymark.track('content_read', { section: 'guide' })); // engaged: every property is synced
  const { id } = await page.evaluate((email) => waymark.track('feature_used', {
    phone: '+1 415 555 0134',
    note: `call (415) 555-0134 or write to ${email}`,
    [`contact ${email}`]: 'key',
  }), EMAIL);
  await page.evaluate(() => waymark.flush());
  const seen = seenFor(anon);
  assert.ok(seen.accepted.has(id), 'the event itself was delivered');
  const wire = JSON.stringify(seen.sent);
  for (const needle of [EMAIL, encodeURIComponent(EMAIL), ...PHONE_FORMS]) {
    assert.ok(!wire.includes(needle), `"${needle}" was sent: ${wire.slice(wire.indexOf(needle) - 80, wire.indexOf(needle) + 40)}`);
  }
  const event = seen.sent.find((e) => e.id === id);
  assert.equal(event.properties.phone, '[phone]');
  assert.equal(event.properties.note, 'call [phone] or write to [email]');
  assert.deepEqual(Object.keys(event.properties).sort(), ['contact [email]', 'note', 'phone']);
  const landing = seen.sent.find((e) => e.name === 'page_viewed');
  assert.match(landing.context.url, /email=\[email\]/);
  const profile = await waitFor(() => rig.profile(anon), { what: 'profile' });
  const stored = JSON.stringify(profile);
  for (const needle of [EMAIL, ...PHONE_FORMS]) assert.ok(!stored.includes(needle), `the collector stored "${needle}"`);
  // Nor does the browser keep them.
  await page.waitForTimeout(1200);
  const kept = JSON.stringify(await lastingStorage(page));
  for (const needle of [EMAIL, ...PHONE_FORMS]) assert.ok(!kept.includes(needle), `stored in the browser: "${needle}"`);
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

test('dataLayer bridge: a GA4 generate_lead pushed before load moves to lead; gtm.* events ignored', async () => {
  const context = await rig.newContext();
  const [page, anon] = await open('datalayer.html', { context });
  assert.equal(await page.evaluate(() => waymark.stage()), 'lead', 'the push made before the SDK loaded was tracked');
  // Pushes after load: GTM's lifecycle and an unknown name are ignored, an alias is tracked.
  await page.evaluate(() => {
    window.dataLayer.push({ event: 'gtm.dom', 'gtm.uniqueEventId': 4 });
    window.dataLayer.push({ event: 'gtm.click', 'gtm.element': 'button#buy' });
    window.dataLayer.push({ event: 'scroll_depth_custom', percent: 90 });
    window.dataLayer.push({ event: 'view_pricing', plan: 'team' });
  });
  await page.evaluate(() => waymark.flush());
  const seen = seenFor(anon);
  const names = seen.sent.map((e) => e.name);
  assert.ok(!names.some((n) => n.startsWith('gtm')), `no gtm.* event: ${names}`);
  assert.ok(!names.includes('scroll_depth_custom'));
  const lead = seen.sent.filter((e) => e.name === 'lead_submitted');
  assert.equal(lead.length, 1, `generate_lead was delivered once as lead_submitted: ${names}`);
  assert.equal(lead[0].properties.form, 'hero');
  assert.ok(!('gtm.uniqueEventId' in lead[0].properties), 'GTM keys are not properties');
  assert.ok(seen.accepted.has(lead[0].id));
  assert.equal(seen.sent.filter((e) => e.name === 'pricing_viewed').length, 1, 'an alias pushed after load is tracked');
  const profile = await waitFor(async () => {
    const p = await rig.profile(anon);
    return p && p.stage === 'lead' ? p : null;
  }, { what: 'profile at stage lead' });
  assert.ok(profile.touchpoints.some((t) => t.name === 'lead_submitted'));
  assert.deepEqual(await page.evaluate(() => window.__errors), []);
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

test('clicks and form submits on elements marked data-waymark-event are tracked; field values are not read', async () => {
  const context = await rig.newContext();
  const [page, anon] = await open('index.html', { context });
  await page.click('#pricing');
  assert.equal(await page.evaluate(() => waymark.stage()), 'engaged');
  await page.click('#lead button[type=submit]');
  assert.equal(await page.evaluate(() => waymark.stage()), 'lead');
  await page.evaluate(() => waymark.flush());
  const seen = seenFor(anon);
  const pricing = seen.sent.filter((e) => e.name === 'pricing_viewed');
  const lead = seen.sent.filter((e) => e.name === 'lead_submitted');
  assert.equal(pricing.length, 1);
  assert.deepEqual(pricing[0].properties, { plan: 'pro' }, 'data-waymark-prop-plan');
  assert.equal(lead.length, 1);
  assert.ok(seen.accepted.has(pricing[0].id) && seen.accepted.has(lead[0].id));
  assert.ok(!JSON.stringify(seen.sent).includes(EMAIL), "the form's e-mail field was not read");
  const profile = await waitFor(async () => {
    const p = await rig.profile(anon);
    return p && p.stage === 'lead' ? p : null;
  }, { what: 'profile at stage lead' });
  assert.equal(profile.stage, 'lead');
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});
