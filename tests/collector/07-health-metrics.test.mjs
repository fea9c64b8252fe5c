// Health, readiness, Prometheus metrics with the counts this test caused, the request log with
// reduced IPs, and the per-key rate limit.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  SITE_KEY,
  anonId,
  get,
  getProfile,
  makeBatch,
  makeEvent,
  makeTempDir,
  parseMetrics,
  postBatch,
  seriesKey,
  startCollector,
  stopCollector,
  useCollector,
  waitFor,
} from './helpers.mjs';


const ctx = useCollector({ quiet: false }); // the request log is checked below

async function metrics() {
  const res = await get(ctx.srv, '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/plain/);
  return { text: res.text, m: parseMetrics(res.text) };
}

describe('health and metrics', () => {
  it('GET /healthz: 200 {"status":"ok"}', async () => {
    const res = await get(ctx.srv, '/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { status: 'ok' });
  });

  it('GET /readyz: 200, database writable, nothing pending', async () => {
    const res = await get(ctx.srv, '/readyz');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'ready');
    assert.equal(res.json.database, 'writable');
    assert.equal(res.json.outbox_pending, 0);
    assert.equal(res.json.ingest_queue, 0);
  });

  it('GET /metrics counts exactly the requests and events this test caused', async () => {
    const before = (await metrics()).m;
    const val = (m, name, labels) => m.get(seriesKey(name, labels)) ?? 0;

    for (let i = 0; i < 3; i++) assert.equal((await get(ctx.srv, '/healthz')).status, 200);
    const a = anonId();
    const t = Date.now() - 60000;
    const batch = makeBatch([
      makeEvent({ anonymous_id: a, name: 'page_viewed', time: t }),
      makeEvent({ anonymous_id: a, name: 'pricing_viewed', time: t + 5000 }),
      makeEvent({ anonymous_id: a, name: 'lead_submitted', time: t + 10000 }),
      makeEvent({ anonymous_id: a, time: Math.floor(t / 1000) }), // seconds: invalid_time
    ]);
    const first = await postBatch(ctx.srv, batch);
    assert.deepEqual([first.json.accepted, first.json.duplicates, first.json.rejected], [3, 0, 1]);
    const second = await postBatch(ctx.srv, batch);
    assert.deepEqual([second.json.accepted, second.json.duplicates, second.json.rejected], [0, 3, 1]);
    assert.equal((await postBatch(ctx.srv, batch, { key: null })).status, 401);

    const want = [
      ['waymark_http_requests_total', { route: '/healthz', method: 'GET', status: '200' }, 3],
      ['waymark_http_requests_total', { route: '/v1/batch', method: 'POST', status: '200' }, 2],
      ['waymark_http_requests_total', { route: '/v1/batch', method: 'POST', status: '401' }, 1],
      ['waymark_events_total', { result: 'accepted' }, 3],
      ['waymark_events_total', { result: 'duplicate' }, 3],
      ['waymark_events_total', { result: 'rejected', reason: 'invalid_time' }, 2],
      ['waymark_http_request_duration_seconds_count', { route: '/healthz' }, 3],
      // Bytes as received: the three batch bodies (the bench divides this by events for uploads).
      ['waymark_http_request_body_bytes_total', { route: '/v1/batch' }, 3 * Buffer.byteLength(JSON.stringify(batch))],
    ];
    // The request counter is bumped by the logger after the answer is sent: poll, with a deadline.
    let last;
    await waitFor(
      async () => {
        last = (await metrics()).m;
        return want.every(([n, l, d]) => val(last, n, l) - val(before, n, l) === d);
      },
      { timeoutMs: 5000, what: 'the metrics to show the requests' },
    ).catch(() => {});
    for (const [n, l, d] of want) {
      assert.equal(val(last, n, l) - val(before, n, l), d, `${seriesKey(n, l)} grew by ${d}`);
    }
  });

  it('a browser stage that differs from the server\'s is kept and counted (profile and metric)', async () => {
    const before = parseMetrics((await get(ctx.srv, '/metrics')).text).get('waymark_stage_mismatches_total') ?? 0;
    const a = anonId();
    const ev = makeEvent({ anonymous_id: a, name: 'pricing_viewed', stage: 'customer' });
    const agree = makeEvent({ anonymous_id: a, name: 'page_viewed', time: ev.time + 5000, stage: 'engaged' });
    const res = await postBatch(ctx.srv, makeBatch([ev, agree]));
    assert.equal(res.json.accepted, 2, res.text);
    const p = (await getProfile(ctx.srv, a)).json;
    assert.equal(p.stage, 'engaged');
    assert.equal(p.stage_mismatches, 1);
    const tp = p.touchpoints.find((x) => x.id === ev.id);
    assert.equal(tp.browser_stage, 'customer');
    assert.equal(tp.server_stage, 'engaged');
    const after = parseMetrics((await get(ctx.srv, '/metrics')).text).get('waymark_stage_mismatches_total') ?? 0;
    assert.equal(after - before, 1);
  });

  it('the exposition format: one TYPE per family, histograms with buckets, the documented families present', async () => {
    const { text, m } = await metrics();
    for (const [family, type] of [
      ['waymark_http_requests_total', 'counter'],
      ['waymark_events_total', 'counter'],
      ['waymark_http_request_duration_seconds', 'histogram'],
      ['waymark_commit_events', 'histogram'],
      ['waymark_commit_requests', 'histogram'],
      ['waymark_ingest_queue_events', 'gauge'],
    ]) {
      const lines = text.split('\n').filter((l) => l === `# TYPE ${family} ${type}`);
      assert.equal(lines.length, 1, `# TYPE ${family} ${type} exactly once`);
    }
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
    assert.equal(new Set(types).size, types.length, 'no family is declared twice');
    assert.ok(m.get('waymark_commit_events_count') >= 1, 'group commits were observed');
    assert.equal(m.get('waymark_commit_events_bucket{le="+Inf"}'), m.get('waymark_commit_events_count'));
    for (const [k, v] of m) assert.ok(Number.isFinite(v) || k.includes('le="+Inf"'), `${k} ${v}`);
  });

  it('the request log: one JSON line per request, with the IP reduced (IPv4 /24)', async () => {
    await get(ctx.srv, '/healthz?probe=log');
    await waitFor(() => ctx.srv.stdout.includes('"route":"/healthz"'), { what: 'a log line' });
    const lines = ctx.srv.stdout
      .split('\n')
      .filter((l) => l.includes('"route"'))
      .map((l) => JSON.parse(l));
    assert.ok(lines.length > 5);
    for (const l of lines) {
      assert.equal(typeof l.ts, 'number');
      assert.equal(typeof l.status, 'number');
      assert.ok(['GET', 'POST', 'OPTIONS', 'PUT'].includes(l.method));
      assert.equal(l.ip, '127.0.0.0', 'the last octet is dropped');
    }
    assert.ok(!ctx.srv.stdout.includes('127.0.0.1"'), 'the full client address never appears in the log');
  });
});

describe('stats', () => {
  it('every stats view answers 200 JSON with the admin key; an unknown view is 404', async () => {
    const a = anonId();
    const t = Date.now() - 600000;
    const res = await postBatch(
      ctx.srv,
      makeBatch([
        makeEvent({ anonymous_id: a, name: 'page_viewed', time: t, context: { path: '/', campaign: { utm_source: 'news', utm_medium: 'email' } } }),
        makeEvent({ anonymous_id: a, name: 'lead_submitted', time: t + 60000 }),
        makeEvent({ anonymous_id: a, name: 'order_completed', time: t + 120000 }),
      ]),
    );
    assert.equal(res.json.accepted, 3, res.text);
    for (const view of ['funnel', 'transitions', 'time-in-stage', 'attribution', 'content-gaps', 'webhooks', 'overview']) {
      const r = await get(ctx.srv, `/v1/stats/${view}`, { Authorization: 'Bearer ADMIN' });
      assert.equal(r.status, 200, `${view}: ${r.text}`);
      assert.equal(typeof r.json, 'object', view);
      assert.ok(r.json !== null && !Array.isArray(r.json), view);
    }
    const overview = (await get(ctx.srv, '/v1/stats/overview', { Authorization: 'Bearer ADMIN' })).json;
    assert.ok(overview.events >= 3);
    assert.ok(overview.profiles >= 1);
    assert.deepEqual(overview.map, { id: 'default', version: 1 });
    const nope = await get(ctx.srv, '/v1/stats/nope', { Authorization: 'Bearer ADMIN' });
    assert.equal(nope.status, 404);
    assert.equal(nope.json.error.code, 'not_found');
  });
});

describe('backpressure', () => {
  it('a batch the ingest queue cannot take: 503 overloaded with Retry-After, nothing stored', async () => {
    const dir = makeTempDir('overload');
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ limits: { max_pending_events: 10 } }));
    const ov = await startCollector({ dir, extraArgs: ['--config', config] });
    try {
      const a = anonId();
      const big = await postBatch(ov, makeBatch(Array.from({ length: 11 }, () => makeEvent({ anonymous_id: a }))));
      assert.equal(big.status, 503, big.text);
      assert.equal(big.json.error.code, 'overloaded');
      assert.ok(Number(big.headers['retry-after']) >= 1);
      assert.equal((await getProfile(ov, a)).status, 404, 'nothing was stored');
      const small = await postBatch(ov, makeBatch(Array.from({ length: 10 }, () => makeEvent({ anonymous_id: a }))));
      assert.equal(small.status, 200, small.text);
      assert.equal(small.json.accepted, 10);
    } finally {
      const { code } = await stopCollector(ov);
      assert.equal(code, 0, ov.stderr);
    }
  });
});

