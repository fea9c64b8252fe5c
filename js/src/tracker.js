// The tracker: one visitor's journey on this page. It owns the wasm engine, feeds it touchpoints,
// applies its content decisions, persists its snapshot and hands what may be sent to the transport.
//
// Order of work in init(): everything that can affect the first paint happens synchronously
// (decisions cached by the last visit are applied while the page parses); the engine, storage and
// transport come up asynchronously, and calls made meanwhile are queued and replayed in order.
import { JourneyEngine } from './engine.js';
import { MAX_EVENT_BYTES } from './limits.js';
import { compiledBytes, isCompiledMap } from './compiler.js';
import { WaymarkError } from './errors.js';
import { Emitter } from './emitter.js';
import { uuidv7 } from './ids.js';
import { pageContext } from './page-context.js';
import { redactString } from './redact.js';
import { cleanProperties } from './sanitize.js';
import { CONSENT_STATES, browserOptOut, isAutomated } from './privacy.js';
import { applyDecisions, applyWhileParsing } from './personalize.js';
import { installAutocapture } from './autocapture.js';
import { installDataLayerBridge } from './datalayer.js';
import { openStore, utf8Length } from './storage.js';
import { createTransport, sendOnce } from './transport.js';

const SNAPSHOT_DELAY_MS = 1000;
const MAX_HELD_EVENTS = 500; // events held in memory while consent is pending
const MAX_OVERFLOW_EVENTS = 10000; // events waiting in memory for room in the storage budget
// MAX_EVENT_BYTES (limits.js, the core's): the engine enforces it when it runs, this SDK only for
// events it sends without the engine.
const COMPILED_MAP_TYPE = 'application/vnd.waymark.map'; // GET /v1/map's compiled form
// The compiled-map format this engine reads (kCompiledMapVersion): a collector with another one
// answers JSON, which the compiler module compiles.
const COMPILED_MAP_ACCEPT = `${COMPILED_MAP_TYPE}; v=1`;
const DRAIN_BATCH = 20; // envelopes per engine call (a slice checks its time budget between calls)
const DRAIN_SLICE_MS = 8; // main-thread time one slice of engine work may take
// Touchpoints the store may drop first when its budget is full (see storage.js).
const NOISE_EVENTS = new Set(['page_viewed', 'content_shown', 'outbound_link_clicked']);

const DEFAULTS = {
  key: '',
  endpoint: '',
  map: null,
  mapFromCollector: true,
  consent: 'granted',
  respectGlobalPrivacyControl: true,
  respectDoNotTrack: false,
  autocapture: true,
  personalize: true,
  dataLayer: false,
  storageBudget: 256 * 1024,
  storageName: 'waymark',
  debug: false,
  batchDelayMs: 1000,
};

// What init() and the one `error` event say when the wasm engine cannot load or run. Tracking
// goes on without it (see Tracker._start); a CSP that forbids WebAssembly is named, since that is
// the cause a site can fix in one line.
function engineUnavailable(err, cspViolation) {
  const cause = String((err && err.message) || err || 'unknown error').slice(0, 300);
  const after = 'Events are still stored and delivered without the engine (the collector computes the journey); content stays as cached by the last visit or as the page has it.';
  if (cspViolation || /Content.Security.Policy|wasm-unsafe-eval|'unsafe-eval'/i.test(cause)) {
    const directive = (cspViolation && cspViolation.effectiveDirective) || 'script-src';
    return {
      code: 'wasm_blocked_by_csp',
      message: `the page's Content-Security-Policy does not allow WebAssembly: add 'wasm-unsafe-eval' to its ${directive} directive (docs/sdk.md, "Content-Security-Policy"). ${after} (${cause})`,
    };
  }
  return { code: 'engine_unavailable', message: `the journey engine could not start: ${cause}. ${after}` };
}

// Records a CSP violation of WebAssembly compilation while the engine loads (Chromium reports
// blockedURI 'wasm-eval'), so the error can name the directive. Returns a function that stops.
function watchWasmCsp(win, found) {
  const doc = win && win.document;
  if (!doc || typeof doc.addEventListener !== 'function') return () => {};
  const onViolation = (e) => {
    if (/wasm/i.test(String(e.blockedURI || ''))) found(e); // Chromium: 'wasm-eval'
  };
  doc.addEventListener('securitypolicyviolation', onViolation);
  return () => doc.removeEventListener('securitypolicyviolation', onViolation);
}

// An outbound event for the store's queue, measured once (the store would otherwise measure it
// every time it is offered room again).
function queueItem(id, body, priority) {
  let bytes;
  try {
    bytes = utf8Length(JSON.stringify(body));
  } catch {
    bytes = undefined; // the store reports it
  }
  return { id, body, priority, bytes };
}

// push(...items) puts every item on the call stack: a burst of 100 000 throws a RangeError.
function append(list, items) {
  for (const item of items) list.push(item);
}

function normalizeOptions(options) {
  const o = { ...DEFAULTS, ...(options && typeof options === 'object' ? options : {}) };
  if (o.endpoint) o.endpoint = String(o.endpoint).replace(/\/+$/, '');
  if (!CONSENT_STATES.includes(o.consent)) o.consent = 'granted';
  const auto = o.autocapture;
  o.autocapture = auto === false ? false : { pageViews: true, clicks: true, forms: true, outboundLinks: false, ...(typeof auto === 'object' ? auto : {}) };
  return o;
}

