// Reports read rollups kept at ingest and projection (server_stub/storage/rollups.h). What the
// collector keeps must equal a recount of its stored rows after everything it does: late events
// (full replays), identity merges, events sent without the engine, content impressions,
// conversions, a new map version. Every report takes a date range. A database made before the
// rollups existed is recounted when the collector starts on it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import {
  BIN,
  ROOT,
  adminGet,
  anonId,
  makeEvent,
  postBatch,
  putMap,
  runSql,
  startCollector,
  stopCollector,
  verifyRollups,
  waitFor,
} from './helpers.mjs';

const DAY = 24 * 60 * 60 * 1000;
const DEFAULT_MAP = JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8'));
const REPORTS = ['overview', 'funnel', 'transitions', 'time-in-stage', 'attribution', 'content-gaps', 'channels', 'paths', 'webhooks'];
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

async function send(srv, events) {
  for (let i = 0; i < events.length; i += 200) {
    const res = await postBatch(srv, { sent_at: Date.now(), events: events.slice(i, i + 200) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.rejected, 0, res.text);
  }
}

// A day's worth of visitors: a landing from a channel, content shown, some leads and orders.
function visitors(count, { start, tag }) {
  const events = [];
  const referrers = ['https://www.google.com/', 'https://news.example.org/', undefined];
  for (let v = 0; v < count; v++) {
    const anon = anonId(tag);
    let t = start + v * 1000;
    const next = (fields) => {
      t += 60000;
      events.push(makeEvent({ anonymous_id: anon, time: t, ...fields }));
    };
    // Every fifth arrives from the spring newsletter.
    const campaign = v % 5 === 0 ? { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'spring' } : undefined;
    next({ name: 'page_viewed', context: { url: 'https://allowed.example/', path: '/', referrer: referrers[v % 3], campaign } });
    next({ name: 'content_shown', properties: { slot: 'hero', variant: v % 2 ? 'hero_default' : 'hero_engaged' } });
    next({ name: 'pricing_viewed' });
    if (v % 3 === 0) next({ name: 'lead_submitted' });
    if (v % 4 === 0) next({ name: 'order_completed' });
  }
  return events;
}

describe('rollups equal a recount after everything a collector does', () => {
  let srv;
  const now = Date.now();
  const recent = visitors(24, { start: now - 3 * DAY, tag: 'recent' });
  const old = visitors(6, { start: now - 40 * DAY, tag: 'old' });
  before(async () => {
    srv = await startCollector();
  });
  after(async () => {
    if (srv) await stopCollector(srv);
  });

  it('counts by event time: a backfill of 40 days ago is outside the default 30 days and the last 24 h', async () => {
    await send(srv, recent);
    await send(srv, old);
    const overview = (await adminGet(srv, '/v1/stats/overview')).json;
    assert.equal(overview.events, recent.length);
    assert.equal(overview.events_all_time, recent.length + old.length);
    assert.equal(overview.events_last_24h, 0);
    assert.equal(overview.profiles, 24, 'visitors first seen in the range');
    assert.equal(overview.range.days, 30);
    const wide = (await adminGet(srv, `/v1/stats/overview?from=${isoDay(now - 45 * DAY)}`)).json;
    assert.equal(wide.events, recent.length + old.length);
    assert.equal(wide.profiles, 30);
    const funnel = (await adminGet(srv, `/v1/stats/funnel?from=${isoDay(now - 45 * DAY)}&to=${isoDay(now - 35 * DAY)}`)).json;
    assert.equal(funnel.total_profiles, 6, 'only the visitors who arrived 40 days ago');
    assert.deepEqual(funnel.range, { from: isoDay(now - 45 * DAY), to: isoDay(now - 35 * DAY), days: 11 });
  });

  it('late events, merges and engine-less events change journeys; the rollups follow', async () => {
    // Events older than what was projected: full replays.
    const late = recent.slice(0, 40).filter((e) => e.name === 'page_viewed').map((e) =>
      makeEvent({ anonymous_id: e.anonymous_id, name: 'demo_requested', time: e.time - 30 * 60000 }));
    // Two devices of one user: their journeys merge into the user's.
    const user = `u-${anonId('user')}`;
    const [d1, d2] = [recent[0].anonymous_id, recent[8].anonymous_id];
    const merges = [
      makeEvent({ anonymous_id: d1, user_id: user, name: 'user_identified', type: 'identify', time: now - DAY }),
      makeEvent({ anonymous_id: d2, user_id: user, name: 'user_identified', type: 'identify', time: now - DAY + 1000 }),
    ];
    // A browser without the engine: the collector applies the sync filter.
    const bare = anonId('bare');
    const engineless = [
      makeEvent({ anonymous_id: bare, name: 'page_viewed', time: now - 2 * DAY, unfiltered: true }),
      makeEvent({ anonymous_id: bare, name: 'content_shown', time: now - 2 * DAY + 1000, properties: { slot: 'cta', variant: 'cta_default' }, unfiltered: true }),
    ];
    // An impression whose slot holds a NUL character counts nowhere (and stalls nothing).
    const nul = makeEvent({ anonymous_id: recent[4].anonymous_id, name: 'content_shown', time: now - DAY, properties: { slot: 'he\u0000ro', variant: 'x' } });
    // Nor one whose slot and variant are too long to be a rollup key (PostgreSQL's index limit).
    const long = makeEvent({ anonymous_id: recent[5].anonymous_id, name: 'content_shown', time: now - DAY, properties: { slot: 'é'.repeat(201), variant: 'v'.repeat(2000) } });
    await send(srv, [...late, ...merges, ...engineless, nul, long]);
    const profile = await adminGet(srv, `/v1/profiles/${encodeURIComponent(d2)}`);
    assert.equal(profile.status, 200, profile.text);
    assert.equal(profile.json.user_id, user);
    const gaps = (await adminGet(srv, '/v1/stats/content-gaps')).json;
    const shown = gaps.stages.reduce((n, s) => n + s.shown.total, 0);
    assert.equal(shown, recent.filter((e) => e.name === 'content_shown').length + 1);
    // One conversion per entry into the conversion stage that has a channel to credit (a merged
    // user who ordered on both devices converted once; a visitor with no referrer or campaign
    // has nothing to attribute), on the day it happened.
    const attribution = (await adminGet(srv, '/v1/stats/attribution')).json;
    const transitions = (await adminGet(srv, '/v1/stats/transitions')).json;
    const entries = transitions.edges.filter((e) => e.to === 'customer').reduce((n, e) => n + e.count, 0);
    assert.ok(attribution.conversions > 0 && attribution.conversions <= entries, `${attribution.conversions} of ${entries}`);
    for (const model of attribution.models) {
      const total = model.channels.reduce((n, c) => n + c.credit, 0);
      assert.ok(Math.abs(total - attribution.conversions) < 1e-4, `${model.model}: credits ${total} for ${attribution.conversions} conversions`);
    }
  });

  it('a new map version replays every journey in the background; reports switch to it', async () => {
    const map = structuredClone(DEFAULT_MAP);
    map.version = (DEFAULT_MAP.version ?? 1) + 1;
    map.transitions.find((t) => t.id === 'engage').when = { event: 'demo_requested' };
    const put = await putMap(srv, map);
    assert.equal(put.status, 200, put.text);
    await waitFor(async () => (await adminGet(srv, '/v1/stats/overview')).json.reprojection.done, { timeoutMs: 20000, what: 're-projection' });
    const funnel = (await adminGet(srv, `/v1/stats/funnel?from=${isoDay(now - 45 * DAY)}`)).json;
    const engaged = funnel.stages.find((s) => s.id === 'engaged');
    const demos = new Set(recent.filter((e, i) => i < 40 && e.name === 'page_viewed').map((e) => e.anonymous_id));
    assert.ok(engaged.reached <= demos.size, `only visitors with a demo request are engaged now: ${engaged.reached}`);
  });

  it('what the collector kept equals a recount (waymark-collector rollups verify)', async () => {
    await stopCollector(srv);
    const verified = await verifyRollups(srv);
    assert.equal(verified.code, 0, verified.out);
    assert.match(verified.out, /agree with a recount/);
    srv = await startCollector({ dir: srv.dir });
  });

  it('a hand edit is found, and rollups rebuild repairs it', async () => {
    await stopCollector(srv);
    await runSql(srv, 'UPDATE rollup_cohorts SET profiles = profiles + 7');
    const broken = await verifyRollups(srv);
    assert.equal(broken.code, 1, broken.out);
    assert.match(broken.out, /rollup_cohorts \(/);
    await promisify(execFile)(BIN, ['rollups', 'rebuild', '--db', srv.db]);
    assert.equal((await verifyRollups(srv)).code, 0);
    srv = await startCollector({ dir: srv.dir });
  });
});

describe('date ranges on every report', () => {
  let srv;
  before(async () => {
    srv = await startCollector();
  });
  after(async () => {
    if (srv) await stopCollector(srv);
  });

  it('refuses what is not a date or a range with 400 invalid_range', async () => {
    const cases = [
      ['from=2026-02-30', 'from: expected a date YYYY-MM-DD (UTC, from 1970-01-01)'],
      ['to=yesterday', 'to: expected a date YYYY-MM-DD (UTC, from 1970-01-01)'],
      ['from=2026-03-02&to=2026-03-01', 'from: after to'],
      ['from=1970-01-01&to=2026-01-01', 'from: the range is longer than 7320 days'],
    ];
    for (const report of REPORTS) {
      for (const [query, message] of cases) {
        const res = await adminGet(srv, `/v1/stats/${report}?${query}`);
        assert.equal(res.status, 400, `${report}?${query}: ${res.text}`);
        assert.equal(res.json.error.code, 'invalid_range');
        assert.equal(res.json.error.message, message);
      }
    }
  });

  it('counts each day once: ranges that split the data add up', async () => {
    const now = Date.now();
    const events = [...visitors(5, { start: now - 10 * DAY, tag: 'ten' }), ...visitors(7, { start: now - 3 * DAY, tag: 'three' })];
    await send(srv, events);
    const mid = isoDay(now - 6 * DAY);
    const before6 = (await adminGet(srv, `/v1/stats/funnel?to=${mid}`)).json;
    const after6 = (await adminGet(srv, `/v1/stats/funnel?from=${isoDay(now - 5 * DAY)}`)).json;
    const all = (await adminGet(srv, '/v1/stats/funnel')).json;
    assert.equal(before6.total_profiles, 5);
    assert.equal(after6.total_profiles, 7);
    assert.equal(all.total_profiles, 12);
    for (const stage of all.stages) {
      const part = (f) => f.stages.find((s) => s.id === stage.id).reached;
      assert.equal(part(before6) + part(after6), stage.reached, stage.id);
    }
    for (const report of REPORTS) {
      const res = await adminGet(srv, `/v1/stats/${report}?from=${isoDay(now - 5 * DAY)}&to=${isoDay(now)}`);
      assert.equal(res.status, 200, `${report}: ${res.text}`);
      assert.equal(res.json.range.days, 6, report);
    }
  });

  it('channels: where the visitors of the range came from (their first touch), and how many converted', async () => {
    const now = Date.now();
    const body = (await adminGet(srv, '/v1/stats/channels')).json;
    const sum = (rows, key) => rows.reduce((n, r) => n + r[key], 0);
    assert.equal(sum(body.campaigns, 'visitors'), 12);
    assert.equal(sum(body.channels, 'visitors'), 12);
    // v % 5 === 0 of 5 and of 7 visitors: 3 from the newsletter, classified as Email.
    const spring = body.campaigns.filter((r) => r.campaign === 'spring');
    assert.deepEqual(spring.map((r) => [r.channel, r.visitors]), [['Email', 3]]);
    const organic = body.channels.find((r) => r.channel === 'Organic Search');
    assert.ok(organic && organic.visitors > 0, JSON.stringify(body.channels));
    // Orders (v % 4 === 0) convert: v = 0, 4 of 5 and v = 0, 4 of 7.
    assert.equal(sum(body.channels, 'converted'), 4);
    for (const r of body.channels) assert.equal(r.conversion_rate, Math.round((r.converted / r.visitors) * 1e4) / 1e4);
    const older = (await adminGet(srv, `/v1/stats/channels?to=${isoDay(now - 6 * DAY)}`)).json;
    assert.equal(sum(older.channels, 'visitors'), 5);
  });

  it('breakdowns and filters: the funnel and paths per source, device, stage... as seeded', async () => {
    // visitors(): v % 5 === 0 from the newsletter (utm_source), else by referrer v % 3: Google,
    // news.example.org, none. 5 visitors ten days ago and 7 three days ago.
    // A visit with neither a referrer nor a campaign has no first touch: value "".
    const expected = { newsletter: 0, 'google.com': 0, 'news.example.org': 0, '': 0 };
    for (const n of [5, 7]) {
      for (let v = 0; v < n; v++) {
        if (v % 5 === 0) expected.newsletter++;
        else expected[['google.com', 'news.example.org', ''][v % 3]]++;
      }
    }
    const res = await adminGet(srv, '/v1/stats/funnel?breakdown=source');
    assert.equal(res.status, 200, res.text);
    const bySource = Object.fromEntries(res.json.breakdown.values.map((v) => [v.value, v.total_profiles]));
    assert.deepEqual(bySource, expected);
    assert.equal(res.json.breakdown.distinct_values, 4);
    // Each value's funnel is the filtered funnel; together they make the whole.
    const whole = (await adminGet(srv, '/v1/stats/funnel')).json;
    const summed = {};
    for (const value of Object.keys(expected)) {
      const filtered = (await adminGet(srv, `/v1/stats/funnel?filter=${encodeURIComponent(`source:${value}`)}`)).json;
      assert.equal(filtered.total_profiles, expected[value], value);
      const fromBreakdown = res.json.breakdown.values.find((v) => v.value === value);
      for (const stage of filtered.stages) {
        assert.equal(stage.progressed, fromBreakdown.stages.find((st) => st.id === stage.id).progressed, `${value} ${stage.id}`);
        summed[stage.id] = (summed[stage.id] || 0) + stage.progressed;
      }
    }
    for (const stage of whole.stages) assert.equal(summed[stage.id], stage.progressed, stage.id);
    // Batches without a User-Agent come from "other" devices; medium as GA4 reads it.
    const byDevice = (await adminGet(srv, '/v1/stats/funnel?breakdown=device')).json.breakdown.values;
    assert.deepEqual(byDevice.map((v) => [v.value, v.total_profiles]), [['other', 12]]);
    const organic = (await adminGet(srv, '/v1/stats/funnel?filter=medium:organic')).json;
    assert.equal(organic.total_profiles, expected['google.com']);
    // Paths: every listed path's visitors split over the values.
    const paths = (await adminGet(srv, '/v1/stats/paths?breakdown=source&values=10')).json;
    for (const path of paths.paths) {
      assert.equal(path.by_value.reduce((n, v) => n + v.visitors, 0), path.visitors, JSON.stringify(path));
    }
    const filteredPaths = (await adminGet(srv, '/v1/stats/paths?filter=source:newsletter')).json;
    assert.equal(filteredPaths.profiles, expected.newsletter);
    assert.deepEqual(filteredPaths.segment, { dimension: 'source', value: 'newsletter' });
    for (const [query, message] of [
      ['funnel?breakdown=country', 'breakdown: expected one of channel, source, medium, campaign, landing, device, identified, stage'],
      ['funnel?filter=source', 'filter: expected dimension:value with a dimension among channel, source, medium, campaign, landing, device, identified, stage'],
      ['funnel?breakdown=source&filter=device:mobile', 'breakdown and filter: one at a time (segments are kept per dimension, not per pair)'],
      ['time-in-stage?breakdown=source', 'breakdown: the funnel, paths, attribution and content-gaps reports take one, not time-in-stage'],
      ['funnel?breakdown=source&values=0', 'values: expected an integer from 1 to 50'],
    ]) {
      const bad = await adminGet(srv, `/v1/stats/${query}`);
      assert.equal(bad.status, 400, query);
      assert.equal(bad.json.error.code, 'invalid_segment');
      assert.equal(bad.json.error.message, message);
    }
  });

  it('content gaps per source: each segment\'s visitors, impressions and onward add up to the whole', async () => {
    // visitors(): each was shown the hero once in awareness, then viewed pricing (engaged): all
    // went further than awareness.
    const whole = (await adminGet(srv, '/v1/stats/content-gaps')).json;
    const split = await adminGet(srv, '/v1/stats/content-gaps?breakdown=source&values=10');
    assert.equal(split.status, 200, split.text);
    assert.equal(split.json.breakdown.dimension, 'source');
    const values = split.json.breakdown.values.map((v) => v.value).sort();
    assert.deepEqual(values, ['', 'google.com', 'news.example.org', 'newsletter']);
    const sums = { visitors: 0, shown: 0, exposed: 0, onward: 0, total: 0 };
    for (const value of values) {
      const one = (await adminGet(srv, `/v1/stats/content-gaps?filter=${encodeURIComponent(`source:${value}`)}`)).json;
      assert.deepEqual(one.segment, { dimension: 'source', value });
      const awareness = one.stages.find((st) => st.id === 'awareness');
      const listed = split.json.breakdown.values.find((v) => v.value === value);
      assert.equal(listed.total_profiles, one.total_profiles, value);
      assert.equal(listed.stages.find((st) => st.id === 'awareness').visitors, awareness.visitors, value);
      assert.equal(awareness.visitors, one.total_profiles, value);
      assert.equal(awareness.onward, awareness.visitors, `${value}: every one went on to engaged`);
      assert.equal(awareness.current, null, 'not kept per segment');
      sums.visitors += awareness.visitors;
      sums.shown += awareness.shown.total;
      sums.exposed += awareness.variants_onward.reduce((n, v) => n + v.visitors, 0);
      sums.onward += awareness.variants_onward.reduce((n, v) => n + v.onward, 0);
      sums.total += one.total_profiles;
    }
    const awareness = whole.stages.find((st) => st.id === 'awareness');
    assert.equal(sums.total, whole.total_profiles);
    assert.equal(sums.visitors, awareness.visitors);
    assert.equal(sums.shown, awareness.shown.total);
    assert.equal(sums.exposed, awareness.variants_onward.reduce((n, v) => n + v.visitors, 0));
    assert.equal(sums.onward, sums.exposed);
    // hero_engaged to even v, hero_default to odd v, of the 12 seeded visitors.
    let engaged = 0;
    for (const n of [5, 7]) for (let v = 0; v < n; v += 2) engaged++;
    const shownEngaged = awareness.variants_onward.find((v) => v.variant === 'hero_engaged');
    assert.equal(shownEngaged.visitors, engaged, JSON.stringify(awareness.variants_onward));
    assert.equal(shownEngaged.without.visitors, 12 - engaged);
    // The breakdown as CSV: a row per value and stage.
    const csv = await adminGet(srv, '/v1/stats/content-gaps?breakdown=source&values=10&format=csv&table=breakdown');
    assert.equal(csv.status, 200, csv.text);
    const lines = csv.text.trim().split('\r\n');
    assert.match(lines[0], /^dimension,value,id,name,/);
    assert.equal(lines.length - 1, values.length * DEFAULT_MAP.stages.length);
    const noBreakdown = await adminGet(srv, '/v1/stats/content-gaps?format=csv&table=breakdown');
    assert.equal(noBreakdown.status, 400);
    assert.equal(noBreakdown.json.error.message, 'table: breakdown needs a breakdown=<dimension>');
  });

  it('attribution by source and by campaign, and for one segment, over the same conversions', async () => {
    // Orders: v = 0 and 4 of both groups. v = 0 landed from the newsletter (spring), v = 4 from
    // news.example.org (no campaign): one landing each, so every model credits it whole.
    const bySource = (await adminGet(srv, '/v1/stats/attribution?by=source')).json;
    assert.equal(bySource.by, 'source');
    assert.equal(bySource.conversions, 4);
    for (const model of bySource.models) {
      assert.deepEqual(Object.fromEntries(model.values.map((v) => [v.value, v.credit])), { newsletter: 2, 'news.example.org': 2 }, model.model);
      assert.equal(model.channels, undefined);
    }
    const byCampaign = (await adminGet(srv, '/v1/stats/attribution?by=campaign')).json;
    for (const model of byCampaign.models) {
      assert.deepEqual(Object.fromEntries(model.values.map((v) => [v.value, v.credit])), { spring: 2, '': 2 }, model.model);
    }
    // By channel as before; per trigger: "converted" fired on each of these first orders.
    const byChannel = (await adminGet(srv, '/v1/stats/attribution')).json;
    assert.deepEqual(byChannel.models[0].channels.map((c) => c.channel).sort(), ['Email', 'Referral']);
    assert.ok(byChannel.triggers.includes('converted'), JSON.stringify(byChannel.triggers));
    const converted = (await adminGet(srv, '/v1/stats/attribution?trigger=converted')).json;
    assert.equal(converted.trigger, 'converted');
    assert.equal(converted.conversions, 4);
    assert.deepEqual(converted.models, byChannel.models);
    assert.equal((await adminGet(srv, '/v1/stats/attribution?trigger=became_lead')).json.conversions, 0);
    // Narrowed to the journeys that arrived from the newsletter: their two orders, all Email.
    const newsletter = (await adminGet(srv, '/v1/stats/attribution?filter=source:newsletter')).json;
    assert.equal(newsletter.conversions, 2);
    assert.deepEqual(newsletter.segment, { dimension: 'source', value: 'newsletter' });
    for (const model of newsletter.models) assert.deepEqual(model.channels.map((c) => [c.channel, c.credit]), [['Email', 2]], model.model);
    assert.equal((await adminGet(srv, '/v1/stats/attribution?filter=device:mobile')).json.conversions, 0);
    // Broken down by the converting journeys' source: each value's attribution.
    const split = (await adminGet(srv, '/v1/stats/attribution?breakdown=source')).json.breakdown;
    assert.deepEqual(split.values.map((v) => [v.value, v.conversions]).sort(), [['news.example.org', 2], ['newsletter', 2]]);
    assert.deepEqual(split.values.find((v) => v.value === 'newsletter').models[0].channels.map((c) => c.channel), ['Email']);
    const csv = await adminGet(srv, '/v1/stats/attribution?by=campaign&format=csv');
    assert.match(csv.text, /^model,campaign,credit,share\r\n/);
    for (const [query, code, message] of [
      ['by=country', 'invalid_by', 'by: expected channel, source or campaign'],
      ['trigger=nope', 'invalid_trigger', 'trigger: no trigger "nope" in the map'],
      ['trigger=converted&by=source', 'invalid_trigger', 'trigger: by channel only, without stage or filter (credits are kept per trigger by channel)'],
      ['filter=stage:customer', 'invalid_segment', 'filter: expected dimension:value with a dimension among channel, source, medium, campaign, landing, device'],
      ['filter=source:newsletter&by=source', 'invalid_segment', 'filter: attribution by source, campaign or trigger is not kept per segment (by=channel)'],
      ['breakdown=stage', 'invalid_segment', 'breakdown: expected one of channel, source, medium, campaign, landing, device'],
    ]) {
      const bad = await adminGet(srv, `/v1/stats/attribution?${query}`);
      assert.equal(bad.status, 400, query);
      assert.deepEqual(bad.json.error, { code, message });
    }
    const verified = await verifyRollups(srv);
    assert.equal(verified.code, 0, verified.out);
  });

  it('a funnel of chosen steps: events and stages in order, within the window', async () => {
    // visitors(): page_viewed, content_shown, pricing_viewed, then a lead every third, an order
    // every fourth, a minute apart. 12 visitors; leads v = 0, 3 of 5 and 0, 3, 6 of 7.
    const res = await adminGet(srv, '/v1/stats/funnel-steps?steps=event:page_viewed,event:pricing_viewed,stage:lead&window=1h');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.steps.map((st) => st.entered), [12, 12, 5]);
    assert.equal(res.json.steps[1].median_ms_from_previous, 120000);
    assert.equal(res.json.profiles, 12);
    assert.equal(res.json.sampled, false);
    assert.equal(res.json.time_to_convert.profiles, 5);
    // Within 2 minutes of the first page, nobody has reached the lead step (3 minutes in).
    const tight = (await adminGet(srv, '/v1/stats/funnel-steps?steps=event:page_viewed,event:pricing_viewed,stage:lead&window=2m')).json;
    assert.deepEqual(tight.steps.map((st) => st.entered), [12, 12, 0]);
    assert.equal(tight.steps[2].dropped.length, 12);
    const csv = await adminGet(srv, '/v1/stats/funnel-steps?steps=event:page_viewed,stage:lead&format=csv');
    assert.equal(csv.status, 200, csv.text);
    assert.match(csv.text, /^name,conversion_from_first,/);
    for (const [query, code, message] of [
      ['steps=stage:lead', 'invalid_steps', 'steps: at least 2 steps'],
      ['steps=stage:lead,stage:nowhere', 'invalid_steps', 'steps[1]: no stage "nowhere" in the map'],
      ['steps=stage:lead,page:x', 'invalid_steps', 'steps[1]: expected stage:<id> or event:<name>'],
      ['steps=stage:lead,stage:trial&window=400d', 'invalid_window', 'window: expected a duration from 1ms to 366d (30m, 12h, 7d...)'],
      ['steps=stage:lead,stage:trial&window=soon', 'invalid_window', 'window: expected a duration from 1ms to 366d (30m, 12h, 7d...)'],
    ]) {
      const bad = await adminGet(srv, `/v1/stats/funnel-steps?${query}`);
      assert.equal(bad.status, 400, query);
      assert.deepEqual(bad.json.error, { code, message }, query);
    }
  });

  it('every report exports its table as CSV (format=csv): the JSON\'s numbers, named by range', async () => {
    const now = Date.now();
    const range = `from=${isoDay(now - 5 * DAY)}&to=${isoDay(now)}`;
    const rowsOf = (text) => text.trimEnd().split('\r\n').map((line) => line.split(','));
    const funnel = (await adminGet(srv, `/v1/stats/funnel?${range}`)).json;
    const res = await adminGet(srv, `/v1/stats/funnel?${range}&format=csv`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8');
    assert.equal(res.headers['content-disposition'], `attachment; filename="waymark-default-funnel-${isoDay(now - 5 * DAY)}-to-${isoDay(now)}.csv"`);
    const [head, ...rows] = rowsOf(res.text);
    assert.deepEqual(head.slice(0, 3), ['group', 'id', 'name']);
    const main = rows.filter((r) => r[0] === 'main');
    assert.deepEqual(main.map((r) => r[1]), funnel.stages.map((s) => s.id));
    for (const stage of funnel.stages) {
      const row = main.find((r) => r[1] === stage.id);
      assert.equal(Number(row[head.indexOf('progressed')]), stage.progressed, stage.id);
      assert.equal(Number(row[head.indexOf('reached')]), stage.reached, stage.id);
    }
    assert.equal(rows.filter((r) => r[0] === 'side').length, funnel.side_stages.length);

    const campaigns = rowsOf((await adminGet(srv, '/v1/stats/channels?format=csv')).text);
    assert.deepEqual(campaigns[0], ['channel', 'campaign', 'conversion_rate', 'converted', 'visitors']);
    const perChannel = rowsOf((await adminGet(srv, '/v1/stats/channels?format=csv&table=channels')).text);
    assert.equal(perChannel.slice(1).reduce((n, r) => n + Number(r[perChannel[0].indexOf('visitors')]), 0), 12);
    for (const report of REPORTS) {
      const csv = await adminGet(srv, `/v1/stats/${report}?${range}&format=csv`);
      assert.equal(csv.status, 200, `${report}: ${csv.text}`);
      assert.match(csv.text, /^[a-z0-9_.]+(,[a-z0-9_.]+)*\r\n/, `${report} starts with its header row`);
    }
    // A range without data: the same columns, no rows.
    for (const [report, query] of [['attribution', ''], ['channels', ''], ['channels', '&table=channels'], ['paths', ''], ['transitions', '']]) {
      const full = (await adminGet(srv, `/v1/stats/${report}?${range}&format=csv${query}`)).text;
      const empty = (await adminGet(srv, `/v1/stats/${report}?from=2001-01-01&to=2001-01-02&format=csv${query}`)).text;
      assert.ok(full.split('\r\n').length > 2, `${report}${query} has rows in the range`);
      assert.equal(empty, `${full.split('\r\n')[0]}\r\n`, `${report}${query}: the header alone`);
    }
    const badFormat = await adminGet(srv, '/v1/stats/funnel?format=xml');
    assert.equal(badFormat.status, 400);
    assert.equal(badFormat.json.error.message, 'format: expected json or csv');
    const badTable = await adminGet(srv, '/v1/stats/webhooks?format=csv&table=edges');
    assert.equal(badTable.status, 400);
    assert.equal(badTable.json.error.message, "table: this report's tables are by_status, recent_failures");
  });

  it('the device is the first event\'s, from the User-Agent of its request', async () => {
    const anon = anonId('phone');
    const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148';
    const first = await postBatch(srv, { sent_at: Date.now(), events: [makeEvent({ anonymous_id: anon, time: Date.now() - 5000 })] }, { headers: { 'User-Agent': iphone } });
    assert.equal(first.status, 200, first.text);
    // A later event from a desktop does not change where the journey started.
    const later = await postBatch(srv, { sent_at: Date.now(), events: [makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: Date.now() - 1000 })] }, { headers: { 'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)' } });
    assert.equal(later.status, 200, later.text);
    const mobile = (await adminGet(srv, '/v1/stats/funnel?filter=device:mobile')).json;
    assert.equal(mobile.total_profiles, 1);
    assert.equal(mobile.stages.find((st) => st.id === 'engaged').progressed, 1);
    assert.equal((await adminGet(srv, '/v1/stats/funnel?filter=device:desktop')).json.total_profiles, 0);
  });

  it('attribution per trigger: a win-back is a conversion "converted" does not fire on', async () => {
    const before = (await adminGet(srv, '/v1/stats/attribution')).json.conversions;
    const convertedBefore = (await adminGet(srv, '/v1/stats/attribution?trigger=converted')).json.conversions;
    const back = anonId('winback');
    const t0 = Date.now() - 60 * 60000;
    await send(srv, [
      makeEvent({ anonymous_id: back, name: 'page_viewed', time: t0, context: { url: 'https://allowed.example/', path: '/', referrer: 'https://www.google.com/' } }),
      makeEvent({ anonymous_id: back, name: 'order_completed', time: t0 + 60000 }),
      makeEvent({ anonymous_id: back, name: 'subscription_cancelled', time: t0 + 120000 }),
      makeEvent({ anonymous_id: back, name: 'order_completed', time: t0 + 180000 }),
    ]);
    assert.equal((await adminGet(srv, '/v1/stats/attribution')).json.conversions, before + 2);
    assert.equal((await adminGet(srv, '/v1/stats/attribution?trigger=converted')).json.conversions, convertedBefore + 1);
    assert.equal((await adminGet(srv, '/v1/stats/attribution?trigger=won_back')).json.conversions, 1);
    assert.equal((await adminGet(srv, '/v1/stats/attribution?trigger=became_lead')).json.conversions, 0);
    const verified = await verifyRollups(srv);
    assert.equal(verified.code, 0, verified.out);
  });
});

