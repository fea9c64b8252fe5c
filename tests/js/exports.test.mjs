// Only production code in the production wasm (issue 12 point 3): every Embind export of the module
// that ships (build/wasm/wasm/waymark.wasm, copied to dist/waymark.wasm) is called by the SDK's
// source (js/src), and every export the SDK calls is in it. Calls that only tests need belong to
// the test build (wasm/test_bindings.cpp). The checker runs on the test build too, where it must
// report exactly the test-only exports: proof, on a real module, that it can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { loadModule, loadTestModule, root, wasmDir } from './load-engine.mjs';

const sdkDir = path.join(root, 'js', 'src');

/**
 * The Embind-registered names of an instantiated module: classes (emscripten::class_, whose
 * prototypes inherit Embind's ClassHandle with `isAliasOf`) with their methods and static
 * functions, and free functions (emscripten::function: Embind's replacePublicSymbol gives each an
 * own `argCount`, or an `overloadTable` when overloaded). Emscripten's own glue on the module
 * (_malloc, stackSave, count_emval_handles, ...) has neither mark.
 */
function embindExports(module) {
  const exports = [];
  for (const [name, value] of Object.entries(module)) {
    if (typeof value !== 'function') continue;
    if (value.prototype && typeof value.prototype.isAliasOf === 'function') {
      exports.push({ name, what: 'class' });
      for (const method of Object.getOwnPropertyNames(value.prototype)) {
        if (method !== 'constructor') exports.push({ name: method, what: `method of ${name}` });
      }
      for (const fn of Object.getOwnPropertyNames(value)) {
        if (typeof value[fn] === 'function' && !['extend', 'implement'].includes(fn)) {
          exports.push({ name: fn, what: `static function of ${name}` });
        }
      }
    } else if (Object.hasOwn(value, 'argCount') || value.overloadTable) {
      exports.push({ name, what: 'function' });
    }
  }
  return exports;
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
function unusedExports(module, source = sdkSource()) {
  return embindExports(module).filter((e) => !sdkUses(source, e.name)).map((e) => `${e.name} (${e.what})`);
}

const production = await loadModule();
const testBuild = await loadTestModule();
const source = sdkSource();

test('the production module exports the engine and the SDK calls (the check sees real exports)', () => {
  const names = embindExports(production).map((e) => e.name);
  for (const expected of ['Engine', '_trackRecords', '_inputBuffer', '_snapshot', '_loadMap']) {
    assert.ok(names.includes(expected), `${expected} not found among ${names.join(', ')}`);
  }
});

test('every export of the production wasm is called by the SDK (js/src)', () => {
  const unused = unusedExports(production, source);
  assert.deepEqual(unused, [], `the production wasm exports what js/src never calls: ${unused.join(', ')}. ` +
    'Move test-only exports to wasm/test_bindings.cpp (the test build), or drop them.');
});

test('every export the SDK calls is in the production wasm, none only in the test build', () => {
  const shipped = new Set(embindExports(production).map((e) => e.name));
  // What js/src/engine.js calls on the module and on an engine handle.
  const engineJs = fs.readFileSync(path.join(sdkDir, 'engine.js'), 'utf8');
  const called = [...engineJs.matchAll(/(?:\bmodule|_live\(\)|\bhandle|_handle)\.(\w+)\(/g)].map((m) => m[1])
    .filter((n) => n !== 'delete'); // Embind's own handle method
  assert.ok(called.includes('_trackRecords') && called.includes('_loadMap'), `calls found: ${called.join(', ')}`);
  for (const name of called) assert.ok(shipped.has(name), `js/src/engine.js calls ${name}, which the production wasm lacks`);
  // Anything the test build adds must not be used by the SDK: it would be missing in production.
  for (const e of embindExports(testBuild)) {
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
    '_attributePath (function)',
    '_buildBatches (function)',
    '_classifyChannel (function)',
    '_engineAttribute (function)',
    '_mergeLogs (function)',
    '_trackJson (function)',
  ]);
});

test('dist/waymark.wasm is the production module checked here', (t) => {
  const dist = path.join(root, 'dist', 'waymark.wasm');
  if (process.env.WAYMARK_WASM_DIR || !fs.existsSync(dist)) {
    t.skip('no dist/ for this wasm folder (run node scripts/build-js.mjs)');
    return;
  }
  const built = fs.readFileSync(path.join(wasmDir, 'waymark.wasm'));
  assert.ok(fs.readFileSync(dist).equals(built),
    'dist/waymark.wasm differs from build/wasm/wasm/waymark.wasm: run node scripts/build-js.mjs');
});