export class Tracker {
  /**
   * @param {object} platform how this build finds things: {win, loadModule(options) -> Promise}
   */
  constructor(platform) {
    this._platform = platform;
    this._win = platform.win || null;
    this._emitter = new Emitter();
    this._pending = []; // calls made before the engine is ready: [method, args, time]
    this._ready = false;
    this._initPromise = null;
    this._engine = null;
    this._store = null;
    this._transport = null;
    this._held = [];
    this._inbox = []; // envelopes tracked but not yet run through the engine
    this._overflow = []; // outbound events waiting for room in the storage budget
    this._filteredReported = new Set(); // property names the sync filter kept back (debug)
    this._queuedUnfiltered = new Set(); // ids queued unfiltered at page hide, before the engine ran
    this._engineError = null; // why the wasm engine is not running (tracking goes on without it)
    this._cachedStage = null; // the stage the last visit's decisions were made for
    this._drainScheduled = false;
    this._decisions = null;
    this._shownThisPage = new Set();
    this._seq = 0;
    this._userId = null;
    this._anonymousId = null;
    this._snapshotTimer = null;
    this._undo = [];
    this.options = normalizeOptions({});
    this.whenReady = new Promise((resolve) => {
      this._resolveReady = resolve;
    });
  }

  // ---- state that decides what may happen ------------------------------------------------------

  /** 'granted' | 'pending' | 'denied', after the browser's own opt-out signals. */
  get consentState() {
    return this._optOut ? 'denied' : this._consent;
  }

  /** Lasting storage and sending are allowed only with consent granted. */
  get _mayPersist() {
    return this.consentState === 'granted';
  }

  // ---- init --------------------------------------------------------------------------------

  init(options) {
    if (this._initPromise) return this._initPromise;
    this.options = normalizeOptions(options);
    this._consent = this.options.consent;
    const nav = this._win ? this._win.navigator : globalThis.navigator;
    this._optOut = browserOptOut(nav, this.options);
    this._automated = isAutomated(nav);
    if (this._optOut) this._debug(`local-only: ${this._optOut} is on`);
    // The landing page view happens now, before anything the page or the personalization tracks.
    const auto = this.options.autocapture;
    if (auto && auto.pageViews !== false && this._win && this._win.location) this._pending.push(['page', [{}, { landing: true }], Date.now()]);
    this._startEarlyPersonalization();
    this._watchPageHide();
    this._initPromise = this._start().then(
      () => this._engine ? { ok: true, stage: this._engine.stage(), anonymousId: this._anonymousId }
        // Without the engine: not ok (no journey, no personalization), but tracking goes on.
        : { ok: false, error: this._engineError, tracking: this.consentState !== 'denied', anonymousId: this._anonymousId },
      (err) => {
        const error = { code: (err && err.code) || 'init_failed', message: (err && err.message) || String(err) };
        this._report(error);
        return { ok: false, error };
      },
    );
    this._initPromise.then(this._resolveReady);
    return this._initPromise;
  }

  _startEarlyPersonalization() {
    const doc = this._win && this._win.document;
    if (!doc || !this.options.personalize) return;
    // Decisions cached by the last visit; the engine's own decisions replace them once it runs.
    let cached = null;
    if (this._mayPersist) {
      try {
        const text = this._win.localStorage.getItem(this._decisionKey());
        const parsed = text ? JSON.parse(text) : null;
        if (parsed && Array.isArray(parsed.decisions)) cached = parsed.decisions;
        if (parsed && typeof parsed.stage === 'string') this._cachedStage = parsed.stage;
      } catch {
        cached = null; // storage blocked or garbage: the page keeps its default content
      }
    }
    const stop = applyWhileParsing(doc, () => this._decisions || cached, (shown) => this._markApplied(shown));
    this._undo.push(stop);
  }

  // Page hide (visibilitychange to hidden, pagehide), from init() on: the page may be gone in a
  // few milliseconds, so what is waiting goes out first (_onHide).
  _watchPageHide() {
    const win = this._win;
    if (!win || !win.addEventListener || !win.document) return;
    const onHide = () => this._onHide();
    const onVisibility = () => {
      if (win.document.visibilityState === 'hidden') this._onHide();
      else if (this._transport) this._transport.resume();
    };
    win.document.addEventListener('visibilitychange', onVisibility);
    win.addEventListener('pagehide', onHide);
    this._undo.push(() => {
      win.document.removeEventListener('visibilitychange', onVisibility);
      win.removeEventListener('pagehide', onHide);
    });
  }

  // Unload first. Before the engine has loaded (a slow network, a bounce), the calls made so far
  // wait in _pending: they are built into envelopes and sent as the page gave them, and the replay
  // after init() stores the same envelopes (same ids: a copy that arrived is answered
  // `duplicate`). Once running, events not yet run through the engine go out as the page gave
  // them (the collector applies the sync filter), then the queue and what waits in memory for
  // room in it, in one compact keepalive request; only then the engine catches up and the
  // journey is saved for the next page.
  _onHide() {
    if (!this._ready) {
      this._sendPendingAtHide();
      return;
    }
    this._queueInboxUnfiltered();
    if (this._transport) this._transport.sendOnUnload(this._overflow);
    this._saveSnapshotNow();
    this._writeHandoff();
    if (this._store) this._store.flushWrites(); // queued rows and the snapshot, now
  }

  _sendPendingAtHide() {
    const o = this.options;
    if (this.consentState !== 'granted' || !o.endpoint || !o.key) return;
    // Only the calls before the first other one: a queued consent(), identify() or reset() changes
    // what may be sent and under which ids, and only the replay applies it.
    const calls = [];
    for (const entry of this._pending) {
      if (entry[0] !== 'track' && entry[0] !== 'page') break;
      calls.push(entry);
    }
    if (!calls.length) return;
    if (!this._anonymousId) this._anonymousId = this._readAnonymousMirror();
    // No id in the mirror: a new visitor, unless this site's waymark stored something before (a
    // visitor of an SDK without the mirror, whose id only IndexedDB holds): then nothing is sent
    // rather than events under a new id that the stored one would split from.
    if (!this._anonymousId && this._storedBefore()) return;
    if (!this._anonymousId) this._anonymousId = uuidv7();
    this._writeAnonymousMirror();
    const handoff = this._readHandoff();
    if (handoff && handoff.seq > this._seq) this._seq = handoff.seq;
    const items = [];
    for (const entry of calls) {
      const [method, args, time] = entry;
      try {
        const { envelope } = method === 'track'
          ? this._checkedEnvelope(args[0], args[1], 'track', time, false)
          : this._checkedEnvelope('page_viewed', args[0], 'page', time, Boolean(args[1] && args[1].landing));
        entry[0] = '_envelope'; // replayed as this very envelope after init()
        entry[1] = [envelope];
        items.push(this._unfilteredItem(envelope));
      } catch {
        // a bad call: the replay reports it as usual
      }
    }
    if (items.length) sendOnce({ endpoint: o.endpoint, siteKey: o.key, items });
  }

