// The SDK's durable local store: small key/value strings (engine snapshot, anonymous id, cached
// map) and the outbound event queue, over IndexedDB, else localStorage, else memory.
//
// Everything lives in an in-memory mirror so the queue can be read synchronously at page unload;
// changes are written through to the backend asynchronously, coalesced into one IndexedDB
// transaction (or one run of localStorage calls) per turn of the event loop. Backend I/O is
// serialised on one promise chain, so a reload never reads half of a write. A backend that fails
// (cannot open, quota, blocked, private mode, a throwing `window.localStorage` getter) is replaced
// by the next one, which gets a full copy of the mirror; the caller never sees an exception, only
// one onError({code: 'storage_failed' | 'storage_full', message}) per kind.
//
// Sizes are UTF-8 byte lengths (what goes on the wire and what the 64 KB keepalive budget
// counts): an event costs the UTF-8 length of JSON.stringify(body), a kv entry the UTF-8 length of
// its key plus its value. One budget covers both.
//
// Queue events are stored in chunks, one row per batch of events written together (IndexedDB
// store `queue` keyed by the chunk's key, localStorage key `<name>:q:<key>`); chunks never grow,
// so tabs sharing the store never lose each other's events (see `unsaved` below); kv values are
// in store `kv` or under `<name>:k:<key>`.

import { MAX_BATCH_BYTES, MAX_BATCH_EVENTS } from './limits.js';

const WRITE_CHUNK = 100; // queue events per storage transaction
// Queue rows reach storage this long after they were queued: most events are delivered within
// it, and then neither their write nor their delete ever happens (a row per event costs the main
// thread ~60 us in Chromium's IndexedDB). Page hide flushes at once (flushWrites).
const QUEUE_WRITE_DELAY_MS = 1500;
const PRIORITY_NAMES = ['noise', 'normal', 'conversion'];
const IDB_OPEN_TIMEOUT_MS = 5000;

/** UTF-8 byte length of a string, without allocating (a lone surrogate counts 2, not 3). */
export function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) n += c > 0x7ff && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

const isQuota = (e) => !!e && (/quota/i.test(e.name) || e.code === 22 || e.code === 1014);

// A backend from the options, else from globalThis, whose getter may throw (SecurityError with
// storage blocked, sandboxed frames): { api } or { error }.
function backendApi(options, key) {
  try {
    return { api: key in options ? options[key] : globalThis[key] };
  } catch (error) {
    return { error };
  }
}

function openIndexedDb(idb, name) {
  return new Promise((resolve, reject) => {
    // Some browsers' private modes leave open() pending forever.
    const timer = setTimeout(() => reject(new Error('IndexedDB open timed out')), IDB_OPEN_TIMEOUT_MS);
    const req = idb.open(name, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('kv')) db.createObjectStore('kv');
      if (!db.objectStoreNames.contains('queue')) db.createObjectStore('queue', { keyPath: 'id' });
    };
    req.onsuccess = () => {
      clearTimeout(timer);
      const db = req.result;
      db.onversionchange = () => db.close(); // let another tab upgrade or delete the database
      resolve(db);
    };
    req.onerror = () => {
      clearTimeout(timer);
      reject(req.error || new Error('IndexedDB open failed'));
    };
    req.onblocked = () => {
      clearTimeout(timer);
      reject(new Error('IndexedDB open blocked'));
    };
  }).then((db) => {
    // One transaction over both stores; `fn` fills `out` from its requests' callbacks.
    const run = (mode, fn) =>
      new Promise((resolve, reject) => {
        const tx = db.transaction(['kv', 'queue'], mode);
        const out = {};
        tx.oncomplete = () => resolve(out);
        tx.onerror = tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
        fn(tx.objectStore('kv'), tx.objectStore('queue'), out);
      });
    const on = (req, f) => {
      req.onsuccess = () => f(req.result);
    };
    return {
      name: 'indexeddb',
      read: (withKv) =>
        run('readonly', (kv, queue, out) => {
          on(queue.getAll(), (rows) => (out.q = rows));
          if (!withKv) return;
          on(kv.getAllKeys(), (keys) => (out.keys = keys));
          on(kv.getAll(), (values) => (out.values = values));
        }).then((out) => ({ q: out.q, kv: out.keys ? out.keys.map((k, i) => [k, out.values[i]]) : [] })),
      get: (key) => run('readonly', (kv, queue, out) => on(kv.get(key), (v) => (out.v = v))).then((out) => out.v),
      // queueRows: key -> a chunk row ({ id: key, items }) or null to delete it.
      write: (kvChanges, queueRows) =>
        run('readwrite', (kv, queue) => {
          for (const [k, v] of kvChanges) v == null ? kv.delete(k) : kv.put(v, k);
          for (const [key, row] of queueRows) row ? queue.put(row) : queue.delete(key);
        }),
      clear: () =>
        run('readwrite', (kv, queue) => {
          kv.clear();
          queue.clear();
        }),
    };
  });
}

