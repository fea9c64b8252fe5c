// Delivers the store's queue to the collector: POST /v1/batch, one batch at a time per site key
// across tabs (a Web Lock), retries with exponential backoff and full jitter, Retry-After
// honoured, 413 answered by splitting, final refusals dropped and reported, and a keepalive send
// at page hide. Events are removed from the store only once the collector answered for them
// (accepted, duplicate or rejected): delivery is at least once, and the collector's idempotency
// on event id makes it exactly once in storage.
//
// Regular batches go gzip-compressed where the browser has CompressionStream (a burst of similar
// events takes a fifth to an eighth of the bytes). The coding is named in the URL
// (`/v1/batch?key=...&encoding=gzip`), not in a Content-Encoding header, which would cost every
// send a CORS preflight. The page-hide send stays text: it must call fetch synchronously and
// cannot wait for the compressor.
import { KEEPALIVE_BUDGET, MAX_BATCH_BYTES, MAX_BATCH_EVENTS as MAX_EVENTS } from './limits.js';
import { utf8Length } from './storage.js';

// Batch sizes are the core's (limits.js, generated from core/include/waymark/limits.h): at most
// the collector's default events per batch, under the keepalive budget shared by every keepalive
// request of the page.
const ENVELOPE_BYTES = 1024; // {"site_key","sent_at","events":[]} and the commas between events
const MAX_RETRY_AFTER_MS = 86400000;
const TIMEOUT = {};

// Fallback when Web Locks are missing: a mutex per lock name within this page. Other tabs may
// then send the same events at the same time; the collector answers the second copy `duplicate`.
const tails = new Map();
function pageMutex(name, fn) {
  const run = (tails.get(name) || Promise.resolve()).then(fn);
  tails.set(
    name,
    run.then(
      () => {},
      () => {},
    ),
  );
  return run;
}

// Fields a batch's events often share (one visitor, one page): the most frequent value is sent
// once, in `common`, and the collector puts it back into each event that has no value of its own,
// so the 64 KB a page may send while it unloads holds about twice as many events. A field some
// event lacks is never shared (the event would gain it).
const SHARED_FIELDS = ['anonymous_id', 'user_id', 'context', 'stage', 'type', 'unfiltered'];

/** The batch object for `events` (envelope bodies), with what most of them share in `common`. */
export function compactBatch(siteKey, sentAt, events) {
  const batch = { site_key: siteKey, sent_at: sentAt, events };
  if (events.length < 2) return batch;
  const common = {};
  const shared = new Map(); // field -> per event: true when its value is the common one
  for (const key of SHARED_FIELDS) {
    if (events.some((e) => e[key] === undefined)) continue;
    const texts = events.map((e) => JSON.stringify(e[key]));
    const counts = new Map();
    let best = null;
    let bestCount = 1;
    for (const t of texts) {
      const n = (counts.get(t) || 0) + 1;
      counts.set(t, n);
      if (n > bestCount) {
        best = t;
        bestCount = n;
      }
    }
    if (best === null) continue; // no value occurs twice
    const index = texts.indexOf(best);
    common[key] = events[index][key];
    shared.set(key, texts.map((t) => t === best));
  }
  if (shared.size === 0) return batch;
  batch.common = common;
  batch.events = events.map((e, i) => {
    const rest = { ...e };
    for (const [key, same] of shared) if (same[i]) delete rest[key];
    return rest;
  });
  return batch;
}

/**
 * `text` gzip-compressed with CompressionStream (browsers, Node 18+), as bytes; null where
 * CompressionStream is missing or fails: the caller then sends the text. Asynchronous, never
 * rejects.
 */
export async function gzipText(text) {
  try {
    const Compressor = globalThis.CompressionStream;
    if (typeof Compressor !== 'function' || typeof TextEncoder !== 'function') return null;
    const stream = new Compressor('gzip');
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    // Written while it is read: the transform runs only when a read is waiting.
    const written = writer.write(new TextEncoder().encode(text)).then(() => writer.close());
    written.catch(() => {}); // the read below fails too, and says so
    const chunks = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
    await written;
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return size ? out : null;
  } catch {
    return null;
  }
}

