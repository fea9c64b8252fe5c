// Helpers for the collector's end-to-end tests: the real waymark-collector binary, real HTTP on
// loopback, a temporary SQLite database per server. No npm dependencies.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { freePort } from './ports.mjs';

export { freePort };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.WAYMARK_COLLECTOR
  ? path.resolve(process.env.WAYMARK_COLLECTOR)
  : path.join(ROOT, 'build', 'native', 'bin', 'waymark-collector');

// The storage backend the collectors of this run use: SQLite files (the default) or, with
// WAYMARK_TEST_BACKEND=postgres, databases on one throwaway PostgreSQL server per test process
// (tests/collector/postgres.mjs), one database per collector folder so that a restart on the same
// folder finds the same data.
export const BACKEND = process.env.WAYMARK_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
let sharedPostgres = null;
const postgresDatabases = new Map(); // folder -> url

/** The throwaway PostgreSQL server of this process (started on first use). */
export async function testPostgres() {
  if (!sharedPostgres) {
    const { startPostgres } = await import('./postgres.mjs');
    // Stopped (and its folder removed) when this process exits: postgres.mjs's exit handler. An
    // after() hook would belong to whichever suite first asked, and stop the server under the next.
    sharedPostgres = startPostgres();
  }
  return sharedPostgres;
}

/** The database location for a collector folder: its SQLite file, or its PostgreSQL database. */
export async function databaseFor(dir) {
  if (BACKEND === 'sqlite') return path.join(dir, 'waymark.db');
  if (postgresDatabases.has(dir)) return postgresDatabases.get(dir);
  const pg = await testPostgres();
  const { psql } = await import('./postgres.mjs');
  const name = `w_${crypto.createHash('sha256').update(dir).digest('hex').slice(0, 16)}`;
  // Bytewise text order, as SQLite's (docs/deploy.md asks the same of a production database).
  await psql(pg, `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
  const url = pg.url.replace(/\/[^/]*$/, `/${name}`);
  postgresDatabases.set(dir, url);
  return url;
}

/** The reason a test of the SQLite file itself does not run on another backend, else false. */
export const sqliteOnly = (what) => (BACKEND === 'sqlite' ? false : `${what}: a test of the SQLite file itself`);

export const ADMIN = 'ADMIN';
export const SITE_KEY = 'KEY';
export const ALLOWED_ORIGIN = 'http://allowed.example';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : last !== undefined ? `: last ${JSON.stringify(last)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}


const tempDirs = [];
const children = [];

// At exit: no collector outlives its test file, and the temporary databases are removed (kept
// with WAYMARK_KEEP_TEST_DIRS=1, for a look at a failed run).
process.on('exit', () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  if (process.env.WAYMARK_KEEP_TEST_DIRS) return;
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export function makeTempDir(tag = 'collector') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `waymark-${tag}-`));
  tempDirs.push(dir);
  return dir;
}

/**
 * Starts the collector. Options: dir (reuse a database folder: restart on the same DB), port (0),
 * siteKeys (flag values), serverSide (keys usable without Origin; default: the default key),
 * webhooks (flag values "ID,URL,SECRET[,TRIGGER...]"), rateLimit, clientRateLimit (null: the default),
 * extraArgs, quiet (true), waitReady (true: wait for a first /healthz answer). Resolves to a server handle once the "listening" line was printed.
 */
