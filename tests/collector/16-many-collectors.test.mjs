// Several stateless collectors on one PostgreSQL, as behind a load balancer: every event stored
// once however often and wherever it is sent, identity merges right when a device's events reach
// different collectors at the same moment, each webhook moment delivered once in all, and a map
// published on one collector served by the others. (With SQLite one file has one collector: this
// file runs in the PostgreSQL pass of scripts/test-collector.sh.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  BACKEND,
  adminGet,
  anonId,
  get,
  getProfile,
  makeEvent,
  makeTempDir,
  postBatch,
  putMap,
  sleep,
  startCollector,
  startReceiver,
  stopCollector,
  waitFor,
} from './helpers.mjs';

const SECRET = 'whsec_many_0123456789';
const skip = BACKEND !== 'postgres' ? 'many collectors share one PostgreSQL (the PostgreSQL pass runs this)' : false;

describe('three collectors on one PostgreSQL', { skip }, () => {
  const collectors = [];
  let receiver;

  before(async () => {
    // A slow receiver: each POST is in flight for a while, when the other senders poll the outbox.
    receiver = await startReceiver({ secret: SECRET, delayMs: 700 });
    const dir = makeTempDir('many'); // one folder: one database for all three
    for (let i = 0; i < 3; i++) {
      collectors.push(
        await startCollector({ dir, webhooks: [`hook,${receiver.url},${SECRET}`], extraArgs: ['--map-poll-ms', '200'] }),
      );
    }
  });

  after(async () => {
    for (const srv of collectors) {
      const { code } = await stopCollector(srv);
      assert.equal(code, 0, srv.stderr);
    }
    await receiver?.close();
  });

  it('events sent twice to different collectors, all at once: each stored exactly once', async () => {
    const devices = Array.from({ length: 30 }, () => anonId('many'));
    const now = Date.now();
    const batches = devices.map((a, d) => ({
      sent_at: now,
      events: Array.from({ length: 10 }, (_, i) => makeEvent({ anonymous_id: a, name: 'page_viewed', time: now - 60000 + d * 100 + i })),
    }));
    // Every batch to two collectors concurrently: the second copy races the first.
    const answers = await Promise.all(
      batches.flatMap((batch, b) => [postBatch(collectors[b % 3], batch), postBatch(collectors[(b + 1) % 3], batch)]),
    );
    let accepted = 0;
    let duplicates = 0;
    for (const res of answers) {
      assert.equal(res.status, 200, res.text);
      accepted += res.json.accepted;
      duplicates += res.json.duplicates;
    }
    assert.equal(accepted, 300, 'each event accepted once');
    assert.equal(duplicates, 300, 'and reported duplicate once');
    for (const srv of collectors) {
      const overview = await adminGet(srv, '/v1/stats/overview');
      assert.equal(overview.status, 200, overview.text);
      assert.equal(overview.json.events, 300, 'every collector reads the same 300 events');
    }
  });

  it("a device's anonymous events and its identify reach different collectors at once: one merged journey, no stray anonymous profile", async () => {
    const runs = 12;
    const pairs = Array.from({ length: runs }, (_, i) => ({ anon: anonId('merge'), user: `user-many-${process.pid}-${i}` }));
    const now = Date.now();
    await Promise.all(
      pairs.flatMap(({ anon, user }, i) => [
        postBatch(collectors[i % 3], {
          sent_at: now,
          events: [
            makeEvent({ anonymous_id: anon, name: 'page_viewed', time: now - 3000 }),
            makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: now - 2000 }),
          ],
        }),
        postBatch(collectors[(i + 1) % 3], {
          sent_at: now,
          events: [makeEvent({ anonymous_id: anon, user_id: user, name: 'user_identified', type: 'identify', time: now - 1000 })],
        }),
      ]),
    );
    for (const { anon, user } of pairs) {
      const profile = await waitFor(
        async () => {
          const r = await getProfile(collectors[2], user);
          return r.status === 200 && r.json.event_count === 3 ? r.json : null;
        },
        { what: `${user}'s merged journey with its three events` },
      );
      assert.equal(profile.profile_id, `u:${user}`);
      assert.deepEqual(profile.anonymous_ids, [anon]);
      assert.equal(profile.stage, 'engaged', 'pricing_viewed counted in the merged journey');
      // The anonymous id resolves to the user's journey; its own profile is gone.
      const byAnon = await getProfile(collectors[0], anon);
      assert.equal(byAnon.json.profile_id, `u:${user}`);
      const stray = await getProfile(collectors[1], `a:${anon}`);
      assert.equal(stray.status, 404, `no anonymous profile left for ${anon}: ${stray.text}`);
    }
  });

  it('each webhook moment is delivered once across the three senders', async () => {
    const before = receiver.deliveries.length;
    const leads = Array.from({ length: 9 }, () => anonId('lead'));
    const now = Date.now();
    await Promise.all(
      leads.map((a, i) =>
        postBatch(collectors[i % 3], {
          sent_at: now,
          events: [
            makeEvent({ anonymous_id: a, name: 'page_viewed', time: now - 2000 }),
            makeEvent({ anonymous_id: a, name: 'lead_submitted', time: now - 1000 }),
          ],
        }),
      ),
    );
    const mine = () => receiver.deliveries.slice(before).filter((d) => leads.includes(d.body?.anonymous_id));
    await waitFor(() => mine().length >= leads.length, { timeoutMs: 20000, what: 'a became_lead delivery per lead' });
    await sleep(2000); // time for a second sender to repeat one, were it to
    const got = mine();
    assert.equal(got.length, leads.length, 'one delivery per moment');
    assert.deepEqual(new Set(got.map((d) => d.body.anonymous_id)), new Set(leads));
    assert.equal(new Set(got.map((d) => d.headers['waymark-id'])).size, leads.length, 'distinct delivery ids');
    for (const d of got) {
      assert.equal(d.body.trigger, 'became_lead');
      assert.equal(d.validSignature, true);
    }
  });

  it('a map published on one collector is served by the others', async () => {
    const current = await get(collectors[0], '/v1/map');
    assert.equal(current.status, 200, current.text);
    const map = JSON.parse(current.text);
    map.version = (map.version ?? 1) + 10;
    const put = await putMap(collectors[0], map);
    assert.equal(put.status, 200, put.text);
    const published = put.json.version;
    for (const srv of collectors.slice(1)) {
      await waitFor(
        async () => {
          const r = await get(srv, '/v1/map');
          return r.status === 200 && JSON.parse(r.text).version === map.version && r.headers.etag === put.json.etag;
        },
        { timeoutMs: 5000, what: `collector ${srv.port} serving map version ${published}` },
      );
    }
    // An older version sent to another collector is refused there too.
    const stale = await putMap(collectors[2], { ...map, version: map.version - 1 });
    assert.equal(stale.status, 409, stale.text);
  });
});
