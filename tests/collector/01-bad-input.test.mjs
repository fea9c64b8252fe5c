// Bad input against the real collector: every case asserts the documented status, error code or
// per-event result, and that the server still answers /healthz afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';

import {
  ADMIN,
  ALLOWED_ORIGIN,
  RawConnection,
  SITE_KEY,
  adminHeaders,
  anonId,
  get,
  getProfile,
  makeBatch,
  makeEvent,
  memoryKb,
  postBatch,
  rawRequest,
  request,
  sleep,
  startCollector,
  stopCollector,
  useCollector,
} from './helpers.mjs';

const BODY_LIMIT = 512 * 1024;


const ctx = useCollector();

// A server that stops reading a body must close the connection, or drain the body: the unread
// bytes must never be parsed as the next request on the same connection.
async function assertConnectionInSync(c, res) {
  if (res.headers.connection === 'close') return;
  await c.write(rawRequest('GET', '/healthz'));
  const next = await c.readResponse(3000);
  assert.ok(next === null || next.status === 200, `next request on the same connection answered ${next?.status} ${next?.body}`);
}

async function assertUp() {
  // A fresh connection: whether a kept-alive one survives bad input is tested on its own.
  const res = await request(ctx.srv, { path: '/healthz', agent: false });
  assert.equal(res.status, 200, 'the collector answers GET /healthz after the bad input');
  assert.equal(res.json?.status, 'ok');
}

function assertError(res, status, code) {
  assert.equal(res.status, status, `status (body: ${res.text})`);
  assert.equal(res.json?.error?.code, code, `error code (body: ${res.text})`);
  assert.equal(typeof res.json.error.message, 'string');
}

/** Per-event results by index; asserts the batch was answered 200 with one result per event. */
function results(res, count) {
  assert.equal(res.status, 200, `batch status (body: ${res.text})`);
  assert.equal(res.json.results.length, count, 'one result per event');
  res.json.results.forEach((r, i) => assert.equal(r.index, i, 'results are in order'));
  return res.json.results;
}

async function touchpoint(anonymousId, eventId) {
  const p = await getProfile(ctx.srv, anonymousId);
  assert.equal(p.status, 200, `profile of ${anonymousId}: ${p.text}`);
  return { profile: p.json, tp: p.json.touchpoints.find((t) => t.id === eventId) };
}

describe('malformed bodies', () => {
  it('empty body: 400 invalid_batch', async () => {
    assertError(await postBatch(ctx.srv, ''), 400, 'invalid_batch');
    await assertUp();
  });

  it('truncated JSON: 400 invalid_json', async () => {
    const full = JSON.stringify(makeBatch([makeEvent()]));
    assertError(await postBatch(ctx.srv, full.slice(0, full.length - 7)), 400, 'invalid_json');
    await assertUp();
  });

  it('trailing garbage after the batch: 400 invalid_json', async () => {
    assertError(await postBatch(ctx.srv, `${JSON.stringify(makeBatch([makeEvent()]))} {}`), 400, 'invalid_json');
    await assertUp();
  });

  for (const [label, body, typeWord] of [
    ['a JSON string', '"events"', 'string'],
    ['a JSON number', '42', 'number'],
    ['a JSON array', JSON.stringify([makeEvent()]), 'array'],
    ['null', 'null', 'null'],
  ]) {
    it(`${label} instead of a batch object: 400 invalid_batch`, async () => {
      const res = await postBatch(ctx.srv, body);
      assertError(res, 400, 'invalid_batch');
      assert.match(res.json.error.message, new RegExp(typeWord));
      await assertUp();
    });
  }

  it('no events array ({} and {"events": {}}): 400 invalid_batch naming events', async () => {
    for (const body of [{}, { events: {} }, { events: 'x' }]) {
      const res = await postBatch(ctx.srv, body);
      assertError(res, 400, 'invalid_batch');
      assert.match(res.json.error.message, /^events: /);
    }
    await assertUp();
  });

  it('invalid UTF-8 bytes in the body: 400 invalid_json', async () => {
    const text = JSON.stringify(makeBatch([makeEvent({ properties: { note: 'XX' } })]));
    const bytes = Buffer.from(text, 'utf8');
    const at = bytes.indexOf('XX');
    bytes[at] = 0xff; // never valid in UTF-8
    bytes[at + 1] = 0xc3; // a lead byte followed by a quote: truncated sequence
    const res = await postBatch(ctx.srv, bytes);
    assertError(res, 400, 'invalid_json');
    assert.match(res.json.error.message, /UTF-8/);
    await assertUp();
  });

  it('a lone surrogate escape "\\ud800": 400 invalid_json', async () => {
    const text = JSON.stringify(makeBatch([makeEvent({ properties: { s: 'SURR' } })])).replace('SURR', '\\ud800');
    assertError(await postBatch(ctx.srv, text), 400, 'invalid_json');
    await assertUp();
  });

  it('10 000-deep nesting: 400 too_deep (refused before parsing)', async () => {
    const deep = `{"events":[{"id":"deep","name":"page_viewed","time":${Date.now()},"properties":${'['.repeat(10000)}${']'.repeat(10000)}}]}`;
    assertError(await postBatch(ctx.srv, deep), 400, 'too_deep');
    await assertUp();
  });

  it('a raw garbage request line: 400, server up', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    await c.write('BLAH\r\n\r\n');
    const res = await c.readResponse();
    c.close();
    assert.ok(res === null || res.status === 400, `garbage request answered ${res?.status}`);
    await assertUp();
  });

  it('a 20 KB header: refused with a 4xx, server up', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(rawRequest('GET', '/healthz', { headers: { 'X-Big': 'a'.repeat(20000) } }));
    const res = await c.readResponse();
    c.close();
    assert.ok(res === null || (res.status >= 400 && res.status < 500), `oversized header answered ${res?.status}`);
    await assertUp();
  });

  it('a client that promises 1000 bytes, sends 10 and hangs up: server up', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(`POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nContent-Length: 1000\r\n\r\n{"events":`);
    c.close();
    await assertUp();
  });
});

