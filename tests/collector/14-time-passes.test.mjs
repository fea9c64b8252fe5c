// Time passes on the server (issue 13 point 4): a visitor who stops sending events goes dormant on
// the collector when the map says so, without a new event: the periodic pass (--advance-interval)
// advances idle profiles, the timed transition lands at the time it fell due, and its trigger is
// delivered exactly once. A late event from before that time replays the journey, as the browser
// would have computed it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  ROOT,
  adminHeaders,
  anonId,
  getProfile,
  makeEvent,
  postBatch,
  request,
  sleep,
  startCollector,
  startReceiver,
  stopCollector,
  waitFor,
} from './helpers.mjs';

const SECRET = 'whsec_time_0123456789';
const INACTIVE_MS = 2000;

let srv;
let receiver;

/** The default map with dormancy after 2 s of inactivity and a trigger on it. */
function shortDormancyMap() {
  const map = JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8'));
  map.version = 2;
  map.transitions.find((t) => t.id === 'go_dormant').when = { inactive_for: '2s' };
  map.triggers.push({ id: 'went_dormant', on: { to: 'dormant' } });
  return map;
}

before(async () => {
  receiver = await startReceiver({ secret: SECRET });
  srv = await startCollector({ webhooks: [`hook,${receiver.url},${SECRET},went_dormant`], extraArgs: ['--advance-interval', '1'] });
  const res = await request(srv, { method: 'PUT', path: '/v1/map', headers: { 'Content-Type': 'application/json', ...adminHeaders() }, body: JSON.stringify(shortDormancyMap()) });
  assert.equal(res.status, 200, res.text);
});

after(async () => {
  if (srv && !srv.exited) {
    const { code } = await stopCollector(srv);
    assert.equal(code, 0, srv.stderr);
  }
  await receiver?.close();
});

describe('time passes on the collector', () => {
  it('an idle engaged visitor goes dormant at the time it fell due, and its trigger fires once', async () => {
    const anon = anonId('idle');
    const now = Date.now();
    const last = now - 500;
    const events = [
      makeEvent({ anonymous_id: anon, name: 'page_viewed', time: now - 1500 }),
      makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: last }),
    ];
    const res = await postBatch(srv, { events }); // no sent_at: device times are the times
    assert.equal(res.status, 200, res.text);
    const first = await getProfile(srv, anon);
    assert.equal(first.json.stage, 'engaged', 'not dormant yet');
    // No new event: the periodic pass moves the profile on.
    const profile = await waitFor(async () => {
      const p = await getProfile(srv, anon);
      return p.json?.stage === 'dormant' ? p.json : null;
    }, { timeoutMs: 8000, what: 'the idle profile going dormant' });
    const dormancy = profile.transitions.at(-1);
    assert.equal(dormancy.rule, 'go_dormant');
    assert.equal(dormancy.at, last + INACTIVE_MS, 'at the time it fell due, not when the pass ran');
    const delivered = await waitFor(() => {
      const d = receiver.deliveries.filter((x) => x.body?.profile_id === profile.profile_id);
      return d.length > 0 ? d : null;
    }, { timeoutMs: 8000, what: 'the went_dormant delivery' });
    await sleep(2500); // more passes run: none may deliver it again
    const all = receiver.deliveries.filter((x) => x.body?.profile_id === profile.profile_id);
    assert.equal(all.length, 1, `one delivery, got ${all.length}`);
    assert.equal(delivered[0].body.trigger, 'went_dormant');
    assert.equal(delivered[0].body.at, last + INACTIVE_MS);
    assert.equal(delivered[0].validSignature, true);
  });

  it('a late event from before the dormancy replays the journey: still engaged, dormant later', async () => {
    const anon = anonId('late');
    const t0 = Date.now() - 6000;
    const res = await postBatch(srv, { events: [makeEvent({ anonymous_id: anon, name: 'page_viewed', time: t0 }), makeEvent({ anonymous_id: anon, name: 'pricing_viewed', time: t0 + 100 })] });
    assert.equal(res.status, 200, res.text);
    await waitFor(async () => (await getProfile(srv, anon)).json?.stage === 'dormant', { timeoutMs: 8000, what: 'dormant' });
    // An event the device made 1.5 s after its last one (before the 2 s ran out) arrives late.
    const late = await postBatch(srv, { events: [makeEvent({ anonymous_id: anon, name: 'feature_used', time: t0 + 1600 })] });
    assert.equal(late.status, 200, late.text);
    const p = (await getProfile(srv, anon)).json;
    const dormancies = p.transitions.filter((t) => t.rule === 'go_dormant');
    assert.equal(dormancies.length, 1, JSON.stringify(p.transitions));
    assert.equal(dormancies[0].at, t0 + 1600 + INACTIVE_MS, 'the dormancy moved to 2 s after the late event');
  });
});
