// The journey dashboard's endpoints: the live event stream (GET /v1/events/recent), top paths for
// a Sankey diagram (GET /v1/stats/paths), a draft map's funnel over the stored history
// (POST /v1/map/preview), and the dashboard's own files (--static DIR) served beside the API.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  ROOT,
  adminGet,
  adminHeaders,
  anonId,
  get,
  makeBatch,
  makeEvent,
  makeTempDir,
  postBatch,
  request,
  startCollector,
  stopCollector,
  useCollector,
} from './helpers.mjs';

const DEFAULT_MAP = fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8');
const VECTORS = path.join(ROOT, 'tests', 'vectors');
const MINUTE = 60 * 1000;
const DAY = 24 * 60 * MINUTE;
/** A report's `from` parameter: the UTC day `days` days ago. */
const since = (days) => `from=${new Date(Date.now() - days * DAY).toISOString().slice(0, 10)}`;

/** Posts events and checks that every one of them was accepted. */
async function store(srv, events, extra = {}) {
  const res = await postBatch(srv, makeBatch(events, extra));
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.accepted, events.length, res.text);
  return res;
}

/** One visitor's events `gap` ms apart (more than the map's 2 s fold window), ending `endAgo` ms ago. */
function visit(anonymous_id, names, { gap = 10000, endAgo = MINUTE, fields = {} } = {}) {
  const start = Date.now() - endAgo - gap * (names.length - 1);
  return names.map((name, i) => makeEvent({ anonymous_id, name, time: start + i * gap, ...fields }));
}

const checkError = (res, status, code, messageStart) => {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json?.error?.code, code, res.text);
  if (messageStart) assert.ok(res.json.error.message.startsWith(messageStart), res.json.error.message);
};

// ---------------------------------------------------------------------------------------------

