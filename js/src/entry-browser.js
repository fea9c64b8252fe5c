// The npm entry for bundlers and browsers (ESM, and CommonJS via the same source). The .wasm is
// looked up beside this module (`import.meta.url`), which Vite, webpack 5 and esbuild understand;
// pass `wasmBinary` or `locateFile` to init() when a bundler puts it elsewhere.
import { createApi } from './api.js';
import { loadModule } from './loader.js';

let moduleUrl;
try {
  moduleUrl = new URL('./waymark.wasm', import.meta.url).href;
} catch {
  moduleUrl = undefined; // CommonJS build: no import.meta; locateFile or wasmBinary is required
}

const api = createApi({
  win: typeof window !== 'undefined' ? window : null,
  loadModule: (options) => loadModule(options, moduleUrl),
});

export const { init, track, page, identify, reset, consent, stage, score, context, on, off, flush, setMap, stats, ready, destroy } = api;
export { createApi };
export { WaymarkError } from './errors.js';
export default api;
