// Projects keep sites apart on one collector: each owns its keys, map, events, profiles,
// identities, stats and webhooks. The config file's keys are project "default"'s; the server key
// creates projects (POST /v1/projects), whose keys are shown once and stored as hashes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  ADMIN,
  BACKEND,
  SITE_KEY,
  adminHeaders,
  get,
  makeEvent,
  makeTempDir,
  postBatch,
  request,
  runSql,
  startCollector,
  startReceiver,
  stopCollector,
  verifyRollups,
  waitFor,
} from './helpers.mjs';

const SERVER_KEY = 'SERVER-KEY-for-tests';
const SHOP_SECRET = 'whsec_shop_0123456789';
const DEFAULT_SECRET = 'whsec_default_0123456789';

let srv;
let shopHook; // the shop project's receiver
let defaultHook; // project default's receiver (the config's --webhook)
let shop; // POST /v1/projects answer

const createProject = (body, key = SERVER_KEY) =>
  request(srv, {
    method: 'POST',
    path: '/v1/projects',
    headers: { 'Content-Type': 'application/json', ...adminHeaders(key) },
    body: JSON.stringify(body),
  });
const as = (key, p) => get(srv, p, adminHeaders(key));

before(async () => {
  shopHook = await startReceiver({ secret: SHOP_SECRET });
  defaultHook = await startReceiver({ secret: DEFAULT_SECRET });
  srv = await startCollector({
    webhooks: [`crm,${defaultHook.url},${DEFAULT_SECRET}`],
    extraArgs: ['--server-key', SERVER_KEY],
  });
});

after(async () => {
  if (srv && !srv.exited) {
    const { code } = await stopCollector(srv);
    assert.equal(code, 0, srv.stderr);
  }
  await shopHook?.close();
  await defaultHook?.close();
});

describe('creating projects', () => {
  it('needs the server key', async () => {
    for (const key of [ADMIN, 'nope']) {
      const res = await createProject({ id: 'shop' }, key);
      assert.equal(res.status, 401, res.text);
    }
    assert.equal((await as(ADMIN, '/v1/projects')).status, 401);
  });

  it('refuses a bad id or webhook with the field named', async () => {
    const cases = [
      [{ id: 'Shop!' }, /^id: /],
      [{ id: '' }, /^id: /],
      [{ id: 'x'.repeat(65) }, /^id: /],
      [{ id: 'shop', webhooks: [{ id: 'crm', url: 'ftp://x', secret: SHOP_SECRET }] }, /^webhooks\[0\]\.url: /],
      [{ id: 'shop', webhooks: [{ id: 'crm', url: shopHook.url, secret: 'short' }] }, /^webhooks\[0\]\.secret: /],
      [{ id: 'shop', origins: 'https://shop.example' }, /^origins: /],
      // NUL bytes and nesting deeper than the body needs are refused, not stored.
      [{ id: 'shop', name: 'The\u0000shop' }, /^name: /],
      [{ id: 'shop', origins: ['https://shop.example\u0000.evil'] }, /^origins: /],
      [{ id: 'shop', webhooks: [{ id: 'crm', url: shopHook.url, secret: `${SHOP_SECRET}\u0000` }] }, /^webhooks\[0\]\.secret: /],
      [{ id: 'shop', origins: [[[[[[[[[['x']]]]]]]]]] }, /^body: /],
    ];
    for (const [body, message] of cases) {
      const res = await createProject(body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error.code, 'invalid_project');
      assert.match(res.json.error.message, message);
    }
  });

  it('answers the keys once, and stores only their hashes', async () => {
    const res = await createProject({
      id: 'shop',
      name: 'The shop',
      server_side: true,
      webhooks: [{ id: 'crm', url: shopHook.url, secret: SHOP_SECRET, triggers: ['became_lead'] }],
    });
    assert.equal(res.status, 201, res.text);
    shop = res.json;
    assert.equal(shop.id, 'shop');
    assert.match(shop.site_key, /^wm_site_[0-9a-f]{40}$/);
    assert.match(shop.admin_key, /^wm_admin_[0-9a-f]{40}$/);
    assert.ok(shop.map_version > 0);
    const stored = await runSql(srv, "SELECT key_hash || ' ' || kind FROM project_keys WHERE project_id = 'shop' ORDER BY kind");
    assert.doesNotMatch(stored, /wm_(site|admin)_/, 'no key in clear');
    assert.equal(stored.split('\n').length, 2);

    const again = await createProject({ id: 'shop' });
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.error.code, 'project_exists');

    const list = await as(SERVER_KEY, '/v1/projects');
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(
      list.json.projects.map((p) => [p.id, p.name]),
      [
        ['default', 'Default'],
        ['shop', 'The shop'],
      ],
    );
  });
});

