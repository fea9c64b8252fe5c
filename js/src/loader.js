// Instantiates the engine module (dist/waymark.wasm, a standalone wasm with plain exports: see
// js/src/wasm-module.js). Where the .wasm comes from is always overridable (STYLE.md: the most
// common complaint about wasm packages is a bundler losing the file): `wasmBinary` (bytes),
// `locateFile(name, prefix)`, `wasmUrl`, or the build's default URL (beside the script, or beside
// the ES module). Every failure to fetch, compile or instantiate is reported with the absolute URL
// that was tried (docs/sdk.md, "npm").
import { compilerFrom, compilerFromBytes, compilerImports } from './compiler.js';
import { engineImports, engineModuleFrom } from './wasm-module.js';

/** The engine module: a Promise of the object js/src/engine.js drives. */
export async function loadModule(options, defaultWasmUrl) {
  if (options.wasmBinary) {
    try {
      const { instance } = await WebAssembly.instantiate(options.wasmBinary, engineImports);
      return engineModuleFrom(instance);
    } catch (err) {
      throw withCause(`waymark: the wasmBinary given to init() could not be compiled or instantiated: ${errorText(err)}`, err);
    }
  }
  const url = locate(options, 'waymark.wasm', options.wasmUrl, defaultWasmUrl);
  const { instance } = await instantiateFrom(absoluteUrl(url), engineImports);
  return engineModuleFrom(instance);
}

// Where `file` is fetched from: the page's locateFile(file, prefix) first (the prefix is the
// default URL's folder, as Emscripten's glue gave it), then the explicit URL option, then the
// default beside the script.
function locate(options, file, explicitUrl, defaultUrl) {
  const fallback = defaultUrl || file;
  if (typeof options.locateFile === 'function') return options.locateFile(file, fallback.slice(0, fallback.lastIndexOf('/') + 1));
  if (typeof explicitUrl === 'string') return explicitUrl;
  return fallback;
}

/**
 * Loads the map compiler (js/src/compiler.js) on demand: `compilerBinary` (bytes), else
 * `compilerUrl`, else `locateFile('waymark-compiler.wasm', ...)`, else `defaultUrl` (beside the
 * engine's .wasm).
 */
export async function loadCompiler(options, defaultUrl) {
  if (options.compilerBinary) return compilerFromBytes(options.compilerBinary);
  const url = locate(options, 'waymark-compiler.wasm', options.compilerUrl, defaultUrl);
  const { instance } = await instantiateFrom(absoluteUrl(url), compilerImports, 'waymark-compiler.wasm', 'compilerUrl');
  return compilerFrom(instance);
}

/** Fetches, compiles and instantiates the .wasm at `url`; each failure names the URL. */
async function instantiateFrom(url, imports, file = 'waymark.wasm', option = 'wasmUrl') {
  if (typeof fetch !== 'function' || typeof WebAssembly !== 'object') {
    throw new Error(`waymark: this environment has no ${typeof fetch !== 'function' ? 'fetch' : 'WebAssembly'}; pass init({ ${option === 'wasmUrl' ? 'wasmBinary' : 'compilerBinary'} })`);
  }
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
