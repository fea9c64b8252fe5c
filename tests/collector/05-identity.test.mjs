// Identity across devices: an event carrying a user_id links its anonymous id to that user and
// merges the journeys (replayed in corrected time order); two known users are never merged.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { adminGet, anonId, get, getProfile, makeEvent, postBatch, startCollector, stopCollector, useCollector, storedEventCount } from './helpers.mjs';

const T0 = Date.now() - 3600000; // an hour ago; events minutes apart (no folding, no clamping)
const at = (min) => T0 + min * 60000;

const a1 = anonId('devA');
const b1 = anonId('devB');
const c1 = anonId('devC');
const USER7 = `user-7-${a1.slice(-8)}`; // unique per run; the shape of "user-7"
const USER8 = `user-8-${a1.slice(-8)}`;

async function send(events) {
  const res = await postBatch(ctx.srv, { events }); // no sent_at: the device times are the times
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.results.map((r) => r.status), events.map(() => 'accepted'), res.text);
}

async function profile(id) {
  const p = await getProfile(ctx.srv, id);
  assert.equal(p.status, 200, `${id}: ${p.text}`);
  return p.json;
}

const RANK = { awareness: 0, engaged: 1, lead: 2, qualified: 3, trial: 4, customer: 5, retained: 6, advocate: 7 };

const ctx = useCollector();

