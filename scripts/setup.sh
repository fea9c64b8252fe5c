#!/usr/bin/env bash
# Set-up step run first by `npm test`, `npm start`, `npm run build` and `npm run bench`.
#
# On a fresh Debian 12 machine it installs what the project needs (the toolchain notes are in
# TOOLCHAIN.md): Debian packages through apt-get, JS tooling through `npm ci`. When everything is
# already present it only runs a few local checks (no apt-get update, no network) and takes well
# under a second. Safe to run any number of times.
#
# Environment (mainly for testing this script):
#   WAYMARK_SETUP_EXTRA_PACKAGES="a b"  also require these Debian packages
#   WAYMARK_SETUP_DRY_RUN=1             print the install commands instead of running them
#   WAYMARK_SETUP_FORCE_CHECK=1         redo the emcc sanity check even if its marker is current
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(
  cmake g++ make pkg-config
  emscripten
  nlohmann-json3-dev libcpp-httplib-dev libboost-dev libbrotli-dev
  libgtest-dev googletest libbenchmark-dev
  libsqlite3-dev sqlite3 zlib1g-dev
  postgresql libpq-dev
  clang-format
  chromium
)
if [[ -n "${WAYMARK_SETUP_EXTRA_PACKAGES:-}" ]]; then
  # shellcheck disable=SC2206  # word splitting is intended
  APT_PACKAGES+=(${WAYMARK_SETUP_EXTRA_PACKAGES})
fi
DRY_RUN="${WAYMARK_SETUP_DRY_RUN:-0}"

command -v dpkg-query >/dev/null 2>&1 ||
  die "dpkg-query not found: this script supports Debian 12 (bookworm) and its derivatives only"

# ---------------------------------------------------------------------------------------------
# 1. Debian packages: one dpkg-query call for the whole list (fast, no network).
# ---------------------------------------------------------------------------------------------
declare -A INSTALLED_VERSION=()
while IFS=$'\t' read -r pkg status version; do
  if [[ "$status" == "install ok installed" ]]; then INSTALLED_VERSION["$pkg"]="$version"; fi
