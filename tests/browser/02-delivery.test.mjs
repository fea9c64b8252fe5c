// Delivery in real Chromium, judged from the collector's side: every event a page tracked is
// acknowledged by the collector (counted by distinct event id through the recording proxy, and
// by the stored profile's event_count), through a navigation away, 503s with Retry-After, the
// browser going offline and two tabs sending from one shared queue; and the collector's own 429
// Retry-After, as a cross-origin page sees it.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { useBrowserRig, waymarkReady, waitFor } from './harness.mjs';

const rig = useBrowserRig();
// A second collector that allows one batch per second per site key (burst 2): its 429 answers,
// with their real CORS headers and Retry-After, reach the browser unchanged.
const limited = useBrowserRig({ collector: { rateLimit: 1 } });

// feature_used has no throttle in the default map, and distinct properties keep the engine's
// 2 s fold window from folding the repeats.
const EVENT = 'feature_used';

/** What the proxy saw for one visitor: events sent, distinct ids accepted, duplicate answers. */
function seenFor(anon) {
  const sent = [];
  const accepted = new Set();
  let duplicates = 0;
  let acceptedAnswers = 0;
  for (const b of rig.proxy.batches) {
    const events = (b.sent && b.sent.events) || [];
    const mine = new Set(events.filter((e) => e.anonymous_id === anon).map((e) => e.id));
    sent.push(...events.filter((e) => e.anonymous_id === anon));
    for (const r of (b.answer && b.answer.results) || []) {
      if (!mine.has(r.id)) continue;
      if (r.status === 'accepted') {
        accepted.add(r.id);
        acceptedAnswers++;
      }
      if (r.status === 'duplicate') duplicates++;
    }
  }
  return { sent, accepted, duplicates, acceptedAnswers, sentIds: new Set(sent.map((e) => e.id)) };
}

const missing = (ids, set) => ids.filter((id) => !set.has(id));

/** Opens plain.html with init options (batchDelayMs etc.), returns [page, anonymousId]. */
async function openPlain(initOptions = {}, context) {
  const page = await rig.newPage(context);
  await page.addInitScript((o) => { window.__initOptions = o; }, initOptions);
  await page.goto(rig.pageUrl('plain.html'));
  const anon = await waymarkReady(page);
  return [page, anon];
}

/** Holds the page's .wasm download until `released` settles (a slow network, an engine not loaded yet). */
function holdWasm(page, released) {
  return page.route('**/waymark.wasm', async (route) => {
    await released;
    await route.continue().catch(() => {}); // the page may be gone by then
  });
}

/** Tracks n feature_used events in the page; returns their ids. */
function trackMany(page, n, tag) {
  return page.evaluate(({ n, name, tag }) => {
    const ids = [];
    for (let i = 0; i < n; i++) {
      const r = waymark.track(name, { i, tag });
      if (!r || !r.id || r.status === 'rejected') throw new Error(`event ${i}: ${JSON.stringify(r)}`);
      ids.push(r.id);
    }
    return ids;
  }, { n, name: EVENT, tag });
}

/** Waits until the collector has stored the visitor's profile with every acknowledged event. */
async function storedProfile(anon, expectedCount) {
  return waitFor(async () => {
    const p = await rig.profile(anon);
    return p && p.event_count >= expectedCount ? p : null;
  }, { what: `profile ${anon} with ${expectedCount} events` });
}

