#!/usr/bin/env bash
# The body of `npm test` (and so of .ci/run): set-up, build, then every test tier in turn.
#
# Each tier runs even if an earlier test tier failed, so one run reports everything; a tier that
# needs the build is skipped when the build failed (stale binaries must not pass for new code).
# The script ends with one line per tier and exits non-zero if any tier failed or was skipped.
#
# To add a tier: write scripts/test-<tier>.sh (cd to the repo root, exit non-zero on failure, and
# optionally write a one-line result to "$WAYMARK_TIER_SUMMARY"), then add a run_tier line below.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

LOG_DIR=build/test-logs
mkdir -p "$LOG_DIR"

TIER_NAMES=()
TIER_RESULTS=()
FAILED=0

# run_tier NAME TITLE COMMAND...: runs one tier and records its one-line result.
run_tier() {
  local name="$1" title="$2"
  shift 2
  printf '\n======== %s: %s ========\n' "$name" "$title"
  local summary_file="$LOG_DIR/$name.summary" start=$SECONDS rc=0
  rm -f "$summary_file"
  WAYMARK_TIER_SUMMARY="$summary_file" "$@" || rc=$?
  local secs=$((SECONDS - start)) line=""
  [[ -s "$summary_file" ]] && line="$(head -n 1 "$summary_file")"
  if ((rc == 0)); then
    TIER_RESULTS+=("ok      ${line:-passed} (${secs} s)")
  else
    TIER_RESULTS+=("FAILED  ${line:-exit code $rc} (${secs} s)")
    FAILED=1
  fi
  TIER_NAMES+=("$name")
  return "$rc"
}

skip_tier() { # NAME REASON
  printf '\n======== %s: skipped (%s) ========\n' "$1" "$2"
  TIER_NAMES+=("$1")
  TIER_RESULTS+=("SKIPPED $2")
  FAILED=1
}

print_summary() {
  printf '\n======== summary ========\n'
  local i
  for i in "${!TIER_NAMES[@]}"; do
    printf '  %-10s %s\n' "${TIER_NAMES[$i]}" "${TIER_RESULTS[$i]}"
  done
  if ((FAILED)); then echo "npm test: FAILED"; else echo "npm test: all tiers passed"; fi
}

# --- set-up: without the toolchain nothing else can run, so stop here if it fails.
if ! run_tier setup "install missing packages (scripts/setup.sh)" bash scripts/setup.sh; then
  print_summary
  exit 1
fi

# --- build: native and wasm (setup just ran).
BUILD_OK=1
run_tier build "native + wasm build (scripts/build.sh)" \
  env WAYMARK_SKIP_SETUP=1 bash scripts/build.sh || BUILD_OK=0

# --- tier 1: core, the same GoogleTest suite natively and as wasm.
if ((BUILD_OK)); then
  run_tier core "C++ core, native and wasm (scripts/test-core.sh)" bash scripts/test-core.sh
else
  skip_tier core "build failed"
fi

# --- tier 1b: the wasm engine from JavaScript (the shared vectors through the built module).
if ((BUILD_OK)); then
  run_tier js "wasm engine from JS (scripts/test-js.sh)" bash scripts/test-js.sh
else
  skip_tier js "build failed"
fi

# --- tier 2: the collector: its GoogleTest unit suite, then real HTTP against the real binary.
if ((BUILD_OK)); then
  run_tier collector-unit "collector units (build/native/server_stub/waymark_collector_unit_tests)" \
    bash -c 'build/native/server_stub/waymark_collector_unit_tests --gtest_brief=1 > build/test-logs/collector-unit.log 2>&1; rc=$?; tail -n 3 build/test-logs/collector-unit.log; n=$(grep -oE "[0-9]+ tests? from [0-9]+ test suites? ran" build/test-logs/collector-unit.log | head -1); [[ -n "${WAYMARK_TIER_SUMMARY:-}" ]] && echo "collector units: ${n:-no summary}" > "$WAYMARK_TIER_SUMMARY"; exit $rc'
  run_tier collector "collector over HTTP (scripts/test-collector.sh)" bash scripts/test-collector.sh
else
  skip_tier collector-unit "build failed"
  skip_tier collector "build failed"
fi

# --- formatting: clang-format (Google base) on every C++ file.
run_tier format "C++ formatting (scripts/check-format.sh)" bash scripts/check-format.sh

# --- tier 3: the SDK under Node against the built dist/, and the npm pack smoke test.
if ((BUILD_OK)); then
  run_tier sdk "SDK under Node + npm pack (scripts/test-sdk.sh)" bash scripts/test-sdk.sh
else
  skip_tier sdk "build failed"
fi

# --- tier 4: the SDK in real Chromium against the real collector.
if ((BUILD_OK)); then
  run_tier browser "SDK in headless Chromium (scripts/test-browser.sh)" bash scripts/test-browser.sh
else
  skip_tier browser "build failed"
fi

# --- tier 4b: the packed package through esbuild, webpack 5 and Vite, each bundle in Chromium.
if ((BUILD_OK)); then
  run_tier bundlers "npm pack bundled by esbuild/webpack/vite, in Chromium (scripts/test-bundlers.sh)" bash scripts/test-bundlers.sh
else
  skip_tier bundlers "build failed"
fi

print_summary
exit "$FAILED"
