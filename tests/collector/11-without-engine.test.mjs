// Events from a browser whose engine could not run (a CSP without 'wasm-unsafe-eval', a blocked
// .wasm) or that were still waiting for it at page hide: the SDK sends them as the page gave them,
// marked `unfiltered`, and the collector applies the stage's sync filter when the profile's journey
// reaches them. And the compact batch form the SDK uses at page hide: fields most events share
// sent once in `common`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fs from 'node:fs';
import path from 'node:path';

import { ROOT, adminHeaders, anonId, getProfile, makeEvent, postBatch, request, useCollector } from './helpers.mjs';

const ctx = useCollector();
// A collector whose map sends only pricing_viewed from awareness (an events list, not only a
// property list), and one whose per-client rate limit is 1 request per second (burst 5).
const strict = useCollector();
const limited = useCollector({ clientRateLimit: 1 });
const T0 = Date.now() - 3600000;
const at = (min) => T0 + min * 60000;

async function profile(id) {
  const p = await getProfile(ctx.srv, id);
  assert.equal(p.status, 200, `${id}: ${p.text}`);
  return p.json;
}

const byName = (p, name) => p.touchpoints.filter((t) => t.name === name);

describe('events sent without the engine (unfiltered)', () => {
  it('the collector computes the stage and applies the sync filter of the stage at each event', async () => {
    const anon = anonId('noengine');
    const props = { plan: 'pro', email_hint: 'kept back in awareness', campaign_note: 'x' };
    const res = await postBatch(ctx.srv, {
      events: [
        makeEvent({ anonymous_id: anon, name: 'feature_used', time: at(0), properties: props, unfiltered: true }),
        makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: at(1), unfiltered: true }),
        makeEvent({ anonymous_id: anon, name: 'feature_used', time: at(2), properties: { ...props, plan: 'team' }, unfiltered: true }),
      ],
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.results.map((r) => r.status), ['accepted', 'accepted', 'accepted']);
    const p = await profile(anon);
    // The default map: pricing_viewed moves awareness -> engaged; only awareness filters properties.
    assert.equal(p.stage, 'engaged');
    const used = byName(p, 'feature_used').sort((a, b) => a.at - b.at);
    assert.equal(used.length, 2);
    assert.deepEqual(used[0].properties, { plan: 'pro' }, 'awareness keeps only its six property names');
    assert.deepEqual(used[1].properties, { plan: 'team', email_hint: 'kept back in awareness', campaign_note: 'x' },
      'engaged sends every property');
    assert.equal(used[0].browser_stage, null, 'no stage came from the browser');
  });

  it('the same event sent again (the unload send, then the next page) is a duplicate, not a conflict', async () => {
    const anon = anonId('noengine-dup');
    const event = makeEvent({ anonymous_id: anon, name: 'feature_used', time: at(0), properties: { plan: 'pro', secret: 's' }, unfiltered: true });
    const first = await postBatch(ctx.srv, { events: [event] });
    assert.equal(first.json.results[0].status, 'accepted', first.text);
    await profile(anon); // projected: the stored body is filtered now
    const again = await postBatch(ctx.srv, { events: [event] });
    assert.equal(again.json.results[0].status, 'duplicate', again.text);
  });

  it('a late event replays the journey from the stored (filtered) bodies: same stage, properties stay filtered', async () => {
    const anon = anonId('noengine-replay');
    const send = (events) => postBatch(ctx.srv, { events });
    await send([makeEvent({ anonymous_id: anon, name: 'feature_used', time: at(10), properties: { plan: 'pro', secret: 's' }, unfiltered: true })]);
    await profile(anon);
    // Older than the journey's last activity: the projector replays everything it stored.
    const late = await send([makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: at(5), unfiltered: true })]);
    assert.equal(late.json.results[0].status, 'accepted');
    const p = await profile(anon);
    assert.equal(p.stage, 'engaged');
    assert.equal(p.event_count, 2);
    // After the replay feature_used (at 10) follows pricing_viewed (at 5): engaged sends everything,
    // but what the first projection cut stays cut.
    assert.deepEqual(byName(p, 'feature_used')[0].properties, { plan: 'pro' });
  });

  it('an event the stage sends nothing of is kept bare: no properties, no page context', async () => {
    const map = JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8'));
    map.version = 2;
    map.sync.stages.awareness = { events: ['pricing_viewed'], properties: '*' };
    const put = await request(strict.srv, { method: 'PUT', path: '/v1/map', headers: { 'Content-Type': 'application/json', ...adminHeaders() }, body: JSON.stringify(map) });
    assert.equal(put.status, 200, put.text);
    const anon = anonId('noengine-events');
    const res = await postBatch(strict.srv, {
      events: [makeEvent({ anonymous_id: anon, name: 'feature_used', time: at(0), properties: { plan: 'pro' }, context: { url: 'https://allowed.example/private?q=1', path: '/private' }, unfiltered: true })],
    });
    assert.equal(res.json.results[0].status, 'accepted', res.text);
    const p = (await getProfile(strict.srv, anon)).json;
    const [used] = byName(p, 'feature_used');
    assert.equal(used.properties, undefined);
    assert.equal(used.path, undefined);
    assert.equal(p.event_count, 1, 'it still counts for the journey, as in the browser');
  });

  it('unfiltered must be a boolean', async () => {
    const res = await postBatch(ctx.srv, { events: [makeEvent({ anonymous_id: anonId('noengine-bad'), unfiltered: 'yes' })] });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.results[0].status, 'rejected');
    assert.equal(res.json.results[0].reason, 'invalid_event');
    assert.match(res.json.results[0].message, /unfiltered/);
  });
});

