// Run by scripts/test-pack.sh inside an empty project where the packed tarball was installed:
// `import 'waymark'` (ESM) and `require('waymark')` (CommonJS) resolve through the package's
// exports map, and each delivers one event to a real collector.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

import { SITE_KEY, getProfile, startCollector, stopCollector, waitFor } from '../collector/helpers.mjs';

const app = process.argv[2];
const requireFromApp = createRequire(path.join(app, 'index.js'));
const srv = await startCollector({ siteKeys: [SITE_KEY] });
try {
  const esmPath = requireFromApp.resolve('waymark').replace(/\.cjs$/, '.mjs');
  const esm = (await import(esmPath)).default;
  const cjs = requireFromApp('waymark').default;
  assert.notEqual(esm, cjs, 'two separate builds');
  assert.ok(requireFromApp.resolve('waymark/waymark.wasm').endsWith('dist/waymark.wasm'), 'the wasm is an exported subpath');
  for (const [label, waymark] of [['esm', esm], ['cjs', cjs]]) {
    const ready = await waymark.init({ key: SITE_KEY, endpoint: srv.url, mapFromCollector: false, batchDelayMs: 10 });
    assert.equal(ready.ok, true, `${label}: ${JSON.stringify(ready)}`);
    assert.equal(waymark.track('pricing_viewed', { via: label }).status, 'queued');
    const flushed = await waymark.flush();
    assert.equal(flushed.pending, 0, `${label}: ${JSON.stringify(flushed)}`);
    await waitFor(async () => (await getProfile(srv, ready.anonymousId)).json?.stage === 'engaged', { what: `${label} profile` });
    waymark.destroy();
    console.log(`pack smoke: ${label} delivered one event (anonymous id ${ready.anonymousId})`);
  }
} finally {
  await stopCollector(srv);
}