describe('GET /v1/events/recent', () => {
  const ctx = useCollector();
  const recent = (query = '') => adminGet(ctx.srv, `/v1/events/recent${query}`);
  const stored = []; // ids in the order they were stored

  it('needs the admin key: 401', async () => {
    for (const headers of [{}, adminHeaders('wrong')]) {
      const res = await get(ctx.srv, '/v1/events/recent', headers);
      checkError(res, 401, 'unauthorized');
      assert.equal(res.headers['www-authenticate'], 'Bearer');
    }
  });

  it('bad parameters: 400 invalid_cursor / invalid_limit, with the parameter named', async () => {
    for (const after of ['-1', 'abc', '', '1.5', '+3', ' 1', '0x10', '1234567890123456789']) {
      checkError(await recent(`?after=${encodeURIComponent(after)}`), 400, 'invalid_cursor', 'after: ');
    }
    for (const limit of ['0', '201', '-5', 'ten', '', '2e2', '50.0']) {
      checkError(await recent(`?limit=${encodeURIComponent(limit)}`), 400, 'invalid_limit', 'limit: expected an integer from 1 to 200');
    }
    checkError(await recent('?after=3&limit=1000'), 400, 'invalid_limit');
  });

  it('an empty store: no events, cursor 0 (or the given cursor)', async () => {
    assert.deepEqual((await recent()).json, { events: [], cursor: 0 });
    assert.deepEqual((await recent('?after=0')).json, { events: [], cursor: 0 });
    assert.deepEqual((await recent('?after=42&limit=5')).json, { events: [], cursor: 42 });
  });

  it('without a cursor: the latest events, oldest first, every field filled in', async () => {
    const sentAt = Date.now();
    const anon = anonId('live');
    const events = [
      makeEvent({ anonymous_id: anon, name: 'page_viewed', time: sentAt - 60000, context: { url: 'https://allowed.example/blog', path: '/blog' } }),
      makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: sentAt - 50000, stage: 'engaged', context: { path: '/pricing' } }),
      makeEvent({ anonymous_id: anon, name: 'view_pricing', time: sentAt - 40000, context: { url: 'https://allowed.example/' } }), // an alias, no path
      makeEvent({ anonymous_id: anonId('known'), user_id: 'dash-user-1', name: 'lead_submitted', time: sentAt - 30000, context: { url: 'https://allowed.example/x', path: '' } }),
    ];
    await store(ctx.srv, events, { sent_at: sentAt });
    stored.push(...events.map((e) => e.id));

    const res = await recent();
    assert.equal(res.status, 200, res.text);
    const got = res.json.events;
    assert.deepEqual(got.map((e) => e.id), stored);
    const cursors = got.map((e) => e.cursor);
    assert.ok(cursors.every((c, i) => Number.isInteger(c) && (i === 0 || c > cursors[i - 1])), `ascending: ${cursors}`);
    assert.equal(res.json.cursor, cursors.at(-1));
    for (const e of got) {
      assert.deepEqual(Object.keys(e).sort(), ['anonymous_id', 'browser_stage', 'channel', 'cursor', 'id', 'name', 'path', 'profile_id', 'received_at', 'server_stage', 'time', 'user_id']);
      assert.ok(e.channel === null || typeof e.channel === 'string');
      // The corrected time: received + (device time - sent_at).
      const device = events.find((x) => x.id === e.id).time;
      assert.equal(e.time, e.received_at + (device - sentAt), e.id);
    }
    const [a, b, c, d] = got;
    assert.equal(a.name, 'page_viewed');
    assert.equal(a.path, '/blog');
    assert.equal(a.anonymous_id, anon);
    assert.equal(a.profile_id, `a:${anon}`);
    assert.equal(a.user_id, null);
    assert.equal(a.browser_stage, null);
    assert.equal(a.server_stage, 'awareness'); // projected before the read
    assert.equal(b.path, '/pricing');
    assert.equal(b.browser_stage, 'engaged');
    assert.equal(b.server_stage, 'engaged');
    assert.equal(c.name, 'pricing_viewed', 'stored under its canonical name');
    assert.equal(c.path, null);
    assert.equal(d.user_id, 'dash-user-1');
    assert.equal(d.profile_id, 'u:dash-user-1');
    assert.equal(d.path, null, 'an empty path is not stored');
    assert.equal(d.server_stage, 'lead');
  });

  it('limit: the latest N, still oldest first', async () => {
    const res = await recent('?limit=2');
    assert.deepEqual(res.json.events.map((e) => e.id), stored.slice(-2));
    assert.equal(res.json.cursor, res.json.events[1].cursor);
    const one = await recent('?limit=1');
    assert.deepEqual(one.json.events.map((e) => e.id), stored.slice(-1));
    const all = await recent('?limit=200');
    assert.equal(all.json.events.length, stored.length);
  });

  it('with a cursor: the events stored after it, oldest first, page by page; then only new ones', async () => {
    const first = (await recent()).json.events[0].cursor;
    let cursor = first - 1;
    const seen = [];
    for (let pages = 0; pages < 10; pages += 1) {
      const res = await recent(`?after=${cursor}&limit=3`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.events.length <= 3);
      if (res.json.events.length === 0) {
        assert.equal(res.json.cursor, cursor, 'no new events: the cursor stays');
        break;
      }
      assert.ok(res.json.events.every((e) => e.cursor > cursor));
      seen.push(...res.json.events.map((e) => e.id));
      cursor = res.json.cursor;
    }
    assert.deepEqual(seen, stored);

    // A poll with the last cursor sees exactly what arrived since, even when more than a page.
    const more = visit(anonId('later'), ['page_viewed', 'feature_viewed', 'content_read', 'video_played'], { gap: 3000 });
    await store(ctx.srv, more);
    const next = await recent(`?after=${cursor}&limit=3`);
    assert.deepEqual(next.json.events.map((e) => e.id), more.slice(0, 3).map((e) => e.id));
    const rest = await recent(`?after=${next.json.cursor}`);
    assert.deepEqual(rest.json.events.map((e) => e.id), [more[3].id]);
    assert.equal(rest.json.events[0].server_stage, 'engaged');
    // A duplicate stores nothing, so the stream shows nothing new.
    await postBatch(ctx.srv, makeBatch([more[0]]));
    assert.deepEqual((await recent(`?after=${rest.json.cursor}`)).json, { events: [], cursor: rest.json.cursor });
  });
});

