// The shared vectors (tests/vectors/*.json) run through the built wasm module from JavaScript:
// the same expectations the native GoogleTest runner checks, so the browser engine is shown to
// be the server engine. Format: tests/vectors/README.md. They run against the test build of the
// module (the production engine and bindings plus the classify, attribute and merge calls the
// vectors need, tests/js/extra-tools.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { JourneyEngine } from '../../js/src/engine.js';
import { WaymarkError } from '../../js/src/errors.js';
import { loadCompiler, loadTestModule, vectorsDir } from './load-engine.mjs';
import { testTools } from './extra-tools.mjs';

const TOLERANCE = 1e-6;
const files = fs.readdirSync(vectorsDir).filter((f) => f.endsWith('.json')).sort();

function near(actual, expected, what) {
  assert.ok(Math.abs(actual - expected) <= TOLERANCE, `${what}: ${actual} vs ${expected}`);
}

function withDefaults(envelope, index) {
  const e = { ...envelope };
  if (!('id' in e)) e.id = `v${index}`;
  if (!('anonymous_id' in e)) e.anonymous_id = 'anon-1';
  return e;
}

function expectTransitions(got, want, where) {
  assert.equal(got.length, want.length, `${where}: number of transitions`);
  want.forEach((w, i) => {
    assert.equal(got[i].from, w[0], `${where}[${i}].from`);
    assert.equal(got[i].to, w[1], `${where}[${i}].to`);
    assert.equal(got[i].rule, w[2], `${where}[${i}].rule`);
    if (w.length > 3) assert.equal(got[i].at, w[3], `${where}[${i}].at`);
  });
}

function expectCredits(got, want, where) {
  assert.equal(got.length, Object.keys(want).length, `${where}: credited channels`);
  for (const [channel, credit] of Object.entries(want)) {
    const found = got.find((c) => c.channel === channel);
    assert.ok(found, `${where}: no credit for ${channel}`);
    near(found.credit, credit, `${where}: ${channel}`);
  }
  if (got.length) near(got.reduce((s, c) => s + c.credit, 0), 1, `${where}: sum`);
}

function check(engine, c, where) {
  const state0 = engine.state(0);
  const at = 'at' in c ? c.at : state0.last_activity ?? 0;
  const state = engine.state(at);
  if ('stage' in c) assert.equal(engine.stage(), c.stage, `${where}: stage`);
  if ('score' in c) near(engine.score(at), c.score, `${where}: score`);
  for (const [group, value] of Object.entries(c.score_groups || {})) {
    near(engine.score(at, group), value, `${where}: group ${group}`);
  }
  if ('transitions' in c) expectTransitions(state.transitions, c.transitions, `${where}: history`);
  if ('decisions' in c) {
    const decisions = engine.decide(at);
    for (const [slot, variant] of Object.entries(c.decisions)) {
      const d = decisions.find((x) => x.slot === slot);
      assert.ok(d, `${where}: slot ${slot}`);
      assert.equal(d.variant, variant, `${where}: slot ${slot}`);
    }
  }
  for (const [model, credits] of Object.entries(c.attribution || {})) {
    expectCredits(tools.attribute(engine, model, at), credits, `${where}: ${model}`);
  }
  for (const [stage, total] of Object.entries(c.stage_times || {})) {
    assert.equal(state.stage_times[stage]?.total ?? 0, total, `${where}: time in ${stage}`);
  }
  for (const [name, value] of Object.entries(c.counters || {})) {
    assert.equal(state.counters[name], value, `${where}: counter ${name}`);
  }
  if ('log_size' in c) assert.equal(state.log_size, c.log_size, `${where}: log size`);
  if ('user_id' in c) assert.equal(state.user_id ?? '', c.user_id, `${where}: user id`);
}

const module = await loadTestModule();
const tools = testTools(module);
const compiler = await loadCompiler();

test('at least thirty shared vectors', () => {
  assert.ok(files.length >= 30, `${files.length} vectors`);
});

