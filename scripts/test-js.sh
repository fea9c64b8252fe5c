#!/usr/bin/env bash
# The JS tier: tests/js/*.test.mjs with Node's test runner against the BUILT wasm module
# (build/wasm/wasm/waymark.js + .wasm), including every shared vector through the wasm engine.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
if [[ ! -f build/wasm/wasm/waymark.wasm ]]; then
  echo "test-js: ERROR: build/wasm/wasm/waymark.wasm missing; run scripts/build.sh" >&2
  exit 1
fi
mkdir -p build/test-logs
rc=0
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=build/test-logs/js.tap tests/js/ || rc=$?
passed=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' build/test-logs/js.tap | tail -n 1)
failed=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' build/test-logs/js.tap | tail -n 1)
line="js (wasm engine): ${passed:-0} passed, ${failed:-?} failed"
echo "$line"
[[ -n "${WAYMARK_TIER_SUMMARY:-}" ]] && echo "$line" >"$WAYMARK_TIER_SUMMARY"
exit "$rc"