describe('identity', () => {
  it('device A (anonymous): pricing_viewed + lead_submitted -> lead on its anonymous profile', async () => {
    await send([
      makeEvent({ anonymous_id: a1, name: 'pricing_viewed', time: at(0) }),
      makeEvent({ anonymous_id: a1, name: 'lead_submitted', time: at(2) }),
    ]);
    const p = await profile(a1);
    assert.equal(p.profile_id, `a:${a1}`);
    assert.equal(p.stage, 'lead');
    assert.equal(p.user_id, null);
    assert.deepEqual(p.transitions.map((t) => [t.from, t.to, t.rule]), [
      ['awareness', 'engaged', 'engage'],
      ['engaged', 'lead', 'capture_lead'],
    ]);
  });

  it('device B: page views, then an identify event with user_id links B to the user', async () => {
    await send([
      makeEvent({ anonymous_id: b1, name: 'page_viewed', time: at(10) }),
      makeEvent({ anonymous_id: b1, name: 'page_viewed', time: at(11) }),
    ]);
    assert.equal((await profile(b1)).profile_id, `a:${b1}`);
    await send([makeEvent({ anonymous_id: b1, user_id: USER7, name: 'user_identified', type: 'identify', time: at(12) })]);
    const p = await profile(USER7);
    assert.equal(p.profile_id, `u:${USER7}`);
    assert.equal(p.user_id, USER7);
    assert.deepEqual(p.anonymous_ids, [b1]);
    assert.equal(p.event_count, 3, 'the anonymous page views moved into the user profile');
    assert.equal((await getProfile(ctx.srv, `a:${b1}`)).status, 404, 'the anonymous profile of B is gone (merged)');
    assert.equal((await profile(b1)).profile_id, `u:${USER7}`, 'B resolves to the user');
    // Later anonymous events of B (no user_id) land on the user profile too.
    await send([makeEvent({ anonymous_id: b1, name: 'page_viewed', time: at(13) })]);
    assert.equal((await profile(USER7)).event_count, 4);
  });

  it('device A sends an event with the same user_id: one merged profile, both anonymous ids, stage recomputed', async () => {
    await send([makeEvent({ anonymous_id: a1, user_id: USER7, name: 'page_viewed', time: at(20) })]);
    const p = await profile(USER7);
    assert.equal(p.profile_id, `u:${USER7}`);
    assert.deepEqual([...p.anonymous_ids].sort(), [a1, b1].sort());
    assert.equal(p.event_count, 2 + 3 + 1 + 1);
    assert.ok(RANK[p.stage] >= RANK.lead, `merged stage ${p.stage} is lead or beyond`);
    assert.equal(p.stage, 'lead');
    // The merged log was replayed in corrected time order: A's pricing view (t+0) engaged, A's
    // lead form (t+2) made the lead; B's later page views change nothing.
    assert.deepEqual(p.transitions.map((t) => [t.from, t.to, t.rule]), [
      ['awareness', 'engaged', 'engage'],
      ['engaged', 'lead', 'capture_lead'],
    ]);
    assert.equal(p.transitions[1].at, at(2));
    const times = p.touchpoints.map((t) => t.at);
    assert.deepEqual(times, [...times].sort((x, y) => y - x), 'touchpoints newest first');
    // Device A now resolves to the same profile; its anonymous profile is gone.
    const viaA = await profile(a1);
    assert.equal(viaA.profile_id, `u:${USER7}`);
    assert.equal(viaA.event_count, p.event_count);
    assert.equal((await getProfile(ctx.srv, `a:${a1}`)).status, 404);
    assert.equal(await storedEventCount(ctx.srv), 7, 'a merge moves events, it never copies them');
  });

  it('a third device with user-8 never merges with user-7, and A stays with its first user', async () => {
    await send([
      makeEvent({ anonymous_id: c1, name: 'page_viewed', time: at(30) }),
      makeEvent({ anonymous_id: c1, user_id: USER8, name: 'user_identified', type: 'identify', time: at(31) }),
    ]);
    const p8 = await profile(USER8);
    assert.equal(p8.profile_id, `u:${USER8}`);
    assert.deepEqual(p8.anonymous_ids, [c1]);
    assert.equal(p8.event_count, 2);
    assert.equal(p8.stage, 'awareness');
    const p7 = await profile(USER7);
    assert.deepEqual([...p7.anonymous_ids].sort(), [a1, b1].sort());
    assert.equal(p7.event_count, 7);

    // Device A (linked to user-7) now carries user-8: the two users are not merged.
    await send([makeEvent({ anonymous_id: a1, user_id: USER8, name: 'page_viewed', time: at(40) })]);
    const p7After = await profile(USER7);
    assert.equal(p7After.event_count, 7, 'user-7 gained nothing from user-8');
    assert.deepEqual([...p7After.anonymous_ids].sort(), [a1, b1].sort());
    assert.equal(p7After.stage, 'lead');
    const p8After = await profile(USER8);
    assert.ok(!p8After.anonymous_ids.includes(b1), 'user-8 never holds user-7\'s other device');
    assert.ok(p8After.event_count <= 3, `user-8 got none of user-7's events (${p8After.event_count})`);
    assert.equal((await profile(a1)).profile_id, `u:${USER7}`, 'A still resolves to its first user');
    assert.equal((await profile(c1)).profile_id, `u:${USER8}`);
  });

  it('placeholder user ids (null, 0, anonymous) never link or merge', async () => {
    const d = anonId('devD');
    const e = anonId('devE');
    await send([makeEvent({ anonymous_id: d, user_id: 'null', name: 'page_viewed', time: at(50) })]);
    await send([makeEvent({ anonymous_id: e, user_id: 'null', name: 'page_viewed', time: at(51) })]);
    const pd = await profile(d);
    assert.equal(pd.profile_id, `a:${d}`);
    assert.equal(pd.user_id, null);
    assert.deepEqual(pd.anonymous_ids, [d]);
    assert.equal((await getProfile(ctx.srv, 'null')).status, 404, 'no profile for the placeholder');
    for (const placeholder of ['0', 'anonymous']) {
      const x = anonId('devX');
      await send([makeEvent({ anonymous_id: x, user_id: placeholder, name: 'page_viewed', time: at(52) })]);
      assert.equal((await profile(x)).profile_id, `a:${x}`, placeholder);
    }
  });

  it('GET /v1/profiles/{id}/context: the merged journey within the byte budget; bad budgets 400', async () => {
    for (const [query, budget] of [['', 2048], ['?budget=256', 256], ['?budget=65536', 65536]]) {
      const res = await adminGet(ctx.srv, `/v1/profiles/${encodeURIComponent(USER7)}/context${query}`);
      assert.equal(res.status, 200, res.text);
      const bytes = Buffer.byteLength(res.text, 'utf8');
      assert.ok(bytes <= budget, `${bytes} bytes within the budget ${budget}`);
      assert.equal(res.json.bytes, bytes, 'bytes is the exact size of the document');
      assert.equal(res.json.budget, budget);
      assert.equal(res.json.profile_id, `u:${USER7}`);
      const stage = typeof res.json.stage === 'string' ? res.json.stage : res.json.stage?.id;
      assert.equal(stage, 'lead');
    }
    const viaDevice = await adminGet(ctx.srv, `/v1/profiles/${encodeURIComponent(a1)}/context`);
    assert.equal(viaDevice.status, 200);
    assert.equal(viaDevice.json.profile_id, `u:${USER7}`, 'an anonymous id resolves to its user');
    for (const bad of ['255', '65537', 'abc', '', '1e3', '-1']) {
      const res = await adminGet(ctx.srv, `/v1/profiles/${encodeURIComponent(USER7)}/context?budget=${bad}`);
      assert.equal(res.status, 400, `budget=${bad}: ${res.text}`);
      assert.equal(res.json.error.code, 'invalid_budget');
    }
    const none = await adminGet(ctx.srv, '/v1/profiles/nobody-at-all/context');
    assert.equal(none.status, 404);
    assert.equal(none.json.error.code, 'not_found');
    assert.equal((await get(ctx.srv, `/v1/profiles/${encodeURIComponent(USER7)}/context`)).status, 401);
  });

  it('events without a usable anonymous id (missing, "", "null") never pool visitors or merge them into a user', async () => {
    const user = `user-9-${a1.slice(-8)}`;
    const t = at(60);
    // Two different visitors whose SDK lost the anonymous id, and one sending the placeholder.
    const noAnon = { ...makeEvent({ name: 'lead_submitted', time: t }) };
    delete noAnon.anonymous_id;
    const emptyAnon = makeEvent({ anonymous_id: '', name: 'pricing_viewed', time: t + 60000 });
    const nullAnon = makeEvent({ anonymous_id: 'null', name: 'page_viewed', time: t + 120000 });
    const first = await postBatch(ctx.srv, { events: [noAnon, emptyAnon, nullAnon] });
    assert.equal(first.status, 200, first.text);
    // A third visitor identifies, again without an anonymous id.
    const identify = { ...makeEvent({ name: 'user_identified', type: 'identify', user_id: user, time: t + 180000 }) };
    delete identify.anonymous_id;
    const second = await postBatch(ctx.srv, { events: [identify] });
    assert.equal(second.status, 200, second.text);
    const p = await getProfile(ctx.srv, user);
    if (p.status === 200) {
      // Rejecting such events is fine; accepting them must not join strangers' journeys.
      assert.equal(
        p.json.event_count,
        second.json.accepted,
        `the user's profile holds only its own events, not those of other visitors without an anonymous id ` +
          `(got ${p.json.event_count}: ${p.json.touchpoints.map((x) => x.name).join(', ')})`,
      );
      assert.notEqual(p.json.stage, 'lead', 'another visitor\'s lead form did not make this user a lead');
    }
    // And a later visitor without an anonymous id is not filed under that user either.
    const later = { ...makeEvent({ name: 'page_viewed', time: t + 240000 }) };
    delete later.anonymous_id;
    await postBatch(ctx.srv, { events: [later] });
    const again = await getProfile(ctx.srv, user);
    if (again.status === 200) {
      assert.ok(!again.json.touchpoints.some((x) => x.id === later.id), 'a stranger\'s later event is not in the user\'s profile');
    }
  });
});
