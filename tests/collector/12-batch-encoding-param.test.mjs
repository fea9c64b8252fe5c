// POST /v1/batch?encoding=gzip (issue 12 point 7): the body's coding named in the URL, because a
// browser's fetch cannot set Content-Encoding without a CORS preflight. The parameter is read
// exactly like the header (same codings, same decompressed-size cap, same 400 for corrupt data,
// 415 for an unknown coding); with both, they must agree and the body is decoded once.
// Real binary, real loopback HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';

import {
  ALLOWED_ORIGIN,
  SITE_KEY,
  anonId,
  get,
  getProfile,
  makeBatch,
  makeEvent,
  memoryKb,
  postBatch,
  request,
  storedEventCount,
  useCollector,
} from './helpers.mjs';

const ctx = useCollector();

function assertError(res, status, code, message) {
  assert.equal(res.status, status, `status (body: ${res.text})`);
  assert.equal(res.json?.error?.code, code, `error code (body: ${res.text})`);
  if (message) assert.match(res.json.error.message, message);
}

async function assertUp() {
  const res = await request(ctx.srv, { path: '/healthz', agent: false });
  assert.equal(res.status, 200, 'the collector still answers /healthz');
}

/** A one-event batch as the SDK sends it from a page: key in the body, text/plain, the page's Origin. */
function pageBatch() {
  const anon = anonId();
  const ev = makeEvent({ anonymous_id: anon, name: 'feature_used', properties: { feature: 'journeys' } });
  return { anon, ev, text: JSON.stringify(makeBatch([ev], { site_key: SITE_KEY })) };
}

/**
 * POST /v1/batch<query> the way the SDK's simple request does: no key header, text/plain, the
 * page's Origin; the key in the body and, for compressed batches, in the URL (`&key=`), so the
 * answer to a body that cannot be decoded carries CORS headers.
 */
const fromPage = (body, query, headers = {}) =>
  postBatch(ctx.srv, body, { key: null, query: query && `${query}&key=${SITE_KEY}`, headers: { 'Content-Type': 'text/plain', Origin: ALLOWED_ORIGIN, ...headers } });

describe('POST /v1/batch?encoding=', () => {
  it('gzip: accepted and stored, with the CORS headers a page needs to read the answer', async () => {
    const { anon, ev, text } = pageBatch();
    const before = await storedEventCount(ctx.srv);
    const res = await fromPage(zlib.gzipSync(text), '?encoding=gzip');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.results.map((r) => [r.id, r.status]), [[ev.id, 'accepted']]);
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
    assert.equal(await storedEventCount(ctx.srv), before + 1);
    const profile = await getProfile(ctx.srv, anon);
    assert.equal(profile.status, 200);
    assert.equal(profile.json.event_count, 1);
  });

  it('the value is read like the header: case and spaces ignored, x-gzip, deflate and br too; identity or empty read as sent', async () => {
    const cases = [
      ['?encoding=GZIP', zlib.gzipSync],
      ['?encoding=x-gzip', zlib.gzipSync],
      ['?encoding=%20gzip%20', zlib.gzipSync],
      ['?encoding=deflate', zlib.deflateSync],
      ['?encoding=br', zlib.brotliCompressSync],
      ['?encoding=identity', (t) => t],
      ['?encoding=', (t) => t],
      [`?key=${SITE_KEY}&encoding=gzip`, zlib.gzipSync], // before the key parameter too
    ];
    for (const [query, encode] of cases) {
      const { ev, text } = pageBatch();
      const res = await fromPage(encode(text), query);
      assert.equal(res.status, 200, `${query}: ${res.text}`);
      assert.deepEqual(res.json.results.map((r) => r.status), ['accepted'], query);
      assert.equal(res.json.results[0].id, ev.id);
    }
  });

  it('corrupt or truncated data: 400 unreadable_body, readable by the page, nothing stored', async () => {
    const { text } = pageBatch();
    const before = await storedEventCount(ctx.srv);
    const plain = await fromPage(text, '?encoding=gzip');
    assertError(plain, 400, 'unreadable_body', /not valid gzip data/);
    assert.equal(plain.headers['access-control-allow-origin'], ALLOWED_ORIGIN, 'a page can read why');
    const gz = zlib.gzipSync(text);
    assertError(await fromPage(gz.subarray(0, gz.length - 12), '?encoding=gzip'), 400, 'unreadable_body');
    assertError(await fromPage(Buffer.concat([gz, Buffer.from('trailing')]), '?encoding=gzip'), 400, 'unreadable_body');
    assert.equal(await storedEventCount(ctx.srv), before);
    await assertUp();
  });

  it('an unknown value: 415 unsupported_encoding naming the query parameter, as for an unknown Content-Encoding', async () => {
    const { text } = pageBatch();
    const res = await fromPage(text, '?encoding=zstd');
    assertError(res, 415, 'unsupported_encoding', /^encoding=zstd \(query parameter\) is not supported; send gzip, deflate, br or no encoding$/);
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
    assertError(await fromPage(text, '?encoding=gzip,br'), 415, 'unsupported_encoding');
    const header = await fromPage(text, '', { 'Content-Encoding': 'zstd' });
    assertError(header, 415, 'unsupported_encoding', /^Content-Encoding: zstd is not supported/);
  });

  it('a gzip bomb over the decompressed cap: 413 payload_too_large, decoding stops there', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
    assert.ok(bomb.length < 512 * 1024, 'under the cap on the wire');
    const res = await fromPage(bomb, '?encoding=gzip', { Connection: 'close' });
    assertError(res, 413, 'payload_too_large', /after decompression/);
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
    await assertUp();
    const mem = memoryKb(ctx.srv.pid);
    assert.ok(mem.peak < 100 * 1024, `peak RSS ${mem.peak} kB stays far below the 50 MB the bomb expands to`);
  });
});

