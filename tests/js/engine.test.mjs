// The wasm boundary from JavaScript: errors arrive as WaymarkError with a code, garbage never
// aborts the module, and dispose() frees the handle. The SDK's calls run against the production
// module (the one dist/ ships); the test-only calls (attribution, batching) against the test build.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { JourneyEngine } from '../../js/src/engine.js';
import { WaymarkError } from '../../js/src/errors.js';
import { loadCompiler, loadModule, loadTestModule } from './load-engine.mjs';
import { writeRecords } from '../../js/src/record.js';
import { testTools } from './extra-tools.mjs';

const module = await loadModule();
const compiler = await loadCompiler();
const testModule = await loadTestModule();
const extra = testTools(testModule);
const t0 = 1700000000000;

test('a bad map is refused by the compiler with the core path-precise error', () => {
  const bad = JSON.parse(compiler.defaultMap());
  bad.transitions[0].when = { count: { event: 'page_viewed', within: 'soon' } };
  assert.throws(() => compiler.compile(bad), (e) => e instanceof WaymarkError && e.code === 'invalid_map' &&
    e.message === 'transitions[0].when.count.within: expected a duration');
  assert.throws(() => compiler.compile('{"id":'), (e) => e.code === 'invalid_json');
  assert.throws(() => compiler.compile(42), (e) => e.code === 'invalid_map');
  assert.throws(() => compiler.compile('x'.repeat(2 * 1024 * 1024)), (e) => e.code === 'too_large');
  // Still good after the errors.
  assert.equal(compiler.compile(compiler.defaultMap())[0], 0x57); // "W" of WMAP
});

test('compiled maps: loaded and replayed, damaged bytes refused, the default map stays usable', () => {
  const engine = new JourneyEngine(module, null);
  assert.deepEqual([engine.map.id, engine.map.version], ['default', 1]);
  assert.ok(engine.map.names.includes('generate_lead'), 'registry names and aliases');
  engine.track([{ id: 'a', anonymous_id: 'x', name: 'page_viewed', time: t0 }]);
  const custom = JSON.parse(compiler.defaultMap());
  custom.version = 7;
  custom.transitions.find((t) => t.id === 'engage').when = { event: 'page_viewed' };
  const bytes = compiler.compile(custom);
  // A flipped byte, a truncation, another format version, garbage: each refused, nothing changes.
  const flipped = bytes.slice();
  flipped[40] ^= 0xff;
  const version = bytes.slice();
  version[4] = 2;
  for (const [bad, code] of [[flipped, 'map_corrupt'], [bytes.slice(0, 100), 'map_corrupt'], [version, 'map_version'], [new Uint8Array(0), 'map_corrupt']]) {
    assert.throws(() => engine.loadMap(bad), (e) => e instanceof WaymarkError && e.code === code);
    assert.equal(engine.map.version, 1);
  }
  // The good one: the history is replayed under it (one page view now engages).
  assert.deepEqual(engine.loadMap(bytes), { stage: 'engaged', version: 7 });
  assert.equal(engine.map.version, 7);
  const refused = new JourneyEngine(module, flipped);
  assert.equal(refused.mapError.code, 'map_corrupt');
  const [out] = refused.track([{ id: 'b', anonymous_id: 'x', name: 'pricing_viewed', time: t0 }]);
  assert.equal(out.stage, 'engaged', 'the default map in use');
  refused.dispose();
  engine.dispose();
});

test('journey through the default map from JS', () => {
  const engine = new JourneyEngine(module, null);
  const results = engine.track([
    { id: 'e1', anonymous_id: 'x', name: 'page_viewed', time: t0, context: { url: 'https://s.example/?utm_source=news&utm_medium=email', campaign: { utm_source: 'news', utm_medium: 'email' } } },
    { id: 'e2', anonymous_id: 'x', name: 'generate_lead', time: t0 + 1000 },
    { id: 'e3', anonymous_id: 'x', name: 'Trial Started', time: t0 + 2000 },
  ]);
  assert.deepEqual(results.map((r) => r.stage), ['awareness', 'lead', 'trial']);
  assert.deepEqual(results[1].triggers.map((t) => t.trigger), ['became_lead']);
  assert.equal(results[1].name, 'lead_submitted');
  assert.ok(results[1].send);
  const hero = engine.decide(t0 + 3000).find((d) => d.slot === 'hero');
  assert.equal(hero.variant, 'hero_trial');
  const state = engine.state(t0 + 3000);
  assert.equal(state.stage, 'trial');
  assert.equal(state.transitions.length, 2);
  const snap = engine.snapshot();
  const copy = new JourneyEngine(module, null);
  copy.restore(snap);
  assert.equal(copy.stage(), 'trial');
  copy.dispose();
  engine.dispose();
  assert.throws(() => engine.stage(), /disposed/);
});

