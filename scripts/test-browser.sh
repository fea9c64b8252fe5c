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
mkdir -p build/test-logs
rc=0
node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=build/test-logs/browser.tap tests/browser/ || rc=$?
passed=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' build/test-logs/browser.tap | tail -n 1)
failed=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' build/test-logs/browser.tap | tail -n 1)
line="browser (chromium): ${passed:-0} passed, ${failed:-?} failed"
echo "$line"
[[ -n "${WAYMARK_TIER_SUMMARY:-}" ]] && echo "$line" >"$WAYMARK_TIER_SUMMARY"
exit "$rc"
