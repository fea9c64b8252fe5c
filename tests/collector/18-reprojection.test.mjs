// Publishing a map recomputes history in the background: every stored journey is replayed under
// the new version without waiting for the visitor's next event, the overview says how far it
// got, and the reports switch to the new version when it is done (never a mix of the two).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { ROOT, adminGet, anonId, getProfile, makeEvent, postBatch, putMap, useCollector, waitFor } from './helpers.mjs';

const DEFAULT_MAP = JSON.parse(fs.readFileSync(path.join(ROOT, 'core', 'maps', 'default.json'), 'utf8'));
const VISITORS = 1500;

// Time passing would move these visitors on by itself; this test is about the map only.
const ctx = useCollector({ extraArgs: ['--advance-interval', '0'] });

describe('map publish re-projects history in the background', () => {
  const visitors = Array.from({ length: VISITORS }, () => anonId('reproj'));

  let before;
  it('visitors who viewed pricing are engaged under the first map', async () => {
    const now = Date.now();
    for (let i = 0; i < VISITORS; i += 250) {
      const res = await postBatch(ctx.srv, {
        sent_at: now,
        events: visitors.slice(i, i + 250).flatMap((a, j) => [
          makeEvent({ anonymous_id: a, name: 'page_viewed', time: now - 60000 + i + j }),
          makeEvent({ anonymous_id: a, name: 'pricing_viewed', time: now - 30000 + i + j }),
        ]),
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.accepted, Math.min(250, VISITORS - i) * 2);
    }
    const funnel = await adminGet(ctx.srv, '/v1/stats/funnel');
    before = funnel.json;
    assert.equal(funnel.status, 200, funnel.text);
    const engaged = funnel.json.stages.find((s) => s.id === 'engaged');
    assert.equal(engaged.reached, VISITORS, JSON.stringify(funnel.json.stages));
  });

  it('a map where pricing no longer engages: every stored journey recomputed with no new event', async () => {
    const map = structuredClone(DEFAULT_MAP);
    map.version = (DEFAULT_MAP.version ?? 1) + 1;
    const engage = map.transitions.find((t) => t.id === 'engage');
    engage.when = { event: 'demo_requested' }; // pricing_viewed is no longer enough
    const put = await putMap(ctx.srv, map);
    assert.equal(put.status, 200, put.text);
    const version = put.json.version;

    // While the journeys are replayed the reports stay on the first map, whole; then they switch.
    // (The range is left out of the comparison: a run may cross midnight UTC.)
    let readsBefore = 0;
    const deadline = Date.now() + 30000;
    const { range: _before, ...whole } = before;
    for (;;) {
      assert.ok(Date.now() < deadline, 'the reports switch within 30 s');
      const { range: _range, ...funnel } = (await adminGet(ctx.srv, '/v1/stats/funnel')).json;
      if (funnel.map.version === 1) {
        assert.deepEqual(funnel, whole, 'until the switch, the first map\'s complete funnel');
        readsBefore += 1;
        continue;
      }
      assert.equal(funnel.map.version, version);
      assert.equal(funnel.stages.find((s) => s.id === 'engaged').reached, 0, 'after it, only the new map\'s');
      assert.equal(funnel.total_profiles, VISITORS);
      break;
    }
    process.stdout.write(`# funnel read ${readsBefore} times on the first map during the re-projection\n`);

    const progress = await waitFor(
      async () => {
        const o = await adminGet(ctx.srv, '/v1/stats/overview');
        return o.status === 200 && o.json.reprojection.done ? o.json.reprojection : null;
      },
      { timeoutMs: 20000, what: 'the re-projection to finish' },
    );
    assert.equal(progress.map_version, version);
    assert.equal(progress.waiting, 0);
    assert.equal(progress.profiles_on_this_version, progress.profiles, 'every profile on the new version');
    assert.ok(progress.profiles >= VISITORS);

    for (const a of visitors.slice(0, 5)) {
      const p = await getProfile(ctx.srv, a);
      assert.equal(p.status, 200, p.text);
      assert.equal(p.json.map_version, version);
      assert.equal(p.json.stage, 'awareness', `${a} is no longer engaged`);
    }
    const funnel = await adminGet(ctx.srv, '/v1/stats/funnel');
    const engaged = funnel.json.stages.find((s) => s.id === 'engaged');
    assert.equal(engaged.reached, 0, 'the funnel follows the new map');
  });
});
