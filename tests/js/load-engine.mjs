// Loads the BUILT wasm module (build/wasm/wasm/waymark.js + .wasm) the way a Node user would:
// the Emscripten factory with the bytes passed in (Node 20's fetch cannot load a file path,
// TOOLCHAIN.md quirk 3).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const wasmDir = process.env.WAYMARK_WASM_DIR || path.join(root, 'build', 'wasm', 'wasm');
export const vectorsDir = path.join(root, 'tests', 'vectors');

let loading;
export function loadModule() {
  if (!loading) {
    const require = createRequire(import.meta.url);
    const factory = require(path.join(wasmDir, 'waymark.js'));
    loading = factory({ wasmBinary: fs.readFileSync(path.join(wasmDir, 'waymark.wasm')) });
  }
  return loading;
}