// ---------------------------------------------------------------------------------------------

describe('GET /v1/stats/paths', () => {
  const ctx = useCollector();
  // Each visitor's stage sequence under the default map (initial stage, then every entered stage).
  const visitors = [
    { names: ['page_viewed'], stages: ['awareness'] },
    { names: ['pricing_viewed'], stages: ['awareness', 'engaged'] },
    { names: ['pricing_viewed', 'lead_submitted'], stages: ['awareness', 'engaged', 'lead'] },
    { names: ['feature_viewed', 'newsletter_subscribed'], stages: ['awareness', 'engaged', 'lead'] },
    // The expansion loop: customer -> retained -> customer (backward) -> retained.
    { names: ['order_completed', 'subscription_renewed', 'plan_upgraded', 'subscription_renewed'], stages: ['awareness', 'customer', 'retained', 'customer', 'retained'] },
    // Nine stages: cut to the first eight, flagged.
    {
      names: ['pricing_viewed', 'lead_submitted', 'lead_qualified', 'trial_started', 'order_completed', 'subscription_renewed', 'friend_invited', 'plan_upgraded'],
      stages: ['awareness', 'engaged', 'lead', 'qualified', 'trial', 'customer', 'retained', 'advocate'],
      truncated: true,
    },
  ];
  // Dormancy and back: engaged, 31 days without activity (dormant at 30), then a visit.
  const dormant = { stages: ['awareness', 'engaged', 'dormant', 'engaged'] };

  const compare = (a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i += 1) {
      if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    }
    return a.length - b.length;
  };

  before(async () => {
    const events = [];
    for (const v of visitors) events.push(...visit(anonId('path'), v.names));
    const anon = anonId('dormant');
    const now = Date.now();
    events.push(makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: now - 40 * DAY }));
    events.push(makeEvent({ anonymous_id: anon, name: 'page_viewed', time: now - 9 * DAY }));
    await store(ctx.srv, events);
  });

  it('needs the admin key; a bad limit is 400 invalid_limit', async () => {
    checkError(await get(ctx.srv, '/v1/stats/paths'), 401, 'unauthorized');
    for (const limit of ['0', '101', 'x', '', '-1']) {
      checkError(await adminGet(ctx.srv, `/v1/stats/paths?limit=${limit}`), 400, 'invalid_limit', 'limit: expected an integer from 1 to 100');
    }
  });

  it('counts each visitor on the day of their first event: the default 30 days leave out one who came 40 days ago', async () => {
    const body = (await adminGet(ctx.srv, '/v1/stats/paths')).json;
    assert.equal(body.profiles, visitors.length);
    assert.equal(body.range.days, 30);
    assert.equal(body.paths.find((p) => p.stages.includes('dormant')), undefined);
    const wider = (await adminGet(ctx.srv, `/v1/stats/paths?${since(45)}`)).json;
    assert.equal(wider.profiles, visitors.length + 1);
    assert.equal(wider.range.days, 46);
  });

  it('groups identical stage sequences: visitors descending, then lexicographically; long ones cut at 8', async () => {
    const res = await adminGet(ctx.srv, `/v1/stats/paths?${since(60)}`);
    assert.equal(res.status, 200, res.text);
    const body = res.json;
    assert.deepEqual(body.map, { id: 'default', version: 1 });
    assert.equal(body.profiles, visitors.length + 1);
    const all = [...visitors, dormant].map((v) => ({ stages: v.stages, truncated: v.truncated ?? false }));
    const grouped = new Map();
    for (const p of all) {
      const key = JSON.stringify([p.stages, p.truncated]);
      grouped.set(key, { ...p, visitors: (grouped.get(key)?.visitors ?? 0) + 1 });
    }
    const expected = [...grouped.values()].sort((a, b) => b.visitors - a.visitors || compare(a.stages, b.stages));
    assert.equal(body.distinct_paths, expected.length);
    assert.deepEqual(body.paths, expected);
    assert.deepEqual(body.paths[0], { stages: ['awareness', 'engaged', 'lead'], visitors: 2, truncated: false });
    const long = body.paths.find((p) => p.truncated);
    assert.equal(long.stages.length, 8);

    const top = await adminGet(ctx.srv, `/v1/stats/paths?limit=2&${since(60)}`);
    assert.deepEqual(top.json.paths, expected.slice(0, 2));
    assert.equal(top.json.distinct_paths, expected.length);
    assert.deepEqual(top.json.links, body.links, 'links cover every profile whatever the limit');
  });

  it('Sankey nodes and links are step-indexed, so loops become an acyclic graph', async () => {
    const body = (await adminGet(ctx.srv, `/v1/stats/paths?${since(60)}`)).json;
    const links = new Map();
    const nodes = new Map();
    for (const v of [...visitors, dormant]) {
      v.stages.forEach((stage, i) => {
        nodes.set(`${i}:${stage}`, (nodes.get(`${i}:${stage}`) ?? 0) + 1);
        if (i > 0) {
          const key = `${i - 1}:${v.stages[i - 1]}>${i}:${stage}`;
          links.set(key, (links.get(key) ?? 0) + 1);
        }
      });
    }
    assert.deepEqual(
      Object.fromEntries(body.links.map((l) => [`${l.source}>${l.target}`, l.value])),
      Object.fromEntries(links),
    );
    assert.equal(body.links.length, links.size);
    assert.deepEqual(
      Object.fromEntries(body.nodes.map((n) => [n.name, n.visitors])),
      Object.fromEntries(nodes),
    );
    for (const n of body.nodes) assert.equal(n.name, `${n.step}:${n.stage}`);
    assert.deepEqual(body.nodes[0], { name: '0:awareness', stage: 'awareness', step: 0, visitors: visitors.length + 1 });
    const names = new Set(body.nodes.map((n) => n.name));
    const step = (name) => Number(name.split(':')[0]);
    for (const l of body.links) {
      assert.ok(names.has(l.source) && names.has(l.target), `${l.source} -> ${l.target}`);
      assert.equal(step(l.target), step(l.source) + 1, `${l.source} -> ${l.target}`);
    }
    // The loop shows as distinct nodes: 1:customer -> 2:retained -> 3:customer -> 4:retained.
    assert.equal(links.get('2:retained>3:customer'), 1);
    assert.ok(body.links.some((l) => l.source === '2:retained' && l.target === '3:customer'));
    assert.ok(body.links.some((l) => l.source === '2:dormant' && l.target === '3:engaged'));
    // Acyclic: Kahn's algorithm removes every node.
    const indegree = new Map([...names].map((n) => [n, 0]));
    for (const l of body.links) indegree.set(l.target, indegree.get(l.target) + 1);
    const queue = [...names].filter((n) => indegree.get(n) === 0);
    let removed = 0;
    while (queue.length) {
      const n = queue.pop();
      removed += 1;
      for (const l of body.links.filter((x) => x.source === n)) {
        indegree.set(l.target, indegree.get(l.target) - 1);
        if (indegree.get(l.target) === 0) queue.push(l.target);
      }
    }
    assert.equal(removed, names.size, 'the link graph has no cycle');
    // No link past the eighth stage.
    assert.ok(body.nodes.every((n) => n.step < 8));
  });

  it('is listed with the other stats in the 404 message', async () => {
    const res = await adminGet(ctx.srv, '/v1/stats/nope');
    checkError(res, 404, 'not_found');
    assert.match(res.json.error.message, /paths/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('POST /v1/map/preview', () => {
  const ctx = useCollector();
  const preview = (body, query = '', headers = adminHeaders()) =>
    request(ctx.srv, { method: 'POST', path: `/v1/map/preview${query}`, headers: { 'Content-Type': 'application/json', ...headers }, body });

  /** The default map, version 2, where a single page view engages (and pricing no longer does). */
  function draft() {
    const m = JSON.parse(DEFAULT_MAP);
    m.version = 2;
    m.transitions.find((t) => t.id === 'engage').when = { event: 'page_viewed' };
    return JSON.stringify(m);
  }

  // Five visitors; live (default map) and draft stages worked out by hand. Last activity: p1
  // oldest ... p5 newest (so the 2 most recent are p4 and p5).
  const people = {
    p1: { names: ['page_viewed'], live: 'awareness', draft: 'engaged' },
    p2: { names: ['pricing_viewed'], live: 'engaged', draft: 'awareness' },
    p3: { names: ['page_viewed', 'lead_submitted'], live: 'lead', draft: 'lead' }, // draft: via engaged
    p4: { names: ['feature_viewed'], live: 'engaged', draft: 'awareness' },
    p5: { names: ['page_viewed', 'page_viewed'], live: 'awareness', draft: 'engaged' },
  };
  const byStage = (funnel) => Object.fromEntries(funnel.stages.map((s) => [s.id, { reached: s.reached, current: s.current }]));

  let funnelBefore;
  let overviewBefore;
  let etagBefore;

  before(async () => {
    const events = [];
    let endAgo = 10 * MINUTE;
    for (const [key, p] of Object.entries(people)) {
      p.anon = anonId(key);
      events.push(...visit(p.anon, p.names, { endAgo }));
      endAgo -= MINUTE;
    }
    await store(ctx.srv, events);
    funnelBefore = (await adminGet(ctx.srv, '/v1/stats/funnel')).json;
    overviewBefore = (await adminGet(ctx.srv, '/v1/stats/overview')).json;
    etagBefore = (await get(ctx.srv, '/v1/map')).headers.etag;
  });

  it('needs the admin key: 401', async () => {
    checkError(await preview(draft(), '', {}), 401, 'unauthorized');
  });

  it('an invalid draft: 400 invalid_map with the core\'s path-precise message; the live map is unchanged', async () => {
    const v = JSON.parse(fs.readFileSync(path.join(VECTORS, 'map_error_duration.json'), 'utf8'));
    const res = await preview(JSON.stringify(v.map));
    checkError(res, 400, 'invalid_map');
    assert.equal(res.json.error.message, 'transitions[0].when.count.within: expected a duration');
    const noVersion = JSON.parse(draft());
    delete noVersion.version;
    const res2 = await preview(JSON.stringify(noVersion));
    checkError(res2, 400, 'invalid_map');
    assert.equal(res2.json.error.message, 'version: required');
    for (const body of ['', '{', '[]']) {
      const r = await preview(body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
    const map = await get(ctx.srv, '/v1/map');
    assert.equal(map.headers.etag, etagBefore);
    assert.equal(map.json.version, 1);
    assert.equal((await adminGet(ctx.srv, '/v1/map/versions')).json.versions.length, 1);
  });

  it('a bad limit: 400 invalid_limit', async () => {
    for (const limit of ['0', '20001', 'all', '']) {
      checkError(await preview(draft(), `?limit=${limit}`), 400, 'invalid_limit', 'limit: expected an integer from 1 to 20000');
    }
  });

  it('a bad time cap: 400 invalid_max_ms; a good one is honoured', async () => {
    for (const ms of ['0', '60001', 'soon', '']) {
      checkError(await preview(draft(), `?max_ms=${ms}`), 400, 'invalid_max_ms', 'max_ms: expected an integer from 1 to 60000');
    }
    const res = await preview(draft(), '?max_ms=60000');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.time_capped, false);
    assert.equal(res.json.profiles, 5);
  });

  it('replays the stored history under the draft: its funnel moves, the live one equals /v1/stats/funnel', async () => {
    const res = await preview(draft());
    assert.equal(res.status, 200, res.text);
    const body = res.json;
    assert.deepEqual(Object.keys(body).sort(), ['draft', 'events', 'live', 'ms', 'profiles', 'time_capped', 'truncated']);
    assert.equal(body.time_capped, false, 'five profiles replay well within the default 5 s cap');
    assert.equal(body.profiles, 5);
    assert.equal(body.truncated, false);
    assert.equal(body.events, Object.values(people).reduce((n, p) => n + p.names.length, 0));
    assert.equal(typeof body.ms, 'number');
    assert.ok(body.ms >= 0);
    assert.deepEqual(body.draft.map, { id: 'default', version: 2 });
    assert.deepEqual(body.live.map, { id: 'default', version: 1 });
    assert.deepEqual(body.draft.funnel.map, { id: 'default', version: 2 });

    const { range, ...storedFunnel } = funnelBefore;
    assert.equal(range.days, 30);
    assert.deepEqual(body.live.funnel, storedFunnel, 'live is the stored funnel of the same (all) profiles');

    const count = (side, stage) => Object.values(people).filter((p) => p[side] === stage).length;
    const live = byStage(body.live.funnel);
    const drafted = byStage(body.draft.funnel);
    for (const stage of ['awareness', 'engaged', 'lead']) {
      assert.equal(live[stage].current, count('live', stage), `live current ${stage}`);
      assert.equal(drafted[stage].current, count('draft', stage), `draft current ${stage}`);
    }
    // Reached: live engaged = p2, p4; draft engaged = p1, p3 (on its way to lead), p5.
    assert.deepEqual([live.awareness.reached, live.engaged.reached, live.lead.reached], [5, 2, 1]);
    assert.deepEqual([drafted.awareness.reached, drafted.engaged.reached, drafted.lead.reached], [5, 3, 1]);
    assert.equal(body.draft.funnel.total_profiles, 5);
    assert.equal(body.draft.funnel.stages[1].conversion_from_previous, 0.6);
    assert.equal(body.draft.funnel.stages[1].drop_off, 2);
    // Time in stage comes from the replays: p2 and p4 never leave awareness (one event: 0 ms).
    assert.equal(typeof body.draft.funnel.stages[0].median_time_in_stage_ms, 'number');
    assert.deepEqual(body.draft.funnel.side_stages.map((s) => s.id), ['dormant', 'churned']);
  });

  it('limit: the most recently active profiles only, live restricted to the same ones', async () => {
    const res = await preview(draft(), '?limit=2');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.profiles, 2);
    assert.equal(res.json.truncated, true);
    // p4 (engaged live, awareness in the draft) and p5 (awareness live, engaged in the draft).
    assert.equal(res.json.live.funnel.total_profiles, 2);
    assert.equal(res.json.draft.funnel.total_profiles, 2);
    const live = byStage(res.json.live.funnel);
    const drafted = byStage(res.json.draft.funnel);
    assert.deepEqual(live.engaged, { reached: 1, current: 1 });
    assert.deepEqual(live.awareness, { reached: 2, current: 1 });
    assert.deepEqual(drafted.engaged, { reached: 1, current: 1 });
    assert.equal(live.lead.reached, 0);
    assert.equal(res.json.events, 3);
  });

  it('writes nothing: stats, profiles and the map are as before', async () => {
    // The live map replayed as a draft gives the live funnel back.
    const same = await preview(DEFAULT_MAP);
    assert.equal(same.status, 200, same.text);
    assert.deepEqual(same.json.draft.funnel, same.json.live.funnel);

    assert.deepEqual((await adminGet(ctx.srv, '/v1/stats/funnel')).json, funnelBefore);
    const overview = (await adminGet(ctx.srv, '/v1/stats/overview')).json;
    assert.equal(overview.events, overviewBefore.events);
    assert.equal(overview.profiles, overviewBefore.profiles);
    assert.equal((await adminGet(ctx.srv, '/v1/stats/transitions')).json.total, 3); // p2, p3, p4
    for (const p of Object.values(people)) {
      const prof = await adminGet(ctx.srv, `/v1/profiles/${encodeURIComponent(p.anon)}`);
      assert.equal(prof.json.stage, p.live, p.anon);
      assert.equal(prof.json.map_version, 1);
    }
    const map = await get(ctx.srv, '/v1/map');
    assert.equal(map.headers.etag, etagBefore);
    assert.equal((await adminGet(ctx.srv, '/v1/map/versions')).json.versions.length, 1);
  });
});

// ---------------------------------------------------------------------------------------------

describe('--static DIR: the dashboard beside the API', () => {
  let srv;
  let dir;
  const files = {
    'index.html': ['<!doctype html><title>waymark</title><script src="app.js"></script>', /^text\/html; charset=utf-8$/],
    'app.js': ['console.log("dashboard");', /^text\/javascript; charset=utf-8$/],
    'style.css': ['body { margin: 0 }', /^text\/css; charset=utf-8$/],
    'logo.svg': ['<svg xmlns="http://www.w3.org/2000/svg"/>', /^image\/svg\+xml$/],
    'data.json': ['{"ok":true}', /^application\/json$/],
  };

  before(async () => {
    dir = makeTempDir('static');
    for (const [name, [content]] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    // Files named like API routes, which must never be served instead of them.
    fs.writeFileSync(path.join(dir, 'healthz'), 'shadow');
    fs.mkdirSync(path.join(dir, 'v1', 'stats'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'v1', 'map'), 'shadow');
    fs.writeFileSync(path.join(dir, 'v1', 'stats', 'funnel'), 'shadow');
    fs.writeFileSync(path.join(dir, '.secret'), 'hidden');
    fs.mkdirSync(path.join(dir, 'docs'));
    fs.writeFileSync(path.join(dir, 'docs', 'index.html'), '<p>docs</p>');
    srv = await startCollector({ extraArgs: ['--static', dir] });
  });
  after(async () => {
    const { code } = await stopCollector(srv);
    assert.equal(code, 0);
  });

  it('GET / serves index.html, with no-cache and a Content-Type by extension', async () => {
    const res = await get(srv, '/');
    assert.equal(res.status, 200);
    assert.equal(res.text, files['index.html'][0]);
    assert.match(res.headers['content-type'], files['index.html'][1]);
    assert.equal(res.headers['cache-control'], 'no-cache');
    for (const [name, [content, type]] of Object.entries(files)) {
      const r = await get(srv, `/${name}`);
      assert.equal(r.status, 200, name);
      assert.equal(r.text, content, name);
      assert.match(r.headers['content-type'], type, name);
      assert.equal(r.headers['cache-control'], 'no-cache', name);
      assert.ok(r.headers.etag, name);
    }
  });

  it('revalidation: If-None-Match with the ETag gives 304; HEAD has the headers and no body', async () => {
    const first = await get(srv, '/app.js');
    const again = await get(srv, '/app.js', { 'If-None-Match': first.headers.etag });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    const head = await request(srv, { method: 'HEAD', path: '/' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    assert.match(head.headers['content-type'], /^text\/html/);
  });

  it('a folder without its slash is redirected; its index.html is served at the slash', async () => {
    const res = await get(srv, '/docs?x=1');
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, '/docs/?x=1');
    const docs = await get(srv, '/docs/');
    assert.equal(docs.status, 200);
    assert.equal(docs.text, '<p>docs</p>');
  });

  it('never shadows the API: /healthz, /v1/map and /v1/stats/* answer as routes, unknown /v1 paths 404', async () => {
    const health = await get(srv, '/healthz');
    assert.deepEqual(health.json, { status: 'ok' });
    const map = await get(srv, '/v1/map');
    assert.equal(map.json.id, 'default');
    const funnel = await get(srv, '/v1/stats/funnel');
    checkError(funnel, 401, 'unauthorized');
    checkError(await get(srv, '/v1/nothing-here'), 404, 'not_found');
  });

  it('missing, hidden and out-of-folder paths are 404', async () => {
    for (const p of ['/missing.html', '/.secret', '/%2e%2e/waymark.db', '/docs/../.secret', '/%2E%2E%2Fwaymark.db']) {
      const res = await get(srv, p);
      assert.equal(res.status, 404, `${p}: ${res.text}`);
      assert.notEqual(res.text, 'hidden');
    }
  });

  it('without --static, GET / is a 404', async () => {
    const plain = await startCollector();
    try {
      checkError(await get(plain, '/'), 404, 'not_found');
    } finally {
      await stopCollector(plain);
    }
  });
});