// The largest prefix of `items` whose body (`payload(list)`) fits in `room` bytes, and that body
// (the sizes the store knows are of whole events, before compactBatch took out what they share).
// Each try shrinks the prefix in proportion to how much it is over: a few tries, each linear.
function fitBatch(items, room, payload) {
  let list = items;
  for (;;) {
    const body = payload(list);
    const bytes = utf8Length(body);
    if (bytes <= room) return { list, body };
    if (list.length <= 1) return { list: [], body: '' };
    list = list.slice(0, Math.max(1, Math.min(list.length - 1, Math.floor((list.length * room) / bytes))));
  }
}

// Every batch POST: keepalive (it may outlive the page), no cookies, and text/plain, which keeps it
// a CORS simple request (no preflight) whatever the body holds.
function postInit(body) {
  return { method: 'POST', body, keepalive: true, credentials: 'omit', headers: { 'Content-Type': 'text/plain' } };
}

/**
 * One keepalive send without a transport, for a page hide before init() has finished: as many of
 * `items` as fit in 60 KB, with fetch, else sendBeacon; no answer is waited for and nothing is
 * retried (the tracker stores the same events once it runs, and sends them again: a copy that
 * arrived is answered `duplicate`). Returns how many were sent; never throws.
 */
export function sendOnce({ endpoint, siteKey, items, fetch: fetchFn = globalThis.fetch, sendBeacon, now = Date.now }) {
  try {
    const url = `${String(endpoint || '').replace(/\/+$/, '')}/v1/batch`;
    const { list, body } = fitBatch(items.slice(0, MAX_EVENTS), MAX_BATCH_BYTES, (l) => JSON.stringify(compactBatch(siteKey, now(), l.map((it) => it.body))));
    if (!list.length) return 0;
    try {
      const pending = fetchFn(url, postInit(body));
      Promise.resolve(pending).catch(() => {}); // the page is going: nobody reads the answer
      return list.length;
    } catch {
      const nav = globalThis.navigator;
      const beacon = sendBeacon || (nav && nav.sendBeacon ? nav.sendBeacon.bind(nav) : null);
      return beacon && beacon(url, body) ? list.length : 0;
    }
  } catch {
    return 0;
  }
}

/** Retry-After (delay in seconds, or an HTTP date) as milliseconds from `nowMs`; 0 when absent or unreadable. */
export function retryAfterMs(value, nowMs) {
  if (value == null || String(value).trim() === '') return 0;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - nowMs;
  return ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : 0;
}

/**
 * Options: endpoint, siteKey, store (storage.js), onResults(results, items) (after every answer
 * that removed events from the store: results is empty for a batch refused as a whole), onError(err), fetch,
 * sendBeacon, now, random, setTimeout, clearTimeout, isOnline, lock(name, fn), eventTarget (where
 * the `online` event is heard; globalThis), batchEvents (100), batchDelayMs (1000), maxBackoffMs
 * (60000), baseBackoffMs (500), requestTimeoutMs (30000), hiddenRetryMs (5000), compress (true:
 * gzip regular batches where CompressionStream is available).
 */
