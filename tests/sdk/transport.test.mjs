// js/src/transport.js against the real collector on loopback (tests/collector/helpers.mjs), with a
// loopback proxy in front of it where a test needs answers the collector would not give on cue.
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { after, describe, it } from 'node:test';

import { openStore } from '../../js/src/storage.js';
import { compactBatch, createTransport, gzipText, retryAfterMs } from '../../js/src/transport.js';
import {
  FakeLocalStorage,
  SITE_KEY,
  closeFetchConnections,
  anonymousId,
  envelope,
  errorBody,
  freePort,
  items,
  profileIds,
  resultCounter,
  sleep,
  startCollector,
  startProxy,
  stopCollector,
  storedEventCount,
  useCollector,
  waitFor,
} from './sdk-helpers.mjs';

// Registered before useCollector() so it runs first: transports stopped, fetch's idle keep-alive
// connections closed (they would hold up the collectors' clean stop), the extra collectors stopped.
const cleanups = [];
after(async () => {
  for (const f of cleanups) if (f.early) await f();
  await closeFetchConnections();
  for (const f of cleanups.reverse()) if (!f.early) await f();
});
const ctx = useCollector();

const memoryStore = () => openStore({ indexedDB: null, localStorage: null });
/** A memory store big enough to hold a whole burst of realistic events (the default budget is 256 KB). */
const bigStore = () => openStore({ indexedDB: null, localStorage: null, budgetBytes: 8 << 20 });

/** A transport with fast timings, its store, its errors and its summed results; stopped after the file. */
async function setup({ store, endpoint = ctx.srv.url, ...options } = {}) {
  const errs = [];
  const rc = resultCounter();
  const s = store || (await memoryStore());
  const transport = createTransport({
    endpoint,
    siteKey: SITE_KEY,
    store: s,
    onResults: rc.onResults,
    onError: (e) => errs.push(e),
    eventTarget: null,
    batchDelayMs: 10,
    baseBackoffMs: 20,
    maxBackoffMs: 400,
    ...options,
  });
  cleanups.push(Object.assign(() => transport.stop(), { early: true }));
  return { transport, store: s, errs, counts: rc.counts };
}

/** The bytes a fetch init sends, and the batch it carries (gunzipped when the URL says encoding=gzip). */
function sentBody(url, init) {
  const text = typeof init.body === 'string';
  const bytes = text ? Buffer.byteLength(init.body) : init.body.byteLength;
  const gzip = new URL(url).searchParams.get('encoding') === 'gzip';
  const raw = text ? Buffer.from(init.body) : Buffer.from(init.body.buffer, init.body.byteOffset, init.body.byteLength);
  return { bytes, gzip, batch: JSON.parse((gzip ? zlib.gunzipSync(raw) : raw).toString('utf8')) };
}

/** A fetch that records every call (init, bytes sent, the batch, answer status) and then calls the real one. */
function recordingFetch(calls = []) {
  const f = async (url, init) => {
    const sent = sentBody(url, init);
    const call = { url, init, at: Date.now(), bodyBytes: sent.bytes, gzip: sent.gzip, batch: sent.batch, events: sent.batch.events.length };
    calls.push(call);
    const res = await fetch(url, init);
    call.status = res.status;
    return res;
  };
  f.calls = calls;
  return f;
}

async function proxy(decide) {
  const p = await startProxy(ctx.srv, decide);
  cleanups.push(() => p.close());
  return p;
}

/** Swaps globalThis.CompressionStream for `replacement` (undefined: none) while `fn` runs. */
async function withCompressionStream(replacement, fn) {
  const had = Object.prototype.hasOwnProperty.call(globalThis, 'CompressionStream');
  const saved = globalThis.CompressionStream;
  if (replacement === undefined) delete globalThis.CompressionStream;
  else globalThis.CompressionStream = replacement;
  try {
    return await fn();
  } finally {
    if (had) globalThis.CompressionStream = saved;
    else delete globalThis.CompressionStream;
  }
}

/** Queue items for `n` feature_used events of one visitor on one page, with a few properties each (the bench's burst). */
function burst(n, { anon = anonymousId() } = {}) {
  const context = { url: 'https://shop.example/pricing?utm_source=newsletter&utm_medium=email', path: '/pricing', title: 'Pricing: plans for every team size', referrer: 'https://news.example/' };
  return Array.from({ length: n }, (_, i) => {
    const body = envelope(anon, { name: 'feature_used', properties: { i, run: 'r-7f3a', feature: 'journeys', note: 'benchmark burst' }, context, stage: 'engaged' });
    return { id: body.id, body, priority: 1 };
  });
}