  _storedBefore() {
    try {
      const ls = this._win.localStorage;
      return ls.getItem(this._handoffKey()) !== null || ls.getItem(this._decisionKey()) !== null;
    } catch {
      return true; // cannot tell: do not risk a second id
    }
  }

  // The anonymous id, also in localStorage: page hide before init() cannot wait for IndexedDB.
  _anonymousMirrorKey() {
    return `waymark:${this.options.key || 'default'}:anonymous_id`;
  }

  _readAnonymousMirror() {
    try {
      const v = this._win && this._win.localStorage.getItem(this._anonymousMirrorKey());
      return typeof v === 'string' && v.length >= 8 && v.length <= 64 ? v : null;
    } catch {
      return null;
    }
  }

  _writeAnonymousMirror() {
    if (!this._mayPersist || !this._win) return;
    try {
      this._win.localStorage.setItem(this._anonymousMirrorKey(), this._anonymousId);
    } catch {
      // storage blocked: the next page reads the id from the store
    }
  }

  async _start() {
    const o = this.options;
    const module = await this._loadEngineModule();

    if (this._mayPersist) await this._openStore();
    // The stored id; else the one a page hide before init() used (this page's or an earlier one's).
    this._anonymousId = (this._store && (await this._store.get('anonymous_id'))) || this._anonymousId || (this._mayPersist && this._readAnonymousMirror()) || uuidv7();
    if (this._store) {
      await this._store.set('anonymous_id', this._anonymousId);
      this._userId = (await this._store.get('user_id')) || null;
    }
    this._writeAnonymousMirror();

    if (module) {
      try {
        await this._startEngine(module);
      } catch (err) {
        if (this._engine) this._engine.dispose();
        this._engine = null;
        this._engineError = engineUnavailable(err);
      }
    }
    // Without the engine every event is delivered as the page gave it (see _deliverRaw).
    if (!this._engine) this._report(this._engineError);

    // Calls made before the engine was ready, in order, with the time they were made (the landing
    // page view first: it was queued when init() was called). Replayed before anything else is
    // tracked, so the browser processes events in the same time order as the collector will.
    while (this._pending.length > 0) {
      const [method, args, time] = this._pending.shift();
      try {
        const result = this._call(method, args, time);
        if (result && typeof result.then === 'function') await result;
      } catch (err) {
        this._report({ code: err.code || 'invalid_argument', message: err.message });
      }
    }
    this._ready = true;
    if (this._engine) {
      this._afterChange(this._engine.advance(Date.now()).transitions, []);
      this._applyPersonalization();
    }
    this._installPageHooks();
    if (this._store && o.endpoint && o.key) this._startTransport();
    this._drain(); // without the engine: what the replay queued, now that the transport is up
    if (this._engine && o.endpoint && o.mapFromCollector && !o.map) this._refreshMapFromCollector();
    this._emitter.emit('ready', { stage: this.stage(), anonymousId: this._anonymousId, engine: Boolean(this._engine) });
  }

  // The Emscripten module, or null (and _engineError set) when the wasm cannot load or run: a
  // CSP without 'wasm-unsafe-eval', a blocked or missing .wasm, a browser without WebAssembly.
  async _loadEngineModule() {
    await this._afterFirstPaint();
    let violation = null;
    const stopWatching = watchWasmCsp(this._win, (e) => {
      violation = violation || e;
    });
    try {
      const module = await this._platform.loadModule(this.options);
      this._module = module;
      return module;
    } catch (err) {
      // The violation event is dispatched asynchronously: give it a task to arrive.
      if (!violation) await new Promise((resolve) => setTimeout(resolve, 0));
      this._engineError = engineUnavailable(err, violation);
      return null;
    } finally {
      stopWatching();
    }
  }

  // The engine's ~130 KB stay off the critical path: the first paint needs only this script and
  // the decisions cached by the last visit, so the .wasm is requested once the browser reports the
  // first paint (a PerformanceObserver; else a frame, then a task), at once when the page is
  // hidden (a background tab does not paint), and after 1.5 s at most.
  _afterFirstPaint() {
    const win = this._win;
    const doc = win && win.document;
    if (!doc || doc.visibilityState === 'hidden') return Promise.resolve();
    return new Promise((resolve) => {
      let observer = null;
      let cap = null;
      const finish = () => {
        clearTimeout(cap);
        if (observer) observer.disconnect();
        resolve();
      };
      cap = setTimeout(finish, 1500);
      try {
        const PO = win.PerformanceObserver;
        if (typeof PO === 'function' && (PO.supportedEntryTypes || []).includes('paint')) {
          observer = new PO(finish); // `buffered`: a paint that already happened counts
          observer.observe({ type: 'paint', buffered: true });
          return;
        }
      } catch {
        observer = null;
      }
      if (typeof win.requestAnimationFrame === 'function') win.requestAnimationFrame(() => setTimeout(finish, 0));
      else finish();
    });
  }

  async _startEngine(module) {
    const { bytes, cached } = await this._initialMap();
    this._engine = new JourneyEngine(module, bytes, { localOnly: this.consentState === 'denied' });
    if (this._engine.mapError) {
      // A damaged cached copy is dropped quietly (the collector's map replaces it soon).
      if (!cached) this._report({ code: this._engine.mapError.code, message: `map refused, using the default map: ${this._engine.mapError.message}` });
      this._mapEtag = null;
    } else {
      this._mapBytes = bytes;
    }
    await this._restoreSnapshot();
  }

