#!/usr/bin/env bash
# The collector's end-to-end tier: tests/collector/*.test.mjs run with Node's built-in test runner
# against the real waymark-collector binary, over real HTTP on loopback (one temporary database per
# server, servers on free ports), once on SQLite and once on PostgreSQL (a throwaway server from
# Debian's postgresql package, run as the postgres user: tests/collector/postgres.mjs).
#
#   scripts/test-collector.sh [extra node --test arguments, e.g. --test-name-pattern=webhooks]
#
# Needs a finished build (build/native/bin/waymark-collector, or the binary named by
# WAYMARK_COLLECTOR). The console shows the spec report; the TAP report goes to
# build/test-logs/collector.tap. If WAYMARK_TIER_SUMMARY names a file, a one-line result is
# written there (scripts/test.sh uses it). WAYMARK_TEST_TIMEOUT (seconds, default 600) bounds the run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BIN="${WAYMARK_COLLECTOR:-build/native/bin/waymark-collector}"
LOG_DIR=build/test-logs
TAP="$LOG_DIR/collector.tap"
TIMEOUT="${WAYMARK_TEST_TIMEOUT:-600}"

summary() {
  echo "$1"
  if [[ -n "${WAYMARK_TIER_SUMMARY:-}" ]]; then
    printf '%s\n' "$1" >"$WAYMARK_TIER_SUMMARY"
  fi
}

if [[ ! -x "$BIN" ]]; then
  echo "test-collector: ERROR: collector binary missing: $BIN" >&2
  echo "test-collector: build first: bash scripts/build.sh (or npm run build)" >&2
  summary "collector: FAILED: binary missing ($BIN)"
  exit 1
fi
if ! command -v node >/dev/null 2>&1; then
  summary "collector: FAILED: node not found"
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
  summary "collector: FAILED: needs Node 20 or later (found $(node --version))"
  exit 1
fi

mkdir -p "$LOG_DIR"
export WAYMARK_COLLECTOR="$BIN"

# The run's totals are the last unindented "# pass N" / "# fail N" lines of a TAP report.
count() { sed -nE "s/^# $1 ([0-9]+)$/\\1/p" "$2" 2>/dev/null | tail -n 1; }

# The whole suite once per storage backend: SQLite files, then databases on a throwaway
# PostgreSQL server per test file (WAYMARK_TEST_BACKEND, tests/collector/helpers.mjs). Prints
# one result line; returns non-zero on any failure.
run_suite() {
  local backend="$1" tap="$LOG_DIR/collector-$1.tap" rc=0 start=$SECONDS
  rm -f "$tap"
  echo "==> collector tests on $backend: node --test --test-concurrency=1 tests/collector/ ($BIN)"
  WAYMARK_TEST_BACKEND="$backend" timeout --kill-after=10 "$TIMEOUT" node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    "${EXTRA[@]}" tests/collector/ || rc=$?
  local secs=$((SECONDS - start)) passed failed cancelled total
  passed="$(count pass "$tap")"
  failed="$(count fail "$tap")"
  cancelled="$(count cancelled "$tap")"
  total="$(count tests "$tap")"
  if ((rc == 124 || rc == 137)); then
    RESULT="$backend: FAILED: timed out after ${TIMEOUT} s (${passed:-0} passed before)"
    return 1
  fi
  if [[ -z "$total" ]]; then
    RESULT="$backend: FAILED: no test summary (exit code $rc)"
    return 1
  fi
  if ((rc == 0 && ${failed:-0} == 0 && ${cancelled:-0} == 0 && total > 0)); then
    RESULT="$passed passed on $backend (${secs} s)"
    return 0
  fi
  RESULT="$backend: FAILED: $passed passed, ${failed:-0} failed"
  if ((${cancelled:-0} > 0)); then RESULT+=", $cancelled cancelled"; fi
  RESULT+=" (${secs} s)"
  return 1
}

EXTRA=("$@")
status=0
results=()
for backend in sqlite postgres; do
  run_suite "$backend" || status=1
  results+=("$RESULT")
done
cp "$LOG_DIR/collector-sqlite.tap" "$TAP" 2>/dev/null || true
joined="$(printf '%s; ' "${results[@]}")"
if ((status == 0)); then
  summary "collector: ${joined%; }"
else
  summary "collector: FAILED: ${joined%; }"
fi
exit "$status"