test('garbage input gives errors, never an abort', () => {
  const engine = new JourneyEngine(module, null);
  // Hostile record buffers straight into the typed boundary: truncated, random, lying lengths.
  const valid = new Uint8Array(engine._writer.bytes.subarray(0, writeRecords(engine._writer,
    [{ id: 'v', anonymous_id: 'x', name: 'pricing_viewed', time: t0, properties: { plan: 'pro' } }], engine._info)));
  const junk = [new Uint8Array(0), new Uint8Array([1]), new Uint8Array([255, 255, 255, 255, 0]), valid.slice(0, valid.length - 3),
    Uint8Array.from(valid, (b, i) => (i === 5 ? 255 : b))];
  let seed = 7;
  for (let n = 0; n < 200; n++) {
    junk.push(Uint8Array.from({ length: 1 + (n * 37) % 300 }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 255));
  }
  let refused = 0;
  for (const bytes of junk) {
    const at = engine._handle._inputBuffer(bytes.length);
    module.HEAPU8.set(bytes, at);
    const size = engine._handle._trackRecords(bytes.length);
    if (size < 0) {
      const text = new TextDecoder().decode(module.HEAPU8.slice(engine._handle._output(), engine._handle._output() - size));
      assert.equal(JSON.parse(text).error.code, 'invalid_batch');
      refused += 1;
    }
  }
  assert.ok(refused >= 195, `only ${refused} of ${junk.length} junk buffers were refused`);
  assert.equal(engine.state(t0).counters.accepted, 0, 'junk tracked nothing');
  assert.throws(() => engine.track({ not: 'an array' }), (e) => e.code === 'invalid_batch');
  const [rejected] = engine.track([{ id: 'r', anonymous_id: 'x', name: 'Bad Name', time: t0 }]);
  assert.equal(rejected.status, 'rejected');
  assert.equal(rejected.error.code, 'invalid_event_name');
  assert.throws(() => engine.identify('null'), (e) => e.code === 'invalid_user_id');
  assert.throws(() => engine.restore('garbage'), (e) => e.code === 'snapshot_corrupt');
  // Still alive and correct after all of that.
  const [ok] = engine.track([{ id: 'ok', anonymous_id: 'x', name: 'pricing_viewed', time: t0 }]);
  assert.equal(ok.stage, 'engaged');
  engine.dispose();
});

test('attribution of an engine (test build) and a bad model as an error', () => {
  const engine = new JourneyEngine(testModule, null);
  engine.track([
    { id: 'e1', anonymous_id: 'x', name: 'page_viewed', time: t0, context: { url: 'https://s.example/?utm_source=news&utm_medium=email', campaign: { utm_source: 'news', utm_medium: 'email' } } },
    { id: 'e2', anonymous_id: 'x', name: 'generate_lead', time: t0 + 1000 },
  ]);
  assert.deepEqual(extra.attribute(engine, 'first_touch', t0 + 3000), [{ channel: 'Email', credit: 1 }]);
  assert.throws(() => extra.attribute(engine, 'best_guess', t0), (e) => e instanceof WaymarkError && e.code === 'invalid_model');
  const [ok] = engine.track([{ id: 'ok', anonymous_id: 'x', name: 'pricing_viewed', time: t0 + 4000 }]);
  assert.equal(ok.status, 'accepted');
  engine.dispose();
});

test('local-only engines personalize but send nothing', () => {
  const engine = new JourneyEngine(module, null, { localOnly: true });
  const [out] = engine.track([{ id: 'a', anonymous_id: 'x', name: 'trial_started', time: t0 }]);
  assert.equal(out.send, false);
  assert.equal('outbound' in out, false);
  assert.equal(engine.decide(t0).find((d) => d.slot === 'cta').variant, 'cta_upgrade');
  engine.dispose();
});


