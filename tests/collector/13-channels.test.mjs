// The collector derives channels itself (issue 13 point 3): from the stored context (campaign
// tags, referrer, page URL), with GA4's published source categories compiled into the core. A
// channel the browser sends is a hint for its own decisions: only "Direct" on a visit that is no
// landing is kept, so a page holding a site key cannot steer attribution.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { anonId, getProfile, makeEvent, postBatch, useCollector, waitFor } from './helpers.mjs';

const ctx = useCollector();
const T0 = Date.now() - 3600000;

describe('channels on the collector', () => {
  it('classifies from the context and ignores forged claims', async () => {
    const anon = anonId('chan');
    const page = (id, min, context) => makeEvent({ id: `${anon}-${id}`, anonymous_id: anon, name: 'page_viewed', time: T0 + min * 60000, context: { url: 'https://shop.example/p', path: '/p', ...context } });
    const events = [
      page('forged', 0, { channel: 'Paid Search' }), // nothing in the context: no landing, no touch
      page('contradicted', 5, { channel: 'Email', url: 'https://shop.example/p?utm_source=google&utm_medium=cpc', campaign: { utm_source: 'google', utm_medium: 'cpc' } }),
      page('hn', 10, { referrer: 'https://news.ycombinator.com/item?id=1' }), // GA4: social
      page('direct', 15, { channel: 'Direct' }), // the SDK's session start: kept
      page('internal', 20, { channel: 'Organic Social', referrer: 'https://shop.example/other' }),
    ];
    const res = await postBatch(ctx.srv, { events });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.results.map((r) => r.status), events.map(() => 'accepted'), res.text);
    const profile = await waitFor(async () => {
      const p = await getProfile(ctx.srv, anon);
      return p.status === 200 && p.json.touchpoints?.length === events.length ? p.json : null;
    }, { what: 'the profile with its five touchpoints' });
    const channel = Object.fromEntries(profile.touchpoints.map((tp) => [tp.id.slice(anon.length + 1), tp.channel]));
    assert.deepEqual(channel, { forged: null, contradicted: 'Paid Search', hn: 'Organic Social', direct: 'Direct', internal: null });
  });
});
