// 8. Overview strip: events, events in the last 24 h, profiles, identified profiles, stage
// mismatches, webhook deliveries; for the period chosen, and beside each count of the period the
// previous period's when comparing.
import { h, replace, num, pct } from '../format.js';
import { csvButton } from '../export.js';

let els = null;

const METRICS = [
  ['events', 'Events in the period'],
  ['events_last_24h', 'Events, last 24 h'],
  ['profiles', 'New visitors in the period'],
  ['identified_profiles', 'Identified visitors'],
  ['stage_mismatches', 'Stage mismatches'],
  ['reprojection', 'Journeys on the current map'],
  ['webhooks', 'Webhooks'],
];

/** `tools`: where the overview's CSV button goes (the period bar). */
export function init(container, tools = container) {
  els = { values: new Map(), notes: new Map(), labels: new Map(), compare: new Map() };
  const list = h('dl', { class: 'kpis', testid: 'overview' });
  for (const [key, label] of METRICS) {
    const value = h('dd', { class: 'kpi-value', testid: `overview-${key.replace(/_/g, '-')}` }, '—');
    const sub = h('dd', { class: 'kpi-note' }, '');
    els.values.set(key, value);
    els.notes.set(key, sub);
    const dt = h('dt', null, label);
    const compare = h('dd', { class: 'kpi-compare', testid: `overview-previous-${key.replace(/_/g, '-')}` });
    els.labels.set(key, dt);
    els.compare.set(key, compare);
    list.append(h('div', { class: `kpi kpi-${key}` }, dt, value, sub, compare));
  }
  container.append(list);
  tools.append(csvButton('overview', { label: 'Overview CSV' }));
}

/** The change from `before` to `now` as "+12%" (or "new" from 0), classed up or down. */
export function delta(now, before) {
  if (before === null || before === undefined || now === null || now === undefined) return null;
  if (before === 0) return now === 0 ? h('span', { class: 'prev' }, '±0') : h('span', { class: 'delta-up' }, 'new');
  const change = (now - before) / before;
  const text = `${change > 0 ? '+' : change < 0 ? '−' : '±'}${Math.abs(change * 100).toFixed(0)}%`;
  return h('span', { class: change > 0 ? 'delta-up' : change < 0 ? 'delta-down' : 'prev' }, text);
}

export function render({ overview, previous, webhooks, period }) {
  if (period) {
    const span = period.custom ? `in ${period.days} day${period.days === 1 ? '' : 's'}` : period.label.toLowerCase();
    els.labels.get('events').textContent = `Events, ${span}`;
    els.labels.get('profiles').textContent = `New visitors, ${span}`;
  }
  if (overview) {
    for (const key of ['events', 'events_last_24h', 'profiles', 'identified_profiles', 'stage_mismatches']) {
      els.values.get(key).textContent = num(overview[key]);
    }
    // Beside each count of the period, the previous period's and the change.
    for (const key of ['events', 'profiles', 'identified_profiles', 'stage_mismatches']) {
      const dd = els.compare.get(key);
      if (previous) replace(dd, `before: ${num(previous[key])} `, delta(overview[key], previous[key]));
      else dd.replaceChildren();
    }
    els.notes.get('events').textContent = overview.events_all_time > overview.events ? `${num(overview.events_all_time)} in all` : '';
    els.notes.get('events_last_24h').textContent = overview.events ? `${pct(overview.events_last_24h / overview.events, 0)} of the period` : '';
    els.notes.get('identified_profiles').textContent = overview.profiles ? `${pct(overview.identified_profiles / overview.profiles, 0)} of visitors` : '';
    const mm = els.values.get('stage_mismatches');
    mm.parentElement.classList.toggle('kpi-alert', overview.stage_mismatches > 0);
    els.notes.get('stage_mismatches').textContent = overview.stage_mismatches > 0 ? 'browser and server disagreed' : 'browser and server agree';
    // After a map is published, stored journeys are recomputed under it in the background.
    const r = overview.reprojection;
    if (r) {
      els.values.get('reprojection').textContent = r.profiles ? pct(r.profiles_on_this_version / r.profiles, 0) : '—';
      els.values.get('reprojection').parentElement.classList.toggle('kpi-alert', !r.done);
      els.notes.get('reprojection').textContent = r.done
        ? `map version ${r.map_version}: up to date`
        : `recomputing under version ${r.map_version}: ${num(r.waiting)} waiting`;
    }
  }
  const hooks = els.values.get('webhooks');
  const hooksNote = els.notes.get('webhooks');
  if (webhooks) {
    const by = webhooks.by_status || {};
    hooks.textContent = num(by.delivered || 0);
    const parts = [];
    if (by.pending || by.inflight) parts.push(`${num((by.pending || 0) + (by.inflight || 0))} pending`);
    parts.push(`${num(by.failed || 0)} failed`);
    replace(hooksNote, `delivered · ${parts.join(' · ')}`);
    hooks.parentElement.classList.toggle('kpi-alert', (by.failed || 0) > 0);
  } else {
    hooks.textContent = '—';
  }
}
