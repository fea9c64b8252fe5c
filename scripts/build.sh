#!/usr/bin/env bash
# Builds the project: native (build/native), WebAssembly (build/wasm: the production module
# waymark.wasm, its test build waymark_test.wasm and the wasm test suite), both Release, and the
# SDK bundles in dist/ (script tag, npm ESM/CommonJS, types) from js/src and the production wasm,
# and the dashboard in build/dashboard.
#
#   scripts/build.sh [--native-only | --wasm-only]
#
# Runs scripts/setup.sh first unless WAYMARK_SKIP_SETUP=1. Configures a build directory only when
# it has not been configured yet (CMake re-runs itself when a CMakeLists.txt changes); delete
# build/native or build/wasm to configure from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }

BUILD_NATIVE=1
BUILD_WASM=1
for arg in "$@"; do
  case "$arg" in
    --native-only) BUILD_WASM=0 ;;
    --wasm-only) BUILD_NATIVE=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done
if ((BUILD_NATIVE == 0 && BUILD_WASM == 0)); then
  echo "build: --native-only and --wasm-only exclude each other" >&2
  exit 2
fi

# Every emcc/em++ call, including those made by CMake builds, needs acorn from /usr/share/nodejs
# (TOOLCHAIN.md, quirk 1).
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
JOBS="${WAYMARK_JOBS:-2}"

stage() { printf '\n==> build: %s\n' "$*"; }

# A build directory counts as configured when CMake got as far as generating the build system.
is_configured() {
  [[ -f "$1/CMakeCache.txt" ]] && { [[ -f "$1/Makefile" ]] || [[ -f "$1/build.ninja" ]]; }
}

if [[ "${WAYMARK_SKIP_SETUP:-0}" != 1 ]]; then
  bash scripts/setup.sh
fi

BUILT=()
if ((BUILD_NATIVE)); then
  start=$SECONDS
  if ! is_configured build/native; then
    stage "native: configure (build/native)"
    cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release
  fi
  stage "native: compile (-j$JOBS)"
  cmake --build build/native -j"$JOBS"
  # The collector is also reachable at build/bin/waymark-collector, the path the docs use.
  mkdir -p build/bin
  ln -sfn ../native/bin/waymark-collector build/bin/waymark-collector
  echo "build: native done in $((SECONDS - start)) s"
  BUILT+=("native $((SECONDS - start)) s")
fi

if ((BUILD_WASM)); then
  start=$SECONDS
  if ! is_configured build/wasm; then
    stage "wasm: configure (build/wasm, emcmake)"
    # The emulator setting lets `ctest --test-dir build/wasm` run the wasm tests under Node 20
    # (TOOLCHAIN.md, quirks 3 and 8).
    emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release \
      "-DCMAKE_CROSSCOMPILING_EMULATOR=$(command -v node);--no-experimental-fetch"
  fi
  stage "wasm: compile (-j$JOBS)"
  cmake --build build/wasm -j"$JOBS"
  echo "build: wasm done in $((SECONDS - start)) s"
  BUILT+=("wasm $((SECONDS - start)) s")

  # The SDK's dist/ (script tag, npm ESM/CJS, types) from js/src and the wasm just built.
  start=$SECONDS
  stage "sdk: bundle js/src into dist/ (esbuild)"
  node scripts/build-js.mjs
  # The dashboard the collector serves (--static build/dashboard), with echarts from node_modules.
  node scripts/build-dashboard.mjs > /dev/null
  BUILT+=("sdk $((SECONDS - start)) s")
fi

# One-line result for scripts/test.sh's summary.
if [[ -n "${WAYMARK_TIER_SUMMARY:-}" ]]; then
  (IFS=,; printf 'built %s\n' "${BUILT[*]}" | sed 's/,/, /g') >"$WAYMARK_TIER_SUMMARY"
fi
