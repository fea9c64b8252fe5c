// js/src/storage.js: the budget and eviction order, the localStorage backend and its failures,
// two tabs sharing one store, clear(); IndexedDB in headless Chromium when it is installed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { openStore, utf8Length } from '../../js/src/storage.js';
import { Tracker } from '../../js/src/tracker.js';
import { FakeLocalStorage, envelope, items } from './sdk-helpers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bytesOf = (body) => Buffer.byteLength(JSON.stringify(body), 'utf8');

function errors() {
  const list = [];
  return { list, onError: (e) => list.push(e), codes: () => list.map((e) => e.code) };
}

const memoryStore = (extra = {}) => openStore({ indexedDB: null, localStorage: null, ...extra });

// An item whose JSON body is exactly `bytes` long.
function sized(id, bytes, priority) {
  const body = { id, pad: '' };
  body.pad = 'x'.repeat(bytes - bytesOf(body));
  assert.equal(bytesOf(body), bytes);
  return { id, body, priority };
}

describe('storage: memory backend and the queue', () => {
  it('without IndexedDB and localStorage it works in memory', async () => {
    const store = await memoryStore();
    assert.equal(store.backend, 'memory');
    assert.equal(await store.get('anonymous_id'), undefined);
    assert.equal(await store.set('anonymous_id', 'anon-1'), true);
    assert.equal(await store.get('anonymous_id'), 'anon-1');
    await store.delete('anonymous_id');
    assert.equal(await store.get('anonymous_id'), undefined);

    const batch = items(3);
    assert.equal(store.enqueue(batch), 3);
    assert.equal(store.size(), 3);
    assert.deepEqual(
      store.peek().map((i) => i.id),
      batch.map((i) => i.id),
    );
    store.remove([batch[1].id]);
    assert.deepEqual(
      store.peek().map((i) => i.id),
      [batch[0].id, batch[2].id],
    );
    assert.deepEqual(store.stats(), {
      queued: 2,
      queuedBytes: bytesOf(batch[0].body) + bytesOf(batch[2].body),
      dropped: { noise: 0, normal: 0, conversion: 0 },
      backend: 'memory',
    });
  });

  it('an item costs the UTF-8 byte length of its JSON body; duplicate ids are ignored', async () => {
    const store = await memoryStore();
    const body = envelope('anon-utf8', { properties: { title: 'Café – 日本 😀' } });
    assert.equal(store.enqueue([{ id: body.id, body, priority: 1 }]), 1);
    assert.equal(store.peek()[0].bytes, bytesOf(body));
    assert.equal(utf8Length('é日😀'), Buffer.byteLength('é日😀'));
    assert.equal(store.enqueue([{ id: body.id, body: { other: true }, priority: 2 }]), 0, 'same id again');
    assert.equal(store.size(), 1);
    assert.deepEqual(store.peek()[0].body, body, 'the first copy stays');
  });

  it('peek: enqueue order, maxEvents, maxBytes, in-flight items skipped unless asked for', async () => {
    const store = await memoryStore();
    const list = Array.from({ length: 6 }, (_, i) => sized(`p${i}`, 100, i % 3));
    store.enqueue(list);
    assert.deepEqual(
      store.peek().map((i) => i.id),
      ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'],
      'enqueue order, whatever the priority',
    );
    assert.deepEqual(
      store.peek({ maxEvents: 2 }).map((i) => i.id),
      ['p0', 'p1'],
    );
    assert.deepEqual(
      store.peek({ maxBytes: 250 }).map((i) => i.id),
      ['p0', 'p1'],
    );
    store.markInFlight(['p0', 'p2'], true);
    assert.deepEqual(
      store.peek({ maxEvents: 3 }).map((i) => i.id),
      ['p1', 'p3', 'p4'],
    );
    assert.deepEqual(
      store.peek({ maxEvents: 3, includeInFlight: true }).map((i) => i.id),
      ['p0', 'p1', 'p2'],
    );
    store.markInFlight(['p0'], false);
    assert.equal(store.peek({ maxEvents: 1 })[0].id, 'p0');
    assert.equal(store.size(), 6, 'in-flight items are still queued');
    // An item larger than maxBytes is returned alone (so it can be sent and refused) instead of blocking the queue.
    const big = await memoryStore();
    big.enqueue([sized('big', 5000, 1), sized('small', 100, 1)]);
    assert.deepEqual(
      big.peek({ maxBytes: 1000 }).map((i) => i.id),
      ['big'],
    );
  });

  it('an event in flight is never pushed out to make room; wouldTake() says in constant time what enqueue would take', async () => {
    const store = await memoryStore({ budgetBytes: 1000 });
    const noise = items(3, { priority: 0 });
    store.enqueue(noise);
    const first = utf8Length(JSON.stringify(noise[0].body));
    store.markInFlight(noise.map((it) => it.id), true);
    const fresh = items(1, { priority: 1 })[0];
    const free = 1000 - store.stats().queuedBytes;
    const big = { ...fresh, bytes: free + first }; // needs the first noise event's room
    assert.equal(store.wouldTake(big.bytes, 1), false, 'in-flight noise does not count as room');
    const refused = [];
    assert.equal(store.enqueue([big], { evict: 'lower', refused }), 0);
    assert.equal(refused.length, 1);
    assert.equal(store.size(), 3, 'nothing in flight was dropped');
    store.markInFlight(noise[0].id, false);
    assert.equal(store.wouldTake(big.bytes, 1), true, 'one noise event back on the ground is room');
    assert.equal(store.wouldTake(big.bytes, 0), false, 'but not for another noise event');
    assert.equal(store.enqueue([big], { evict: 'lower', refused: [] }), 1);
    assert.equal(store.size(), 3, 'the noise event not in flight made room');
    assert.deepEqual(store.peek({ includeInFlight: true }).map((it) => it.id).slice(0, 2), [noise[1].id, noise[2].id]);
  });

  it('enqueue takes the size the owner measured (bytes) instead of measuring again', async () => {
    const store = await memoryStore();
    const [it] = items(1);
    store.enqueue([{ ...it, bytes: 4321 }]);
    assert.equal(store.stats().queuedBytes, 4321);
    const [other] = items(1);
    store.enqueue([{ ...other, bytes: 'x' }]);
    assert.equal(store.stats().queuedBytes, 4321 + utf8Length(JSON.stringify(other.body)), 'a bad size is measured');
  });

  it('over budget: noise goes first, then normal, oldest first within a priority; conversions last', async () => {
    const e = errors();
    const store = await memoryStore({ budgetBytes: 1000, onError: e.onError });
    store.enqueue([sized('n1', 100, 0), sized('c1', 100, 2), sized('m1', 100, 1), sized('n2', 100, 0), sized('m2', 100, 1)]);
    store.enqueue([sized('c2', 100, 2), sized('n3', 100, 0), sized('m3', 100, 1), sized('c3', 100, 2), sized('n4', 100, 0)]);
    assert.equal(store.stats().queuedBytes, 1000, 'exactly full');

    store.enqueue([sized('m4', 250, 1)]); // needs 250: the three oldest noise items
    assert.deepEqual(
      store.peek().map((i) => i.id),
      ['c1', 'm1', 'm2', 'c2', 'm3', 'c3', 'n4', 'm4'],
    );
    assert.deepEqual(store.stats().dropped, { noise: 3, normal: 0, conversion: 0 });

    store.enqueue([sized('c4', 300, 2)]); // needs 250 more: n4, then the oldest normal ones
    assert.deepEqual(
      store.peek().map((i) => i.id),
      ['c1', 'c2', 'm3', 'c3', 'm4', 'c4'],
    );
    assert.deepEqual(store.stats().dropped, { noise: 4, normal: 2, conversion: 0 });
    assert.ok(store.stats().queuedBytes <= 1000);

    // Incoming noise that only fits by dropping higher priorities is itself dropped.
    store.enqueue([sized('n5', 200, 0)]);
    assert.equal(store.peek().find((i) => i.id === 'n5'), undefined);
    assert.deepEqual(store.stats().dropped, { noise: 5, normal: 2, conversion: 0 });

    // A normal item larger than noise + normal together is dropped, and nothing else is.
    store.enqueue([sized('m5', 700, 1)]);
    assert.deepEqual(store.stats().dropped, { noise: 5, normal: 3, conversion: 0 });
    assert.equal(store.size(), 6);

    // A conversion displaces everything below it, then the oldest conversions.
    store.enqueue([sized('c5', 900, 2)]);
    assert.deepEqual(
      store.peek().map((i) => i.id),
      ['c5'],
    );
    assert.deepEqual(store.stats().dropped, { noise: 5, normal: 5, conversion: 4 });
    // An item larger than the whole budget never fits.
    store.enqueue([sized('c6', 1001, 2)]);
    assert.deepEqual(store.stats().dropped, { noise: 5, normal: 5, conversion: 5 });
    assert.deepEqual(
      store.peek().map((i) => i.id),
      ['c5'],
    );
    assert.deepEqual(e.list, [], 'drops are counted, not reported');
  });

  it('kv values share the budget: set() may push out noise and normal events, never conversions', async () => {
    const e = errors();
    const store = await memoryStore({ budgetBytes: 1000, onError: e.onError });
    store.enqueue([sized('n1', 200, 0), sized('m1', 200, 1), sized('c1', 200, 2), sized('c2', 200, 2)]);
    assert.equal(await store.set('snapshot', 'x'.repeat(292)), true); // 8 + 292 = 300: n1 goes
    assert.deepEqual(
      store.peek().map((i) => i.id),
      ['m1', 'c1', 'c2'],
    );
    assert.equal(await store.set('snapshot', 'y'.repeat(492)), true); // 200 more: m1 goes
    assert.deepEqual(
      store.peek().map((i) => i.id),
      ['c1', 'c2'],
    );
    assert.deepEqual(store.stats().dropped, { noise: 1, normal: 1, conversion: 0 });
    assert.equal(await store.set('snapshot', 'z'.repeat(700)), false, 'only conversions left to displace');
    assert.equal(await store.get('snapshot'), 'y'.repeat(492), 'the old value stays');
    assert.equal(store.size(), 2);
    assert.equal(await store.set('other', 'w'.repeat(500)), false);
    assert.deepEqual(e.codes(), ['storage_full'], 'reported once');
    // Events queued later must fit next to the kv values.
    store.enqueue([sized('m2', 300, 1)]);
    assert.deepEqual(store.stats().dropped, { noise: 1, normal: 2, conversion: 0 });
  });
});