// The typed boundary must answer as the JSON one it replaced: the same statuses, errors, stages,
// transitions, triggers and sync decisions, and an outbound with the same name, properties,
// channel and user id, for well-formed, malformed and borderline envelopes alike.
test('the typed boundary agrees with the JSON boundary event by event', () => {
  const map = JSON.parse(compiler.defaultMap());
  map.transitions.push({ id: 'plan_pro', from: ['engaged'], to: 'lead', priority: 5,
    when: { all: [{ event: 'plan_selected' }, { field: 'properties.plan.tier', equals: 'pro' }] } });
  map.scoring.rules.push({ id: 'big_cart', when: { field: 'properties.cart', gte: 100 }, points: 5 });
  map.scoring.rules.push({ id: 'tagged', when: { field: 'properties.tags', exists: true }, points: 1 });
  const typed = new JourneyEngine(testModule, compiler.compile(map));
  const json = new JourneyEngine(testModule, compiler.compile(map));
  const base = { anonymous_id: 'anon-1' };
  const long = 'é'.repeat(1100);
  const envelopes = [
    { id: 'a1', name: 'page_viewed', time: t0, properties: { b: 1, a: 2 }, context: { path: '/', url: 'https://s.example/?gclid=x', referrer: 'https://www.google.com/', campaign: { gclid: 'x' } } },
    { id: 'a2', name: 'page_viewed', time: t0 + 10, properties: { a: 2, b: 1 }, context: { path: '/', url: 'https://s.example/?gclid=x' } },
    { id: 'a3', name: 'page_viewed', time: t0 + 20, properties: { a: 2, b: 3 }, context: { path: '/', url: 'https://s.example/?gclid=x' } },
    { id: 'a4', name: 'Pricing Viewed', time: t0 + 30 },
    { id: 'a5', name: 'pricing_viewed', time: t0 + 40, user_id: 'null', properties: { cart: 150, tags: ['x', 'y'], secret: 's' } },
    { id: 'a6', name: 'plan_selected', time: t0 + 50, properties: { plan: { tier: 'pro', seats: 3 } } },
    { id: 'a7', name: 'generate_lead', time: t0 + 60, properties: { email_domain: 'x.example', note: long } },
    { id: 'a8', name: 'generate_lead', time: 'soon' },
    { id: 'a9', name: 'x', time: t0 + 70 },
    { id: 7, name: 'page_viewed', time: t0 + 80 },
    { id: 'a10', name: 'page_viewed', time: t0 + 90, properties: { deep: { a: { b: { c: { d: 1 } } } } } },
    { id: 'a11', name: 'page_viewed', time: t0 + 100, properties: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) },
    { id: 'a12', name: 'page_viewed', time: t0 + 110, properties: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'x'.repeat(2000)])) },
    { id: 'a13', name: 'page_viewed', time: t0 + 120, context: { path: 5 } },
    { id: '', name: 'page_viewed', time: t0 + 130 },
    { id: 'a14', name: 'trial_started', time: t0 + 140, user_id: 'u-1', type: 'track', seq: 4, sent_at: t0 + 200 },
    { id: 'a15', name: 'trial_started', time: t0 + 150, user_id: 'u-2' },
    { id: 'a16', name: 'page_viewed', time: t0 + 160, context: { automation: true, title: 'Ünïcode ✓', campaign: { utm_source: 'news', utm_medium: '' } } },
    { id: 'a17', name: 'page_viewed', time: t0 + 170, properties: { a: { b: { c: { d: 1 } } } } }, // a scalar at depth 5
    { id: 'a18', name: 'feature_used', time: t0 + 180, type: '' }, // an empty type is "track"
    { id: 'a19', name: 'feature_used', time: t0 + 190, properties: { big: 'x'.repeat(70000) } }, // over 64 KB
  ].map((e) => ({ ...base, ...e }));
  const a = typed.track(envelopes);
  const b = extra.trackJson(json, envelopes);
  assert.equal(a.length, b.length);
  const pick = (o) => o && { name: o.name, properties: o.properties, channel: o.context?.channel, user_id: o.user_id };
  a.forEach((r, i) => {
    const w = b[i];
    const where = `event ${i} (${envelopes[i].id})`;
    assert.equal(r.status, w.status, `${where}: status`);
    assert.equal(r.stage, w.stage, `${where}: stage`);
    if (w.status === 'rejected') {
      assert.deepEqual(r.error, w.error, `${where}: error`);
      return;
    }
    assert.equal(r.name, w.name, `${where}: name`);
    assert.deepEqual(r.transitions, w.transitions, `${where}: transitions`);
    assert.deepEqual(r.triggers, w.triggers, `${where}: triggers`);
    assert.equal(r.send, w.send, `${where}: send`);
    assert.deepEqual(pick(r.outbound), pick(w.outbound), `${where}: outbound`);
  });
  assert.deepEqual(a.map((r) => r.status).filter((s) => s !== 'accepted').sort(), ['folded', ...Array(12).fill('rejected')]);
  assert.equal(typed.score(t0 + 200), json.score(t0 + 200));
  assert.deepEqual(typed.state(t0 + 200).counters, json.state(t0 + 200).counters);
  typed.dispose();
  json.dispose();
});
