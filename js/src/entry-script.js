// The script-tag build (dist/waymark.js, an IIFE). Two ways to include it:
//   <script src="/waymark.js" data-key="pk_..." data-endpoint="https://collect.example.com"></script>
// or the async snippet (README), which defines a call queue so that `waymark.track(...)` works
// before this file has loaded; the queued calls are replayed here, in order.
// waymark.wasm is fetched from beside this script unless init({ wasmUrl | locateFile }) says otherwise.
import { createApi } from './api.js';
import { loadCompiler, loadModule } from './loader.js';

(function installWaymark(win) {
  if (!win || !win.document) return;
  const previous = win.waymark;
  if (previous && previous.__waymark) return; // included twice: keep the first instance
  const script = win.document.currentScript;
  let wasmUrl;
  let compilerUrl;
  try {
    wasmUrl = new URL('waymark.wasm', script && script.src ? script.src : win.location.href).href;
    compilerUrl = new URL('waymark-compiler.wasm', wasmUrl).href; // only for maps given as JSON
  } catch {
    wasmUrl = 'waymark.wasm';
    compilerUrl = 'waymark-compiler.wasm';
  }
  const api = createApi({ win, loadModule: (options) => loadModule(options, wasmUrl), loadCompiler: (options) => loadCompiler(options, compilerUrl) });
  Object.defineProperty(api, '__waymark', { value: true });

  const queue = Array.isArray(previous) ? previous.slice() : [];
  win.waymark = api;
  // A site switching from Segment may point `analytics` at the same queue (see docs/sdk.md).
  if (win.analytics === previous && previous) win.analytics = api;

  const queuedInit = queue.some((call) => Array.isArray(call) && call[0] === 'init');
  if (!queuedInit && script && script.dataset && script.dataset.key) {
    const d = script.dataset;
    let endpoint = d.endpoint;
    if (!endpoint) {
      try {
        endpoint = new URL(script.src).origin;
      } catch {
        endpoint = '';
      }
    }
    api.init({
      key: d.key,
      endpoint,
      consent: d.consent || undefined,
      debug: d.debug === 'true',
      dataLayer: d.dataLayer === 'true',
      autocapture: d.autocapture === 'false' ? false : undefined,
      respectDoNotTrack: d.respectDnt === 'true',
    });
  }
  for (const call of queue) {
    if (!Array.isArray(call) || typeof api[call[0]] !== 'function') continue;
    api[call[0]](...call.slice(1)); // each entry point catches its own errors
  }
})(typeof window !== 'undefined' ? window : undefined);