describe('two projects, the same visitor and event ids', () => {
  const anon = 'anon-shared-between-sites';
  const eventId = 'ev-shared-between-sites-0001';
  const t0 = Date.now() - 60_000;

  before(async () => {
    // The same device id and the same event id on both sites, with different journeys.
    const onDefault = [makeEvent({ id: eventId, anonymous_id: anon, name: 'page_viewed', time: t0 })];
    const onShop = [
      makeEvent({ id: eventId, anonymous_id: anon, name: 'page_viewed', time: t0 }),
      makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: t0 + 1000 }),
      makeEvent({ anonymous_id: anon, name: 'lead_submitted', time: t0 + 2000 }),
    ];
    const a = await postBatch(srv, { sent_at: Date.now(), events: onDefault });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.accepted, 1, a.text);
    const b = await postBatch(srv, { sent_at: Date.now(), events: onShop }, { key: shop.site_key });
    assert.equal(b.status, 200, b.text);
    assert.equal(b.json.accepted, 3, `the shared id is no duplicate in another project: ${b.text}`);
    const again = await postBatch(srv, { sent_at: Date.now(), events: onShop.slice(0, 1) }, { key: shop.site_key });
    assert.equal(again.json.duplicates, 1, 'within a project an id is still a duplicate');
  });

  it('keeps two profiles, each with its own events', async () => {
    const mine = await as(ADMIN, `/v1/profiles/${anon}`);
    const theirs = await as(shop.admin_key, `/v1/profiles/${anon}`);
    assert.equal(mine.status, 200, mine.text);
    assert.equal(theirs.status, 200, theirs.text);
    assert.equal(mine.json.event_count, 1);
    assert.equal(theirs.json.event_count, 3);
    assert.notEqual(mine.json.stage, 'lead');
    assert.equal(theirs.json.stage, 'lead');
  });

  it('counts each project in its own reports and live tail', async () => {
    const events = async (key) => (await as(key, '/v1/stats/overview')).json.events_all_time;
    assert.equal(await events(ADMIN), 1);
    assert.equal(await events(shop.admin_key), 4 - 1); // the duplicate is not stored
    const funnel = await as(shop.admin_key, '/v1/stats/funnel');
    assert.equal(funnel.status, 200, funnel.text);
    const lead = funnel.json.stages.find((s) => s.id === 'lead');
    assert.equal(lead.reached, 1, funnel.text);
    const mineTail = await as(ADMIN, '/v1/events/recent?limit=100');
    const theirTail = await as(shop.admin_key, '/v1/events/recent?limit=100');
    assert.ok(mineTail.json.events.every((e) => e.name === 'page_viewed'), mineTail.text);
    assert.equal(theirTail.json.events.length, 3, theirTail.text);
  });

  it('lets no key cross into the other project', async () => {
    // Only the shop has a visitor who reached lead with pricing: the default admin cannot see
    // the shop's journey, and the shop's admin cannot see a default-only visitor.
    const onlyDefault = 'anon-only-on-default';
    const res = await postBatch(srv, { sent_at: Date.now(), events: [makeEvent({ anonymous_id: onlyDefault })] });
    assert.equal(res.json.accepted, 1);
    assert.equal((await as(shop.admin_key, `/v1/profiles/${onlyDefault}`)).status, 404);
    assert.equal((await as(shop.admin_key, `/v1/profiles/${onlyDefault}/context`)).status, 404);
    assert.equal((await as(ADMIN, `/v1/profiles/${onlyDefault}`)).status, 200);
    // A site key is no admin key, an admin key no site key, and a key of a project never
    // reaches the other's data.
    assert.equal((await as(shop.site_key, '/v1/stats/overview')).status, 401);
    assert.equal((await as(SERVER_KEY, '/v1/stats/overview')).status, 401);
    const asSite = await postBatch(srv, { sent_at: Date.now(), events: [makeEvent()] }, { key: shop.admin_key });
    assert.equal(asSite.status, 401, asSite.text);
    // A made-up key of the generated form is refused like any other.
    const forged = `wm_admin_${'0'.repeat(40)}`;
    assert.equal((await as(forged, '/v1/stats/overview')).status, 401);
  });

  it("sends each project's webhooks to its own endpoints, signed with its secret", async () => {
    await waitFor(() => shopHook.deliveries.length >= 1, { what: "the shop's became_lead delivery" });
    const delivery = shopHook.deliveries[0];
    assert.equal(delivery.validSignature, true);
    assert.equal(delivery.body.trigger, 'became_lead');
    assert.equal(delivery.body.profile_id, `a:${anon}`);
    // The default project's endpoint hears nothing of the shop's visitor.
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(
      defaultHook.deliveries.filter((d) => d.body?.profile_id === `a:${anon}`).length,
      0,
      JSON.stringify(defaultHook.deliveries.map((d) => d.body)),
    );
    assert.equal(shopHook.deliveries.length, 1);
  });
});

