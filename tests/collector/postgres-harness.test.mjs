// The throwaway-PostgreSQL harness (postgres.mjs) itself: the PostgreSQL backend's tests rely on
// it starting a real server, keeping data across restarts, isolating servers from each other and
// cleaning up after itself, including when a test process dies.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { processRunning, psql, restartPostgres, startPostgres } from './postgres.mjs';

const IS_ROOT = process.getuid() === 0;
const started = [];

async function start(options) {
  const pg = await startPostgres(options);
  started.push(pg);
  return pg;
}

// A failed assertion must not leave servers behind for the next test file.
after(async () => {
  for (const pg of started) await pg.stop({ mode: 'immediate' }).catch(() => {});
});

function postmasterPid(pg) {
  return Number.parseInt(fs.readFileSync(`${pg.dataDir}/postmaster.pid`, 'utf8'), 10);
}

// Zombies count as gone (see processRunning): PID 1 here reaps the detached postmaster late.
const isAlive = processRunning;

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
function accepts(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

describe('throwaway PostgreSQL', () => {
  test('starts a PostgreSQL 15 server reachable at its url, as the postgres user when root', async () => {
    const pg = await start();
    assert.match(pg.url, /^postgres:\/\/waymark@127\.0\.0\.1:\d+\/postgres$/);
    assert.equal(pg.url, `postgres://waymark@127.0.0.1:${pg.port}/postgres`);
    assert.ok(pg.port > 0 && pg.port < 65536);
    assert.ok(fs.statSync(pg.dataDir).isDirectory());
    assert.equal(await psql(pg, 'select 1'), '1');
    assert.match(await psql(pg, 'show server_version'), /^15\./);
    assert.equal(await psql(pg, 'select current_user'), 'waymark');
    // The settings the durability tests depend on, and room for several collectors' pools.
    assert.equal(await psql(pg, 'show fsync'), 'on');
    assert.equal(await psql(pg, 'show synchronous_commit'), 'on');
    assert.equal(await psql(pg, 'show max_connections'), '200');
    assert.equal(await psql(pg, 'show listen_addresses'), '127.0.0.1');
    assert.equal(await psql(pg, 'show server_encoding'), 'UTF8');
    if (IS_ROOT) {
      const postgresUid = fs.statSync(pg.dataDir).uid;
      assert.notEqual(postgresUid, 0, 'the data folder belongs to the postgres user, not root');
      assert.equal(fs.statSync(`/proc/${postmasterPid(pg)}`).uid, postgresUid, 'the server runs as postgres');
    }
    await pg.stop();
  });

  test('psql returns rows and columns, and rejects on SQL errors', async () => {
    const pg = await start();
    await psql(pg, "create table t (id int primary key, name text); insert into t values (1, 'a'), (2, 'b')");
    assert.equal(await psql(pg, 'select id, name from t order by id'), '1|a\n2|b');
    assert.equal(await psql(pg, 'select count(*) from t where id > 5'), '0');
    await assert.rejects(psql(pg, 'select nope from t'), /column "nope" does not exist/);
    // ON_ERROR_STOP: nothing after the failing statement runs.
    await assert.rejects(psql(pg, "insert into t values (1, 'dup'); insert into t values (3, 'c')"), /duplicate key/);
    assert.equal(await psql(pg, 'select count(*) from t'), '2');
    await pg.stop();
  });

  test('restartPostgres keeps committed rows, the port and the data folder', async () => {
    const pg = await start();
    await psql(pg, "create table events (id text primary key); insert into events values ('e1')");
    const before = await psql(pg, 'select pg_postmaster_start_time()');
    const pidBefore = postmasterPid(pg);

    const same = await restartPostgres(pg);
    assert.equal(same, pg);
    assert.notEqual(await psql(pg, 'select pg_postmaster_start_time()'), before, 'the server really restarted');
    assert.notEqual(postmasterPid(pg), pidBefore);
    assert.ok(!isAlive(pidBefore), 'the old postmaster is gone');
    assert.equal(await psql(pg, 'select id from events'), 'e1');

    // An immediate stop is a crash: the committed row must survive crash recovery too.
    await psql(pg, "insert into events values ('e2')");
    await restartPostgres(pg, { mode: 'immediate' });
    assert.equal(await psql(pg, 'select string_agg(id, \',\' order by id) from events'), 'e1,e2');
    assert.match(fs.readFileSync(pg.logFile, 'utf8'), /database system was interrupted|not properly shut down/);
    await pg.stop();
  });

  test('stop stops the server, removes the folder, and is idempotent', async () => {
    const pg = await start();
    const pid = postmasterPid(pg);
    assert.ok(await accepts(pg.port));
    await Promise.all([pg.stop(), pg.stop()]);
    assert.ok(!fs.existsSync(pg.dir), 'folder removed');
    assert.ok(!isAlive(pid), 'postmaster gone');
    assert.ok(!(await accepts(pg.port)), 'nothing listens on the port');
    await pg.stop(); // again: no error
    await assert.rejects(psql(pg, 'select 1'));
    await assert.rejects(restartPostgres(pg), /stopped/);
  });

  test('two servers run side by side on their own ports with their own data', async () => {
    const a = await start();
    const b = await start();
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.dir, b.dir);
    await psql(a, "create table only_a (x int); insert into only_a values (42)");
    assert.equal(await psql(a, 'select x from only_a'), '42');
    assert.equal(await psql(b, "select count(*) from pg_tables where tablename = 'only_a'"), '0');
    // Restarting one leaves the other serving.
    await restartPostgres(a);
    assert.equal(await psql(b, 'select 1'), '1');
    await b.stop();
    assert.equal(await psql(a, 'select x from only_a'), '42');
    await a.stop();
  });

  test('a given port is used as is', async () => {
    const port = await freePort();
    const pg = await start({ port });
    assert.equal(pg.port, port);
    assert.equal(pg.url, `postgres://waymark@127.0.0.1:${port}/postgres`);
    assert.equal(await psql(pg, 'select 1'), '1');
    // A second server on the same port fails with the server log in the message, and cleans up.
    await assert.rejects(startPostgres({ port }), (err) => {
      assert.match(err.message, /did not start/);
      assert.match(err.message, /last lines of .*server\.log/);
      assert.match(err.message, /could not bind|Address already in use|could not create any TCP/);
      return true;
    });
    assert.equal(await psql(pg, 'select 1'), '1', 'the first server is unharmed');
    await pg.stop();
  });
});

