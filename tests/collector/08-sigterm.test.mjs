// A clean stop: SIGTERM (or SIGINT) while clients are posting drains what is in flight, commits,
// and exits 0; after a restart everything that was acknowledged is there.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';

import {
  anonId,
  getProfile,
  makeEvent,
  postBatch,
  sleep,
  startCollector,
  stopCollector,
  storedEventCount,
  uid,
  acknowledgedIds,
} from './helpers.mjs';

const servers = [];

after(async () => {
  for (const s of servers) if (!s.exited) await stopCollector(s).catch(() => {});
});

async function start(options) {
  const s = await startCollector(options);
  servers.push(s);
  return s;
}

describe('clean stop', () => {
  it('an idle collector stops on SIGTERM with exit code 0 and says so', async () => {
    const srv = await start();
    const t = Date.now();
    const { code, signal } = await stopCollector(srv);
    assert.equal(signal, null);
    assert.equal(code, 0, srv.stderr);
    assert.ok(Date.now() - t < 5000, 'promptly');
    assert.match(srv.stdout, /"msg":"stopping"/);
    assert.match(srv.stdout, /"msg":"stopped"/);
  });

  it('a SIGTERM right after the "listening" line is not lost (40 starts)', async () => {
    // A correct collector stops every time. The race this guards against: the signal thread
    // calls httplib's stop() before listen_after_bind() has started the accept loop, stop() does
    // nothing, the signal thread is gone, and the process then ignores every later SIGTERM.
    for (let i = 0; i < 40; i++) {
      const srv = await start({ waitReady: false });
      srv.proc.kill('SIGTERM');
      const res = await Promise.race([srv.exitPromise, sleep(5000).then(() => null)]);
      if (res === null) {
        const serving = await postBatch(srv, { events: [] }).then((r) => r.status, (e) => e.code);
        srv.proc.kill('SIGTERM');
        const again = await Promise.race([srv.exitPromise, sleep(2000).then(() => null)]);
        srv.proc.kill('SIGKILL');
        await srv.exitPromise;
        assert.fail(
          `start ${i}: still running 5 s after SIGTERM (stdout: ${srv.stdout.trim().split('\n').join(' | ')}; ` +
            `a request then got ${serving}; a second SIGTERM ${again ? 'stopped it' : 'was ignored too'})`,
        );
      }
      assert.equal(res.signal, null);
      assert.equal(res.code, 0, srv.stderr);
    }
  });

  it('SIGINT is a clean stop too', async () => {
    const srv = await start();
    srv.proc.kill('SIGINT');
    const { code, signal } = await srv.exitPromise;
    assert.equal(signal, null);
    assert.equal(code, 0, srv.stderr);
  });

  it('SIGTERM under load: exit 0, and every acknowledged event is stored after a restart', async () => {
    let srv = await start();
    const dir = srv.dir;
    const batches = [];
    const acked = new Set();
    let stopping = false;
    const statuses = new Map();
    const unexpected = []; // anything but 200, or 503 with Retry-After

    const client = async (c) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let anon = anonId(`st${c}`);
      let n = 0;
      let t = Date.now() - 7200000 + c * 1000;
      while (!srv.exited) {
        const events = [];
        for (let i = 0; i < 10; i++) {
          if (n++ % 30 === 0) anon = anonId(`st${c}`);
          t += 3000;
          events.push(makeEvent({ id: uid(`st${c}`), anonymous_id: anon, name: 'feature_viewed', time: t }));
        }
        const entry = { body: { events }, acked: new Set() };
        batches.push(entry);
        let res;
        try {
          res = await postBatch(srv, entry.body, { agent });
        } catch (err) {
          if (!stopping) throw new Error(`transport error before the stop: ${err.message}`);
          break; // refused or closed: the server is going away
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) {
          for (const id of acknowledgedIds(res.json)) {
            entry.acked.add(id);
            acked.add(id);
          }
        } else {
          unexpected.push(`${res.status} ${res.text} retry-after=${res.headers['retry-after']}`);
        }
      }
      agent.destroy();
    };
    const clients = Array.from({ length: 4 }, (_, c) => client(c));
    const started = Date.now();
    while (acked.size < 1000 && Date.now() - started < 15000) await sleep(20);
    stopping = true;
    const t = Date.now();
    srv.proc.kill('SIGTERM');
    const { code, signal } = await srv.exitPromise;
    await Promise.all(clients);
    assert.equal(signal, null);
    assert.equal(code, 0, srv.stderr);
    assert.ok(Date.now() - t < 10000, `stopped in ${Date.now() - t} ms`);
    assert.ok(acked.size >= 1000, `${acked.size} events acknowledged before the stop`);
    const bad = unexpected.filter((u) => !/^503 .*retry-after=\d+$/.test(u));
    assert.deepEqual(bad, [], 'while stopping, requests are answered 200, or 503 with Retry-After');

    srv = await start({ dir });
    const afterRestart = await storedEventCount(srv);
    assert.ok(afterRestart >= acked.size, `stored ${afterRestart} >= acknowledged ${acked.size}`);
    const lost = [];
    for (const b of batches) {
      const res = await postBatch(srv, b.body);
      assert.equal(res.status, 200, res.text);
      res.json.results.forEach((r, i) => {
        const id = b.body.events[i].id;
        if (b.acked.has(id) && r.status !== 'duplicate') lost.push(id);
        assert.notEqual(r.status, 'rejected', `${id}: ${r.reason}`);
      });
    }
    assert.deepEqual(lost, [], 'every acknowledged event was stored before the exit');
    const sent = new Set(batches.flatMap((b) => b.body.events.map((e) => e.id)));
    assert.equal(await storedEventCount(srv), sent.size);
    // Profiles were kept current through the stop: a visitor's event count matches.
    const anon = batches[0].body.events[0].anonymous_id;
    const expected = batches.flatMap((b) => b.body.events).filter((e) => e.anonymous_id === anon).length;
    assert.equal((await getProfile(srv, anon)).json.event_count, expected);
    const { code: code2 } = await stopCollector(srv);
    assert.equal(code2, 0, srv.stderr);
  });
});
