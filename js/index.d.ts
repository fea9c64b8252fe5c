// Types for waymark's browser SDK (hand-written: Emscripten 3.1.6 cannot generate them; this file
// is the contract, see docs/sdk.md).

export type ConsentState = 'granted' | 'pending' | 'denied';

export interface AutocaptureOptions {
  /** Page views on load and on SPA navigation (pushState, replaceState, popstate). Default true. */
  pageViews?: boolean;
  /** Clicks on elements with `data-waymark-event`. Default true. */
  clicks?: boolean;
  /** Submits of forms with `data-waymark-event` (field values are never read). Default true. */
  forms?: boolean;
  /** Clicks on links to other hosts, as `outbound_link_clicked`. Default false. */
  outboundLinks?: boolean;
}

export interface InitOptions {
  /** The site key (the collector's `--site-key`). Without it nothing is sent. */
  key?: string;
  /** The collector's base URL, e.g. `https://collect.example.com`. Without it nothing is sent. */
  endpoint?: string;
  /**
   * A journey map: an object or JSON text (compiled by the map compiler, waymark-compiler.wasm,
   * fetched for it), or a compiled map (`GET /v1/map` with `Accept: application/vnd.waymark.map`,
   * or `waymark-collector compile-map`). Default: the collector's map, cached, else the built-in one.
   */
  map?: object | string | Uint8Array | ArrayBuffer;
  /** Fetch `GET /v1/map` from the endpoint (with ETag) when no `map` is given. Default true. */
  mapFromCollector?: boolean;
  /** The visitor's consent at start. Default 'granted'. */
  consent?: ConsentState;
  /** Honour `navigator.globalPrivacyControl` (local-only when on). Default true. */
  respectGlobalPrivacyControl?: boolean;
  /** Honour Do-Not-Track. Default false. */
  respectDoNotTrack?: boolean;
  /** Automatic touchpoints; `false` turns all off. */
  autocapture?: boolean | AutocaptureOptions;
  /** Apply content decisions to `data-waymark-slot` elements. Default true. */
  personalize?: boolean;
  /** Bridge `window.dataLayer` pushes (or the named array) into touchpoints. Default false. */
  dataLayer?: boolean | string;
  /** Bytes the snapshot and the outbound queue may use in storage. Default 262144. */
  storageBudget?: number;
  /** Warnings on the console for every error. Default false. */
  debug?: boolean;
  /** Delay before a batch is sent (ms). Default 1000. */
  batchDelayMs?: number;
  /** The .wasm bytes (Node, or bundlers that inline assets). */
  wasmBinary?: ArrayBuffer | Uint8Array;
  /** Where the .wasm lives, as a URL. */
  wasmUrl?: string;
  /** Returns the URL of `name` ('waymark.wasm', 'waymark-compiler.wasm'); `prefix` is the script's folder. */
  locateFile?: (name: string, prefix: string) => string;
  /** The map compiler's bytes (waymark-compiler.wasm), used only for maps given as JSON. */
  compilerBinary?: ArrayBuffer | Uint8Array;
  /** Where waymark-compiler.wasm lives. Default: beside waymark.wasm. */
  compilerUrl?: string;
}

export type InitResult =
  | { ok: true; stage: string; anonymousId: string }
  | { ok: false; error: WaymarkErrorInfo }
  /** The engine could not load or run (error.code 'wasm_blocked_by_csp' or 'engine_unavailable'): events are still delivered. */
  | { ok: false; error: WaymarkErrorInfo; tracking: boolean; anonymousId: string };

export interface WaymarkErrorInfo {
  code: string;
  message: string;
  [key: string]: unknown;
}

/** A value track() or identify() dropped, cut or converted (also in the `error` event). */
export interface PropertyProblem {
  path: string;
  code: 'string_truncated' | 'circular' | 'too_deep' | 'too_many_properties' | 'too_many_items' | 'unsupported_value' | 'converted_bigint' | 'invalid_number' | 'invalid_date' | 'unreadable_value';
  message: string;
}

/**
 * What track() returns, always (it never throws): `queued` with the event id (and `problems` when
 * values had to be dropped or cut); `pending` before init() has finished (the id comes when the
 * event is built); `dropped` with the reason when nothing was kept.
 */
export type TrackResult =
  | { id: string; status: 'queued'; problems?: PropertyProblem[] }
  | { id: null; status: 'pending' }
  | { id: null; status: 'dropped'; reason: string };

