#!/usr/bin/env bash
# The body of `npm start`: set up what is missing, build everything (native, wasm, SDK, dashboard),
# then scripts/start.mjs runs the collector on data/waymark.db (serving the dashboard) and the demo
# site, and prints their URLs and keys. Ctrl-C stops both. See scripts/start.mjs for the settings.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
WAYMARK_SKIP_SETUP=1 bash scripts/build.sh
exec node scripts/start.mjs
