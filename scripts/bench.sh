#!/usr/bin/env bash
# The body of `npm run bench` (issue 6): one command, on a fresh clone, that measures waymark side
# by side with the trackers sites use today and judges each aim from the same run.
#
#   scripts/bench.sh [--quick] [core benchmark arguments, e.g. --benchmark_filter=Track]
#
# 1. set-up (scripts/setup.sh) and a build of only what the benchmark runs: the native core
#    benchmark, the collector and its benchmark, the wasm engine and the SDK's dist/;
# 2. the core natively (Google Benchmark, bench/core_bench.cpp) -> bench/results/core-native.json;
# 3. the core in wasm under Node and in Chromium (bench/core_wasm.mjs) -> core-wasm.json;
# 4. the collector against raw SQLite and a hello-world (bench/collector_bench.cpp) -> collector.json:
#    closed-loop throughput, p99 at half that rate (open loop), 2 000 browsers on their own
#    connections against the same schedule over 8 (issue 10's aims; about 2 minutes);
# 5. the browser: waymark, Snowplow, Segment, PostHog, Amplitude, GrowthBook and a no-op floor in one
#    headless Chromium (bench/browser_bench.mjs) -> browser.json;
# 5c. 1, 2 and 3 collectors on one throwaway PostgreSQL against raw inserts (bench/postgres_bench.mjs)
#    -> postgres.json (WAYMARK_BENCH_POSTGRES=0 skips it, WAYMARK_POSTGRES_BENCH_ARGS passes flags);
# 5d. every stats endpoint at 10 k and 1 M events on SQLite and PostgreSQL, and a map publish's
#    re-projection (bench/stats_bench.mjs) -> stats.json (WAYMARK_BENCH_STATS=0 skips it,
#    WAYMARK_STATS_BENCH_ARGS passes flags; --quick: 100 k events);
# 6. bench/report.mjs: bench/results/latest.json and latest.md (machine, versions, date, the aims).
#
# Every piece writes to a .tmp file first, so a failed run leaves the previous results in place.
# Environment: WAYMARK_BENCH_COLLECTOR=0 / WAYMARK_BENCH_BROWSER=0 / WAYMARK_BENCH_WASM=0 skip a
# piece; WAYMARK_COLLECTOR_BENCH_ARGS (default "--duration 5 --hello-seconds 2 --sqlite-seconds 4
# --half-rate-seconds 10 --browser-seconds 30"), WAYMARK_BROWSER_BENCH_ARGS (default "--rounds 5
# --exit-rounds 2") and WAYMARK_WASM_BENCH_ARGS pass flags. --quick: 2 browser rounds (1 with the
# exit tests), 3 s collector phases (5 s at half rate, 12 s of browsers), 1 s wasm runs.
set -euo pipefail
cd "$(dirname "$0")/.."

STARTED=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "")
QUICK=0
CORE_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    *) CORE_ARGS+=("$arg") ;;
  esac
done
if ((QUICK)); then
  COLLECTOR_ARGS_DEFAULT="--duration 3 --hello-seconds 2 --sqlite-seconds 3 --half-rate-seconds 5 --browser-seconds 12"
  BROWSER_ARGS_DEFAULT="--rounds 2 --exit-rounds 1"
  WASM_ARGS_DEFAULT="--seconds 1"
  STATS_ARGS_DEFAULT="--large 100000 --runs 3"
else
  COLLECTOR_ARGS_DEFAULT="--duration 5 --hello-seconds 2 --sqlite-seconds 4 --half-rate-seconds 10 --browser-seconds 30"
  BROWSER_ARGS_DEFAULT="--rounds 5 --exit-rounds 2"
  WASM_ARGS_DEFAULT="--seconds 2"
  STATS_ARGS_DEFAULT="--large 1000000 --runs 7"
fi

RESULTS=bench/results
BENCH_BIN=build/native/bench/waymark_core_bench
COLLECTOR_BIN=build/native/bin/waymark-collector
COLLECTOR_BENCH_BIN=build/native/bench/waymark_collector_bench
stage() { printf '\n==> bench: %s (%d s)\n' "$*" "$(($(date +%s) - STARTED))"; }

# ---------------------------------------------------------------------------------------------
# 1. Set-up and build (only the targets the benchmark runs: no test suites).
bash scripts/setup.sh
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}" # emcc needs acorn (TOOLCHAIN.md, quirk 1)
JOBS="${WAYMARK_JOBS:-2}"
is_configured() { [[ -f "$1/CMakeCache.txt" ]] && { [[ -f "$1/Makefile" ]] || [[ -f "$1/build.ninja" ]]; }; }
stage "build: native (core benchmark, collector, collector benchmark)"
# Configured exactly as scripts/build.sh does, so both share build/native and build/wasm.
is_configured build/native || cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release
cmake --build build/native -j"$JOBS" --target waymark_core_bench waymark-collector waymark_collector_bench waymark_stats_seed
# The dashboard the stats bench loads in Chromium at 10 k and 1 M events.
node scripts/build-dashboard.mjs > /dev/null
stage "build: wasm engine and the SDK's dist/"
is_configured build/wasm || emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_CROSSCOMPILING_EMULATOR=$(command -v node);--no-experimental-fetch"
# The production module and the map compiler (dist/ ships both), and the test build, where
# bench/core_wasm.mjs times the SDK's typed call against the JSON call it replaced (same engine).
cmake --build build/wasm -j"$JOBS" --target waymark_wasm waymark_wasm_test waymark_compiler
node scripts/build-js.mjs

