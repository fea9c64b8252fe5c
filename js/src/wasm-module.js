// The engine module (wasm/exports.cpp, dist/waymark.wasm) from an instance: a standalone wasm with
// plain C exports, so this file is its whole loader (no Emscripten glue: about 9 KB gzip less in
// the SDK's script). `Engine` wraps one engine handle with the calls js/src/engine.js makes;
// strings cross through the engine's input and output buffers in wasm memory.
import { compilerImports } from './compiler.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The imports both standalone modules take (a memory-growth notice, exit). */
export const engineImports = compilerImports;

/** The module's calls over an instantiated engine module. */
export function engineModuleFrom(instance) {
  const x = instance.exports;
  if (typeof x._initialize === 'function') x._initialize(); // C++ static constructors
  let heap = new Uint8Array(x.memory.buffer);
  const module = {
    exports: x,
    /** The current view of wasm memory (a memory growth replaces the buffer). */
    get HEAPU8() {
      if (heap.buffer !== x.memory.buffer) heap = new Uint8Array(x.memory.buffer);
      return heap;
    },
  };

  class Engine {
    constructor(localOnly) {
      this._ptr = x.wm_engine_new(localOnly ? 1 : 0);
    }

    // UTF-8 of `texts`, back to back in the engine's input buffer; their byte lengths.
    _write(...texts) {
      const parts = texts.map((t) => encoder.encode(t));
      const total = parts.reduce((n, p) => n + p.length, 0);
      const at = x.wm_input(this._ptr, total);
      if (at === 0 && total > 0) throw new Error('waymark: input larger than the engine takes');
      let offset = at;
      for (const p of parts) {
        module.HEAPU8.set(p, offset);
        offset += p.length;
      }
      return parts.map((p) => p.length);
    }

    _text(size) {
      const from = x.wm_output(this._ptr);
      return decoder.decode(module.HEAPU8.subarray(from, from + size));
    }

    _inputBuffer(size) { return x.wm_input(this._ptr, size); }

    _trackRecords(length) { return x.wm_track(this._ptr, length); }

    _output() { return x.wm_output(this._ptr); }

    _loadMap(length) { return this._text(x.wm_load_map(this._ptr, length)); }

    _mapInfo() { return this._text(x.wm_map_info(this._ptr)); }

    _advance(now) { return this._text(x.wm_advance(this._ptr, now)); }

    _identify(userId, traits) {
      const [user, rest] = this._write(userId, traits);
      return this._text(x.wm_identify(this._ptr, user, rest));
    }

    _state(now) { return this._text(x.wm_state(this._ptr, now)); }

    _score(now, group) {
      const [length] = this._write(group);
      return this._text(x.wm_score(this._ptr, now, length));
    }

    _decide(now) { return this._text(x.wm_decide(this._ptr, now)); }

    _snapshot() { return this._text(x.wm_snapshot(this._ptr)); }

    _restore(snapshot) {
      const [length] = this._write(snapshot);
      return this._text(x.wm_restore(this._ptr, length));
    }

    _setLocalOnly(on) { x.wm_set_local_only(this._ptr, on ? 1 : 0); }

    _stage() { return this._text(x.wm_stage(this._ptr)); }

    delete() {
      x.wm_engine_delete(this._ptr);
      this._ptr = 0;
    }
  }

  module.Engine = Engine;
  return module;
}
