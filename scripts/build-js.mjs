// Builds the SDK's distributable files into dist/ from js/src and the wasm build:
//   dist/waymark.js   + dist/waymark.wasm   the script tag (IIFE, minified)
//   dist/index.mjs    / dist/index.cjs      npm, for bundlers and browsers (ESM / CommonJS)
//   dist/node.mjs     / dist/node.cjs       npm under Node (reads the .wasm from disk)
//   dist/index.d.ts                         the hand-written types (js/index.d.ts)
//   dist/waymark-compiler.wasm              the map compiler, fetched only for maps given as JSON
// esbuild (npm) does the bundling: small, fast, no plugins needed. The two .wasm modules are
// standalone (plain exports, no Emscripten glue): js/src/wasm-module.js and compiler.js load them.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

import { writeLimits } from './gen-limits.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wasmDir = process.env.WAYMARK_WASM_DIR || path.join(root, 'build', 'wasm', 'wasm');
const out = path.join(root, 'dist');
for (const file of [path.join(wasmDir, 'waymark.wasm'), path.join(wasmDir, 'waymark-compiler.wasm')]) {
  if (!fs.existsSync(file)) {
    console.error(`build-js: ${path.relative(root, file)} is missing; build the wasm first (scripts/build.sh)`);
    process.exit(1);
  }
}
fs.mkdirSync(out, { recursive: true });
writeLimits(); // js/src/limits.js from the core's limits.h, before bundling reads it

const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const common = {
  bundle: true,
  target: ['es2020'],
  legalComments: 'none',
  logLevel: 'warning',
  define: { __WAYMARK_VERSION__: JSON.stringify(version) },
  banner: { js: `/* waymark ${version} | MIT */` },
};
const src = (f) => path.join(root, 'js', 'src', f);

await Promise.all([
  esbuild.build({ ...common, entryPoints: [src('entry-script.js')], outfile: path.join(out, 'waymark.js'), format: 'iife', platform: 'browser', minify: true }),
  esbuild.build({ ...common, entryPoints: [src('entry-browser.js')], outfile: path.join(out, 'index.mjs'), format: 'esm', platform: 'browser' }),
  esbuild.build({ ...common, entryPoints: [src('entry-browser.js')], outfile: path.join(out, 'index.cjs'), format: 'cjs', platform: 'browser', logOverride: { 'empty-import-meta': 'silent' } }),
  esbuild.build({ ...common, entryPoints: [src('entry-node.js')], outfile: path.join(out, 'node.mjs'), format: 'esm', platform: 'node' }),
  esbuild.build({ ...common, entryPoints: [src('entry-node.js')], outfile: path.join(out, 'node.cjs'), format: 'cjs', platform: 'node', logOverride: { 'empty-import-meta': 'silent' } }),
]);
fs.copyFileSync(path.join(wasmDir, 'waymark.wasm'), path.join(out, 'waymark.wasm'));
fs.copyFileSync(path.join(wasmDir, 'waymark-compiler.wasm'), path.join(out, 'waymark-compiler.wasm'));
fs.copyFileSync(path.join(root, 'js', 'index.d.ts'), path.join(out, 'index.d.ts'));

const sizes = ['waymark.js', 'waymark.wasm', 'waymark-compiler.wasm'].map((f) => {
  const bytes = fs.readFileSync(path.join(out, f));
  return `${f} ${bytes.length} B`;
});
console.log(`build-js: dist/ written (${sizes.join(', ')})`);
