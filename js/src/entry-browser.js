// The npm entry for bundlers and browsers (ESM, and CommonJS via the same source). The .wasm is
// looked up beside this module (`import.meta.url`), which Vite and webpack 5 follow (they emit the
// file); esbuild does not copy it: docs/sdk.md says what to add (tests/bundlers checks each).
import { createApi } from './api.js';
import { loadCompiler, loadModule } from './loader.js';

// Beside the module (bundlers see `new URL('./x.wasm', import.meta.url)` and emit the file); a
// bundle without import.meta (an IIFE or CommonJS build) looks beside its <script> instead, as
// Emscripten's glue did; else locateFile, wasmUrl or wasmBinary is needed.
let moduleUrl;
let compilerUrl; // fetched only when a page passes a map as JSON (js/src/compiler.js)
try {
  moduleUrl = new URL('./waymark.wasm', import.meta.url).href;
  compilerUrl = new URL('./waymark-compiler.wasm', import.meta.url).href;
} catch {
  try {
    const script = typeof document !== 'undefined' && document.currentScript && document.currentScript.src;
    moduleUrl = script ? new URL('waymark.wasm', script).href : undefined;
    compilerUrl = script ? new URL('waymark-compiler.wasm', script).href : undefined;
  } catch {
    moduleUrl = undefined;
  }
}

const api = createApi({
  win: typeof window !== 'undefined' ? window : null,
  loadModule: (options) => loadModule(options, moduleUrl),
  loadCompiler: (options) => loadCompiler(options, compilerUrl),
});

export const { init, track, page, identify, reset, consent, stage, score, context, on, off, flush, setMap, stats, ready, destroy } = api;
export { createApi };
export { WaymarkError } from './errors.js';
export default api;