describe('size caps and compression', () => {
  it('a body one byte over 512 KB: 413 payload_too_large, and the same keep-alive connection serves the next request', async () => {
    const body = Buffer.alloc(BODY_LIMIT + 1, 0x20); // whitespace: the size alone must refuse it
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(rawRequest('POST', '/v1/batch', { headers: { 'X-Waymark-Key': SITE_KEY, 'Content-Type': 'application/json' }, body }));
    const res = await c.readResponse();
    assert.ok(res, 'an answer to the oversized body');
    const sameConnection = res.headers.connection !== 'close';
    let next;
    const started = Date.now();
    if (sameConnection) {
      await c.write(rawRequest('GET', '/healthz'));
      next = await c.readResponse(3000);
      assert.ok(next, 'the kept-alive connection was not dropped');
    } else {
      next = await get(ctx.srv, '/healthz');
    }
    c.close();
    assert.equal(next.status, 200, 'the request after the oversized body succeeds');
    assert.ok(Date.now() - started < 2000, 'and at once');
    assert.equal(res.status, 413, `status for a body over the cap (body: ${res.body})`);
    assert.equal(res.json?.error?.code, 'payload_too_large', res.body);
    await assertUp();
  });

  it('a body exactly at 512 KB is read (not refused for size)', async () => {
    const text = JSON.stringify(makeBatch([makeEvent({ anonymous_id: anonId() })]));
    const body = Buffer.alloc(BODY_LIMIT, 0x20);
    body.write(text, 0, 'utf8'); // JSON followed by whitespace padding
    const res = await postBatch(ctx.srv, body);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.accepted, 1);
    await assertUp();
  });

  it('a gzip bomb (50 MB of zeros): 413 payload_too_large, server up, memory bounded', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024));
    assert.ok(bomb.length < BODY_LIMIT, 'the compressed bomb itself is under the body cap');
    // Its own connection: the keep-alive behaviour after a refused bomb is the next test's subject.
    const res = await postBatch(ctx.srv, bomb, { headers: { 'Content-Encoding': 'gzip', 'Content-Type': 'application/json', Connection: 'close' }, agent: false });
    assertError(res, 413, 'payload_too_large');
    await assertUp();
    const mem = memoryKb(ctx.srv.pid);
    assert.ok(mem.peak < 100 * 1024, `peak RSS ${mem.peak} kB stays far below the 50 MB the bomb expands to`);
  });

  it('after a gzip bomb refusal the kept-alive connection is closed or still in sync (no garbage answer)', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024));
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(rawRequest('POST', '/v1/batch', { headers: { 'X-Waymark-Key': SITE_KEY, 'Content-Encoding': 'gzip' }, body: bomb }));
    const res = await c.readResponse();
    assert.equal(res?.status, 413);
    await assertConnectionInSync(c, res);
    c.close();
    await assertUp();
  });

  it('Content-Encoding: gzip on plain text: 400 unreadable_body', async () => {
    const res = await postBatch(ctx.srv, JSON.stringify(makeBatch([makeEvent()])), { headers: { 'Content-Encoding': 'gzip' } });
    assertError(res, 400, 'unreadable_body');
    await assertUp();
  });

  it('after a failed decompression (100 KB of plain text sent as gzip) the kept-alive connection is closed or still in sync', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(rawRequest('POST', '/v1/batch', { headers: { 'X-Waymark-Key': SITE_KEY, 'Content-Encoding': 'gzip' }, body: Buffer.alloc(100000, 0x61) }));
    const res = await c.readResponse();
    assert.equal(res?.status, 400);
    await assertConnectionInSync(c, res);
    c.close();
    await assertUp();
  });

  it('a valid gzip batch is accepted', async () => {
    const a = anonId();
    const ev = makeEvent({ anonymous_id: a });
    const res = await postBatch(ctx.srv, zlib.gzipSync(JSON.stringify(makeBatch([ev]))), {
      headers: { 'Content-Encoding': 'gzip', 'Content-Type': 'application/json' },
    });
    assert.deepEqual(results(res, 1).map((r) => r.status), ['accepted']);
    await assertUp();
  });

  it('a chunked request body is accepted', async () => {
    const body = JSON.stringify(makeBatch([makeEvent({ anonymous_id: anonId() })]));
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(
      `POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    const res = await c.readResponse();
    c.close();
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json.accepted, 1);
    await assertUp();
  });

  it('an event over 32 KB inside a valid batch: only that one rejected (event_too_large)', async () => {
    const a = anonId();
    const props = {};
    for (let i = 0; i < 40; i++) props[`p${i}`] = 'x'.repeat(1000); // 40 KB, every string under 2 KB
    const evs = [makeEvent({ anonymous_id: a }), makeEvent({ anonymous_id: a, properties: props }), makeEvent({ anonymous_id: a })];
    const r = results(await postBatch(ctx.srv, makeBatch(evs)), 3);
    assert.deepEqual(r.map((x) => x.status), ['accepted', 'rejected', 'accepted']);
    assert.equal(r[1].reason, 'event_too_large');
    assert.equal(r[1].id, evs[1].id);
    await assertUp();
  });

  it('501 events: 413 too_many_events; 500 events: all accepted', async () => {
    const a = anonId();
    const many = Array.from({ length: 501 }, () => makeEvent({ anonymous_id: a }));
    assertError(await postBatch(ctx.srv, makeBatch(many)), 413, 'too_many_events');
    const res = await postBatch(ctx.srv, makeBatch(many.slice(0, 500)));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.accepted, 500);
    await assertUp();
  });

  it('10 000 properties: the event is rejected for its size first (event_too_large, as coded: size before shape)', async () => {
    const props = {};
    for (let i = 0; i < 10000; i++) props[`p${i}`] = i;
    const a = anonId();
    const evs = [makeEvent({ anonymous_id: a, properties: props }), makeEvent({ anonymous_id: a })];
    const r = results(await postBatch(ctx.srv, makeBatch(evs)), 2);
    assert.equal(r[0].status, 'rejected');
    assert.equal(r[0].reason, 'event_too_large');
    assert.equal(r[1].status, 'accepted');
    await assertUp();
  });

  it('65 small properties: rejected too_many_properties', async () => {
    const props = {};
    for (let i = 0; i < 65; i++) props[`p${i}`] = i;
    const r = results(await postBatch(ctx.srv, makeBatch([makeEvent({ anonymous_id: anonId(), properties: props })])), 1);
    assert.equal(r[0].status, 'rejected');
    assert.equal(r[0].reason, 'too_many_properties');
    await assertUp();
  });
});

describe('per-event validation', () => {
  it('NUL bytes in an event name ("page\\u0000viewed"): that event rejected, the others accepted', async () => {
    const a = anonId();
    const evs = [makeEvent({ anonymous_id: a }), makeEvent({ anonymous_id: a, name: 'page\u0000viewed' }), makeEvent({ anonymous_id: a })];
    const r = results(await postBatch(ctx.srv, makeBatch(evs)), 3);
    assert.deepEqual(r.map((x) => x.status), ['accepted', 'rejected', 'accepted']);
    assert.equal(r[1].reason, 'invalid_event_name');
    const p = await getProfile(ctx.srv, a);
    assert.equal(p.json.event_count, 2);
    await assertUp();
  });

  it('times in seconds: rejected invalid_time', async () => {
    const r = results(await postBatch(ctx.srv, makeBatch([makeEvent({ anonymous_id: anonId(), time: Math.floor(Date.now() / 1000) })])), 1);
    assert.equal(r[0].status, 'rejected');
    assert.equal(r[0].reason, 'invalid_time');
    await assertUp();
  });

  it('properties as an array: rejected invalid_event', async () => {
    const r = results(await postBatch(ctx.srv, makeBatch([makeEvent({ anonymous_id: anonId(), properties: ['a', 'b'] })])), 1);
    assert.equal(r[0].status, 'rejected');
    assert.equal(r[0].reason, 'invalid_event');
    assert.match(r[0].message, /^properties: /);
    await assertUp();
  });

  it('shape errors are per event: missing id, bad type, negative time, long string, deep property, bad stage', async () => {
    const a = anonId();
    const evs = [
      { ...makeEvent({ anonymous_id: a }), id: undefined },
      makeEvent({ anonymous_id: a, type: 'bogus' }),
      makeEvent({ anonymous_id: a, time: -5 }),
      makeEvent({ anonymous_id: a, properties: { s: 'x'.repeat(3000) } }),
      makeEvent({ anonymous_id: a, properties: { a: { b: { c: { d: { e: 1 } } } } } }),
      makeEvent({ anonymous_id: a, stage: 5 }),
      makeEvent({ anonymous_id: a, name: 'Hello World' }),
      makeEvent({ anonymous_id: a }),
    ];
    const r = results(await postBatch(ctx.srv, makeBatch(evs)), evs.length);
    assert.deepEqual(
      r.map((x) => x.reason ?? x.status),
      ['invalid_event', 'invalid_event', 'invalid_event', 'string_too_long', 'too_deep', 'invalid_event', 'invalid_event_name', 'accepted'],
    );
    assert.match(r[0].message, /^id: /);
    assert.match(r[1].message, /^type: /);
    assert.match(r[3].message, /^properties\.s: /);
    await assertUp();
  });

  it('duplicate ids inside one batch: the first accepted, the second duplicate', async () => {
    const a = anonId();
    const ev = makeEvent({ anonymous_id: a });
    const res = await postBatch(ctx.srv, makeBatch([ev, { ...ev }]));
    const r = results(res, 2);
    assert.deepEqual(r.map((x) => x.status), ['accepted', 'duplicate']);
    assert.equal(res.json.accepted, 1);
    assert.equal(res.json.duplicates, 1);
    assert.equal((await getProfile(ctx.srv, a)).json.event_count, 1);
    await assertUp();
  });

  it('the same id with other content in a later batch: rejected id_conflict, the stored event unchanged', async () => {
    const a = anonId();
    const ev = makeEvent({ anonymous_id: a, properties: { plan: 'pro' } });
    assert.equal(results(await postBatch(ctx.srv, makeBatch([ev])), 1)[0].status, 'accepted');
    const r = results(await postBatch(ctx.srv, makeBatch([{ ...ev, properties: { plan: 'enterprise' } }])), 1);
    assert.equal(r[0].status, 'rejected');
    assert.equal(r[0].reason, 'id_conflict');
    const { profile, tp } = await touchpoint(a, ev.id);
    assert.equal(profile.event_count, 1);
    assert.deepEqual(tp.properties, { plan: 'pro' });
    await assertUp();
  });

  it('a replayed identical batch (even with a new sent_at): all duplicate, nothing new stored', async () => {
    const a = anonId();
    const evs = [makeEvent({ anonymous_id: a, name: 'page_viewed' }), makeEvent({ anonymous_id: a, name: 'pricing_viewed', time: Date.now() + 1 })];
    const batch = makeBatch(evs);
    const first = await postBatch(ctx.srv, batch);
    assert.deepEqual(results(first, 2).map((x) => x.status), ['accepted', 'accepted']);
    const before = (await getProfile(ctx.srv, a)).json;
    assert.equal(before.event_count, 2);
    const again = await postBatch(ctx.srv, batch);
    assert.deepEqual(results(again, 2).map((x) => x.status), ['duplicate', 'duplicate']);
    assert.equal(again.json.accepted, 0);
    const retry = await postBatch(ctx.srv, { ...batch, sent_at: Date.now() + 5000 });
    assert.deepEqual(results(retry, 2).map((x) => x.status), ['duplicate', 'duplicate']);
    const afterP = (await getProfile(ctx.srv, a)).json;
    assert.equal(afterP.event_count, 2);
    assert.equal(afterP.touchpoints.length, 2);
    assert.deepEqual(afterP.transitions, before.transitions);
    await assertUp();
  });

  it('timestamps far in the future: accepted, stored time clamped to at most now + 5 min', async () => {
    const a = anonId();
    const future = Date.now() + 10 * 86400000;
    const withSent = makeEvent({ anonymous_id: a, time: future });
    const noSent = makeEvent({ anonymous_id: a, time: future + 1 });
    const r1 = results(await postBatch(ctx.srv, makeBatch([withSent])), 1); // batch sent_at = now
    const r2 = results(await postBatch(ctx.srv, { events: [noSent] }), 1); // no sent time at all
    assert.equal(r1[0].status, 'accepted');
    assert.equal(r2[0].status, 'accepted');
    const checkedAt = Date.now();
    const p = (await getProfile(ctx.srv, a)).json;
    for (const ev of [withSent, noSent]) {
      const tp = p.touchpoints.find((t) => t.id === ev.id);
      assert.ok(tp, 'stored');
      assert.ok(tp.at <= checkedAt + 5 * 60000, `corrected time ${tp.at} is clamped (now ${checkedAt})`);
      assert.ok(tp.at >= checkedAt - 60000, 'and not moved into the past');
      assert.equal(tp.device_time, ev.time, 'the device time is kept as sent');
    }
    await assertUp();
  });

  it('clock skew: time = sent_at = now + 1 h is stored with the corrected time ≈ now', async () => {
    const a = anonId();
    const ahead = Date.now() + 3600000;
    const ev = makeEvent({ anonymous_id: a, time: ahead });
    const sentBefore = Date.now();
    const r = results(await postBatch(ctx.srv, { sent_at: ahead, events: [ev] }), 1);
    const sentAfter = Date.now();
    assert.equal(r[0].status, 'accepted');
    const { tp } = await touchpoint(a, ev.id);
    assert.ok(tp.at >= sentBefore - 1000 && tp.at <= sentAfter + 1000, `corrected ${tp.at} within the request window [${sentBefore}, ${sentAfter}]`);
    assert.equal(tp.device_time, ahead);
    assert.ok(Math.abs(tp.received_at - tp.at) <= 1, 'corrected = received + (time - sent_at) = received');
    await assertUp();
  });

  it('clock skew with the event\'s own sent_at: device 1 h behind, event 10 s before sending', async () => {
    const a = anonId();
    const behind = Date.now() - 3600000;
    const ev = makeEvent({ anonymous_id: a, time: behind - 10000, sent_at: behind });
    const t0 = Date.now();
    assert.equal(results(await postBatch(ctx.srv, { sent_at: Date.now(), events: [ev] }), 1)[0].status, 'accepted');
    const { tp } = await touchpoint(a, ev.id);
    assert.ok(Math.abs(tp.at - (t0 - 10000)) < 2000, `corrected ${tp.at} ≈ received - 10 s (${t0 - 10000})`);
    await assertUp();
  });
});

describe('keys, origins and CORS', () => {
  it('missing site key: 401 missing_site_key', async () => {
    assertError(await postBatch(ctx.srv, makeBatch([makeEvent()]), { key: null }), 401, 'missing_site_key');
    await assertUp();
  });

  it('unknown site key: 401 unknown_site_key', async () => {
    assertError(await postBatch(ctx.srv, makeBatch([makeEvent()]), { key: 'NOPE' }), 401, 'unknown_site_key');
    await assertUp();
  });

  it('a disallowed Origin: 403 origin_not_allowed', async () => {
    const res = await postBatch(ctx.srv, makeBatch([makeEvent()]), { headers: { Origin: 'http://evil.example' } });
    assertError(res, 403, 'origin_not_allowed');
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    await assertUp();
  });

  it('an allowed Origin: 200 with Access-Control-Allow-Origin, Retry-After readable by the page', async () => {
    const res = await postBatch(ctx.srv, makeBatch([makeEvent({ anonymous_id: anonId() })]), { headers: { Origin: ALLOWED_ORIGIN } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
    assert.equal(res.headers['access-control-expose-headers'], 'Retry-After');
    await assertUp();
  });

  it('CORS preflight: 204 with Access-Control-Allow-Origin from an allowed origin, 403 otherwise', async () => {
    const ok = await request(ctx.srv, {
      method: 'OPTIONS',
      path: '/v1/batch',
      headers: { Origin: ALLOWED_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
    assert.match(ok.headers['access-control-allow-methods'], /POST/);
    assert.match(ok.headers['access-control-allow-headers'], /Content-Type/i);
    const bad = await request(ctx.srv, { method: 'OPTIONS', path: '/v1/batch', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assertError(bad, 403, 'origin_not_allowed');
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
    await assertUp();
  });

  it('final errors are readable cross-origin: 400/413 answers to an allowed origin carry Access-Control-Allow-Origin', async () => {
    // The docs: POST /v1/batch answers with Access-Control-Allow-Origin when the site key allows
    // the Origin. Without it a browser sees a network error instead of a final 400/413, and an SDK
    // cannot tell "split the batch" or "drop it" from "retry later".
    const headers = { Origin: ALLOWED_ORIGIN, 'Content-Type': 'application/json' };
    const cases = [
      ['invalid JSON (400)', () => postBatch(ctx.srv, '{"events": [', { headers }), 400],
      ['an empty body (400)', () => postBatch(ctx.srv, '', { headers }), 400],
      ['too deep (400)', () => postBatch(ctx.srv, `{"events":${'['.repeat(100)}${']'.repeat(100)}}`, { headers }), 400],
      [
        'over 2 MB decompressed (413)',
        () => postBatch(ctx.srv, zlib.gzipSync(Buffer.alloc(3 * 1024 * 1024, 0x20)), { headers: { ...headers, 'Content-Encoding': 'gzip', Connection: 'close' }, agent: false }),
        413,
      ],
    ];
    const missing = [];
    for (const [label, send, status] of cases) {
      const res = await send();
      assert.equal(res.status, status, `${label}: ${res.text}`);
      if (res.headers['access-control-allow-origin'] !== ALLOWED_ORIGIN) missing.push(`${label}: ${res.json?.error?.code}`);
    }
    const withOrigin = await postBatch(ctx.srv, makeBatch(Array.from({ length: 501 }, () => makeEvent())), { headers });
    assert.equal(withOrigin.status, 413);
    assert.equal(withOrigin.headers['access-control-allow-origin'], ALLOWED_ORIGIN, 'too_many_events (413) carries it');
    assert.deepEqual(missing, [], 'answers without Access-Control-Allow-Origin');
    await assertUp();
  });

  it('text/plain body with the site key in the body (what sendBeacon sends): accepted', async () => {
    const a = anonId();
    const res = await postBatch(ctx.srv, JSON.stringify({ site_key: SITE_KEY, ...makeBatch([makeEvent({ anonymous_id: a })]) }), {
      key: null,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', Origin: ALLOWED_ORIGIN },
    });
    assert.deepEqual(results(res, 1).map((x) => x.status), ['accepted']);
    assert.equal((await getProfile(ctx.srv, a)).json.event_count, 1);
    await assertUp();
  });

  it('site key in ?key=: accepted; an unknown ?key=: 401', async () => {
    const res = await postBatch(ctx.srv, makeBatch([makeEvent({ anonymous_id: anonId() })]), { key: null, query: `?key=${SITE_KEY}` });
    assert.deepEqual(results(res, 1).map((x) => x.status), ['accepted']);
    assertError(await postBatch(ctx.srv, makeBatch([makeEvent()]), { key: null, query: '?key=WRONG' }), 401, 'unknown_site_key');
    await assertUp();
  });
});

describe('admin endpoints', () => {
  it('injection-like profile ids: 404 not_found with the admin key', async () => {
    const a = anonId();
    await postBatch(ctx.srv, makeBatch([makeEvent({ anonymous_id: a })]));
    for (const id of ["x' OR '1'='1", "' OR 1=1 --", '../../etc/passwd', '%00', 'a:%', '*']) {
      const res = await request(ctx.srv, { path: `/v1/profiles/${encodeURIComponent(id)}`, headers: adminHeaders() });
      assertError(res, 404, 'not_found');
    }
    // The literal traversal, unencoded, over a raw socket.
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(rawRequest('GET', '/v1/profiles/../../etc/passwd', { headers: { Authorization: `Bearer ${ADMIN}` } }));
    const raw = await c.readResponse();
    c.close();
    assert.equal(raw.status, 404);
    assert.equal(raw.json?.error?.code, 'not_found');
    assert.equal((await getProfile(ctx.srv, a)).status, 200, 'real profiles are still served');
    await assertUp();
  });

  it('no admin key on /v1/profiles and /v1/stats: 401 unauthorized', async () => {
    for (const p of ['/v1/profiles/someone', '/v1/stats/overview', '/v1/stats/funnel', '/v1/map/versions']) {
      const res = await get(ctx.srv, p);
      assertError(res, 401, 'unauthorized');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
    }
    await assertUp();
  });

  it('a wrong admin key (or a site key, or no Bearer prefix): 401', async () => {
    for (const auth of ['Bearer ADMINX', 'Bearer ADMI', `Bearer ${SITE_KEY}`, ADMIN, 'Bearer ', `Basic ${ADMIN}`]) {
      for (const p of ['/v1/profiles/someone', '/v1/stats/overview']) {
        assertError(await get(ctx.srv, p, { Authorization: auth }), 401, 'unauthorized');
      }
    }
    await assertUp();
  });
});

describe('slow clients', () => {
  it('a client sending its headers one byte every 200 ms does not slow other requests', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    const bytes = rawRequest('GET', '/healthz', { headers: { 'X-Slow': 'yes' } });
    const trickled = 16; // 16 bytes at 200 ms: 3.2 s, under the 5 s read timeout per read
    let trickling = true;
    const trickle = (async () => {
      for (let i = 0; i < trickled; i++) {
        await c.write(bytes.subarray(i, i + 1));
        await sleep(200);
      }
      trickling = false;
    })();
    const latencies = [];
    while (trickling) {
      const h = await get(ctx.srv, '/healthz');
      assert.equal(h.status, 200);
      const b = await postBatch(ctx.srv, makeBatch([makeEvent({ anonymous_id: anonId() })]));
      assert.equal(b.status, 200);
      latencies.push(h.ms, b.ms);
      await sleep(50);
    }
    await trickle;
    await c.write(bytes.subarray(trickled));
    const res = await c.readResponse(5000);
    c.close();
    assert.equal(res?.status, 200, 'the slow request itself is answered once complete');
    assert.ok(latencies.length >= 20, `${latencies.length} requests were served meanwhile`);
    const worst = Math.max(...latencies);
    assert.ok(worst < 2000, `the slowest concurrent request took ${worst} ms`);
    await assertUp();
  });

  it('a body that stalls past the 5 s read timeout: 408 timeout (retryable) or a closed connection, never a final 400', async () => {
    const c = await RawConnection.open(ctx.srv.port);
    await c.write(`POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Waymark-Key: ${SITE_KEY}\r\nContent-Length: 100\r\n\r\n{"events":`);
    const started = Date.now();
    const res = await c.readResponse(15000);
    c.close();
    assert.ok(Date.now() - started >= 4000, 'the server waited for the body');
    assert.ok(
      res === null || res.status === 408,
      `a stalled body must be answered 408 (the client retries) or cut off, not ${res?.status} ${res?.body} (final: the client drops the batch)`,
    );
    await assertUp();
  });
});
