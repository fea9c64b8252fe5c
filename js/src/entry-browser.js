// The npm entry for bundlers and browsers (ESM, and CommonJS via the same source). The .wasm is
// looked up beside this module (`import.meta.url`), which Vite and webpack 5 follow (they emit the
// file); esbuild does not copy it: docs/sdk.md says what to add (tests/bundlers checks each).
import { createApi } from './api.js';
import { loadCompiler, loadModule } from './loader.js';

let moduleUrl;
let compilerUrl;
try {
  moduleUrl = new URL('./waymark.wasm', import.meta.url).href;
  // Fetched only when a page passes a map as JSON (js/src/compiler.js).
  compilerUrl = new URL('./waymark-compiler.wasm', import.meta.url).href;
} catch {
  moduleUrl = undefined; // CommonJS build: no import.meta; locateFile or wasmBinary is required
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