  async _openStore() {
    if (this._store) return;
    this._store = await openStore({
      name: `${this.options.storageName}:${this.options.key || 'default'}`,
      budgetBytes: this.options.storageBudget,
      // Half the budget stays free for the journey snapshot (about 150 KB at a full 500-event log).
      kvReserveBytes: Math.floor(this.options.storageBudget / 2),
      // Events a larger snapshot pushes out of the queue wait in memory, ahead of the others.
      onSpill: (items) => {
        this._overflow = items.concat(this._overflow);
      },
      onError: (err) => this._report(err),
    });
    // Math.max: a page hide before init() may have numbered events already (_sendPendingAtHide).
    this._seq = Math.max(this._seq, Number(await this._store.get('seq')) || 0);
  }

  // The compiled map to start with: the page's (init({ map }), compiled here when it is JSON), else
  // the copy the last page stored, else null (the engine's embedded default map).
  async _initialMap() {
    const o = this.options;
    if (o.map) {
      try {
        return { bytes: await this._compiledFrom(o.map), cached: false };
      } catch (err) {
        this._report({ code: err.code || 'invalid_map', message: `the map given to init() was refused: ${err.message}` });
      }
    }
    const cached = this._store && (await this._store.get('map'));
    if (cached) {
      try {
        const { compiled, etag } = JSON.parse(cached);
        if (typeof compiled === 'string') {
          this._mapEtag = etag;
          return { bytes: fromBase64(compiled), cached: true };
        }
      } catch {
        // damaged storage: the default map, until the collector's arrives
      }
    }
    return { bytes: null, cached: false };
  }

  /** A map as compiled bytes: as given, or JSON compiled by the on-demand compiler module. */
  async _compiledFrom(map) {
    // A copy: the page may reuse or transfer its buffer, and reset() rebuilds the engine from it.
    if (isCompiledMap(map)) return compiledBytes(map).slice();
    const compiler = await this._compiler();
    return compiler.compile(map);
  }

  // The map compiler (js/src/compiler.js) is a second, separate wasm, fetched the first time a map
  // arrives as JSON; sites that never pass one never download it.
  _compiler() {
    if (!this._compilerLoad) {
      const load = this._platform.loadCompiler ? this._platform.loadCompiler(this.options) : Promise.reject(new Error('this build cannot load the map compiler'));
      this._compilerLoad = load.catch((err) => {
        this._compilerLoad = null; // a later call may try again (a network blip)
        throw new WaymarkError('compiler_unavailable', `a JSON map needs the map compiler, which could not be loaded: ${err && err.message ? err.message : err}`);
      });
    }
    return this._compilerLoad;
  }

  // The journey saved by the last page: the stored snapshot, or the page-hide handoff in
  // localStorage when that one is newer (an IndexedDB write started at page hide may never
  // finish; a localStorage write does). The newer is the one with the higher sequence number.
  async _restoreSnapshot() {
    if (!this._store) return;
    let snapshot = await this._store.get('snapshot');
    const handoff = this._readHandoff();
    if (handoff && handoff.seq >= this._seq) {
      snapshot = handoff.snapshot;
      this._seq = handoff.seq;
    }
    if (!snapshot) return;
    try {
      this._engine.restore(snapshot);
      if (handoff) this._saveSnapshotNow(); // into the store; the handoff is removed there
    } catch (err) {
      this._report({ code: 'snapshot_refused', message: `the saved journey could not be restored (${err.message}); starting afresh` });
    }
  }

  _handoffKey() {
    return `waymark:${this.options.key || 'default'}:handoff`;
  }

  _readHandoff() {
    try {
      const parsed = JSON.parse(this._win.localStorage.getItem(this._handoffKey()) || 'null');
      return parsed && typeof parsed.snapshot === 'string' && Number.isFinite(parsed.seq) ? parsed : null;
    } catch {
      return null;
    }
  }

  // At page hide: the journey, synchronously, for the next page (see _restoreSnapshot).
  _writeHandoff() {
    if (!this._mayPersist || !this._engine || !this._win) return;
    try {
      this._win.localStorage.setItem(this._handoffKey(), JSON.stringify({ seq: this._seq, snapshot: this._engine.snapshot() }));
    } catch {
      // storage full or blocked: the stored snapshot (up to a second old) is what the next page gets
    }
  }

  async _refreshMapFromCollector() {
    const fetchFn = this._platform.fetch || globalThis.fetch;
    if (!fetchFn) return;
    try {
      // The compiled form: the engine loads it as is (a collector that only has JSON answers JSON,
      // which the compiler module then compiles).
      const headers = { Accept: COMPILED_MAP_ACCEPT };
      if (this._mapEtag) headers['If-None-Match'] = this._mapEtag;
      // The key names the project whose map this is (a query parameter: no CORS preflight).
      const key = this.options.key ? `?key=${encodeURIComponent(this.options.key)}` : '';
      const response = await fetchFn(`${this.options.endpoint}/v1/map${key}`, { headers, credentials: 'omit' });
      if (response.status !== 200) return; // 304: the cached map is current
      const type = String(response.headers.get('Content-Type') || '');
      const map = type.startsWith(COMPILED_MAP_TYPE) ? new Uint8Array(await response.arrayBuffer()) : await response.text();
      // A map the site set itself meanwhile (setMap) wins over the collector's answer.
      if (this._mapSetBySite) return;
      await this.setMap(map, response.headers.get('ETag'), false);
    } catch (err) {
      this._debug(`map refresh failed: ${err && err.message}`);
    }
  }

