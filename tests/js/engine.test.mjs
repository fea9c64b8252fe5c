// The wasm boundary from JavaScript: errors arrive as WaymarkError with a code, garbage never
// aborts the module, and dispose() frees the handle. The SDK's calls run against the production
// module (the one dist/ ships); the test-only calls (attribution, batching) against the test build.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { JourneyEngine, engineTools } from '../../js/src/engine.js';
import { WaymarkError } from '../../js/src/errors.js';
import { loadModule, loadTestModule } from './load-engine.mjs';
import { testTools } from './extra-tools.mjs';

const module = await loadModule();
const tools = engineTools(module);
const testModule = await loadTestModule();
const extra = testTools(testModule);
const t0 = 1700000000000;

test('a bad map is refused with the core path-precise error and the default map stays usable', () => {
  const bad = JSON.parse(tools.defaultMap());
  bad.transitions[0].when = { count: { event: 'page_viewed', within: 'soon' } };
  assert.throws(() => tools.validateMap(bad), (e) => e instanceof WaymarkError && e.code === 'invalid_map' &&
    e.message === 'transitions[0].when.count.within: expected a duration');
  const engine = new JourneyEngine(module, bad);
  assert.equal(engine.mapError.code, 'invalid_map');
  const [out] = engine.track([{ id: 'a', anonymous_id: 'x', name: 'pricing_viewed', time: t0 }]);
  assert.equal(out.stage, 'engaged');
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
  const junk = ['', '[', 'null', '42', '"x"', '{"a":', '[' .repeat(10000) + ']'.repeat(10000), '\u0000', '[{"id":1}]'];
  for (const text of junk) {
    try {
      engine._handle._track(text);
    } catch (e) {
      assert.fail(`track threw for ${JSON.stringify(text.slice(0, 20))}: ${e}`);
    }
  }
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

test('outbound batches stay under the keepalive budget', () => {
  const envelopes = Array.from({ length: 300 }, (_, i) => ({ id: `e${i}`, pad: 'x'.repeat(500) }));
  const { bodies, counts, oversize } = extra.buildBatches(envelopes, 65536, t0, 'pk');
  assert.ok(bodies.length > 1);
  assert.equal(counts.reduce((a, b) => a + b, 0), 300);
  assert.deepEqual(oversize, []);
  for (const b of bodies) assert.ok(new TextEncoder().encode(b).length <= 65536);
});