describe('transport: delivery to the real collector', () => {
  it('1 000 events: batches within 500 events and 60 KB, every id stored exactly once', async () => {
    const fetchFn = recordingFetch();
    const { transport, store, errs, counts } = await setup({ fetch: fetchFn });
    const visitors = Array.from({ length: 10 }, () => anonymousId());
    const sent = new Map(visitors.map((a) => [a, []]));
    for (let i = 0; i < 1000; i++) {
      const anon = visitors[i % 10];
      const body = envelope(anon, { name: i % 3 ? 'page_viewed' : 'pricing_viewed' });
      sent.get(anon).push(body.id);
      store.enqueue([{ id: body.id, body, priority: 1 }]);
    }
    const before = await storedEventCount(ctx.srv);
    const result = await transport.flush({ timeoutMs: 15000 });
    assert.deepEqual(result, { delivered: 1000, pending: 0, failed: 0 });
    assert.deepEqual(errs, []);
    assert.equal(counts.accepted, 1000);
    assert.equal(counts.duplicate, 0);
    assert.equal(store.size(), 0);

    assert.ok(fetchFn.calls.length >= 3, `60 KB batches: ${fetchFn.calls.length} requests`);
    for (const c of fetchFn.calls) {
      assert.ok(c.bodyBytes <= 60000, `a body of ${c.bodyBytes} bytes`);
      assert.ok(c.events <= 500);
      assert.equal(c.status, 200);
      assert.equal(c.init.method, 'POST');
      assert.equal(c.init.keepalive, true);
      assert.equal(c.init.credentials, 'omit');
      assert.equal(c.init.headers['Content-Type'], 'text/plain', 'a CORS simple request: no preflight');
      assert.deepEqual(Object.keys(c.init.headers), ['Content-Type'], 'no Content-Encoding header (it would need a preflight)');
      assert.equal(c.batch.site_key, SITE_KEY);
      assert.equal(typeof c.batch.sent_at, 'number');
      // Node 20 has CompressionStream: every regular batch goes gzip, named in the URL.
      assert.equal(c.gzip, true);
      assert.deepEqual([...c.init.body.subarray(0, 2)], [0x1f, 0x8b], 'gzip bytes');
    }
    assert.equal(fetchFn.calls[0].url, `${ctx.srv.url}/v1/batch?key=${SITE_KEY}&encoding=gzip`, 'the key in the URL too: the answer to a body the collector cannot decode stays readable');
    assert.equal(await storedEventCount(ctx.srv), before + 1000);
    for (const [anon, ids] of sent) {
      const p = await profileIds(ctx.srv, anon);
      assert.equal(p.count, 100, `events stored for ${anon}`);
      assert.deepEqual(new Set(p.ids), new Set(ids));
    }
    assert.deepEqual(transport.stats(), { sent: 1000, delivered: 1000, retries: 0, refused: 0, lastStatus: 200 });
  });

  it('schedule(): waits batchDelayMs, or sends at once when batchEvents are queued', async () => {
    const fetchFn = recordingFetch();
    const { transport, store } = await setup({ fetch: fetchFn, batchDelayMs: 300, batchEvents: 10 });
    store.enqueue(items(3));
    transport.schedule();
    transport.schedule();
    await sleep(120);
    assert.equal(fetchFn.calls.length, 0, 'nothing before batchDelayMs');
    await waitFor(() => store.size() === 0, { timeoutMs: 3000, what: 'the delayed batch' });
    assert.equal(fetchFn.calls.length, 1);
    assert.equal(fetchFn.calls[0].events, 3);

    const t0 = Date.now();
    store.enqueue(items(10));
    transport.schedule();
    await waitFor(() => store.size() === 0, { timeoutMs: 3000, what: 'the full batch' });
    assert.ok(Date.now() - t0 < 250, `a full batch goes at once (${Date.now() - t0} ms)`);
    assert.equal(fetchFn.calls.length, 2);
  });

  it('a rejected event is final: removed, reported with its reason, the others delivered', async () => {
    const { transport, store, errs, counts } = await setup();
    const anon = anonymousId();
    const good = items(3, { anon });
    const bad = envelope(anon, { name: 'Bad Name' });
    store.enqueue([good[0], { id: bad.id, body: bad, priority: 1 }, good[1], good[2]]);
    const result = await transport.flush({ timeoutMs: 5000 });
    assert.deepEqual(result, { delivered: 3, pending: 0, failed: 1 });
    assert.equal(counts.rejected, 1);
    assert.equal(errs.length, 1);
    assert.equal(errs[0].code, 'event_rejected');
    assert.equal(errs[0].id, bad.id);
    assert.equal(errs[0].reason, 'invalid_event_name');
    assert.match(errs[0].message, /Bad Name/);
  });

  it('an unknown site key: 401 is final, the batch dropped and reported once', async () => {
    const fetchFn = recordingFetch();
    const { transport, store, errs } = await setup({ fetch: fetchFn, siteKey: 'pk_unknown' });
    store.enqueue(items(4));
    const result = await transport.flush({ timeoutMs: 5000 });
    assert.deepEqual(result, { delivered: 0, pending: 0, failed: 4 });
    assert.equal(fetchFn.calls.length, 1, 'not retried');
    assert.deepEqual(
      errs.map((e) => [e.code, e.status, e.reason]),
      [['batch_refused', 401, 'unknown_site_key']],
    );
    assert.match(errs[0].message, /not known/);
    assert.equal(transport.stats().refused, 4);
    assert.equal(transport.stats().lastStatus, 401);
  });
});

