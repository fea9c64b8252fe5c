// Throwaway PostgreSQL 15 servers for the collector's tests (the PostgreSQL storage backend).
//
// Each server gets its own temporary folder (data directory, log, Unix socket, lock file), a TCP
// port on 127.0.0.1 and trust authentication for the role `waymark`, so tests never touch the
// machine's own cluster (Debian's 15/main) or each other. initdb refuses to run as root and CI runs
// as root, so when we are root the server programs run as the `postgres` user (runuser) on a folder
// that user owns (TOOLCHAIN.md, "PostgreSQL 15"). No npm dependencies: the programs come from
// Debian's postgresql package, which scripts/setup.sh installs.
//
//   const pg = await startPostgres();          // { url, port, dir, dataDir, logFile, stop }
//   await psql(pg, 'select 1');                // '1'
//   await restartPostgres(pg);                 // same port, same data
//   await pg.stop();                           // stops the server and removes the folder
//
// Servers still running when the process exits are stopped (immediate mode) by an 'exit' handler,
// and a small watchdog process stops them when this process dies of a signal (no 'exit' event
// then). Set WAYMARK_KEEP_TEST_DIRS=1 to keep the folders of such servers for a look at the log.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { freePort } from './ports.mjs';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
const USER = 'waymark';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

// Private state of every server this module started and has not yet stopped and removed (the
// 'exit' handler walks it), and of every handle it returned (the handle stays a plain object).
const live = new Set();
const handles = new WeakMap();

/**
 * The environment for every PostgreSQL program we run: PG* variables of the caller (PGDATA,
 * PGHOST, PGOPTIONS, PGSERVICE...) would silently point initdb, pg_ctl or psql elsewhere, and a C
 * locale keeps messages in English so the log checks below (port in use) work.
 */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_ALL = 'C';
  return env;
}

/** [file, args] that run a server program as the user owning the data (postgres when we are root). */
function asServerUser(program, args) {
  const file = path.join(PG_BIN, program);
  return IS_ROOT ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
}

/** Runs a program; resolves to { stdout, stderr }, rejects with both in the message. */
function run(file, args, { cwd, timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd, env: cleanEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const how = err.killed ? `killed after ${timeoutMs} ms` : `exit code ${err.code}`;
        const out = `${stdout}${stderr}`.trim();
        const e = new Error(`${path.basename(file)} ${args.join(' ')} failed (${how})${out ? `:\n${out}` : ''}`);
        e.stdout = stdout;
        e.stderr = stderr;
        reject(e);
      },
    );
  });
}


function logTail(st, lines = 30) {
  try {
    const text = fs.readFileSync(st.logFile, 'utf8').trimEnd();
    return text ? text.split('\n').slice(-lines).join('\n') : '(server log is empty)';
  } catch (err) {
    return `(no server log: ${err.code ?? err.message})`;
  }
}

function checkBinaries() {
  const missing = ['initdb', 'pg_ctl', 'postgres'].filter((p) => !fs.existsSync(path.join(PG_BIN, p)));
  if (missing.length > 0) {
    throw new Error(
      `PostgreSQL 15 server programs missing (${missing.map((p) => path.join(PG_BIN, p)).join(', ')}): ` +
        'run scripts/setup.sh (it installs the Debian packages postgresql and libpq-dev)',
    );
  }
}

function pgCtlStartArgs(st) {
  // pg_ctl hands -o to a shell ("exec postgres <opts> ..."), so the socket folder is quoted there.
  // fsync and synchronous_commit are the defaults, spelled out because the durability tests rely
  // on them; 200 connections leave room for several collectors' pools at once.
  const opts = [
    `-p ${st.port}`,
    `-k '${st.dir}'`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=on',
    '-c synchronous_commit=on',
    '-c max_connections=200',
  ].join(' ');
  return ['-D', st.dataDir, '-l', st.logFile, '-w', 'start', '-o', opts];
}

/** pg_ctl start; on failure stops whatever may have come up and throws with the log's tail. */
async function startServer(st) {
  const [file, args] = asServerUser('pg_ctl', pgCtlStartArgs(st));
  try {
    await run(file, args, { cwd: st.dir });
  } catch (err) {
    // With -w, pg_ctl also gives up when the server is merely slow: make sure nothing stays up.
    stopServerSync(st, 'immediate');
    const e = new Error(
      `PostgreSQL did not start on 127.0.0.1:${st.port} (data ${st.dataDir}): ${err.message}\n` +
        `--- last lines of ${st.logFile} ---\n${logTail(st)}`,
    );
    e.portInUse = /Address already in use|could not create any TCP\/IP sockets/.test(logTail(st, 200));
    throw e;
  }
}

