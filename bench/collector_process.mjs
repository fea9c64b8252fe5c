// The real waymark-collector as a child process for the benchmarks: started on a database with
// extra flags, resolved once it prints its listening line, with a keep-alive agent for requests.
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const COLLECTOR_BIN = process.env.WAYMARK_COLLECTOR || path.join(ROOT, 'build', 'native', 'bin', 'waymark-collector');

/** Starts the collector on `db` with `args` after --db/--port/--quiet: { proc, url, agent }. */
export function startCollector(db, args = [], { maxSockets = 64 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(COLLECTOR_BIN, ['--db', db, '--port', '0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stderr.on('data', (d) => { err += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/"url":"(http:\/\/[^"]+)"/);
      if (m) resolve({ proc, url: m[1], agent: new http.Agent({ keepAlive: true, maxSockets }) });
    });
    proc.on('exit', (code) => reject(new Error(`collector exited (${code}): ${err}`)));
  });
}

/** SIGTERM, resolved when the process has exited. */
export function stopCollector(c) {
  c.agent.destroy();
  return new Promise((resolve) => {
    c.proc.removeAllListeners('exit');
    c.proc.on('exit', resolve);
    c.proc.kill('SIGTERM');
  });
}