describe('transport: failures', () => {
  it('503 for the first 3 requests, then 200: exponential backoff, no loss, no duplicates', async () => {
    const p = await proxy(({ n }) => (n <= 3 ? { status: 503, body: errorBody('overloaded', 'busy') } : null));
    const { transport, store, errs, counts } = await setup({ endpoint: p.url, baseBackoffMs: 60, random: () => 1 });
    const batch = items(50);
    store.enqueue(batch);
    const before = await storedEventCount(ctx.srv);
    transport.schedule();
    await waitFor(() => store.size() === 0, { timeoutMs: 5000, what: 'delivery after the 503s' });
    assert.deepEqual(
      p.requests.map((r) => r.status),
      [503, 503, 503, 200],
    );
    const gaps = p.requests.slice(1).map((r, i) => r.at - p.requests[i].at);
    [60, 120, 240].forEach((ms, i) => assert.ok(gaps[i] >= ms - 5, `retry ${i + 1} after ${gaps[i]} ms, backoff ${ms} ms`));
    for (const r of p.requests) assert.deepEqual(r.json.events.map((e) => e.id), batch.map((i) => i.id), 'the same batch each time');
    assert.equal(counts.accepted, 50);
    assert.equal(counts.duplicate, 0);
    assert.equal(await storedEventCount(ctx.srv), before + 50);
    assert.deepEqual(errs, [], 'retries are not errors');
    assert.equal(transport.stats().retries, 3);
  });

  it('backoff: full jitter under base × 2^attempt, capped at maxBackoffMs (fake clock and timers)', async () => {
    let clock = 1_700_000_000_000;
    const timers = [];
    const rolls = [0.5, 0.25, 1, 1, 1, 1];
    let roll = 0;
    let calls = 0;
    // Six 502s, then the collector's answer, without a network.
    const fakeFetch = async (url, init) => {
      calls++;
      if (calls <= 6) return new Response('bad gateway', { status: 502 });
      const events = sentBody(url, init).batch.events;
      return new Response(JSON.stringify({ accepted: events.length, duplicates: 0, rejected: 0, results: events.map((e, index) => ({ index, id: e.id, status: 'accepted' })) }), { status: 200 });
    };
    const { transport, store } = await setup({
      fetch: fakeFetch,
      compress: false, // Node's compressor runs on its thread pool: the 1 ms steps below would race it
      baseBackoffMs: 10,
      maxBackoffMs: 100,
      batchDelayMs: 10,
      now: () => clock,
      random: () => rolls[roll++] ?? 1,
      setTimeout: (f, ms) => {
        const t = { f, ms, cleared: false };
        timers.push(t);
        return t;
      },
      clearTimeout: (t) => {
        if (t) t.cleared = true;
      },
    });
    store.enqueue(items(2));
    transport.schedule();
    const waits = [];
    for (let i = 0; i < 50 && store.size() > 0; i++) {
      await sleep(1); // let the transport run up to its next timer
      const next = timers.find((t) => !t.cleared && t.ms < 30000); // not a request timeout
      if (!next) continue;
      next.cleared = true;
      waits.push(next.ms);
      clock += next.ms;
      next.f();
    }
    assert.equal(store.size(), 0);
    // batchDelayMs, then 10×0.5, 20×0.25, 40, 80, 160 capped to 100, 100.
    assert.deepEqual(waits, [10, 5, 5, 40, 80, 100, 100]);
    assert.equal(calls, 7);
    assert.equal(transport.stats().retries, 6);
  });

  it('Retry-After from the real collector (429, rate-limited) is honoured over a shorter backoff', async () => {
    const limited = await startCollector({ rateLimit: 1 });
    cleanups.push(() => stopCollector(limited));
    const p = await startProxy(limited);
    cleanups.push(() => p.close());
    const { transport, store, counts } = await setup({ endpoint: p.url, baseBackoffMs: 10 });
    const before = await storedEventCount(limited);
    store.enqueue(items(900)); // 3 batches or more: the third is over the burst of 2
    const result = await transport.flush({ timeoutMs: 8000 });
    assert.deepEqual(result, { delivered: 900, pending: 0, failed: 0 });
    const i = p.requests.findIndex((r) => r.status === 429);
    assert.ok(i > 0, `a 429: ${p.requests.map((r) => r.status)}`);
    assert.equal(p.requests[i].headers['content-type'], 'text/plain');
    const next = p.requests[i + 1];
    assert.ok(next.at - p.requests[i].at >= 950, `retried ${next.at - p.requests[i].at} ms after the 429 (Retry-After: 1)`);
    assert.equal(counts.duplicate, 0);
    assert.equal(await storedEventCount(limited), before + 900);
  });

  it('retryAfterMs(): seconds or an HTTP date', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    assert.equal(retryAfterMs('2', now), 2000);
    assert.equal(retryAfterMs(' 0 ', now), 0);
    assert.equal(retryAfterMs('Wed, 01 May 2024 12:00:05 GMT', now), 5000);
    assert.equal(retryAfterMs('Wed, 01 May 2024 11:00:00 GMT', now), 0, 'a date in the past');
    assert.equal(retryAfterMs('soon', now), 0);
    assert.equal(retryAfterMs(null, now), 0);
  });

  it('400, 403 and 500 are final: dropped, counted, reported with the error body, never retried', async () => {
    const answers = [
      [400, 'invalid_batch', 'events: expected an array'],
      [403, 'origin_not_allowed', 'origin: not allowed for this site key'],
      [500, 'internal', 'unexpected request shape'],
    ];
    for (const [status, code, message] of answers) {
      const p = await proxy(() => ({ status, body: errorBody(code, message) }));
      const told = [];
      const { transport, store, errs } = await setup({ endpoint: p.url, onResults: (results, sent) => told.push([results.length, sent.length]) });
      store.enqueue(items(7));
      const result = await transport.flush({ timeoutMs: 3000 });
      assert.deepEqual(result, { delivered: 0, pending: 0, failed: 7 }, `HTTP ${status}`);
      assert.deepEqual(told, [[0, 7]], 'the owner hears that the store has room again (it may refill it)');
      assert.equal(p.requests.length, 1);
      assert.deepEqual(errs, [{ code: 'batch_refused', status, reason: code, message, events: 7 }]);
      assert.deepEqual(transport.stats(), { sent: 7, delivered: 0, retries: 0, refused: 7, lastStatus: status });
    }
  });

  it('413 from the real collector (--body-limit 16000): the batch is split until it fits; a lone oversized event is dropped and reported', async () => {
    const small = await startCollector({ extraArgs: ['--body-limit', '16000'] });
    cleanups.push(() => stopCollector(small));
    const fetchFn = recordingFetch();
    // Text bodies: gzip would bring these batches (and the 20 KB of 'x') under 16 000 bytes.
    const { transport, store, errs, counts } = await setup({ endpoint: small.url, fetch: fetchFn, compress: false });
    const anon = anonymousId();
    const normal = items(240, { anon });
    const huge = envelope(anon, { properties: { blob: 'x'.repeat(20000) } });
    store.enqueue(normal.slice(0, 120));
    store.enqueue([{ id: huge.id, body: huge, priority: 1 }]);
    store.enqueue(normal.slice(120));
    const result = await transport.flush({ timeoutMs: 10000 });
    assert.deepEqual(result, { delivered: 240, pending: 0, failed: 1 });
    const statuses = fetchFn.calls.map((c) => c.status);
    assert.ok(statuses.filter((s) => s === 413).length >= 2, `413s then smaller batches: ${statuses}`);
    assert.ok(fetchFn.calls.filter((c) => c.status === 200).every((c) => c.bodyBytes <= 16000));
    assert.equal(counts.accepted, 240);
    assert.equal(counts.duplicate, 0);
    assert.deepEqual(
      errs.map((e) => [e.code, e.id, e.status, e.reason]),
      [['event_rejected', huge.id, 413, 'payload_too_large']],
    );
    const stored = await profileIds(small, anon);
    assert.equal(stored.count, 240);
    const ids = new Set(normal.map((i) => i.id));
    assert.ok(stored.ids.length === 200 && stored.ids.every((id) => ids.has(id)), 'the profile lists the latest 200 touchpoints, all ours');
  });

  it('a 200 that is not the collector (a captive portal page) keeps the events for a retry', async () => {
    const p = await proxy(({ n }) => (n === 1 ? { status: 200, headers: { 'Content-Type': 'text/html' }, body: '<html>sign in</html>' } : null));
    const { transport, store, counts } = await setup({ endpoint: p.url });
    store.enqueue(items(5));
    const result = await transport.flush({ timeoutMs: 5000 });
    assert.deepEqual(result, { delivered: 5, pending: 0, failed: 0 });
    assert.equal(p.requests.length, 2);
    assert.equal(counts.accepted, 5);
  });

  it('offline: nothing is sent and flush() returns at once; the online event resumes', async () => {
    let online = false;
    const target = new EventTarget();
    const fetchFn = recordingFetch();
    const { transport, store, counts } = await setup({ fetch: fetchFn, isOnline: () => online, eventTarget: target });
    store.enqueue(items(20));
    transport.schedule();
    await sleep(80);
    assert.equal(fetchFn.calls.length, 0);
    const t0 = Date.now();
    const result = await transport.flush({ timeoutMs: 5000 });
    assert.deepEqual(result, { delivered: 0, pending: 20, failed: 0 });
    assert.ok(Date.now() - t0 < 100, 'gave up at once');
    assert.equal(transport.sendOnUnload(), 0);
    online = true;
    target.dispatchEvent(new Event('online'));
    await waitFor(() => store.size() === 0, { timeoutMs: 3000, what: 'delivery once online' });
    assert.equal(counts.accepted, 20);
  });

  it('flush() with the collector down settles at its timeout; a later flush delivers', async () => {
    const port = await freePort();
    let endpoint = `http://127.0.0.1:${port}`;
    const { transport, store, errs } = await setup({
      endpoint: 'http://placeholder.invalid',
      fetch: (url, init) => fetch(url.replace('http://placeholder.invalid', endpoint), init),
    });
    store.enqueue(items(5));
    const t0 = Date.now();
    const result = await transport.flush({ timeoutMs: 600 });
    const took = Date.now() - t0;
    assert.deepEqual(result, { delivered: 0, pending: 5, failed: 0 });
    assert.ok(took >= 550 && took < 1500, `settled after ${took} ms`);
    assert.ok(transport.stats().retries >= 2, `retried ${transport.stats().retries} times`);
    assert.deepEqual(errs, []);
    // A send may still be under way when flush() gives up (compressing, or its connection
    // being refused): once it fails the events are free again, never stuck in flight.
    await waitFor(() => store.peek().length === 5, { timeoutMs: 2000, what: 'nothing left in flight' });

    endpoint = ctx.srv.url; // the collector is back
    assert.deepEqual(await transport.flush({ timeoutMs: 5000 }), { delivered: 5, pending: 0, failed: 0 });
  });

  it('flush() cuts a long backoff short', async () => {
    const p = await proxy(({ n }) => (n === 1 ? { status: 503, body: errorBody('overloaded', 'busy') } : null));
    const { transport, store } = await setup({ endpoint: p.url, baseBackoffMs: 30000, maxBackoffMs: 60000, random: () => 1 });
    store.enqueue(items(3));
    transport.schedule();
    await waitFor(() => p.requests.length === 1 && transport.stats().retries === 1, { what: 'the 503' });
    const t0 = Date.now();
    assert.deepEqual(await transport.flush({ timeoutMs: 5000 }), { delivered: 3, pending: 0, failed: 0 });
    assert.ok(Date.now() - t0 < 1000);
  });
});

