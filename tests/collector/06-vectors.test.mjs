// The same engine in the collector as in the core: the shared test vectors are replayed through
// POST /v1/batch (each under its own map, published with PUT /v1/map first), and the profile's
// stage, transitions and score must equal what the vector expects of the core. Every vector is
// accounted for: run here, run by another collector test (map_error vectors: 02-map), or skipped
// with the reason in its file ("server": {"skip": "..."}) or below (steps that have no server-side
// counterpart); a guard counts them.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';

import { ROOT, adminHeaders, getProfile, postBatch, request, useCollector } from './helpers.mjs';

const VECTORS = path.join(ROOT, 'tests', 'vectors');
const DEFAULT_MAP = fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8');

const all = fs
  .readdirSync(VECTORS)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, v: JSON.parse(fs.readFileSync(path.join(VECTORS, f), 'utf8')) }));

// Why a vector does not run here (in the order the reasons are checked).
function notHere(v) {
  if (v.map_error) return 'map_error: run by 02-map.test.mjs (PUT /v1/map refuses it with the same message)';
  if (v.server?.skip) return `its file says: ${v.server.skip}`;
  const kinds = new Set(v.steps.flatMap((s) => Object.keys(s).filter((k) => k !== 'expect' && k !== 'check')));
  for (const k of ['classify', 'attribute']) if (kinds.has(k)) return `a ${k} step is a pure function of the core, with no server-side counterpart`;
  if (kinds.has('merge')) return 'a merge step merges two logs in memory; 05-identity.test.mjs covers merges through the identity graph';
  if (kinds.has('advance')) return 'an advance step sets the engine clock; the server advances by its own clock (14-time-passes.test.mjs)';
  if (kinds.has('identify') || kinds.has('snapshot_roundtrip')) return 'identify and snapshot steps are SDK calls, not events';
  if (!v.steps.some((s) => s.check && ('stage' in s.check || 'transitions' in s.check || 'score' in s.check))) return 'no stage, transitions or score check to compare';
  return null;
}

const vectors = all.filter(({ v }) => notHere(v) === null);
const skipped = all.filter(({ v }) => notHere(v) !== null).map(({ file, v }) => `${file}: ${notHere(v)}`);
let mapVersion = 1000; // above anything another test published on this collector

/** The vector's envelopes as one visitor of this run (ids, anonymous and user ids made unique),
 * with the index of the step each came from. */
function envelopes(v, tag) {
  let n = 0;
  const steps = [];
  const events = [];
  v.steps.forEach((s, index) => {
    if (!('track' in s)) return; // a step that only checks
    const e = { ...s.track };
    e.id = `${tag}-${e.id ?? `v${n}`}`; // one prefix for all: the id order of ties is kept
    if (e.seq === undefined) e.seq = n; // the order the vector makes them in, as an SDK numbers them
    n += 1;
    e.anonymous_id = `${tag}-${e.anonymous_id ?? 'anon-1'}`;
    if (typeof e.user_id === 'string' && e.user_id !== '') e.user_id = `${tag}-${e.user_id}`;
    delete e.sent_at; // no sent time: the collector keeps the vector's times as they are
    events.push(e);
    steps.push(index);
  });
  return { events, steps };
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
  it('accounts for every vector: run here or skipped with a reason', () => {
    assert.equal(vectors.length + skipped.length, all.length);
    assert.ok(vectors.length >= 20, `only ${vectors.length} run here; skipped: ${skipped.join('; ')}`);
    for (const line of skipped) assert.match(line, /: .{20,}/, 'each skip has a reason');
  });

  for (const { file, v } of vectors) {
    describe(file, () => {
    before(async () => {
      // The vector's map, as the current one (a newer version than any before it).
      const map = v.map === 'default' || !v.map ? JSON.parse(DEFAULT_MAP) : structuredClone(v.map);
      mapVersion += 1;
      map.version = mapVersion;
      const res = await request(ctx.srv, { method: 'PUT', path: '/v1/map', headers: { 'Content-Type': 'application/json', ...adminHeaders() }, body: JSON.stringify(map) });
      assert.equal(res.status, 200, `${file}: publishing its map: ${res.text}`);
    });
    const lastStep = v.steps[v.steps.length - 1];
    const vectorMap = v.map === 'default' || !v.map ? JSON.parse(DEFAULT_MAP) : v.map;
    const initialStage = vectorMap.initial ?? vectorMap.stages[0].id;
    const history = expectedHistory(v);
    // The stage after the last step: its own check, else where the recorded history ends.
    const finalStage =
      lastStep.check?.stage !== undefined && lastStep.check.at === undefined
        ? lastStep.check.stage
        : history.length > 0
          ? history[history.length - 1][1]
          : initialStage;

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

    function assertResults(res, stepIndexes, label) {
      assert.equal(res.status, 200, `${label}: ${res.text}`);
      res.json.results.forEach((r, i) => {
        const step = v.steps[stepIndexes[i]];
        // What ingestion refuses, the vector must expect refused (the engine refuses more, later:
        // an identity conflict is stored and rejected by the projection).
        if (r.status === 'rejected') assert.equal(step.expect?.status, 'rejected', `${label}: event ${i} ${r.status} ${r.reason ?? ''}`);
      });
    }

    it(`${file}: all events in one batch give the core's stage and transitions`, async () => {
      const tag = `vb-${crypto.randomBytes(4).toString('hex')}`;
      const { events, steps } = envelopes(v, tag);
      const res = await postBatch(ctx.srv, { events });
      assertResults(res, steps, file);
      const p = await getProfile(ctx.srv, events[0].anonymous_id);
      assert.equal(p.status, 200, p.text);
      assertFinal(p.json, `${file} (one batch)`);
    });

    it(`${file}: one batch per step (the incremental path) agrees at every checked step`, async () => {
      const tag = `vs-${crypto.randomBytes(4).toString('hex')}`;
      const { events, steps } = envelopes(v, tag);
      let history = [];
      for (let i = 0; i < events.length; i++) {
        const res = await postBatch(ctx.srv, { events: [events[i]] });
        assertResults(res, [steps[i]], `${file} step ${steps[i]}`);
        history = history.concat(v.steps[steps[i]].expect?.transitions ?? []);
        const p = await getProfile(ctx.srv, events[0].anonymous_id);
        if (p.status === 404) continue; // nothing accepted yet
        const check = v.steps[steps[i]].check;
        if (check?.stage !== undefined && check.at === undefined) assert.equal(p.json.stage, check.stage, `${file} step ${i}: stage`);
        if (!Array.isArray(lastStep.check?.transitions)) compareTransitions(p.json.transitions, history, `${file} step ${i}`);
      }
      const p = await getProfile(ctx.srv, events[0].anonymous_id);
      assertFinal(p.json, `${file} (per step)`);
    });

    it(`${file}: events arriving newest first (late events, full replay) end in the same state`, async () => {
      const tag = `vr-${crypto.randomBytes(4).toString('hex')}`;
      const { events, steps } = envelopes(v, tag);
      for (let i = events.length - 1; i >= 0; i--) {
        const res = await postBatch(ctx.srv, { events: [events[i]] });
        assertResults(res, [steps[i]], `${file} step ${steps[i]}`);
      }
      const p = await getProfile(ctx.srv, events[0].anonymous_id);
      assert.equal(p.status, 200, p.text);
      assertFinal(p.json, `${file} (newest first)`);
    });
    });
  }
});
