// The collector on the open internet (issue 10): many idle browsers, slow and lying clients,
// header floods, chunked bodies over the cap, times at the ends of int64, a full disk, a database
// deleted under the running server, symlinks out of the static folder, per-client rate limits,
// keys without Origin, and the headers every answer carries. Real binary, real loopback HTTP.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';

import {
  sqliteOnly,
  ALLOWED_ORIGIN,
  BIN,
  RawConnection,
  SITE_KEY,
  adminGet,
  adminHeaders,
  anonId,
  get,
  getProfile,
  makeBatch,
  makeEvent,
  makeTempDir,
  memoryKb,
  parseMetrics,
  postBatch,
  rawRequest,
  request,
  sleep,
  startCollector,
  stopCollector,
  useCollector,
  waitFor,
} from './helpers.mjs';

const ctx = useCollector();

async function assertUp(srv = ctx.srv) {
  const res = await request(srv, { path: '/healthz', agent: false });
  assert.equal(res.status, 200, 'the collector still answers /healthz');
}

function assertError(res, status, code) {
  assert.equal(res?.status, status, `status (body: ${res?.text ?? res?.body})`);
  const json = res.json;
  assert.equal(json?.error?.code, code, `error code (body: ${res.text ?? res.body})`);
}

/** Opens `n` raw connections, `parallel` at a time. */
async function openMany(port, n, parallel = 100) {
  const conns = [];
  for (let i = 0; i < n; i += parallel) {
    const part = await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, () => RawConnection.open(port)));
    conns.push(...part);
  }
  return conns;
}

/** A normal client's requests (a health check and a one-event batch each), with latencies. */
async function normalClient(srv, rounds) {
  const latencies = [];
  for (let i = 0; i < rounds; i++) {
    const h = await request(srv, { path: '/healthz', agent: false, timeoutMs: 5000 });
    assert.equal(h.status, 200);
    const b = await postBatch(srv, makeBatch([makeEvent({ anonymous_id: anonId() })]));
    assert.equal(b.status, 200, b.text);
    assert.equal(b.json.accepted, 1);
    latencies.push(h.ms, b.ms);
  }
  return latencies;
}

async function metricValue(srv, name) {
  const res = await get(srv, '/metrics');
  assert.equal(res.status, 200);
  return parseMetrics(res.text).get(name);
}

describe('many connections', () => {
  it('1 000 idle keep-alive connections (each answered once, then held open): a normal client is served at once', async () => {
    const conns = await openMany(ctx.srv.port, 1000);
    try {
      // Each sends one request and keeps its socket, as a browser does after a batch.
      await Promise.all(
        conns.map(async (c) => {
          await c.write(rawRequest('GET', '/healthz'));
          const res = await c.readResponse(20000);
          assert.equal(res?.status, 200);
          assert.notEqual(res.headers.connection, 'close');
        }),
      );
      const latencies = await normalClient(ctx.srv, 15);
      const worst = Math.max(...latencies);
      assert.ok(worst < 1000, `the slowest request beside 1 000 idle connections took ${worst} ms`);
      const open = await metricValue(ctx.srv, 'waymark_http_connections_open');
      assert.ok(open >= 1000, `waymark_http_connections_open ${open}`);
      const idle = await metricValue(ctx.srv, 'waymark_http_connections_idle');
      assert.ok(idle >= 990, `waymark_http_connections_idle ${idle}`);
      // Still open: one more request on an early connection is answered on it.
      await conns[0].write(rawRequest('GET', '/healthz'));
      assert.equal((await conns[0].readResponse(5000))?.status, 200);
    } finally {
      for (const c of conns) c.close();
    }
    await assertUp();
  });

  it('at the connection cap the oldest idle connections are closed first, so new clients are served', async () => {
    const srv = await startCollector({ extraArgs: ['--max-connections', '50'] });
    const conns = [];
    try {
      // 70 browsers arrive one after the other, each sends a request and keeps its connection.
      for (let i = 0; i < 70; i++) {
        const c = await RawConnection.open(srv.port);
        conns.push(c);
        await c.write(rawRequest('GET', '/healthz'));
        assert.equal((await c.readResponse(5000))?.status, 200, `browser ${i} is served`);
      }
      // The oldest go first (each close reaches the client a moment after it was decided, so
      // wait for those 20 rather than for any 20: a count reached earlier raced the last close).
      await waitFor(() => conns.slice(0, 20).every((c) => c.closed), { what: 'the 20 oldest idle connections closed', timeoutMs: 3000 });
      assert.ok(conns.slice(30).every((c) => !c.closed), 'the 40 newest are open');
      const latencies = await normalClient(srv, 5);
      assert.ok(Math.max(...latencies) < 1000, `new clients waited ${Math.max(...latencies)} ms`);
      const evicted = await metricValue(srv, 'waymark_http_connections_evicted_total');
      assert.ok(evicted >= 20, `evicted ${evicted}`);
    } finally {
      for (const c of conns) c.close();
      assert.equal((await stopCollector(srv)).code, 0);
    }
  });

  it('an idle keep-alive connection is closed after --keep-alive seconds', async () => {
    const srv = await startCollector({ extraArgs: ['--keep-alive', '1'] });
    try {
      const c = await RawConnection.open(srv.port);
      await c.write(rawRequest('GET', '/healthz'));
      assert.equal((await c.readResponse(5000))?.status, 200);
      const started = Date.now();
      await waitFor(() => c.closed, { what: 'the idle connection closed', timeoutMs: 5000 });
      const waited = Date.now() - started;
      assert.ok(waited >= 800 && waited < 3000, `closed after ${waited} ms`);
    } finally {
      assert.equal((await stopCollector(srv)).code, 0);
    }
  });
});