describe("each project's map", () => {
  it('is published by its admin and served for its site key', async () => {
    const before = await get(srv, `/v1/map?key=${shop.site_key}`);
    assert.equal(before.status, 200, before.text);
    const map = before.json;
    map.version = (map.version ?? 1) + 1;
    map.id = 'shop-map';
    const put = await request(srv, {
      method: 'PUT',
      path: '/v1/map',
      headers: { 'Content-Type': 'application/json', ...adminHeaders(shop.admin_key) },
      body: JSON.stringify(map),
    });
    assert.equal(put.status, 200, put.text);
    assert.equal((await get(srv, `/v1/map?key=${shop.site_key}`)).json.id, 'shop-map');
    assert.notEqual((await get(srv, `/v1/map?key=${SITE_KEY}`)).json.id, 'shop-map');
    assert.notEqual((await get(srv, '/v1/map')).json.id, 'shop-map', 'without a key: project default');
    assert.equal((await as(shop.admin_key, '/v1/map')).json.id, 'shop-map', "the dashboard's: the admin key's project");
    assert.equal((await as('wm_admin_unknown', '/v1/map')).status, 401);
    // A proxy's own credentials are no key: project default's map, as without a header.
    const proxied = await get(srv, '/v1/map', { Authorization: 'Basic dXNlcjpwYXNz' });
    assert.equal(proxied.status, 200, proxied.text);
    assert.notEqual(proxied.json.id, 'shop-map');
    const unknown = await get(srv, '/v1/map?key=wm_site_nothing');
    assert.equal(unknown.status, 401, unknown.text);
    const versions = await as(shop.admin_key, '/v1/map/versions');
    assert.ok(versions.json.versions.every((v) => v.version !== undefined));
    const defaultVersions = (await as(ADMIN, '/v1/map/versions')).json.versions.map((v) => v.version);
    for (const v of versions.json.versions) assert.ok(!defaultVersions.includes(v.version));
    assert.equal((await as(ADMIN, `/v1/map/versions/${versions.json.versions[0].version}`)).status, 404);
  });

  it('keeps the rollups equal to a recount, per project', async () => {
    await waitFor(async () => (await as(shop.admin_key, '/v1/stats/overview')).json.reprojection?.done === true, {
      what: "the shop's re-projection",
    });
    const check = await verifyRollups(srv);
    assert.equal(check.code, 0, check.out);
  });
});

describe('after a restart', () => {
  it('still knows the stored keys, maps and journeys', async () => {
    const { code } = await stopCollector(srv);
    assert.equal(code, 0, srv.stderr);
    srv = await startCollector({
      dir: srv.dir,
      webhooks: [`crm,${defaultHook.url},${DEFAULT_SECRET}`],
      extraArgs: ['--server-key', SERVER_KEY],
    });
    assert.equal((await get(srv, `/v1/map?key=${shop.site_key}`)).json.id, 'shop-map');
    const profile = await as(shop.admin_key, '/v1/profiles/anon-shared-between-sites');
    assert.equal(profile.status, 200, profile.text);
    assert.equal(profile.json.event_count, 3);
    const res = await postBatch(srv, { sent_at: Date.now(), events: [makeEvent({ anonymous_id: 'after-restart' })] }, { key: shop.site_key });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.accepted, 1);
  });
});