  /**
   * Replaces the journey map (JSON text or object, or compiled bytes); resolves true once it is in
   * use, false when it was refused (an `error` event with the core's message; the old map stays).
   */
  async setMap(map, etag, bySite = true) {
    this._drain();
    if (!this._engine) {
      this._report({ code: 'engine_unavailable', message: 'setMap(): the journey engine is not running, so no map can be applied (see the error reported by init())' });
      return false;
    }
    // The site's calls apply in the order they were made: one that had to wait for the compiler
    // never lands on top of a later one that did not. The collector's answer never counts as one.
    const call = bySite ? (this._mapCalls = (this._mapCalls || 0) + 1) : 0;
    let bytes;
    try {
      bytes = await this._compiledFrom(map);
    } catch (err) {
      this._report({ code: err.code || 'invalid_map', message: `map refused, keeping version ${this._engine ? this._engine.map.version : '?'}: ${err.message}` });
      return false;
    }
    // A map the site set (or is setting) wins over a collector answer that arrives after it.
    if (!this._engine || (!bySite && (this._mapSetBySite || this._mapCalls))) return false;
    if (bySite && call !== this._mapCalls) {
      this._debug('setMap(): a later setMap() call replaced this map before it was applied');
      return false;
    }
    return this._applyMap(bytes, etag, bySite);
  }

  _applyMap(bytes, etag, bySite) {
    this._drain();
    try {
      const before = this._engine.stage();
      const result = this._engine.loadMap(bytes);
      if (bySite) this._mapSetBySite = true;
      this._mapBytes = bytes;
      this._mapEtag = etag || null;
      if (this._store) this._store.set('map', JSON.stringify({ compiled: toBase64(bytes), etag: etag || null }));
      if (result.stage !== before) this._emitter.emit('stage', { from: before, to: result.stage, rule: 'map_changed', at: Date.now() });
      this._applyPersonalization();
      this._scheduleSnapshot();
      return true;
    } catch (err) {
      this._report({ code: err.code || 'invalid_map', message: `map refused, keeping version ${this._engine.map.version}: ${err.message}` });
      return false;
    }
  }

  _startTransport() {
    if (this._transport || !this._store) return;
    this._transport = createTransport({
      endpoint: this.options.endpoint,
      siteKey: this.options.key,
      store: this._store,
      batchDelayMs: this.options.batchDelayMs,
      onError: (err) => this._report(err),
      onResults: (results) => {
        // Events sent from memory at page hide (sendOnUnload's extra) and answered: not again.
        if (this._overflow.length && results.length) {
          const answered = new Set(results.map((r) => r && r.id));
          this._overflow = this._overflow.filter((it) => !answered.has(it.id));
        }
        if (this._overflow.length) {
          this._refillQueue();
          this._transport.schedule();
        }
      },
    });
    if (this._store.size() > 0) this._transport.schedule(); // left over from an earlier page
  }

  _installPageHooks() {
    const win = this._win;
    if (!win || !win.addEventListener) return;
    // The landing page view was queued by init(); autocapture handles what comes after it.
    if (this.options.autocapture) this._undo.push(installAutocapture(win, this, { ...this.options.autocapture, initialPageView: false }));
    if (this.options.dataLayer) {
      const name = typeof this.options.dataLayer === 'string' ? this.options.dataLayer : 'dataLayer';
      this._undo.push(installDataLayerBridge(win, this, new Set(this._engine ? this._engine.map.names : []), name));
    }
    this._openChannel();
  }

  // Other tabs of the same site share the journey: each tracked event is replayed into their
  // engines (not sent again: only the tab where it happened queues it).
  _openChannel() {
    const BC = this._win.BroadcastChannel;
    if (!BC) return;
    try {
      this._channel = new BC(`waymark:${this.options.key || 'default'}`);
    } catch {
      return;
    }
    // Most visitors have one tab: events are posted only once another tab has said hello (each
    // tab says it when it opens, and answers one it hears).
    this._peers = false;
    this._channel.onmessage = (message) => {
      try {
        const data = message.data || {};
        if (!this._peers) this._peers = true;
        if (data.kind === 'hello') this._channel.postMessage({ kind: 'here' });
        if (data.kind !== 'events' || !this._engine) return;
        // `envelopes`: a tab of an earlier release, still open while the site deploys this one.
        const envelopes = typeof data.text === 'string' ? JSON.parse(data.text) : data.envelopes;
        if (!Array.isArray(envelopes)) return;
        const mine = envelopes.filter((e) => e && e.anonymous_id === this._anonymousId);
        if (!mine.length) return;
        this._drain(); // keep this tab's own events first, in order
        for (const e of mine) this._seq = Math.max(this._seq, Number(e.seq) || 0);
        this._process(mine, false);
      } catch (err) {
        this._debug(`a message from another tab was ignored: ${err && err.message}`);
      }
    };
    try {
      this._channel.postMessage({ kind: 'hello' });
    } catch {
      // a closed channel: this tab works alone
    }
    this._undo.push(() => this._channel.close());
  }

  // ---- the public operations (called through api.js, which catches everything) -------------

  /** Runs `method` now when ready, else queues it with the time of the call. */
  call(method, args) {
    if (!this._ready) {
      // Calls before init() finishes wait here and run, in order, once it has; track() and
      // page() say so (their id comes when the event is built).
      const event = method === 'track' || method === 'page';
      if (this._pending.length < 1000) {
        this._pending.push([method, args, Date.now()]);
        return event ? { id: null, status: 'pending' } : undefined;
      }
      this._report({ code: 'queue_full', message: 'more than 1000 calls before init() finished; dropped' });
      return event ? { id: null, status: 'dropped', reason: 'queue_full' } : undefined;
    }
    return this._call(method, args, Date.now());
  }

  _call(method, args, time) {
    if (method !== 'track' && method !== 'page') this._drain();
    switch (method) {
      case 'track': return this._track(args[0], args[1], 'track', time);
      case '_envelope': return this._replayEnvelope(args[0]);
      case 'page': return this._page(args[0], args[1], time);
      case 'identify': return this._identify(args[0], args[1], time);
      case 'reset': return this._reset();
      case 'consent': return this._setConsent(args[0]);
      default: throw new WaymarkError('unknown_method', `unknown method ${method}`);
    }
  }

  track(name, properties) { return this.call('track', [name, properties]); }

  page(properties, options) { return this.call('page', [properties, options]); }

  _page(properties, options, time) {
    const landing = Boolean(options && options.landing);
    if (!landing) this._shownThisPage.clear(); // an SPA navigation is a new page for content_shown
    return this._track('page_viewed', properties, 'page', time, landing);
  }

