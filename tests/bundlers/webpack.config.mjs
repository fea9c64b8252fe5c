// webpack 5 for the bundler tier: its defaults (entry ./src/index.js, publicPath 'auto', and
// `new URL('./waymark.wasm', import.meta.url)` emitted as an asset) with nothing waymark-specific.
// Only the output folder is named, since Vite's default output folder is also `dist`.
import path from 'node:path';

export default function webpackConfig(appDir) {
  return {
    mode: 'production',
    context: appDir,
    output: { path: path.join(appDir, 'dist-webpack') },
    infrastructureLogging: { level: 'warn' },
  };
}
