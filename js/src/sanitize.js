// Pages pass anything to track(): megabyte strings, circular objects, BigInt, functions, getters
// that throw, proxies, objects nested thousands deep. Before an event is built, its properties
// are copied into plain JSON data, within the engine's own limits (core/include/waymark/event.h),
// in one pass that is linear in what it keeps: a string is cut at the limit *before* it is
// redacted, so a 1 MB string costs what 2 KB cost. Whatever does not fit is dropped or cut and
// named in the problems list (path, code, message); nothing throws.
import { redactString } from './redact.js';

export const LIMITS = Object.freeze({
  maxStringBytes: 2048, // UTF-8 bytes of one string value
  maxDepth: 4, // the properties object itself is level 1
  maxProperties: 64, // keys of one object
});

// The longest prefix of `text` (not splitting a surrogate pair) whose UTF-8 form fits in `max`
// bytes. Scans at most `max` code units.
function utf8Prefix(text, max) {
  let bytes = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let size = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) size = 4; // a pair: 4 bytes for 2 units
    if (bytes + size > max) break;
    bytes += size;
    if (size === 4) i++;
  }
  return i === text.length ? text : text.slice(0, i);
}

function cleanString(text, path, problems) {
  if (text.length * 3 > LIMITS.maxStringBytes || text.length > LIMITS.maxStringBytes) {
    const kept = utf8Prefix(text, LIMITS.maxStringBytes);
    if (kept !== text) {
      problems.push({ path, code: 'string_truncated', message: `${path}: cut to ${LIMITS.maxStringBytes} bytes (was ${text.length} characters)` });
      text = kept;
    }
  }
  return redactString(text);
}

function read(object, key, path, problems) {
  try {
    return { ok: true, value: object[key] };
  } catch (err) {
    problems.push({ path, code: 'unreadable_value', message: `${path}: reading it threw (${(err && err.message) || err}); dropped` });
    return { ok: false };
  }
}

function clean(value, path, depth, ancestors, problems) {
  switch (typeof value) {
    case 'string':
      return { keep: true, value: cleanString(value, path, problems) };
    case 'number':
      if (Number.isFinite(value)) return { keep: true, value };
      problems.push({ path, code: 'invalid_number', message: `${path}: ${value} is not a JSON number; dropped` });
      return { keep: false };
    case 'boolean':
      return { keep: true, value };
    case 'bigint':
      problems.push({ path, code: 'converted_bigint', message: `${path}: a BigInt, sent as its decimal string` });
      return { keep: true, value: cleanString(value.toString(), path, problems) };
    case 'undefined':
      return { keep: false }; // as JSON.stringify does: an absent value, not a problem
    case 'function':
    case 'symbol':
      problems.push({ path, code: 'unsupported_value', message: `${path}: a ${typeof value} cannot be sent; dropped` });
      return { keep: false };
    default:
      break;
  }
  if (value === null) return { keep: true, value: null };
  if (value instanceof Date) {
    const time = value.getTime();
    if (Number.isFinite(time)) return { keep: true, value: value.toISOString() };
    problems.push({ path, code: 'invalid_date', message: `${path}: an invalid Date; dropped` });
    return { keep: false };
  }
  if (ancestors.includes(value)) {
    problems.push({ path, code: 'circular', message: `${path}: refers back to an enclosing object (circular); dropped` });
    return { keep: false };
  }
  if (depth >= LIMITS.maxDepth) {
    problems.push({ path, code: 'too_deep', message: `${path}: nested deeper than ${LIMITS.maxDepth} levels; dropped` });
    return { keep: false };
  }
  let keys;
  try {
    keys = Array.isArray(value) ? null : Object.keys(value);
  } catch (err) {
    problems.push({ path, code: 'unreadable_value', message: `${path}: its keys could not be read (${(err && err.message) || err}); dropped` });
    return { keep: false };
  }
  ancestors.push(value);
  let out;
  if (keys === null) {
    out = [];
    const length = Math.min(value.length >>> 0, LIMITS.maxProperties);
    if (value.length > LIMITS.maxProperties) {
      problems.push({ path, code: 'too_many_items', message: `${path}: ${value.length} items, the first ${LIMITS.maxProperties} kept` });
    }
    for (let i = 0; i < length; i++) {
      const item = read(value, i, `${path}[${i}]`, problems);
      const c = item.ok ? clean(item.value, `${path}[${i}]`, depth + 1, ancestors, problems) : { keep: false };
      out.push(c.keep ? c.value : null);
    }
  } else {
    out = {};
    if (keys.length > LIMITS.maxProperties) {
      problems.push({ path, code: 'too_many_properties', message: `${path}: ${keys.length} properties, the first ${LIMITS.maxProperties} kept` });
      keys = keys.slice(0, LIMITS.maxProperties);
    }
    for (const key of keys) {
      const childPath = `${path}.${key.length > 64 ? `${key.slice(0, 64)}…` : key}`;
      const item = read(value, key, childPath, problems);
      if (!item.ok) continue;
      const c = clean(item.value, childPath, depth + 1, ancestors, problems);
      if (c.keep) out[cleanString(key, childPath, problems)] = c.value;
    }
  }
  ancestors.pop();
  return { keep: true, value: out };
}

/**
 * Plain JSON data for a properties (or traits) object, redacted and within LIMITS, and the list
 * of what had to be dropped, cut or converted. Never throws.
 */
export function cleanProperties(value, label = 'properties') {
  const problems = [];
  if (value === null || typeof value !== 'object') return { value: {}, problems };
  const c = clean(value, label, 0, [], problems);
  return { value: c.keep && !Array.isArray(c.value) ? c.value : {}, problems };
}
