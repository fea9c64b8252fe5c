// Vite for the bundler tier: its defaults (`vite build`: index.html as the entry, output in dist/,
// `new URL('./waymark.wasm', import.meta.url)` emitted as an asset) with nothing waymark-specific.
export default {
  logLevel: 'warn',
};
