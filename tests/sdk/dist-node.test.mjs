// The BUILT npm entries under Node (dist/node.mjs as ESM, dist/node.cjs as CommonJS) against the
// real collector on loopback: one event through each, delivered and stored; bad input gives
// 'error' events, never exceptions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { ROOT, SITE_KEY, getProfile, useCollector, waitFor } from '../collector/helpers.mjs';

const dist = path.join(ROOT, 'dist');
const ctx = useCollector({ siteKeys: [SITE_KEY] });

test('dist/waymark.wasm is the wasm the engine tests ran', () => {
  const built = fs.readFileSync(path.join(ROOT, 'build', 'wasm', 'wasm', 'waymark.wasm'));
  assert.ok(fs.readFileSync(path.join(dist, 'waymark.wasm')).equals(built));
});

async function oneEventThrough(waymark, label) {
  const errors = [];
  waymark.on('error', (e) => errors.push(e));
  const stages = [];
  waymark.on('stage', (s) => stages.push(s.to));
  const ready = await waymark.init({ key: SITE_KEY, endpoint: ctx.srv.url, mapFromCollector: false, batchDelayMs: 10 });
  assert.equal(ready.ok, true, JSON.stringify(ready));
  assert.equal(ready.stage, 'awareness');
  const result = waymark.track('pricing_viewed', { plan: 'pro', note: `from ${label}` });
  assert.equal(result.status, 'queued');
  assert.equal(waymark.stage(), 'engaged');
  assert.deepEqual(stages, ['engaged']);
  const flushed = await waymark.flush({ timeoutMs: 10000 });
  assert.equal(flushed.pending, 0, JSON.stringify(flushed));
  const profile = await waitFor(async () => {
    const r = await getProfile(ctx.srv, ready.anonymousId);
    return r.status === 200 && r.json.stage === 'engaged' ? r.json : null;
  }, { what: `${label} profile at stage engaged` });
  assert.equal(profile.stage, 'engaged');
  assert.deepEqual(errors, []);
  return waymark;
}

test("identify(userId, traits): the collector gets the traits with the user_identified event and its engine holds the browser's traits", async () => {
  const mod = await import(path.join(dist, 'node.mjs'));
  const waymark = mod.createApi({ win: null, loadModule: (o) => mod.default._tracker._platform.loadModule(o), loadCompiler: (o) => mod.default._tracker._platform.loadCompiler(o) });
  const errors = [];
  waymark.on('error', (e) => errors.push(e));
  const ready = await waymark.init({ key: SITE_KEY, endpoint: ctx.srv.url, mapFromCollector: false, batchDelayMs: 10 });
  assert.equal(ready.ok, true, JSON.stringify(ready));
  const user = `user-traits-${process.pid}`;
  waymark.identify(user, { plan: 'pro', company: { size: 250 } });
  waymark.track('pricing_viewed', { plan: 'pro' });
  const flushed = await waymark.flush({ timeoutMs: 10000 });
  assert.equal(flushed.pending, 0, JSON.stringify(flushed));
  const profile = await waitFor(async () => {
    const r = await getProfile(ctx.srv, ready.anonymousId);
    return r.status === 200 && r.json.state?.traits?.plan ? r.json : null;
  }, { what: 'profile with the traits' });
  assert.equal(profile.user_id, user);
  assert.deepEqual(profile.state.traits, { plan: 'pro', company: { size: 250 } });
  assert.deepEqual(errors, []);
  waymark.destroy();
});

test('ESM: import the Node entry, init, one event delivered to the collector', async () => {
  const mod = await import(path.join(dist, 'node.mjs'));
  const waymark = await oneEventThrough(mod.default, 'esm');
  waymark.destroy();
});

test('CommonJS: require the Node entry, one event delivered to the collector', async () => {
  const require = createRequire(import.meta.url);
  const waymark = await oneEventThrough(require(path.join(dist, 'node.cjs')).default, 'cjs');
  waymark.destroy();
});

