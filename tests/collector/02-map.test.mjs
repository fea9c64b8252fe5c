// The journey map as a versioned document: GET with ETag, PUT validated by the core (the same
// path-precise messages as the shared vectors), version conflicts, the version list, persistence.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';

import {
  ROOT,
  adminGet,
  adminHeaders,
  anonId,
  get,
  getProfile,
  makeBatch,
  makeEvent,
  postBatch,
  request,
  startCollector,
  stopCollector,
  useCollector,
} from './helpers.mjs';

const VECTORS = path.join(ROOT, 'tests', 'vectors');
const DEFAULT_MAP = fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8');

const putMap = (srv, body, headers = adminHeaders()) =>
  request(srv, { method: 'PUT', path: '/v1/map', headers: { 'Content-Type': 'application/json', ...headers }, body });

/** The default map with another version and a one-page-view engage rule (to see it is in use). */
function mapV(version) {
  const m = JSON.parse(DEFAULT_MAP);
  m.version = version;
  m.name = `SaaS journey v${version}`;
  const engage = m.transitions.find((t) => t.id === 'engage');
  engage.when = { event: 'page_viewed' };
  return JSON.stringify(m, null, 1);
}

let etag1;
const early = { anon: anonId('early'), first: null }; // a visitor seen under version 1

const ctx = useCollector();

