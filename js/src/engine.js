// The friendly face of the wasm engine: plain objects in and out, WaymarkError on failure, and an
// explicit dispose() (wasm memory is not garbage collected; FinalizationRegistry alone is not
// enough, see STYLE.md).
import { WaymarkError, unwrap } from './errors.js';
import { RecordWriter, mapInfo, readOutcomes, writeRecords } from './record.js';

export class JourneyEngine {
  /**
   * @param {object} module the instantiated Emscripten module (see loadEngineModule)
   * @param {Uint8Array|ArrayBuffer|null} map a compiled journey map (js/src/compiler.js compiles
   *   JSON ones; the collector serves them compiled); null for the embedded default map
   * @param {{localOnly?: boolean}} options
   */
  constructor(module, map, options = {}) {
    this._module = module;
    this._handle = new module.Engine(Boolean(options.localOnly));
    this._writer = new RecordWriter();
    this._info = mapInfo(this._handle._mapInfo());
    /** The map's error when it was refused (the default map is then in use), else null. */
    this.mapError = null;
    if (map != null) {
      try {
        this.loadMap(map);
      } catch (err) {
        this.mapError = { code: err.code || 'map_corrupt', message: err.message };
      }
    }
  }

  /** {id, version, names} of the map in use (names: the registry's event names and aliases). */
  get map() {
    return { id: this._info.id, version: this._info.version, names: this._info.names };
  }

  _live() {
    if (!this._handle) throw new Error('waymark: this engine was disposed');
    return this._handle;
  }

  /**
   * Tracks envelopes (an array, one call per batch) through the typed boundary (js/src/record.js):
   * one result per event, `outbound` being the envelope as the stage's sync filter lets it leave.
   */
  track(events) {
    const handle = this._live();
    if (!Array.isArray(events)) throw new WaymarkError('invalid_batch', 'track(events): expected an array of envelopes');
    const length = writeRecords(this._writer, events, this._info);
    const at = handle._inputBuffer(length);
    if (at === 0) {
      if (events.length < 2) {
        const id = events[0] && typeof events[0].id === 'string' ? events[0].id.slice(0, 64) : '';
        const error = { code: 'event_too_large', message: `event is ${length} bytes as a record, more than the engine takes` };
        return [{ id, status: 'rejected', error, stage: handle._stage() }];
      }
      const half = Math.ceil(events.length / 2);
      return this.track(events.slice(0, half)).concat(this.track(events.slice(half)));
    }
    this._module.HEAPU8.set(this._writer.bytes.subarray(0, length), at);
    const size = handle._trackRecords(length);
    const from = handle._output();
    // Read after the call: a memory growth inside it replaces HEAPU8.
    const bytes = this._module.HEAPU8.slice(from, from + Math.abs(size));
    if (size < 0) return unwrap(new TextDecoder().decode(bytes));
    return readOutcomes(bytes, events, this._info);
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

  /**
   * Switches to a compiled map (Uint8Array or ArrayBuffer): the history is replayed under it.
   * Damaged bytes throw WaymarkError (map_corrupt, map_version) and change nothing.
   */
  loadMap(map) {
    const handle = this._live();
    const bytes = map instanceof Uint8Array ? map : new Uint8Array(map);
    const at = handle._inputBuffer(bytes.length);
    if (at === 0) throw new WaymarkError('too_large', `map: ${bytes.length} bytes, more than the engine takes`);
    this._module.HEAPU8.set(bytes, at);
    const result = unwrap(handle._loadMap(bytes.length));
    this._info = mapInfo(handle._mapInfo());
    return result;
  }

  setLocalOnly(on) { this._live()._setLocalOnly(Boolean(on)); }

  dispose() {
    if (this._handle) {
      this._handle.delete();
      this._handle = null;
    }
  }
}
