// 8. Overview strip: events, events in the last 24 h, profiles, identified profiles, stage
// mismatches, webhook deliveries.
import { h, replace, num, pct } from '../format.js';

let els = null;

const METRICS = [
  ['events', 'Events, last 30 days'],
  ['events_last_24h', 'Events, last 24 h'],
  ['profiles', 'New visitors, last 30 days'],
  ['identified_profiles', 'Identified visitors'],
  ['stage_mismatches', 'Stage mismatches'],
  ['reprojection', 'Journeys on the current map'],
  ['webhooks', 'Webhooks'],
];

export function init(container) {
  els = { values: new Map(), notes: new Map() };
  const list = h('dl', { class: 'kpis', testid: 'overview' });
  for (const [key, label] of METRICS) {
    const value = h('dd', { class: 'kpi-value', testid: `overview-${key.replace(/_/g, '-')}` }, '—');
    const sub = h('dd', { class: 'kpi-note' }, '');
    els.values.set(key, value);
    els.notes.set(key, sub);
    list.append(h('div', { class: `kpi kpi-${key}` }, h('dt', null, label), value, sub));
  }
  container.append(list);
}

export function render({ overview, webhooks }) {
  if (overview) {
    for (const key of ['events', 'events_last_24h', 'profiles', 'identified_profiles', 'stage_mismatches']) {
      els.values.get(key).textContent = num(overview[key]);
    }
    els.notes.get('events').textContent = overview.events_all_time > overview.events ? `${num(overview.events_all_time)} in all` : '';
    els.notes.get('events_last_24h').textContent = overview.events ? `${pct(overview.events_last_24h / overview.events, 0)} of the 30 days` : '';
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