describe('compact batches (common)', () => {
  it('each event gets the shared fields it lacks; its own fields win', async () => {
    const anon = anonId('common');
    const strip = (e) => {
      const { anonymous_id: _a, context: _c, type: _t, ...rest } = e;
      return rest;
    };
    const events = [
      strip(makeEvent({ name: 'page_viewed', time: at(0) })),
      strip(makeEvent({ name: 'feature_used', time: at(1), properties: { plan: 'pro' } })),
      { ...strip(makeEvent({ name: 'page_viewed', time: at(2) })), context: { url: 'https://allowed.example/other', path: '/other' } },
    ];
    const res = await postBatch(ctx.srv, {
      common: { anonymous_id: anon, type: 'track', context: { url: 'https://allowed.example/docs', path: '/docs' }, stage: 'awareness' },
      events,
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.results.map((r) => r.status), ['accepted', 'accepted', 'accepted']);
    const p = await profile(anon);
    assert.equal(p.event_count, 3);
    const paths = p.touchpoints.sort((a, b) => a.at - b.at).map((t) => t.path);
    assert.deepEqual(paths, ['/docs', '/docs', '/other']);
    assert.ok(p.touchpoints.every((t) => t.browser_stage === 'awareness'), 'the shared stage reached every event');
  });

  it('common must be an object', async () => {
    const res = await postBatch(ctx.srv, { common: ['x'], events: [makeEvent({ anonymous_id: anonId('common-bad') })] });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.code, 'invalid_batch');
    assert.match(res.json.error.message, /common/);
  });

  it('an event that lacks a required field which common does not give is rejected by itself', async () => {
    const anon = anonId('common-part');
    const res = await postBatch(ctx.srv, {
      common: { anonymous_id: anon },
      events: [makeEvent({ anonymous_id: undefined, name: 'page_viewed' }), { id: 'no-name-here', seq: 1, time: Date.now() }],
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.results[0].status, 'accepted');
    assert.equal(res.json.results[1].status, 'rejected');
  });
});

describe('rate limit per client with compact batches', () => {
  it('the client is the anonymous id in common, not the address: two visitors behind one address each get their own budget', async () => {
    const batchOf = (anon) => ({ common: { anonymous_id: anon }, events: [makeEvent({ anonymous_id: undefined })] });
    const a = anonId('nat-a');
    const b = anonId('nat-b');
    const statuses = async (anon, n) => {
      const out = [];
      for (let i = 0; i < n; i++) out.push((await postBatch(limited.srv, batchOf(anon))).status);
      return out;
    };
    const first = await statuses(a, 8); // burst 5 (5x the rate)
    assert.ok(first.includes(429), `visitor A runs out of its own budget: ${first}`);
    const second = await statuses(b, 1);
    assert.deepEqual(second, [200], 'visitor B, same address, is not limited by A');
  });
});