export interface StageChange {
  from: string | null;
  to: string;
  at: number;
  rule: string;
  event_id?: string;
  map_version?: number;
}

export interface TriggerFiring {
  trigger: string;
  from: string;
  to: string;
  at: number;
  event_id: string;
  transition: string;
}

export interface EventInfo {
  id: string;
  name: string;
  status: string;
  stage: string;
  time: number;
}

export interface JourneyContext {
  stage: string;
  stageName: string;
  stageEnteredAt: number | null;
  timeInStage: number;
  score: number;
  scoreBreakdown: Array<{ rule: string; group: string; points: number }>;
  transitions: StageChange[];
  anonymousId: string;
  userId: string | null;
  consent: ConsentState;
  mapVersion: number;
  content: Array<{ slot: string; variant: string }>;
}

export interface FlushResult {
  delivered: number;
  pending: number;
  failed: number;
}

export interface EventMap {
  ready: { stage: string; anonymousId: string };
  stage: StageChange;
  event: EventInfo;
  trigger: TriggerFiring;
  error: WaymarkErrorInfo;
}

export interface Waymark {
  /** Loads the engine, restores the visitor's journey and starts tracking. Idempotent. */
  init(options?: InitOptions): Promise<InitResult>;
  /** Records a touchpoint (the engine processes it within milliseconds; reads see it at once). */
  track(name: string, properties?: Record<string, unknown>, ...segmentArgs: unknown[]): TrackResult;
  /** Records a page view (Segment's page([category], [name], [properties]) shape is accepted). */
  page(...args: unknown[]): TrackResult | undefined;
  /** Ties the visitor to a known user id (Segment's identify([userId], [traits]) shape is accepted). */
  identify(userId: string, traits?: Record<string, unknown>, ...segmentArgs: unknown[]): TrackResult | undefined;
  /** Forgets the visitor: new anonymous id, empty journey, stored data removed. */
  reset(): void;
  /** Changes consent: 'granted' sends held events, 'denied' deletes what was stored. */
  consent(state: ConsentState): Promise<void>;
  /** The current stage id (null before init() has finished). */
  stage(): string | null;
  /** The current score, decayed to now (optionally of one rule group). */
  score(group?: string): number;
  /** The journey context for automations and AI workflows. */
  context(): JourneyContext | null;
  on<K extends keyof EventMap>(type: K, handler: (payload: EventMap[K]) => void): boolean;
  off<K extends keyof EventMap>(type: K, handler?: (payload: EventMap[K]) => void): void;
  /** Settles when the queue is delivered or delivery has given up (never rejects). */
  flush(options?: { timeoutMs?: number }): Promise<FlushResult>;
  /**
   * Replaces the journey map (JSON object or text, or a compiled map); resolves true once it is in
   * use, false when it was refused (an 'error' event) and the old one stays. A JSON map loads the
   * map compiler the first time.
   */
  setMap(map: object | string | Uint8Array | ArrayBuffer): Promise<boolean>;
  /** Counters: queue, drops, transport. */
  stats(): Record<string, unknown> | null;
  /** Resolves once init() has finished (Segment's analytics.ready). */
  ready(callback?: () => void): Promise<void>;
  /** Removes listeners and frees the engine. */
  destroy(): void;
  readonly version: string;
}

export declare class WaymarkError extends Error {
  readonly code: string;
}

/** A separate instance (for tests, or two sites' keys on one page). */
export declare function createApi(platform: {
  win: Window | null;
  loadModule: (options: InitOptions) => Promise<unknown>;
}): Waymark;

declare const waymark: Waymark;
export default waymark;
export declare const init: Waymark['init'];
export declare const track: Waymark['track'];
export declare const page: Waymark['page'];
export declare const identify: Waymark['identify'];
export declare const reset: Waymark['reset'];
export declare const consent: Waymark['consent'];
export declare const stage: Waymark['stage'];
export declare const score: Waymark['score'];
export declare const context: Waymark['context'];
export declare const on: Waymark['on'];
export declare const off: Waymark['off'];
export declare const flush: Waymark['flush'];
export declare const setMap: Waymark['setMap'];
export declare const stats: Waymark['stats'];
export declare const ready: Waymark['ready'];
export declare const destroy: Waymark['destroy'];