describe('storage: localStorage backend', () => {
  it('persists the queue and kv values under "<name>:" keys, written asynchronously', async () => {
    const ls = new FakeLocalStorage();
    ls.setItem('unrelated', 'keep me');
    const store = await openStore({ name: 'wm', indexedDB: null, localStorage: ls });
    assert.equal(store.backend, 'localstorage');
    const batch = items(5);
    store.enqueue(batch);
    assert.equal(ls.keysWith('wm:q:').length, 0, 'enqueue itself does not write');
    await store.set('anonymous_id', 'anon-ls');
    await store.flushWrites();
    assert.deepEqual(ls.storedEventIds('wm:q:'), batch.map((i) => i.id));
    assert.equal(ls.keysWith('wm:q:').length, 1, 'one row for the five events written together');
    assert.equal(ls.getItem('wm:k:anonymous_id'), 'anon-ls');
    store.remove([batch[0].id]);
    await store.flushWrites();
    assert.deepEqual(ls.storedEventIds('wm:q:'), batch.slice(1).map((i) => i.id));

    // The next page load finds them, in order.
    const next = await openStore({ name: 'wm', indexedDB: null, localStorage: ls });
    assert.equal(next.backend, 'localstorage');
    assert.deepEqual(
      next.peek().map((i) => i.id),
      batch.slice(1).map((i) => i.id),
    );
    assert.deepEqual(next.peek()[0].body, batch[1].body);
    assert.equal(await next.get('anonymous_id'), 'anon-ls');
    assert.equal(ls.getItem('unrelated'), 'keep me');
  });

  it('a throwing window.localStorage getter: memory, no exception, storage_failed once', async () => {
    const had = Object.getOwnPropertyDescriptor(globalThis, 'localStorage');
    Object.defineProperty(globalThis, 'localStorage', {
      configurable: true,
      get() {
        throw new DOMException('Access is denied for this document.', 'SecurityError');
      },
    });
    try {
      const e = errors();
      const store = await openStore({ indexedDB: null, onError: e.onError });
      assert.equal(store.backend, 'memory');
      store.enqueue(items(2));
      assert.equal(store.size(), 2);
      assert.deepEqual(e.codes(), ['storage_failed']);
      assert.match(e.list[0].message, /denied/);
    } finally {
      if (had) Object.defineProperty(globalThis, 'localStorage', had);
      else delete globalThis.localStorage;
    }
  });

  it('a localStorage that refuses every write (private mode): memory, storage_failed once', async () => {
    const ls = new FakeLocalStorage();
    ls.failWith = 'security';
    const e = errors();
    const store = await openStore({ indexedDB: null, localStorage: ls, onError: e.onError });
    assert.equal(store.backend, 'memory');
    store.enqueue(items(3));
    assert.equal(await store.set('k', 'v'), true);
    await store.flushWrites();
    assert.equal(store.size(), 3);
    assert.equal(await store.get('k'), 'v');
    assert.deepEqual(e.codes(), ['storage_failed']);
    assert.match(e.list[0].message, /insecure/);
  });

  it('QuotaExceededError while running: storage_full once, the queue continues in memory', async () => {
    const ls = new FakeLocalStorage({ quotaBytes: 6000 });
    const e = errors();
    const store = await openStore({ name: 'q', indexedDB: null, localStorage: ls, onError: e.onError });
    assert.equal(store.backend, 'localstorage');
    const first = items(5);
    store.enqueue(first);
    await store.flushWrites();
    assert.deepEqual(e.list, []);
    const more = items(60);
    for (const it of more) {
      assert.doesNotThrow(() => store.enqueue([it]));
    }
    await store.flushWrites();
    assert.deepEqual(e.codes(), ['storage_full']);
    assert.equal(e.list[0].code, 'storage_full');
    assert.equal(store.backend, 'memory');
    assert.equal(store.size(), 65, 'nothing lost from memory');
    assert.equal(await store.set('snapshot', 's'.repeat(10000)), true);
    store.enqueue(items(5));
    await store.flushWrites();
    assert.equal(store.size(), 70);
    assert.deepEqual(e.codes(), ['storage_full'], 'still only once');
    assert.deepEqual(
      store.peek({ maxEvents: 1000 }).map((i) => i.id).slice(0, 65),
      [...first, ...more].map((i) => i.id),
    );
  });

  it('reload(): a second tab sharing localStorage — union by id, and what one tab removed leaves the other', async () => {
    const ls = new FakeLocalStorage();
    // Tab B's clock runs a second later, so its events come after tab A's.
    const clock = Date.now();
    const tabA = await openStore({ name: 'shared', indexedDB: null, localStorage: ls, now: () => clock });
    const tabB = await openStore({ name: 'shared', indexedDB: null, localStorage: ls, now: () => clock + 1000 });
    const a = items(3, { anon: 'anon-tab-a' });
    const b = items(4, { anon: 'anon-tab-b' });
    tabA.enqueue(a);
    tabB.enqueue(b);
    await tabA.flushWrites();
    await tabB.flushWrites();
    assert.equal(tabA.size(), 3, 'nothing merged before reload');

    await tabA.reload();
    assert.equal(tabA.size(), 7);
    assert.deepEqual(new Set(tabA.peek().map((i) => i.id)), new Set([...a, ...b].map((i) => i.id)));
    assert.deepEqual(
      tabA.peek().map((i) => i.id),
      [...a, ...b].map((i) => i.id),
      'ordered by enqueue time across tabs',
    );
    await tabA.reload();
    assert.equal(tabA.size(), 7, 'reload is idempotent');

    // Tab A "delivers" everything (some of it tab B's) and removes it.
    tabA.remove([...a, ...b].slice(0, 5).map((i) => i.id));
    await tabA.flushWrites();
    await tabB.reload();
    assert.deepEqual(
      tabB.peek().map((i) => i.id),
      b.slice(2).map((i) => i.id),
      "tab B drops what tab A removed and keeps what A did not send",
    );
    // An item tab B enqueued but did not write yet survives a reload.
    const c = items(1, { anon: 'anon-tab-b' });
    tabB.enqueue(c);
    await tabB.reload();
    assert.equal(tabB.peek().at(-1).id, c[0].id);
  });

  it('rows of an earlier release (one event each, keyed by its id) load, and leave when delivered', async () => {
    const ls = new FakeLocalStorage();
    const old = items(3);
    old.forEach((it, i) => ls.setItem(`old:q:${it.id}`, JSON.stringify({ id: it.id, body: it.body, priority: 1, ord: i + 1 })));
    const store = await openStore({ name: 'old', indexedDB: null, localStorage: ls });
    assert.deepEqual(store.peek().map((i) => i.id), old.map((i) => i.id));
    store.remove([old[1].id]);
    store.enqueue(items(2));
    await store.flushWrites();
    assert.deepEqual(ls.keysWith(`old:q:${old[1].id}`), [], 'its row is deleted');
    assert.equal(ls.storedEventIds('old:q:').length, 4);
  });

  it('a burst is written as a few rows, and a delivered batch rewrites or deletes only its rows', async () => {
    const ls = new FakeLocalStorage();
    const store = await openStore({ name: 'burst', indexedDB: null, localStorage: ls });
    const burst = items(250);
    store.enqueue(burst);
    await store.flushWrites();
    assert.equal(ls.keysWith('burst:q:').length, 3, '100 + 100 + 50');
    store.remove(burst.slice(0, 150).map((i) => i.id)); // a chunk and a half delivered
    await store.flushWrites();
    assert.equal(ls.keysWith('burst:q:').length, 2);
    assert.deepEqual(ls.storedEventIds('burst:q:').sort(), burst.slice(150).map((i) => i.id).sort());
    const next = await openStore({ name: 'burst', indexedDB: null, localStorage: ls });
    assert.deepEqual(next.peek({ maxEvents: 1000, maxBytes: 1e9 }).map((i) => i.id), burst.slice(150).map((i) => i.id), 'in order');
  });

  it('two tabs: one removes events from a chunk the other wrote; neither loses an event the other still holds', async () => {
    const ls = new FakeLocalStorage();
    const a = await openStore({ name: 'tabs', indexedDB: null, localStorage: ls });
    const b = await openStore({ name: 'tabs', indexedDB: null, localStorage: ls });
    const fromA = items(4);
    a.enqueue(fromA);
    await a.flushWrites();
    await b.reload();
    b.remove([fromA[0].id]); // B delivered one of A's events
    const fromB = items(2);
    b.enqueue(fromB);
    await b.flushWrites();
    a.remove([fromA[3].id]); // A delivered another, not knowing about B's removal yet
    await a.flushWrites();
    // A rewrote its chunk from what it knew: fromA[0] may come back (sent again, answered
    // duplicate), but nothing that is still to be sent is missing.
    const left = new Set(ls.storedEventIds('tabs:q:'));
    for (const it of [fromA[1], fromA[2], ...fromB]) assert.ok(left.has(it.id), `${it.id} kept`);
    assert.ok(!left.has(fromA[3].id));
  });

  it('two tabs that file one event under different chunks: a rewrite never drops an event the tab did not remove', async () => {
    const ls = new FakeLocalStorage();
    const spilled = [];
    const a = await openStore({ name: 'moved', indexedDB: null, localStorage: ls, budgetBytes: 4000, onSpill: (list) => spilled.push(...list) });
    const b = await openStore({ name: 'moved', indexedDB: null, localStorage: ls, budgetBytes: 4000 });
    const ev = (id, pad, priority) => ({ id, body: { name: id, pad: 'x'.repeat(pad) }, priority });
    a.enqueue([ev('x', 10, 1)]);
    await a.flushWrites();
    await b.reload(); // B has x in A's first chunk
    await a.set('snapshot', 'S'.repeat(3985)); // pushes x out of A's queue, to A's memory
    assert.deepEqual(spilled.map((i) => i.id), ['x']);
    await a.set('snapshot', 'small');
    a.enqueue([...spilled, ev('y', 10, 0)], { evict: 'lower', refused: [] }); // x and y: a new chunk
    await a.flushWrites();
    await b.reload();
    b.remove(['y']); // B delivered y, which shares the new chunk with x
    await b.flushWrites();
    assert.deepEqual(ls.storedEventIds('moved:q:'), ['x'], 'x, never delivered, is still stored');
    await a.reload();
    assert.deepEqual(a.peek().map((i) => i.id), ['x']);
  });

  it('clear() while a reload is reading: what was read does not come back', async () => {
    for (let ticks = 0; ticks < 8; ticks++) {
      const ls = new FakeLocalStorage();
      const store = await openStore({ name: 'race', indexedDB: null, localStorage: ls });
      store.enqueue(items(2));
      await store.flushWrites();
      const reading = store.reload();
      for (let i = 0; i < ticks; i++) await null;
      const cleared = store.clear();
      await reading;
      await cleared;
      assert.equal(store.size(), 0, `clear() ${ticks} ticks into the reload`);
      assert.deepEqual(ls.storedEventIds('race:q:'), []);
    }
  });

  it('clear(): nothing lasting remains, and writes made right after clear() survive it', async () => {
    const ls = new FakeLocalStorage();
    ls.setItem('other:k:x', 'not ours');
    const store = await openStore({ name: 'site', indexedDB: null, localStorage: ls });
    store.enqueue(items(10));
    await store.set('snapshot', 'state');
    await store.set('anonymous_id', 'old-anon');
    await store.flushWrites();
    assert.equal(ls.storedEventIds('site:q:').length, 10);
    assert.ok(ls.keysWith('site:k:').length >= 2);

    // reset(): clear() without awaiting it, then a new anonymous id.
    store.enqueue(items(2)); // pending, not written yet
    const cleared = store.clear();
    store.set('anonymous_id', 'new-anon');
    await cleared;
    await store.flushWrites();
    assert.equal(store.size(), 0);
    assert.equal(store.stats().queuedBytes, 0);
    assert.deepEqual(ls.keysWith('site:'), ['site:k:anonymous_id']);
    assert.equal(ls.getItem('site:k:anonymous_id'), 'new-anon');
    assert.equal(await store.get('snapshot'), undefined);
    assert.equal(ls.getItem('other:k:x'), 'not ours');

    // Consent denied: clear() and nothing else.
    await store.clear();
    assert.deepEqual(ls.keysWith('site:'), []);
  });

  it('clear() also removes localStorage leftovers when the store runs on another backend', async () => {
    const ls = new FakeLocalStorage();
    const earlier = await openStore({ name: 'left', indexedDB: null, localStorage: ls });
    earlier.enqueue(items(2));
    await earlier.flushWrites();
    ls.failWith = 'security'; // this page cannot use it: memory
    const store = await openStore({ name: 'left', indexedDB: null, localStorage: ls, onError: () => {} });
    assert.equal(store.backend, 'memory');
    ls.failWith = null;
    await store.clear();
    assert.deepEqual(ls.keysWith('left:'), []);
  });
});

