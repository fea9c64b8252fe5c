// Webhooks on loopback: signed deliveries (HMAC-SHA256 over "<timestamp>.<body>"), exactly one per
// transition, delivered late (not lost) when the receiver is down at first, never repeated for a
// replayed batch or a restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  adminGet,
  anonId,
  freePort,
  get,
  makeEvent,
  postBatch,
  sleep,
  startCollector,
  startReceiver,
  stopCollector,
  verifyWebhook,
  waitFor,
} from './helpers.mjs';

const LIVE_SECRET = 'whsec_live_0123456789';
const LATE_SECRET = 'whsec_late_abcdef';
const QUIET_MS = 1500; // six poll intervals of the sender: time for a repeat to show up if there were one

let srv;
let live; // receiver up from the start
let late; // receiver that starts only after the deliveries failed
let latePort;

before(async () => {
  live = await startReceiver({ secret: LIVE_SECRET });
  latePort = await freePort(); // nothing listens here yet
  srv = await startCollector({
    webhooks: [`live,${live.url},${LIVE_SECRET}`, `late,http://127.0.0.1:${latePort}/late-hook,${LATE_SECRET}`],
  });
});

after(async () => {
  if (srv && !srv.exited) {
    const { code } = await stopCollector(srv);
    assert.equal(code, 0, srv.stderr);
  }
  await live?.close();
  await late?.close();
});

/** A visitor's events, 5 s apart ending now, in one batch with sent_at = now (no skew). */
function visitor(names) {
  const a = anonId('wh');
  const now = Date.now();
  const events = names.map((name, i) => makeEvent({ anonymous_id: a, name, time: now - (names.length - i) * 5000 }));
  return { anon: a, events, batch: { sent_at: now, events } };
}

