// The period every report covers, and the period it is compared with. Kept in the address
// (`?range=7d`, or `?from=YYYY-MM-DD&to=YYYY-MM-DD`, plus `&compare=1`) so that a view can be
// shared and survives a reload; the admin key never goes there. Days are UTC days, as the
// collector counts them (docs/collector-api.md, "Date range").
import { h } from './format.js';
import { setParams } from './address.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** The collector's longest range (kMaxRangeDays in server_stub/reports/stats.h). */
export const MAX_DAYS = 7320;
export const PRESETS = [
  ['7d', 'Last 7 days', 7],
  ['30d', 'Last 30 days', 30],
  ['90d', 'Last 90 days', 90],
  ['365d', 'Last 12 months', 365],
  ['custom', 'Custom…', 0],
];
const DEFAULT_PRESET = '30d';

let period = { preset: DEFAULT_PRESET, from: '', to: '', compare: false };
let listeners = [];
let els = null;

const isDate = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);
const dayOf = (s) => Math.floor(Date.parse(`${s}T00:00:00Z`) / DAY_MS);
export const dateOf = (day) => new Date(day * DAY_MS).toISOString().slice(0, 10);
const today = () => Math.floor(Date.now() / DAY_MS);

/** Why a custom range is refused, or '' when it is valid. */
export function rangeError(from, to) {
  if (!isDate(from)) return 'From: pick a date.';
  if (!isDate(to)) return 'To: pick a date.';
  if (dayOf(from) > dayOf(to)) return 'From is after To.';
  if (dayOf(to) - dayOf(from) + 1 > MAX_DAYS) return `The range is longer than ${MAX_DAYS} days.`;
  return '';
}

/** The period shown: { from, to, days, label }. */
export function current() {
  const preset = PRESETS.find(([id]) => id === period.preset);
  if (period.preset === 'custom' && !rangeError(period.from, period.to)) {
    const days = dayOf(period.to) - dayOf(period.from) + 1;
    return { from: period.from, to: period.to, days, custom: true, label: `${period.from} to ${period.to}` };
  }
  const days = preset && preset[2] ? preset[2] : 30;
  const last = today();
  return { from: dateOf(last - days + 1), to: dateOf(last), days, custom: false, label: preset && preset[2] ? preset[1] : 'Last 30 days' };
}

/** The period before the current one, of the same length; null unless comparing. */
export function previous() {
  if (!period.compare) return null;
  const cur = current();
  const last = dayOf(cur.from) - 1;
  const first = last - cur.days + 1;
  if (first < 0) return null;
  return { from: dateOf(first), to: dateOf(last), days: cur.days, label: `${dateOf(first)} to ${dateOf(last)}` };
}

export const comparing = () => period.compare && previous() !== null;

/** "from=...&to=..." of a period, for the stats routes. */
export function query(p) {
  return p ? `from=${p.from}&to=${p.to}` : '';
}

/** Reads the period from the address (unknown or broken values fall back to the default). */
export function readFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const preset = params.get('range');
  const from = params.get('from') || '';
  const to = params.get('to') || '';
  if (from || to) period = { preset: 'custom', from, to, compare: false };
  else if (PRESETS.some(([id, , days]) => id === preset && days)) period = { preset, from: '', to: '', compare: false };
  else period = { preset: DEFAULT_PRESET, from: '', to: '', compare: false };
  if (period.preset === 'custom' && rangeError(from, to)) period = { preset: DEFAULT_PRESET, from: '', to: '', compare: false };
  period.compare = params.get('compare') === '1';
}

function writeToUrl() {
  const custom = period.preset === 'custom';
  setParams({
    range: custom || period.preset === DEFAULT_PRESET ? null : period.preset,
    from: custom ? period.from : null,
    to: custom ? period.to : null,
    compare: period.compare ? '1' : null,
  });
}

/** Called with no argument whenever the period or the comparison changes. */
export function onChange(fn) {
  listeners.push(fn);
}

function changed() {
  writeToUrl();
  sync();
  for (const fn of listeners) fn();
}

function sync() {
  if (!els) return;
  els.preset.value = period.preset;
  const custom = period.preset === 'custom';
  els.custom.hidden = !custom;
  const cur = current();
  if (!custom || !els.from.value) els.from.value = cur.from;
  if (!custom || !els.to.value) els.to.value = cur.to;
  els.compare.checked = period.compare;
  const prev = previous();
  els.summary.textContent = `${cur.from} to ${cur.to} (${cur.days} day${cur.days === 1 ? '' : 's'}, UTC)${prev ? ` · compared with ${prev.from} to ${prev.to}` : ''}`;
}

/** The period bar: presets, custom dates, comparison. */
export function init(container) {
  const preset = h('select', { id: 'range-preset', testid: 'range-preset' }, PRESETS.map(([id, label]) => h('option', { value: id }, label)));
  const from = h('input', { type: 'date', id: 'range-from', testid: 'range-from', max: dateOf(today()) });
  const to = h('input', { type: 'date', id: 'range-to', testid: 'range-to', max: dateOf(today()) });
  const apply = h('button', { type: 'submit', class: 'btn btn-small', testid: 'range-apply' }, 'Apply');
  const error = h('span', { class: 'range-error', role: 'alert', testid: 'range-error' });
  const custom = h(
    'form',
    { class: 'range-custom', testid: 'range-custom' },
    h('label', { for: 'range-from' }, 'From '),
    from,
    h('label', { for: 'range-to' }, ' to '),
    to,
    apply,
    error,
  );
  const compare = h('input', { type: 'checkbox', id: 'range-compare', testid: 'range-compare' });
  const summary = h('span', { class: 'range-summary muted small', testid: 'range-summary', 'aria-live': 'polite' });
  els = { preset, from, to, custom, compare, summary, error };

  preset.addEventListener('change', () => {
    if (preset.value === 'custom') {
      const cur = current();
      period = { ...period, preset: 'custom', from: cur.from, to: cur.to };
      custom.hidden = false;
      from.focus();
    } else {
      period = { ...period, preset: preset.value, from: '', to: '' };
    }
    changed();
  });
  custom.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const problem = rangeError(from.value, to.value);
    error.textContent = problem;
    if (problem) return;
    period = { ...period, preset: 'custom', from: from.value, to: to.value };
    changed();
  });
  compare.addEventListener('change', () => {
    period = { ...period, compare: compare.checked };
    changed();
  });

  container.append(
    h('label', { for: 'range-preset', class: 'range-label' }, 'Period '),
    preset,
    custom,
    h('label', { class: 'toggle', for: 'range-compare' }, compare, ' Compare with the previous period'),
    summary,
  );
  sync();
}
