// Edits of a JSON document that change only what is edited: the visual map editor writes into the
// map's text at the place of the field it edits, so the rest (formatting, key order, other
// fields) stays byte for byte as the user or the collector wrote it. Paths are the core's
// ("transitions[3].when.count.within").

const WIDTH = 100;

function oneLine(v) {
  if (Array.isArray(v)) return `[${v.map(oneLine).join(', ')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    return entries.length ? `{ ${entries.map(([k, x]) => `${JSON.stringify(k)}: ${oneLine(x)}`).join(', ')} }` : '{}';
  }
  return JSON.stringify(v);
}

/** JSON with two-space indents that keeps short arrays and objects on one line. */
export function prettyJson(v, indent = '', used = 0) {
  const flat = oneLine(v);
  if (!v || typeof v !== 'object' || indent.length + used + flat.length <= WIDTH) return flat;
  const next = `${indent}  `;
  if (Array.isArray(v)) return `[\n${v.map((x) => next + prettyJson(x, next)).join(',\n')}\n${indent}]`;
  const lines = Object.entries(v).map(([k, x]) => {
    const key = `${JSON.stringify(k)}: `;
    return next + key + prettyJson(x, next, key.length);
  });
  return `{\n${lines.join(',\n')}\n${indent}}`;
}

/**
 * Every path of a valid JSON text with its offsets: `start` (an object member's key, else the
 * value), `valueStart` and `end` (exclusive). null when the text is not JSON.
 */
export function locate(text) {
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  const spans = new Map();
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const str = () => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = (path, memberStart) => {
    ws();
    const valueStart = i;
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          ws();
          const keyStart = i;
          const key = str();
          ws();
          i++; // ':'
          value(path ? `${path}.${key}` : key, keyStart);
          ws();
          if (text[i++] !== ',') break;
        }
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') i++;
      else {
        for (let k = 0; ; k++) {
          value(`${path}[${k}]`);
          ws();
          if (text[i++] !== ',') break;
        }
      }
    } else if (c === '"') str();
    else while (i < text.length && !',}] \t\n\r'.includes(text[i])) i++;
    spans.set(path, { start: memberStart ?? valueStart, valueStart, end: i });
  };
  value('');
  return spans;
}

function lineIndent(text, pos) {
  const lineStart = text.lastIndexOf('\n', pos - 1) + 1;
  const m = /^[ \t]*/.exec(text.slice(lineStart, pos));
  return m ? m[0] : '';
}

function need(spans, path) {
  const at = spans && spans.get(path);
  if (!at) throw new Error(`no ${path || 'document'} in the map`);
  return at;
}

/** The value at `path` replaced by `value`. */
export function replaceValue(text, path, value) {
  const at = need(locate(text), path);
  const indent = lineIndent(text, at.start);
  const key = at.start === at.valueStart ? 0 : at.valueStart - at.start;
  return text.slice(0, at.valueStart) + prettyJson(value, indent, key) + text.slice(at.end);
}

// Inserts `entry` (already serialized) as the last item of the container at `path`.
function insertLast(text, path, entryOf) {
  const at = need(locate(text), path);
  if (text[at.valueStart] !== '{' && text[at.valueStart] !== '[') throw new Error(`${path || 'the document'} is not an object or an array`);
  const close = at.end - 1;
  const containerIndent = lineIndent(text, at.start);
  const itemIndent = `${containerIndent}  `;
  const entry = entryOf(itemIndent);
  const inner = text.slice(at.valueStart + 1, close);
  if (inner.trim() === '') {
    return `${text.slice(0, at.valueStart + 1)}\n${itemIndent}${entry}\n${containerIndent}${text.slice(close)}`;
  }
  let k = close - 1;
  while (/\s/.test(text[k])) k--;
  const separator = inner.includes('\n') ? `,\n${itemIndent}` : ', ';
  return text.slice(0, k + 1) + separator + entry + text.slice(k + 1);
}

/** `key` of the object at `objectPath` set to `value` (added last when absent). */
export function setMember(text, objectPath, key, value) {
  const path = objectPath ? `${objectPath}.${key}` : key;
  if (locate(text)?.has(path)) return replaceValue(text, path, value);
  return insertLast(text, objectPath, (indent) => `${JSON.stringify(key)}: ${prettyJson(value, indent, key.length + 4)}`);
}

/** `value` appended to the array at `arrayPath`. */
export function appendElement(text, arrayPath, value) {
  return insertLast(text, arrayPath, (indent) => prettyJson(value, indent));
}

/** The member or element at `path` removed, with its comma. */
export function removeAt(text, path) {
  const at = need(locate(text), path);
  let from = at.start;
  let to = at.end;
  let k = from - 1;
  while (k >= 0 && /\s/.test(text[k])) k--;
  if (text[k] === ',') {
    from = k;
  } else {
    let j = to;
    while (j < text.length && /\s/.test(text[j])) j++;
    if (text[j] === ',') {
      to = j + 1;
      while (to < text.length && /[ \t]/.test(text[to])) to++;
      const lineStart = text.lastIndexOf('\n', from - 1) + 1;
      if (text[to] === '\n' && text.slice(lineStart, from).trim() === '') {
        // the item had its own line: the next item's line keeps its indentation
        to++;
        from = lineStart;
      }
    }
  }
  return text.slice(0, from) + text.slice(to);
}

/** The key of the member at `path` renamed to `key` (its value and place unchanged). */
export function renameKey(text, path, key) {
  const at = need(locate(text), path);
  if (at.start === at.valueStart) throw new Error(`${path} is not an object member`);
  let end = at.start + 1;
  while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
  return text.slice(0, at.start) + JSON.stringify(key) + text.slice(end + 1);
}
