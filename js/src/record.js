// The typed per-event boundary, JavaScript side: envelopes become compact records in wasm memory
// and outcomes come back the same way, with no JSON text per event (issue 12). The format is
// described once, in wasm/typed_track.h. The engine gets of an event's properties only the values
// the map's conditions read, plus a fingerprint of all of them (the fold check); the envelope stays
// here, and the core's sync decision (send or not, which filter) is applied to it here.

import { MAX_EVENT_BYTES, MAX_PROPERTIES, MAX_PROPERTY_DEPTH as MAX_DEPTH, MAX_STRING_LENGTH as MAX_STRING_BYTES } from './limits.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// The limits are the core's (limits.js is generated from core/include/waymark/limits.h); an
// envelope near one goes as JSON text instead, so the core's JSON validation gives its precise
// error (the rule stays in the core).

const STATUS = ['accepted', 'folded', 'throttled', 'rejected'];
const NO_FILTER = 0xffff;

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isWhole = (v) => Number.isSafeInteger(v) && v >= 0;
const optional = (v, type) => v == null || typeof v === type;

function utf8Length(text) {
  // Most text is ASCII: one native scan, no encoding.
  return /[^\x00-\x7f]/.test(text) ? encoder.encode(text).length : text.length;
}

// 53-bit hash of a string (two 32-bit FNV-1a style lanes with different primes, mixed at the
// end). Never 0: 0 means "no fingerprint" to the engine.
function hash53(text) {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b) ^ Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0x85ebca6b) ^ Math.imul(h1 ^ (h1 >>> 13), 0xc2b2ae35);
  const value = 2097152 * (h2 >>> 0) + (h1 >>> 11);
  return value === 0 ? 1 : value;
}

// The properties as canonical text (keys sorted at every level, as the collector's JSON compares
// them), their depth, and whether every string is within the limit. null when something cannot be
// typed (the core then checks the JSON text itself).
function canonical(value, depth, facts) {
  // Every value counts at its own depth, as the core's check does (the properties object is 1).
  if (depth > facts.depth) facts.depth = depth;
  if (depth > MAX_DEPTH) return null;
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'string') {
    if (value.length * 3 > MAX_STRING_BYTES && utf8Length(value) > MAX_STRING_BYTES) return null;
    return JSON.stringify(value);
  }
  if (typeof value !== 'object') return null;
  let out = '';
  if (Array.isArray(value)) {
    for (const item of value) {
      const text = canonical(item, depth + 1, facts);
      if (text === null) return null;
      out += out ? `,${text}` : text;
    }
    return `[${out}]`;
  }
  for (const key of Object.keys(value).sort()) {
    if (value[key] === undefined) continue;
    const text = canonical(value[key], depth + 1, facts);
    if (text === null) return null;
    out += `${out ? ',' : ''}${JSON.stringify(key)}:${text}`;
  }
  return `{${out}}`;
}

// Whether the envelope has the shape the typed record carries; anything else (a wrong type, a
// size near a limit) goes as JSON text and gets the core's JSON validation.
function typedShape(e) {
  if (!isPlainObject(e) || typeof e.id !== 'string' || typeof e.name !== 'string') return false;
  if (!optional(e.type, 'string') || !optional(e.anonymous_id, 'string') || !optional(e.user_id, 'string')) return false;
  if (!isWhole(e.time) || !(e.sent_at == null || isWhole(e.sent_at)) || !(e.seq == null || isWhole(e.seq))) return false;
  if (!(e.properties == null || isPlainObject(e.properties))) return false;
  if (e.traits != null) return false; // identify()'s traits: the core checks and merges them (JSON text)
  const c = e.context;
  if (c == null) return true;
  if (!isPlainObject(c)) return false;
  if (!optional(c.url, 'string') || !optional(c.path, 'string') || !optional(c.title, 'string') ||
    !optional(c.referrer, 'string') || !optional(c.channel, 'string') || !optional(c.automation, 'boolean')) return false;
  if (c.campaign == null) return true;
  if (!isPlainObject(c.campaign)) return false;
  const keys = Object.keys(c.campaign);
  return keys.length <= 32 && keys.every((k) => optional(c.campaign[k], 'string'));
}