describe('slow clients: deadlines for the whole head and the whole body', () => {
  let srv;
  before(async () => {
    const dir = makeTempDir('deadlines');
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ limits: { head_timeout_seconds: 2, body_timeout_seconds: 2 } }));
    srv = await startCollector({ dir, extraArgs: ['--config', config] });
  });
  after(async () => {
    assert.equal((await stopCollector(srv)).code, 0);
  });

  it('200 slowloris connections (100 trickling headers, 100 trickling bodies, a byte every 400 ms): each gets 408 at its deadline while a normal client is served', async () => {
    const conns = await openMany(srv.port, 200);
    const started = Date.now();
    const heads = conns.slice(0, 100);
    const bodies = conns.slice(100);
    const headBytes = rawRequest('GET', '/healthz', { headers: { 'X-Slow': 'x'.repeat(200) } });
    const bodyHead = `POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nContent-Length: 5000\r\n\r\n`;
    for (const c of bodies) await c.write(bodyHead);
    let trickling = true;
    const trickle = (async () => {
      for (let i = 0; trickling && i < 40; i++) {
        for (const c of heads) if (!c.closed) c.socket.write(headBytes.subarray(i, i + 1));
        for (const c of bodies) if (!c.closed) c.socket.write(' ');
        await sleep(400);
      }
    })();
    const answers = Promise.all(conns.map((c) => c.readResponse(10000).then((res) => ({ res, ms: Date.now() - started }))));
    const latencies = await normalClient(srv, 10);
    const all = await answers;
    trickling = false;
    await trickle;
    for (const c of conns) c.close();

    const worst = Math.max(...latencies);
    assert.ok(worst < 1000, `the slowest normal request beside 200 slowloris connections took ${worst} ms`);
    const statuses = all.map((a) => a.res?.status ?? 'closed');
    assert.ok(statuses.every((s) => s === 408), `every slow client is answered 408: ${[...new Set(statuses)]}`);
    const times = all.map((a) => a.ms);
    // The deadline does not restart with each byte: answered after about 2 s, not after 16 s.
    assert.ok(Math.min(...times) >= 1500, `earliest 408 after ${Math.min(...times)} ms`);
    assert.ok(Math.max(...times) < 6000, `latest 408 after ${Math.max(...times)} ms`);
    const bodyAnswer = all[150].res;
    assert.equal(bodyAnswer.json?.error?.code, 'timeout', bodyAnswer.body);
    assert.equal(bodyAnswer.headers['retry-after'], '1', '408 is retryable: Retry-After');
    await assertUp(srv);
  });

  it('300 clients trickling a byte every 5 ms (a read always in progress when the deadline fires): none outlives its deadline', async () => {
    for (const phase of ['head', 'body']) {
      const conns = await openMany(srv.port, 300);
      for (const c of conns) {
        c.socket.on('error', () => {});
        await c.write(phase === 'head' ? 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ' : `POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nContent-Length: 100000\r\n\r\n`);
      }
      const started = Date.now();
      while (Date.now() - started < 3500) {
        for (const c of conns) if (!c.closed && c.buffer.length === 0) c.socket.write('a');
        await sleep(5);
      }
      await waitFor(() => conns.every((c) => c.closed || c.buffer.length > 0), { what: `every ${phase} trickler answered or closed`, timeoutMs: 4000 }).catch(() => {});
      const stuck = conns.filter((c) => !c.closed && c.buffer.length === 0).length;
      const answered408 = conns.filter((c) => c.buffer.toString('latin1').startsWith('HTTP/1.1 408')).length;
      for (const c of conns) c.close();
      assert.equal(stuck, 0, `${phase}: ${stuck} connections neither answered nor closed`);
      assert.ok(answered408 >= 290, `${phase}: ${answered408} of 300 answered 408`);
    }
    await assertUp(srv);
  });

  it('a connection that opens and sends nothing is closed at the head deadline', async () => {
    const c = await RawConnection.open(srv.port);
    const started = Date.now();
    await waitFor(() => c.closed, { what: 'the silent connection closed', timeoutMs: 6000 });
    assert.ok(Date.now() - started >= 1500, `closed after ${Date.now() - started} ms`);
  });
});