describe('visitor-supplied values in rollup keys', () => {
  let srv;
  before(async () => {
    srv = await startCollector();
  });
  after(async () => {
    if (srv) await stopCollector(srv);
  });

  it('2 KB sources and campaigns: projected, kept cut to 200 bytes, found by their whole value', async () => {
    // Random text (no compression helps): two of them in one rollup key would pass PostgreSQL's
    // index entry limit (2 704 bytes) and stall the projection.
    const noise = (n) => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i * 7919 + n) % 26)) + ((i * 31) % 10)).join('').slice(0, n);
    const source = `src-${noise(2040)}`;
    const campaign = `camp-${noise(2040)}`;
    const anon = anonId('long');
    const t0 = Date.now() - 30 * 60000;
    await send(srv, [
      makeEvent({ anonymous_id: anon, name: 'page_viewed', time: t0, context: { url: 'https://allowed.example/', path: `/${noise(2000)}`, campaign: { utm_source: source, utm_medium: 'cpc', utm_campaign: campaign } } }),
      makeEvent({ anonymous_id: anon, name: 'content_shown', time: t0 + 1000, properties: { slot: 'hero', variant: 'hero_engaged' } }),
      makeEvent({ anonymous_id: anon, name: 'order_completed', time: t0 + 2000 }),
    ]);
    const profile = await waitFor(async () => {
      const res = await adminGet(srv, `/v1/profiles/${encodeURIComponent(anon)}`);
      return res.status === 200 && res.json.stage === 'customer' ? res : null;
    });
    assert.ok(profile, 'the journey was projected');
    const byCampaign = (await adminGet(srv, '/v1/stats/funnel?breakdown=campaign&values=50')).json.breakdown.values;
    const cut = byCampaign.find((v) => v.value.startsWith('camp-'));
    assert.ok(cut, JSON.stringify(byCampaign.map((v) => v.value.slice(0, 20))));
    assert.equal(Buffer.byteLength(cut.value), 200);
    assert.equal(cut.value, campaign.slice(0, 200));
    const filtered = (await adminGet(srv, `/v1/stats/attribution?filter=${encodeURIComponent(`campaign:${campaign}`)}`)).json;
    assert.equal(filtered.conversions, 1);
    const tooLong = await adminGet(srv, `/v1/stats/funnel?filter=${encodeURIComponent(`campaign:${campaign}${'x'.repeat(10)}`)}`);
    assert.equal(tooLong.status, 400);
    assert.equal(tooLong.json.error.message, 'filter: the value must be valid UTF-8 without NUL, at most 2048 bytes');
    const bySource = (await adminGet(srv, '/v1/stats/attribution?by=source')).json;
    assert.ok(bySource.models[0].values.some((v) => v.value === source.slice(0, 200)), 'credited to the cut source');
    const verified = await verifyRollups(srv);
    assert.equal(verified.code, 0, verified.out);
  });
});

