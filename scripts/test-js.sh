#!/usr/bin/env bash
# The JS tier: tests/js/*.test.mjs with Node's test runner against the BUILT wasm modules: the
# production one (build/wasm/wasm/waymark.wasm, the one dist/ ships; exports.test.mjs checks that
# the SDK calls every one of its exports), the test build (waymark_test.wasm, the same plus the
# calls only tests make), through which every shared vector runs, and the map compiler.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
for f in build/wasm/wasm/waymark.wasm build/wasm/wasm/waymark_test.wasm; do
  if [[ ! -f "$f" ]]; then
    echo "test-js: ERROR: $f missing; run scripts/build.sh" >&2
    exit 1
  fi
done
source scripts/lib/node-tests.sh
rc=0
run_node_tests js "js (wasm engine)" tests/js/ || rc=$?
tier_summary "$NODE_TESTS_LINE"
exit "$rc"
