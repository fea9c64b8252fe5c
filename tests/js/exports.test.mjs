// Only production code in the production wasm (issue 12 point 3): every export of the module that
// ships (build/wasm/wasm/waymark.wasm, copied to dist/waymark.wasm) is called by the SDK's source
// (js/src), and every export the SDK calls is in it. Calls that only tests need belong to the test
// build (wasm/test_exports.cpp). The checker runs on the test build too, where it must report
// exactly the test-only exports: proof, on a real module, that it can fail. The same holds for the
// map compiler (waymark-compiler.wasm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { root, wasmDir } from './load-engine.mjs';

const sdkDir = path.join(root, 'js', 'src');

// What Emscripten adds to every standalone module (static constructors, the stack, errno): not
// ours to trim. Any other export must be one of ours (wm_*), so nothing slips past unchecked.
const RUNTIME_EXPORTS = new Set(['_initialize', '__errno_location', 'stackSave', 'stackRestore', 'stackAlloc']);

/** The functions a .wasm file exports, as {name, what}, the runtime's own left out. */
function wasmExports(file) {
  const module = new WebAssembly.Module(fs.readFileSync(path.join(wasmDir, file)));
  const out = [];
  for (const e of WebAssembly.Module.exports(module)) {
    if (e.kind !== 'function' || RUNTIME_EXPORTS.has(e.name)) continue;
    out.push({ name: e.name, what: e.name.startsWith('wm_') ? 'function' : 'not one of ours (wm_*)' });
  }
  return out;
}

/** The SDK's source (every .js file under js/src), comments removed. */
function sdkSource() {
  const files = fs.readdirSync(sdkDir, { recursive: true }).filter((f) => f.endsWith('.js'));
  assert.ok(files.length > 5, `js/src holds ${files.length} .js files`);
  return files.map((f) => stripComments(fs.readFileSync(path.join(sdkDir, f), 'utf8'))).join('\n');
}

/** Block and line comments out (a `//` after `:` or a quote is a URL or a string, kept). */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:\\'"`])\/\/.*$/gm, '$1');
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Whether the SDK's code reads `name` as a property of something other than itself: `x.name`,
 * `f()._name`, `x['name']`. `this.name` does not count, so a tracker method that happens to share
 * an export's name (the tracker has its own _track and _identify) cannot hide an unused export.
 */
function sdkUses(source, name) {
  const dotted = new RegExp(`(?<!\\bthis\\s*)\\.\\s*${escape(name)}(?![\\w$])`);
  const bracketed = new RegExp(`\\[\\s*(['"\`])${escape(name)}\\1\\s*\\]`);
  return dotted.test(source) || bracketed.test(source);
}

/** The exports of `module` that the SDK never calls, as "name (what)". */
function unusedExports(file, source = sdkSource()) {
  return wasmExports(file).filter((e) => e.what !== 'function' || !sdkUses(source, e.name)).map((e) => `${e.name} (${e.what})`);
}

const production = 'waymark.wasm';
const testBuild = 'waymark_test.wasm';
const compiler = 'waymark-compiler.wasm';
const source = sdkSource();

test('the production module exports the engine and the SDK calls (the check sees real exports)', () => {
  const names = wasmExports(production).map((e) => e.name);
  for (const expected of ['wm_engine_new', 'wm_engine_delete', 'wm_track', 'wm_input', 'wm_snapshot', 'wm_load_map']) {
    assert.ok(names.includes(expected), `${expected} not found among ${names.join(', ')}`);
  }
});

test('every export of the production wasm is called by the SDK (js/src)', () => {
  const unused = unusedExports(production, source);
  assert.deepEqual(unused, [], `the production wasm exports what js/src never calls: ${unused.join(', ')}. ` +
    'Move test-only exports to wasm/test_exports.cpp (the test build), or drop them.');
});

test('every export of the map compiler is called by the SDK', () => {
  assert.deepEqual(unusedExports(compiler, source), []);
  assert.ok(wasmExports(compiler).some((e) => e.name === 'wm_compile'));
});

test('every export the SDK calls is in the production wasm, none only in the test build', () => {
  const shipped = new Set(wasmExports(production).map((e) => e.name));
  // What js/src/wasm-module.js calls on the module's exports.
  const loader = fs.readFileSync(path.join(sdkDir, 'wasm-module.js'), 'utf8');
  const called = [...new Set([...loader.matchAll(/\bx\.(wm_\w+)\(/g)].map((m) => m[1]))];
  assert.ok(called.includes('wm_track') && called.includes('wm_load_map'), `calls found: ${called.join(', ')}`);
  for (const name of called) assert.ok(shipped.has(name), `js/src/wasm-module.js calls ${name}, which the production wasm lacks`);
  // Anything the test build adds must not be used by the SDK: it would be missing in production.
  for (const e of wasmExports(testBuild)) {
    if (!shipped.has(e.name)) assert.ok(!sdkUses(source, e.name), `js/src calls ${e.name}, a test-build-only export`);
  }
});

test('what counts as a use: a call on a module or handle, not the tracker\'s own method or a comment', () => {
  assert.equal(sdkUses(stripComments('this._live()._track(x);'), '_track'), true);
  assert.equal(sdkUses(stripComments("module['_defaultMap']();"), '_defaultMap'), true);
  assert.equal(sdkUses(stripComments('_track(name) {}\nthis._track(a);'), '_track'), false);
  assert.equal(sdkUses(stripComments('// module._mergeLogs(a, b)\n/* h._alias() */ x._trackAll();'), '_mergeLogs'), false);
  assert.equal(sdkUses(stripComments('x._trackAll();'), '_track'), false);
});

test('the check fails on a real module with exports the SDK does not call: the test build', () => {
  assert.deepEqual(unusedExports(testBuild, source).sort(), [
    'wm_test_attribute_path (function)',
    'wm_test_classify_channel (function)',
    'wm_test_engine_attribute (function)',
    'wm_test_input (function)',
    'wm_test_merge_logs (function)',
    'wm_test_output (function)',
    'wm_test_track_json (function)',
  ]);
});

test('dist/ ships the modules checked here', (t) => {
  if (process.env.WAYMARK_WASM_DIR || !fs.existsSync(path.join(root, 'dist', 'waymark.wasm'))) {
    t.skip('no dist/ for this wasm folder (run node scripts/build-js.mjs)');
    return;
  }
  for (const file of [production, compiler]) {
    const built = fs.readFileSync(path.join(wasmDir, file));
    assert.ok(fs.readFileSync(path.join(root, 'dist', file)).equals(built),
      `dist/${file} differs from build/wasm/wasm/${file}: run node scripts/build-js.mjs`);
  }
});
