// DOM building and number/time formatting. Everything that comes from the API is put in the page
// as text (textContent / text nodes), never parsed as HTML.

/**
 * h('td', { class: 'num', dataset: { testid: 'x' } }, 'text', child) builds an element.
 * Attributes: `class`, `dataset`, `on<event>` (functions), `text`, boolean/string attributes.
 * Children: strings/numbers become text nodes; null/false are skipped; arrays are flattened.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'testid') el.setAttribute('data-testid', value);
      else if (key === 'style' && typeof value === 'object') {
        for (const [prop, v] of Object.entries(value)) {
          if (prop.startsWith('--')) el.style.setProperty(prop, String(v));
          else el.style[prop] = v;
        }
      }
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const numberFormat = new Intl.NumberFormat('en-US');
export function num(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  return numberFormat.format(Number(n));
}

export function pct(ratio, digits = 1) {
  if (ratio === null || ratio === undefined || !Number.isFinite(Number(ratio))) return '—';
  return `${(Number(ratio) * 100).toFixed(digits)}%`;
}

export function decimal(n, digits = 1) {
  if (n === null || n === undefined || !Number.isFinite(Number(n))) return '—';
  return Number(n).toFixed(digits);
}

/** 93_000 -> "1 min 33 s"; 5 days -> "5 d 2 h"; null -> "—". */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return '—';
  let v = Math.max(0, Number(ms));
  if (v < 1000) return v === 0 ? '0 s' : `${Math.round(v)} ms`;
  const s = Math.round(v / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 && m < 10 ? `${m} min ${s % 60} s` : `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return m % 60 ? `${hrs} h ${m % 60} min` : `${hrs} h`;
  const d = Math.floor(hrs / 24);
  if (d < 30) return hrs % 24 ? `${d} d ${hrs % 24} h` : `${d} d`;
  return `${d} d`;
}

/** "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago"; future times say "in ...". */
export function ago(ms, now = Date.now()) {
  if (!ms) return '—';
  const diff = now - Number(ms);
  if (Math.abs(diff) < 5000) return 'just now';
  const text = duration(Math.abs(diff)).replace(/ \d+ (s|min|h)$/, '');
  return diff > 0 ? `${text} ago` : `in ${text}`;
}

const dateTime = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric',
  month: 'short',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
export function dateTimeText(ms) {
  if (!ms) return '—';
  return dateTime.format(new Date(Number(ms)));
}

export function isoTime(ms) {
  if (!ms) return '';
  try {
    return new Date(Number(ms)).toISOString();
  } catch {
    return '';
  }
}

const timeOnly = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
export function clock(ms = Date.now()) {
  return timeOnly.format(new Date(ms));
}

/** A status line (info / ok / warn / error) with text only. */
export function note(kind, ...children) {
  return h('p', { class: `note note-${kind}`, role: kind === 'error' ? 'alert' : null }, ...children);
}

/** The "this endpoint is not on this collector yet" note. */
export function notAvailable(what, route) {
  return note(
    'muted',
    h('strong', null, `${what} not available. `),
    'This collector does not serve ',
    h('code', null, route),
    ' yet; the view fills in once it does.',
  );
}

export function errorNote(err, what) {
  if (err && err.status === 0) return note('error', `${what}: the collector cannot be reached.`);
  const code = err && err.code ? ` (${err.code})` : '';
  return note('error', `${what}: ${err && err.message ? err.message : String(err)}${code}`);
}

export function titleCase(id) {
  return String(id || '')
    .split(/[_-]+/)
    .filter(Boolean)
    .map((w, i) => (i === 0 ? w.charAt(0).toUpperCase() + w.slice(1) : w))
    .join(' ');
}