export async function startCollector(options = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`collector binary missing: ${BIN} (build it first)`);
  const dir = options.dir ?? makeTempDir();
  const db = await databaseFor(dir);
  const args = ['--port', String(options.port ?? 0), '--db', db, '--admin-key', ADMIN];
  for (const k of options.siteKeys ?? [`${SITE_KEY}=${ALLOWED_ORIGIN}`]) args.push('--site-key', k);
  // The tests post from Node, a server that sends no Origin: the default key is marked for it.
  for (const k of options.serverSide ?? (options.siteKeys ? [] : [SITE_KEY])) args.push('--server-side', k);
  for (const w of options.webhooks ?? []) args.push('--webhook', w);
  if (options.rateLimit !== null) args.push('--rate-limit', String(options.rateLimit ?? 100000));
  if (options.clientRateLimit !== null) args.push('--client-rate-limit', String(options.clientRateLimit ?? 100000));
  if (options.quiet ?? true) args.push('--quiet');
  args.push(...(options.extraArgs ?? []));

  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  const srv = {
    proc,
    pid: proc.pid,
    dir,
    db,
    args,
    url: null,
    port: 0,
    stdout: '',
    stderr: '',
    exited: false,
    exitCode: null,
    exitSignal: null,
    agent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  };
  srv.exitPromise = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      srv.exited = true;
      srv.exitCode = code;
      srv.exitSignal = signal;
      resolve({ code, signal });
    });
  });
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    srv.stderr += d;
  });
  const listening = new Promise((resolve, reject) => {
    let pending = '';
    proc.stdout.on('data', (d) => {
      srv.stdout += d;
      pending += d;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const j = JSON.parse(line);
          if (j.msg === 'listening' && typeof j.url === 'string') resolve(j.url);
        } catch {
          // not a JSON line
        }
      }
    });
    proc.on('exit', (code, signal) =>
      reject(new Error(`collector exited before listening (code ${code}, signal ${signal}): ${srv.stderr}`)),
    );
    proc.on('error', reject);
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('collector did not print its listening line within 10 s')), 10000);
  });
  try {
    srv.url = await Promise.race([listening, timeout]);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  srv.port = Number(new URL(srv.url).port);
  srv.host = new URL(srv.url).hostname;
  // One answered request proves the accept loop runs. (A SIGTERM that arrives between the
  // "listening" line and that point is lost by the collector: see 08-sigterm's startup test.)
  if (options.waitReady ?? true) {
    await waitFor(async () => (await request(srv, { path: '/healthz', agent: false })).status === 200, {
      timeoutMs: 10000,
      what: 'the first /healthz answer',
    });
  }
  return srv;
}

/** SIGTERM, then wait for the exit; resolves to { code, signal }. */
/**
 * Starts one collector for a test file (before) and stops it cleanly (after), asserting a clean
 * exit. Returns a holder: `ctx.srv` is the running server (a test may replace it, e.g. after a
 * restart; the one in place at the end is stopped).
 */
export function useCollector(options = {}) {
  const ctx = { srv: null };
  before(async () => {
    ctx.srv = await startCollector(options);
  });
  after(async () => {
    if (!ctx.srv) return;
    const { code, signal } = await stopCollector(ctx.srv);
    assert.equal(signal, null, `collector died by ${signal}; stderr: ${ctx.srv.stderr}`);
    assert.equal(code, 0, `collector exit code; stderr: ${ctx.srv.stderr}`);
  });
  return ctx;
}