  // An envelope built and sent at a page hide before init() finished (_sendPendingAtHide): into
  // the engine as usual, and into the queue as it was sent (unfiltered, so a copy that arrived
  // has the same content and is answered `duplicate`).
  _replayEnvelope(envelope) {
    this._inbox.push(envelope);
    if (this._engine) {
      this._queuedUnfiltered.add(envelope.id);
      this._deliver([this._unfilteredItem(envelope)]);
    }
    this._scheduleDrain();
    return { id: envelope.id, status: 'queued' };
  }

  _envelope(name, properties, type, time, landing) {
    const context = pageContext(this._win, landing);
    const cleaned = cleanProperties(properties, 'properties');
    if (this._automated) context.automation = true;
    const envelope = {
      id: uuidv7(time),
      seq: ++this._seq,
      anonymous_id: this._anonymousId,
      name: String(name),
      type,
      time,
      properties: cleaned.value,
      context,
    };
    if (this._userId) envelope.user_id = this._userId;
    if (cleaned.problems.length > 0) this._reportProblems(`track('${envelope.name}')`, cleaned.problems);
    return { envelope, problems: cleaned.problems };
  }

  // One `error` event per call that had to drop, cut or convert values (not one per value).
  _reportProblems(call, problems) {
    const shown = problems.slice(0, 5).map((p) => p.message).join('; ');
    const more = problems.length > 5 ? `; and ${problems.length - 5} more` : '';
    this._report({ code: 'invalid_properties', message: `${call}: ${shown}${more}`, problems });
  }

  // track() only validates and builds the envelope (a few microseconds on the page's main thread);
  // the engine runs on batches of envelopes shortly after, in a microtask and then in slices of a
  // few milliseconds, so a burst of calls never becomes one long task. Every read (stage(),
  // score(), context(), flush(), identify(), ...) first processes what is waiting, so it is
  // always up to date.
  _track(name, properties, type, time, landing = false, traits = null) {
    const { envelope, problems } = this._checkedEnvelope(name, properties, type, time, landing);
    // identify()'s traits go with its event: the collector's engine merges them as this one did.
    if (traits && Object.keys(traits).length > 0) envelope.traits = traits;
    this._inbox.push(envelope);
    this._scheduleDrain();
    // What was dropped or cut is said here too, so the caller need not listen for `error`.
    return problems.length > 0 ? { id: envelope.id, status: 'queued', problems } : { id: envelope.id, status: 'queued' };
  }

  // The engine runs on what waits in a microtask, then in slices (see _drain).
  _scheduleDrain() {
    if (this._drainScheduled) return;
    this._drainScheduled = true;
    queueMicrotask(() => this._drain(DRAIN_SLICE_MS));
  }

  _checkedEnvelope(name, properties, type, time, landing) {
    if (typeof name !== 'string' || name === '') {
      throw new WaymarkError('invalid_argument', `track(name, properties): name must be a non-empty string, got ${typeof name}`);
    }
    if (properties != null && (typeof properties !== 'object' || Array.isArray(properties))) {
      throw new WaymarkError('invalid_argument', `track('${name}', properties): properties must be an object`);
    }
    return this._envelope(name, properties, type, time, landing);
  }

  /** Runs waiting envelopes through the engine, for at most `budgetMs` (Infinity: all of them). */
  _drain(budgetMs = Infinity) {
    this._drainScheduled = false;
    if (!this._engine) {
      if (this._ready && this._inbox.length) this._deliverRaw(this._inbox.splice(0));
      return;
    }
    const start = Date.now();
    while (this._inbox.length > 0) {
      const batch = this._inbox.splice(0, DRAIN_BATCH);
      this._process(batch, true);
      if (Date.now() - start >= budgetMs && this._inbox.length > 0) {
        this._drainScheduled = true;
        setTimeout(() => this._drain(DRAIN_SLICE_MS), 0);
        return;
      }
    }
  }

  /** Tracks envelopes in one engine call; `own` = made in this tab (queued for sending, shared). */
  _process(envelopes, own) {
    const results = this._engine.track(envelopes);
    const queuedUnfiltered = this._queuedUnfiltered;
    const outgoing = [];
    const shared = [];
    results.forEach((result, i) => {
      const envelope = envelopes[i];
      const sentUnfiltered = own && queuedUnfiltered.size > 0 && queuedUnfiltered.delete(envelope.id);
      if (result.status === 'rejected') {
        if (own) this._report({ code: result.error.code, message: result.error.message, event: envelope.name, id: envelope.id });
        return;
      }
      shared.push(envelope);
      this._emitter.emit('event', { id: envelope.id, name: result.name, status: result.status, stage: result.stage, time: envelope.time });
      if (sentUnfiltered) {
        // queued as the page gave it at page hide (_queueInboxUnfiltered): not a second time
      } else if (own && result.send && result.outbound) {
        if (this.options.debug) this._reportFilteredProperties(envelope, result);
        const priority = result.transitions.length || result.triggers.length ? 2 : NOISE_EVENTS.has(result.name) ? 0 : 1;
        outgoing.push(queueItem(envelope.id, { ...result.outbound, stage: result.stage }, priority));
      }
      this._afterChange(result.transitions, result.triggers);
    });
    if (own && this._channel && this._peers && shared.length) {
      try {
        // One string per batch: a structured clone of envelope objects cost more on both sides.
        this._channel.postMessage({ kind: 'events', text: JSON.stringify(shared) });
      } catch {
        // a closed channel: the other tabs catch up from the snapshot
      }
    }
    if (outgoing.length) this._deliver(outgoing);
    // A stage change is saved at once: the visitor may be about to leave for the next page.
    if (results.some((r) => r.transitions && r.transitions.length)) queueMicrotask(() => this._saveSnapshotNow());
    else this._scheduleSnapshot();
  }