describe('a map given at start (--map) is published then', () => {
  it('the reports hold the stored version until the re-projection is done, then switch whole', async () => {
    let srv = await startCollector();
    const now = Date.now();
    await send(srv, visitors(40, { start: now - 2 * DAY, tag: 'atstart' }));
    const { range: _r, ...before } = (await adminGet(srv, '/v1/stats/funnel')).json;
    await stopCollector(srv);
    const map = structuredClone(DEFAULT_MAP);
    map.version = (DEFAULT_MAP.version ?? 1) + 1; // the reports name the document's version
    map.transitions.find((t) => t.id === 'engage').when = { event: 'demo_requested' };
    const file = path.join(srv.dir, 'next-map.json');
    fs.writeFileSync(file, JSON.stringify(map));
    srv = await startCollector({ dir: srv.dir, extraArgs: ['--map', file] });
    try {
      const deadline = Date.now() + 20000;
      for (;;) {
        assert.ok(Date.now() < deadline, 'the reports switch within 20 s');
        const { range: _range, ...funnel } = (await adminGet(srv, '/v1/stats/funnel')).json;
        if (funnel.map.version === before.map.version) {
          assert.deepEqual(funnel, before, 'the stored version, whole');
          continue;
        }
        assert.equal(funnel.total_profiles, 40);
        assert.equal(funnel.stages.find((st) => st.id === 'engaged').reached, 0, 'the new map, whole');
        break;
      }
    } finally {
      await stopCollector(srv);
    }
    const verified = await verifyRollups(srv);
    assert.equal(verified.code, 0, verified.out);
  });
});

