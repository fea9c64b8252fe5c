// The same engine in the collector as in the core: the shared test vectors that use the default
// map and only `track` steps are replayed through POST /v1/batch, and the profile's stage,
// transitions and score must equal what the vector expects of the core.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ROOT, getProfile, postBatch, startCollector, stopCollector, useCollector } from './helpers.mjs';

const VECTORS = path.join(ROOT, 'tests', 'vectors');

const vectors = fs
  .readdirSync(VECTORS)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, v: JSON.parse(fs.readFileSync(path.join(VECTORS, f), 'utf8')) }))
  .filter(({ v }) => v.map === 'default' && Array.isArray(v.steps) && v.steps.length > 0)
  .filter(({ v }) => v.steps.every((s) => Object.keys(s).every((k) => ['track', 'expect', 'check'].includes(k))))
  .filter(({ v }) => v.steps.some((s) => s.check && ('stage' in s.check || 'transitions' in s.check)));

/** The vector's envelopes as one visitor of this run: ids, anonymous and user ids made unique. */
function envelopes(v, tag) {
  let n = 0;
  return v.steps.map((s) => {
    const e = { ...s.track };
    e.id = `${tag}-${e.id ?? `v${n}`}`; // one prefix for all: the id order of ties is kept
    n += 1;
    e.anonymous_id = `${tag}-${e.anonymous_id ?? 'anon-1'}`;
    if (typeof e.user_id === 'string' && e.user_id !== '') e.user_id = `${tag}-${e.user_id}`;
    delete e.sent_at; // no sent time: the collector keeps the vector's times as they are
    return e;
  });
}

/** The whole transition history the core records: every step's expect.transitions in order. */
function expectedHistory(v) {
  const last = v.steps[v.steps.length - 1].check;
  if (last && Array.isArray(last.transitions)) return last.transitions;
  return v.steps.flatMap((s) => s.expect?.transitions ?? []);
}

const asTriple = (t) => [t.from, t.to, t.rule];

function compareTransitions(got, want, label) {
  assert.deepEqual(got.map(asTriple), want.map((t) => t.slice(0, 3)), `${label}: transitions [from, to, rule]`);
  want.forEach((t, i) => {
    if (t.length > 3) assert.equal(got[i].at, t[3], `${label}: transition ${i} at`);
  });
}


// The vectors' events are from 2023: with time passing on the server (the default), every one of
// these visitors would be dormant by now. The vectors describe the journey at their own times, so
// this collector does not advance idle profiles (tests/collector/14-time-passes.test.mjs does).
const ctx = useCollector({ extraArgs: ['--advance-interval', '0'] });

describe('shared vectors through the collector', () => {
  it('selects the default-map, track-only vectors with a stage or transitions check', () => {
    assert.ok(vectors.length >= 3, `found ${vectors.map((x) => x.file).join(', ')}`);
  });

  for (const { file, v } of vectors) {
    const lastStep = v.steps[v.steps.length - 1];
    const history = expectedHistory(v);
    // The stage after the last step: its own check, else where the recorded history ends.
    const finalStage =
      lastStep.check?.stage !== undefined && lastStep.check.at === undefined
        ? lastStep.check.stage
        : history.length > 0
          ? history[history.length - 1][1]
          : 'awareness';

    function assertFinal(profile, label) {
      assert.equal(profile.stage, finalStage, `${label}: stage`);
      compareTransitions(profile.transitions, history, label);
      if (typeof lastStep.check?.score === 'number' && lastStep.check.at === undefined) {
        assert.ok(
          Math.abs(profile.score_at_last_activity - lastStep.check.score) < 1e-6,
          `${label}: score ${profile.score_at_last_activity} vs ${lastStep.check.score}`,
        );
      }
    }

    function assertResults(res, events, label) {
      assert.equal(res.status, 200, `${label}: ${res.text}`);
      res.json.results.forEach((r, i) => {
        const step = v.steps[events[i].__step];
        const rejected = step.expect?.status === 'rejected';
        assert.equal(r.status === 'rejected', rejected, `${label}: event ${i} ${r.status} ${r.reason ?? ''}`);
      });
    }

    it(`${file}: all events in one batch give the core's stage and transitions`, async () => {
      const tag = `vb-${crypto.randomBytes(4).toString('hex')}`;
      const events = envelopes(v, tag);
      const res = await postBatch(ctx.srv, { events });
      assertResults(res, events.map((e, i) => ({ ...e, __step: i })), file);
      const p = await getProfile(ctx.srv, events[0].anonymous_id);
      assert.equal(p.status, 200, p.text);
      assertFinal(p.json, `${file} (one batch)`);
    });

    it(`${file}: one batch per step (the incremental path) agrees at every checked step`, async () => {
      const tag = `vs-${crypto.randomBytes(4).toString('hex')}`;
      const events = envelopes(v, tag);
      let history = [];
      for (let i = 0; i < events.length; i++) {
        const res = await postBatch(ctx.srv, { events: [events[i]] });
        assertResults(res, [{ ...events[i], __step: i }], `${file} step ${i}`);
        history = history.concat(v.steps[i].expect?.transitions ?? []);
        const p = await getProfile(ctx.srv, events[0].anonymous_id);
        if (p.status === 404) continue; // nothing accepted yet
        const check = v.steps[i].check;
        if (check?.stage !== undefined && check.at === undefined) assert.equal(p.json.stage, check.stage, `${file} step ${i}: stage`);
        if (!Array.isArray(lastStep.check?.transitions)) compareTransitions(p.json.transitions, history, `${file} step ${i}`);
      }
      const p = await getProfile(ctx.srv, events[0].anonymous_id);
      assertFinal(p.json, `${file} (per step)`);
    });

    it(`${file}: events arriving newest first (late events, full replay) end in the same state`, async () => {
      const tag = `vr-${crypto.randomBytes(4).toString('hex')}`;
      const events = envelopes(v, tag);
      for (let i = events.length - 1; i >= 0; i--) {
        const res = await postBatch(ctx.srv, { events: [events[i]] });
        assertResults(res, [{ ...events[i], __step: i }], `${file} step ${i}`);
      }
      const p = await getProfile(ctx.srv, events[0].anonymous_id);
      assert.equal(p.status, 200, p.text);
      assertFinal(p.json, `${file} (newest first)`);
    });
  }
});
