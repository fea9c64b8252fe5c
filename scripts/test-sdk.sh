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
mkdir -p build/test-logs
rc=0
node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=build/test-logs/sdk.tap tests/sdk/ || rc=$?
passed=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' build/test-logs/sdk.tap | tail -n 1)
failed=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' build/test-logs/sdk.tap | tail -n 1)
pack="not run"
if bash scripts/test-pack.sh > build/test-logs/pack.log 2>&1; then
  pack="passed"
else
  pack="FAILED (build/test-logs/pack.log)"
  tail -n 30 build/test-logs/pack.log
  rc=1
fi
line="sdk (node, dist): ${passed:-0} passed, ${failed:-?} failed; npm pack smoke test ${pack}"
echo "$line"
[[ -n "${WAYMARK_TIER_SUMMARY:-}" ]] && echo "$line" >"$WAYMARK_TIER_SUMMARY"
exit "$rc"
