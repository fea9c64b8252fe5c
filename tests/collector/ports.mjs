// A free TCP port, for test servers (collectors, receivers, PostgreSQL). Its own module so that
// scripts outside the test runner (bench/postgres_bench.mjs through postgres.mjs) can use it
// without loading node:test.
import net from 'node:net';

/** A free TCP port on 127.0.0.1 (nothing listens on it once this returns). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
