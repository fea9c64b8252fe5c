# shellcheck shell=bash
# Shared by the Node test tiers (scripts/test-js.sh, test-sdk.sh, test-browser.sh): run one folder of
# *.test.mjs files and write the tier's one-line result. Source it from the repository root:
#
#   source scripts/lib/node-tests.sh
#   rc=0
#   run_node_tests js "js (wasm engine)" tests/js/ || rc=$?
#   tier_summary "$NODE_TESTS_LINE"
#   exit "$rc"
#
# scripts/test.sh reads the line from the file WAYMARK_TIER_SUMMARY names, so its format
# ("LABEL: N passed, M failed") is what the overall summary shows.

# run_node_tests NAME LABEL [node --test arguments and paths...]
# Runs node --test with the spec report on the console and the TAP report in
# build/test-logs/NAME.tap, then sets NODE_TESTS_PASSED, NODE_TESTS_FAILED and
# NODE_TESTS_LINE="LABEL: P passed, F failed". Returns node's exit code.
run_node_tests() {
  local name="$1" label="$2"
  shift 2
  local tap="build/test-logs/$name.tap"
  mkdir -p build/test-logs
  local rc=0
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "$@" || rc=$?
  # The run's totals are the last unindented "# pass N" / "# fail N" lines (subtests report
  # their own, indented). No fail line means the run broke before reporting: "?".
  NODE_TESTS_PASSED=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -n 1)
  NODE_TESTS_FAILED=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -n 1)
  # shellcheck disable=SC2034  # read by the tier scripts that source this file
  NODE_TESTS_LINE="$label: ${NODE_TESTS_PASSED:-0} passed, ${NODE_TESTS_FAILED:-?} failed"
  return "$rc"
}

# tier_summary LINE: print the tier's result and hand it to scripts/test.sh when it asks.
tier_summary() {
  echo "$1"
  [[ -n "${WAYMARK_TIER_SUMMARY:-}" ]] && echo "$1" >"$WAYMARK_TIER_SUMMARY"
  return 0
}
