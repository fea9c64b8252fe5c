#!/usr/bin/env bash
# The browser tier: tests/browser/*.test.mjs drive Debian's Chromium with playwright-core against
# the BUILT script tag (dist/) and the real collector on loopback. One file at a time: each starts
# its own browser and collector, and the machine has two cores.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
for f in dist/waymark.js dist/waymark.wasm build/native/bin/waymark-collector /usr/bin/chromium; do
  if [[ ! -e "$f" ]]; then
    echo "test-browser: ERROR: $f missing; run scripts/build.sh (and scripts/setup.sh for chromium)" >&2
    exit 1
  fi
done
source scripts/lib/node-tests.sh
rc=0
# One file at a time (see above).
run_node_tests browser "browser (chromium)" --test-concurrency=1 tests/browser/ || rc=$?
tier_summary "$NODE_TESTS_LINE"
exit "$rc"