// ---------------------------------------------------------------------------------------------
// IndexedDB: only real browsers have it. storage.js is served as a module to headless Chromium.

const CHROMIUM = process.env.WAYMARK_CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
let playwright = null;
try {
  playwright = await import('playwright-core');
} catch {
  // not installed
}

describe('storage: IndexedDB in headless Chromium', { skip: !CHROMIUM || !playwright ? 'chromium or playwright-core not available' : false }, () => {
  let browser;
  let server;
  let origin;
  before(async () => {
    // storage.js and the modules it imports (limits.js), as they are in js/src.
    const modules = new Map(['storage.js', 'limits.js'].map((f) => [`/${f}`, fs.readFileSync(path.join(ROOT, 'js', 'src', f))]));
    server = http.createServer((req, res) => {
      if (modules.has(req.url)) {
        res.writeHead(200, { 'Content-Type': 'text/javascript' });
        res.end(modules.get(req.url));
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<!doctype html><title>storage</title>');
      }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${server.address().port}`;
    browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve) ?? resolve());
  });

  it('one database with stores kv and queue; a second tab reloads; clear() empties it; a failing open falls back', async () => {
    const context = await browser.newContext();
    const tab1 = await context.newPage();
    const tab2 = await context.newPage();
    await tab1.goto(`${origin}/`);
    await tab2.goto(`${origin}/`);
    const result = await tab1.evaluate(async () => {
      const { openStore } = await import('/storage.js');
      const errors = [];
      const store = await openStore({ name: 'wm-idb', onError: (e) => errors.push(e) });
      const mk = (id, priority) => ({ id, body: { id, name: 'page_viewed', n: id.length }, priority });
      store.enqueue([mk('a1', 1), mk('a2', 2), mk('a3', 0)]);
      await store.set('snapshot', 'S'.repeat(150000));
      await store.set('anonymous_id', 'anon-idb');
      await store.flushWrites();
      const db = await new Promise((res, rej) => {
        const r = indexedDB.open('wm-idb');
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const names = [...db.objectStoreNames].sort();
      // Events stored, through the chunk rows (one row per batch of events written together).
      const count = await new Promise((res) => {
        const r = db.transaction('queue').objectStore('queue').getAll();
        r.onsuccess = () => res(r.result.flatMap((row) => row.items || [row]).length);
      });
      db.close();
      window.store = store;
      return { backend: store.backend, names, count, errors, ls: localStorage.length };
    });
    assert.deepEqual(result, { backend: 'indexeddb', names: ['kv', 'queue'], count: 3, errors: [], ls: 0 });

    const second = await tab2.evaluate(async () => {
      const { openStore } = await import('/storage.js');
      const store = await openStore({ name: 'wm-idb' });
      const loaded = store.peek().map((i) => i.id);
      store.enqueue([{ id: 'b1', body: { id: 'b1' }, priority: 1 }]);
      store.remove(['a1']);
      await store.flushWrites();
      return { backend: store.backend, loaded, snapshot: (await store.get('snapshot')).length, anon: await store.get('anonymous_id') };
    });
    assert.deepEqual(second, { backend: 'indexeddb', loaded: ['a1', 'a2', 'a3'], snapshot: 150000, anon: 'anon-idb' });

    const merged = await tab1.evaluate(async () => {
      await window.store.reload();
      const ids = window.store.peek().map((i) => i.id);
      await window.store.clear();
      const after = await new Promise((res) => {
        const r = indexedDB.open('wm-idb');
        r.onsuccess = () => {
          const tx = r.result.transaction(['kv', 'queue']);
          const a = tx.objectStore('kv').count();
          const b = tx.objectStore('queue').count();
          tx.oncomplete = () => {
            r.result.close();
            res([a.result, b.result]);
          };
        };
      });
      return { ids, after, size: window.store.size() };
    });
    assert.deepEqual(merged, { ids: ['a2', 'a3', 'b1'], after: [0, 0], size: 0 });

    const fallback = await tab1.evaluate(async () => {
      const { openStore } = await import('/storage.js');
      const errors = [];
      const broken = {
        open() {
          throw new DOMException('A mutation operation was attempted on a database that did not allow mutations.', 'InvalidStateError');
        },
      };
      const store = await openStore({ name: 'wm-fallback', indexedDB: broken, onError: (e) => errors.push(e.code) });
      store.enqueue([{ id: 'f1', body: { id: 'f1' }, priority: 1 }]);
      await store.flushWrites();
      const keys = Object.keys(localStorage).filter((k) => k.startsWith('wm-fallback:'));
      await store.clear();
      return { backend: store.backend, errors, keys, left: Object.keys(localStorage).length };
    });
    assert.equal(fallback.keys.length, 1);
    assert.match(fallback.keys[0], /^wm-fallback:q:/);
    assert.deepEqual({ ...fallback, keys: [] }, { backend: 'localstorage', errors: ['storage_failed'], keys: [], left: 0 });
    await context.close();
  });
});

// The tracker moves events waiting in memory into the store as room frees (Tracker._refillQueue).
describe('refilling the store from memory', () => {
  const refill = (tracker) => Tracker.prototype._refillQueue.call(tracker);
  const waiting = (id, size, priority) => {
    const body = { name: id, pad: 'x'.repeat(size) };
    return { id, body, priority, bytes: utf8Length(JSON.stringify(body)) };
  };

  it('an event too large for the store does not hold back the ones behind it', async () => {
    const store = await memoryStore({ budgetBytes: 262144, kvReserveBytes: 131072 });
    const tracker = { _store: store, _overflow: [waiting('huge', 140000, 1), waiting('a', 100, 1), waiting('b', 100, 2)] };
    refill(tracker);
    assert.deepEqual(store.peek().map((i) => i.id), ['a', 'b']);
    assert.deepEqual(tracker._overflow.map((i) => i.id), ['huge']);
  });

  it('a noise event ahead of a conversion does not keep the conversion out of a store full of normal events', async () => {
    const store = await memoryStore({ budgetBytes: 20000, kvReserveBytes: 10000 });
    let n = 0;
    while (store.enqueue([waiting(`n${n}`, 900, 1)], { evict: 'lower', refused: [] })) n++;
    while (store.enqueue([waiting(`n${n}`, 1, 1)], { evict: 'lower', refused: [] })) n++; // to the last byte
    const tracker = { _store: store, _overflow: [waiting('noise', 100, 0), waiting('conversion', 100, 2)] };
    refill(tracker);
    assert.ok(store.peek({ maxEvents: 1000 }).some((i) => i.id === 'conversion'), 'the conversion is stored (a normal event made room)');
    assert.deepEqual(tracker._overflow.map((i) => i.id), ['noise']);
  });

  it('a store full of conversions is not offered anything (no pass over the waiting events)', async () => {
    const store = await memoryStore({ budgetBytes: 20000, kvReserveBytes: 10000 });
    let n = 0;
    while (store.enqueue([waiting(`c${n}`, 900, 2)], { evict: 'lower', refused: [] })) n++;
    let offered = 0;
    const spy = { ...store, enqueue: (...args) => { offered++; return store.enqueue(...args); }, wouldTake: store.wouldTake };
    const tracker = { _store: spy, _overflow: [waiting('c-late', 900, 2)] };
    refill(tracker);
    assert.equal(offered, 0);
    assert.deepEqual(tracker._overflow.map((i) => i.id), ['c-late']);
  });
});