describe('servers do not outlive a dead test process', () => {
  const moduleUrl = pathToFileURL(new URL('./postgres.mjs', import.meta.url).pathname).href;

  /** Runs a node child that starts a server, prints its handle, then does `then` (JS source). */
  function child(then) {
    const src = `
      import { startPostgres } from ${JSON.stringify(moduleUrl)};
      const pg = await startPostgres();
      const pid = Number.parseInt((await import('node:fs')).readFileSync(pg.dataDir + '/postmaster.pid', 'utf8'), 10);
      console.log(JSON.stringify({ dir: pg.dir, port: pg.port, pid }));
      ${then}
    `;
    const env = { ...process.env };
    delete env.WAYMARK_KEEP_TEST_DIRS;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', src], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const info = new Promise((resolve, reject) => {
      proc.stdout.on('data', () => {
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line));
      });
      proc.on('exit', (code) => reject(new Error(`child exited (${code}) before printing: ${err}`)));
    });
    const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, err })));
    return { proc, info, exited };
  }

  test('an uncaught error: the exit handler stops the server before the process is gone', async () => {
    const { info, exited } = child("setTimeout(() => { throw new Error('test crashed'); }, 10);");
    const { dir, port, pid } = await info;
    assert.ok(isAlive(pid));
    const { code, err } = await exited;
    assert.notEqual(code, 0);
    assert.match(err, /test crashed/);
    // Checked at once: the watchdog would need a second or more, so this is the exit handler's work.
    assert.ok(!isAlive(pid), 'postmaster stopped by the exit handler');
    assert.ok(!fs.existsSync(dir), 'folder removed');
    assert.ok(!(await accepts(port)));
  });

  test('SIGKILL: the watchdog stops the server and removes the folder', async () => {
    const { proc, info, exited } = child('setInterval(() => {}, 1000);');
    const { dir, port, pid } = await info;
    assert.ok(isAlive(pid));
    proc.kill('SIGKILL');
    const { signal } = await exited;
    assert.equal(signal, 'SIGKILL');
    const deadline = Date.now() + 15000;
    while ((isAlive(pid) || fs.existsSync(dir)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!isAlive(pid), 'postmaster stopped by the watchdog');
    assert.ok(!fs.existsSync(dir), 'folder removed by the watchdog');
    assert.ok(!(await accepts(port)));
  });
});
