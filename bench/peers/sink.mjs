// The loopback stand-in for the peers' CDNs and ingestion APIs (one Node HTTP server, another
// origin than the page): it serves their browser bundles and lazy chunks, the small configuration
// documents they fetch on start, and accepts every event request with CORS. Events are counted by
// parsing the bodies whatever the format (JSON, gzip, deflate, brotli, base64 form fields, nested
// JSON strings such as Snowplow's ue_pr / ue_px): every object carrying the benchmark's
// `{ run: <token>, i: <n> }` properties counts as event n of that run, once, with the time it
// first arrived. Files are served uncompressed; gzip sizes are computed by the benchmark.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';

const TYPES = { '.js': 'text/javascript; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.html': 'text/html; charset=utf-8' };

function decodeBody(buf, headers, url) {
  const enc = String(headers['content-encoding'] || '').toLowerCase();
  try {
    if (enc === 'gzip' || (buf[0] === 0x1f && buf[1] === 0x8b)) buf = zlib.gunzipSync(buf);
    else if (enc === 'deflate') buf = zlib.inflateSync(buf);
    else if (enc === 'br') buf = zlib.brotliDecompressSync(buf);
  } catch {
    // not compressed after all
  }
  let text = buf.toString('utf8');
  // PostHog's legacy form encoding: data=<base64 JSON>
  if (/^data=/.test(text)) {
    const v = new URLSearchParams(text).get('data') || '';
    try {
      text = Buffer.from(v, 'base64').toString('utf8');
    } catch {
      // leave as is
    }
  }
  const q = url.searchParams;
  if (q.get('compression') === 'base64' && !/^[[{]/.test(text.trim())) text = Buffer.from(text, 'base64').toString('utf8');
  return text;
}

function b64url(s) {
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
}

/** Calls found(run, i) for every benchmark event inside `value` (any depth, JSON in strings too). */
function walk(value, found, depth = 0) {
  if (depth > 12 || value == null) return;
  if (typeof value === 'string') {
    const t = value.trim();
    if ((t.startsWith('{') || t.startsWith('[')) && t.includes('"run"')) {
      try {
        walk(JSON.parse(t), found, depth + 1);
      } catch {
        // not JSON
      }
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) walk(v, found, depth + 1);
    return;
  }
  if (typeof value === 'object') {
    if (typeof value.run === 'string' && value.run.startsWith('run-') && Number.isInteger(Number(value.i))) {
      found(value.run, Number(value.i));
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      if ((k === 'ue_px' || k === 'cx') && typeof v === 'string') {
        try {
          walk(b64url(v), found, depth + 1);
        } catch {
          // not base64
        }
      } else {
        walk(v, found, depth + 1);
      }
    }
  }
}

/**
 * Starts the sink. `routes(url)` gives [path prefix, handler (req, res, ctx) returning true when it
 * answered] pairs; `files` maps a URL path to a file on disk. Resolves { url, server, runs, stats,
 * delivered, close }.
 */
export async function startSink({ routes: makeRoutes = () => [], files = new Map() } = {}) {
  let routes = [];
  const runs = new Map(); // token -> Map(i -> first arrival ms)
  const stats = { requests: 0, bytesIn: 0, byPrefix: new Map(), unknown: [] };
  const note = (prefix, bytes) => {
    const s = stats.byPrefix.get(prefix) || { requests: 0, bytes: 0 };
    s.requests += 1;
    s.bytes += bytes;
    stats.byPrefix.set(prefix, s);
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const now = Date.now();
      const url = new URL(req.url, 'http://x');
      const body = Buffer.concat(chunks);
      stats.requests += 1;
      stats.bytesIn += body.length;
      const origin = req.headers.origin;
      const cors = {
        'Access-Control-Allow-Origin': origin || '*',
        ...(origin ? { 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' } : {}),
        'Access-Control-Allow-Methods': 'GET, POST, PUT, OPTIONS',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] || '*',
        'Access-Control-Expose-Headers': '*',
        'Access-Control-Max-Age': '600',
        'Cross-Origin-Resource-Policy': 'cross-origin',
        'Timing-Allow-Origin': '*',
        'Cache-Control': 'no-store',
      };
      const send = (status, payload, type = 'application/json') => {
        const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
        res.writeHead(status, { ...cors, 'Content-Type': type, 'Content-Length': buf.length });
        res.end(req.method === 'HEAD' ? undefined : buf);
      };
      if (req.method === 'OPTIONS') {
        res.writeHead(204, cors);
        res.end();
        return;
      }
      const file = files.get(url.pathname);
      if (file && (req.method === 'GET' || req.method === 'HEAD')) {
        note(url.pathname.split('/')[1] || '/', 0);
        send(200, fs.readFileSync(file), TYPES[path.extname(file)] || 'application/octet-stream');
        return;
      }
      let count = 0;
      if (body.length) {
        const text = decodeBody(body, req.headers, url);
        let parsed = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep the text: walk() looks for JSON inside strings
        }
        walk(parsed, (run, i) => {
          let m = runs.get(run);
          if (!m) runs.set(run, (m = new Map()));
          if (!m.has(i)) m.set(i, now);
          count += 1;
        });
      }
      note(url.pathname.split('/')[1] || '/', body.length);
      const ctx = { url, body, count, now, send };
      for (const [prefix, handler] of routes) {
        if (url.pathname.startsWith(prefix) && handler(req, res, ctx)) return;
      }
      if (req.method !== 'POST' && stats.unknown.length < 200) stats.unknown.push(`${req.method} ${url.pathname}`);
      send(200, {});
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  routes = makeRoutes(url);
  return {
    url,
    server,
    runs,
    stats,
    /** Events of `run` that arrived at or before `until` (ms since the epoch), and the last arrival. */
    delivered(run, until = Infinity) {
      const m = runs.get(run);
      if (!m) return { count: 0, lastAt: null };
      let count = 0;
      let lastAt = null;
      for (const t of m.values()) {
        if (t <= until) {
          count += 1;
          if (lastAt === null || t > lastAt) lastAt = t;
        }
      }
      return { count, lastAt };
    },
    close: () => new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    }),
  };
}