describe('transport: tabs and page hide', () => {
  it('two tabs (one store name, one lock) sending at once: every event delivered once, 0 duplicates', async () => {
    const ls = new FakeLocalStorage();
    let holders = 0;
    let overlap = 0;
    let tail = Promise.resolve();
    const lock = (name, fn) => {
      assert.equal(name, `waymark-send:${SITE_KEY}`);
      const run = tail.then(async () => {
        holders++;
        if (holders > 1) overlap++;
        try {
          return await fn();
        } finally {
          holders--;
        }
      });
      tail = run.catch(() => {});
      return run;
    };
    const tabs = [];
    for (let i = 0; i < 2; i++) {
      const store = await openStore({ name: 'two-tabs', indexedDB: null, localStorage: ls });
      tabs.push(await setup({ store, lock, fetch: recordingFetch() }));
    }
    const before = await storedEventCount(ctx.srv);
    tabs[0].store.enqueue(items(400));
    tabs[1].store.enqueue(items(400));
    const late = items(50);
    const [r0, r1] = await Promise.all([
      tabs[0].transport.flush({ timeoutMs: 10000 }),
      (async () => {
        await sleep(5);
        tabs[1].store.enqueue(late); // while tab 0 sends
        tabs[1].transport.schedule();
        return tabs[1].transport.flush({ timeoutMs: 10000 });
      })(),
    ]);
    assert.equal(r0.delivered + r1.delivered, 850);
    assert.equal(r0.pending + r1.pending, 0);
    const duplicates = tabs[0].counts.duplicate + tabs[1].counts.duplicate;
    assert.equal(duplicates, 0, 'no event sent twice');
    assert.equal(tabs[0].counts.accepted + tabs[1].counts.accepted, 850);
    assert.ok(tabs[0].counts.accepted > 400, 'tab 0 sent events tab 1 had persisted');
    assert.equal(overlap, 0, 'never two senders at once');
    assert.equal(await storedEventCount(ctx.srv), before + 850);
    assert.deepEqual(ls.keysWith('two-tabs:q:'), []);
  });

  it('sendOnUnload(): a keepalive fetch without the lock; the items stay in flight until the 200 removes them', async () => {
    const fetchFn = recordingFetch();
    let locked = 0;
    const { transport, store, counts } = await setup({
      fetch: fetchFn,
      lock: (name, fn) => {
        locked++;
        return fn();
      },
    });
    store.enqueue(items(30));
    assert.equal(transport.sendOnUnload(), 30);
    assert.equal(fetchFn.calls.length, 1, 'sent synchronously');
    assert.equal(fetchFn.calls[0].init.keepalive, true);
    assert.equal(typeof fetchFn.calls[0].init.body, 'string', 'text: the page-hide send cannot wait for the compressor');
    assert.equal(fetchFn.calls[0].url, `${ctx.srv.url}/v1/batch`);
    assert.equal(JSON.parse(fetchFn.calls[0].init.body).site_key, SITE_KEY);
    assert.equal(locked, 0);
    assert.equal(store.size(), 30, 'not removed before the answer');
    assert.equal(store.peek().length, 0, 'in flight');
    assert.equal(transport.sendOnUnload(), 0, 'nothing left to send');
    await waitFor(() => store.size() === 0, { timeoutMs: 3000, what: 'the keepalive answer' });
    assert.equal(counts.accepted, 30);
  });

  it('sendOnUnload() with 60 KB at most: the rest waits for the next send', async () => {
    const fetchFn = recordingFetch();
    const { transport, store } = await setup({ fetch: fetchFn });
    store.enqueue(items(600));
    const n = transport.sendOnUnload();
    assert.ok(n > 100 && n < 600, `${n} events`);
    assert.ok(fetchFn.calls[0].bodyBytes <= 60000);
    assert.equal(store.peek({ maxEvents: 1000, maxBytes: 1e9 }).length, 600 - n);
    await transport.flush({ timeoutMs: 5000 });
    assert.equal(store.size(), 0);
  });

  it('sendOnUnload() fits more events than 60 KB of whole envelopes: what they share goes once, in common', async () => {
    const fetchFn = recordingFetch();
    const { transport, store, counts } = await setup({ fetch: fetchFn });
    const anon = anonymousId();
    const context = { url: 'https://shop.example/pricing?utm_source=newsletter&utm_medium=email', path: '/pricing', title: 'Pricing: plans for every team size', referrer: 'https://news.example/' };
    const list = Array.from({ length: 200 }, (_, i) => {
      const body = envelope(anon, { name: 'feature_used', properties: { i, section: `pricing-table-${i}`, plan: 'pro' }, context, stage: 'awareness' });
      return { id: body.id, body, priority: 1 };
    });
    store.enqueue(list);
    const whole = list.reduce((n, it) => n + JSON.stringify(it.body).length, 0);
    assert.ok(whole > 60000, `the 200 envelopes are ${whole} bytes whole`);
    assert.equal(transport.sendOnUnload(), 200, 'all 200 in the one page-hide request');
    const sent = JSON.parse(fetchFn.calls[0].init.body);
    assert.ok(fetchFn.calls[0].bodyBytes <= 60000, `${fetchFn.calls[0].bodyBytes} bytes`);
    assert.deepEqual(sent.common.context, context);
    assert.equal(sent.common.anonymous_id, anon);
    assert.ok(sent.events.every((e) => e.context === undefined && e.anonymous_id === undefined));
    await waitFor(() => store.size() === 0, { timeoutMs: 3000, what: 'the keepalive answer' });
    assert.equal(counts.accepted, 200, 'the collector put the shared fields back into each event');
  });

  it('sendOnUnload(extra): events waiting in memory for room in the store go in the same request', async () => {
    const fetchFn = recordingFetch();
    const { transport, store, counts } = await setup({ fetch: fetchFn });
    store.enqueue(items(5));
    const waiting = items(7);
    assert.equal(transport.sendOnUnload(waiting), 12);
    assert.deepEqual(JSON.parse(fetchFn.calls[0].init.body).events.slice(5).map((e) => e.id), waiting.map((it) => it.id));
    await waitFor(() => counts.accepted === 12, { timeoutMs: 3000, what: 'the answer for all 12' });
  });

  it('a send that fails once the page is hidden: not repeated by the next page-hide send, retried after hiddenRetryMs', async () => {
    let failNext = true;
    const fetchFn = (url, init) => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new TypeError('Failed to fetch'));
      }
      return fetch(url, init);
    };
    const { transport, store } = await setup({ fetch: fetchFn, hiddenRetryMs: 300 });
    store.enqueue(items(10));
    assert.equal(transport.sendOnUnload(), 10);
    await sleep(50); // the failure arrives (the page only lost the answer: the browser may still deliver it)
    assert.equal(store.peek().length, 0, 'still in flight');
    assert.equal(transport.sendOnUnload(), 0, 'the second page-hide event does not spend the budget on them');
    // The page stayed (a background tab): they are sent again, without resume() or flush().
    await waitFor(() => store.size() === 0, { timeoutMs: 5000, what: 'the retry after hiddenRetryMs' });
  });

  it('an ordinary send that fails in a hidden tab is retried like any other (never stuck in flight)', async () => {
    let fail = 1;
    const fetchFn = (url, init) => (fail-- > 0 ? Promise.reject(new TypeError('Failed to fetch')) : fetch(url, init));
    const { transport, store } = await setup({ fetch: fetchFn, hiddenRetryMs: 100 });
    transport.sendOnUnload(); // the page was hidden (nothing queued yet)
    store.enqueue(items(3));
    const r = await transport.flush({ timeoutMs: 5000 });
    assert.equal(r.pending, 0, JSON.stringify(r));
  });

  it('sendOnUnload() when fetch throws: sendBeacon with the key in the body; the next page resends and the collector answers duplicate', async () => {
    const ls = new FakeLocalStorage();
    const page1 = await openStore({ name: 'unload', indexedDB: null, localStorage: ls });
    const beacons = [];
    const delivered = [];
    // A beacon that really goes out (without headers, as browsers send it).
    const sendBeacon = (url, body) => {
      beacons.push({ url, body });
      const u = new URL(url);
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false, headers: { 'Content-Type': 'text/plain;charset=UTF-8' } }, (res) => {
        res.resume();
        res.on('end', () => delivered.push(res.statusCode));
      });
      req.end(body);
      return true;
    };
    const { transport } = await setup({
      store: page1,
      sendBeacon,
      fetch: () => {
        throw new TypeError('fetch is not available during unload');
      },
    });
    const anon = anonymousId();
    const batch = items(12, { anon });
    page1.enqueue(batch);
    await page1.flushWrites();
    const before = await storedEventCount(ctx.srv);
    assert.equal(transport.sendOnUnload(), 12);
    assert.equal(beacons.length, 1);
    assert.equal(beacons[0].url, `${ctx.srv.url}/v1/batch`);
    assert.equal(JSON.parse(beacons[0].body).site_key, SITE_KEY);
    assert.equal(page1.size(), 12, 'kept: the beacon has no answer');
    await waitFor(() => delivered.length === 1, { what: 'the beacon' });
    assert.deepEqual(delivered, [200]);

    // The next page load: the same events again, answered duplicate, stored once.
    const page2 = await openStore({ name: 'unload', indexedDB: null, localStorage: ls });
    assert.equal(page2.size(), 12);
    const next = await setup({ store: page2 });
    assert.deepEqual(await next.transport.flush({ timeoutMs: 5000 }), { delivered: 12, pending: 0, failed: 0 });
    assert.equal(next.counts.duplicate, 12);
    assert.equal(await storedEventCount(ctx.srv), before + 12);
    assert.equal((await profileIds(ctx.srv, anon)).count, 12);
    assert.deepEqual(ls.keysWith('unload:q:'), []);
  });

  it('never throws into the caller: a throwing store, a throwing onError, a missing fetch', async () => {
    const broken = {
      size: () => {
        throw new Error('boom');
      },
      peek: () => {
        throw new Error('boom');
      },
    };
    const t = createTransport({ endpoint: 'http://127.0.0.1:1', siteKey: SITE_KEY, store: broken, onError: () => {
      throw new Error('listener');
    }, fetch: null, sendBeacon: undefined, eventTarget: null });
    cleanups.push(Object.assign(() => t.stop(), { early: true }));
    assert.doesNotThrow(() => t.schedule());
    assert.doesNotThrow(() => t.sendOnUnload());
    const r = await t.flush({ timeoutMs: 200 });
    assert.equal(typeof r, 'object');
  });
});

