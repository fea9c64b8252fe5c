#!/usr/bin/env bash
# npm pack smoke test: packs the package as a user would get it from the registry, installs the
# tarball into an empty project (no network: --offline, no dependencies), then imports it as ESM
# and requires it as CommonJS and sends one event through each to a real collector.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/waymark-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
echo "packed $tarball ($(stat -c %s "$work/$tarball") bytes):"
tar -tzf "$work/$tarball" | sed 's/^/  /'
mkdir -p "$work/app"
cd "$work/app"
echo '{"name":"pack-smoke","version":"1.0.0","private":true}' > package.json
npm install --silent --offline --no-audit --no-fund "$work/$tarball"
node "$root/tests/pack/smoke.mjs" "$work/app"
