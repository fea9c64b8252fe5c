// Faults under load with three collectors on one PostgreSQL: one collector is killed (kill -9)
// and PostgreSQL is restarted (fast shutdown) while clients keep sending. The clients behave as
// the SDK does: a batch that got no 200 is sent again, with the same event ids, to another
// collector. At the end exactly the events sent are stored, once each, and every lead moment has
// its webhook delivered (a repeat only ever with the same delivery id: at-least-once delivery
// with an id receivers deduplicate, the documented contract).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  BACKEND,
  adminGet,
  anonId,
  getProfile,
  killCollector,
  makeEvent,
  makeTempDir,
  postBatch,
  runSql,
  sleep,
  startCollector,
  startReceiver,
  stopCollector,
  testPostgres,
  waitFor,
} from './helpers.mjs';

const SECRET = 'whsec_faults_0123456789';
const CLIENTS = 6;
const BATCHES_PER_CLIENT = 25;
const EVENTS_PER_BATCH = 4;
const PACE_MS = 120;
const skip = BACKEND !== 'postgres' ? 'collectors sharing one PostgreSQL (the PostgreSQL pass runs this)' : false;

describe('kill -9 of a collector and a PostgreSQL restart under load', { skip }, () => {
  const collectors = [];
  let receiver;
  let pg;

  before(async () => {
    pg = await testPostgres();
    receiver = await startReceiver({ secret: SECRET });
    const dir = makeTempDir('faults');
    for (let i = 0; i < 3; i++) {
      collectors.push(await startCollector({ dir, webhooks: [`hook,${receiver.url},${SECRET}`] }));
    }
  });

  after(async () => {
    for (const srv of collectors) {
      if (!srv.exited) await stopCollector(srv);
    }
    await receiver?.close();
  });

  it('every event stored exactly once, every lead moment delivered', async () => {
    const sent = new Set();
    const leads = new Set();
    const stats = { retries: 0, stored: 0, answers: {} };

    // One client: its batches in order, each until some collector answers 200.
    async function client(c) {
      for (let b = 0; b < BATCHES_PER_CLIENT; b++) {
        const anon = anonId(`fault-${c}`);
        const now = Date.now();
        const events = Array.from({ length: EVENTS_PER_BATCH }, (_, i) =>
          makeEvent({ anonymous_id: anon, name: i === EVENTS_PER_BATCH - 1 ? 'lead_submitted' : 'page_viewed', time: now - 1000 + i }),
        );
        for (const e of events) sent.add(e.id);
        leads.add(anon);
        const batch = { sent_at: now, events };
        for (let attempt = 0; ; attempt++) {
          const live = collectors.filter((s) => !s.exited);
          const srv = live[(c + b + attempt) % live.length];
          let status = 'error';
          try {
            const res = await postBatch(srv, batch);
            status = res.status;
            if (res.status === 200) {
              assert.equal(res.json.rejected, 0, res.text);
              stats.stored += 1;
              break;
            }
          } catch {
            // connection refused or reset: the SDK retries too
          }
          stats.answers[status] = (stats.answers[status] ?? 0) + 1;
          stats.retries += 1;
          assert.ok(attempt < 200, `batch ${c}/${b} never stored (${JSON.stringify(stats)})`);
          await sleep(Math.min(50 * 2 ** Math.min(attempt, 4), 500));
        }
        await sleep(PACE_MS); // a steady load that spans both faults
      }
    }

    const load = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    await sleep(1000);
    await killCollector(collectors[1]);
    const storedAtKill = stats.stored;
    await sleep(1000);
    const { restartPostgres } = await import('./postgres.mjs');
    const storedAtRestart = stats.stored;
    await restartPostgres(pg, { mode: 'fast' });
    await load;
    const total = CLIENTS * BATCHES_PER_CLIENT;
    // The faults hit the load, not its end.
    assert.ok(storedAtKill > 0 && storedAtRestart < total, `batches stored at the kill ${storedAtKill}, at the restart ${storedAtRestart} of ${total}`);
    assert.ok(stats.retries > 0, 'some sends failed and were retried');

    const expected = CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH;
    assert.equal(sent.size, expected);
    const survivor = collectors[0];
    await waitFor(
      async () => {
        const overview = await adminGet(survivor, '/v1/stats/overview');
        return overview.status === 200 && overview.json.events === expected;
      },
      { timeoutMs: 20000, what: `${expected} stored events` },
    );
    const database = survivor.db.slice(survivor.db.lastIndexOf('/') + 1);
    const counts = await runSql(survivor, 'SELECT COUNT(*) || \',\' || COUNT(DISTINCT id) FROM events');
    assert.equal(counts, `${expected},${expected}`, `rows and distinct ids in ${database}`);
    const ids = await runSql(survivor, 'SELECT id FROM events');
    assert.deepEqual(new Set(ids.split('\n')), sent, 'exactly the events sent');

    // The journeys were projected through the faults: every visitor is a lead with its 4 events.
    const overview = await adminGet(survivor, '/v1/stats/overview');
    assert.equal(overview.json.profiles, leads.size, 'one profile per visitor');
    for (const anon of [...leads].filter((_, i) => i % 10 === 0)) {
      const p = await waitFor(async () => {
        const r = await getProfile(survivor, anon);
        return r.status === 200 && r.json.event_count === EVENTS_PER_BATCH ? r.json : null;
      }, { what: `${anon}'s journey with its ${EVENTS_PER_BATCH} events` });
      assert.equal(p.stage, 'lead', `${anon}: ${p.stage}`);
      assert.equal(p.transitions.at(-1).to, 'lead');
    }

    // Every lead moment delivered; the webhook of a moment whose POST a killed collector left
    // unrecorded comes again after its lease, with the same delivery id.
    const mine = () => receiver.deliveries.filter((d) => leads.has(d.body?.anonymous_id));
    await waitFor(() => new Set(mine().map((d) => d.body.anonymous_id)).size === leads.size, {
      timeoutMs: 60000,
      what: `a became_lead delivery for each of ${leads.size} leads`,
    });
    const byId = new Map();
    for (const d of mine()) {
      assert.equal(d.validSignature, true);
      const key = d.headers['waymark-id'];
      if (!byId.has(key)) byId.set(key, d.body.anonymous_id);
      assert.equal(byId.get(key), d.body.anonymous_id, 'one delivery id, one moment');
    }
    assert.equal(byId.size, leads.size, 'one delivery id per moment');
    console.log(
      `# faults: ${expected} events, ${stats.retries} retried sends ${JSON.stringify(stats.answers)}, ` +
        `${mine().length} deliveries for ${leads.size} moments`,
    );
  });
});

