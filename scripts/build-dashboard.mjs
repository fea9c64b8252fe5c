#!/usr/bin/env node
// Builds the journey dashboard: copies demo/dashboard/** and ECharts (node_modules/echarts/dist/
// echarts.min.js) into build/dashboard/, the folder given to `waymark-collector --static`.
// No bundling, no transpiling: the dashboard is plain ES modules. Text files over 1 KB also get
// precompressed siblings (name.br at brotli's highest quality, name.gz), made once here so that
// the collector sends them as they are instead of compressing on every request.
//
//   node scripts/build-dashboard.mjs [--out DIR]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'demo', 'dashboard');
const echarts = path.join(root, 'node_modules', 'echarts', 'dist', 'echarts.min.js');

let out = path.join(root, 'build', 'dashboard');
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out' && args[i + 1]) out = path.resolve(args[++i]);
  else if (args[i] === '--help' || args[i] === '-h') {
    console.log('usage: node scripts/build-dashboard.mjs [--out DIR]   (default build/dashboard)');
    process.exit(0);
  } else {
    console.error(`build-dashboard: unknown argument ${args[i]}`);
    process.exit(2);
  }
}

function fail(message) {
  console.error(`build-dashboard: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(path.join(src, 'index.html'))) fail(`${path.relative(root, src)}/index.html is missing`);
if (!fs.existsSync(echarts)) {
  fail(
    'node_modules/echarts/dist/echarts.min.js is missing: run `npm install` (echarts is a ' +
      'devDependency; the dashboard never loads it from a CDN)',
  );
}

// Start from an empty folder so files deleted from demo/dashboard do not linger.
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

const written = [];
function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  written.push({ file: path.relative(root, to), bytes: fs.statSync(to).size });
}

function copyTree(dir, dest) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const from = path.join(dir, entry.name);
    const to = path.join(dest, entry.name);
    if (entry.isDirectory()) copyTree(from, to);
    else if (entry.isFile()) copy(from, to);
  }
}

copyTree(src, out);
copy(echarts, path.join(out, 'echarts.min.js'));

const COMPRESSIBLE = /\.(html|js|mjs|css|svg|json|txt)$/;
for (const w of [...written]) {
  const file = path.join(root, w.file);
  if (!COMPRESSIBLE.test(file) || w.bytes < 1024) continue;
  const data = fs.readFileSync(file);
  const br = zlib.brotliCompressSync(data, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length },
  });
  const gz = zlib.gzipSync(data, { level: 9 });
  for (const [suffix, bytes] of [['.br', br], ['.gz', gz]]) {
    fs.writeFileSync(file + suffix, bytes);
    written.push({ file: w.file + suffix, bytes: bytes.length });
  }
}

const width = Math.max(...written.map((w) => w.file.length));
console.log(`build-dashboard: wrote ${written.length} files to ${path.relative(root, out) || '.'}`);
for (const w of written) console.log(`  ${w.file.padEnd(width)} ${String(w.bytes).padStart(9)} bytes`);
