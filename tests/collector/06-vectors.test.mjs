// The same engine in the collector as in the core: the shared test vectors are replayed through
// POST /v1/batch (each under its own map, published with PUT /v1/map first), and the profile's
// stage, transitions and score must equal what the vector expects of the core. Every vector is
// accounted for: run here (identify steps as the SDK's user_identified events, advance steps by
// the collector's own clock), run by another collector test (map_error vectors: 02-map), or
// skipped with the reason in its file ("server": {"skip": "..."}); a guard counts them.
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

// Why a vector does not run here: only the file may say (`"server": {"skip": "..."}`), or it is
// a map_error vector, which 02-map.test.mjs runs (PUT /v1/map refuses it with the same message).
function notHere(v) {
  if (v.map_error) return 'map_error: run by 02-map.test.mjs (PUT /v1/map refuses it with the same message)';
  if (v.server?.skip) return `its file says: ${v.server.skip}`;
  return null;
}

const vectors = all.filter(({ v }) => notHere(v) === null);
const skipped = all.filter(({ v }) => notHere(v) !== null).map(({ file, v }) => `${file}: ${notHere(v)}`);
let mapVersion = 1000; // above anything another test published on this collector

const REAL_USER = /^user-\d+$/;
const KNOWN_STEPS = new Set(['track', 'identify', 'traits', 'advance', 'snapshot_roundtrip']);
const hasAdvance = (v) => v.steps.some((s) => 'advance' in s);
/** The last time the vector reaches: its last event or its last advance. */
const endTime = (v) => Math.max(...v.steps.map((s) => s.advance ?? s.track?.time ?? -1));

/**
 * The vector's steps as a browser would send them, one visitor of this run (ids, anonymous and
 * user ids made unique), each event with the index of the step it came from:
 * - a track step is its event;
 * - an identify step the core accepts is the SDK's `user_identified` event with the user id and
 *   traits (the SDK sends nothing for one the engine refuses: identify() throws), at the time of
 *   the event before it (or after it, when it comes first);
 * - an advance step sends nothing: the collector's own clock advances the profile (the vector's
 *   times are moved by `shift` so that its end is just before now);
 * - a snapshot_roundtrip step sends nothing: the collector restores every profile from its stored
 *   snapshot between batches anyway.
 */
