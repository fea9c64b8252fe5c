// The map compiler (wasm/compiler.cpp, dist/waymark-compiler.wasm): JSON journey maps to the
// compiled form the engine loads. The engine module holds no JSON map parser; this second module
// is fetched only when a page hands the SDK a map as JSON (init({ map }), setMap(json)), so sites
// that take their map from the collector (compiled there) never download it. It has plain exports
// and no Emscripten glue, so instantiating it takes the few lines below.
import { WaymarkError, unwrap } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The module's two imports (a standalone wasm: memory growth notice, exit). */
export const compilerImports = {
  env: { emscripten_notify_memory_growth() {} },
  wasi_snapshot_preview1: {
    proc_exit(code) {
      throw new Error(`waymark: the map compiler exited (${code})`);
    },
  },
};

/** The compiler's calls over an instantiated module. */
export function compilerFrom(instance) {
  const x = instance.exports;
  if (typeof x._initialize === 'function') x._initialize(); // C++ static constructors
  const output = (size) => new Uint8Array(x.memory.buffer, x.wm_output(), Math.abs(size)).slice();
  return {
    /** A map (JSON text or object) compiled: Uint8Array. Throws WaymarkError with the core's error. */
    compile(map) {
      if (typeof map !== 'string' && (map === null || typeof map !== 'object')) {
        throw new WaymarkError('invalid_map', `map: expected a JSON object or its text, got ${map === null ? 'null' : typeof map}`);
      }
      const bytes = encoder.encode(typeof map === 'string' ? map : JSON.stringify(map));
      const at = x.wm_buffer(bytes.length);
      if (!at) throw new WaymarkError('too_large', `map: ${bytes.length} bytes, more than the 1 MB a map may have`);
      new Uint8Array(x.memory.buffer, at, bytes.length).set(bytes);
      const size = x.wm_compile(bytes.length);
      const result = output(size);
      if (size < 0) unwrap(decoder.decode(result)); // throws the core's error
      return result;
    },
    /** The built-in default map's JSON text. */
    defaultMap() {
      return decoder.decode(output(x.wm_default_map()));
    },
  };
}

/** The compiler from the module's bytes (Node, tests, a page that passes compilerBinary). */
export async function compilerFromBytes(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes, compilerImports);
  return compilerFrom(instance);
}

/** Whether `map` is a compiled map rather than JSON (Uint8Array, ArrayBuffer or a view). */
export function isCompiledMap(map) {
  return map instanceof Uint8Array || map instanceof ArrayBuffer || ArrayBuffer.isView(map);
}

/** A compiled map as a Uint8Array. */
export function compiledBytes(map) {
  if (map instanceof Uint8Array) return map;
  if (map instanceof ArrayBuffer) return new Uint8Array(map);
  return new Uint8Array(map.buffer, map.byteOffset, map.byteLength);
}
