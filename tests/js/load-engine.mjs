// Loads the BUILT wasm modules the way the SDK does (js/src/wasm-module.js, js/src/compiler.js),
// from their bytes:
//   loadModule()      the production module (build/wasm/wasm/waymark.wasm, shipped in dist/)
//   loadTestModule()  the test build (waymark_test.wasm): the same engine and exports plus the
//                     calls only tests make (wasm/test_exports.cpp, tests/js/extra-tools.mjs)
//   loadCompiler()    the map compiler module (waymark-compiler.wasm, js/src/compiler.js)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { compilerFromBytes } from '../../js/src/compiler.js';
import { engineImports, engineModuleFrom } from '../../js/src/wasm-module.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const wasmDir = process.env.WAYMARK_WASM_DIR || path.join(root, 'build', 'wasm', 'wasm');
export const vectorsDir = path.join(root, 'tests', 'vectors');

const loading = new Map();
function load(base) {
  if (!loading.has(base)) {
    const bytes = fs.readFileSync(path.join(wasmDir, `${base}.wasm`));
    loading.set(base, WebAssembly.instantiate(bytes, engineImports).then(({ instance }) => engineModuleFrom(instance)));
  }
  return loading.get(base);
}

export const loadModule = () => load('waymark');
export const loadTestModule = () => load('waymark_test');

let compiler = null;
export const loadCompiler = () => {
  compiler = compiler || compilerFromBytes(fs.readFileSync(path.join(wasmDir, 'waymark-compiler.wasm')));
  return compiler;
};