describe('GET /v1/map', () => {
  it('serves the built-in default map with an ETag, public, and 304 for If-None-Match', async () => {
    const res = await get(ctx.srv, '/v1/map');
    assert.equal(res.status, 200);
    assert.equal(res.json.id, 'default');
    assert.equal(res.json.version, 1);
    etag1 = res.headers.etag;
    assert.match(etag1, /^"v1-[0-9a-f]{8}"$/);
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['content-encoding'], undefined, 'no Accept-Encoding: the JSON as is');
    // Compressed for a client that takes gzip (browsers do): the same document, about a quarter.
    const gz = await get(ctx.srv, '/v1/map', { 'Accept-Encoding': 'br, gzip' });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(gz.headers.vary, /Accept-Encoding/);
    assert.equal(gz.headers.etag, etag1);
    assert.equal(zlib.gunzipSync(gz.bytes).toString('utf8'), res.text);
    assert.ok(gz.bytes.length < res.text.length / 2, `${gz.bytes.length} of ${res.text.length} bytes`);
    const refused = await get(ctx.srv, '/v1/map', { 'Accept-Encoding': 'gzip;q=0' });
    assert.equal(refused.headers['content-encoding'], undefined, 'q=0 means no');
    const again = await get(ctx.srv, '/v1/map', { 'If-None-Match': etag1 });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    const other = await get(ctx.srv, '/v1/map', { 'If-None-Match': '"v0-00000000"' });
    assert.equal(other.status, 200);
    assert.equal(other.headers['access-control-expose-headers'], 'ETag');
    // Browsers preflight a GET with If-None-Match: any origin may revalidate the public map.
    const preflight = await request(ctx.srv, { method: 'OPTIONS', path: '/v1/map',
      headers: { Origin: 'https://any.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'if-none-match' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
    assert.match(preflight.headers['access-control-allow-headers'], /If-None-Match/);
    // A visitor under version 1: one page view leaves them in awareness.
    early.first = makeEvent({ anonymous_id: early.anon, name: 'page_viewed', time: Date.now() - 60000 });
    assert.equal((await postBatch(ctx.srv, makeBatch([early.first]))).json.accepted, 1);
    const p = (await getProfile(ctx.srv, early.anon)).json;
    assert.equal(p.stage, 'awareness');
    assert.equal(p.map_version, 1);
  });
});

const COMPILED = 'application/vnd.waymark.map';

/** FNV-1a 64 of bytes, as the core checksums a compiled map's payload. */
function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h;
}

/** Checks the frame of a compiled map (magic, version 1, payload checksum) and returns the payload. */
function compiledPayload(bytes) {
  assert.equal(bytes.subarray(0, 4).toString('latin1'), 'WMAP');
  assert.equal(bytes[4], 1, 'format version');
  const payload = bytes.subarray(13);
  assert.equal(bytes.readBigUInt64LE(5), fnv1a64(payload), 'checksum of the payload');
  return payload;
}

describe('GET /v1/map, compiled', () => {
  it('Accept: application/vnd.waymark.map gets the compiled form: its own ETag and 304, gzip, smaller than the JSON', async () => {
    const json = await get(ctx.srv, '/v1/map');
    const res = await get(ctx.srv, '/v1/map', { Accept: COMPILED });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], COMPILED);
    assert.equal(res.headers.etag, json.headers.etag.replace(/"$/, '-c"'));
    assert.match(res.headers.vary, /Accept\b/);
    const payload = compiledPayload(res.bytes);
    assert.ok(payload.includes(Buffer.from('SaaS journey')), 'the map name is in the payload');
    assert.ok(res.bytes.length < JSON.stringify(json.json).length, `${res.bytes.length} bytes vs ${JSON.stringify(json.json).length} of minified JSON`);
    const gz = await get(ctx.srv, '/v1/map', { Accept: COMPILED, 'Accept-Encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(zlib.gunzipSync(gz.bytes), res.bytes);
    assert.equal((await get(ctx.srv, '/v1/map', { Accept: COMPILED, 'If-None-Match': res.headers.etag })).status, 304);
    // A format version this collector writes is served compiled; another one gets the JSON.
    assert.equal((await get(ctx.srv, '/v1/map', { Accept: `${COMPILED}; v=1` })).headers['content-type'], COMPILED);
    const other = await get(ctx.srv, '/v1/map', { Accept: `${COMPILED}; v=9, application/json;q=0.5` });
    assert.equal(other.headers['content-type'], 'application/json');
    assert.equal(other.headers.etag, json.headers.etag);
    // The ETags of the two forms never answer for each other.
    assert.equal((await get(ctx.srv, '/v1/map', { Accept: COMPILED, 'If-None-Match': json.headers.etag })).status, 200);
    assert.equal((await get(ctx.srv, '/v1/map', { 'If-None-Match': res.headers.etag })).status, 200);
  });
});

describe('PUT /v1/map', () => {
  it('needs the admin key: 401', async () => {
    const res = await putMap(ctx.srv, mapV(2), {});
    assert.equal(res.status, 401);
    assert.equal(res.json.error.code, 'unauthorized');
    const wrong = await putMap(ctx.srv, mapV(2), adminHeaders('nope'));
    assert.equal(wrong.status, 401);
  });

  it('an invalid map: 400 with the core\'s path-precise message (transitions[0].when.count.within: expected a duration)', async () => {
    const v = JSON.parse(fs.readFileSync(path.join(VECTORS, 'map_error_duration.json'), 'utf8'));
    const res = await putMap(ctx.srv, JSON.stringify(v.map));
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.code, 'invalid_map');
    assert.equal(res.json.error.message, 'transitions[0].when.count.within: expected a duration');
  });

  const errorVectors = fs
    .readdirSync(VECTORS)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f, JSON.parse(fs.readFileSync(path.join(VECTORS, f), 'utf8'))])
    .filter(([, v]) => typeof v.map_error === 'string' && v.map && typeof v.map === 'object');

  it(`every map_error vector (${errorVectors.length}) is refused with exactly the vector's message, and nothing changes`, async () => {
    assert.ok(errorVectors.length > 0);
    for (const [file, v] of errorVectors) {
      const res = await putMap(ctx.srv, JSON.stringify(v.map));
      assert.equal(res.status, 400, `${file}: ${res.text}`);
      assert.equal(res.json.error.message, v.map_error, file);
    }
    const cur = await get(ctx.srv, '/v1/map');
    assert.equal(cur.headers.etag, etag1, 'the current map is unchanged');
  });

  it('a body that is not JSON or not an object: 400', async () => {
    for (const body of ['', '{', '[]', '"map"']) {
      const res = await putMap(ctx.srv, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.ok(res.json?.error?.code, res.text);
    }
  });

  let etag2;
  const v2 = mapV(2);

  it('a valid map with a higher version: 200, GET returns it with a new ETag; If-None-Match gives 304', async () => {
    const res = await putMap(ctx.srv, v2);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.version, 2);
    assert.equal(res.json.map_id, 'default');
    etag2 = res.json.etag;
    assert.equal(res.headers.etag, etag2);
    assert.notEqual(etag2, etag1);
    const cur = await get(ctx.srv, '/v1/map');
    assert.equal(cur.status, 200);
    assert.equal(cur.headers.etag, etag2);
    assert.equal(cur.text, v2, 'the stored document is served byte for byte');
    assert.equal((await get(ctx.srv, '/v1/map', { 'If-None-Match': etag2 })).status, 304);
    assert.equal((await get(ctx.srv, '/v1/map', { 'If-None-Match': etag1 })).status, 200, 'the old ETag no longer matches');
    // The compiled form follows the new version.
    const compiled = await get(ctx.srv, '/v1/map', { Accept: COMPILED });
    assert.equal(compiled.headers.etag, etag2.replace(/"$/, '-c"'));
    assert.ok(compiledPayload(compiled.bytes).includes(Buffer.from('SaaS journey v2')));
  });

  it('a version not greater than the current one: 409 version_conflict', async () => {
    for (const v of [2, 1]) {
      const res = await putMap(ctx.srv, mapV(v));
      assert.equal(res.status, 409, res.text);
      assert.equal(res.json.error.code, 'version_conflict');
    }
    assert.equal((await get(ctx.srv, '/v1/map')).headers.etag, etag2);
  });

  it('GET /v1/map/versions lists both; /versions/{n} serves each document; unknown n: 404', async () => {
    const res = await adminGet(ctx.srv, '/v1/map/versions');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.versions.map((x) => x.version), [2, 1]);
    assert.deepEqual(res.json.versions.map((x) => x.etag), [etag2, etag1]);
    for (const x of res.json.versions) {
      assert.equal(x.map_id, 'default');
      assert.ok(x.created_at > Date.now() - 600000 && x.created_at <= Date.now() + 1000);
    }
    const one = await adminGet(ctx.srv, '/v1/map/versions/1');
    assert.equal(one.status, 200);
    assert.equal(JSON.parse(one.text).version, 1);
    const two = await adminGet(ctx.srv, '/v1/map/versions/2');
    assert.equal(two.text, v2);
    const none = await adminGet(ctx.srv, '/v1/map/versions/99');
    assert.equal(none.status, 404);
    assert.equal(none.json.error.code, 'not_found');
    assert.equal((await get(ctx.srv, '/v1/map/versions/1')).status, 401);
  });

  it('new events are computed under the new map (one page view engages under v2)', async () => {
    const a = anonId();
    const res = await postBatch(ctx.srv, makeBatch([makeEvent({ anonymous_id: a, name: 'page_viewed' })]));
    assert.equal(res.json.accepted, 1, res.text);
    const p = (await getProfile(ctx.srv, a)).json;
    assert.equal(p.stage, 'engaged');
    assert.equal(p.map_version, 2);
    assert.deepEqual(p.transitions.map((t) => [t.from, t.to, t.rule]), [['awareness', 'engaged', 'engage']]);
  });

  it('a profile computed under version 1 is recomputed under version 2 when its next event arrives', async () => {
    const next = makeEvent({ anonymous_id: early.anon, name: 'page_viewed', time: early.first.time + 10000 });
    assert.equal((await postBatch(ctx.srv, makeBatch([next]))).json.accepted, 1);
    const p = (await getProfile(ctx.srv, early.anon)).json;
    assert.equal(p.map_version, 2);
    assert.equal(p.stage, 'engaged');
    assert.deepEqual(p.transitions.map((t) => [t.from, t.to, t.rule, t.event_id]), [
      ['awareness', 'engaged', 'engage', early.first.id],
    ], 'the whole history was replayed: the first page view engages under v2');
  });

  it('the published map survives a restart (same version and ETag)', async () => {
    const dir = ctx.srv.dir;
    const { code } = await stopCollector(ctx.srv);
    assert.equal(code, 0);
    ctx.srv = await startCollector({ dir });
    const cur = await get(ctx.srv, '/v1/map');
    assert.equal(cur.status, 200);
    assert.equal(cur.headers.etag, etag2);
    assert.equal(cur.text, v2);
    const versions = await adminGet(ctx.srv, '/v1/map/versions');
    assert.deepEqual(versions.json.versions.map((x) => x.version), [2, 1]);
  });
});