/**
 * Whether a process is running. A zombie counts as gone: here PID 1 (the VM's init) reaps orphans
 * only now and then, and the postmaster is an orphan (pg_ctl detaches it), so kill(pid, 0) keeps
 * succeeding for a while after it exited.
 */
export function processRunning(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ESRCH') return false;
  }
  try {
    process.kill(pid, 0); // no /proc: fall back to a signal probe
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Whether the postmaster named in the data folder's postmaster.pid is still running. */
function postmasterAlive(st) {
  let pid;
  try {
    pid = Number.parseInt(fs.readFileSync(path.join(st.dataDir, 'postmaster.pid'), 'utf8'), 10);
  } catch {
    return false;
  }
  return pid > 0 && processRunning(pid);
}

/**
 * pg_ctl stop; resolves once the server is down. A server that already died (stale
 * postmaster.pid) counts as stopped; one that does not stop in MODE gets an immediate stop.
 */
async function stopServer(st, mode) {
  if (postmasterAlive(st)) {
    const [file, args] = asServerUser('pg_ctl', ['-D', st.dataDir, '-m', mode, '-w', 'stop']);
    try {
      await run(file, args, { cwd: st.dir });
    } catch (err) {
      if (postmasterAlive(st)) stopServerSync(st, 'immediate');
      if (postmasterAlive(st)) {
        throw new Error(
          `could not stop PostgreSQL (${st.dataDir}): ${err.message}\n` +
            `--- last lines of ${st.logFile} ---\n${logTail(st)}`,
        );
      }
    }
  }
}

/** Synchronous immediate stop, for the 'exit' handler and failed starts (errors ignored). */
function stopServerSync(st, mode = 'immediate') {
  if (!postmasterAlive(st)) return;
  const [file, args] = asServerUser('pg_ctl', ['-D', st.dataDir, '-m', mode, '-w', 'stop']);
  try {
    execFileSync(file, args, { cwd: st.dir, env: cleanEnv(), stdio: 'ignore', timeout: 30000 });
  } catch {
    // Nothing more we can do at exit; the watchdog tries again.
  }
}

/**
 * A detached shell that waits for this process to die, then stops the server and removes its
 * folder. The 'exit' handler covers uncaught errors and process.exit(), but a signal's default
 * action kills Node without an 'exit' event: SIGTERM from `timeout` in scripts/test-collector.sh
 * (Node 20's test runner installs no SIGTERM handler in test processes), SIGKILL from its
 * --kill-after, the OOM killer. pg_ctl starts the postmaster in its own session, so no signal
 * meant for the tests reaches it and nothing else would ever stop it. A zombie parent counts as
 * dead (see processRunning).
 */
function startWatchdog(st) {
  const [file, args] = asServerUser('pg_ctl', ['-D', st.dataDir, '-m', 'immediate', '-w', 'stop']);
  const script = [
    'parent=$1; dir=$2; keep=$3; shift 3',
    'while kill -0 "$parent" 2>/dev/null; do',
    '  case "$(cat "/proc/$parent/stat" 2>/dev/null)" in *") Z "*) break ;; esac',
    '  sleep 1',
    'done',
    '"$@" >/dev/null 2>&1',
    'if [ "$keep" != 1 ]; then rm -rf -- "$dir"; fi',
  ].join('\n');
  const keep = process.env.WAYMARK_KEEP_TEST_DIRS ? '1' : '0';
  const child = spawn('sh', ['-c', script, 'waymark-pg-watchdog', String(process.pid), st.dir, keep, file, ...args], {
    cwd: st.dir,
    env: cleanEnv(),
    detached: true,
    stdio: 'ignore',
  });
  child.on('error', () => {}); // best effort: the 'exit' handler still covers the usual cases
  child.unref();
  st.watchdog = child;
}

function stopWatchdog(st) {
  if (st.watchdog && st.watchdog.exitCode === null && st.watchdog.signalCode === null) {
    try {
      st.watchdog.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  st.watchdog = null;
}

function removeDir(st) {
  fs.rmSync(st.dir, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const st of live) {
    stopServerSync(st, 'immediate');
    stopWatchdog(st);
    if (!process.env.WAYMARK_KEEP_TEST_DIRS) removeDir(st);
  }
  live.clear();
});

/**
 * Starts a throwaway server. Options: port (default: a free port on 127.0.0.1). Resolves to
 * { url, port, dir, dataDir, logFile, stop }, url being postgres://waymark@127.0.0.1:PORT/postgres.
 * stop({ mode = 'fast' }) shuts the server down (pg_ctl -m MODE) and removes dir; calling it again
 * does nothing.
 */
export async function startPostgres({ port } = {}) {
  checkBinaries();
  // /tmp keeps the socket path short (Unix socket paths are limited to 107 bytes).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'waymark-pg-'));
  if (dir.includes("'")) throw new Error(`temporary folder name has a quote: ${dir}`);
  const st = {
    dir,
    dataDir: path.join(dir, 'data'),
    logFile: path.join(dir, 'server.log'),
    port: port ?? 0,
    watchdog: null,
    stopping: null,
    stopped: false,
  };
  try {
    if (IS_ROOT) await run('chown', ['postgres', dir]);
    const [file, args] = asServerUser('initdb', [
      '-D', st.dataDir, '-U', USER, '--auth=trust', '-E', 'UTF8', '--locale=C',
    ]);
    try {
      // cwd: the folder the server user owns, so it never starts in a directory it cannot read.
      await run(file, args, { cwd: dir });
    } catch (err) {
      const who = IS_ROOT ? ' (as user postgres, who must be able to reach that folder: check TMPDIR)' : '';
      throw new Error(`initdb failed in ${dir}${who}: ${err.message}`);
    }
    live.add(st);
    startWatchdog(st);
    // A port picked by us can be taken by someone else before the server binds it: try another.
    for (let attempt = 1; ; attempt++) {
      if (port === undefined) st.port = await freePort();
      try {
        await startServer(st);
        break;
      } catch (err) {
        if (port !== undefined || !err.portInUse || attempt >= 3) throw err;
      }
    }
  } catch (err) {
    live.delete(st);
    stopServerSync(st, 'immediate');
    stopWatchdog(st);
    if (!process.env.WAYMARK_KEEP_TEST_DIRS) removeDir(st);
    throw err;
  }

  const pg = {
    url: `postgres://${USER}@127.0.0.1:${st.port}/postgres`,
    port: st.port,
    dir: st.dir,
    dataDir: st.dataDir,
    logFile: st.logFile,
    stop: ({ mode = 'fast' } = {}) => {
      // Concurrent and repeated calls share one stop; after a failed one, a new call tries again.
      st.stopping ??= (async () => {
        await stopServer(st, mode);
        live.delete(st);
        stopWatchdog(st);
        removeDir(st);
        st.stopped = true;
      })().catch((err) => {
        st.stopping = null;
        throw err;
      });
      return st.stopping;
    },
  };
  handles.set(pg, st);
  return pg;
}

function stateOf(pg) {
  const st = handles.get(pg);
  if (!st) throw new Error('not a server returned by startPostgres()');
  return st;
}

/**
 * Stops the server (pg_ctl -m MODE: 'fast' by default; 'immediate' is a crash followed by
 * recovery) and starts it again on the same port and data folder; the data stays. Meant for fault
 * tests with collectors connected: their connections are cut and must be re-established.
 */
export async function restartPostgres(pg, { mode = 'fast' } = {}) {
  const st = stateOf(pg);
  if (st.stopping || st.stopped) throw new Error(`server on port ${st.port} was stopped; it cannot be restarted`);
  await stopServer(st, mode);
  await startServer(st);
  return pg;
}

/**
 * Runs SQL through psql against the server (-v ON_ERROR_STOP=1 -At -c SQL; -X skips any ~/.psqlrc)
 * and resolves to its stdout without the final newline: rows on separate lines, columns joined
 * by '|'. Rejects with psql's error when the SQL fails.
 */
export async function psql(pg, sql) {
  const local = path.join(PG_BIN, 'psql');
  const file = fs.existsSync(local) ? local : 'psql';
  const { stdout } = await run(file, ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-d', pg.url, '-c', sql], {
    timeoutMs: 60000,
  });
  return stdout.replace(/\n$/, '');
}