test('200 events then an immediate navigation away: all 200 reach the collector', async (t) => {
  const context = await rig.newContext();
  const [page, anon] = await openPlain({}, context);
  // The loop and the navigation in one task: no batch timer can run in between.
  const ids = await page.evaluate((name) => {
    const out = [];
    for (let i = 0; i < 200; i++) {
      const r = waymark.track(name, { i, run: 'nav' });
      if (r && r.id && r.status !== 'rejected') out.push(r.id);
    }
    location.href = '/index.html';
    return out;
  }, EVENT);
  assert.equal(ids.length, 200, 'track() took all 200');
  assert.equal(new Set(ids).size, 200, 'one id per event');
  await page.waitForURL(/\/index\.html$/);
  // The next page of the same site sends what the last one left in the queue.
  const again = await waymarkReady(page);
  assert.equal(again, anon, 'the next page continues the same visitor');
  await waitFor(() => missing(ids, seenFor(anon).accepted).length === 0, {
    timeoutMs: 15000,
    what: 'all 200 ids acknowledged as accepted',
  }).catch((err) => {
    const seen = seenFor(anon);
    throw new Error(`${err.message}; ${missing(ids, seen.accepted).length} of 200 never accepted; ` +
      `${seen.sentIds.size} distinct ids of this visitor sent in ${rig.proxy.batches.length} batches`);
  });
  const seen = seenFor(anon);
  const perBatch = rig.proxy.batches.map((b) => (b.sent.events || []).filter((e) => ids.includes(e.id)).length).filter((n) => n > 0);
  t.diagnostic(`the 200 went in batches of ${perBatch.join(', ')}; ${seen.duplicates} duplicate answers (events the next page sent again)`);
  await page.evaluate(() => waymark.flush());
  const profile = await storedProfile(anon, seen.accepted.size);
  assert.equal(profile.event_count, seenFor(anon).accepted.size, 'the collector stored each distinct event once');
  assert.ok(profile.event_count >= 200);
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

// Issue 11's aim: a fresh visitor, 200 calls in one task, then the page goes for good (another
// site, or the tab closed): no next page of this site will send what is left, so all 200 must leave
// in the page-hide send. The properties make the 200 envelopes larger than the 64 KB a page may
// send while it unloads (about 300 bytes each, whole).
for (const leave of ['navigate to another site', 'close the tab']) {
  test(`200 calls then ${leave} at once: 200 of 200 reach the collector`, async (t) => {
    const context = await rig.newContext();
    const page = await rig.newPage(context);
    await page.goto(rig.pageUrl('plain.html'));
    const anon = await waymarkReady(page);
    const elsewhere = `${rig.collector.url}/healthz`; // another origin, no waymark on it
    const script = ({ name, to }) => {
      const out = [];
      for (let i = 0; i < 200; i++) {
        const r = waymark.track(name, { i, run: 'leave', section: `pricing-table-bottom-cta-${i}`, plan: 'pro', value: 49.99, currency: 'EUR' });
        out.push(r.id);
      }
      if (to) location.href = to;
      return out;
    };
    let ids;
    if (leave.startsWith('navigate')) {
      ids = await page.evaluate(script, { name: EVENT, to: elsewhere });
      await page.waitForURL(/healthz/);
    } else {
      ids = await page.evaluate(script, { name: EVENT, to: null });
      await page.close({ runBeforeUnload: true });
    }
    assert.equal(new Set(ids).size, 200);
    await waitFor(() => missing(ids, seenFor(anon).accepted).length === 0, { timeoutMs: 10000, what: 'all 200 accepted' }).catch((err) => {
      throw new Error(`${err.message}: ${200 - missing(ids, seenFor(anon).accepted).length} of 200 arrived`);
    });
    const batches = rig.proxy.batches.filter((b) => (b.sent.events || []).some((e) => ids.includes(e.id)));
    t.diagnostic(`${batches.length} requests carried them: ${batches.map((b) => b.sent.events.length).join(', ')} events`);
    await context.close();
  });
}

test('a visitor who leaves before the engine has loaded: the calls made so far reach the collector, under the id the next visit keeps', async () => {
  const context = await rig.newContext();
  const page = await rig.newPage(context);
  // A slow network: the .wasm arrives 4 s late, long after the visitor has gone.
  await holdWasm(page, new Promise((r) => setTimeout(r, 4000)));
  const tag = `early-${Date.now()}`;
  await page.goto(rig.pageUrl('plain.html'));
  const before = await page.evaluate((o) => {
    const results = [];
    for (let i = 0; i < 5; i++) results.push(waymark.track(o.name, { i, tag: o.tag }));
    const ready = waymark.stats().ready;
    location.href = o.to;
    return { results, ready };
  }, { name: EVENT, tag, to: `${rig.collector.url}/healthz` });
  assert.equal(before.ready, false, 'the engine had not loaded yet');
  assert.deepEqual(before.results.map((r) => r.status), ['pending', 'pending', 'pending', 'pending', 'pending']);
  await page.waitForURL(/healthz/);
  const sentEarly = () => rig.proxy.batches.flatMap((b) => (b.sent && b.sent.events) || []).filter((e) => e.properties && e.properties.tag === tag);
  await waitFor(() => sentEarly().length === 5, { what: 'the 5 calls sent at page hide' });
  const early = sentEarly();
  assert.ok(early.every((e) => e.unfiltered === true), 'sent as the page gave them');
  const anon = early[0].anonymous_id;
  const acked = new Set(rig.proxy.acknowledged().accepted);
  assert.ok(early.every((e) => acked.has(e.id)), 'the collector accepted them');
  const landing = rig.proxy.batches.flatMap((b) => (b.sent && b.sent.events) || []).find((e) => e.anonymous_id === anon && e.name === 'page_viewed');
  assert.ok(landing, 'the landing page view went too');
  // The next visit of the site is the same visitor.
  await page.unroute('**/waymark.wasm');
  await page.goto(rig.pageUrl('plain.html'));
  assert.equal(await waymarkReady(page), anon);
  await context.close();
});

test('a page hide before the engine has loaded, and the page stays: the replay sends the same events, answered duplicate, never id_conflict', async () => {
  const context = await rig.newContext();
  const page = await rig.newPage(context);
  let release;
  await holdWasm(page, new Promise((r) => (release = r)));
  const tag = `stay-${Date.now()}`;
  await page.goto(rig.pageUrl('plain.html'));
  const ids = await page.evaluate((o) => {
    const out = [];
    for (let i = 0; i < 3; i++) out.push(waymark.track(o.name, { i, tag: o.tag }).status);
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })); // into the back/forward cache
    return out;
  }, { name: EVENT, tag });
  assert.deepEqual(ids, ['pending', 'pending', 'pending']);
  const tagged = () => rig.proxy.batches.flatMap((b) => (b.sent && b.sent.events) || []).filter((e) => e.properties && e.properties.tag === tag);
  await waitFor(() => tagged().length === 3, { what: 'the 3 calls sent at the page hide' });
  release(); // the engine loads; the page goes on
  await waymarkReady(page);
  await page.evaluate(() => waymark.flush());
  const sent = tagged();
  assert.equal(new Set(sent.map((e) => e.id)).size, 3, 'the replay used the same ids');
  const answers = rig.proxy.batches.flatMap((b) => (b.answer && b.answer.results) || []).filter((r) => sent.some((e) => e.id === r.id));
  assert.ok(answers.every((r) => r.status === 'accepted' || r.status === 'duplicate'), JSON.stringify(answers));
  const errors = await page.evaluate(() => window.__errors.map((e) => e.code));
  assert.ok(!errors.includes('event_rejected'), `no rejection: ${errors}`);
  await context.close();
});

