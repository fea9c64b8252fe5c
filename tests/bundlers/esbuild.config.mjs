// esbuild for the bundler tier: the command line is read from docs/sdk.md ("npm", the esbuild
// paragraph), so the tier runs exactly what the docs tell a developer to run, and a change to
// either one that breaks the other fails the tier.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DOCS = path.join(ROOT, 'docs', 'sdk.md');

/** docs/sdk.md's "### npm" section (up to the next heading of level 2 or 3). */
export function npmSection() {
  const text = fs.readFileSync(DOCS, 'utf8');
  const start = text.indexOf('\n### npm\n');
  if (start < 0) throw new Error('docs/sdk.md has no "### npm" section');
  const rest = text.slice(start + 1);
  const end = rest.slice(1).search(/\n##+ /);
  return end < 0 ? rest : rest.slice(0, end + 1);
}

/** The esbuild arguments of the docs' `npx esbuild ... --loader:.wasm=file ...` line. */
export function docsEsbuildArgs() {
  const line = npmSection()
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('npx esbuild ') && l.includes('--loader:.wasm=file'));
  if (!line) throw new Error('docs/sdk.md ("npm") has no `npx esbuild ... --loader:.wasm=file` line');
  return line.slice('npx esbuild '.length).split(/\s+/);
}

/** esbuild's plain bundle, with no waymark-specific flag: the case where the .wasm is missing. */
export const PLAIN_ESBUILD_ARGS = ['src/index.js', '--bundle', '--outdir=public/assets'];
