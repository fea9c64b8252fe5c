#!/usr/bin/env bash
# The JS tier: tests/js/*.test.mjs with Node's test runner against the BUILT wasm module
# (build/wasm/wasm/waymark.js + .wasm), including every shared vector through the wasm engine.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
if [[ ! -f build/wasm/wasm/waymark.wasm ]]; then
  echo "test-js: ERROR: build/wasm/wasm/waymark.wasm missing; run scripts/build.sh" >&2
  exit 1
fi
source scripts/lib/node-tests.sh
rc=0
run_node_tests js "js (wasm engine)" tests/js/ || rc=$?
tier_summary "$NODE_TESTS_LINE"
exit "$rc"
