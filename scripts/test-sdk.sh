#!/usr/bin/env bash
# The SDK tier: tests/sdk/*.test.mjs under Node against the BUILT dist/ (ESM, CommonJS) and the
# SDK's storage and transport modules, with the real collector on loopback; then the npm pack
# smoke test (the tarball installed into an empty project, used as ESM and as CommonJS).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
for f in dist/waymark.js dist/waymark.wasm dist/node.mjs build/native/bin/waymark-collector; do
  if [[ ! -f "$f" ]]; then
    echo "test-sdk: ERROR: $f missing; run scripts/build.sh" >&2
    exit 1
  fi
done
source scripts/lib/node-tests.sh
rc=0
run_node_tests sdk "sdk (node, dist)" --test-concurrency=1 tests/sdk/ || rc=$?
pack="not run"
if bash scripts/test-pack.sh > build/test-logs/pack.log 2>&1; then
  pack="passed"
else
  pack="FAILED (build/test-logs/pack.log)"
  tail -n 30 build/test-logs/pack.log
  rc=1
fi
tier_summary "$NODE_TESTS_LINE; npm pack smoke test ${pack}"
exit "$rc"