test('a page hide before the engine has loaded sends nothing after a queued consent(\'denied\')', async () => {
  const context = await rig.newContext();
  const page = await rig.newPage(context);
  await holdWasm(page, new Promise((r) => setTimeout(r, 3000)));
  const tag = `denied-${Date.now()}`;
  await page.goto(rig.pageUrl('plain.html'));
  await page.evaluate((o) => {
    waymark.consent('denied');
    waymark.track(o.name, { tag: o.tag });
    window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false }));
  }, { name: EVENT, tag });
  await new Promise((r) => setTimeout(r, 500));
  const leaked = rig.proxy.batches.flatMap((b) => (b.sent && b.sent.events) || []).filter((e) => e.properties && e.properties.tag === tag);
  assert.deepEqual(leaked, []);
  await context.close();
});

test('503 with Retry-After for the first batches, then 200: nothing lost, no duplicate answers', async (t) => {
  const FAILS = 3;
  const [page, anon] = await openPlain({ batchDelayMs: 50 });
  assert.equal((await page.evaluate(() => waymark.flush())).pending, 0, 'the landing events are out of the way');
  const failures0 = rig.proxy.failures;
  rig.proxy.failNext(FAILS, 503, 1);
  const ids = await trackMany(page, 40, '503');
  const started = Date.now();
  const flushed = await page.evaluate(() => waymark.flush({ timeoutMs: 20000 }));
  const elapsed = Date.now() - started;
  assert.equal(rig.proxy.failures - failures0, FAILS, 'the proxy answered 503 that many times');
  assert.equal(flushed.pending, 0, `flush: ${JSON.stringify(flushed)}`);
  const seen = seenFor(anon);
  assert.deepEqual(missing(ids, seen.accepted), [], 'every tracked event was accepted');
  assert.deepEqual(missing([...seen.sentIds], seen.accepted), [], 'everything sent (page views, content shown too) was accepted');
  assert.equal(seen.duplicates, 0, 'a batch refused by the proxy never reached the collector: no duplicate answers');
  assert.equal(seen.acceptedAnswers, seen.accepted.size, 'each id accepted once');
  const transport = await page.evaluate(() => waymark.stats().transport);
  assert.ok(transport.retries >= FAILS, JSON.stringify(transport));
  t.diagnostic(`delivered after ${FAILS} answers 503 in ${elapsed} ms (whether Retry-After is honoured: see the 429 test below)`);
  const profile = await storedProfile(anon, seen.accepted.size);
  assert.equal(profile.event_count, seen.accepted.size);
  assert.deepEqual(page.pageErrors, []);
  await page.context().close();
});

