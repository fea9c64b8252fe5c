// The script tag and the snippet in real Chromium, against the real collector: loading, the call
// queue, SPA page views, personalization in the first frame for a returning visitor, and content
// rules that try to inject HTML rendered as text.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SITE_KEY, defaultMap, useBrowserRig, waymarkReady, waitFor } from './harness.mjs';

const rig = useBrowserRig();

test('script tag: loads, tracks the landing page view with its campaign, delivers it', async () => {
  const page = await rig.newPage();
  await page.goto(rig.pageUrl('index.html?utm_source=newsletter&utm_medium=email&utm_campaign=spring'));
  const anon = await waymarkReady(page);
  assert.match(anon, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUIDv7 anonymous id');
  const flushed = await page.evaluate(() => waymark.flush());
  assert.equal(flushed.pending, 0);
  const profile = await waitFor(() => rig.profile(anon), { what: 'profile' });
  assert.equal(profile.stage, 'awareness');
  const sent = rig.proxy.batches.flatMap((b) => b.sent.events).filter((e) => e.anonymous_id === anon);
  const landing = sent.find((e) => e.name === 'page_viewed');
  assert.equal(landing.context.campaign.utm_medium, 'email');
  assert.equal(landing.context.channel, 'Email', 'the core classified the landing channel');
  assert.equal(landing.context.automation, true, 'headless Chromium is flagged as automation');
  assert.deepEqual(page.pageErrors, []);
  await page.context().close();
});

test('the .wasm is requested only after the first paint, with low priority (the first paint needs only the script)', async () => {
  const page = await rig.newPage();
  await page.goto(rig.pageUrl('plain.html'));
  await waymarkReady(page);
  const timing = await page.evaluate(() => {
    const paint = performance.getEntriesByType('paint').find((e) => e.name === 'first-paint');
    const wasm = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/waymark.wasm'));
    return { paint: paint && paint.startTime, wasm: wasm && wasm.startTime, script: performance.getEntriesByType('resource').find((e) => e.name.endsWith('/waymark.js')).startTime };
  });
  assert.ok(timing.paint > 0 && timing.wasm > 0, JSON.stringify(timing));
  assert.ok(timing.wasm >= timing.paint, `the .wasm was requested at ${timing.wasm} ms, before the first paint at ${timing.paint} ms`);
  await page.context().close();
});

test('snippet: calls made before the SDK loaded are replayed in order', async () => {
  const page = await rig.newPage();
  await page.goto(rig.pageUrl('snippet.html'));
  const anon = await waymarkReady(page);
  assert.equal(await page.evaluate(() => window.__queuedBeforeLoad), true, 'the snippet queued the calls');
  assert.deepEqual(await page.evaluate(() => window.__stages), ['engaged', 'lead']);
  assert.equal(await page.evaluate(() => waymark.stage()), 'lead');
  await page.evaluate(() => waymark.flush());
  const profile = await waitFor(async () => {
    const p = await rig.profile(anon);
    return p && p.stage === 'lead' ? p : null;
  }, { what: 'profile at stage lead' });
  assert.equal(profile.stage, 'lead');
  assert.deepEqual(page.pageErrors, []);
  await page.context().close();
});

test('SPA navigation: one page view per path (pushState, popstate), none for the same path', async () => {
  const page = await rig.newPage();
  await page.goto(rig.pageUrl('app/home'));
  await waymarkReady(page);
  await page.evaluate(() => {
    window.__views = [];
    waymark.on('event', (e) => { if (e.name === 'page_viewed') window.__views.push(location.pathname); });
  });
  await page.click('#to-pricing');
  await page.click('#to-pricing'); // same path again: no second view
  await page.evaluate(() => history.replaceState({}, '', location.pathname)); // same URL: none
  await page.click('#to-docs');
  await page.goBack(); // popstate to /app/pricing
  await waitFor(() => page.evaluate(() => window.__views.length >= 3), { what: 'three page views' });
  assert.deepEqual(await page.evaluate(() => window.__views), ['/app/pricing', '/app/docs', '/app/pricing']);
  await page.context().close();
});

test('SPA navigation that changes only the query, within 2 s, then back: every view reaches the collector', async () => {
  const page = await rig.newPage();
  await page.goto(rig.pageUrl('app/a'));
  const anon = await waymarkReady(page);
  await page.evaluate(() => {
    history.pushState({}, '', '/app/a?x=1');
    history.pushState({}, '', '/app/a?x=2');
  });
  // Back to /app/a?x=1 (popstate), all within a few milliseconds.
  await page.evaluate(() => new Promise((resolve) => {
    window.addEventListener('popstate', () => setTimeout(resolve, 0), { once: true });
    history.back();
  }));
  const outcomes = await page.evaluate(async () => {
    const seen = [];
    waymark.on('event', (e) => { if (e.name === 'page_viewed') seen.push(e.status); });
    waymark.stage(); // runs what is waiting through the engine
    await waymark.flush();
    return seen;
  });
  assert.ok(!outcomes.includes('folded'), `no view folded away: ${outcomes}`);
  const sent = rig.proxy.batches.flatMap((b) => b.sent.events).filter((e) => e.anonymous_id === anon && e.name === 'page_viewed');
  assert.deepEqual(sent.map((e) => new URL(e.context.url).search), ['', '?x=1', '?x=2', '?x=1']);
  const profile = await waitFor(async () => {
    const p = await rig.profile(anon);
    return p && p.touchpoints.filter((t) => t.name === 'page_viewed').length >= 4 ? p : null;
  }, { what: 'four page views stored' });
  assert.equal(profile.touchpoints.filter((t) => t.name === 'page_viewed').length, 4);
  await page.context().close();
});

test('returning visitor: the stage content is in the first frame, no flash of the default', async () => {
  const context = await rig.newContext();
  const page = await rig.newPage(context);
  await page.goto(rig.pageUrl('index.html'));
  await waymarkReady(page);
  assert.equal(await page.textContent('h1'), 'Know where every visitor is in their journey.',
    'first visit: awareness has no hero variant, so the default');
  await page.evaluate(() => {
    waymark.track('signed_up');
    waymark.track('trial_started');
  });
  assert.equal(await page.evaluate(() => waymark.stage()), 'trial');
  assert.equal(await page.textContent('h1'), 'Your trial is running: finish setting up your first journey.');
  assert.equal(await page.getAttribute('[data-waymark-slot="cta"]', 'href'), '/upgrade.html');
  // Let the snapshot reach storage, then come back in the same browser profile.
  await page.evaluate(() => waymark.flush());
  await page.waitForTimeout(1200);
  const again = await rig.newPage(context);
  await again.goto(rig.pageUrl('index.html'));
  await again.waitForFunction(() => window.__heroAtFirstFrame !== undefined); // recorded at the first frame
  assert.equal(await again.evaluate(() => window.__heroAtFirstFrame), 'Your trial is running: finish setting up your first journey.',
    'the first frame showing the hero already had the trial content');
  await waymarkReady(again);
  assert.equal(await again.evaluate(() => waymark.stage()), 'trial', 'the journey was restored from storage');
  const timing = await again.evaluate(() => {
    const mark = performance.getEntriesByName('waymark:personalized')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return { mark: mark && mark.startTime, fcp: fcp && fcp.startTime };
  });
  assert.ok(timing.mark !== undefined && timing.fcp !== undefined, JSON.stringify(timing));
  assert.ok(timing.mark < timing.fcp, `personalized at ${timing.mark} ms, first contentful paint at ${timing.fcp} ms`);
  await context.close();
});

test('a content rule carrying HTML is rendered as text; unsafe attributes never reach the DOM', async () => {
  const context = await rig.newContext();
  const map = defaultMap();
  const hero = map.content.slots.find((s) => s.id === 'hero');
  const attack = '<img src=x onerror="window.__xss=1">';
  for (const v of [...hero.variants, hero.default]) v.content.text = attack;
  const page = await rig.newPage(context);
  await page.addInitScript((m) => { window.__initOptions = { map: m }; }, map);
  await page.goto(rig.pageUrl('plain.html'));
  await waymarkReady(page);
  const h1 = await page.evaluate(() => {
    const el = document.querySelector('h1');
    return { text: el.textContent, children: el.children.length, xss: window.__xss === 1 };
  });
  assert.deepEqual(await page.evaluate(() => window.__errors), []);
  assert.equal(h1.text, attack, 'the markup is shown as text');
  assert.equal(h1.children, 0, 'no element was created');
  assert.equal(h1.xss, false, 'no handler ran');
  // A map with a javascript: URL is refused by the core; the last good map stays in use.
  const bad = structuredClone(map);
  bad.content.slots.find((s) => s.id === 'cta').default.content.attrs.href = 'javascript:alert(1)';
  const refused = await page.evaluate((m) => waymark.setMap(m), bad);
  assert.equal(refused, false);
  const lastError = await page.evaluate(() => window.__errors.at(-1));
  assert.equal(lastError.code, 'invalid_map');
  assert.match(lastError.message, /content\.slots\[1\]\.default\.content\.attrs\.href: expected an http\(s\) URL or a relative URL/);
  assert.notEqual(await page.getAttribute('[data-waymark-slot="cta"]', 'href'), 'javascript:alert(1)');
  await context.close();
});

test('leaving right after a stage change: the next page starts from the new stage', async () => {
  const context = await rig.newContext();
  const page = await rig.newPage(context);
  await page.goto(rig.pageUrl('index.html'));
  await waymarkReady(page);
  // The stage changes and the page is left in the same task: no time for an IndexedDB write.
  await page.evaluate(() => {
    waymark.track('signed_up');
    waymark.track('trial_started');
    location.href = '/index.html?next';
  });
  await page.waitForURL('**/index.html?next');
  // The page records the hero at its first frame; the URL commits before that frame is drawn.
  await page.waitForFunction(() => window.__heroAtFirstFrame !== undefined);
  assert.equal(await page.evaluate(() => window.__heroAtFirstFrame), 'Your trial is running: finish setting up your first journey.');
  await waymarkReady(page);
  assert.equal(await page.evaluate(() => waymark.stage()), 'trial');
  await context.close();
});

test("the README's snippet as written: every documented call exists before the SDK loads, reads answer as documented, the queued calls run once it has", async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const root = path.resolve(new URL('.', import.meta.url).pathname, '..', '..');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = readme.slice(readme.indexOf('or the async snippet'));
  const snippet = block.slice(block.indexOf('<script>') + '<script>'.length, block.indexOf('waymark.init('));
  assert.match(snippet, /^\s*!function\(w,d,src\)/, 'the snippet found in README.md');
  // The calls of docs/sdk.md's table, so that a call added there cannot be forgotten here.
  const sdk = fs.readFileSync(path.join(root, 'docs', 'sdk.md'), 'utf8');
  const calls = [...sdk.matchAll(/^\| `([a-zA-Z]+)\(/gm)].map((m) => m[1]).concat(['off']);
  assert.ok(calls.length >= 14, `calls documented: ${calls}`);

  const page = await rig.newPage();
  // The SDK arrives late, so every call below happens before it has loaded.
  await page.route('**/waymark/waymark.js', async (route) => {
    await new Promise((r) => setTimeout(r, 400));
    await route.continue();
  });
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>snippet</title><script>${snippet}
    waymark.init({ key: "${SITE_KEY}", endpoint: "${rig.proxy.url}", batchDelayMs: 50 });
    window.__before = { loaded: Array.isArray(window.waymark), missing: ${JSON.stringify(calls)}.filter(function (m) { return typeof waymark[m] !== "function"; }),
      stage: waymark.stage(), score: waymark.score(), context: waymark.context(), stats: waymark.stats(),
      track: waymark.track("pricing_viewed", { plan: "pro" }), page: waymark.page() };
    waymark.on("stage", function (s) { (window.__stages = window.__stages || []).push(s.to); });
  </script></head><body><h1 data-waymark-slot="hero">Default</h1></body></html>`;
  await page.route('**/readme-snippet.html', (route) => route.fulfill({ contentType: 'text/html', body: html }));
  await page.goto(rig.pageUrl('readme-snippet.html'));
  const before = await page.evaluate(() => window.__before);
  assert.equal(before.loaded, true, 'the calls ran against the queue, before the SDK');
  assert.deepEqual(before.missing, [], 'every documented call exists before load');
  assert.equal(before.stage, null);
  assert.equal(before.score, 0);
  assert.equal(before.context, null);
  assert.equal(before.stats.ready, false);
  assert.deepEqual(before.track, { id: null, status: 'pending' });
  assert.deepEqual(before.page, { id: null, status: 'pending' });
  await waymarkReady(page);
  assert.equal(await page.evaluate(() => waymark.stage()), 'engaged', 'the queued pricing view was replayed');
  assert.deepEqual(page.pageErrors, []);
  await page.context().close();
});

test("in Chromium, every call of docs/sdk.md's table with wrong arguments and hostile values: error events, documented returns, no page error or unhandled rejection", async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const root = path.resolve(new URL('.', import.meta.url).pathname, '..', '..');
  const sdk = fs.readFileSync(path.join(root, 'docs', 'sdk.md'), 'utf8');
  const documented = [...sdk.matchAll(/^\| `([a-zA-Z]+)\(/gm)].map((m) => m[1]);
  const page = await rig.newPage();
  const rejections = [];
  page.on('console', (m) => { if (/Unhandled|Uncaught/i.test(m.text())) rejections.push(m.text()); });
  await page.goto(rig.pageUrl('plain.html'));
  await waymarkReady(page);
  const outcome = await page.evaluate(async (names) => {
    const circular = { a: 1 };
    circular.self = circular;
    let deep = {};
    const root = deep;
    for (let i = 0; i < 5000; i++) deep = deep.x = {};
    const wrong = {
      init: [[null]],
      track: [[], [42], ['feature_used', { big: 'x'.repeat(1 << 20), circular, n: 10n, deep: root, f() {} }]],
      page: [[123]],
      identify: [[null], ['']],
      reset: [[1]],
      consent: [['maybe']],
      stage: [[1]],
      score: [[42]],
      context: [['x']],
      on: [['stage', 'notfn']],
      flush: [['x']],
      setMap: [[123]],
      stats: [[true]],
      ready: [['notfn']],
    };
    const errors = [];
    waymark.on('error', (e) => errors.push(e));
    const rows = [];
    for (const name of names) {
      for (const args of wrong[name] || []) {
        errors.length = 0;
        let threw = null;
        let result;
        try {
          result = waymark[name](...args);
          if (result && typeof result.then === 'function') result = await result;
          waymark.stage();
        } catch (err) {
          threw = String(err);
        }
        rows.push({ name, threw, errors: errors.map((e) => e.code), status: result && result.status });
      }
      if (!wrong[name]) rows.push({ name, missing: true });
    }
    return { rows, stage: waymark.stage() };
  }, documented);
  for (const row of outcome.rows) {
    assert.ok(!row.missing, `${row.name} has wrong-argument cases`);
    assert.equal(row.threw, null, `${row.name} threw: ${row.threw}`);
    assert.ok(row.errors.length >= 1, `${row.name}: an error event (${JSON.stringify(row)})`);
  }
  const hostile = outcome.rows.find((r) => r.name === 'track' && r.status === 'queued');
  assert.ok(hostile && hostile.errors.includes('invalid_properties'), 'the hostile values were named, the event kept');
  await page.waitForTimeout(100);
  assert.deepEqual(page.pageErrors, []);
  assert.deepEqual(rejections, []);
  await page.context().close();
});
