// The running part of `npm start` (scripts/start.sh sets up and builds first): the collector on an
// embedded SQLite file, serving the dashboard; the demo site; keys generated once and kept beside
// the data, so a second start reuses both. Ctrl-C stops everything cleanly.
//
// Environment: WAYMARK_DATA_DIR (default data/), WAYMARK_PORT (collector, 8787),
// WAYMARK_DEMO_PORT (demo site, 8080), WAYMARK_HOST (127.0.0.1), WAYMARK_SEED=0 (no sample data on
// the first start), WAYMARK_SEED_VISITORS (300).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { startDemoServer } from './demo-server.mjs';
import { seed } from './seed.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const host = env.WAYMARK_HOST || '127.0.0.1';
// Port 0 picks a free port (the tests use it); the demo port must be known before the collector
// starts, since the site key allows the demo site's origin.
async function resolvePort(value, fallback) {
  const port = Number(value === undefined || value === '' ? fallback : value);
  if (port !== 0) return port;
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
}
const collectorPort = await resolvePort(env.WAYMARK_PORT, 8787);
const demoPort = await resolvePort(env.WAYMARK_DEMO_PORT, 8080);
const dataDir = path.resolve(ROOT, env.WAYMARK_DATA_DIR || 'data');
const dbPath = path.join(dataDir, 'waymark.db');
const keysPath = path.join(dataDir, 'keys.json');
const collectorBin = path.join(ROOT, 'build', 'native', 'bin', 'waymark-collector');
const dashboardDir = path.join(ROOT, 'build', 'dashboard');

function fail(message) {
  console.error(`npm start: ${message}`);
  process.exit(1);
}

for (const [file, hint] of [[collectorBin, 'npm run build'], [path.join(ROOT, 'dist', 'waymark.js'), 'npm run build'], [path.join(dashboardDir, 'index.html'), 'node scripts/build-dashboard.mjs']]) {
  if (!fs.existsSync(file)) fail(`${path.relative(ROOT, file)} is missing (${hint})`);
}

// Keys: generated on the first start, reused afterwards (the data and the keys belong together).
fs.mkdirSync(dataDir, { recursive: true });
const firstStart = !fs.existsSync(dbPath);
let keys;
if (fs.existsSync(keysPath)) {
  keys = JSON.parse(fs.readFileSync(keysPath, 'utf8'));
} else {
  keys = { admin_key: `ak_${crypto.randomBytes(16).toString('hex')}`, site_key: `pk_demo_${crypto.randomBytes(8).toString('hex')}` };
  fs.writeFileSync(keysPath, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
}

const demoOrigins = [`http://${host}:${demoPort}`, `http://localhost:${demoPort}`, `http://127.0.0.1:${demoPort}`];
const collector = spawn(collectorBin, [
  '--bind', host, '--port', String(collectorPort), '--db', dbPath, '--admin-key', keys.admin_key,
  '--site-key', `${keys.site_key}=${[...new Set(demoOrigins)].join(',')}`, '--static', dashboardDir, '--quiet',
], { stdio: ['ignore', 'pipe', 'inherit'] });

let collectorUrl = null;
const started = new Promise((resolve, reject) => {
  const lines = readline.createInterface({ input: collector.stdout });
  lines.on('line', (line) => {
    if (collectorUrl) return process.stdout.write(`${line}\n`);
    try {
      const info = JSON.parse(line);
      collectorUrl = info.url || `http://${host}:${collectorPort}`;
      resolve();
    } catch {
      process.stdout.write(`${line}\n`);
    }
  });
  collector.once('exit', (code, signal) => reject(new Error(`the collector exited (${signal || code}) before it listened; is port ${collectorPort} free? (WAYMARK_PORT=...)`)));
});
try {
  await started;
} catch (err) {
  fail(err.message);
}

let demo;
try {
  demo = await startDemoServer({ port: demoPort, host, siteKey: keys.site_key, collectorUrl });
} catch (err) {
  collector.kill('SIGTERM');
  fail(`the demo site could not start on port ${demoPort} (${err.message}); set WAYMARK_DEMO_PORT`);
}

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`\nnpm start: ${signal}: stopping the demo site and the collector...`);
  await demo.close();
  collector.kill('SIGTERM');
  const code = await new Promise((resolve) => (collector.exitCode !== null ? resolve(collector.exitCode) : collector.once('exit', (c) => resolve(c))));
  console.log(`npm start: stopped (collector exit code ${code}); data kept in ${dataDir}`);
  process.exit(code === 0 ? 0 : 1);
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
collector.on('exit', (code, signal) => {
  if (!stopping) {
    console.error(`npm start: the collector stopped unexpectedly (${signal || code})`);
    demo.close().finally(() => process.exit(1));
  }
});

if (firstStart && env.WAYMARK_SEED !== '0') {
  const visitors = Number(env.WAYMARK_SEED_VISITORS || 300);
  process.stdout.write(`npm start: first start: sending ${visitors} simulated visitors so the dashboard has data (WAYMARK_SEED=0 to skip)... `);
  try {
    const summary = await seed({ collectorUrl, siteKey: keys.site_key, origin: demoOrigins[0], visitors, seed: 42 });
    console.log(`done (${summary.events} events, ${summary.accepted} accepted, ${summary.rejected} rejected)`);
  } catch (err) {
    console.log(`failed: ${err.message}`);
  }
}

const rel = (p) => (p.startsWith(ROOT + path.sep) ? path.relative(ROOT, p) : p);
console.log(`
  waymark is running.

  Demo site        ${demo.url}/
  ... inspector    ${demo.url}/?inspect=1
  ... campaign     ${demo.url}/blog/journey-mapping-guide.html?utm_source=newsletter&utm_medium=email&utm_campaign=guide
  Dashboard        ${collectorUrl}/#key=${keys.admin_key}
  Collector API    ${collectorUrl}/v1/...  (docs/collector-api.md)

  Site key         ${keys.site_key}
  Admin key        ${keys.admin_key}
  Data             ${rel(dbPath)} (keys in ${rel(keysPath)}; delete the folder to start afresh)

  More sample visitors: npm run seed. Stop with Ctrl-C.
`);