for (const file of files) {
  test(`vector ${file}`, () => {
    const v = JSON.parse(fs.readFileSync(path.join(vectorsDir, file), 'utf8'));
    const mapText = v.map && typeof v.map === 'object' ? JSON.stringify(v.map) : compiler.defaultMap();
    if ('map_error' in v) {
      assert.throws(() => compiler.compile(mapText), (e) => e instanceof WaymarkError && e.message === v.map_error);
      return;
    }
    // The engine runs the compiled map, as in a browser: compiled by the compiler module here.
    const map = compiler.compile(mapText);
    const blocked = (v.map && v.map.identity && v.map.identity.blocked_ids) || [];
    let engine = new JourneyEngine(module, map, { localOnly: Boolean(v.local_only) });
    assert.equal(engine.mapError, null);
    assert.equal(engine.map.id, JSON.parse(mapText).id);
    let counter = 0;
    try {
      v.steps.forEach((step, i) => {
        const where = `${file} step ${i}`;
        const expect = step.expect || {};
        if ('track' in step) {
          const [out] = engine.track([withDefaults(step.track, counter++)]);
          assert.equal(out.status, expect.status || 'accepted', `${where}: ${out.error?.message ?? ''}`);
          if ('error' in expect) assert.equal(out.error?.code, expect.error, where);
          if ('transitions' in expect) expectTransitions(out.transitions, expect.transitions, where);
          if ('triggers' in expect) assert.deepEqual(out.triggers.map((t) => t.trigger), expect.triggers, `${where}: triggers`);
          if ('outbound' in expect) {
            assert.equal('outbound' in out, expect.outbound !== null, `${where}: outbound`);
            if (expect.outbound && typeof expect.outbound === 'object') {
              for (const [k, val] of Object.entries(expect.outbound)) {
                assert.deepEqual(out.outbound[k] ?? null, val, `${where}: outbound.${k}`);
              }
            }
          }
        } else if ('advance' in step) {
          const out = engine.advance(step.advance);
          if ('transitions' in expect) expectTransitions(out.transitions, expect.transitions, where);
          if ('triggers' in expect) assert.deepEqual(out.triggers.map((t) => t.trigger), expect.triggers, `${where}: triggers`);
        } else if ('identify' in step) {
          let code = '';
          try {
            engine.identify(step.identify, step.traits ?? null);
          } catch (e) {
            code = e.code;
          }
          assert.equal(code, expect.error || '', where);
        } else if ('classify' in step) {
          const c = step.classify;
          assert.equal(tools.classifyChannel(c.campaign || {}, c.referrer || '', c.page_host || ''), expect.channel, where);
        } else if ('attribute' in step) {
          const a = step.attribute;
          const opts = {};
          for (const k of ['lookback', 'half_life', 'collapse_repeats']) if (k in a) opts[k] = a[k];
          expectCredits(tools.attributePath(a.path, a.at, a.model, opts), expect.credits, where);
        } else if ('merge' in step) {
          const a = step.merge.a.map((e) => withDefaults(e, counter++));
          const b = step.merge.b.map((e) => withDefaults(e, counter++));
          let merged;
          try {
            merged = tools.mergeLogs(a, b, blocked);
          } catch (e) {
            assert.equal(e.code, expect.error, where);
            return;
          }
          assert.ok(!('error' in expect), `${where}: merge should fail`);
          if ('order' in expect) assert.deepEqual(merged.map((e) => e.id), expect.order, where);
          engine.dispose();
          engine = new JourneyEngine(module, map, { localOnly: Boolean(v.local_only) });
          engine.track(merged);
        } else if ('snapshot_roundtrip' in step) {
          const snap = engine.snapshot();
          const restored = new JourneyEngine(module, map, { localOnly: Boolean(v.local_only) });
          restored.restore(snap);
          assert.equal(restored.snapshot(), snap, where);
          engine.dispose();
          engine = restored;
        } else if (!('check' in step)) {
          assert.fail(`${where}: unknown step`);
        }
        if ('check' in step) check(engine, step.check, where);
      });
    } finally {
      engine.dispose();
    }
  });
}