export async function stopCollector(srv, { timeoutMs = 15000 } = {}) {
  srv.agent.destroy();
  if (srv.exited) return { code: srv.exitCode, signal: srv.exitSignal };
  srv.proc.kill('SIGTERM');
  let timer;
  const res = await Promise.race([
    srv.exitPromise,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (res === null) {
    srv.proc.kill('SIGKILL');
    await srv.exitPromise;
    throw new Error(`collector did not stop within ${timeoutMs} ms of SIGTERM`);
  }
  return res;
}

/** kill -9, then wait for the exit. */
export async function killCollector(srv) {
  srv.agent.destroy();
  if (!srv.exited) srv.proc.kill('SIGKILL');
  return srv.exitPromise;
}

/** Peak and current resident memory of a process, in kB (Linux /proc). */
export function memoryKb(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const pick = (k) => Number((text.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1] || 0);
  return { rss: pick('VmRSS'), peak: pick('VmHWM') };
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * One HTTP request with node:http on the server's keep-alive agent (or `agent`). `body` may be a
 * string, a Buffer or an object (sent as JSON). Resolves to { status, headers, text, json,
 * reusedSocket, ms }; never rejects for an HTTP status, only for transport errors.
 */
export function request(srv, { method = 'GET', path: p = '/', headers = {}, body, agent, timeoutMs = 30000 } = {}) {
  let payload = body;
  const h = { ...headers };
  if (payload !== undefined && !Buffer.isBuffer(payload) && typeof payload !== 'string') {
    payload = JSON.stringify(payload);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
  }
  if (payload !== undefined) payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const once = () =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const req = http.request(
        {
          host: srv.host ?? '127.0.0.1',
          port: srv.port,
          method,
          path: p,
          headers: payload !== undefined ? { 'Content-Length': payload.length, ...h } : h,
          agent: agent ?? srv.agent,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const bytes = Buffer.concat(chunks);
            const text = bytes.toString('utf8');
            let json;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode, headers: res.headers, bytes, text, json, reusedSocket: req.reusedSocket, ms: Date.now() - started });
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
      req.on('error', (err) => {
        err.reusedSocket = req.reusedSocket;
        reject(err);
      });
      if (payload !== undefined) req.end(payload);
      else req.end();
    });
  // A kept-alive socket the server closed just as it was reused: retry once on a fresh one (safe:
  // every route is idempotent, ingestion by event id).
  return once().catch((err) => {
    if (err.reusedSocket && ['ECONNRESET', 'EPIPE'].includes(err.code)) return once();
    throw err;
  });
}

export const adminHeaders = (key = ADMIN) => ({ Authorization: `Bearer ${key}` });

export const get = (srv, p, headers = {}) => request(srv, { method: 'GET', path: p, headers });
export const adminGet = (srv, p) => get(srv, p, adminHeaders());
/** PUT /v1/map with the admin key: publishes `map` (an object) as the current journey map. */
export const putMap = (srv, map) =>
  request(srv, { method: 'PUT', path: '/v1/map', headers: { 'Content-Type': 'application/json', ...adminHeaders() }, body: JSON.stringify(map) });

/** POST /v1/batch. `batch` is an object (serialized) or raw text/Buffer. Adds X-Waymark-Key unless key === null. */
export function postBatch(srv, batch, { key = SITE_KEY, headers = {}, query = '', agent } = {}) {
  const h = { ...headers };
  if (key !== null) h['X-Waymark-Key'] = key;
  return request(srv, { method: 'POST', path: `/v1/batch${query}`, headers: h, body: batch, agent });
}

export async function healthy(srv) {
  const r = await get(srv, '/healthz');
  return r.status === 200 && r.json?.status === 'ok';
}

export async function getProfile(srv, id) {
  return adminGet(srv, `/v1/profiles/${encodeURIComponent(id)}`);
}

/** Total stored events, whatever their day (GET /v1/stats/overview: events_all_time). */
export async function storedEventCount(srv) {
  const r = await adminGet(srv, '/v1/stats/overview');
  if (r.status !== 200) throw new Error(`overview: HTTP ${r.status} ${r.text}`);
  return r.json.events_all_time;
}

/** Runs SQL on a collector's database (sqlite3 on its file, psql on its PostgreSQL database). */
export async function runSql(srv, sql) {
  if (BACKEND === 'sqlite') {
    const { stdout } = await promisify(execFile)('sqlite3', [srv.db, sql]);
    return stdout.trim();
  }
  const { psql } = await import('./postgres.mjs');
  return psql({ url: srv.db }, sql);
}

/** `waymark-collector rollups verify` on a collector's database: { code, out }. */
export async function verifyRollups(srv) {
  try {
    const { stdout } = await promisify(execFile)(BIN, ['rollups', 'verify', '--db', srv.db]);
    return { code: 0, out: stdout };
  } catch (err) {
    return { code: err.code, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** Prometheus text -> Map(series key -> value), keys exactly as printed ("name{a=\"x\"}"). */
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** The key the collector prints for a series: labels sorted by name. */
export function seriesKey(name, labels = {}) {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return name;
  return `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}`;
}

// ---------------------------------------------------------------------------------------------
// Events

let counter = 0;
const RUN = crypto.randomBytes(3).toString('hex');

/** A unique id (≤ 64 chars), UUID-like. */
export function uid(prefix = 'e') {
  counter += 1;
  return `${prefix}-${RUN}-${counter.toString(36)}-${crypto.randomUUID()}`;
}

export function anonId(prefix = 'anon') {
  counter += 1;
  return `${prefix}-${RUN}-${counter.toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
}

/** An event envelope: unique id, time in ms (now by default), seq counting per call. */
export function makeEvent(fields = {}) {
  counter += 1;
  return {
    id: uid('ev'),
    seq: counter,
    anonymous_id: fields.anonymous_id ?? 'anon-default',
    name: 'page_viewed',
    type: 'track',
    time: Date.now(),
    context: { url: 'https://allowed.example/', path: '/' },
    ...fields,
  };
}

/** A batch body for the given events (sent_at = now unless given). */
export function makeBatch(events, extra = {}) {
  return { sent_at: Date.now(), events, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Raw sockets

/** A raw TCP connection with a small HTTP/1.1 response reader (Content-Length or chunked). */
/** Ids a batch answer acknowledged (stored now, or stored before). */
export function acknowledgedIds(answer) {
  return (answer?.results ?? []).filter((r) => r.status === 'accepted' || r.status === 'duplicate').map((r) => r.id);
}

export class RawConnection {
  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.closed = false;
    this.waiters = [];
    socket.on('data', (d) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, noDelay: true }, () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data) {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Resolves to { status, headers, body } of the next complete response, or null if the socket closed first. */
  async readResponse(timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.tryParse();
      if (parsed) return parsed;
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete response within ${timeoutMs} ms (buffered ${this.buffer.length} bytes)`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  tryParse() {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(head[0].split(' ')[1]);
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let rest = this.buffer.subarray(end + 4);
    let body;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts = [];
      let off = 0;
      for (;;) {
        const nl = rest.indexOf('\r\n', off);
        if (nl < 0) return null;
        const size = parseInt(rest.subarray(off, nl).toString('latin1'), 16);
        if (rest.length < nl + 2 + size + 2) return null;
        if (size === 0) {
          off = nl + 4;
          break;
        }
        parts.push(rest.subarray(nl + 2, nl + 2 + size));
        off = nl + 2 + size + 2;
      }
      body = Buffer.concat(parts);
      rest = rest.subarray(off);
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (rest.length < len) return null;
      body = rest.subarray(0, len);
      rest = rest.subarray(len);
    }
    this.buffer = Buffer.from(rest);
    const text = body.toString('utf8');
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status, headers, body: text, json };
  }

  close() {
    this.socket.destroy();
  }
}

/** A raw HTTP/1.1 request as bytes. */
export function rawRequest(method, p, { headers = {}, body } = {}) {
  const b = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
  let head = `${method} ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (b) head += `Content-Length: ${b.length}\r\n`;
  head += '\r\n';
  return b ? Buffer.concat([Buffer.from(head, 'latin1'), b]) : Buffer.from(head, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver

/** HMAC check as the docs prescribe: v1=hex(HMAC-SHA256(secret, "<ts>.<raw body>")), |ts - now| ≤ 300 s. */
export function verifyWebhook(secret, headers, rawBody) {
  const ts = Number(headers['waymark-timestamp']);
  if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > 300) return false;
  const expected = 'v1=' + crypto.createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest('hex');
  const got = String(headers['waymark-signature'] || '');
  return got.length === expected.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(expected));
}

/** A webhook receiver on loopback; records every POST (headers, raw body, parsed JSON, signature check). */
export async function startReceiver({ port = 0, secret, status = 200, delayMs = 0 } = {}) {
  const deliveries = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      deliveries.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        raw,
        body,
        validSignature: secret ? verifyWebhook(secret, req.headers, raw) : undefined,
        at: Date.now(),
      });
      const answer = () => {
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end('ok');
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    server,
    port: server.address().port,
    url: `http://127.0.0.1:${server.address().port}/hook`,
    deliveries,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