/** A growing byte buffer the records are written to (reused across batches). */
export class RecordWriter {
  constructor() {
    this.bytes = new Uint8Array(16 * 1024);
    this.view = new DataView(this.bytes.buffer);
    this.pos = 0;
  }

  reserve(n) {
    if (this.pos + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.pos + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.bytes.subarray(0, this.pos));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }

  u8(v) { this.reserve(1); this.bytes[this.pos++] = v; }
  u16(v) { this.reserve(2); this.view.setUint16(this.pos, v, true); this.pos += 2; }
  u32(v) { this.reserve(4); this.view.setUint32(this.pos, v, true); this.pos += 4; }
  f64(v) { this.reserve(8); this.view.setFloat64(this.pos, v, true); this.pos += 8; }

  str(text) {
    const s = text == null ? '' : text;
    const n = s.length;
    this.reserve(4 + n * 3);
    const at = this.pos + 4;
    // Short ASCII (names, ids, paths: most strings here) is copied by hand: a TextEncoder call
    // costs more than the copy at these lengths.
    if (n <= 256) {
      const bytes = this.bytes;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        bytes[at + i] = c;
      }
      if (i === n) {
        this.view.setUint32(this.pos, n, true);
        this.pos = at + n;
        return;
      }
    }
    const { written } = encoder.encodeInto(s, this.bytes.subarray(at));
    this.view.setUint32(this.pos, written, true);
    this.pos = at + written;
  }
}

/**
 * What the SDK needs of a map (MapInfoJson in wasm/typed_track.h): its id, version and event
 * names, the property paths its conditions read (split once), and each sync filter's property
 * names (null = all).
 */
export function mapInfo(text) {
  const info = JSON.parse(text);
  return {
    id: info.id,
    version: info.version,
    names: info.names,
    reads: info.reads.map((path) => path.split('.')),
    filters: info.filters.map((names) => (names ? new Set(names) : null)),
  };
}

