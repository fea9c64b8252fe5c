// The friendly face of the wasm engine: plain objects in and out, WaymarkError on failure, and an
// explicit dispose() (wasm memory is not garbage collected; FinalizationRegistry alone is not
// enough, see STYLE.md).
import { unwrap } from './errors.js';

export class JourneyEngine {
  /**
   * @param {object} module the instantiated Emscripten module (see loadEngineModule)
   * @param {string|object|null} map a journey map (text or object); null for the default map
   * @param {{localOnly?: boolean}} options
   */
  constructor(module, map, options = {}) {
    const text = map == null ? '' : typeof map === 'string' ? map : JSON.stringify(map);
    this._module = module;
    this._handle = new module.Engine(text, Boolean(options.localOnly));
    const mapError = this._handle._mapError();
    /** The map's error when it was refused (the default map is then in use), else null. */
    this.mapError = mapError ? JSON.parse(mapError).error : null;
  }

  _live() {
    if (!this._handle) throw new Error('waymark: this engine was disposed');
    return this._handle;
  }

  /** Tracks envelopes (an array, one call per batch). One result per event. */
  track(events) {
    return unwrap(this._live()._track(JSON.stringify(events)));
  }

  advance(now) { return unwrap(this._live()._advance(now)); }

  identify(userId, traits) {
    return unwrap(this._live()._identify(String(userId), traits == null ? '' : JSON.stringify(traits)));
  }

  state(now) { return unwrap(this._live()._state(now)); }

  score(now, group = '') { return unwrap(this._live()._score(now, group)).score; }

  decide(now) { return unwrap(this._live()._decide(now)); }

  stage() { return this._live()._stage(); }

  snapshot() { return this._live()._snapshot(); }

  restore(snapshot) { return unwrap(this._live()._restore(String(snapshot))); }

  setMap(map) {
    return unwrap(this._live()._setMap(typeof map === 'string' ? map : JSON.stringify(map)));
  }

  setLocalOnly(on) { this._live()._setLocalOnly(Boolean(on)); }

  dispose() {
    if (this._handle) {
      this._handle.delete();
      this._handle = null;
    }
  }
}

/**
 * Engine-level helpers that need no visitor state: only those the SDK calls, since each one is an
 * export of the production wasm (tests/js/exports.test.mjs). Test-only calls (channel
 * classification, path attribution, log merging, batching) are in the test build of the module
 * and reach the tests through tests/js/extra-tools.mjs.
 */
export function engineTools(module) {
  return {
    validateMap: (map) => unwrap(module._validateMap(typeof map === 'string' ? map : JSON.stringify(map))),
    defaultMap: () => module._defaultMap(),
  };
}
