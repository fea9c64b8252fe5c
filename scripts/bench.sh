#!/usr/bin/env bash
# The body of `npm run bench`: set-up, native build, then the core's Google Benchmark.
#
#   scripts/bench.sh [benchmark arguments, e.g. --benchmark_filter=Replay]
#
# Prints the console table and writes the JSON results to bench/results/core-native.json.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_BIN=build/native/bench/waymark_core_bench
OUT=bench/results/core-native.json

bash scripts/setup.sh
WAYMARK_SKIP_SETUP=1 bash scripts/build.sh --native-only

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
