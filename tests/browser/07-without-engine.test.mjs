// When the wasm engine cannot run (here: a Content-Security-Policy without 'wasm-unsafe-eval'),
// the SDK keeps tracking: every call answers as documented, events are stored and delivered as
// the page gave them (the collector computes the journey and applies the sync filter), content
// stays as the last visit's engine chose it, and one error event names the directive to fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { useBrowserRig, waymarkReady, waitFor } from './harness.mjs';

const rig = useBrowserRig();

async function openCsp(context) {
  const page = await rig.newPage(context);
  await page.goto(rig.pageUrl('csp.html'));
  const init = await page.evaluate(() => window.__init);
  return [page, init];
}

test("a CSP without 'wasm-unsafe-eval': init names the directive, events reach the collector, which computes the stage", async () => {
  const context = await rig.newContext();
  const [page, init] = await openCsp(context);
  assert.equal(init.ok, false);
  assert.equal(init.tracking, true, 'tracking goes on without the engine');
  assert.equal(init.error.code, 'wasm_blocked_by_csp', JSON.stringify(init));
  assert.match(init.error.message, /'wasm-unsafe-eval'/);
  assert.match(init.error.message, /script-src/);
  const anon = init.anonymousId;
  assert.ok(anon, 'an anonymous id all the same');

  const calls = await page.evaluate(async () => {
    const r = {
      first: waymark.track('feature_used', { plan: 'pro', secret_note: 'awareness keeps only plan of these' }),
      track: waymark.track('pricing_viewed', { plan: 'pro' }),
      feature: waymark.track('feature_used', { plan: 'team', section: 'x', note: 'engaged keeps this' }),
      stage: waymark.stage(),
      score: waymark.score(),
      setMap: await waymark.setMap({ id: 'x' }),
      stats: waymark.stats(),
    };
    return JSON.parse(JSON.stringify(r));
  });
  assert.equal(calls.track.status, 'queued');
  assert.match(calls.track.id, /^[0-9a-f-]{36}$/);
  assert.equal(calls.stage, null, 'no stage known on a first visit without the engine');
  assert.equal(calls.score, 0);
  assert.equal(calls.setMap, false);
  assert.equal(calls.stats.engine, false);
  const errors = await page.evaluate(() => window.__errors.map((e) => e.code));
  assert.equal(errors.filter((c) => c === 'wasm_blocked_by_csp').length, 1, `one error event for the cause: ${errors}`);
  // Over the collector's 32 KB per event (64 properties of 2 KB): refused here, as the engine would.
  const tooLarge = await page.evaluate(() => {
    const props = {};
    for (let i = 0; i < 64; i++) props[`p${i}`] = 'x'.repeat(2000);
    waymark.track('feature_used', props);
    return new Promise((r) => setTimeout(() => r(window.__errors.filter((e) => e.code === 'event_too_large').map((e) => e.message)), 100));
  });
  assert.equal(tooLarge.length, 1, JSON.stringify(tooLarge));
  assert.match(tooLarge[0], /feature_used.*32768/);

  await page.evaluate(() => waymark.flush());
  const profile = await waitFor(async () => {
    const p = await rig.profile(anon);
    return p && p.event_count >= 4 ? p : null;
  }, { what: 'the profile with the landing view and the three events' });
  assert.equal(profile.stage, 'engaged', 'the collector computed the stage (pricing_viewed: awareness -> engaged)');
  // Tracked in the same millisecond: told apart by their plan.
  const used = profile.touchpoints.filter((t) => t.name === 'feature_used');
  assert.deepEqual(used.find((t) => t.properties.plan === 'pro').properties, { plan: 'pro' }, "awareness's sync filter, applied by the collector");
  assert.deepEqual(used.find((t) => t.properties.plan === 'team').properties, { plan: 'team', section: 'x', note: 'engaged keeps this' });
  const wire = rig.proxy.batches.flatMap((b) => (b.sent && b.sent.events) || []).find((e) => e.id === calls.first.id);
  assert.equal(wire.unfiltered, true);
  assert.equal(wire.properties.secret_note, 'awareness keeps only plan of these', 'sent whole: no engine filtered it');
  const landing = profile.touchpoints.find((t) => t.name === 'page_viewed');
  assert.equal(landing.path, '/csp.html');
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});

test('without the engine, content stays as the last visit chose it and stage() answers from that visit', async () => {
  const context = await rig.newContext();
  // First visit, engine running: the visitor starts a trial; the decisions are cached.
  const first = await rig.newPage(context);
  await first.goto(rig.pageUrl('plain.html'));
  await waymarkReady(first);
  await first.evaluate(() => {
    waymark.track('trial_started');
    return waymark.stage();
  });
  await first.close();
  // Second visit under a CSP that refuses the engine.
  const [page, init] = await openCsp(context);
  assert.equal(init.error.code, 'wasm_blocked_by_csp');
  const seen = await page.evaluate(() => ({
    hero: document.querySelector('[data-waymark-slot="hero"]').textContent,
    cta: document.querySelector('[data-waymark-slot="cta"]').getAttribute('href'),
    stage: waymark.stage(),
  }));
  assert.equal(seen.hero, 'Your trial is running: finish setting up your first journey.');
  assert.equal(seen.cta, '/upgrade.html');
  assert.equal(seen.stage, 'trial');
  assert.deepEqual(page.pageErrors, []);
  await context.close();
});
