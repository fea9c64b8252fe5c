// The BUILT classic script (dist/waymark.js, the script-tag build) evaluated as a browser would
// evaluate it, in a fresh global with the snippet's call queue already defined: it must replace the
// queue with the API, replay the queued calls in order, and never throw into the page. (Its real
// browser behaviour is tested in Chromium: tests/browser/.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

import { ROOT } from '../collector/helpers.mjs';

const script = fs.readFileSync(path.join(ROOT, 'dist', 'waymark.js'), 'utf8');
const wasmBinary = fs.readFileSync(path.join(ROOT, 'dist', 'waymark.wasm'));

function pageGlobal() {
  const listeners = [];
  const document = {
    currentScript: { src: 'https://site.example/waymark/waymark.js', dataset: {} },
    readyState: 'complete',
    title: 'Pricing',
    referrer: '',
    visibilityState: 'visible',
    addEventListener: (...a) => listeners.push(a),
    removeEventListener: () => {},
    querySelectorAll: () => [],
  };
  const window = {
    document,
    location: { href: 'https://site.example/pricing?utm_source=news&utm_medium=email', pathname: '/pricing', search: '?utm_source=news&utm_medium=email', protocol: 'https:', host: 'site.example' },
    navigator: { userAgent: 'Mozilla/5.0 (test)', onLine: true },
    history: { pushState() {}, replaceState() {} },
    addEventListener: (...a) => listeners.push(a),
    removeEventListener: () => {},
    WebAssembly, URL, TextEncoder, TextDecoder, crypto: globalThis.crypto, console, setTimeout, clearTimeout, queueMicrotask, Promise, JSON, Date, Math,
  };
  window.window = window;
  window.self = window;
  return window;
}

test('the script tag replaces the snippet queue and replays it in order', async () => {
  const win = pageGlobal();
  const queue = [];
  queue.push(['init', { wasmBinary, autocapture: false, personalize: false }]);
  queue.push(['on', 'stage', (s) => (win.stages = (win.stages || []).concat(s.to))]);
  queue.push(['track', 'pricing_viewed', { plan: 'pro' }]);
  queue.push(['track', 'Lead Generated']); // a Segment-style name, an alias in the default map
  queue.push(['track', 42]); // bad: reported, not thrown
  win.waymark = queue;
  vm.createContext(win);
  vm.runInContext(script, win, { filename: 'waymark.js' });
  assert.notEqual(win.waymark, queue, 'the queue was replaced by the API');
  assert.equal(typeof win.waymark.track, 'function');
  const errors = [];
  win.waymark.on('error', (e) => errors.push(e.code));
  await win.waymark.ready();
  assert.equal(win.waymark.stage(), 'lead');
  assert.deepEqual(win.stages, ['engaged', 'lead']);
  assert.deepEqual(errors, ['invalid_argument']);
  // Included twice: the second copy keeps the first instance.
  const first = win.waymark;
  vm.runInContext(script, win, { filename: 'waymark.js' });
  assert.equal(win.waymark, first);
  win.waymark.destroy();
});