describe('Content-Encoding and ?encoding= together: decoded once', () => {
  it('the same coding in both: decoded once (a body gzipped twice is not unwrapped twice)', async () => {
    const once = pageBatch();
    const res = await fromPage(zlib.gzipSync(once.text), '?encoding=gzip', { 'Content-Encoding': 'gzip' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.accepted, 1);
    const xgzip = pageBatch();
    const alias = await fromPage(zlib.gzipSync(xgzip.text), '?encoding=gzip', { 'Content-Encoding': 'x-gzip' });
    assert.equal(alias.status, 200, 'x-gzip and gzip are one coding');
    const twice = pageBatch();
    const double = await fromPage(zlib.gzipSync(zlib.gzipSync(twice.text)), '?encoding=gzip', { 'Content-Encoding': 'gzip' });
    assertError(double, 400, 'invalid_json');
    assert.equal((await getProfile(ctx.srv, twice.anon)).status, 404, 'nothing stored');
  });

  it('different codings: 415 unsupported_encoding (one body, one coding)', async () => {
    const { anon, text } = pageBatch();
    const res = await fromPage(zlib.brotliCompressSync(text), '?encoding=gzip', { 'Content-Encoding': 'br' });
    assertError(res, 415, 'unsupported_encoding', /^Content-Encoding: br and encoding=gzip disagree/);
    assert.equal((await getProfile(ctx.srv, anon)).status, 404);
  });

  it('identity on one side counts as absent: the other side decides', async () => {
    const a = pageBatch();
    const headerIdentity = await fromPage(zlib.gzipSync(a.text), '?encoding=gzip', { 'Content-Encoding': 'identity' });
    assert.equal(headerIdentity.status, 200, headerIdentity.text);
    const b = pageBatch();
    const paramIdentity = await fromPage(zlib.gzipSync(b.text), '?encoding=identity', { 'Content-Encoding': 'gzip' });
    assert.equal(paramIdentity.status, 200, paramIdentity.text);
  });

  it('the parameter is read on POST /v1/batch only: other routes ignore it', async () => {
    const map = await get(ctx.srv, '/v1/map?encoding=zstd');
    assert.equal(map.status, 200, map.text);
    const health = await get(ctx.srv, '/healthz?encoding=gzip');
    assert.equal(health.status, 200, health.text);
  });
});
