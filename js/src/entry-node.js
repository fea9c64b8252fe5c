// The npm entry under Node (the "node" export condition): the .wasm is read from disk beside this
// file, since Node's fetch cannot load file paths (TOOLCHAIN.md, quirk 3). No window: nothing is
// autocaptured or personalized, storage is in memory, events are sent with fetch.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createApi } from './api.js';
import { loadCompiler, loadModule } from './loader.js';

function bytesBeside(file) {
  // eslint-disable-next-line no-undef
  const dir = typeof __dirname === 'string' ? __dirname : path.dirname(fileURLToPath(import.meta.url));
  return fs.readFileSync(path.join(dir, file));
}

const api = createApi({
  win: null,
  loadModule: (options) => loadModule(options.wasmBinary || options.locateFile ? options : { ...options, wasmBinary: bytesBeside('waymark.wasm') }),
  // The map compiler, read only when a map arrives as JSON (js/src/compiler.js).
  loadCompiler: (options) => loadCompiler(options.compilerBinary || options.compilerUrl || options.locateFile ? options : { ...options, compilerBinary: bytesBeside('waymark-compiler.wasm') }),
});

export const { init, track, page, identify, reset, consent, stage, score, context, on, off, flush, setMap, stats, ready, destroy } = api;
export { createApi };
export { WaymarkError } from './errors.js';
export default api;