// A connection cut inside a transaction must fail that transaction, never finish it on a new
// connection: the events answered 200 must all be stored. PostgreSQL's pg_terminate_backend cuts
// every connection of the collector's database, again and again, while clients send.
describe('connections cut inside transactions (pg_terminate_backend) under load', { skip }, () => {
  let srv;
  let pg;

  before(async () => {
    pg = await testPostgres();
    srv = await startCollector({ dir: makeTempDir('cut') });
  });

  after(async () => {
    if (srv && !srv.exited) await stopCollector(srv);
  });

  it('every event answered 200 is stored, and the collector recovers', async () => {
    const { psql } = await import('./postgres.mjs');
    const database = srv.db.slice(srv.db.lastIndexOf('/') + 1);
    const acknowledged = new Set();
    const sent = new Set();
    let cuts = 0;
    let failures = 0;
    let sending = true;
    const clients = Array.from({ length: 4 }, async (_, c) => {
      for (let b = 0; b < 30; b++) {
        const anon = anonId(`cut-${c}`);
        const now = Date.now();
        const events = Array.from({ length: 5 }, (_, i) => makeEvent({ anonymous_id: anon, name: 'page_viewed', time: now - 1000 + i }));
        for (const e of events) sent.add(e.id);
        for (let attempt = 0; ; attempt++) {
          try {
            const res = await postBatch(srv, { sent_at: now, events });
            if (res.status === 200) {
              for (const e of events) acknowledged.add(e.id);
              break;
            }
          } catch {
            // retried like any failed send
          }
          failures += 1;
          assert.ok(attempt < 200, 'a batch was never stored');
          await sleep(50);
        }
        await sleep(40);
      }
    });
    const cutter = (async () => {
      while (sending) {
        await sleep(150);
        await psql(pg, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`);
        cuts += 1;
      }
    })();
    await Promise.all(clients);
    sending = false;
    await cutter;

    assert.ok(cuts >= 5, `connections cut ${cuts} times during the load`);
    assert.equal(acknowledged.size, sent.size);
    const stored = new Set(
      (await waitFor(async () => {
        const ids = await runSql(srv, 'SELECT id FROM events');
        const set = new Set(ids.split('\n').filter(Boolean));
        return set.size >= sent.size ? set : null;
      }, { timeoutMs: 20000, what: `${sent.size} stored events` })),
    );
    for (const id of acknowledged) assert.ok(stored.has(id), `event ${id} was answered 200 but is not stored`);
    assert.equal(stored.size, sent.size, 'and nothing else');
    // The collector answers normally afterwards (its connections came back by themselves).
    const overview = await waitFor(async () => {
      const o = await adminGet(srv, '/v1/stats/overview');
      return o.status === 200 && o.json.events === sent.size ? o.json : null;
    }, { timeoutMs: 20000, what: 'the overview after the cuts' });
    assert.equal(overview.profiles, 120);
    console.log(`# cuts: ${cuts} rounds of pg_terminate_backend, ${failures} failed sends retried, ${sent.size} events stored once`);
  });
});