test('offline then online: nothing is attempted while offline, everything arrives after', async () => {
  const context = await rig.newContext();
  const [page, anon] = await openPlain({ batchDelayMs: 50 }, context);
  await page.evaluate(() => waymark.flush()); // the page view and content shown are delivered
  const before = await page.evaluate(() => waymark.stats().transport);
  const batches0 = rig.proxy.batches.length;
  await context.setOffline(true);
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  const ids = await trackMany(page, 30, 'offline');
  await page.waitForTimeout(1500); // several batch delays
  const flushedOffline = await page.evaluate(() => waymark.flush({ timeoutMs: 1000 }));
  const during = await page.evaluate(() => waymark.stats().transport);
  assert.equal(during.sent, before.sent, `no send was attempted while offline: ${JSON.stringify({ before, during })}`);
  assert.equal(during.retries, before.retries, 'no failed attempt (retry) while offline');
  assert.equal(flushedOffline.pending, ids.length, 'the events wait in the queue');
  assert.equal(rig.proxy.batches.length, batches0, 'the collector saw nothing');
  await context.setOffline(false);
  await waitFor(() => missing(ids, seenFor(anon).accepted).length === 0, { what: 'all offline events accepted after coming back' });
  const seen = seenFor(anon);
  assert.equal(seen.duplicates, 0);
  const profile = await storedProfile(anon, seen.accepted.size);
  assert.equal(profile.event_count, seen.accepted.size);
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

test('two tabs tracking at once: each event stored once, and the journey is shared', async () => {
  const context = await rig.newContext();
  const [a, anon] = await openPlain({ batchDelayMs: 50 }, context);
  const [b, anonB] = await openPlain({ batchDelayMs: 50 }, context);
  assert.equal(anonB, anon, 'both tabs are the same visitor');
  assert.equal(await b.evaluate(() => waymark.stage()), 'awareness');
  // A moves the journey; B's engine follows without a reload.
  await a.evaluate(() => waymark.track('pricing_viewed', { plan: 'pro' }));
  assert.equal(await a.evaluate(() => waymark.stage()), 'engaged');
  await waitFor(() => b.evaluate(() => waymark.stage() === 'engaged'), { what: "tab B's stage to become engaged" });
  // Both tabs track at once, then both flush at once.
  const [idsA, idsB] = await Promise.all([trackMany(a, 60, 'A'), trackMany(b, 60, 'B')]);
  const ids = [...idsA, ...idsB];
  await Promise.all([a.evaluate(() => waymark.flush()), b.evaluate(() => waymark.flush())]);
  await waitFor(() => missing(ids, seenFor(anon).accepted).length === 0, { what: 'all events of both tabs accepted' });
  await a.waitForTimeout(1500); // any late second copy would show up now
  const seen = seenFor(anon);
  assert.equal(seen.duplicates, 0, 'no event was sent twice (one sender at a time, shared queue)');
  assert.equal(seen.acceptedAnswers, seen.accepted.size);
  assert.deepEqual(missing([...seen.sentIds], seen.accepted), []);
  const profile = await storedProfile(anon, seen.accepted.size);
  assert.equal(profile.event_count, seen.accepted.size, 'each event stored once');
  assert.equal(profile.stage, 'engaged');
  assert.deepEqual([...a.pageErrors, ...b.pageErrors], []);
  await context.close();
});

test("the collector's 429 Retry-After is honoured by the browser (cross-origin answer)", async () => {
  const page = await limited.newPage();
  const log = [];
  const t0 = Date.now();
  page.on('request', (r) => { if (r.url().includes('/v1/batch')) log.push({ at: Date.now() - t0, kind: 'request' }); });
  page.on('response', (r) => {
    if (r.url().includes('/v1/batch')) log.push({ at: Date.now() - t0, kind: 'response', status: r.status(), retryAfter: r.headers()['retry-after'] });
  });
  await page.addInitScript(() => { window.__initOptions = { batchDelayMs: 0 }; });
  await page.goto(limited.pageUrl('plain.html'));
  await waymarkReady(page);
  // More batches than the bucket holds, each flushed on its own.
  const ids = [];
  for (let round = 0; round < 4; round++) {
    ids.push(...await page.evaluate((r) => [waymark.track('feature_used', { r }).id], round));
    await page.evaluate(() => waymark.flush({ timeoutMs: 15000 }));
  }
  const limitedAnswers = log.filter((e) => e.status === 429);
  assert.ok(limitedAnswers.length >= 1, `the collector rate-limited at least one batch: ${JSON.stringify(log)}`);
  for (const answer of limitedAnswers) {
    const seconds = Number(answer.retryAfter);
    assert.ok(seconds >= 1, `429 with Retry-After: ${answer.retryAfter}`);
    const next = log.find((e) => e.kind === 'request' && e.at > answer.at);
    assert.ok(next, 'the batch was sent again');
    assert.ok(next.at - answer.at >= seconds * 1000 - 150,
      `the retry came ${next.at - answer.at} ms after a 429 with Retry-After: ${seconds} (log: ${JSON.stringify(log)})`);
  }
  const accepted = new Set(limited.proxy.acknowledged().accepted);
  for (const id of ids) assert.ok(accepted.has(id), 'delivered in the end');
  await page.context().close();
});

test('a 2 000-event burst outgrows the 256 KB storage budget: nothing is dropped, all delivered', async (t) => {
  const page = await rig.newPage();
  await page.goto(rig.pageUrl('plain.html'));
  const anon = await waymarkReady(page);
  const result = await page.evaluate(async () => {
    for (let i = 0; i < 2000; i++) waymark.track('feature_used', { i, feature: 'journeys', note: 'burst' });
    const flushed = await waymark.flush({ timeoutMs: 30000 });
    return { flushed, stats: waymark.stats() };
  });
  assert.equal(result.flushed.pending, 0, JSON.stringify(result));
  assert.deepEqual(result.stats.queue.dropped, { noise: 0, normal: 0, conversion: 0 });
  const seen = seenFor(anon);
  const burst = seen.sent.filter((e) => e.name === EVENT);
  const ids = new Set(burst.map((e) => e.id));
  assert.equal(ids.size, 2000);
  // Distinct ids: an event sent twice (the second answered `duplicate`) is one delivery. Counting
  // sends instead made this test fail in about one run of four (2 190 of 2 000).
  assert.equal([...ids].filter((id) => seen.accepted.has(id)).length, 2000);
  if (burst.length > ids.size) t.diagnostic(`${burst.length - ids.size} events of the burst were sent twice (the collector answered duplicate)`);
  await page.context().close();
});
