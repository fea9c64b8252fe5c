// The app each bundler builds (tests/bundlers/bundlers.test.mjs): starts waymark with the
// collector and key from the page's query (?endpoint=...&key=...), records a trial start, flushes,
// and leaves what happened on window.__app for the test to read. The slots in index.html are the
// default map's `hero` and `cta`: once the visitor is in `trial` the SDK shows their variants.
export function start(waymark, extraOptions = {}) {
  const query = new URLSearchParams(window.location.search);
  const app = { done: false, init: null, tracked: null, flushed: null, stage: null, errors: [] };
  window.__app = app;
  waymark.on('error', (e) => app.errors.push(e));
  waymark
    .init({ key: query.get('key'), endpoint: query.get('endpoint'), ...extraOptions })
    .then(async (result) => {
      app.init = result;
      if (result.ok) {
        app.tracked = waymark.track('trial_started', { plan: 'pro' });
        app.stage = waymark.stage();
        app.flushed = await waymark.flush({ timeoutMs: 10000 });
      }
    })
    .catch((err) => {
      app.rejected = String(err); // init() never rejects (docs/sdk.md); the test fails on this
    })
    .finally(() => {
      app.done = true;
    });
}