// The value at a dotted path of the properties, or undefined (arrays are not walked into, as in
// the core's DottedMember).
function readPath(properties, segments) {
  let cur = properties;
  for (const key of segments) {
    if (!isPlainObject(cur) || !Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}

function writeValue(w, value) {
  if (value === null || (typeof value === 'number' && !Number.isFinite(value))) w.u8(0);
  else if (value === false) w.u8(1);
  else if (value === true) w.u8(2);
  else if (typeof value === 'number') { w.u8(3); w.f64(value); }
  else if (typeof value === 'string') { w.u8(4); w.str(value); }
  else { w.u8(5); w.str(JSON.stringify(value)); }
}

function writeTyped(w, e, info, props, propsText, facts) {
  w.u8(0);
  w.str(e.id); w.str(e.name); w.str(e.type || 'track'); w.str(e.anonymous_id); w.str(e.user_id);
  w.f64(e.time); w.f64(e.sent_at == null ? 0 : e.sent_at); w.f64(e.seq == null ? 0 : e.seq);
  const c = e.context || {};
  w.str(c.url); w.str(c.path); w.str(c.title); w.str(c.referrer); w.str(c.channel);
  w.u8(c.automation ? 1 : 0);
  const campaign = c.campaign ? Object.keys(c.campaign).filter((k) => c.campaign[k] != null) : [];
  w.u8(campaign.length);
  for (const key of campaign) { w.str(key); w.str(c.campaign[key]); }
  w.f64(hash53(propsText));
  w.u32(facts.bytes);
  w.u16(facts.properties);
  w.u8(facts.depth);
  const countAt = w.pos;
  w.u16(0);
  let count = 0;
  info.reads.forEach((segments, index) => {
    const value = readPath(props, segments);
    if (value === undefined) return;
    w.u16(index);
    writeValue(w, value);
    count += 1;
  });
  w.view.setUint16(countAt, count, true);
}

// An upper bound of the envelope's compact JSON size in UTF-8 (each string at most 6 bytes per
// UTF-16 unit escaped, the properties' canonical text exactly or at most 3 bytes per unit, 512
// for keys, numbers and punctuation). Past the limit the envelope goes as JSON text and the core
// measures it exactly, so an event near the limit is judged by the core, never by this bound.
function sizeBound(e, propsText) {
  const c = e.context || {};
  let strings = e.id.length + e.name.length + (e.type || '').length + (e.anonymous_id || '').length +
    (e.user_id || '').length + (c.url || '').length + (c.path || '').length + (c.title || '').length +
    (c.referrer || '').length + (c.channel || '').length;
  if (c.campaign) for (const key of Object.keys(c.campaign)) strings += key.length + (c.campaign[key] || '').length;
  const rough = 6 * strings + 512;
  const props = rough + propsText.length * 3 <= MAX_EVENT_BYTES ? propsText.length * 3 : utf8Length(propsText);
  return rough + props;
}

/** Writes a batch of envelopes as records; returns the number of bytes written. */
export function writeRecords(w, envelopes, info) {
  w.pos = 0;
  w.u32(envelopes.length);
  for (const e of envelopes) {
    const props = e && isPlainObject(e.properties) ? e.properties : {};
    const facts = { depth: 1, bytes: 0, properties: Object.keys(props).length };
    const propsText = typedShape(e) && facts.properties <= MAX_PROPERTIES ? canonical(props, 1, facts) : null;
    if (propsText !== null) facts.bytes = sizeBound(e, propsText);
    if (propsText === null || facts.depth > MAX_DEPTH || facts.bytes > MAX_EVENT_BYTES) {
      w.u8(1);
      w.str(JSON.stringify(e) ?? 'null');
    } else {
      writeTyped(w, e, info, props, propsText, facts);
    }
  }
  return w.pos;
}

/** Reads the outcomes (a Uint8Array copied out of wasm memory). */
class OutcomeReader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  u8() { return this.bytes[this.pos++]; }
  u16() { const v = this.view.getUint16(this.pos, true); this.pos += 2; return v; }
  f64() { const v = this.view.getFloat64(this.pos, true); this.pos += 8; return v; }
  str() {
    const n = this.view.getUint32(this.pos, true);
    const s = n === 0 ? '' : decoder.decode(this.bytes.subarray(this.pos + 4, this.pos + 4 + n));
    this.pos += 4 + n;
    return s;
  }
}

// What the collector gets of an envelope the engine accepted: the core's decisions (canonical
// name, classified channel, a placeholder user id dropped, the sync filter's properties) applied
// to the envelope held here.
function outboundOf(envelope, name, channel, dropUser, keep) {
  const out = { ...envelope, name };
  if (channel) out.context = { ...envelope.context, channel };
  if (dropUser) delete out.user_id;
  if (keep && out.properties) {
    const kept = {};
    let any = false;
    for (const key of Object.keys(out.properties)) {
      if (keep.has(key)) { kept[key] = out.properties[key]; any = true; }
    }
    if (any) out.properties = kept;
    else delete out.properties;
  }
  return out;
}

/**
 * The results of one batch, one per envelope:
 * {id, status, name, stage, transitions, triggers, send, outbound} or {id, status: 'rejected', error, stage}.
 */
export function readOutcomes(bytes, envelopes, info) {
  const r = new OutcomeReader(bytes);
  let stage = r.str();
  return envelopes.map((envelope) => {
    const id = envelope && typeof envelope.id === 'string' ? envelope.id.slice(0, 64) : '';
    const status = STATUS[r.u8()];
    const flags = r.u8();
    const filter = r.u16();
    const name = flags & 2 ? r.str() : envelope && envelope.name;
    const channel = flags & 4 ? r.str() : '';
    if (status === 'rejected') return { id, status, error: { code: r.str(), message: r.str() }, stage };
    const transitions = [];
    for (let n = r.u16(); n > 0; n--) {
      transitions.push({ from: r.str(), to: r.str(), at: r.f64(), event_id: r.str(), rule: r.str(), map_version: r.f64() });
    }
    const triggers = [];
    for (let n = r.u16(); n > 0; n--) {
      triggers.push({ trigger: r.str(), from: r.str(), to: r.str(), at: r.f64(), event_id: r.str(), rule: r.str() });
    }
    if (transitions.length) stage = transitions[transitions.length - 1].to;
    const send = (flags & 1) !== 0;
    const result = { id, status, name, stage, transitions, triggers, send };
    if (send && filter !== NO_FILTER) result.outbound = outboundOf(envelope, name, channel, (flags & 8) !== 0, info.filters[filter]);
    return result;
  });
}