function envelopes(v, tag, shift = 0) {
  let n = 0;
  const steps = [];
  const events = [];
  const times = v.steps.map((s) => s.track?.time);
  const timeNear = (index) => {
    for (let i = index - 1; i >= 0; i--) if (typeof times[i] === 'number') return times[i];
    for (let i = index + 1; i < times.length; i++) if (typeof times[i] === 'number') return times[i];
    return 1700000000000;
  };
  v.steps.forEach((s, index) => {
    let e;
    if ('track' in s) {
      e = { ...s.track };
    } else if ('identify' in s) {
      if (s.expect?.error) return; // refused by the engine: identify() throws, nothing is sent
      e = { name: 'user_identified', type: 'identify', user_id: s.identify, time: timeNear(index) };
      if (s.traits) e.traits = s.traits;
    } else {
      return; // advance, snapshot_roundtrip, or a step that only checks
    }
    e.id = `${tag}-${e.id ?? `v${n}`}`; // one prefix for all: the id order of ties is kept
    if (e.seq === undefined) e.seq = n; // the order the vector makes them in, as an SDK numbers them
    n += 1;
    e.anonymous_id = `${tag}-${e.anonymous_id ?? 'anon-1'}`;
    // The vectors' real user ids are user-N; the others are placeholders and stay as they are.
    if (typeof e.user_id === 'string' && REAL_USER.test(e.user_id)) e.user_id = `${tag}-${e.user_id}`;
    if (typeof e.time === 'number' && e.time >= 0) e.time += shift;
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

function compareTransitions(got, want, label, shift = 0) {
  assert.deepEqual(got.map(asTriple), want.map((t) => t.slice(0, 3)), `${label}: transitions [from, to, rule]`);
  want.forEach((t, i) => {
    if (t.length > 3) assert.equal(got[i].at - shift, t[3], `${label}: transition ${i} at`);
  });
}

// The vectors' events are from 2023: with time passing on the server (the default), every one of
// these visitors would be dormant by now. A vector without advance steps describes the journey at
// its own times, so it runs on a collector that does not advance idle profiles. A vector with
// advance steps runs on one that does, with its times moved so that its end (its last event or
// advance) lies MARGIN_MS before now: the collector's own clock then does what the advance steps do.
const ctx = useCollector({ extraArgs: ['--advance-interval', '0'] });
const timed = useCollector({ extraArgs: ['--advance-interval', '1'] });
const MARGIN_MS = 2000;

describe('shared vectors through the collector', () => {
  it('accounts for every vector: run here, or its file says why not (map_error: 02-map)', () => {
    assert.equal(vectors.length + skipped.length, all.length);
    const reasons = skipped.filter((line) => !line.includes('map_error: run by 02-map'));
    assert.ok(reasons.length <= 8, `${reasons.length} vectors skipped by their files: ${reasons.join('; ')}`);
    assert.ok(vectors.length >= 37, `only ${vectors.length} run here; skipped: ${skipped.join('; ')}`);
    for (const line of skipped) assert.match(line, /: .{40,}/, 'each skip has a reason');
    for (const { file, v } of vectors) {
      for (const s of v.steps) {
        for (const k of Object.keys(s)) {
          if (k !== 'expect' && k !== 'check') assert.ok(KNOWN_STEPS.has(k), `${file}: a ${k} step has no server form; say why in the file`);
        }
      }
    }
  });

  for (const { file, v } of vectors) {
    describe(file, () => {
    const advancing = hasAdvance(v);
    const server = () => (advancing ? timed.srv : ctx.srv);
    const shiftNow = () => (advancing ? Date.now() - MARGIN_MS - endTime(v) : 0);
    before(async () => {
      // The vector's map, as the current one (a newer version than any before it).
      const map = v.map === 'default' || !v.map ? JSON.parse(DEFAULT_MAP) : structuredClone(v.map);
      mapVersion += 1;
      map.version = mapVersion;
      const res = await request(server(), { method: 'PUT', path: '/v1/map', headers: { 'Content-Type': 'application/json', ...adminHeaders() }, body: JSON.stringify(map) });
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

    // The user the vector ends with, when it says.
    const userCheck = [...v.steps].reverse().find((s) => s.check && 'user_id' in s.check)?.check.user_id;

    // The collector links an anonymous id to a user in the order events arrive (the identity
    // graph cannot wait for events a device has not sent yet). Only a device that sends a second
    // user's event on the same anonymous id (the SDK refuses that: identify() of another user
    // throws until reset()) AND delivers it before the first user's can end with the second user.
    const conflicting = v.steps.some((s) => s.expect?.error === 'identity_conflict');

    function assertFinal(profile, label, tag, shift, arrivalOrdered = true) {
      assert.equal(profile.stage, finalStage, `${label}: stage`);
      compareTransitions(profile.transitions, history, label, shift);
      if (userCheck !== undefined && (arrivalOrdered || !conflicting)) assert.equal(profile.user_id, userCheck === '' ? null : `${tag}-${userCheck}`, `${label}: user_id`);
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
      const shift = shiftNow();
      const { events, steps } = envelopes(v, tag, shift);
      const res = await postBatch(server(), { events });
      assertResults(res, steps, file);
      const p = await getProfile(server(), events[0].anonymous_id);
      assert.equal(p.status, 200, p.text);
      assertFinal(p.json, `${file} (one batch)`, tag, shift);
    });

    // With advance steps, the collector has already advanced the profile to (almost) the vector's
    // end after the first batch, so the steps in between are not comparable; each later batch
    // brings events from before that advance, which replays the journey: the end must agree.
    it(`${file}: one batch per step (the incremental path) agrees at ${advancing ? 'the end' : 'every checked step'}`, async () => {
      const tag = `vs-${crypto.randomBytes(4).toString('hex')}`;
      const shift = shiftNow();
      const { events, steps } = envelopes(v, tag, shift);
      let history = [];
      for (let i = 0; i < events.length; i++) {
        const res = await postBatch(server(), { events: [events[i]] });
        assertResults(res, [steps[i]], `${file} step ${steps[i]}`);
        if (advancing) continue;
        // The transitions of every step up to this event (an identify step adds none).
        history = v.steps.slice(0, steps[i] + 1).flatMap((s) => s.expect?.transitions ?? []);
        const p = await getProfile(server(), events[0].anonymous_id);
        if (p.status === 404) continue; // nothing accepted yet
        const check = v.steps[steps[i]].check;
        if (check?.stage !== undefined && check.at === undefined) assert.equal(p.json.stage, check.stage, `${file} step ${i}: stage`);
        if (!Array.isArray(lastStep.check?.transitions)) compareTransitions(p.json.transitions, history, `${file} step ${i}`);
      }
      const p = await getProfile(server(), events[0].anonymous_id);
      assertFinal(p.json, `${file} (per step)`, tag, shift);
    });

    it(`${file}: events arriving newest first (late events, full replay) end in the same state`, async () => {
      const tag = `vr-${crypto.randomBytes(4).toString('hex')}`;
      const shift = shiftNow();
      const { events, steps } = envelopes(v, tag, shift);
      for (let i = events.length - 1; i >= 0; i--) {
        const res = await postBatch(server(), { events: [events[i]] });
        assertResults(res, [steps[i]], `${file} step ${steps[i]}`);
      }
      const p = await getProfile(server(), events[0].anonymous_id);
      assert.equal(p.status, 200, p.text);
      assertFinal(p.json, `${file} (newest first)`, tag, shift, false);
    });
    });
  }
});