test('bad arguments and a bad map become error events, never exceptions', async () => {
  const mod = await import(path.join(dist, 'node.mjs'));
  // A second instance, with the same wasm loader as the default one.
  const waymark = mod.createApi({ win: null, loadModule: (o) => mod.default._tracker._platform.loadModule(o), loadCompiler: (o) => mod.default._tracker._platform.loadCompiler(o) });
  const errors = [];
  waymark.on('error', (e) => errors.push(e));
  const ready = await waymark.init({ map: { id: 'x', version: 1, stages: 'nope' } });
  assert.equal(ready.ok, true);
  assert.equal(ready.stage, 'awareness', 'the default map is in use');
  assert.match(errors[0].message, /^the map given to init\(\) was refused: stages: expected a non-empty array$/);
  errors.length = 0;
  assert.doesNotThrow(() => waymark.track());
  assert.doesNotThrow(() => waymark.track('Bad Name!'));
  waymark.stage(); // a read runs the waiting events through the engine: the rejection is reported
  assert.doesNotThrow(() => waymark.track('pricing_viewed', 'not an object'));
  assert.doesNotThrow(() => waymark.identify(''));
  await assert.doesNotReject(() => waymark.consent('maybe'));
  assert.deepEqual(errors.map((e) => e.code), ['invalid_argument', 'invalid_event_name', 'invalid_argument', 'invalid_argument', 'invalid_argument']);
  assert.match(errors[0].message, /name must be a non-empty string/);
  // A JSON map goes through the compiler module (dist/waymark-compiler.wasm, read from disk).
  assert.equal(await waymark.setMap('{"broken":'), false);
  assert.equal(errors.at(-1).code, 'invalid_json');
  assert.equal(waymark.stage(), 'awareness', 'the last good map stays in use');
  waymark.destroy();
});

test('hostile property values (1 MB string, circular, BigInt, 5 000 deep, throwing getter and proxy): each named in problems and one error event; the event is kept, cleaned, and stored by the collector', async () => {
  const mod = await import(path.join(dist, 'node.mjs'));
  const waymark = mod.createApi({ win: null, loadModule: (o) => mod.default._tracker._platform.loadModule(o), loadCompiler: (o) => mod.default._tracker._platform.loadCompiler(o) });
  const errors = [];
  waymark.on('error', (e) => errors.push(e));
  const before = waymark.track('feature_used', { x: 1 });
  assert.deepEqual(before, { id: null, status: 'pending' }, 'before init(): pending, not undefined');
  const ready = await waymark.init({ key: SITE_KEY, endpoint: ctx.srv.url, mapFromCollector: false, batchDelayMs: 10 });
  assert.equal(ready.ok, true);

  const circular = { label: 'loop' };
  circular.self = circular;
  let deep = {};
  const root = deep;
  for (let i = 0; i < 5000; i++) deep = deep.x = {};
  const getter = {};
  Object.defineProperty(getter, 'boom', { enumerable: true, get() { throw new Error('getter'); } });
  const proxy = new Proxy({}, { ownKeys() { throw new Error('trap'); } });
  const properties = {
    big: `${'x'.repeat(1 << 20)} mail me at john.doe@example.com`,
    circular,
    count: 10n ** 20n,
    deep: root,
    getter,
    proxy,
    fn() {},
    sym: Symbol('s'),
    nan: NaN,
    when: new Date(0),
    ok: 'write to jane@example.org',
  };
  errors.length = 0;
  let result;
  assert.doesNotThrow(() => { result = waymark.track('feature_used', properties); });
  assert.equal(result.status, 'queued');
  assert.match(result.id, /^[0-9a-f-]{36}$/);
  const codes = Object.fromEntries(result.problems.map((p) => [p.path, p.code]));
  assert.deepEqual(codes, {
    'properties.big': 'string_truncated',
    'properties.circular.self': 'circular',
    'properties.count': 'converted_bigint',
    'properties.deep.x.x.x': 'too_deep',
    'properties.getter.boom': 'unreadable_value',
    'properties.proxy': 'unreadable_value',
    'properties.fn': 'unsupported_value',
    'properties.sym': 'unsupported_value',
    'properties.nan': 'invalid_number',
  });
  assert.equal(errors.length, 1, 'one error event for the call');
  assert.equal(errors[0].code, 'invalid_properties');
  assert.match(errors[0].message, /^track\('feature_used'\): properties\.big: cut to 2048 bytes/);

  await waymark.flush({ timeoutMs: 10000 });
  const profile = await getProfile(ctx.srv, waymark.user().anonymousId());
  assert.equal(profile.status, 200, profile.text);
  const stored = profile.json.touchpoints.find((t) => t.id === result.id);
  assert.ok(stored, 'the event was delivered and stored');
  waymark.destroy();
});

