// Instantiates the Emscripten module (build/wasm/wasm/waymark.js, bundled in as 'waymark-glue').
// Where the .wasm comes from is always overridable (STYLE.md: the most common complaint about
// wasm packages is a bundler losing the file): `wasmBinary` (bytes), `locateFile(name, prefix)`,
// or the build's default URL (beside the script, or beside the ES module).
//
// When the loader fetches the .wasm itself, it does so here (Emscripten's `instantiateWasm` hook)
// rather than in the glue: Emscripten 3.1.6 reports a 404 only as "both async and sync fetching of
// the wasm failed", which names neither the URL nor the status. Every failure to fetch, compile or
// instantiate is reported with the absolute URL that was tried (docs/sdk.md, "npm").
import WaymarkModule from 'waymark-glue';

import { compilerFrom, compilerFromBytes, compilerImports } from './compiler.js';

/** Loads the module once per distinct configuration; returns a Promise of the module. */
export function loadModule(options, defaultWasmUrl) {
  const overrides = {};
  let locate = null;
  if (typeof options.locateFile === 'function') locate = options.locateFile;
  else if (typeof options.wasmUrl === 'string') locate = () => options.wasmUrl;
  else if (defaultWasmUrl) locate = (name) => (name.endsWith('.wasm') ? defaultWasmUrl : name);

  if (options.wasmBinary) {
    overrides.wasmBinary = options.wasmBinary;
    if (locate) overrides.locateFile = locate;
    return WaymarkModule(overrides);
  }

  // The URL the glue computes for the .wasm (through the page's locateFile, if any, else beside
  // the script), remembered so that the error can name it.
  let wasmUrl = 'waymark.wasm';
  overrides.locateFile = (name, prefix) => {
    const url = locate ? locate(name, prefix) : prefix + name;
    if (name.endsWith('.wasm')) wasmUrl = url;
    return url;
  };

  let fail;
  const failed = new Promise((resolve, reject) => {
    fail = reject;
  });
  if (typeof fetch === 'function' && typeof WebAssembly === 'object') {
    overrides.instantiateWasm = (imports, receiveInstance) => {
      instantiateFrom(absoluteUrl(wasmUrl), imports).then((result) => {
        try {
          receiveInstance(result.instance, result.module);
        } catch (err) {
          fail(err);
        }
      }, fail);
      return {}; // asynchronous: the glue waits for receiveInstance
    };
  }
  const loaded = WaymarkModule(overrides).then(
    (module) => module,
    (err) => {
      // Only reached without the hook above (no fetch): the glue's own message, plus the URL.
      const text = err && err.message ? err.message : String(err);
      throw withCause(`waymark: could not load the engine from ${absoluteUrl(wasmUrl)}: ${text}`, err);
    },
  );
  return Promise.race([loaded, failed]);
}

/**
 * Loads the map compiler (js/src/compiler.js) on demand: `compilerBinary` (bytes), else
 * `compilerUrl`, else `locateFile('waymark-compiler.wasm', ...)`, else `defaultUrl` (beside the
 * engine's .wasm).
 */
export async function loadCompiler(options, defaultUrl) {
  if (options.compilerBinary) return compilerFromBytes(options.compilerBinary);
  let url = defaultUrl || 'waymark-compiler.wasm';
  if (typeof options.compilerUrl === 'string') url = options.compilerUrl;
  else if (typeof options.locateFile === 'function') url = options.locateFile('waymark-compiler.wasm', '');
  const { instance } = await instantiateFrom(absoluteUrl(url), compilerImports, 'waymark-compiler.wasm', 'compilerUrl');
  return compilerFrom(instance);
}

/** Fetches, compiles and instantiates the .wasm at `url`; each failure names the URL. */
async function instantiateFrom(url, imports, file = 'waymark.wasm', option = 'wasmUrl') {
  let response;
  try {
    // Low priority: the first paint uses the decisions cached by the last visit, so the page's
    // own images and styles go first (browsers without Priority Hints ignore it).
    response = await fetch(url, { credentials: 'same-origin', priority: 'low' });
  } catch (err) {
    throw withCause(`waymark: could not fetch ${url} (${errorText(err)}). Serve ${file} there, or pass init({ ${option} }), locateFile or ${option === 'wasmUrl' ? 'wasmBinary' : 'compilerBinary'} (docs/sdk.md, "npm")`, err);
  }
  if (!response.ok) {
    const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    throw new Error(`waymark: could not fetch ${url}: the server answered ${status}. Serve ${file} there, or pass init({ ${option} }), locateFile or ${option === 'wasmUrl' ? 'wasmBinary' : 'compilerBinary'} (docs/sdk.md, "npm")`);
  }
  try {
    // Streaming compile (off the main thread, while the bytes arrive) needs the application/wasm
    // Content-Type; a server that sends another only loses that: the bytes are compiled whole.
    const type = String(response.headers.get('Content-Type') || '').split(';')[0].trim().toLowerCase();
    if (typeof WebAssembly.instantiateStreaming === 'function' && type === 'application/wasm') {
      return await WebAssembly.instantiateStreaming(response, imports);
    }
    return await WebAssembly.instantiate(await response.arrayBuffer(), imports);
  } catch (err) {
    throw withCause(`waymark: ${url} was fetched but could not be compiled or instantiated: ${errorText(err)}`, err);
  }
}

/** The URL as fetch() will resolve it (against the document's base URL), for messages. */
function absoluteUrl(url) {
  try {
    const base = (typeof document !== 'undefined' && document && document.baseURI) || (typeof location !== 'undefined' && location && location.href) || undefined;
    return new URL(url, base).href;
  } catch {
    return String(url);
  }
}

function errorText(err) {
  if (err && typeof err === 'object' && typeof err.message === 'string') return err.name ? `${err.name}: ${err.message}` : err.message;
  return String(err);
}

function withCause(message, cause) {
  const err = new Error(message);
  err.cause = cause;
  return err;
}
