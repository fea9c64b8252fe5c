// The size limits have one owner, core/include/waymark/limits.h: the SDK's js/src/limits.js is
// generated from it, and what the SDK packs must pass the collector's default caps.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { readLimits, render } from '../../scripts/gen-limits.mjs';
import * as limits from '../../js/src/limits.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const header = fs.readFileSync(path.join(ROOT, 'core', 'include', 'waymark', 'limits.h'), 'utf8');

test('js/src/limits.js is what scripts/gen-limits.mjs writes from limits.h (not stale)', () => {
  const current = fs.readFileSync(path.join(ROOT, 'js', 'src', 'limits.js'), 'utf8');
  assert.equal(current, render(readLimits(header)), 'run node scripts/gen-limits.mjs');
});

test('every limit of the header reaches the SDK with its value', () => {
  const read = readLimits(header);
  assert.ok(read.length >= 9, `only ${read.length} limits read`);
  for (const [name, value] of read) assert.equal(limits[name], value, name);
  assert.equal(limits.MAX_EVENT_BYTES, 32 * 1024);
  assert.ok(limits.MAX_BATCH_BYTES < limits.KEEPALIVE_BUDGET, 'a batch fits the keepalive budget');
});

test('the generator refuses a limit it cannot read rather than guess', () => {
  assert.throws(() => readLimits('inline constexpr std::size_t kOdd = 1 << 4;\n'), /cannot read/);
  assert.throws(() => readLimits('// nothing here\n'), /no limits/);
});

test('no SDK module keeps its own copy of a core limit', () => {
  const src = path.join(ROOT, 'js', 'src');
  for (const file of fs.readdirSync(src).filter((f) => f.endsWith('.js') && f !== 'limits.js')) {
    const text = fs.readFileSync(path.join(src, file), 'utf8');
    for (const [name] of readLimits(header)) {
      assert.doesNotMatch(text, new RegExp(`const ${name} =`), `${file} defines ${name} itself`);
    }
    assert.doesNotMatch(text, /\b(?:32 \* 1024|60000|65536)\b.*(?:batch|event|keepalive)/i, `${file} spells a core limit as a number`);
  }
});