describe('transport: compressed uploads', () => {
  it('gzipText(): gzip bytes that gunzip to the text; null without CompressionStream or when it throws', async () => {
    const text = JSON.stringify({ events: Array.from({ length: 50 }, (_, i) => ({ name: 'feature_used', i, note: 'héllo wörld ✓' })) });
    const gz = await gzipText(text);
    assert.ok(gz instanceof Uint8Array);
    assert.equal(zlib.gunzipSync(gz).toString('utf8'), text);
    assert.ok(gz.byteLength < Buffer.byteLength(text) / 4, `${gz.byteLength} of ${Buffer.byteLength(text)} bytes`);
    assert.equal(await withCompressionStream(undefined, () => gzipText(text)), null, 'missing (Node < 18, old browsers)');
    class Throws {
      constructor() {
        throw new TypeError('Unsupported compression format');
      }
    }
    assert.equal(await withCompressionStream(Throws, () => gzipText(text)), null, 'throws at construction');
    class Fails {
      constructor() {
        const t = new TransformStream({ transform() { throw new Error('compressor broke'); } });
        this.writable = t.writable;
        this.readable = t.readable;
      }
    }
    assert.equal(await withCompressionStream(Fails, () => gzipText(text)), null, 'fails while compressing');
  });

  it('compressed batches (?encoding=gzip) are accepted and stored by the real collector, each event once', async () => {
    const p = await proxy(() => null);
    const { transport, store, errs, counts } = await setup({ endpoint: p.url, store: await bigStore() });
    const anon = anonymousId();
    const list = burst(700, { anon });
    store.enqueue(list);
    const before = await storedEventCount(ctx.srv);
    assert.deepEqual(await transport.flush({ timeoutMs: 15000 }), { delivered: 700, pending: 0, failed: 0 });
    assert.deepEqual(errs, []);
    assert.equal(counts.accepted, 700);
    assert.ok(p.requests.length >= 2);
    for (const r of p.requests) {
      assert.equal(r.url, `/v1/batch?key=${SITE_KEY}&encoding=gzip`);
      assert.equal(r.encoding, 'gzip');
      assert.equal(r.headers['content-type'], 'text/plain');
      assert.equal(r.headers['content-encoding'], undefined);
      assert.equal(r.status, 200);
      assert.ok(r.bytes <= 60000);
    }
    assert.equal(await storedEventCount(ctx.srv), before + 700);
    const stored = await profileIds(ctx.srv, anon);
    assert.equal(stored.count, 700);
  });

  it('without CompressionStream (or when it throws): the same batches as text, no query parameter, all stored', async () => {
    for (const replacement of [undefined, class { constructor() { throw new Error('no gzip here'); } }]) {
      const fetchFn = recordingFetch();
      const { transport, store, errs, counts } = await setup({ fetch: fetchFn });
      store.enqueue(burst(300));
      const result = await withCompressionStream(replacement, () => transport.flush({ timeoutMs: 10000 }));
      assert.deepEqual(result, { delivered: 300, pending: 0, failed: 0 });
      assert.deepEqual(errs, []);
      assert.equal(counts.accepted, 300);
      for (const c of fetchFn.calls) {
        assert.equal(c.url, `${ctx.srv.url}/v1/batch`);
        assert.equal(typeof c.init.body, 'string');
        assert.equal(c.status, 200);
      }
    }
  });

  it('bytes on the wire: the 2 000-event burst in well under half the bytes of text', async (t) => {
    const measure = async (compress) => {
      const p = await proxy(() => null);
      const { transport, store, counts } = await setup({ endpoint: p.url, compress, store: await bigStore() });
      store.enqueue(burst(2000));
      assert.deepEqual(await transport.flush({ timeoutMs: 20000 }), { delivered: 2000, pending: 0, failed: 0 });
      assert.equal(counts.accepted, 2000);
      return { bytes: p.requests.reduce((n, r) => n + r.bytes, 0), requests: p.requests.length };
    };
    const text = await measure(false);
    const gzip = await measure(true);
    t.diagnostic(`text: ${text.bytes} B in ${text.requests} requests (${(text.bytes / 2000).toFixed(1)} B/event); gzip: ${gzip.bytes} B in ${gzip.requests} requests (${(gzip.bytes / 2000).toFixed(1)} B/event)`);
    assert.ok(gzip.bytes <= 0.5 * text.bytes, `gzip ${gzip.bytes} B against text ${text.bytes} B`);
  });

  it('a collector that cannot read ?encoding=gzip (400 invalid_json, as an older one answers): the batch again as text, and text from then on', async () => {
    const p = await proxy(({ req }) => (req.url.includes('encoding=') ? { status: 400, body: errorBody('invalid_json', 'body: not valid JSON') } : null));
    const { transport, store, errs, counts } = await setup({ endpoint: p.url, store: await bigStore() });
    store.enqueue(burst(400));
    assert.deepEqual(await transport.flush({ timeoutMs: 10000 }), { delivered: 400, pending: 0, failed: 0 });
    assert.deepEqual(errs, [], 'not reported: the events were delivered');
    assert.equal(counts.accepted, 400);
    assert.deepEqual(
      p.requests.map((r) => [r.encoding, r.status]),
      [['gzip', 400], ...p.requests.slice(1).map(() => [null, 200])],
    );
    assert.ok(p.requests.length >= 3, 'the batches after the refusal went as text at once');
  });

  it('415 for the coding: the same fallback to text', async () => {
    const p = await proxy(({ req }) => (req.url.includes('encoding=') ? { status: 415, body: errorBody('unsupported_encoding', 'encoding=gzip (query parameter) is not supported') } : null));
    const { transport, store, errs } = await setup({ endpoint: p.url });
    store.enqueue(burst(20));
    assert.deepEqual(await transport.flush({ timeoutMs: 5000 }), { delivered: 20, pending: 0, failed: 0 });
    assert.deepEqual(errs, []);
    assert.deepEqual(p.requests.map((r) => r.status), [415, 200]);
  });

  it('the keepalive budget counts the compressed bytes of a send in flight: a page-hide send gets the rest', async () => {
    let release;
    const held = new Promise((resolve) => (release = resolve));
    const fetchFn = recordingFetch();
    const holding = (url, init) => (new URL(url).searchParams.get('encoding') ? held.then(() => fetchFn(url, init)) : fetchFn(url, init));
    const calls = [];
    const { transport, store, counts } = await setup({ store: await bigStore(), fetch: (url, init) => (calls.push(sentBody(url, init)), holding(url, init)) });
    store.enqueue(burst(150)); // about 55 KB as text: one regular batch
    transport.schedule();
    await waitFor(() => calls.length === 1, { what: 'the regular send' });
    const inFlight = calls[0];
    assert.equal(inFlight.gzip, true);
    assert.ok(inFlight.bytes < 15000, `compressed: ${inFlight.bytes} B`);
    store.enqueue(burst(400));
    const n = transport.sendOnUnload();
    const unload = calls[1];
    assert.equal(unload.gzip, false);
    assert.ok(unload.bytes + inFlight.bytes <= 65536, `${unload.bytes} + ${inFlight.bytes} B within the browser's 64 KB`);
    // Counted as text (about 55 KB) the regular send would have left the page-hide send about 10 KB.
    assert.ok(unload.bytes > 40000, `the page-hide send had room for ${unload.bytes} B (${n} events)`);
    release();
    await transport.flush({ timeoutMs: 10000 });
    assert.equal(store.size(), 0);
    assert.equal(counts.accepted, 550);
    assert.equal(counts.duplicate, 0);
  });

  it('page hide while a batch is being compressed: its events go in the page-hide request (text), and the compressed send never happens', async () => {
    const Real = globalThis.CompressionStream;
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    let started = 0;
    // A compressor that holds its output until the gate opens (a slow device).
    class Slow {
      constructor(format) {
        started++;
        const real = new Real(format);
        this.writable = real.writable;
        this.readable = real.readable.pipeThrough(new TransformStream({ async transform(chunk, c) { await gate; c.enqueue(chunk); } }));
      }
    }
    await withCompressionStream(Slow, async () => {
      const fetchFn = recordingFetch();
      const { transport, store, counts } = await setup({ fetch: fetchFn });
      const list = burst(40);
      store.enqueue(list);
      transport.schedule();
      await waitFor(() => started === 1 && store.peek().length === 0, { what: 'the batch in the compressor' });
      assert.equal(fetchFn.calls.length, 0);
      const later = burst(5);
      store.enqueue(later);
      assert.equal(transport.sendOnUnload(), 45, 'the 40 being compressed, then the 5 queued');
      assert.equal(fetchFn.calls.length, 1);
      assert.equal(fetchFn.calls[0].gzip, false);
      assert.deepEqual(fetchFn.calls[0].batch.events.map((e) => e.id), [...list, ...later].map((it) => it.id));
      release();
      await waitFor(() => store.size() === 0, { timeoutMs: 5000, what: 'the page-hide answer' });
      await transport.flush({ timeoutMs: 2000 });
      assert.equal(fetchFn.calls.length, 1, 'the compressed batch was not sent as well');
      assert.equal(counts.accepted, 45);
      assert.equal(counts.duplicate, 0);
      assert.equal(transport.stats().sent, 45);
    });
  });
});