test('track() always answers { id, status }: a bad name is dropped with its reason', async () => {
  const mod = await import(path.join(dist, 'node.mjs'));
  const waymark = mod.createApi({ win: null, loadModule: (o) => mod.default._tracker._platform.loadModule(o), loadCompiler: (o) => mod.default._tracker._platform.loadCompiler(o) });
  waymark.on('error', () => {});
  await waymark.init({ mapFromCollector: false });
  assert.deepEqual(waymark.track(), { id: null, status: 'dropped', reason: 'invalid_argument' });
  assert.deepEqual(waymark.track(42), { id: null, status: 'dropped', reason: 'invalid_argument' });
  assert.deepEqual(waymark.track('pricing_viewed', 'props'), { id: null, status: 'dropped', reason: 'invalid_argument' });
  waymark.destroy();
});

test("every call of docs/sdk.md's table, with wrong arguments: one error event naming the call, no exception, a documented return", async () => {
  const sdk = fs.readFileSync(path.join(ROOT, 'docs', 'sdk.md'), 'utf8');
  const documented = [...sdk.matchAll(/^\| `([a-zA-Z]+)\(/gm)].map((m) => m[1]);
  // Wrong arguments for each call; a call added to the docs without a row here fails this test.
  const wrong = {
    init: [[null], ['key']],
    track: [[], [42], ['pricing_viewed', 'props']],
    page: [[123], [Symbol('x')]],
    identify: [[null], [''], [undefined, undefined], ['user-1', 'traits']],
    reset: [[1]],
    consent: [['maybe'], [null]],
    stage: [[1]],
    score: [[42]],
    context: [['x']],
    on: [['stage', 'notfn'], ['nope', () => {}]],
    flush: [['x']],
    setMap: [[123], [null]],
    stats: [[true]],
    ready: [['notfn']],
  };
  const missing = documented.filter((name) => !(name in wrong));
  assert.deepEqual(missing, [], 'every documented call has wrong-argument cases here');
  const mod = await import(path.join(dist, 'node.mjs'));
  const waymark = mod.createApi({ win: null, loadModule: (o) => mod.default._tracker._platform.loadModule(o), loadCompiler: (o) => mod.default._tracker._platform.loadCompiler(o) });
  const errors = [];
  waymark.on('error', (e) => errors.push(e));
  const ready = await waymark.init({ mapFromCollector: false });
  assert.equal(ready.ok, true);
  const rejections = [];
  const onRejection = (err) => rejections.push(err);
  process.on('unhandledRejection', onRejection);
  try {
    for (const [name, cases] of Object.entries(wrong)) {
      for (const args of cases) {
        errors.length = 0;
        let result;
        assert.doesNotThrow(() => { result = waymark[name](...args); }, `${name}(${args.map(String)})`);
        if (result && typeof result.then === 'function') await result;
        waymark.stage(); // runs anything queued through the engine
        const label = `${name}(${args.map((a) => (typeof a === 'symbol' ? 'Symbol' : JSON.stringify(a))).join(', ')})`;
        assert.ok(errors.length >= 1, `${label}: an error event`);
        assert.ok(errors.some((e) => e.code === 'invalid_argument' && e.message.includes(`${name}()`) || e.message.startsWith(name)), `${label}: names the call: ${JSON.stringify(errors)}`);
        if (name === 'track' || name === 'page') assert.equal(result.status, 'dropped', `${label} returns dropped`);
        if (name === 'init') assert.equal((await result).ok, false);
        if (name === 'on') assert.equal(result, false);
        if (name === 'setMap') assert.equal(await result, false, 'setMap resolves false');
      }
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(rejections, [], 'no unhandled rejection');
    assert.equal(waymark.stage(), 'awareness', 'the tracker still works');
  } finally {
    process.off('unhandledRejection', onRejection);
    waymark.destroy();
  }
});

test('debug: true says which properties the stage sync filter keeps back, once per name', async () => {
  const mod = await import(path.join(dist, 'node.mjs'));
  const waymark = mod.createApi({ win: null, loadModule: (o) => mod.default._tracker._platform.loadModule(o), loadCompiler: (o) => mod.default._tracker._platform.loadCompiler(o) });
  const warnings = [];
  const original = console.warn;
  console.warn = (...args) => warnings.push(args.join(' '));
  try {
    waymark.on('error', () => {});
    await waymark.init({ key: SITE_KEY, endpoint: ctx.srv.url, mapFromCollector: false, debug: true, batchDelayMs: 10 });
    assert.equal(waymark.stage(), 'awareness');
    waymark.track('feature_used', { plan: 'pro', feature: 'journeys', team_size: 12 });
    waymark.track('feature_used', { feature: 'exports' });
    waymark.stage();
    const filtered = warnings.filter((w) => w.includes('sync filter'));
    assert.equal(filtered.length, 2, filtered.join('\n'));
    assert.match(filtered[0], /property 'feature' of 'feature_used' is not sent: the sync filter of stage 'awareness'/);
    assert.match(filtered[1], /property 'team_size'/);
    assert.ok(!filtered.some((w) => w.includes("'plan'")), 'plan is in the awareness filter: sent');
  } finally {
    console.warn = original;
    waymark.destroy();
  }
});

test('compiled maps: init({ map: bytes }) and setMap(bytes) need no compiler; damaged bytes are refused with map_corrupt', async () => {
  const mod = await import(path.join(dist, 'node.mjs'));
  let compilerLoads = 0;
  const waymark = mod.createApi({
    win: null,
    loadModule: (o) => mod.default._tracker._platform.loadModule(o),
    loadCompiler: (o) => {
      compilerLoads += 1;
      return mod.default._tracker._platform.loadCompiler(o);
    },
  });
  const errors = [];
  waymark.on('error', (e) => errors.push(e));
  // The collector's compiled form of its map (the default map, version 1).
  const res = await fetch(`${ctx.srv.url}/v1/map`, { headers: { Accept: 'application/vnd.waymark.map' } });
  assert.equal(res.headers.get('content-type'), 'application/vnd.waymark.map');
  const bytes = new Uint8Array(await res.arrayBuffer());
  const ready = await waymark.init({ map: bytes, mapFromCollector: false });
  assert.equal(ready.ok, true);
  assert.equal(waymark.context().mapVersion, 1);
  const damaged = bytes.slice();
  damaged[damaged.length - 1] ^= 0xff;
  assert.equal(await waymark.setMap(damaged), false);
  assert.equal(errors.at(-1).code, 'map_corrupt');
  assert.match(errors.at(-1).message, /^map refused, keeping version 1: compiled map: checksum mismatch$/);
  assert.equal(await waymark.setMap(bytes.buffer), true, 'an ArrayBuffer works too');
  assert.equal(compilerLoads, 0, 'compiled maps never load the compiler');
  // A JSON map loads it, once.
  const json = JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8'));
  json.version = 5;
  assert.equal(await waymark.setMap(json), true);
  assert.equal(await waymark.setMap({ ...json, version: 6 }), true);
  assert.equal(waymark.context().mapVersion, 6);
  assert.equal(compilerLoads, 1);
  waymark.destroy();
});
