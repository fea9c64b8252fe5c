#!/usr/bin/env bash
# Runs the core GoogleTest suite twice, natively and as wasm under Node, and checks that both runs
# pass and ran the same tests.
#
#   scripts/test-core.sh [gtest arguments, e.g. --gtest_filter=Event*]
#
# Needs a finished build (scripts/build.sh). Full logs go to build/test-logs/core-{native,wasm}.log;
# the console shows the summary and failure lines only. If WAYMARK_TIER_SUMMARY names a file, a
# one-line result is written there (scripts/test.sh uses it). WAYMARK_TEST_TIMEOUT (seconds,
# default 900) bounds each run.
set -euo pipefail
cd "$(dirname "$0")/.."

NATIVE_BIN=build/native/tests/waymark_core_tests
WASM_JS=build/wasm/tests/waymark_core_tests.js
WASM_BIN=build/wasm/tests/waymark_core_tests.wasm
LOG_DIR=build/test-logs
TIMEOUT="${WAYMARK_TEST_TIMEOUT:-900}"

summary() {
  echo "$1"
  if [[ -n "${WAYMARK_TIER_SUMMARY:-}" ]]; then
    printf '%s\n' "$1" >"$WAYMARK_TIER_SUMMARY"
  fi
}

missing=()
[[ -x "$NATIVE_BIN" ]] || missing+=("$NATIVE_BIN")
[[ -f "$WASM_JS" ]] || missing+=("$WASM_JS")
[[ -f "$WASM_BIN" ]] || missing+=("$WASM_BIN")
if ((${#missing[@]} > 0)); then
  for f in "${missing[@]}"; do
    echo "test-core: ERROR: test binary missing: $f" >&2
  done
  echo "test-core: build first: bash scripts/build.sh (or npm run build)" >&2
  summary "core tests: FAILED: test binaries missing (${missing[*]})"
  exit 1
fi

mkdir -p "$LOG_DIR"

# run_suite NAME LOG COMMAND...: runs the suite with its output in LOG; prints the summary lines,
# the failure lines with their details, and the log's tail if the run ended without a summary.
# Sets RC_<NAME>, RAN_<NAME>, PASSED_<NAME>, SKIPPED_<NAME>, FAILED_<NAME>.
run_suite() {
  local name="$1" log="$2"
  shift 2
  echo "==> core tests ($name): $*"
  local start=$SECONDS rc=0
  timeout --kill-after=10 "$TIMEOUT" "$@" --gtest_color=no >"$log" 2>&1 || rc=$?
  # Summary and failure lines; after a "...: Failure" line, its details up to the next "[" line.
  awk '
    /^\[==========\]|^\[  PASSED  \]|^\[  SKIPPED \]|^\[  FAILED  \]|FAILED TEST|YOU HAVE/ {
      print "    " $0; detail = 0; next
    }
    /: Failure$/ { print "    " $0; detail = 1; shown = 0; next }
    detail && /^\[/ { detail = 0 }
    detail && shown < 25 { print "      " $0; shown++ }
  ' "$log"
  local ran passed skipped failed
  ran="$(sed -nE 's/^\[==========\] ([0-9]+) tests? from [0-9]+ test suites? ran\..*/\1/p' "$log" | tail -n 1)"
  passed="$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\..*/\1/p' "$log" | tail -n 1)"
  skipped="$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) tests?, listed below:.*/\1/p' "$log" | tail -n 1)"
  failed="$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?, listed below:.*/\1/p' "$log" | tail -n 1)"
  if [[ -z "$ran" ]]; then
    echo "    (no GoogleTest summary: the run crashed, aborted or hung; last lines of $log:)"
    tail -n 30 "$log" | sed 's/^/      /'
  fi
  if ((rc == 124 || rc == 137)); then
    echo "    TIMED OUT after ${TIMEOUT} s"
  fi
  echo "    exit code $rc, $((SECONDS - start)) s, full log: $log"
  printf -v "RC_$name" '%s' "$rc"
  printf -v "RAN_$name" '%s' "${ran:-}"
  printf -v "PASSED_$name" '%s' "${passed:-}"
  printf -v "SKIPPED_$name" '%s' "${skipped:-0}"
  printf -v "FAILED_$name" '%s' "${failed:-0}"
}

run_suite native "$LOG_DIR/core-native.log" "$NATIVE_BIN" "$@"
# --no-experimental-fetch: Node 20's fetch cannot load the separate .wasm file emitted by
# Emscripten 3.1.6 (TOOLCHAIN.md, quirk 3).
run_suite wasm "$LOG_DIR/core-wasm.log" node --no-experimental-fetch "$WASM_JS" "$@"

# Names of the tests that passed, for comparing the two runs test by test.
ok_names() { sed -nE 's/^\[       OK \] ([^ ]+) .*/\1/p' "$1" | sort; }

problems=()
describe() { # NAME -> e.g. "123 passed", "120 passed, 3 failed", "no summary (exit 134)"
  local rc_var="RC_$1" ran_var="RAN_$1" passed_var="PASSED_$1" failed_var="FAILED_$1"
  local skipped_var="SKIPPED_$1"
  if [[ -z "${!ran_var}" ]]; then
    echo "no summary (exit ${!rc_var})"
    return
  fi
  local text="${!passed_var:-0} passed"
  if ((${!failed_var:-0} > 0)); then text+=", ${!failed_var} failed"; fi
  if ((${!skipped_var:-0} > 0)); then text+=", ${!skipped_var} skipped"; fi
  echo "$text"
}
for side in native wasm; do
  rc_var="RC_$side" ran_var="RAN_$side" passed_var="PASSED_$side" skipped_var="SKIPPED_$side"
  if [[ "${!rc_var}" != 0 ]]; then problems+=("$side run exited with ${!rc_var}"); fi
  if [[ -z "${!ran_var}" || -z "${!passed_var}" ]]; then
    problems+=("$side run did not report all tests passed")
  elif ((${!ran_var} == 0)); then
    problems+=("$side run found no tests")
  elif ((${!passed_var} + ${!skipped_var} != ${!ran_var})); then
    problems+=("$side run: ${!passed_var} passed + ${!skipped_var} skipped != ${!ran_var} ran")
  fi
done
if [[ -n "$RAN_native" && -n "$RAN_wasm" && "$RAN_native" != "$RAN_wasm" ]]; then
  problems+=("different numbers of tests ran: native $RAN_native, wasm $RAN_wasm")
fi
if [[ -n "$PASSED_native" && -n "$PASSED_wasm" && "$PASSED_native" != "$PASSED_wasm" ]]; then
  problems+=("different numbers of tests passed: native $PASSED_native, wasm $PASSED_wasm")
fi
if ((${#problems[@]} == 0)); then
  name_diff="$(diff <(ok_names "$LOG_DIR/core-native.log") <(ok_names "$LOG_DIR/core-wasm.log") || true)"
  if [[ -n "$name_diff" ]]; then
    problems+=("the two runs passed different tests (< native only, > wasm only):")
    while IFS= read -r line; do
      if [[ "$line" == [\<\>]* ]]; then problems+=("  $line"); fi
    done <<<"$name_diff"
  fi
fi

# tests/core/determinism_test.cpp prints one digest of everything 1 000 random streams produced
# (snapshots, state, scores, attribution); the native and the wasm engine must agree to the byte.
digest() { sed -nE 's/^\[ DIGEST   \] random-streams ([0-9a-f]{16}) .*/\1/p' "$1" | tail -n 1; }
digest_native="$(digest "$LOG_DIR/core-native.log")"
digest_wasm="$(digest "$LOG_DIR/core-wasm.log")"
same_bytes=""
if [[ -n "$digest_native" || -n "$digest_wasm" ]]; then
  if [[ "$digest_native" != "$digest_wasm" ]]; then
    problems+=("native and wasm engines computed different bytes over the random streams: digest native ${digest_native:-missing}, wasm ${digest_wasm:-missing} (tests/core/determinism_test.cpp)")
  else
    same_bytes=", same bytes over the random streams ($digest_native)"
  fi
fi

echo
if ((${#problems[@]} == 0)); then
  summary "core tests: native $(describe native), wasm $(describe wasm): same suite$same_bytes"
  exit 0
fi
for p in "${problems[@]}"; do
  echo "test-core: FAIL: $p" >&2
done
summary "core tests: FAILED: native $(describe native), wasm $(describe wasm)"
exit 1
