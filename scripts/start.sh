#!/usr/bin/env bash
# The body of `npm start`. For now it can only build: the collector server (issue 3), the demo site
# (issue 5) and the dashboard do not exist yet.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
WAYMARK_SKIP_SETUP=1 bash scripts/build.sh

echo
echo "npm start: nothing to start yet. The collector server, the demo site and the dashboard"
echo "arrive with issues 3-5; for now this command only builds the project."
echo
echo "Built:"
shopt -s nullglob
found=0
for f in build/native/tests/waymark_core_tests \
  build/wasm/tests/waymark_core_tests.js build/wasm/tests/waymark_core_tests.wasm \
  build/wasm/wasm/*.js build/wasm/wasm/*.wasm; do
  if [[ -f "$f" ]]; then
    printf '  %-50s %8s bytes\n' "$f" "$(stat -c %s "$f")"
    found=1
  fi
done
((found)) || echo "  (no artifacts found under build/)"
echo
echo "Run the tests with: npm test"
exit 0