describe('a database from before rollups', () => {
  it('is recounted when the collector starts on it: the reports are what they were', async () => {
    let srv = await startCollector();
    const now = Date.now();
    await send(srv, visitors(12, { start: now - 2 * DAY, tag: 'before' }));
    const reports = {};
    for (const r of REPORTS) reports[r] = (await adminGet(srv, `/v1/stats/${r}`)).json;
    await stopCollector(srv);
    // What a database made by the previous release holds: no rollup tables, no rollups mark.
    const tables = ['rollup_events', 'rollup_event_hours', 'rollup_versions', 'rollup_cohorts', 'rollup_stages', 'rollup_edges', 'rollup_edge_rules', 'rollup_reach', 'rollup_paths', 'rollup_acquisition', 'rollup_content', 'rollup_conversions', 'rollup_credits'];
    const columns = ['channel', 'campaign', 'converted'].map((c) => `ALTER TABLE profiles DROP COLUMN ${c};`);
    await runSql(srv, `${tables.map((t) => `DROP TABLE ${t};`).join(' ')} ${columns.join(' ')} DELETE FROM meta WHERE key = 'rollups_version';`);
    srv = await startCollector({ dir: srv.dir });
    try {
      // The journeys are replayed in the background to learn where they came from.
      await waitFor(async () => (await adminGet(srv, '/v1/stats/overview')).json.reprojection.done, { timeoutMs: 20000, what: 'the replay after the upgrade' });
      for (const r of REPORTS) {
        const res = await adminGet(srv, `/v1/stats/${r}`);
        assert.equal(res.status, 200, res.text);
        const strip = ({ now: _now, range: _range, ...rest }) => rest; // a run may cross midnight UTC
        assert.deepEqual(strip(res.json), strip(reports[r]), r);
      }
      assert.equal(reports.overview.events, 12 * 3 + 4 + 3); // 3 each, 4 leads, 3 orders
    } finally {
      await stopCollector(srv);
    }
  });

  it('a schema 6 database: its journeys are replayed to learn what they were shown and whether they went further', async () => {
    let srv = await startCollector();
    await send(srv, visitors(10, { start: Date.now() - DAY, tag: 'six' }));
    const gaps = (await adminGet(srv, '/v1/stats/content-gaps')).json;
    const bySource = (await adminGet(srv, '/v1/stats/content-gaps?breakdown=source')).json.breakdown;
    await stopCollector(srv);
    // Schema 6 kept a set of [stage, slot, variant] per journey, and rollup_exposure one row per
    // reach set (rollups version 9).
    await runSql(
      srv,
      "ALTER TABLE profiles DROP COLUMN content_seen; ALTER TABLE profiles ADD COLUMN exposures TEXT NOT NULL DEFAULT '[]'; " +
        "DROP TABLE rollup_segment_exposure; UPDATE meta SET value = '9' WHERE key = 'rollups_version'; UPDATE meta SET value = '6' WHERE key = 'schema_version';",
    );
    srv = await startCollector({ dir: srv.dir });
    try {
      assert.equal(await runSql(srv, "SELECT value FROM meta WHERE key = 'schema_version'"), '7');
      await waitFor(async () => (await adminGet(srv, '/v1/stats/overview')).json.reprojection.done, { timeoutMs: 20000, what: 'the replay after the upgrade' });
      await waitFor(async () => (await runSql(srv, "SELECT COUNT(*) FROM profiles WHERE content_seen = ''")) === '0', { what: 'every journey replayed' });
      const strip = ({ range: _range, ...rest }) => rest;
      assert.deepEqual(strip((await adminGet(srv, '/v1/stats/content-gaps')).json), strip(gaps));
      assert.deepEqual((await adminGet(srv, '/v1/stats/content-gaps?breakdown=source')).json.breakdown, bySource);
      const onward = gaps.stages.find((st) => st.id === 'awareness').variants_onward;
      assert.equal(onward.reduce((n, v) => n + v.onward, 0), 10, 'all ten went on to engaged');
    } finally {
      await stopCollector(srv);
    }
    const verified = await verifyRollups(srv);
    assert.equal(verified.code, 0, verified.out);
  });
});