  /** Without the engine: envelopes are queued as the page gave them; the collector filters them. */
  _deliverRaw(envelopes) {
    if (this.consentState === 'denied') return;
    const items = [];
    for (const e of envelopes) {
      const item = this._unfilteredItem(e);
      // The engine refuses an event over the collector's size limit; without it, this does.
      if (!(item.bytes <= MAX_EVENT_BYTES)) {
        this._report({ code: 'event_too_large', message: `track('${e.name}'): the event is ${item.bytes} bytes, more than the ${MAX_EVENT_BYTES} an event may have; not sent`, event: e.name, id: e.id });
        continue;
      }
      this._emitter.emit('event', { id: e.id, name: e.name, status: 'queued', stage: null, time: e.time });
      items.push(item);
    }
    if (items.length) this._deliver(items);
  }

  _unfilteredItem(envelope) {
    return queueItem(envelope.id, { ...envelope, unfiltered: true }, NOISE_EVENTS.has(envelope.name) ? 0 : 1);
  }

  // At page hide, with the engine: envelopes still waiting for it are queued unfiltered (and so
  // stored and in the unload send); _process then skips their filtered copy.
  _queueInboxUnfiltered() {
    if (!this._engine || !this._inbox.length || this.consentState === 'denied') return;
    this._deliver(this._inbox.map((e) => this._unfilteredItem(e)));
    for (const e of this._inbox) this._queuedUnfiltered.add(e.id);
  }

  _deliver(items) {
    const state = this.consentState;
    if (state === 'denied') return;
    if (state === 'pending') {
      append(this._held, items);
      if (this._held.length > MAX_HELD_EVENTS) this._held.splice(0, this._held.length - MAX_HELD_EVENTS);
      return;
    }
    if (!this._store) return;
    // A burst can outgrow the storage budget faster than it is sent: what does not fit waits in
    // memory (in order, behind what is already waiting) and moves into the queue as deliveries
    // free room. Past MAX_OVERFLOW_EVENTS the queue's eviction order decides what is dropped.
    append(this._overflow, items);
    this._refillQueue();
    if (this._overflow.length > MAX_OVERFLOW_EVENTS) {
      this._store.enqueue(this._overflow.splice(0, this._overflow.length - MAX_OVERFLOW_EVENTS));
    }
    if (this._transport) this._transport.schedule();
  }

  _refillQueue() {
    if (!this._store || this._overflow.length === 0) return;
    // Not while the store is full of what nothing waiting may push out (conversions, events in
    // flight), the common case in a large burst: the oldest waiting event, even as a conversion,
    // would not fit. Otherwise every waiting event is offered (each refusal is constant time), so
    // neither an event too large for the store nor a noise event ahead of a conversion holds the
    // others back.
    const first = this._overflow[0];
    if (typeof first.bytes === 'number' && !this._store.wouldTake(Math.min(first.bytes, MAX_EVENT_BYTES), 2)) return;
    const waiting = this._overflow;
    this._overflow = []; // events pushed out meanwhile (onSpill) are older: they go first
    const refused = [];
    this._store.enqueue(waiting, { evict: 'lower', refused });
    append(this._overflow, refused);
  }

  _afterChange(transitions, triggers) {
    for (const t of transitions || []) this._emitter.emit('stage', t);
    for (const t of triggers || []) this._emitter.emit('trigger', t);
    if (transitions && transitions.length) this._applyPersonalization();
  }

  _identify(userId, traits, time) {
    if (typeof userId === 'number') userId = String(userId);
    if (typeof userId !== 'string' || userId === '') {
      throw new WaymarkError('invalid_argument', 'identify(userId, traits): userId must be a non-empty string');
    }
    let cleanTraits = null;
    if (traits != null) {
      const cleaned = cleanProperties(traits, 'traits');
      if (cleaned.problems.length > 0) this._reportProblems('identify()', cleaned.problems);
      cleanTraits = cleaned.value;
    }
    if (this._engine) this._engine.identify(userId, cleanTraits);
    this._userId = userId;
    if (this._store) this._store.set('user_id', userId);
    // The collector links the anonymous id to the user through this event's user_id.
    return this._track('user_identified', {}, 'identify', time, false, cleanTraits);
  }

  _reset() {
    if (this._engine) {
      this._engine.dispose();
      this._engine = new JourneyEngine(this._module, this._mapBytes || null, { localOnly: this.consentState === 'denied' });
    }
    this._anonymousId = uuidv7();
    this._userId = null;
    this._seq = 0;
    this._held = [];
    this._overflow = [];
    this._forgetPersisted();
    if (this._store) this._store.set('anonymous_id', this._anonymousId);
    this._writeAnonymousMirror();
    this._emitter.emit('stage', { from: null, to: this.stage(), rule: 'reset', at: Date.now() });
    this._applyPersonalization();
  }

  _forgetPersisted() {
    this._cachedStage = null;
    if (this._store) this._store.clear();
    try {
      this._win.localStorage.removeItem(this._handoffKey());
      this._win.localStorage.removeItem(this._decisionKey());
      this._win.localStorage.removeItem(this._anonymousMirrorKey());
    } catch {
      // nothing stored, or storage blocked
    }
  }

  async _setConsent(state) {
    if (!CONSENT_STATES.includes(state)) {
      throw new WaymarkError('invalid_argument', `consent(state): expected one of ${CONSENT_STATES.join(', ')}, got ${JSON.stringify(state)}`);
    }
    this._consent = state;
    if (this._optOut && state === 'granted') this._debug(`consent granted, but ${this._optOut} keeps waymark local-only`);
    const effective = this.consentState;
    // 'pending' keeps the engine sending into _held (memory only); 'denied' is local-only.
    if (this._engine) this._engine.setLocalOnly(effective === 'denied');
    if (effective === 'denied') {
      this._held = [];
      this._overflow = [];
      if (this._transport) this._transport.stop();
      this._transport = null;
      this._forgetPersisted();
      this._store = null;
      return;
    }
    if (effective === 'granted') {
      await this._openStore();
      await this._store.set('anonymous_id', this._anonymousId);
      const held = this._held.splice(0);
      if (held.length) this._store.enqueue(held);
      if (this.options.endpoint && this.options.key) this._startTransport();
      if (this._transport) this._transport.schedule();
      this._scheduleSnapshot();
    }
  }

