// Breakdowns and filters of the journey reports (the collector's `breakdown=` and `filter=` on
// GET /v1/stats/funnel, /paths, /content-gaps and /attribution): one dimension of the journeys' first touch (channel, source,
// medium, campaign, landing page, device), identified or not, or the stage they are in. Kept in
// the address (`?breakdown=source`, `?filter=device:mobile`) like the period. The collector
// keeps segments per dimension, so a breakdown and a filter are one at a time.
import { h, num } from './format.js';
import { api } from './api.js';
import { setParams } from './address.js';

export const DIMENSIONS = [
  ['channel', 'Channel'],
  ['source', 'Source'],
  ['medium', 'Medium'],
  ['campaign', 'Campaign'],
  ['landing', 'Landing page'],
  ['device', 'Device'],
  ['identified', 'Identified or anonymous'],
  ['stage', 'Current stage'],
];
const KNOWN = new Set(DIMENSIONS.map(([id]) => id));

let state = { breakdown: '', filterDimension: '', filterValue: '' };
let listeners = [];
let els = null;
let period = () => null;

export const dimensionLabel = (id) => (DIMENSIONS.find(([d]) => d === id) || [id, id])[1];
/** How a segment value reads ('' is the journeys without one). */
export const valueLabel = (v) => (v === '' ? '(none)' : v);

/** { breakdown } or { filter } for the API, or {} */
export function params() {
  if (state.breakdown) return { breakdown: state.breakdown };
  if (state.filterDimension) return { filter: `${state.filterDimension}:${state.filterValue}` };
  return {};
}
export const breakdown = () => state.breakdown;
export const filter = () => (state.filterDimension ? { dimension: state.filterDimension, value: state.filterValue } : null);

export function readFromUrl() {
  const q = new URLSearchParams(window.location.search);
  const b = q.get('breakdown') || '';
  const f = q.get('filter');
  state = { breakdown: '', filterDimension: '', filterValue: '' };
  if (KNOWN.has(b)) state.breakdown = b;
  else if (f !== null) {
    const colon = f.indexOf(':');
    const dimension = colon < 0 ? '' : f.slice(0, colon);
    if (KNOWN.has(dimension)) state = { breakdown: '', filterDimension: dimension, filterValue: f.slice(colon + 1) };
  }
}

function writeToUrl() {
  setParams({
    breakdown: state.breakdown || null,
    filter: !state.breakdown && state.filterDimension ? `${state.filterDimension}:${state.filterValue}` : null,
  });
}

export function onChange(fn) {
  listeners.push(fn);
}

function changed() {
  writeToUrl();
  sync();
  for (const fn of listeners) fn();
}

/** The values of the filter's dimension in the period, for its list (from a breakdown). */
async function loadValues() {
  const dimension = els.filterDimension.value;
  if (!dimension) return;
  els.filterValue.disabled = true;
  try {
    const p = period() || {};
    const query = new URLSearchParams({ breakdown: dimension, values: '50' });
    if (p.from) query.set('from', p.from);
    if (p.to) query.set('to', p.to);
    const res = await api.get(`/v1/stats/funnel?${query}`);
    if (els.filterDimension.value !== dimension) return; // another dimension was picked meanwhile
    const values = ((res && res.breakdown && res.breakdown.values) || []).map((v) => [v.value, v.total_profiles]);
    if (state.filterDimension === dimension && !values.some(([v]) => v === state.filterValue)) values.push([state.filterValue, null]);
    els.filterValue.replaceChildren(
      h('option', { value: '\u0000' }, 'Pick a value…'),
      ...values.map(([v, n]) => h('option', { value: v }, `${valueLabel(v)}${n === null ? '' : ` (${num(n)})`}`)),
    );
    els.filterValue.value = state.filterDimension === dimension ? state.filterValue : '\u0000';
  } catch (err) {
    els.filterValue.replaceChildren(h('option', { value: '\u0000' }, `Values unavailable: ${err.message}`));
  } finally {
    els.filterValue.disabled = false;
  }
}

function sync() {
  if (!els) return;
  els.breakdown.value = state.breakdown;
  els.filterDimension.value = state.filterDimension;
  els.filterValue.hidden = !els.filterDimension.value;
  els.clear.hidden = !state.breakdown && !state.filterDimension;
  // Attribution keeps credits per segment of the first touch and device only.
  const dimension = state.breakdown || state.filterDimension;
  els.note.textContent = !dimension
    ? ''
    : ['identified', 'stage'].includes(dimension)
      ? 'Applies to the funnel, top paths and content gaps; the other views show every visitor.'
      : 'Applies to the funnel, top paths, content gaps and attribution by channel; the other views show every visitor.';
}

/** The segment bar: breakdown, or a filter (dimension then value). `periodOf()` gives { from, to }. */
export function init(container, periodOf) {
  period = periodOf;
  const options = (first) => [h('option', { value: '' }, first), ...DIMENSIONS.map(([id, label]) => h('option', { value: id }, label))];
  const breakdownSelect = h('select', { id: 'segment-breakdown', testid: 'segment-breakdown' }, options('None'));
  const filterDimension = h('select', { id: 'segment-filter-dimension', testid: 'segment-filter-dimension' }, options('Everyone'));
  const filterValue = h('select', { id: 'segment-filter-value', testid: 'segment-filter-value', 'aria-label': 'Filter value' });
  const clear = h('button', { type: 'button', class: 'btn btn-small', testid: 'segment-clear' }, 'Clear');
  const note = h('span', { class: 'muted small', testid: 'segment-note' });
  els = { breakdown: breakdownSelect, filterDimension, filterValue, clear, note };

  breakdownSelect.addEventListener('change', () => {
    state = { breakdown: breakdownSelect.value, filterDimension: '', filterValue: '' };
    changed();
  });
  filterDimension.addEventListener('change', () => {
    // A dimension alone filters nothing yet: its values are listed to pick one.
    if (!filterDimension.value) {
      state = { breakdown: '', filterDimension: '', filterValue: '' };
      changed();
      return;
    }
    els.breakdown.value = '';
    filterValue.hidden = false;
    loadValues();
  });
  filterValue.addEventListener('change', () => {
    if (filterValue.value === '\u0000') return;
    state = { breakdown: '', filterDimension: filterDimension.value, filterValue: filterValue.value };
    changed();
  });
  clear.addEventListener('click', () => {
    state = { breakdown: '', filterDimension: '', filterValue: '' };
    changed();
  });

  container.append(
    h('label', { for: 'segment-breakdown', class: 'range-label' }, 'Break down by '),
    breakdownSelect,
    h('label', { for: 'segment-filter-dimension', class: 'range-label' }, 'Filter '),
    filterDimension,
    filterValue,
    clear,
    note,
  );
  sync();
}

/** Lists the filter's values once the admin key is known (the dashboard started). */
export function start() {
  if (state.filterDimension && els) {
    els.filterValue.replaceChildren(h('option', { value: state.filterValue }, valueLabel(state.filterValue)));
    els.filterValue.value = state.filterValue;
    loadValues();
  }
}