function localStorageBackend(ls, name) {
  const kvPrefix = `${name}:k:`;
  const queuePrefix = `${name}:q:`;
  const ownKeys = (prefix) => {
    const keys = [];
    for (let i = 0; i < ls.length; i++) {
      const k = ls.key(i);
      if (k != null && k.startsWith(prefix)) keys.push(k);
    }
    return keys;
  };
  // Private modes that expose a zero-quota localStorage throw here, at open, not later.
  const probe = `${name}:probe`;
  ls.setItem(probe, '1');
  ls.removeItem(probe);
  return {
    name: 'localstorage',
    read: async (withKv) => {
      const q = [];
      const kv = [];
      for (const k of ownKeys(queuePrefix)) {
        try {
          q.push(JSON.parse(ls.getItem(k)));
        } catch {
          // a damaged row: skip it
        }
      }
      if (withKv) for (const k of ownKeys(kvPrefix)) kv.push([k.slice(kvPrefix.length), ls.getItem(k)]);
      return { q, kv };
    },
    get: async (key) => ls.getItem(kvPrefix + key),
    write: async (kvChanges, queueRows) => {
      for (const [k, v] of kvChanges) v == null ? ls.removeItem(kvPrefix + k) : ls.setItem(kvPrefix + k, v);
      for (const [key, row] of queueRows) row ? ls.setItem(queuePrefix + key, JSON.stringify(row)) : ls.removeItem(queuePrefix + key);
    },
    clear: async () => {
      for (const k of ownKeys(`${name}:`)) ls.removeItem(k);
    },
  };
}

/**
 * Opens the store. Options: name ('waymark'), budgetBytes (262144), indexedDB, localStorage
 * (null to skip a backend), onError({code, message}), now (Date.now; orders the queue).
 * Never rejects: the worst case is a memory-only store.
 */