done < <(dpkg-query -W -f='${Package}\t${Status}\t${Version}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)

MISSING=()
for pkg in "${APT_PACKAGES[@]}"; do
  [[ -n "${INSTALLED_VERSION[$pkg]:-}" ]] || MISSING+=("$pkg")
done

if ((${#MISSING[@]} > 0)); then
  # --no-install-recommends is enough: emcc's clang-14, lld-14, llvm-14, binaryen, node-acorn and
  # nodejs are all Depends of emscripten (its Recommends are libjs-d3 and python3-numpy only).
  APT_INSTALL=(apt-get install -y --no-install-recommends "${MISSING[@]}")
  if [[ "$EUID" -eq 0 ]]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo)
  else
    {
      echo "setup: ERROR: missing Debian packages: ${MISSING[*]}"
      echo "setup: this user is not root and cannot use sudo without a password. As root, run:"
      echo
      echo "    apt-get update && DEBIAN_FRONTEND=noninteractive ${APT_INSTALL[*]}"
      echo
      echo "setup: then run this command again."
    } >&2
    exit 1
  fi
  log "installing ${MISSING[*]}"
  if [[ "$DRY_RUN" == 1 ]]; then
    log "(dry run) would run: ${SUDO[*]:+${SUDO[*]} }apt-get update"
    log "(dry run) would run: ${SUDO[*]:+${SUDO[*]} }env DEBIAN_FRONTEND=noninteractive ${APT_INSTALL[*]}"
  else
    "${SUDO[@]}" apt-get update || die "apt-get update failed (is deb.debian.org reachable?)"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "${APT_INSTALL[@]}" ||
      die "apt-get install failed for: ${MISSING[*]}"
    # Read the versions again (the emcc marker below is keyed on emscripten's version).
    while IFS=$'\t' read -r pkg status version; do
      if [[ "$status" == "install ok installed" ]]; then INSTALLED_VERSION["$pkg"]="$version"; fi
    done < <(dpkg-query -W -f='${Package}\t${Status}\t${Version}\n' "${MISSING[@]}" 2>/dev/null || true)
    for pkg in "${MISSING[@]}"; do
      [[ -n "${INSTALLED_VERSION[$pkg]:-}" ]] || die "apt-get finished but $pkg is still not installed"
    done
    log "installed ${MISSING[*]}"
  fi
fi

# Node.js and npm are preinstalled on the project's machines (Node 20); Debian's own nodejs is 18.
command -v node >/dev/null 2>&1 || die "node not found: install Node.js >= 18 (the project uses Node 20)"
command -v npm >/dev/null 2>&1 || die "npm not found: install npm (it comes with Node.js)"
NODE_VERSION="$(node --version)"
NODE_MAJOR="${NODE_VERSION#v}"
NODE_MAJOR="${NODE_MAJOR%%.*}"
((NODE_MAJOR >= 18)) || die "Node.js $NODE_VERSION is too old: the project needs Node.js >= 18"

# ---------------------------------------------------------------------------------------------
# 2. npm packages: `npm ci` when node_modules is missing or older than package(-lock).json.
# ---------------------------------------------------------------------------------------------
# npm writes node_modules/.package-lock.json only when there is at least one dependency, so after
# our own `npm ci` we also touch node_modules/.waymark-npm-ci; either one being current is enough.
npm_is_current() {
  local stamp
  for stamp in node_modules/.package-lock.json node_modules/.waymark-npm-ci; do
    if [[ -e "$stamp" && "$stamp" -nt package-lock.json && "$stamp" -nt package.json ]]; then
      return 0
    fi
  done
  return 1
}
if [[ -f package-lock.json ]]; then
  if ! npm_is_current; then
    log "npm ci (node_modules missing or older than package-lock.json / package.json)"
    if [[ "$DRY_RUN" == 1 ]]; then
      log "(dry run) would run: npm ci --no-audit --no-fund"
    else
      npm ci --no-audit --no-fund
      mkdir -p node_modules
      touch node_modules/.waymark-npm-ci
    fi
  fi
elif [[ -f package.json ]]; then
  log "WARNING: package-lock.json is missing; run 'npm install' once and commit package-lock.json"
fi

# ---------------------------------------------------------------------------------------------
# 3. Emscripten sanity check (once per emscripten/node version; the marker lives under build/).
# ---------------------------------------------------------------------------------------------
# emcc's JS optimizer needs acorn from /usr/share/nodejs (TOOLCHAIN.md, quirk 1), and Node 20's
# fetch breaks loading a separate .wasm (quirk 3). An -O2 compile exercises the optimizer; the run
# under `node --no-experimental-fetch` checks the output loads.
EMCC_MARKER=build/.setup/emcc-ok
EMCC_KEY="emscripten ${INSTALLED_VERSION[emscripten]:-unknown} node $NODE_VERSION"
if [[ "$DRY_RUN" != 1 ]] &&
  { [[ "${WAYMARK_SETUP_FORCE_CHECK:-0}" == 1 ]] || [[ ! -f "$EMCC_MARKER" ]] ||
    [[ "$(cat "$EMCC_MARKER")" != "$EMCC_KEY" ]]; }; then
  log "checking emcc (once; marker $EMCC_MARKER)"
  export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
  mkdir -p build/.setup
  rm -f "$EMCC_MARKER"
  check_dir="$(mktemp -d build/.setup/emcc-check.XXXXXX)"
  trap 'rm -rf "$check_dir"' EXIT
  emcc_fail() {
    echo "setup: ERROR: $1" >&2
    sed 's/^/    /' "$check_dir/log" >&2
    echo "setup: emcc must run with NODE_PATH=/usr/share/nodejs (TOOLCHAIN.md, quirk 1)." >&2
    exit 1
  }
  NODE_PATH="$NODE_PATH" emcc --version >"$check_dir/log" 2>&1 || emcc_fail "emcc --version failed"
  log "$(head -n 1 "$check_dir/log")"
  cat >"$check_dir/check.cpp" <<'EOF'
#include <cstdio>
#include <string>
int main() {
  std::string s = "waymark";
  std::printf("%s-emcc-ok\n", (s + "").c_str());
  return 0;
}
EOF
  em++ -O2 -std=c++17 "$check_dir/check.cpp" -o "$check_dir/check.js" >"$check_dir/log" 2>&1 ||
    emcc_fail "em++ could not compile a tiny C++ program"
  node --no-experimental-fetch "$check_dir/check.js" >"$check_dir/log" 2>&1 ||
    emcc_fail "the tiny wasm program did not run under node"
  grep -q '^waymark-emcc-ok$' "$check_dir/log" || emcc_fail "the tiny wasm program printed the wrong output"
  printf '%s\n' "$EMCC_KEY" >"$EMCC_MARKER"
  log "emcc works"
fi

exit 0