for bin in "$BENCH_BIN" "$COLLECTOR_BIN" "$COLLECTOR_BENCH_BIN"; do
  if [[ ! -x "$bin" ]]; then
    echo "bench: ERROR: $bin was not built (bench/CMakeLists.txt, bench/collector_bench.cmake, server_stub/)." >&2
    exit 1
  fi
done
mkdir -p "$RESULTS"

# ---------------------------------------------------------------------------------------------
# 2. The core, natively.
stage "core: $BENCH_BIN"
"$BENCH_BIN" --benchmark_out="$RESULTS/core-native.json.tmp" --benchmark_out_format=json ${CORE_ARGS[@]+"${CORE_ARGS[@]}"}
mv -f "$RESULTS/core-native.json.tmp" "$RESULTS/core-native.json"

# 3. The core in wasm (Node, Chromium).
if [[ "${WAYMARK_BENCH_WASM:-1}" != 0 ]]; then
  stage "core in wasm: bench/core_wasm.mjs"
  # shellcheck disable=SC2086 # a list of flags
  node bench/core_wasm.mjs --out "$RESULTS/core-wasm.json.tmp" ${WAYMARK_WASM_BENCH_ARGS:-$WASM_ARGS_DEFAULT}
  mv -f "$RESULTS/core-wasm.json.tmp" "$RESULTS/core-wasm.json"
fi

# 4. The collector (its databases go to a temp folder under build/native: the project's disk).
if [[ "${WAYMARK_BENCH_COLLECTOR:-1}" != 0 ]]; then
  stage "collector: $COLLECTOR_BENCH_BIN"
  # shellcheck disable=SC2086 # a list of flags
  "$COLLECTOR_BENCH_BIN" --collector "$COLLECTOR_BIN" --dir build/native --out "$RESULTS/collector.json.tmp" \
    ${WAYMARK_COLLECTOR_BENCH_ARGS:-$COLLECTOR_ARGS_DEFAULT}
  mv -f "$RESULTS/collector.json.tmp" "$RESULTS/collector.json"
fi

# 5. The browser.
if [[ "${WAYMARK_BENCH_BROWSER:-1}" != 0 ]]; then
  stage "browser: bench/browser_bench.mjs"
  # shellcheck disable=SC2086 # a list of flags
  node bench/browser_bench.mjs --out "$RESULTS/browser.json.tmp" ${WAYMARK_BROWSER_BENCH_ARGS:-$BROWSER_ARGS_DEFAULT}
  mv -f "$RESULTS/browser.json.tmp" "$RESULTS/browser.json"
fi

# 5b. Browser and collector on the same journey: the demo walk-through, 20 visitors.
if [[ "${WAYMARK_BENCH_WALKTHROUGH:-1}" != 0 ]]; then
  stage "walk-through: bench/walkthrough_bench.mjs"
  node bench/walkthrough_bench.mjs --runs "${WAYMARK_WALKTHROUGH_RUNS:-20}" --out "$RESULTS/walkthrough.json.tmp"
  mv -f "$RESULTS/walkthrough.json.tmp" "$RESULTS/walkthrough.json"
fi

# 5c. Several collectors on one PostgreSQL against raw inserts of the same rows (issue 14).
if [[ "${WAYMARK_BENCH_POSTGRES:-1}" != 0 ]]; then
  stage "postgres: bench/postgres_bench.mjs"
  # shellcheck disable=SC2086 # a list of flags
  node bench/postgres_bench.mjs --out "$RESULTS/postgres.json" ${WAYMARK_POSTGRES_BENCH_ARGS:-}
fi

# 5d. The dashboard's reports at 10 k and at 1 M events on both backends, and the re-projection of a
#     map publish (issue 14).
if [[ "${WAYMARK_BENCH_STATS:-1}" != 0 ]]; then
  stage "stats: bench/stats_bench.mjs"
  # shellcheck disable=SC2086 # a list of flags
  node bench/stats_bench.mjs --out "$RESULTS/stats.json" ${WAYMARK_STATS_BENCH_ARGS:-$STATS_ARGS_DEFAULT}
fi

# 6. The table.
stage "report: bench/report.mjs"
node bench/report.mjs --results "$RESULTS" --started "$STARTED" --load-start "$LOAD_START"
echo "bench: done in $(($(date +%s) - STARTED)) s: $RESULTS/latest.md, $RESULTS/latest.json"
