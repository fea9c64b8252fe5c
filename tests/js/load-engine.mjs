// Loads the BUILT wasm modules the way a Node user would: the Emscripten factory with the bytes
// passed in (Node 20's fetch cannot load a file path, TOOLCHAIN.md quirk 3).
//   loadModule()      the production module (build/wasm/wasm/waymark.js + .wasm, shipped in dist/)
//   loadTestModule()  the test build (waymark_test.js + .wasm): the same engine and bindings plus
//                     the calls only tests make (wasm/test_bindings.cpp, tests/js/extra-tools.mjs)
//   loadCompiler()    the map compiler module (waymark-compiler.wasm, js/src/compiler.js)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { compilerFromBytes } from '../../js/src/compiler.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const wasmDir = process.env.WAYMARK_WASM_DIR || path.join(root, 'build', 'wasm', 'wasm');
export const vectorsDir = path.join(root, 'tests', 'vectors');

const loading = new Map();
function load(base) {
  if (!loading.has(base)) {
    const require = createRequire(import.meta.url);
    const factory = require(path.join(wasmDir, `${base}.js`));
    loading.set(base, factory({ wasmBinary: fs.readFileSync(path.join(wasmDir, `${base}.wasm`)) }));
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