export async function openStore(options = {}) {
  const name = options.name || 'waymark';
  const budget = options.budgetBytes > 0 ? options.budgetBytes : 262144;
  // Bytes of the budget kept for kv values (the engine snapshot) that queued events may not
  // take: a burst of events then never pushes the journey itself out (kvReserveBytes, default 0).
  const kvReserve = Math.min(budget, Math.max(0, Number(options.kvReserveBytes) || 0));
  const onError = options.onError || (() => {});
  const now = options.now || Date.now;
  const idb = backendApi(options, 'indexedDB');
  const lsApi = backendApi(options, 'localStorage');
  const ls = lsApi.api;

  const reported = {};
  const report = (code, err, backend = be.name) => {
    if (reported[code]) return;
    reported[code] = true;
    try {
      onError({ code, message: `storage (${backend}): ${(err && err.message) || err}` });
    } catch {
      // a throwing listener must not break the store
    }
  };

  const memory = { name: 'memory' };
  let be = memory;
  const opened = []; // every backend that was ever in use, for clear()
  const candidates = [];
  for (const [got, open, label] of [
    [idb, openIndexedDb, 'indexeddb'],
    [lsApi, localStorageBackend, 'localstorage'],
  ]) {
    if (!got.api && !got.error) continue;
    const candidate = async () => {
      if (got.error) throw got.error;
      return open(got.api, name);
    };
    candidate.label = label;
    candidates.push(candidate);
  }

  async function useNextBackend() {
    while (candidates.length) {
      const candidate = candidates.shift();
      try {
        be = await candidate();
        opened.push(be);
        return;
      } catch (err) {
        report(isQuota(err) ? 'storage_full' : 'storage_failed', err, candidate.label);
      }
    }
    be = memory;
  }

  // The mirror.
  const kv = new Map();
  let kvBytes = 0;
  const queue = []; // items in enqueue order (ascending `ord`)
  const byId = new Map();
  let queueBytes = 0;
  const evictable = [0, 0, 0]; // bytes of queued items not in flight, by priority (makeRoom)
  let lastOrd = 0;
  const dropped = { noise: 0, normal: 0, conversion: 0 };

  // Changes not yet handed to the backend: key -> value | null (null = delete).
  const kvChanges = new Map();
  // Queue rows are stored in chunks, one row per batch of events written together (an IndexedDB
  // put or delete per event cost the main thread ~20-60 us each in a burst): an item is `unsaved`
  // until its chunk is written; removing a saved item marks its chunk dirty, and the chunk is
  // rewritten as it was last read or written *minus the ids this tab removed* (or deleted when
  // nothing is left). A tab never drops from a chunk an event it did not remove itself, so two
  // tabs rewriting one chunk can at worst bring back an event the other delivered (sent again,
  // answered duplicate), never lose one. Rows of earlier releases (one event each, keyed by its
  // id) are read as chunks of one.
  const unsaved = new Set(); // item ids
  const chunkRows = new Map(); // chunk key -> Map(id -> row): the chunk as last read or written
  const dirtyChunks = new Set();
  const removedPending = new Set(); // ids removed here whose chunk is not rewritten yet
  const removedFrom = new Map(); // chunk key -> those ids
  const chunkPrefix = `c${now().toString(36)}${Math.random().toString(36).slice(2, 8)}:`;
  let chunkSeq = 0;
  const queueDirty = () => unsaved.size > 0 || dirtyChunks.size > 0;
  let chain = Promise.resolve();
  let writing = null;
  let epoch = 0; // bumped by clear(): writes scheduled before it are void

  const kvSize = (k, v) => (v == null ? 0 : utf8Length(k) + utf8Length(v));
  const freeBytes = () => budget - kvBytes - queueBytes;
  const row = (it) => ({ id: it.id, body: it.body, priority: it.priority, ord: it.ord });

  async function fail(err) {
    report(isQuota(err) ? 'storage_full' : 'storage_failed', err);
    be = memory; // until the next one is open
    await useNextBackend();
    // The next backend starts from a full copy of the mirror.
    for (const [k, v] of kv) kvChanges.set(k, v);
    forgetChunks();
    for (const it of queue) unsaved.add(it.id);
    if (be.write) persist();
  }

  // Runs backend I/O in order; resolves to fn's result, or undefined after a failure.
  function io(fn) {
    const p = chain.then(fn).catch((err) => fail(err).then(() => undefined));
    chain = p;
    return p;
  }

  function persist() {
    if (persistTimer !== null) {
      clearTimeout(persistTimer);
      persistTimer = null;
    }
    if (writing) return writing;
    const myEpoch = epoch;
    const p = io(async () => {
      if (writing === p) writing = null;
      if (myEpoch !== epoch) return;
      if (!be.write) {
        kvChanges.clear();
        unsaved.clear();
        dirtyChunks.clear();
        return;
      }
      const k = new Map(kvChanges);
      kvChanges.clear();
      // At most WRITE_CHUNK events per transaction, the rest in later tasks: a burst of events
      // must not become one long main-thread task of structured cloning. Bookkeeping is done
      // before the write, so removals meanwhile mark the chunk dirty again.
      const q = new Map();
      let budgetLeft = WRITE_CHUNK;
      for (const key of dirtyChunks) {
        if (budgetLeft <= 0) break;
        const rows = chunkRows.get(key) || new Map();
        for (const id of removedFrom.get(key) || []) rows.delete(id);
        q.set(key, rows.size ? { id: key, items: [...rows.values()] } : null);
        budgetLeft -= Math.max(1, rows.size);
      }
      for (const key of q.keys()) {
        dirtyChunks.delete(key);
        for (const id of removedFrom.get(key) || []) removedPending.delete(id);
        removedFrom.delete(key);
        if (q.get(key)) chunkRows.set(key, chunkRows.get(key) || new Map());
        else chunkRows.delete(key);
      }
      if (budgetLeft > 0 && unsaved.size) {
        const key = chunkPrefix + ++chunkSeq;
        const members = new Set();
        for (const id of unsaved) {
          if (members.size >= budgetLeft) break;
          members.add(id);
        }
        const rows = new Map();
        for (const id of members) {
          unsaved.delete(id);
          const it = byId.get(id);
          it.chunk = key;
          rows.set(id, row(it));
        }
        chunkRows.set(key, rows);
        q.set(key, { id: key, items: [...rows.values()] });
      }
      await be.write(k, q);
      if (queueDirty() || kvChanges.size) setTimeout(persist, 0);
    });
    writing = p;
    return p;
  }

  async function flushWrites() {
    try {
      while (writing || kvChanges.size || queueDirty()) await (writing || persist());
      await chain;
    } catch {
      // io() never rejects
    }
  }

  function unlink(it) {
    byId.delete(it.id);
    queueBytes -= it.bytes;
    if (!it.inFlight) evictable[it.priority] -= it.bytes;
  }

  function forgetChunks() {
    unsaved.clear();
    chunkRows.clear();
    dirtyChunks.clear();
    removedPending.clear();
    removedFrom.clear();
    for (const it of queue) it.chunk = null;
  }

  function link(it) {
    queue.push(it);
    byId.set(it.id, it);
    queueBytes += it.bytes;
    if (!it.inFlight) evictable[it.priority] += it.bytes;
  }

  const freeForQueue = () => budget - Math.max(kvBytes, kvReserve) - queueBytes;

  // Events pushed out by a kv value go back to the owner (options.onSpill) when it takes them,
  // to wait in memory for room; otherwise they are dropped and counted.
  let spilling = null;
  function drop(it) {
    unlink(it);
    if (spilling) spilling.push({ id: it.id, body: it.body, priority: it.priority, bytes: it.bytes });
    else dropped[PRIORITY_NAMES[it.priority]]++;
    forget(it);
  }

  // A removed item (already unlinked): if its write is still waiting, nothing is written for it;
  // else its chunk is rewritten without it.
  function forget(it) {
    if (!it.chunk) {
      unsaved.delete(it.id);
      return;
    }
    dirtyChunks.add(it.chunk);
    removedPending.add(it.id);
    if (!removedFrom.has(it.chunk)) removedFrom.set(it.chunk, []);
    removedFrom.get(it.chunk).push(it.id);
  }

  let persistTimer = null;
  function persistSoon() {
    if (persistTimer === null && !writing) {
      persistTimer = setTimeout(() => {
        persistTimer = null;
        persist();
      }, QUEUE_WRITE_DELAY_MS);
    }
  }

  // Frees `need` bytes by dropping queued items of priority <= maxPriority, lowest priority first,
  // oldest first within one; drops nothing and returns false when even all of them are not enough.
  function makeRoom(need, maxPriority, forQueue = false) {
    const free = forQueue ? freeForQueue : freeBytes;
    if (need <= free()) return true;
    // Items in flight are never pushed out: their answer removes them soon, and one pushed out
    // to the owner's memory (onSpill) would be queued and sent a second time. `evictable` keeps
    // the byte totals, so a full store refuses an event in constant time.
    let freeable = 0;
    for (let p = 0; p <= maxPriority; p++) freeable += evictable[p];
    if (need > free() + freeable) return false;
    for (let p = 0; p <= maxPriority && need > free(); p++) {
      for (let i = 0; i < queue.length && need > free(); ) {
        if (queue[i].priority === p && !queue[i].inFlight) drop(queue.splice(i, 1)[0]);
        else i++;
      }
    }
    return true;
  }

  function addLoaded(r, chunk) {
    if (!r || typeof r.id !== 'string' || byId.has(r.id)) return;
    let bytes;
    try {
      bytes = utf8Length(JSON.stringify(r.body));
    } catch {
      return;
    }
    const it = { id: r.id, body: r.body, priority: [0, 1, 2].includes(r.priority) ? r.priority : 1, bytes, ord: +r.ord || 0, inFlight: false, chunk };
    link(it);
    if (it.ord > lastOrd) lastOrd = it.ord;
  }

  // Merges what the backend holds (union by id). An item this store had written that is gone
  // from the backend was removed by another tab (delivered): it leaves the mirror too.
  async function reload(withKv = false) {
    if (!be.read) return;
    await flushWrites();
    const myEpoch = epoch;
    const data = await io(() => (be.read ? be.read(withKv) : null));
    // clear() meanwhile (consent denied, reset): what was read is gone, and must not come back.
    if (!data || myEpoch !== epoch) return;
    try {
      const present = new Set();
      chunkRows.clear();
      for (const stored of data.q || []) {
        if (!stored || typeof stored.id !== 'string') continue;
        // A chunk, or a row of an earlier release (one event, keyed by its id).
        const rows = Array.isArray(stored.items) ? stored.items : [stored];
        const kept = new Map();
        for (const r of rows) {
          if (!r || typeof r.id !== 'string') continue;
          kept.set(r.id, r);
          present.add(r.id);
          if (removedPending.has(r.id)) continue;
          const known = byId.get(r.id);
          if (known && known.chunk) known.chunk = stored.id; // where the backend holds it now
          else addLoaded(r, stored.id);
        }
        chunkRows.set(stored.id, kept);
      }
      for (let i = queue.length - 1; i >= 0; i--) {
        const it = queue[i];
        if (it.chunk && !present.has(it.id)) {
          queue.splice(i, 1);
          unlink(it);
        }
      }
      queue.sort((a, b) => a.ord - b.ord);
      for (const [k, v] of data.kv || []) {
        if (kvChanges.has(k) || typeof v !== 'string') continue;
        kvBytes += kvSize(k, v) - kvSize(k, kv.get(k));
        kv.set(k, v);
      }
      // Another tab's items can push the total over the budget.
      if (freeBytes() < 0) makeRoom(0, 2);
      if (queueDirty()) persist();
    } catch (err) {
      report('storage_failed', err);
    }
  }

  const ids = (list) => (Array.isArray(list) ? list : [list]);

  const store = {
    get backend() {
      return be.name;
    },

    /** The value stored under key (a string), or undefined. Reads through to the backend, so a value another tab wrote is seen. */
    async get(key) {
      if (be.get && !kvChanges.has(key)) {
        const r = await io(async () => ({ v: be.get ? await be.get(key) : kv.get(key) }));
        if (r && !kvChanges.has(key)) {
          const v = typeof r.v === 'string' ? r.v : undefined;
          kvBytes += kvSize(key, v) - kvSize(key, kv.get(key));
          if (v === undefined) kv.delete(key);
          else kv.set(key, v);
        }
      }
      return kv.get(key);
    },

    /**
     * Stores a string. It may push noise and normal events out of the queue to fit the budget,
     * never conversions (handed to options.onSpill when given, else dropped and counted): when it
     * cannot fit, nothing changes, onError gets storage_full and the result is false.
     */
    async set(key, value) {
      try {
        value = String(value);
        const delta = kvSize(key, value) - kvSize(key, kv.get(key));
        if (typeof options.onSpill === 'function') spilling = [];
        const fits = delta <= 0 || makeRoom(delta, 1);
        const spilled = spilling;
        spilling = null;
        if (spilled && spilled.length) options.onSpill(spilled);
        if (!fits) {
          report('storage_full', new Error(`"${key}" (${kvSize(key, value)} bytes) does not fit in the ${budget}-byte budget`));
          return false;
        }
        kv.set(key, value);
        kvBytes += delta;
        kvChanges.set(key, value);
        persist();
        return true;
      } catch (err) {
        report('storage_failed', err);
        return false;
      }
    },

    async delete(key) {
      kvBytes -= kvSize(key, kv.get(key));
      kv.delete(key);
      kvChanges.set(key, null);
      persist();
    },

    /**
     * Adds events ({id, body, priority}); synchronous, persisted asynchronously. Returns how many
     * were queued. By default a full budget makes room by dropping queued events of lower or
     * equal priority (counted); with `{ evict: 'lower', refused: [] }` only events of strictly
     * lower priority are dropped for it, and items that still do not fit are pushed to `refused`
     * (the caller holds them for later).
     */
    enqueue(items, { evict = true, refused = null } = {}) {
      let added = 0;
      // In 'lower' mode the owner holds what does not fit, so what is pushed out goes back too.
      if (evict === 'lower' && typeof options.onSpill === 'function') spilling = [];
      for (const item of ids(items || [])) {
        try {
          if (!item || typeof item.id !== 'string' || byId.has(item.id)) continue;
          const priority = [0, 1, 2].includes(item.priority) ? item.priority : 1;
          // The owner may pass the size it measured once (an event waiting for room is offered
          // again on every delivery: measuring it each time made a large burst quadratic).
          const bytes = Number.isInteger(item.bytes) && item.bytes > 0 ? item.bytes : utf8Length(JSON.stringify(item.body));
          if (!makeRoom(bytes, evict === 'lower' ? priority - 1 : priority, true)) {
            if (evict === 'lower' && refused) refused.push(item);
            else dropped[PRIORITY_NAMES[priority]]++;
            continue;
          }
          lastOrd = Math.max(now() * 1000, lastOrd + 1);
          const it = { id: item.id, body: item.body, priority, bytes, ord: lastOrd, inFlight: false, chunk: null };
          link(it);
          unsaved.add(it.id);
          added++;
        } catch (err) {
          report('storage_failed', err); // a body JSON cannot serialise
        }
      }
      const spilled = spilling;
      spilling = null;
      if (spilled && spilled.length) options.onSpill(spilled);
      if (queueDirty()) persistSoon();
      return added;
    },

    /**
     * The oldest items, in enqueue order, up to maxEvents and maxBytes (sum of item bytes; the
     * first item is returned even when it alone is larger, so it can be sent and refused rather
     * than block the queue). In-flight items are skipped unless includeInFlight.
     */
    peek({ maxEvents = MAX_BATCH_EVENTS, maxBytes = MAX_BATCH_BYTES, includeInFlight = false } = {}) {
      const out = [];
      let bytes = 0;
      for (const it of queue) {
        if (out.length >= maxEvents) break;
        if (it.inFlight && !includeInFlight) continue;
        if (out.length && bytes + it.bytes > maxBytes) break;
        out.push(it);
        bytes += it.bytes;
      }
      return out;
    },

    markInFlight(list, inFlight = true) {
      for (const id of ids(list || [])) {
        const it = byId.get(id);
        if (!it || it.inFlight === !!inFlight) continue;
        it.inFlight = !!inFlight;
        evictable[it.priority] += inFlight ? -it.bytes : it.bytes;
      }
    },

    /**
     * Whether an event of `bytes` and `priority` would be taken now by enqueue(..., { evict:
     * 'lower' }): free room plus what events of lower priority (not in flight) hold. Constant time.
     */
    wouldTake(bytes, priority) {
      let room = freeForQueue();
      for (let p = 0; p < priority; p++) room += evictable[p];
      return bytes <= room;
    },

    remove(list) {
      const gone = new Set(ids(list || []));
      if (!gone.size) return;
      for (let i = queue.length - 1; i >= 0; i--) {
        if (!gone.has(queue[i].id)) continue;
        const it = queue.splice(i, 1)[0];
        unlink(it);
        forget(it);
      }
      if (queueDirty()) persistSoon();
    },

    size: () => queue.length,

    stats: () => ({ queued: queue.length, queuedBytes: queueBytes, dropped: { ...dropped }, backend: be.name }),

    /** Loads what the backend holds (queue and kv values) into the mirror; openStore calls it. */
    load: () => reload(true),

    /** Merges queue items other tabs persisted (union by id; drops items other tabs removed). */
    reload: () => reload(false),

    flushWrites,

    /** Removes everything, from memory at once and from every backend used (nothing lasting remains). */
    async clear() {
      epoch++;
      writing = null;
      kv.clear();
      queue.length = 0;
      byId.clear();
      kvBytes = queueBytes = 0;
      evictable.fill(0);
      kvChanges.clear();
      forgetChunks();
      const targets = [...opened];
      // Clear localStorage leftovers even when another backend is in use now.
      if (ls && !targets.some((b) => b.name === 'localstorage')) {
        try {
          targets.push(localStorageBackend(ls, name));
        } catch {
          // not usable: nothing can be in it
        }
      }
      await io(() => Promise.all(targets.map((b) => b.clear().catch(() => {}))));
    },
  };

  await useNextBackend();
  await store.load();
  return store;
}
