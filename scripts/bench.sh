#!/usr/bin/env bash
# The body of `npm run bench`: set-up, native build, the core's Google Benchmark, then the
# collector benchmark (the real waymark-collector against raw SQLite and a hello-world server).
#
#   scripts/bench.sh [core benchmark arguments, e.g. --benchmark_filter=Replay]
#
# Prints the console tables and writes the JSON results to bench/results/core-native.json,
# bench/results/collector.json and bench/results/browser.json. The collector benchmark takes about
# 30 s; WAYMARK_BENCH_COLLECTOR=0 skips it, WAYMARK_COLLECTOR_BENCH_ARGS passes it flags (e.g.
# "--clients 16 --duration 5"). The SDK in Chromium (bench/browser_bench.mjs) takes about a minute;
# WAYMARK_BENCH_BROWSER=0 skips it, WAYMARK_BROWSER_BENCH_ARGS passes it flags ("--rounds 9").
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_BIN=build/native/bench/waymark_core_bench
OUT=bench/results/core-native.json
COLLECTOR_BIN=build/native/bin/waymark-collector
COLLECTOR_BENCH_BIN=build/native/bench/waymark_collector_bench
COLLECTOR_OUT=bench/results/collector.json

bash scripts/setup.sh
WAYMARK_SKIP_SETUP=1 bash scripts/build.sh

if [[ ! -x "$BENCH_BIN" ]]; then
  echo "bench: ERROR: $BENCH_BIN was not built." >&2
  echo "bench: it comes from bench/CMakeLists.txt (target waymark_core_bench); check that it" >&2
  echo "bench: exists and that WAYMARK_BUILD_BENCH is ON in build/native/CMakeCache.txt." >&2
  exit 1
fi

mkdir -p bench/results
printf '\n==> bench: %s\n' "$BENCH_BIN"
# Written to a .tmp file first so that a failed run leaves the previous results in place.
"$BENCH_BIN" --benchmark_out="$OUT.tmp" --benchmark_out_format=json "$@"
mv -f "$OUT.tmp" "$OUT"
echo "bench: results written to $OUT"

run_browser_bench() {
  if [[ "${WAYMARK_BENCH_BROWSER:-1}" == 0 ]]; then
    echo "bench: browser benchmark skipped (WAYMARK_BENCH_BROWSER=0)"
    return 0
  fi
  printf '\n==> bench: bench/browser_bench.mjs (the SDK in Chromium)\n'
  # shellcheck disable=SC2086 # WAYMARK_BROWSER_BENCH_ARGS is a list of flags
  node bench/browser_bench.mjs ${WAYMARK_BROWSER_BENCH_ARGS:-}
}

if [[ "${WAYMARK_BENCH_COLLECTOR:-1}" == 0 ]]; then
  echo "bench: collector benchmark skipped (WAYMARK_BENCH_COLLECTOR=0)"
  run_browser_bench
  exit 0
fi
for bin in "$COLLECTOR_BIN" "$COLLECTOR_BENCH_BIN"; do
  if [[ ! -x "$bin" ]]; then
    echo "bench: ERROR: $bin was not built." >&2
    echo "bench: waymark-collector comes from server_stub/, waymark_collector_bench from" >&2
    echo "bench: bench/collector_bench.cmake (included from bench/CMakeLists.txt)." >&2
    exit 1
  fi
done
printf '\n==> bench: %s\n' "$COLLECTOR_BENCH_BIN"
# Its databases go to a temp folder under build/native (the project's disk, not a tmpfs /tmp).
# shellcheck disable=SC2086 # WAYMARK_COLLECTOR_BENCH_ARGS is a list of flags
"$COLLECTOR_BENCH_BIN" --collector "$COLLECTOR_BIN" --dir build/native --out "$COLLECTOR_OUT.tmp" \
  ${WAYMARK_COLLECTOR_BENCH_ARGS:-}
mv -f "$COLLECTOR_OUT.tmp" "$COLLECTOR_OUT"
echo "bench: results written to $COLLECTOR_OUT"

run_browser_bench
