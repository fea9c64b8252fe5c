// Durability: an acknowledgement means the events are committed. Concurrent clients post batches of
// unique events, the collector is killed with SIGKILL mid-stream, restarted on the same database,
// and every batch is sent again: every acknowledged event must come back as a duplicate (it was
// stored), and in the end the store holds exactly the distinct ids that were sent.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, it } from 'node:test';

import {
  anonId,
  getProfile,
  killCollector,
  makeEvent,
  postBatch,
  sleep,
  startCollector,
  stopCollector,
  storedEventCount,
  uid,
  acknowledgedIds,
} from './helpers.mjs';

const CLIENTS = 6;
const EVENTS_PER_BATCH = 20;
const EVENTS_PER_ANON = 40; // well under the 200 touchpoints a profile lists
const NAMES = ['page_viewed', 'feature_viewed', 'content_read', 'video_played'];

let srv;

after(async () => {
  if (srv && !srv.exited) await stopCollector(srv);
});

function makeClient(id) {
  let anon = anonId(`k${id}`);
  let inAnon = 0;
  let t = Date.now() - 3600000 + id * 1000; // an hour ago, a second apart per client: stable order
  return function nextBatch() {
    const events = [];
    for (let i = 0; i < EVENTS_PER_BATCH; i++) {
      if (inAnon === EVENTS_PER_ANON) {
        anon = anonId(`k${id}`);
        inAnon = 0;
      }
      inAnon += 1;
      t += 3000;
      events.push(makeEvent({ id: uid(`k${id}`), anonymous_id: anon, name: NAMES[i % NAMES.length], time: t }));
    }
    return { events }; // no sent_at: the device times are stored as they are
  };
}

it('kill -9 mid-stream loses no acknowledged event; resending the rest stores every id exactly once', async () => {
  srv = await startCollector();
  const dir = srv.dir;
  const batches = []; // { body, acked: Set(id) , answered: bool }
  const acked = new Set();
  let killed = false;
  let transportErrors = 0;

  const runClient = async (c) => {
    const next = makeClient(c);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      while (!killed) {
        const body = next();
        const entry = { body, acked: new Set() };
        batches.push(entry);
        try {
          const res = await postBatch(srv, body, { agent });
          if (res.status === 200) {
            for (const id of acknowledgedIds(res.json)) {
              entry.acked.add(id);
              acked.add(id);
            }
          }
        } catch {
          transportErrors += 1; // refused or reset by the kill: not acknowledged
        }
      }
    } finally {
      agent.destroy();
    }
  };

  const clients = Array.from({ length: CLIENTS }, (_, c) => runClient(c));
  // Let a real stream build up, then kill while requests are in flight.
  const started = Date.now();
  while ((acked.size < 2000 || Date.now() - started < 1500) && Date.now() - started < 20000) await sleep(20);
  await killCollector(srv);
  killed = true;
  assert.equal(srv.exitSignal, 'SIGKILL');
  await Promise.all(clients);

  const sentIds = new Set(batches.flatMap((b) => b.body.events.map((e) => e.id)));
  const unackedBatches = batches.filter((b) => b.acked.size < b.body.events.length);
  assert.ok(acked.size >= 1000, `a real stream was acknowledged before the kill (${acked.size} events)`);

  srv = await startCollector({ dir });
  // Unacknowledged batches first (the client's retry), then every acknowledged one again.
  const order = [...unackedBatches, ...batches.filter((b) => b.acked.size === b.body.events.length)];
  const lost = [];
  let newlyAccepted = 0;
  for (const b of order) {
    const res = await postBatch(srv, b.body);
    assert.equal(res.status, 200, res.text);
    res.json.results.forEach((r, i) => {
      const id = b.body.events[i].id;
      assert.equal(r.id, id);
      assert.notEqual(r.status, 'rejected', `${id}: ${r.reason} ${r.message}`);
      if (b.acked.has(id) && r.status !== 'duplicate') lost.push(id);
      if (r.status === 'accepted') newlyAccepted += 1;
    });
  }
  assert.deepEqual(lost, [], 'every event acknowledged before the kill was found stored after the restart');
  // Unacknowledged events may or may not have been committed before the kill (the answer can be
  // lost after the commit): the resend stores at most those.
  assert.ok(newlyAccepted <= sentIds.size - acked.size, `the resend stored only unacknowledged events (${newlyAccepted})`);

  // The store holds every distinct id once.
  assert.equal(await storedEventCount(srv), sentIds.size, 'stored events = distinct ids sent');

  // And each visitor's profile lists exactly its events.
  const byAnon = new Map();
  for (const b of batches) {
    for (const e of b.body.events) {
      if (!byAnon.has(e.anonymous_id)) byAnon.set(e.anonymous_id, new Set());
      byAnon.get(e.anonymous_id).add(e.id);
    }
  }
  for (const [anon, ids] of byAnon) {
    const p = await getProfile(srv, anon);
    assert.equal(p.status, 200, `${anon}: ${p.text}`);
    assert.equal(p.json.event_count, ids.size, anon);
    assert.deepEqual(new Set(p.json.touchpoints.map((t) => t.id)), ids, anon);
  }

  const { code } = await stopCollector(srv);
  assert.equal(code, 0, srv.stderr);
  // Context for the log: how much was in flight when the process died.
  console.log(`kill -9: ${batches.length} batches, ${acked.size} acked events, ${unackedBatches.length} unacked batches, ${transportErrors} transport errors`);
});
