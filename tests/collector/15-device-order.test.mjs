// Device order kept (issue 13 point 5): a device's events keep their sequence and their device
// time differences on the server, across batches that took different times on the way and under
// a skewed clock. The skew correction shifts a device's events together, by the offset its first
// batch gave, until its clock really changes (more than a minute).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { anonId, getProfile, makeEvent, postBatch, useCollector } from './helpers.mjs';

const ctx = useCollector();

async function touchpointTimes(anon) {
  const p = await getProfile(ctx.srv, anon);
  assert.equal(p.status, 200, p.text);
  // Oldest first, by the server's time of each event.
  return Object.fromEntries(p.json.touchpoints.map((tp) => [tp.id.split('#')[1], tp.at]));
}

describe('a device across batches', () => {
  it('keeps order and spacing when a later batch took less time on the way (clock 1 h ahead)', async () => {
    const anon = anonId('dev');
    const skew = 3600000; // the device's clock runs an hour ahead
    const t = Date.now() + skew;
    const ev = (n, time) => makeEvent({ id: `${anon}#${n}`, anonymous_id: anon, name: 'page_viewed', time, context: { path: `/p${n}` } });
    // Batch A: e1, e2 5 ms apart, sent 1 ms after e2 by the device's clock.
    const a = await postBatch(ctx.srv, { sent_at: t + 6, events: [ev(1, t), ev(2, t + 5)] });
    assert.equal(a.status, 200, a.text);
    // Batch B arrives right after but claims a send time 500 ms later than A's: its own offset
    // is 500 ms smaller, which alone would put e3 (2 ms after e2 on the device) before e2.
    const b = await postBatch(ctx.srv, { sent_at: t + 506, events: [ev(3, t + 7)] });
    assert.equal(b.status, 200, b.text);
    const at = await touchpointTimes(anon);
    assert.ok(at[1] < at[2] && at[2] < at[3], `device order kept: ${JSON.stringify(at)}`);
    assert.equal(at[2] - at[1], 5, 'spacing within a batch');
    assert.equal(at[3] - at[2], 2, 'spacing across batches, as on the device');
    assert.ok(Math.abs(at[1] - (t - skew)) < 5000, `shifted by the skew: ${at[1] - (t - skew)} ms off`);
  });

  it('a real clock change (more than a minute) is taken as the new offset', async () => {
    const anon = anonId('clk');
    const now = Date.now();
    const ev = (n, time) => makeEvent({ id: `${anon}#${n}`, anonymous_id: anon, name: 'page_viewed', time, context: { path: `/q${n}` } });
    assert.equal((await postBatch(ctx.srv, { sent_at: now - 600000, events: [ev(1, now - 600000)] })).status, 200);
    // The device's clock was 10 minutes behind; now it is right: the new batch's offset counts.
    assert.equal((await postBatch(ctx.srv, { sent_at: now, events: [ev(2, now)] })).status, 200);
    const at = await touchpointTimes(anon);
    assert.ok(Math.abs(at[2] - now) < 5000, `the second event at the server's time: ${at[2] - now} ms off`);
    assert.ok(Math.abs(at[1] - now) < 5000, `the first too (its batch was corrected by its own offset): ${at[1] - now} ms off`);
  });
});
