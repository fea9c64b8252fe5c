// Ingestion on PostgreSQL (issue 14's aim): 1, 2 and 3 collectors on one throwaway PostgreSQL
// (synchronous_commit on), against raw PostgreSQL inserts of the same rows in the same run.
//
//   node bench/postgres_bench.mjs [--seconds 6] [--clients 8] [--batch 50] [--out FILE]
//
// Load: `clients` keep-alive HTTP clients, each sending batches of `batch` new events (visitors
// drawn from a pool, a few events each) to its collector (client i -> collector i mod n), as fast
// as the answers come, for `seconds`. Events per second counts acknowledged events (committed).
// The baseline: the rows the collectors stored, read back and inserted by `clients` psql sessions
// as multi-row INSERTs of `batch` rows in their own transactions (the collector's group commit
// is at least that), into a fresh table with the events table's own definition. CPU per event is
// the CPU time of the collectors and of every PostgreSQL process over the phase, per event. The
// clients run on the same cores: the machine's core count is in the result.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { psql, startPostgres } from '../tests/collector/postgres.mjs';
import { startCollector as startCollectorAt, stopCollector } from './collector_process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KEY = 'bench-key';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const SECONDS = Number(option('seconds', '6'));
const CLIENTS = Number(option('clients', '8'));
const BATCH = Number(option('batch', '50'));
const OUT = option('out', path.join(ROOT, 'bench', 'results', 'postgres.json'));
const TICK = 100; // USER_HZ on Linux

/** CPU seconds (user + system) of the processes, from /proc. */
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // gone: its time is lost, as for a backend that ended
    }
  }
  return ticks / TICK;
}