async function post(batch) {
  const res = await postBatch(srv, batch);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

async function outboxSettled() {
  const r = await get(srv, '/readyz');
  return r.status === 200 && r.json.outbox_pending === 0;
}

function assertNoRepeats(deliveries) {
  const ids = deliveries.map((d) => d.headers['waymark-id']);
  assert.equal(new Set(ids).size, ids.length, `no Waymark-Id arrived twice: ${ids.join(' ')}`);
}

let lead1;
const expectedLate = []; // { anon, trigger, from, to, rule } every endpoint must get once

describe('webhooks', () => {
  it('a lead_submitted makes exactly one signed became_lead delivery with the transition in its payload', async () => {
    lead1 = visitor(['page_viewed', 'lead_submitted']);
    const res = await post(lead1.batch);
    assert.equal(res.accepted, 2);
    await waitFor(() => live.deliveries.length >= 1, { what: 'the became_lead delivery' });
    await waitFor(async () => (await adminGet(srv, '/v1/stats/webhooks')).json.by_status.delivered === 1, { what: 'the delivery to be recorded' });
    await sleep(QUIET_MS);
    assert.equal(live.deliveries.length, 1, 'exactly one delivery');
    const d = live.deliveries[0];
    assert.equal(d.method, 'POST');
    assert.equal(d.url, '/hook');
    assert.match(d.headers['content-type'], /^application\/json/);
    assert.match(d.headers['waymark-id'], /^[0-9a-f]{32}$/);
    assert.match(d.headers['waymark-timestamp'], /^\d+$/);
    assert.ok(Math.abs(Number(d.headers['waymark-timestamp']) - Date.now() / 1000) < 300, 'timestamp is current');
    assert.match(d.headers['waymark-signature'], /^v1=[0-9a-f]{64}$/);
    assert.equal(d.validSignature, true, 'HMAC-SHA256(secret, "<ts>.<body>") matches');
    assert.equal(verifyWebhook('wrong-secret', d.headers, d.raw), false, 'and only with the right secret');
    assert.equal(verifyWebhook(LIVE_SECRET, d.headers, `${d.raw} `), false, 'and only over the exact body');
    const leadEvent = lead1.events[1];
    assert.equal(d.body.type, 'trigger');
    assert.equal(d.body.trigger, 'became_lead');
    assert.equal(d.body.profile_id, `a:${lead1.anon}`);
    assert.equal(d.body.anonymous_id, lead1.anon);
    assert.ok(d.body.user_id === '' || d.body.user_id === null, `user_id empty before identify (${d.body.user_id})`);
    assert.equal(d.body.from, 'awareness');
    assert.equal(d.body.to, 'lead');
    assert.equal(d.body.rule, 'capture_lead');
    assert.equal(d.body.event_id, leadEvent.id);
    assert.equal(d.body.map_version, 1);
    assert.ok(Math.abs(d.body.at - leadEvent.time) < 2000, `at ${d.body.at} is the lead event's corrected time (${leadEvent.time})`);
    expectedLate.push({ anon: lead1.anon, trigger: 'became_lead', from: 'awareness', to: 'lead', rule: 'capture_lead' });
  });

  it('re-posting the same batch: all duplicate, no second delivery', async () => {
    const res = await post(lead1.batch);
    assert.equal(res.duplicates, 2);
    assert.equal(res.accepted, 0);
    await sleep(QUIET_MS);
    assert.equal(live.deliveries.length, 1);
  });

  it('a receiver that is down at first gets every transition exactly once after it starts', async () => {
    const l2 = visitor(['lead_submitted']);
    const l3 = visitor(['lead_submitted', 'trial_started']);
    const l4 = visitor(['order_completed']);
    for (const v of [l2, l3, l4]) assert.equal((await post(v.batch)).accepted, v.events.length);
    expectedLate.push(
      { anon: l2.anon, trigger: 'became_lead', from: 'awareness', to: 'lead', rule: 'capture_lead' },
      { anon: l3.anon, trigger: 'became_lead', from: 'awareness', to: 'lead', rule: 'capture_lead' },
      { anon: l3.anon, trigger: 'trial_started', from: 'lead', to: 'trial', rule: 'start_trial' },
      { anon: l4.anon, trigger: 'converted', from: 'awareness', to: 'customer', rule: 'convert' },
    );
    // Every delivery to the dead endpoint has failed at least once before the receiver appears.
    await waitFor(
      async () => {
        const s = await adminGet(srv, '/v1/stats/webhooks');
        const failing = s.json.recent_failures.filter((f) => f.endpoint === 'late' && f.attempts >= 1 && f.status === 'pending');
        return failing.length === expectedLate.length;
      },
      { timeoutMs: 15000, what: 'every late delivery to fail once' },
    );
    late = await startReceiver({ port: latePort, secret: LATE_SECRET });
    // Retries back off 1 s, 2 s, 4 s (±20 %): all arrive well within 20 s.
    await waitFor(() => late.deliveries.length >= expectedLate.length, { timeoutMs: 20000, what: 'the late deliveries' });
    await waitFor(outboxSettled, { timeoutMs: 10000, what: 'the outbox to drain' });
    await sleep(QUIET_MS);
    assert.equal(late.deliveries.length, expectedLate.length, 'each transition exactly once, no repeats');
    assertNoRepeats(late.deliveries);
    for (const d of late.deliveries) assert.equal(d.validSignature, true, 'signed with the late endpoint\'s secret');
    const got = late.deliveries.map((d) => [d.body.anonymous_id, d.body.trigger, d.body.from, d.body.to, d.body.rule].join(' ')).sort();
    const want = expectedLate.map((e) => [e.anon, e.trigger, e.from, e.to, e.rule].join(' ')).sort();
    assert.deepEqual(got, want);
    assert.equal(late.deliveries[0].url, '/late-hook');
    // The live endpoint got the same transitions, each once.
    assert.equal(live.deliveries.length, expectedLate.length);
    assertNoRepeats(live.deliveries);
    const stats = await adminGet(srv, '/v1/stats/webhooks');
    assert.equal(stats.json.by_status.delivered, 2 * expectedLate.length);
    assert.equal(stats.json.by_status.pending ?? 0, 0);
  });

  it('a delivery id is per (transition, endpoint): the two endpoints never share a Waymark-Id', async () => {
    const liveIds = new Set(live.deliveries.map((d) => d.headers['waymark-id']));
    for (const d of late.deliveries) assert.ok(!liveIds.has(d.headers['waymark-id']));
  });

  it('a restart re-sends nothing that was delivered', async () => {
    const dir = srv.dir;
    const { code } = await stopCollector(srv);
    assert.equal(code, 0, srv.stderr);
    const before = [live.deliveries.length, late.deliveries.length];
    srv = await startCollector({
      dir,
      webhooks: [`live,${live.url},${LIVE_SECRET}`, `late,http://127.0.0.1:${latePort}/late-hook,${LATE_SECRET}`],
    });
    await waitFor(outboxSettled, { what: 'readyz after the restart' });
    await sleep(QUIET_MS);
    assert.deepEqual([live.deliveries.length, late.deliveries.length], before);
  });

  it('an earlier event arriving late (a full replay) does not fire became_lead a second time', async () => {
    const a = anonId('ooo');
    const now = Date.now();
    const pricing = makeEvent({ anonymous_id: a, name: 'pricing_viewed', time: now - 60000 });
    const lead = makeEvent({ anonymous_id: a, name: 'lead_submitted', time: now - 30000 });
    assert.equal((await post({ sent_at: now, events: [lead] })).accepted, 1);
    await waitFor(() => live.deliveries.some((d) => d.body.event_id === lead.id), { what: 'the became_lead delivery' });
    // The pricing view happened before the lead form but arrives after it (another tab, a retry).
    assert.equal((await post({ sent_at: Date.now(), events: [pricing] })).accepted, 1);
    await waitFor(outboxSettled, { what: 'the outbox to drain' });
    await sleep(QUIET_MS);
    const p = (await adminGet(srv, `/v1/profiles/${a}`)).json;
    assert.deepEqual(p.transitions.map((t) => [t.from, t.to, t.rule]), [
      ['awareness', 'engaged', 'engage'],
      ['engaged', 'lead', 'capture_lead'],
    ], 'the history is recomputed in time order');
    const mine = live.deliveries.filter((d) => d.body.trigger === 'became_lead' && d.body.anonymous_id === a);
    assert.equal(
      mine.length,
      1,
      `one visitor, one lead form: one became_lead (got ${mine.length}: ` +
        `${mine.map((d) => `${d.headers['waymark-id']} ${d.body.from}>${d.body.to} event ${d.body.event_id === lead.id ? 'lead' : d.body.event_id}`).join('; ')})`,
    );
  });

  it('an identity merge does not fire became_lead again for a lead form already delivered', async () => {
    const b = anonId('mergeB');
    const c = anonId('mergeC');
    const user = `wh-user-${b.slice(-8)}`;
    const t0 = Date.now() - 600000;
    const lead = makeEvent({ anonymous_id: b, name: 'lead_submitted', time: t0 + 100000 });
    await post({ events: [lead] });
    await waitFor(() => live.deliveries.some((d) => d.body.event_id === lead.id), { what: 'the became_lead delivery' });
    // Another device of the same person looked at pricing earlier and identified.
    await post({
      events: [
        makeEvent({ anonymous_id: c, name: 'pricing_viewed', time: t0 }),
        makeEvent({ anonymous_id: c, user_id: user, name: 'user_identified', type: 'identify', time: t0 + 1000 }),
      ],
    });
    // Device B identifies as the same user: the journeys merge and are replayed.
    await post({ events: [makeEvent({ anonymous_id: b, user_id: user, name: 'page_viewed', time: t0 + 200000 })] });
    await waitFor(outboxSettled, { what: 'the outbox to drain' });
    await sleep(QUIET_MS);
    const p = (await adminGet(srv, `/v1/profiles/${user}`)).json;
    assert.equal(p.stage, 'lead');
    const mine = live.deliveries.filter((d) => d.body.trigger === 'became_lead' && d.body.event_id === lead.id);
    assert.equal(
      mine.length,
      1,
      `one lead form, one became_lead (got ${mine.length}: ${mine.map((d) => `${d.body.profile_id} ${d.body.from}>${d.body.to}`).join('; ')})`,
    );
  });
});