describe("one project's re-projection", () => {
  it("switches its reports when its own journeys are done, not when another project's are", async () => {
    const local = await startCollector({ extraArgs: ['--server-key', SERVER_KEY, '--advance-interval', '0'] });
    try {
      const created = await request(local, {
        method: 'POST',
        path: '/v1/projects',
        headers: { 'Content-Type': 'application/json', ...adminHeaders(SERVER_KEY) },
        body: JSON.stringify({ id: 'aaa', server_side: true }),
      });
      assert.equal(created.status, 201, created.text);
      const small = created.json;
      assert.equal((await postBatch(local, { sent_at: Date.now(), events: [makeEvent({ anonymous_id: 'only-one' })] }, { key: small.site_key })).json.accepted, 1);
      for (let i = 0; i < 6000; i += 200) {
        const events = Array.from({ length: 200 }, (_, k) => makeEvent({ anonymous_id: `big-${i + k}` }));
        assert.equal((await postBatch(local, { sent_at: Date.now(), events })).status, 200);
      }
      await waitFor(async () => (await get(local, '/v1/stats/overview', adminHeaders(ADMIN))).json.reprojection.done === true, { timeoutMs: 60000, what: 'the first projection' });
      const publish = async (key) => {
        const map = (await get(local, `/v1/map?key=${key === ADMIN ? SITE_KEY : small.site_key}`)).json;
        map.version += 1;
        const res = await request(local, { method: 'PUT', path: '/v1/map', headers: { 'Content-Type': 'application/json', ...adminHeaders(key) }, body: JSON.stringify(map) });
        assert.equal(res.status, 200, res.text);
      };
      await publish(ADMIN); // 6 000 journeys to replay in the background
      await publish(small.admin_key); // one
      // A new event of the small project's visitor makes its replay urgent: it goes before the
      // background ones, so the small project is done long before the big one.
      assert.equal((await postBatch(local, { sent_at: Date.now(), events: [makeEvent({ anonymous_id: 'only-one' })] }, { key: small.site_key })).json.accepted, 1);
      let bigLeft = null;
      await waitFor(
        async () => {
          const [held, left] = (await runSql(local, "SELECT (SELECT COUNT(*) FROM projects WHERE project_id = 'aaa' AND reports_version IS NOT NULL), (SELECT COUNT(*) FROM dirty_profiles WHERE project_id = 'default')")).split('|').map(Number);
          bigLeft = left;
          return held === 0;
        },
        { timeoutMs: 60000, intervalMs: 5, what: "the small project's switch" },
      );
      assert.ok(bigLeft > 0, `the small project switched only once the big one was done (${bigLeft} left)`);
      assert.equal((await get(local, '/v1/stats/overview', adminHeaders(small.admin_key))).json.reprojection.done, true);
    } finally {
      const { code } = await stopCollector(local);
      assert.equal(code, 0, local.stderr);
    }
  });
});

describe('two collectors, two projects', { skip: BACKEND === 'postgres' ? false : 'several collectors need PostgreSQL' }, () => {
  it('never deadlock when one commit holds devices of both projects', async () => {
    const dir = makeTempDir('projects-locks');
    const a = await startCollector({ dir, extraArgs: ['--server-key', SERVER_KEY] });
    const b = await startCollector({ dir, extraArgs: ['--server-key', SERVER_KEY] });
    try {
      const keys = {};
      for (const id of ['p1', 'p2']) {
        const r = await request(a, { method: 'POST', path: '/v1/projects', headers: { 'Content-Type': 'application/json', ...adminHeaders(SERVER_KEY) }, body: JSON.stringify({ id, server_side: true }) });
        assert.equal(r.status, 201, r.text);
        keys[id] = r.json.site_key;
      }
      // Two devices in different lock buckets (storage/device_locks.cpp), each sent to both
      // projects by both collectors in opposite pairings: a commit of one collector then holds one
      // device in p1 and the other in p2, the other collector's the reverse.
      const bucket = async (d) => runSql(a, `SELECT hashtextextended('${d}', 7411) & 255`);
      const x = 'lock-x';
      let y = 'lock-y0';
      for (let i = 1; (await bucket(x)) === (await bucket(y)); i++) y = `lock-y${i}`;
      const failures = [];
      const send = async (srv, project, device) => {
        const events = Array.from({ length: 20 }, () => makeEvent({ anonymous_id: device }));
        const res = await postBatch(srv, { sent_at: Date.now(), events }, { key: keys[project] });
        if (res.status !== 200) failures.push(res.text);
      };
      const until = Date.now() + 5000;
      while (Date.now() < until) {
        const round = [];
        for (let k = 0; k < 8; k++) round.push(send(a, 'p1', x), send(a, 'p2', y), send(b, 'p1', y), send(b, 'p2', x));
        await Promise.all(round);
      }
      assert.deepEqual(failures.slice(0, 3), []);
    } finally {
      for (const srv of [a, b]) await stopCollector(srv);
    }
  });
});