export function createTransport(options = {}) {
  const o = options;
  const store = o.store;
  const siteKey = o.siteKey;
  const nav = globalThis.navigator;
  const fetchFn = 'fetch' in o ? o.fetch : globalThis.fetch ? (url, init) => globalThis.fetch(url, init) : null;
  const beacon = 'sendBeacon' in o ? o.sendBeacon : nav && nav.sendBeacon ? nav.sendBeacon.bind(nav) : undefined;
  const now = o.now || Date.now;
  const random = o.random || Math.random;
  const setT = o.setTimeout || ((f, ms) => setTimeout(f, ms));
  const clearT = o.clearTimeout || ((t) => clearTimeout(t));
  const isOnline = o.isOnline || (() => !nav || nav.onLine !== false);
  let lock = o.lock || (nav && nav.locks && typeof nav.locks.request === 'function' ? (name, fn) => nav.locks.request(name, fn) : pageMutex);
  const events = 'eventTarget' in o ? o.eventTarget : globalThis;
  const num = (v, d) => (typeof v === 'number' && v >= 0 ? v : d);
  const batchEvents = num(o.batchEvents, 100);
  const batchDelayMs = num(o.batchDelayMs, 1000);
  const maxBackoffMs = num(o.maxBackoffMs, 60000);
  const baseBackoffMs = num(o.baseBackoffMs, 500);
  const requestTimeoutMs = num(o.requestTimeoutMs, 30000);
  const hiddenRetryMs = num(o.hiddenRetryMs, 5000);
  // Off for the rest of the page once the collector (or something on the way) refused a
  // compressed batch: an older collector reads `?encoding=gzip` bodies as text (400 invalid_json).
  let compress = o.compress !== false;
  // The batch being compressed, if any: a page-hide send meanwhile takes its events (`taken`,
  // their ids), since the compressed send may never happen once the page is gone.
  let packing = null;

  const url = `${String(o.endpoint || '').replace(/\/+$/, '')}/v1/batch`;
  // A compressed batch names its coding in the URL, and its site key too (it is in the body as
  // well): the collector reads the key from the URL before the body, so a page can read even an
  // answer about a body it could not decode (CORS headers), and fall back to text.
  const encodedUrl = `${url}?${siteKey ? `key=${encodeURIComponent(siteKey)}&` : ''}encoding=`;
  const lockName = `waymark-send:${siteKey}`;
  const stats = { sent: 0, delivered: 0, retries: 0, refused: 0, lastStatus: 0 };
  let attempt = 0; // consecutive failed attempts
  let backoffAt = 0; // our own backoff: flush() may cut it short
  let retryAt = 0; // the server's Retry-After: always respected
  let timer = null;
  let timerAt = 0;
  let pumping = null;
  let stopped = false;
  let keepaliveBytes = 0; // bodies of our keepalive requests in flight
  const unloads = new Set(); // pending keepalive sends made at page hide
  // A send that fails once the page is hidden may still reach the collector (the browser carries
  // keepalive requests on while the page unloads, the page only loses the answer): its events stay
  // in flight for hiddenRetryMs, so the second page-hide event (visibilitychange, then pagehide)
  // does not spend the keepalive budget on them again. A page that stays (a background tab) sends
  // them again after that, or at once when it is visible again (resume()).
  let hidden = false;
  const sentFromMemory = new Set(); // ids of `extra` events sent at this page hide
  const deferred = new Set(); // waits before failed sends of a hidden page are offered again
  const unsettled = (ids) => {
    if (!hidden) {
      store.markInFlight(ids, false);
      return;
    }
    const waited = sleep(hiddenRetryMs).then(() => {
      deferred.delete(waited);
      store.markInFlight(ids, false);
      schedule();
    });
    deferred.add(waited);
  };

  function report(err) {
    try {
      if (o.onError) o.onError(err);
    } catch {
      // a throwing listener must not break delivery
    }
  }
  const online = () => {
    try {
      return isOnline() !== false;
    } catch {
      return true;
    }
  };
  const sleep = (ms) => new Promise((resolve) => setT(resolve, ms));
  function race(promise, ms) {
    let t;
    return Promise.race([promise, new Promise((resolve) => (t = setT(() => resolve(TIMEOUT), Math.max(0, ms))))]).finally(() => clearT(t));
  }

  const payload = (items) => JSON.stringify(compactBatch(siteKey, now(), items.map((it) => it.body)));

  // One POST of `body` (text, or bytes in `encoding`). Calls fetch synchronously (and throws if
  // it does: sendOnUnload then falls back to sendBeacon); the promise resolves to { status,
  // headers, body (parsed JSON or null) }, or to null on a network error or timeout, and never
  // rejects. The keepalive budget counts the bytes that go out: compressed ones when compressed.
  // Content-Type stays text/plain even for gzip bytes: a CORS simple request needs no preflight.
  function post(body, encoding = null) {
    const bytes = typeof body === 'string' ? utf8Length(body) : body.byteLength;
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    const init = postInit(body);
    if (ctl) init.signal = ctl.signal;
    const pending = fetchFn(encoding ? encodedUrl + encoding : url, init);
    keepaliveBytes += bytes;
    const t = ctl ? setT(() => ctl.abort(), requestTimeoutMs) : null;
    return Promise.resolve(pending)
      .then(async (res) => {
        const text = await res.text();
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON: a proxy's page, an empty body
        }
        return { status: res.status, headers: res.headers, body: json };
      })
      .catch(() => null)
      .finally(() => {
        if (t !== null) clearT(t);
        keepaliveBytes -= bytes;
      });
  }

  // A 200: removes every item the collector answered for. Returns 'ok', or 'retry' when the
  // answer acknowledged nothing (a 200 from something that is not the collector).
  function settle(items, res) {
    const results = res.body && Array.isArray(res.body.results) ? res.body.results : [];
    const sent = new Set(items.map((it) => it.id));
    const done = [];
    for (const r of results) {
      if (!r || !sent.has(r.id)) continue;
      if (r.status === 'accepted' || r.status === 'duplicate') stats.delivered++;
      else if (r.status === 'rejected') {
        stats.refused++;
        report({ code: 'event_rejected', id: r.id, reason: r.reason, message: r.message });
      } else continue;
      sent.delete(r.id);
      done.push(r.id);
    }
    store.remove(done);
    store.markInFlight([...sent], false);
    if (!done.length) return retry(res);
    try {
      if (o.onResults) o.onResults(results, items);
    } catch {
      // the listener's problem
    }
    return 'ok';
  }

  function retry(res) {
    stats.retries++;
    const t = now();
    const cap = Math.min(maxBackoffMs, baseBackoffMs * 2 ** attempt);
    attempt++;
    backoffAt = t + random() * cap; // full jitter
    retryAt = t + retryAfterMs(res && res.headers && res.headers.get ? res.headers.get('Retry-After') : null, t);
    return 'retry';
  }

  const errorOf = (res) => (res.body && res.body.error) || {};

  // The batch's body: gzip bytes when compressing is on, works and saves bytes, else the text.
  // Resolves to null when a page-hide send took the batch's events while they were compressed.
  async function pack(items) {
    const text = payload(items);
    if (!compress) return { body: text, encoding: null };
    const job = { items, taken: null };
    packing = job;
    let packed = null;
    try {
      packed = await gzipText(text);
    } finally {
      if (packing === job) packing = null;
    }
    if (job.taken) {
      // The page-hide request carries (and settles) the events it took; the rest are offered
      // again. Nothing of this batch went out from here.
      store.markInFlight(items.filter((it) => !job.taken.has(it.id)).map((it) => it.id), false);
      stats.sent -= items.length;
      return null;
    }
    return packed && packed.byteLength < utf8Length(text) ? { body: packed, encoding: 'gzip' } : { body: text, encoding: null };
  }

  // Sends one batch (splitting it on 413); resolves to 'ok' | 'retry' | 'final'.
  async function deliver(items) {
    const ids = items.map((it) => it.id);
    store.markInFlight(ids, true);
    stats.sent += items.length;
    let res = null;
    let encoding = null;
    try {
      const packed = await pack(items);
      if (!packed) return 'ok'; // taken by a page-hide send
      encoding = packed.encoding;
      res = await post(packed.body, encoding);
    } catch {
      // fetch missing or throwing: like a network error
    }
    if (!res) {
      unsettled(ids);
      return retry(null);
    }
    stats.lastStatus = res.status;
    if (res.status === 200) {
      const r = settle(items, res);
      if (r === 'ok') attempt = backoffAt = retryAt = 0;
      return r;
    }
    store.markInFlight(ids, false);
    const status = res.status;
    const error = errorOf(res);
    if (encoding && (status === 415 || (status === 400 && (!error.code || error.code === 'invalid_json' || error.code === 'unreadable_body')))) {
      // A compressed batch the other side could not read (an older collector that ignores
      // `?encoding=gzip` answers invalid_json; a proxy that dropped the query or mangled the
      // bytes; a 400 that is not the collector's): the same events again as text, and text from
      // now on. Other 400s (invalid_batch, ...) are final as for text.
      compress = false;
      return deliver(items);
    }
    if (status === 413 && items.length > 1) {
      const half = Math.ceil(items.length / 2);
      const first = await deliver(items.slice(0, half));
      return first === 'retry' ? first : deliver(items.slice(half));
    }
    // 500 (the collector: "an unexpected request shape") and 501 are final like other 4xx;
    // 502-504 and the rest come from proxies and overloads.
    if (status === 408 || status === 429 || (status >= 502 && status <= 599)) return retry(res);
    store.remove(ids);
    stats.refused += ids.length;
    if (status === 413) report({ code: 'event_rejected', id: ids[0], status, reason: error.code || 'payload_too_large', message: error.message || 'the event is too large for the collector' });
    else report({ code: 'batch_refused', status, reason: error.code, message: error.message || `HTTP ${status}`, events: ids.length });
    // The store has room again: the owner may move events waiting in memory into it.
    try {
      if (o.onResults) o.onResults([], items);
    } catch {
      // the listener's problem
    }
    return 'final';
  }

  // Under the lock: take the other tabs' events in, send one batch, and let the removals reach
  // the backend before another tab reloads.
  async function sendOnce() {
    if (stopped) return 'empty';
    await store.reload();
    const items = store.peek({ maxEvents: MAX_EVENTS, maxBytes: MAX_BATCH_BYTES - ENVELOPE_BYTES });
    if (!items.length) return 'empty';
    const r = await deliver(items);
    await store.flushWrites();
    return r;
  }

  async function withLock(fn) {
    let ran = false;
    try {
      return await lock(lockName, () => {
        ran = true;
        return fn();
      });
    } catch (err) {
      if (ran) throw err;
      lock = pageMutex; // Web Locks refused (e.g. an opaque origin): carry on without them
      return lock(lockName, fn);
    }
  }

  function clearTimer() {
    if (timer !== null) clearT(timer);
    timer = null;
  }

  function arm(due) {
    if (stopped || (timer !== null && timerAt <= due)) return;
    clearTimer();
    timerAt = due;
    timer = setT(
      () => {
        timer = null;
        pump();
      },
      Math.max(0, due - now()),
    );
  }

  // Sends batches until the queue is drained, a send must be retried later, or we are offline.
  // Resolves to the last sendOnce result (undefined when nothing was due).
  async function drain() {
    let r;
    try {
      while (!stopped && online() && now() >= Math.max(backoffAt, retryAt)) {
        r = await withLock(sendOnce);
        if (r === 'retry' || r === 'empty') break;
      }
    } catch (err) {
      report({ code: 'transport_failed', message: String((err && err.message) || err) });
    }
    return r;
  }

  function pump() {
    if (pumping) return pumping;
    clearTimer();
    // .then runs after the assignment even when drain() finishes synchronously.
    pumping = drain().then((r) => {
      pumping = null;
      const due = Math.max(backoffAt, retryAt);
      try {
        // 'retry', or a timer that fired a little early: wait for the backoff again.
        if (r === 'retry' || (r === undefined && now() < due)) arm(due);
        else if (store.peek({ maxEvents: 1 }).length) schedule(); // enqueued meanwhile
      } catch (err) {
        report({ code: 'transport_failed', message: String((err && err.message) || err) });
      }
      return r;
    });
    return pumping;
  }

  function schedule() {
    try {
      if (stopped || pumping || !online()) return;
      const t = now();
      arm(Math.max(backoffAt, retryAt, store.size() >= batchEvents ? t : t + batchDelayMs));
    } catch (err) {
      report({ code: 'transport_failed', message: String((err && err.message) || err) });
    }
  }

  const onOnline = () => {
    attempt = backoffAt = 0;
    schedule();
  };
  if (events && typeof events.addEventListener === 'function') events.addEventListener('online', onOnline);

  return {
    schedule,

    /**
     * Sends now, and keeps sending until the queue is empty or only failures are left; gives up
     * at timeoutMs or when offline. Cuts our backoff wait short but still waits out a server's
     * Retry-After (within the timeout). Never rejects.
     */
    async flush({ timeoutMs = 10000 } = {}) {
      const delivered0 = stats.delivered;
      const refused0 = stats.refused;
      const deadline = now() + timeoutMs;
      try {
        backoffAt = 0;
        while (!stopped && online() && store.size() > 0) {
          const left = deadline - now();
          if (left <= 0) break;
          const wait = Math.max(backoffAt, retryAt) - now();
          if (wait > 0) {
            await sleep(Math.min(wait, left));
            continue;
          }
          const r = await race(pump(), left);
          if (r === TIMEOUT) break;
          if (r === 'empty') {
            // Nothing sendable is left: the rest is in flight in a page-hide send, waits after a
            // failure while the page was hidden, or is gone.
            if (!unloads.size && !deferred.size) break;
            await race(Promise.all([...unloads, ...deferred]), deadline - now());
          }
        }
      } catch (err) {
        report({ code: 'transport_failed', message: String((err && err.message) || err) });
      }
      let pending = 0;
      try {
        pending = store.size();
      } catch {
        // reported above
      }
      return { delivered: stats.delivered - delivered0, pending, failed: stats.refused - refused0 };
    },

    /**
     * For visibilitychange→hidden and pagehide: sends what is queued and not in flight, then
     * `extra` (events that are not in the store: they wait in memory for room), as one compact
     * batch of at most 60 KB within what is left of the keepalive budget, with a keepalive fetch,
     * else sendBeacon, without the lock. The store's events stay in it, in flight: removed if the
     * answer arrives, sent again by the next page otherwise (the collector dedups by id).
     * Returns how many were sent.
     */
    sendOnUnload(extra = []) {
      try {
        hidden = true;
        if (stopped || !online()) return 0;
        // The room left in the browser's keepalive budget: a regular send in flight counts with
        // the bytes it sent (compressed ones when compressed). This send is text (it cannot wait
        // for the compressor), sized as text.
        const room = Math.min(MAX_BATCH_BYTES, KEEPALIVE_BUDGET - keepaliveBytes);
        if (room <= ENVELOPE_BYTES) return 0;
        // A batch still being compressed has not been sent: its events go first, here.
        const job = packing && !packing.taken ? packing : null;
        const head = job ? job.items : [];
        // Whole events of four times the room usually fit once compactBatch took out what they
        // share; fitBatch cuts the list to what does.
        const queued = store.peek({ maxEvents: Math.max(0, MAX_EVENTS - head.length), maxBytes: 4 * room });
        const fromMemory = [];
        for (const it of extra) {
          if (head.length + queued.length + fromMemory.length >= MAX_EVENTS) break;
          if (!sentFromMemory.has(it.id)) fromMemory.push(it);
        }
        const candidates = head.length || fromMemory.length ? head.concat(queued, fromMemory) : queued;
        const { list: items, body } = candidates.length ? fitBatch(candidates, room, payload) : { list: [] };
        if (!items.length) return 0;
        const ids = items.map((it) => it.id);
        const taken = items.slice(0, head.length).map((it) => it.id); // a prefix of head
        const own = ids.slice(taken.length); // not in flight before this send
        store.markInFlight(own, true);
        for (let i = head.length + queued.length; i < items.length; i++) sentFromMemory.add(items[i].id);
        stats.sent += items.length;
        let pending = null;
        try {
          pending = post(body);
        } catch {
          // no fetch, or it threw at once: the beacon below
        }
        if (pending) {
          const done = pending.then((res) => {
            if (res) stats.lastStatus = res.status;
            if (res && res.status === 200) settle(items, res);
            else if (res) store.markInFlight(ids, false); // refused: the regular path sends them again
            else unsettled(ids);
          });
          unloads.add(done);
          done.then(() => unloads.delete(done));
        } else if (!(beacon && beacon(url, body))) {
          store.markInFlight(own, false); // the batch being compressed keeps its events
          return 0;
        }
        if (taken.length) job.taken = new Set(taken);
        return items.length;
      } catch (err) {
        report({ code: 'transport_failed', message: String((err && err.message) || err) });
        return 0;
      }
    },

    /** The page is visible again: what was sent from memory at page hide may be sent again. */
    resume() {
      hidden = false;
      sentFromMemory.clear();
      schedule();
    },

    stats: () => ({ ...stats }),

    stop() {
      stopped = true;
      clearTimer();
      if (events && typeof events.removeEventListener === 'function') events.removeEventListener('online', onOnline);
    },
  };
}
