#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for shell scripts and the benchmark (tests use
# tests/collector/postgres.mjs, which does the same from Node).
#
#   scripts/pg-throwaway.sh start DIR PORT     # prints postgres://waymark@127.0.0.1:PORT/postgres
#   scripts/pg-throwaway.sh stop DIR [MODE]    # pg_ctl -m MODE (fast) stop, then removes DIR
#
# DIR holds everything: data/ (the cluster), server.log and the Unix socket; it must be missing,
# empty, or a folder this script made. `start` on a folder whose server was stopped by other means
# starts the same data again. The role `waymark` connects without a password (trust), on 127.0.0.1
# only. initdb refuses to run as root, so as root the programs run as the `postgres` user on a DIR
# that user owns (TOOLCHAIN.md, "PostgreSQL 15"). Only the URL goes to stdout, so
# `url=$(scripts/pg-throwaway.sh start "$dir" 54321)` works.
set -euo pipefail
# PG* variables of the caller (PGDATA, PGOPTIONS, PGHOST...) would redirect the programs; this
# comes before our own variables, whose names start with PG too.
unset "${!PG@}"
export LC_ALL=C

PG_BIN=/usr/lib/postgresql/15/bin
MARKER=.waymark-pg-throwaway

die() { printf 'pg-throwaway: ERROR: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 start DIR PORT | $0 stop DIR [fast|smart|immediate]"; }

# Run a server program as the user that owns the data: postgres when we are root. From inside DIR,
# so the program never starts in a directory the postgres user cannot read.
as_server_user() {
  local program="$PG_BIN/$1"
  shift
  if [[ "$EUID" -eq 0 ]]; then
    (cd "$DIR" && runuser -u postgres -- "$program" "$@")
  else
    (cd "$DIR" && "$program" "$@")
  fi
}

# Exit status 0 when the postmaster named in DIR/data/postmaster.pid is running (a zombie is not:
# PID 1 on these machines reaps the detached postmaster late, and kill -0 succeeds on zombies).
server_running() {
  local pid state
  [[ -f "$DIR/data/postmaster.pid" ]] || return 1
  pid="$(head -n 1 "$DIR/data/postmaster.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state="$(sed -E 's/.*\) (.).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z ]]
}

[[ $# -ge 2 ]] || usage
CMD="$1"
DIR="$(realpath -m -- "$2")"

case "$CMD" in
  start)
    [[ $# -eq 3 ]] || usage
    PORT="$3"
    if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then die "PORT must be 1-65535, got '$PORT'"; fi
    [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] ||
      die "PostgreSQL 15 programs missing in $PG_BIN: run scripts/setup.sh (it installs postgresql and libpq-dev)"
    # pg_ctl passes -o through a shell, and Unix socket paths are limited to 107 bytes.
    [[ "$DIR" != *"'"* ]] || die "DIR must not contain a single quote: $DIR"
    ((${#DIR} + 20 < 108)) || die "DIR is too long for a Unix socket path (${#DIR} characters): $DIR"
    # Never take over (chown, and later remove) a folder that holds something else.
    if [[ -e "$DIR" && ! -e "$DIR/$MARKER" ]] && [[ -n "$(ls -A "$DIR" 2>/dev/null)" || ! -d "$DIR" ]]; then
      die "$DIR exists and is not an empty folder or one made by this script"
    fi
    mkdir -p "$DIR"
    touch "$DIR/$MARKER"
    if [[ "$EUID" -eq 0 ]]; then
      id -u postgres >/dev/null 2>&1 || die "no postgres user: run scripts/setup.sh"
      chown postgres "$DIR"
      runuser -u postgres -- test -w "$DIR" ||
        die "the postgres user cannot write to $DIR (a parent folder is closed to it?): use a folder under /tmp"
    fi
    server_running && die "a server is already running on $DIR (stop it first)"
    if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
      as_server_user initdb -D "$DIR/data" -U waymark --auth=trust -E UTF8 --locale=C \
        >"$DIR/initdb.log" 2>&1 || {
        sed 's/^/    /' "$DIR/initdb.log" >&2
        die "initdb failed in $DIR/data"
      }
    fi
    # fsync and synchronous_commit are the defaults, spelled out because the durability tests and
    # the benchmark rely on them; 200 connections leave room for several collectors' pools.
    opts="-p $PORT -k '$DIR' -c listen_addresses=127.0.0.1"
    opts+=" -c fsync=on -c synchronous_commit=on -c max_connections=200"
    if ! as_server_user pg_ctl -D "$DIR/data" -l "$DIR/server.log" -w start -o "$opts" \
      >"$DIR/pg_ctl.log" 2>&1; then
      # With -w, pg_ctl also gives up on a server that is merely slow: make sure none stays up.
      if server_running; then
        as_server_user pg_ctl -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
      fi
      {
        sed 's/^/    /' "$DIR/pg_ctl.log"
        echo "--- last lines of $DIR/server.log ---"
        tail -n 30 "$DIR/server.log" 2>/dev/null || echo "(no server log)"
      } >&2
      die "PostgreSQL did not start on 127.0.0.1:$PORT (data $DIR/data)"
    fi
    printf 'postgres://waymark@127.0.0.1:%s/postgres\n' "$PORT"
    ;;
  stop)
    [[ $# -le 3 ]] || usage
    MODE="${3:-fast}"
    [[ "$MODE" =~ ^(smart|fast|immediate)$ ]] || die "MODE must be smart, fast or immediate, got '$MODE'"
    [[ -e "$DIR" ]] || exit 0 # already stopped and removed
    [[ -e "$DIR/$MARKER" ]] || die "$DIR was not made by this script; not touching it"
    if server_running; then
      as_server_user pg_ctl -D "$DIR/data" -m "$MODE" -w stop >/dev/null ||
        { server_running && as_server_user pg_ctl -D "$DIR/data" -m immediate -w stop >/dev/null; } ||
        die "could not stop the server in $DIR/data (see $DIR/server.log)"
    fi
    rm -rf -- "$DIR"
    ;;
  *) usage ;;
esac