describe('header and body floods', () => {
  it('150 headers: 431 too_many_headers', async () => {
    const headers = {};
    for (let i = 0; i < 150; i++) headers[`X-H${i}`] = 'v';
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(rawRequest('GET', '/healthz', { headers }));
    const res = await c.readResponse(5000);
    c.close();
    assertError(res, 431, 'too_many_headers');
    await assertUp();
  });

  it('5 000 headers of 4 KB (20 MB): 431 after the first 16 KB, memory bounded, server up', async () => {
    const before = memoryKb(ctx.srv.pid).rss;
    const c = await RawConnection.open(ctx.srv.port);
    c.socket.on('error', () => {});
    const line = `X-Flood: ${'a'.repeat(4096)}\r\n`;
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const writing = (async () => {
      for (let i = 0; i < 5000 && !c.closed; i++) {
        if (!c.socket.write(line)) await new Promise((r) => c.socket.once('drain', r).once('close', r));
      }
    })();
    const res = await c.readResponse(10000);
    await Promise.race([writing, sleep(3000)]);
    c.close();
    assertError(res, 431, 'headers_too_large');
    const grown = memoryKb(ctx.srv.pid).rss - before;
    assert.ok(grown < 16 * 1024, `RSS grew by ${grown} kB`);
    await assertUp();
  });

  it('a request line over the head limit: 414', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(`GET /${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await c.readResponse(5000);
    c.close();
    assertError(res, 414, 'uri_too_long');
  });

  it('a chunked body of 1.3 MB: 413 payload_too_large (the cap counts the wire bytes of any framing), server up', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    c.socket.on('error', () => {});
    await c.write(`POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nOrigin: ${ALLOWED_ORIGIN}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const writing = (async () => {
      for (let i = 0; i < 21 && !c.closed; i++) {
        c.socket.write(`${chunk.length.toString(16)}\r\n`);
        c.socket.write(chunk);
        if (!c.socket.write('\r\n')) await new Promise((r) => c.socket.once('drain', r).once('close', r));
      }
      if (!c.closed) c.socket.write('0\r\n\r\n');
    })();
    const res = await c.readResponse(10000);
    await Promise.race([writing, sleep(3000)]);
    c.close();
    assertError(res, 413, 'payload_too_large');
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED_ORIGIN, 'a browser can read the 413');
    await assertUp();
  });

  it('a chunked body under the cap is read whole', async () => {
    const body = JSON.stringify(makeBatch([makeEvent({ anonymous_id: anonId() }), makeEvent({ anonymous_id: anonId() })]));
    const c = await RawConnection.open(ctx.srv.port);
    const half = Math.floor(body.length / 2);
    await c.write(
      `POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${Buffer.byteLength(body.slice(0, half)).toString(16)}\r\n${body.slice(0, half)}\r\n` +
        `${Buffer.byteLength(body.slice(half)).toString(16)}\r\n${body.slice(half)}\r\n0\r\n\r\n`,
    );
    const res = await c.readResponse(5000);
    c.close();
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.accepted, 2);
  });
});

