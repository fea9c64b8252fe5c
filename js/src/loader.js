// Instantiates the Emscripten module (build/wasm/wasm/waymark.js, bundled in as 'waymark-glue').
// Where the .wasm comes from is always overridable (STYLE.md: the most common complaint about
// wasm packages is a bundler losing the file): `wasmBinary` (bytes), `locateFile(name, prefix)`,
// or the build's default URL (beside the script, or beside the ES module).
import WaymarkModule from 'waymark-glue';

/** Loads the module once per distinct configuration; returns a Promise of the module. */
export function loadModule(options, defaultWasmUrl) {
  const overrides = {};
  if (options.wasmBinary) overrides.wasmBinary = options.wasmBinary;
  if (typeof options.locateFile === 'function') overrides.locateFile = options.locateFile;
  else if (typeof options.wasmUrl === 'string') overrides.locateFile = () => options.wasmUrl;
  else if (defaultWasmUrl) overrides.locateFile = (name) => (name.endsWith('.wasm') ? defaultWasmUrl : name);
  return WaymarkModule(overrides);
}