describe('compactBatch', () => {
  it('sends the most frequent value of a shared field once; events with another value keep theirs', () => {
    const ctxA = { path: '/a' };
    const events = [
      { id: '1', anonymous_id: 'v', context: ctxA, type: 'page' },
      { id: '2', anonymous_id: 'v', context: { path: '/a' }, type: 'track' },
      { id: '3', anonymous_id: 'v', context: { path: '/b' }, type: 'track', user_id: 'u1' },
    ];
    const batch = compactBatch('k', 5, events);
    assert.deepEqual(batch.common, { anonymous_id: 'v', context: { path: '/a' }, type: 'track' });
    assert.deepEqual(batch.events, [
      { id: '1', type: 'page' },
      { id: '2' },
      { id: '3', context: { path: '/b' }, user_id: 'u1' },
    ]);
    const restored = batch.events.map((e) => ({ ...batch.common, ...e }));
    assert.deepEqual(restored, events, 'merging common back gives the events');
    assert.equal(events[0].anonymous_id, 'v', 'the given events are not changed');
  });

  it('never shares a field some event lacks, nor a value no two events have', () => {
    const events = [{ id: '1', user_id: 'u' }, { id: '2' }, { id: '3', stage: 'a' }, { id: '4', stage: 'b' }];
    const batch = compactBatch('k', 5, events);
    assert.equal(batch.common, undefined);
    assert.equal(batch.events, events);
    assert.equal(compactBatch('k', 5, [{ id: '1', anonymous_id: 'v' }]).common, undefined, 'one event: nothing to share');
  });
});