  // ---- personalization -----------------------------------------------------------------------

  _decisionKey() {
    return `waymark:${this.options.key || 'default'}:decisions`;
  }

  _applyPersonalization() {
    if (!this.options.personalize || !this._engine) return;
    this._decisions = this._engine.decide(Date.now());
    if (this._mayPersist) {
      try {
        this._win.localStorage.setItem(this._decisionKey(), JSON.stringify({ stage: this._engine.stage(), decisions: this._decisions }));
      } catch {
        // storage full or blocked: the next visit waits for the engine instead
      }
    }
    const doc = this._win && this._win.document;
    if (doc) this._markApplied(applyDecisions(doc, this._decisions));
  }

  // Records what was shown (once per slot and variant per page) for the content-gap analysis.
  _markApplied(shown) {
    if (shown.length && this._win && this._win.performance && this._win.performance.mark) {
      try {
        this._win.performance.mark('waymark:personalized');
      } catch {
        // old browsers
      }
    }
    for (const d of shown) {
      const key = `${d.slot}:${d.variant}`;
      if (this._shownThisPage.has(key)) continue;
      this._shownThisPage.add(key);
      this.call('track', ['content_shown', { slot: d.slot, variant: d.variant, default: Boolean(d.default) }]);
    }
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** The stage; without the engine, the one the last visit's cached content was chosen for. */
  stage() {
    this._drain();
    return this._engine ? this._engine.stage() : this._cachedStage;
  }

  score(group) {
    this._drain();
    return this._engine ? this._engine.score(Date.now(), group || '') : 0;
  }

  /** The journey context: stage, score and its breakdown, time in stage, content shown. */
  context() {
    this._drain();
    if (!this._engine) return null;
    const state = this._engine.state(Date.now());
    return {
      stage: state.stage,
      stageName: state.stage_name,
      stageEnteredAt: state.stage_entered_at,
      timeInStage: state.time_in_stage,
      score: state.score,
      scoreBreakdown: state.score_breakdown,
      transitions: state.transitions,
      anonymousId: this._anonymousId,
      userId: this._userId,
      consent: this.consentState,
      mapVersion: state.map && state.map.version,
      content: (this._decisions || []).map((d) => ({ slot: d.slot, variant: d.variant })),
    };
  }

  on(type, handler) { return this._emitter.on(type, handler); }

  off(type, handler) { this._emitter.off(type, handler); }

  /** Resolves when the queue is delivered or delivery has given up; never rejects. */
  async flush(options) {
    if (this._initPromise) await this._initPromise;
    this._drain();
    if (!this._transport) return { delivered: 0, pending: (this._store ? this._store.size() : this._held.length) + this._overflow.length, failed: 0 };
    const deadline = Date.now() + ((options && options.timeoutMs) || 10000);
    const total = { delivered: 0, pending: 0, failed: 0 };
    for (;;) {
      this._refillQueue();
      const r = await this._transport.flush({ ...options, timeoutMs: Math.max(0, deadline - Date.now()) });
      total.delivered += r.delivered || 0;
      total.failed += r.failed || 0;
      total.pending = (r.pending || 0) + this._overflow.length;
      if (this._overflow.length === 0 || r.pending > 0 || Date.now() >= deadline || !r.delivered) return total;
    }
  }

  /** Counters for debugging and the inspector. */
  stats() {
    return {
      ready: this._ready,
      engine: Boolean(this._engine),
      consent: this.consentState,
      optOut: this._optOut || null,
      queue: this._store ? this._store.stats() : null,
      waitingForRoom: this._overflow.length,
      transport: this._transport ? this._transport.stats() : null,
      held: this._held.length,
    };
  }

  // ---- persistence ---------------------------------------------------------------------------

  _scheduleSnapshot() {
    if (!this._store || this._snapshotTimer) return;
    this._snapshotTimer = setTimeout(() => this._saveSnapshotNow(), SNAPSHOT_DELAY_MS);
  }

  _saveSnapshotNow() {
    this._drain();
    if (this._snapshotTimer) clearTimeout(this._snapshotTimer);
    this._snapshotTimer = null;
    if (!this._store || !this._engine) return;
    this._store.set('snapshot', this._engine.snapshot());
    this._store.set('seq', String(this._seq));
    try {
      this._win.localStorage.removeItem(this._handoffKey()); // the store has the newer journey now
    } catch {
      // no localStorage (Node) or blocked
    }
  }

  // ---- errors --------------------------------------------------------------------------------

  _report(error) {
    this._debug(`${error.code}: ${error.message}`);
    this._emitter.emit('error', error);
  }

  // debug: true: the properties the stage's sync filter keeps from the collector, each name once
  // per page (the default map sends only a few properties of a first visit: docs/sdk.md).
  _reportFilteredProperties(envelope, result) {
    const sent = (result.outbound && result.outbound.properties) || {};
    for (const key of Object.keys(envelope.properties || {})) {
      if (key in sent || this._filteredReported.has(key)) continue;
      this._filteredReported.add(key);
      this._debug(`property '${key}' of '${result.name}' is not sent: the sync filter of stage '${result.stage}' leaves it out (kept on this device; reported once per name)`);
    }
  }

  _debug(message) {
    if (this.options.debug && globalThis.console) globalThis.console.warn(`waymark: ${message}`);
  }

  /** Stops everything (listeners, timers, the engine). For tests and single-page teardown. */
  destroy() {
    this._saveSnapshotNow();
    for (const fn of this._undo.splice(0)) {
      try {
        fn();
      } catch {
        // keep tearing down
      }
    }
    if (this._transport) this._transport.stop();
    if (this._engine) this._engine.dispose();
    this._engine = null;
    this._ready = false;
  }
}

export { redactString };

// Compiled maps are kept in the string store as base64.
function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
