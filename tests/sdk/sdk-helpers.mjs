// Helpers for the SDK's storage and transport tests: a fake localStorage, collector envelopes, and
// a loopback HTTP proxy in front of the real collector that can answer for it (503, 429, 400...).
// The collector itself comes from tests/collector/helpers.mjs.
import crypto from 'node:crypto';
import http from 'node:http';
import zlib from 'node:zlib';
import { getProfile } from '../collector/helpers.mjs';

export {
  ADMIN,
  SITE_KEY,
  freePort,
  getProfile,
  adminGet,
  sleep,
  startCollector,
  stopCollector,
  storedEventCount,
  useCollector,
  waitFor,
} from '../collector/helpers.mjs';

/**
 * A Map-backed Storage (getItem/setItem/removeItem/key/length/clear). `failWith` makes setItem
 * throw: 'quota' (QuotaExceededError) or 'security' (SecurityError, as in some private modes);
 * `quotaBytes` makes it throw QuotaExceededError once the stored UTF-16 length would exceed it.
 */
export class FakeLocalStorage {
  constructor({ quotaBytes = Infinity } = {}) {
    this.map = new Map();
    this.quotaBytes = quotaBytes;
    this.failWith = null;
    this.setCalls = 0;
  }

  get length() {
    return this.map.size;
  }

  key(i) {
    return [...this.map.keys()][i] ?? null;
  }

  getItem(k) {
    return this.map.has(String(k)) ? this.map.get(String(k)) : null;
  }

  setItem(k, v) {
    this.setCalls++;
    if (this.failWith === 'security') throw new DOMException('The operation is insecure.', 'SecurityError');
    const used = [...this.map].reduce((n, [a, b]) => (a === String(k) ? n : n + a.length + b.length), 0);
    if (this.failWith === 'quota' || used + String(k).length + String(v).length > this.quotaBytes) {
      throw new DOMException("Failed to execute 'setItem' on 'Storage': exceeded the quota.", 'QuotaExceededError');
    }
    this.map.set(String(k), String(v));
  }

  removeItem(k) {
    this.map.delete(String(k));
  }

  clear() {
    this.map.clear();
  }

  keysWith(prefix) {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix));
  }

  /** Ids of the queued events stored under `prefix` (rows are chunks of events; see storage.js). */
  storedEventIds(prefix) {
    return this.keysWith(prefix).flatMap((k) => {
      const row = JSON.parse(this.map.get(k));
      return Array.isArray(row.items) ? row.items.map((r) => r.id) : [row.id];
    });
  }
}

const RUN = crypto.randomBytes(3).toString('hex');
let counter = 0;

/** A random anonymous id (never a placeholder). */
export function anonymousId() {
  return `anon-${RUN}-${crypto.randomBytes(5).toString('hex')}`;
}

/** A valid collector envelope. */
export function envelope(anonymous_id, { name = 'page_viewed', properties = {}, ...extra } = {}) {
  counter++;
  return {
    id: `ev-${RUN}-${counter}-${crypto.randomBytes(6).toString('hex')}`,
    seq: counter,
    anonymous_id,
    name,
    type: 'track',
    time: Date.now(),
    properties,
    ...extra,
  };
}

/** Queue items ({id, body, priority}) for `n` envelopes of one visitor. */
export function items(n, { anon = anonymousId(), priority = 1, name } = {}) {
  return Array.from({ length: n }, (_, i) => {
    const body = envelope(anon, { name: name || (i % 2 ? 'pricing_viewed' : 'page_viewed') });
    return { id: body.id, body, priority };
  });
}

/** Sums the statuses of transport onResults calls. */
export function resultCounter() {
  const counts = { accepted: 0, duplicate: 0, rejected: 0, calls: 0 };
  const onResults = (results) => {
    counts.calls++;
    for (const r of results) counts[r.status] = (counts[r.status] || 0) + 1;
  };
  return { counts, onResults };
}

/**
 * A loopback HTTP server in front of the collector at `target` (a server from startCollector).
 * `decide({ n, body, json, req })` is called for every request (n counts from 1): return null to
 * forward the request to the collector unchanged, or { status, headers, body } to answer instead.
 * Every request is recorded in `requests` ({ n, at, bytes, events, encoding, answeredBy, status }):
 * `bytes` as sent on the wire, `json` the batch read from the body (gunzipped when the URL says
 * `encoding=gzip`, as the SDK's compressed batches do).
 */
export async function startProxy(target, decide = () => null) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const encoding = new URL(req.url, 'http://x').searchParams.get('encoding');
      let json;
      try {
        json = JSON.parse((encoding === 'gzip' ? zlib.gunzipSync(raw) : raw).toString('utf8'));
      } catch {
        json = undefined;
      }
      const record = { n: requests.length + 1, at: Date.now(), url: req.url, encoding, bytes: raw.length, events: json && Array.isArray(json.events) ? json.events.length : 0, headers: req.headers, json };
      requests.push(record);
      let answer;
      try {
        answer = await decide({ n: record.n, body: raw, json, req });
      } catch (err) {
        answer = { status: 599, body: String(err) };
      }
      if (answer) {
        record.answeredBy = 'proxy';
        record.status = answer.status;
        const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
        res.writeHead(answer.status, { 'Content-Type': 'application/json', ...(answer.headers || {}) });
        res.end(body);
        return;
      }
      record.answeredBy = 'collector';
      const headers = { ...req.headers, host: `127.0.0.1:${target.port}`, 'content-length': raw.length };
      const up = http.request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers, agent: false }, (upRes) => {
        record.status = upRes.statusCode;
        res.writeHead(upRes.statusCode, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', (err) => {
        record.status = 502;
        res.writeHead(502);
        res.end(String(err));
      });
      up.end(raw);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The error body the collector sends. */
export const errorBody = (code, message) => ({ error: { code, message } });

/** Profile event counts and touchpoint ids for one anonymous id (admin API). */
export async function profileIds(srv, anon) {
  const r = await getProfile(srv, anon);
  if (r.status !== 200) return { status: r.status, count: 0, ids: [] };
  return { status: 200, count: r.json.event_count, ids: r.json.touchpoints.map((t) => t.id) };
}

/**
 * Closes the keep-alive connections of Node's global fetch (undici). The collector drains open
 * connections on SIGTERM, so an idle one left by fetch delays its clean stop by seconds. Call it
 * once, after the file's last fetch: fetch cannot be used afterwards.
 */
export async function closeFetchConnections() {
  const dispatcher = globalThis[Symbol.for('undici.globalDispatcher.1')];
  if (dispatcher && typeof dispatcher.close === 'function') await dispatcher.close();
}