describe('framing and memory a client cannot abuse', () => {
  it('a Transfer-Encoding other than chunked: 400 and the connection closes (no request smuggling)', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(`POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nTransfer-Encoding: gzip\r\n\r\nGET /v1/map HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await c.readResponse(5000);
    assertError(res, 400, 'bad_request');
    const smuggled = await c.readResponse(3000).catch(() => null);
    c.close();
    assert.equal(smuggled, null, `the bytes after the head were answered as a request: ${smuggled?.status}`);
  });

  it('trailer fields of a chunked body are not taken for headers', async () => {
    const body = JSON.stringify(makeBatch([makeEvent({ anonymous_id: anonId() })]));
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(
      `POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\nContent-Encoding: gzip\r\n\r\n`,
    );
    const res = await c.readResponse(5000);
    c.close();
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.accepted, 1);
  });

  it('request bodies in memory are budgeted across connections: beyond it 503 overloaded (retryable)', async () => {
    const dir = makeTempDir('budget');
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ limits: { body_bytes_in_flight: 1200000 } }));
    const srv = await startCollector({ dir, extraArgs: ['--config', config] });
    const conns = [];
    try {
      // Two clients announce 512 KB bodies and stall: 1 MB of the 1.2 MB budget is held.
      for (let i = 0; i < 2; i++) {
        const c = await RawConnection.open(srv.port);
        conns.push(c);
        await c.write(`POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nContent-Length: 524288\r\n\r\n{`);
      }
      await waitFor(async () => (await metricValue(srv, 'waymark_http_body_bytes_held')) >= 1048576, { what: 'the stalled bodies charged' });
      const third = await postBatch(srv, Buffer.alloc(300000, 0x20));
      assertError(third, 503, 'overloaded');
      assert.ok(third.headers['retry-after']);
      const small = await postBatch(srv, makeBatch([makeEvent({ anonymous_id: anonId() })]));
      assert.equal(small.status, 200, 'a small batch still fits');
      for (const c of conns) c.close();
      await waitFor(async () => (await metricValue(srv, 'waymark_http_body_bytes_held')) === 0, { what: 'the budget released' });
    } finally {
      for (const c of conns) c.close();
      assert.equal((await stopCollector(srv)).code, 0);
    }
  });

  it('SIGTERM with idle keep-alive connections and half-sent heads stops at once', async () => {
    for (let round = 0; round < 5; round++) {
      const srv = await startCollector();
      const conns = await openMany(srv.port, 20);
      for (const c of conns.slice(0, 10)) {
        await c.write(rawRequest('GET', '/healthz'));
        await c.readResponse(5000);
      }
      for (const c of conns.slice(10)) await c.write('GET /healthz HTTP/1.1\r\nHo');
      const started = Date.now();
      const { code } = await stopCollector(srv);
      const took = Date.now() - started;
      for (const c of conns) c.close();
      assert.equal(code, 0);
      assert.ok(took < 2000, `round ${round}: SIGTERM took ${took} ms`);
    }
  });
});

describe('times at the ends of int64', () => {
  // JSON numbers beyond 2^53 cannot pass through a JS number: the batch is written as text.
  function batchText(time, sentAt) {
    const a = anonId('t');
    const ev = makeEvent({ anonymous_id: a, time: 0 });
    const text = JSON.stringify({ events: [{ ...ev, time: '@TIME@', ...(sentAt !== undefined ? { sent_at: '@SENT@' } : {}) }] });
    return { a, id: ev.id, text: text.replace('"@TIME@"', String(time)).replace('"@SENT@"', String(sentAt)) };
  }
  const dayMs = 86400000;

  for (const [label, time, sentAt] of [
    ['time INT64_MAX, sent_at 200 days ago (the correction overflows)', '9223372036854775807', () => Date.now() - 200 * dayMs],
    ['time INT64_MAX - 1, sent_at 1 s ago', '9223372036854775806', () => Date.now() - 1000],
    ['time INT64_MAX, sent_at now (received after sent: the correction overflows)', '9223372036854775807', () => Date.now() - 5],
    ['time 2000-03-01, sent_at in 200 days (corrected to 1999)', String(Date.UTC(2000, 2, 1)), () => Date.now() + 200 * dayMs],
  ]) {
    it(`${label}: rejected invalid_time, nothing stored`, async () => {
      const b = batchText(time, sentAt());
      const res = await postBatch(ctx.srv, b.text, { headers: { 'Content-Type': 'application/json' } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.results[0].status, 'rejected', res.text);
      assert.equal(res.json.results[0].reason, 'invalid_time', res.text);
      assert.equal((await getProfile(ctx.srv, b.a)).status, 404, 'no journey for a rejected event');
    });
  }

  it('time INT64_MIN (with and without sent_at): rejected, with a message about the time', async () => {
    for (const sent of [Date.now(), undefined]) {
      const b = batchText('-9223372036854775808', sent);
      const res = await postBatch(ctx.srv, b.text, { headers: { 'Content-Type': 'application/json' } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.results[0].status, 'rejected', res.text);
      assert.ok(['invalid_time', 'invalid_event'].includes(res.json.results[0].reason), res.text);
      assert.match(res.json.results[0].message, /^time: /);
    }
  });

  it('a batch sent_at of INT64_MAX with a sane device time: the sent time is ignored as garbage, the event accepted', async () => {
    const a = anonId('t');
    const ev = makeEvent({ anonymous_id: a, time: Date.now() - 1000 });
    const text = JSON.stringify({ sent_at: 0, events: [ev] }).replace('"sent_at":0', '"sent_at":9223372036854775807');
    const res = await postBatch(ctx.srv, text, { headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.results[0].status, 'accepted', res.text);
    assert.equal((await getProfile(ctx.srv, a)).status, 200);
  });

  it('a far-future device time with no sent_at is clamped to now (a time, not an overflow)', async () => {
    const b = batchText('9000000000000000000', undefined);
    const res = await postBatch(ctx.srv, b.text, { headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.results[0].status, 'accepted', res.text);
    const p = await getProfile(ctx.srv, b.a);
    assert.equal(p.status, 200, 'the acknowledged event has a journey');
    const overview = await adminGet(ctx.srv, '/v1/stats/overview');
    assert.equal(overview.status, 200);
  });
});

describe('storage failures: /readyz tells the truth, nothing is acknowledged that is not stored', { skip: sqliteOnly('deleting, replacing and filling the database file') }, () => {
  it('the database deleted while running: batches get 503, /readyz 503 naming it; no 200 for a lost event', async () => {
    const srv = await startCollector();
    try {
      assert.equal((await get(srv, '/readyz')).status, 200);
      const before = await postBatch(srv, makeBatch([makeEvent({ anonymous_id: anonId() })]));
      assert.equal(before.status, 200);
      for (const suffix of ['', '-wal', '-shm']) fs.rmSync(srv.db + suffix, { force: true });
      const after = await postBatch(srv, makeBatch([makeEvent({ anonymous_id: anonId() })]));
      assert.equal(after.status, 503, `a batch after the file vanished: ${after.status} ${after.text}`);
      assert.equal(after.json.results[0].reason, 'storage_unavailable');
      assert.ok(after.headers['retry-after'], 'retryable');
      const ready = await get(srv, '/readyz');
      assert.equal(ready.status, 503, ready.text);
      assert.match(ready.json.database, /deleted/);
      await assertUp(srv);
    } finally {
      assert.equal((await stopCollector(srv)).code, 0);
    }
  });

  it('the database file replaced while running: 503 and /readyz 503 naming it', async () => {
    const srv = await startCollector();
    try {
      fs.renameSync(srv.db, srv.db + '.old');
      fs.copyFileSync(srv.db + '.old', srv.db);
      const res = await postBatch(srv, makeBatch([makeEvent({ anonymous_id: anonId() })]));
      assert.equal(res.status, 503, res.text);
      const ready = await get(srv, '/readyz');
      assert.equal(ready.status, 503);
      assert.match(ready.json.database, /replaced/);
    } finally {
      assert.equal((await stopCollector(srv)).code, 0);
    }
  });

  it('disk full on a small tmpfs: 503 with /readyz 503, then 200 again once space is freed; every acknowledged event is stored', async (t) => {
    if (process.getuid() !== 0) {
      t.skip('needs root to mount a small tmpfs (CI runs as root); skipped');
      console.log('# disk-full test skipped: not root, cannot mount a tmpfs');
      return;
    }
    const mnt = makeTempDir('diskfull');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
    } catch (err) {
      t.skip(`mount -t tmpfs failed: ${err.message}`);
      console.log(`# disk-full test skipped: mount -t tmpfs failed (${err.message.split('\n')[0]})`);
      return;
    }
    const dir = path.join(mnt, 'db');
    fs.mkdirSync(dir);
    const srv = await startCollector({ dir });
    const acknowledged = new Set();
    try {
      assert.equal((await get(srv, '/readyz')).status, 200);
      // Fill most of the disk with a file we can remove later.
      const free = fs.statfsSync(mnt).bavail * fs.statfsSync(mnt).bsize;
      fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(Math.max(0, free - 1536 * 1024)));
      let refused = null;
      const props = { blob: 'x'.repeat(1900) };
      for (let i = 0; i < 400 && !refused; i++) {
        const evs = Array.from({ length: 50 }, () => makeEvent({ anonymous_id: anonId('full'), properties: props }));
        const res = await postBatch(srv, makeBatch(evs));
        if (res.status === 200) {
          for (const r of res.json.results) if (r.status === 'accepted') acknowledged.add(r.id);
        } else {
          refused = res;
        }
      }
      assert.ok(refused, 'the disk filled up');
      assert.equal(refused.status, 503, refused.text);
      const ready = await get(srv, '/readyz');
      assert.equal(ready.status, 503, `readyz on a full disk: ${ready.text}`);
      fs.rmSync(path.join(mnt, 'filler'));
      await waitFor(async () => (await get(srv, '/readyz')).status === 200, { what: '/readyz 200 after space was freed', timeoutMs: 10000 });
      const res = await postBatch(srv, makeBatch([makeEvent({ anonymous_id: anonId('full') })]));
      assert.equal(res.status, 200, res.text);
      acknowledged.add(res.json.results[0].id);
      assert.equal((await stopCollector(srv)).code, 0);
      const stored = new Set(execFileSync('sqlite3', [srv.db, 'SELECT id FROM events'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n'));
      const lost = [...acknowledged].filter((id) => !stored.has(id));
      assert.equal(lost.length, 0, `${lost.length} of ${acknowledged.size} acknowledged events are not stored`);
    } finally {
      await stopCollector(srv).catch(() => {});
      execFileSync('umount', ['-l', mnt]);
    }
  });
});

describe('static files: inside the folder only, precompressed, with security headers', () => {
  let srv;
  let dir;
  let outside;
  before(async () => {
    dir = makeTempDir('static-safe');
    outside = makeTempDir('static-outside');
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside the folder');
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>d</title><script src="app.js"></script>');
    const js = 'console.log("dashboard");'.repeat(50);
    fs.writeFileSync(path.join(dir, 'app.js'), js);
    fs.writeFileSync(path.join(dir, 'app.js.br'), zlib.brotliCompressSync(js));
    fs.writeFileSync(path.join(dir, 'app.js.gz'), zlib.gzipSync(js));
    fs.symlinkSync(outside, path.join(dir, 'linkdir'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'secret.txt'));
    fs.symlinkSync('/etc/passwd', path.join(dir, 'passwd'));
    fs.symlinkSync(path.join(dir, 'app.js'), path.join(dir, 'alias.js')); // inside: fine
    srv = await startCollector({ extraArgs: ['--static', dir] });
  });
  after(async () => {
    assert.equal((await stopCollector(srv)).code, 0);
  });

  it('a symlink (file or folder) out of the folder is never followed: 404', async () => {
    for (const p of ['/linkdir/secret.txt', '/secret.txt', '/passwd', '/linkdir/']) {
      const res = await get(srv, p);
      assert.equal(res.status, 404, `${p}: ${res.status} ${res.text.slice(0, 80)}`);
      assert.doesNotMatch(res.text, /outside the folder|root:/);
    }
    const redirect = await get(srv, '//linkdir');
    assert.notEqual(redirect.status, 301, `//name must not redirect to another host: ${redirect.headers.location}`);
    const inside = await get(srv, '/alias.js');
    assert.equal(inside.status, 200, 'a symlink that stays inside the folder is served');
  });

  it('precompressed siblings are sent when accepted (br, then gzip), with Vary; plain otherwise', async () => {
    const plain = fs.readFileSync(path.join(dir, 'app.js'), 'utf8');
    const br = await request(srv, { path: '/app.js', headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    assert.equal(br.status, 200);
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.match(br.headers['content-type'], /^text\/javascript/);
    const gz = await request(srv, { path: '/app.js', headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    const none = await request(srv, { path: '/app.js', headers: { 'Accept-Encoding': 'br;q=0, identity' } });
    assert.equal(none.headers['content-encoding'], undefined);
    assert.equal(none.text, plain);
    assert.notEqual(br.headers.etag, none.headers.etag, 'each encoding has its own ETag');
    // Raw bytes of the br answer decode to the file.
    const raw = await new Promise((resolve, reject) => {
      RawConnection.open(srv.port).then(async (c) => {
        await c.write(rawRequest('GET', '/app.js', { headers: { 'Accept-Encoding': 'br' } }));
        const end = Date.now() + 5000;
        while (c.buffer.indexOf('\r\n\r\n') < 0 && Date.now() < end) await sleep(10);
        await sleep(100);
        const at = c.buffer.indexOf('\r\n\r\n') + 4;
        c.close();
        resolve(c.buffer.subarray(at));
      }, reject);
    });
    assert.equal(zlib.brotliDecompressSync(raw).toString('utf8'), plain);
  });

  it('HTML pages carry a Content-Security-Policy; every answer (files, API, errors) carries nosniff', async () => {
    const page = await get(srv, '/');
    assert.equal(page.status, 200);
    const csp = page.headers['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/, 'no inline or eval scripts');
    assert.match(csp, /frame-ancestors 'none'/);
    const answers = [
      page,
      await get(srv, '/app.js'),
      await get(srv, '/healthz'),
      await get(srv, '/nope'),
      await get(srv, '/v1/stats/funnel'),
      await postBatch(srv, '{'),
      await get(srv, '/v1/map'),
    ];
    for (const res of answers) assert.equal(res.headers['x-content-type-options'], 'nosniff', `status ${res.status}`);
    assert.equal((await get(srv, '/app.js')).headers['content-security-policy'], undefined, 'scripts need no CSP');
  });
});

describe('request bodies: the documented answers', () => {
  it('a truncated gzip body: 400 unreadable_body (not invalid_json)', async () => {
    const gz = zlib.gzipSync(JSON.stringify(makeBatch([makeEvent({ anonymous_id: anonId() })])));
    const res = await postBatch(ctx.srv, gz.subarray(0, gz.length - 12), { headers: { 'Content-Encoding': 'gzip' } });
    assertError(res, 400, 'unreadable_body');
  });

  it('a brotli body is accepted; an unknown Content-Encoding is 415 unsupported_encoding', async () => {
    const body = JSON.stringify(makeBatch([makeEvent({ anonymous_id: anonId() })]));
    const br = await postBatch(ctx.srv, zlib.brotliCompressSync(body), { headers: { 'Content-Encoding': 'br' } });
    assert.equal(br.status, 200, br.text);
    assert.equal(br.json.accepted, 1);
    const zstd = await postBatch(ctx.srv, body, { headers: { 'Content-Encoding': 'zstd' } });
    assertError(zstd, 415, 'unsupported_encoding');
  });

  it('admin bodies are decoded too: a gzip draft map previews like the plain one; a gzip bomb is 413', async () => {
    const map = (await get(ctx.srv, '/v1/map')).text;
    const headers = { ...adminHeaders(), 'Content-Type': 'application/json' };
    const plain = await request(ctx.srv, { method: 'POST', path: '/v1/map/preview', headers, body: map });
    assert.equal(plain.status, 200, plain.text);
    const gz = await request(ctx.srv, { method: 'POST', path: '/v1/map/preview', headers: { ...headers, 'Content-Encoding': 'gzip' }, body: zlib.gzipSync(map) });
    assert.equal(gz.status, 200, gz.text);
    assert.ok(gz.json.draft, gz.text);
    assert.deepEqual(gz.json.draft, plain.json.draft);
    const bomb = await request(ctx.srv, { method: 'PUT', path: '/v1/map', headers: { ...headers, 'Content-Encoding': 'gzip' }, body: zlib.gzipSync(Buffer.alloc(20 << 20, 0x20)) });
    assertError(bomb, 413, 'payload_too_large');
  });

  it('an empty batch {"events": []}: 200 with zero counts (a no-op, as documented)', async () => {
    const res = await postBatch(ctx.srv, { events: [] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { accepted: 0, duplicates: 0, rejected: 0, results: [] });
    assertError(await postBatch(ctx.srv, { events: [] }, { key: 'nope' }), 401, 'unknown_site_key');
  });
});

describe('rate limits per site key and per client', () => {
  let srv;
  before(async () => {
    srv = await startCollector({ rateLimit: 1000, clientRateLimit: 2 }); // client burst 10
  });
  after(async () => {
    assert.equal((await stopCollector(srv)).code, 0);
  });

  it('one noisy client gets 429 with Retry-After; another visitor of the same site is served meanwhile', async () => {
    const noisy = anonId('noisy');
    const statuses = [];
    let limited;
    for (let i = 0; i < 14; i++) {
      const res = await postBatch(srv, makeBatch([makeEvent({ anonymous_id: noisy })]));
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200), `the client's burst passes: ${statuses}`);
    assert.ok(limited, `then 429: ${statuses}`);
    assertError(limited, 429, 'rate_limited');
    assert.match(limited.json.error.message, /client/);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    const other = await postBatch(srv, makeBatch([makeEvent({ anonymous_id: anonId('quiet') })]));
    assert.equal(other.status, 200, 'another visitor of the same site key is not throttled');
    const m = parseMetrics((await get(srv, '/metrics')).text);
    assert.ok(m.get('waymark_batches_refused_total{reason="rate_limited_client"}') >= 1);
  });

  it('the defaults: 20 requests/s per client (burst 100), 1 000 per site key (burst 2 000), documented in --help', () => {
    const help = execFileSync(BIN, ['--help'], { encoding: 'utf8' });
    assert.match(help, /--rate-limit N[\s\S]*default 1000, burst 2x/);
    assert.match(help, /--client-rate-limit N[\s\S]*default 20, burst 5x/);
  });
});

describe('keys: origins and server-side use; the metrics token', () => {
  it('an origin-restricted key refuses a request without Origin (403), unless marked --server-side', async () => {
    const srv = await startCollector({ siteKeys: [`WEB=${ALLOWED_ORIGIN}`, `SRV=${ALLOWED_ORIGIN}`, 'ANY'], serverSide: ['SRV'] });
    try {
      const batch = () => makeBatch([makeEvent({ anonymous_id: anonId() })]);
      assertError(await postBatch(srv, batch(), { key: 'WEB' }), 403, 'origin_not_allowed');
      assert.equal((await postBatch(srv, batch(), { key: 'WEB', headers: { Origin: ALLOWED_ORIGIN } })).status, 200);
      assertError(await postBatch(srv, batch(), { key: 'WEB', headers: { Origin: 'http://evil.example' } }), 403, 'origin_not_allowed');
      assert.equal((await postBatch(srv, batch(), { key: 'SRV' })).status, 200, 'a server-side key needs no Origin');
      assert.equal((await postBatch(srv, batch(), { key: 'ANY' })).status, 200, 'a key without origins takes any');
    } finally {
      assert.equal((await stopCollector(srv)).code, 0);
    }
  });

  it('--server-side naming an unknown key is a configuration error (exit 2)', async () => {
    let code = 0;
    try {
      execFileSync(BIN, ['--admin-key', 'A', '--server-side', 'NOPE'], { stdio: 'pipe' });
    } catch (err) {
      code = err.status;
      assert.match(err.stderr.toString(), /--server-side: no site key NOPE/);
    }
    assert.equal(code, 2);
  });

  it('with --metrics-token, /metrics needs it (or the admin key): 401 otherwise', async () => {
    const srv = await startCollector({ extraArgs: ['--metrics-token', 'scrape-me'] });
    try {
      assertError(await get(srv, '/metrics'), 401, 'unauthorized');
      assertError(await get(srv, '/metrics', { Authorization: 'Bearer wrong' }), 401, 'unauthorized');
      assert.equal((await get(srv, '/metrics', { Authorization: 'Bearer scrape-me' })).status, 200);
      assert.equal((await get(srv, '/metrics', adminHeaders())).status, 200);
    } finally {
      assert.equal((await stopCollector(srv)).code, 0);
    }
  });
});

describe('behind a load balancer', () => {
  it('--trust-proxy: the client address is the last X-Forwarded-For entry (reduced); without it, the socket peer', async () => {
    const forwarded = { 'X-Forwarded-For': '198.51.100.9, 203.0.113.77' };
    const behind = await startCollector({ quiet: false, extraArgs: ['--trust-proxy'] });
    const direct = await startCollector({ quiet: false });
    try {
      const healthLines = (srv) => srv.stdout.split('\n').filter((l) => l.includes('"route":"/healthz"'));
      const logged = async (srv, headers) => {
        const before = healthLines(srv).length;
        await get(srv, '/healthz', headers);
        await waitFor(() => healthLines(srv).length > before, { what: 'the request\'s log line' });
        return JSON.parse(healthLines(srv)[before]).ip;
      };
      assert.equal(await logged(behind, forwarded), '203.0.113.0', 'the entry the balancer appended, reduced to its /24');
      assert.equal(await logged(behind, { 'X-Forwarded-For': 'not-an-address' }), '127.0.0.0', 'garbage is ignored');
      // A balancer that adds its own header line after the client's: the last line wins.
      const twoLines = await new Promise((resolve, reject) => {
        RawConnection.open(behind.port).then(async (c) => {
          const before = healthLines(behind).length;
          await c.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 198.51.100.200\r\n\r\n');
          await c.readResponse(5000);
          c.close();
          await waitFor(() => healthLines(behind).length > before, { what: 'the log line' });
          resolve(JSON.parse(healthLines(behind)[before]).ip);
        }, reject);
      });
      assert.equal(twoLines, '198.51.100.0', 'the forged first line is not believed');
      assert.equal(await logged(direct, forwarded), '127.0.0.0', 'without --trust-proxy the header is not believed');
    } finally {
      assert.equal((await stopCollector(behind)).code, 0);
      assert.equal((await stopCollector(direct)).code, 0);
    }
  });
});