describe('rate limit', () => {
  it('a site key over its rate gets 429 rate_limited with Retry-After; other keys are unaffected', async () => {
    const dir = makeTempDir('ratelimit');
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({ site_keys: [{ key: 'SLOW', rate_per_second: 1, burst: 2 }, { key: SITE_KEY, rate_per_second: 1000 }] }),
    );
    const rl = await startCollector({ dir, siteKeys: [], rateLimit: null, extraArgs: ['--config', config] });
    try {
      const statuses = [];
      let limited;
      for (let i = 0; i < 4; i++) {
        const res = await postBatch(rl, makeBatch([makeEvent({ anonymous_id: anonId() })]), { key: 'SLOW' });
        statuses.push(res.status);
        if (res.status === 429) limited = res;
      }
      assert.deepEqual(statuses.slice(0, 2), [200, 200], 'the burst passes');
      assert.ok(limited, `then 429 (${statuses})`);
      assert.equal(limited.json.error.code, 'rate_limited');
      assert.ok(Number(limited.headers['retry-after']) >= 1, `Retry-After ${limited.headers['retry-after']}`);
      const other = await postBatch(rl, makeBatch([makeEvent({ anonymous_id: anonId() })]), { key: SITE_KEY });
      assert.equal(other.status, 200, 'another key has its own bucket');
      assert.equal((await get(rl, '/healthz')).status, 200);
    } finally {
      const { code } = await stopCollector(rl);
      assert.equal(code, 0, rl.stderr);
    }
  });
});