/** The PostgreSQL server's processes (the postmaster and its children). */
function postgresPids(pg) {
  const master = Number(fs.readFileSync(path.join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pids = [master];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === master) pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

async function createDatabase(pg, name) {
  await psql(pg, `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
  return pg.url.replace(/\/[^/]*$/, `/${name}`);
}

const startCollector = (url) => startCollectorAt(url, ['--admin-key', 'bench', '--site-key', KEY,
  '--server-side', KEY, '--rate-limit', '1000000', '--client-rate-limit', '1000000', '--advance-interval', '0']);

function post(c, body) {
  return new Promise((resolve, reject) => {
    const u = new URL('/v1/batch', c.url);
    const req = http.request(u, { method: 'POST', agent: c.agent, headers: { 'Content-Type': 'application/json', 'X-Waymark-Key': KEY, 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.setNoDelay(true);
    req.on('error', reject);
    req.end(body);
  });
}

const NAMES = ['page_viewed', 'page_viewed', 'page_viewed', 'pricing_viewed', 'content_read', 'feature_used'];

function makeBatch(visitors) {
  const now = Date.now();
  const events = [];
  for (let i = 0; i < BATCH; i++) {
    const v = visitors[crypto.randomInt(visitors.length)];
    v.seq += 1;
    events.push({
      id: crypto.randomUUID(), seq: v.seq, anonymous_id: v.id, name: NAMES[v.seq % NAMES.length], type: 'track',
      time: now - 1000 + i, properties: { plan: 'pro', n: v.seq },
      context: { url: 'https://www.example.com/pricing', path: '/pricing', title: 'Pricing' },
    });
  }
  return JSON.stringify({ sent_at: now, events });
}

async function collectorsPhase(pg, n, name = `bench_c${n}`) {
  const url = await createDatabase(pg, name);
  const collectors = [];
  // n = 0: the warm-up, one collector.
  for (let i = 0; i < Math.max(n, 1); i++) collectors.push(await startCollector(url));
  n = collectors.length;
  const visitors = Array.from({ length: 2000 }, (_, i) => ({ id: `bv-${n}-${i}`, seq: 0 }));
  // Warm-up: connections, prepared statements, the first pages of each index.
  await Promise.all(collectors.map((c) => post(c, makeBatch(visitors))));
  const collectorPids = collectors.map((c) => c.proc.pid);
  const cpu0 = cpuSeconds(collectorPids);
  const pgCpu0 = cpuSeconds(postgresPids(pg));
  const clientCpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  let acknowledged = 0;
  let refused = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const c = collectors[i % n];
    while (performance.now() < deadline) {
      const res = await post(c, makeBatch(visitors));
      if (res.status === 200) acknowledged += JSON.parse(res.text).accepted;
      else refused += 1;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const collectorCpu = cpuSeconds(collectorPids) - cpu0;
  const postgresCpu = cpuSeconds(postgresPids(pg)) - pgCpu0;
  const clientUse = process.cpuUsage(clientCpu0);
  const clientCpu = (clientUse.user + clientUse.system) / 1e6;
  const cpu = collectorCpu + postgresCpu;
  for (const c of collectors) await stopCollector(c);
  const perEvent = (x) => (x / acknowledged) * 1e6;
  return {
    collectors: n, events: acknowledged, refused_requests: refused, seconds, events_per_second: acknowledged / seconds,
    cpu_seconds: cpu, cpu_us_per_event: perEvent(cpu), collector_cpu_us_per_event: perEvent(collectorCpu),
    postgres_cpu_us_per_event: perEvent(postgresCpu), client_cpu_us_per_event: perEvent(clientCpu), url,
  };
}

/** SQL literal for one CSV-decoded value (NULL for null). */
const literal = (v) => (v === null ? 'NULL' : `'${v.replaceAll("'", "''")}'`);

/** Splits PostgreSQL CSV output (quoted fields, "" escapes, unquoted empty = NULL). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      let j = i + 1;
      let value = '';
      for (;;) {
        const q = text.indexOf('"', j);
        value += text.slice(j, q);
        if (text[q + 1] === '"') { value += '"'; j = q + 2; } else { i = q + 1; break; }
      }
      row.push(value);
    } else {
      let j = i;
      while (j < text.length && text[j] !== ',' && text[j] !== '\n') j++;
      row.push(j === i ? null : text.slice(i, j));
      i = j;
    }
    if (text[i] === ',') i++;
    else if (text[i] === '\n' || i >= text.length) { rows.push(row); row = []; i++; }
  }
  return rows;
}

function runPsql(url, file) {
  return new Promise((resolve, reject) => {
    execFile('/usr/lib/postgresql/15/bin/psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file], { maxBuffer: 1 << 26 }, (err, _out, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve()));
  });
}

async function rawPhase(pg, sourceUrl, rows) {
  const url = await createDatabase(pg, 'bench_raw');
  // The events table exactly as the collector creates it (its own DDL, read back).
  const columns = (await psql({ url: sourceUrl }, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'events' AND column_name <> 'rowid'"));
  const ddl = await new Promise((resolve, reject) => {
    execFile('/usr/lib/postgresql/15/bin/pg_dump', ['-d', sourceUrl, '--schema-only', '-t', 'events', '--no-owner'], { maxBuffer: 1 << 24 }, (err, out) => (err ? reject(err) : resolve(out)));
  });
  await new Promise((resolve, reject) => {
    const file = path.join(os.tmpdir(), `waymark-raw-ddl-${process.pid}.sql`);
    fs.writeFileSync(file, ddl);
    runPsql(url, file).then(resolve, reject).finally(() => fs.rmSync(file, { force: true }));
  });
  const csv = await new Promise((resolve, reject) => {
    execFile('/usr/lib/postgresql/15/bin/psql', ['-X', '-d', sourceUrl, '-c', `COPY (SELECT ${columns} FROM events LIMIT ${rows}) TO STDOUT WITH (FORMAT csv)`], { maxBuffer: 1 << 30 }, (err, out) => (err ? reject(err) : resolve(out)));
  });
  const data = parseCsv(csv);
  // One file of INSERT statements per session: `batch` rows per statement, each its own transaction.
  const files = [];
  for (let s = 0; s < CLIENTS; s++) {
    const mine = data.filter((_, i) => i % CLIENTS === s);
    const statements = [];
    for (let i = 0; i < mine.length; i += BATCH) {
      const values = mine.slice(i, i + BATCH).map((r) => `(${r.map(literal).join(',')})`).join(',');
      statements.push(`INSERT INTO events (${columns}) VALUES ${values} ON CONFLICT (project_id, id) DO NOTHING;`);
    }
    const file = path.join(os.tmpdir(), `waymark-raw-${process.pid}-${s}.sql`);
    fs.writeFileSync(file, `${statements.join('\n')}\n`);
    files.push(file);
  }
  const cpu0 = cpuSeconds(postgresPids(pg));
  const started = performance.now();
  await Promise.all(files.map((f) => runPsql(url, f)));
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(postgresPids(pg)) - cpu0;
  for (const f of files) fs.rmSync(f, { force: true });
  const stored = Number(await psql({ url }, 'SELECT COUNT(*) FROM events'));
  return { rows: stored, seconds, rows_per_second: stored / seconds, cpu_seconds_postgres: cpu, cpu_us_per_row: (cpu / stored) * 1e6, rows_per_transaction: BATCH, sessions: CLIENTS };
}

async function bytesPerEvent(pg, url, events) {
  const bytes = Number(await psql({ url }, 'SELECT pg_database_size(current_database())'));
  return { bytes, per_event: bytes / events };
}

const pg = await startPostgres();
try {
  // A fresh server's first seconds cost more (WAL segments created, the first checkpoint, cold
  // caches): a discarded warm-up phase keeps that out of the first measured one.
  const warm = await collectorsPhase(pg, 0, 'bench_warmup');
  console.log(`postgres bench: warm-up ${Math.round(warm.events_per_second)} events/s (not counted)`);
  const phases = [];
  for (const n of [1, 2, 3]) {
    const p = await collectorsPhase(pg, n);
    phases.push(p);
    console.log(`postgres bench: ${n} collector(s): ${Math.round(p.events_per_second)} events/s, ${p.cpu_us_per_event.toFixed(0)} µs CPU per event (collectors ${p.collector_cpu_us_per_event.toFixed(0)} + PostgreSQL ${p.postgres_cpu_us_per_event.toFixed(0)}; the load generator ${p.client_cpu_us_per_event.toFixed(0)}), ${p.refused_requests} refused`);
  }
  const raw = await rawPhase(pg, phases[0].url, phases[0].events);
  console.log(`postgres bench: raw inserts of the same rows: ${Math.round(raw.rows_per_second)} rows/s (${BATCH} rows per transaction, ${CLIENTS} sessions), ${raw.cpu_us_per_row.toFixed(0)} µs PostgreSQL CPU per row`);
  const storage = await bytesPerEvent(pg, phases[2].url, phases[2].events);
  const result = {
    machine: { cores: os.cpus().length, load: os.loadavg()[0] },
    options: { seconds: SECONDS, clients: CLIENTS, batch: BATCH, synchronous_commit: 'on' },
    phases: phases.map(({ url, ...p }) => p),
    raw,
    ratio_one_collector_to_raw: phases[0].events_per_second / raw.rows_per_second,
    ratio_three_to_one: phases[2].events_per_second / phases[0].events_per_second,
    storage_bytes_per_event: storage.per_event,
  };
  console.log(`postgres bench: 1 collector / raw = ${result.ratio_one_collector_to_raw.toFixed(2)}x (aim 0.5x); 3 collectors / 1 = ${result.ratio_three_to_one.toFixed(2)}x (aim 2x; ${result.machine.cores} cores shared by clients, collectors and PostgreSQL); ${Math.round(storage.per_event)} bytes per event stored (whole database, projections included)`);
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(`${OUT}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
  fs.renameSync(`${OUT}.tmp`, OUT);
} finally {
  await pg.stop();
}
