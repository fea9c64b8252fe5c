#!/usr/bin/env bash
# The bundler tier: tests/bundlers/*.test.mjs pack the package (npm pack), install the tarball
# offline into a small app, bundle it with esbuild, webpack 5 and Vite (the project's own
# devDependencies), serve each bundle on loopback and check it in Debian's Chromium against the
# real collector: the .wasm loads, events are stored, the default map's slots are personalized.
# esbuild runs with docs/sdk.md's command line; without it, init's error names the missing URL.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
for f in dist/index.mjs dist/waymark.wasm build/native/bin/waymark-collector /usr/bin/chromium \
  node_modules/.bin/esbuild node_modules/webpack/package.json node_modules/vite/package.json; do
  if [[ ! -e "$f" ]]; then
    echo "test-bundlers: ERROR: $f missing; run scripts/setup.sh and scripts/build.sh" >&2
    exit 1
  fi
done
source scripts/lib/node-tests.sh
rc=0
run_node_tests bundlers "bundlers (esbuild, webpack, vite in chromium)" --test-concurrency=1 tests/bundlers/ || rc=$?
tier_summary "$NODE_TESTS_LINE"
exit "$rc"
