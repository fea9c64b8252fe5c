// 2b. A funnel of chosen steps (GET /v1/stats/funnel-steps): stages entered or events, in order,
// each within a conversion window of the first, over the visitors who arrived in the period;
// conversion and drop-off per step, the time to convert, and the visitors who dropped at a step
// (each opens in the timeline). The steps and the window are kept in the address
// (`?steps=stage:lead,event:demo_requested&window=7d`).
import { h, replace, num, pct, duration, note, errorNote } from '../format.js';
import { api } from '../api.js';
import { current } from '../range.js';
import { csvButton } from '../export.js';
import { setParams } from '../address.js';

const WINDOWS = [
  ['1h', '1 hour'],
  ['1d', '1 day'],
  ['7d', '7 days'],
  ['30d', '30 days'],
  ['90d', '90 days'],
];
const MAX_STEPS = 10;

let els = null;
let map = null;
let steps = []; // [{ kind: 'stage' | 'event', name }]
let windowChoice = '30d';
let openVisitor = () => {};
let lastResult = null;
let asked = 0; // the newest request: an older answer (other steps, period or project) is dropped

const stepsText = () => steps.map((s) => `${s.kind}:${s.name}`).join(',');

function readFromUrl() {
  const q = new URLSearchParams(window.location.search);
  const text = q.get('steps');
  if (text) {
    steps = text
      .split(',')
      .map((item) => {
        const colon = item.indexOf(':');
        return colon < 0 ? null : { kind: item.slice(0, colon) === 'event' ? 'event' : 'stage', name: item.slice(colon + 1) };
      })
      .filter(Boolean)
      .slice(0, MAX_STEPS);
  }
  const w = q.get('window');
  if (WINDOWS.some(([id]) => id === w)) windowChoice = w;
}

function writeToUrl() {
  setParams({ steps: stepsText(), window: windowChoice });
}

export function init(section, { onOpenVisitor } = {}) {
  if (onOpenVisitor) openVisitor = onOpenVisitor;
  readFromUrl();
  const windowSelect = h('select', { id: 'steps-window', testid: 'steps-window' }, WINDOWS.map(([id, label]) => h('option', { value: id }, label)));
  windowSelect.value = windowChoice;
  windowSelect.addEventListener('change', () => {
    windowChoice = windowSelect.value;
  });
  const add = h('button', { type: 'button', class: 'btn btn-small', testid: 'steps-add' }, 'Add a step');
  add.addEventListener('click', () => {
    if (steps.length >= MAX_STEPS) return;
    steps.push({ kind: 'event', name: '' });
    renderBuilder();
  });
  const run = h('button', { type: 'submit', class: 'btn btn-primary btn-small', testid: 'steps-run' }, 'Show the funnel');
  const form = h('form', { class: 'steps-form', testid: 'steps-form' }, h('ol', { class: 'steps-list', testid: 'steps-list' }), h('div', { class: 'card-tools' }, add, h('label', { for: 'steps-window' }, 'Within '), windowSelect, run));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    refresh(true);
  });
  els = {
    form,
    list: form.querySelector('ol'),
    status: h('div', { class: 'view-status' }),
    result: h('div', { class: 'table-wrap', testid: 'steps-result' }),
    dropped: h('div', { class: 'steps-dropped', testid: 'steps-dropped', 'aria-live': 'polite' }),
    sub: h('p', { class: 'card-sub' }, 'Pick stages entered or events done, in order; each later step must come within the window of the first.'),
  };
  section.setAttribute('aria-labelledby', 'steps-title');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', { id: 'steps-title' }, 'Funnel of chosen steps'), els.sub),
      h('div', { class: 'card-tools' }, csvButton('funnel-steps', { label: 'Download CSV', testid: 'csv-funnel-steps', extra: () => ({ steps: stepsText(), window: windowChoice }) })),
    ),
    form,
    els.status,
    els.result,
    els.dropped,
  );
}

/** The map's stages and declared events (what the step pickers offer). */
export function setMap(newMap) {
  const first = !map;
  map = newMap;
  if (first && !steps.length && map) {
    // A start: the first three stages of the main path.
    steps = (map.stages || [])
      .filter((s) => (s.rank ?? 0) >= 0)
      .sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0))
      .slice(0, 3)
      .map((s) => ({ kind: 'stage', name: s.id }));
  }
  renderBuilder();
}

function renderBuilder() {
  if (!els) return;
  const stages = (map && map.stages) || [];
  const events = map && map.events && typeof map.events === 'object' ? Object.keys(map.events) : [];
  const datalist = h('datalist', { id: 'steps-events' }, events.map((e) => h('option', { value: e })));
  replace(
    els.list,
    datalist,
    steps.map((step, i) => {
      const kind = h('select', { testid: `step-kind-${i}`, 'aria-label': `Step ${i + 1}: kind` }, h('option', { value: 'stage' }, 'Entered stage'), h('option', { value: 'event' }, 'Did event'));
      kind.value = step.kind;
      kind.addEventListener('change', () => {
        steps[i] = { kind: kind.value, name: kind.value === 'stage' ? (stages[0] || {}).id || '' : '' };
        renderBuilder();
      });
      let name;
      if (step.kind === 'stage') {
        name = h('select', { testid: `step-name-${i}`, 'aria-label': `Step ${i + 1}: stage` }, stages.map((s) => h('option', { value: s.id }, s.name || s.id)));
        name.value = step.name;
        name.addEventListener('change', () => (steps[i].name = name.value));
      } else {
        name = h('input', { type: 'text', list: 'steps-events', testid: `step-name-${i}`, 'aria-label': `Step ${i + 1}: event name`, value: step.name, placeholder: 'event name', maxlength: '128' });
        name.addEventListener('input', () => (steps[i].name = name.value.trim()));
      }
      const remove = h('button', { type: 'button', class: 'btn btn-small', testid: `step-remove-${i}`, 'aria-label': `Remove step ${i + 1}` }, '×');
      remove.disabled = steps.length <= 2;
      remove.addEventListener('click', () => {
        steps.splice(i, 1);
        renderBuilder();
      });
      return h('li', { class: 'step-row' }, kind, name, remove);
    }),
  );
}

/** Runs the funnel (on "Show the funnel", and again when the period changes once it ran). */
export async function refresh(onDemand = false) {
  if (!els || (!onDemand && !lastResult)) return;
  if (steps.some((s) => !s.name)) {
    replace(els.status, note('error', 'Every step needs a stage or an event name.'));
    return;
  }
  writeToUrl();
  const period = current();
  replace(els.status, h('p', { class: 'muted' }, 'Counting…'));
  const mine = ++asked;
  try {
    const res = await api.get(`/v1/stats/funnel-steps?${new URLSearchParams({ steps: stepsText(), window: windowChoice, from: period.from, to: period.to })}`);
    if (mine !== asked) return;
    lastResult = res;
    els.status.replaceChildren();
    render(res);
  } catch (err) {
    if (mine !== asked) return;
    replace(els.status, errorNote(err, 'Funnel of chosen steps'));
  }
}

/** Forgets the answer shown (another project): it runs again on demand. */
export function reset() {
  asked++;
  lastResult = null;
  if (!els) return;
  els.result.replaceChildren();
  els.dropped.replaceChildren();
  els.status.replaceChildren();
}

function render(res) {
  const rows = res.steps || [];
  els.dropped.replaceChildren();
  replace(
    els.result,
    res.sampled ? note('warn', `A sample: the first ${num(res.profiles)} visitors of the period by id (more arrived).`) : null,
    h(
      'table',
      { class: 'table', testid: 'steps-table' },
      h('caption', { class: 'sr-only' }, 'Funnel of the chosen steps'),
      h(
        'thead',
        null,
        h('tr', null, ['Step', 'Visitors', 'From previous', 'From first', 'Dropped here', 'Median time from previous'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t))),
      ),
      h(
        'tbody',
        null,
        rows.map((s, i) =>
          h(
            'tr',
            { testid: `steps-row-${i}` },
            h('th', { scope: 'row' }, `${i + 1}. `, s.kind === 'stage' ? 'Entered ' : 'Did ', h('strong', null, s.label || s.name)),
            h('td', { class: 'num', testid: `steps-entered-${i}` }, num(s.entered)),
            h('td', { class: 'num', testid: `steps-conversion-${i}` }, pct(s.conversion_from_previous)),
            h('td', { class: 'num' }, pct(s.conversion_from_first)),
            h(
              'td',
              { class: 'num' },
              s.drop_off
                ? h('button', { type: 'button', class: 'linkish', testid: `steps-dropped-${i}`, onclick: () => showDropped(s, i) }, `${num(s.drop_off)} visitors`)
                : s.drop_off === null
                  ? '—'
                  : '0',
            ),
            h('td', { class: 'num' }, duration(s.median_ms_from_previous)),
          ),
        ),
      ),
    ),
    timeToConvert(res.time_to_convert || {}),
  );
}

function timeToConvert(t) {
  const buckets = (t.buckets || []).filter((b) => b.profiles > 0);
  const top = Math.max(1, ...buckets.map((b) => b.profiles));
  return h(
    'div',
    { class: 'time-to-convert', testid: 'steps-time-to-convert' },
    h('h3', { class: 'h3' }, `Time to convert · ${num(t.profiles)} visitors did every step`, t.median_ms !== null && t.median_ms !== undefined ? ` · median ${duration(t.median_ms)}, p90 ${duration(t.p90_ms)}` : ''),
    buckets.length
      ? h(
          'ul',
          { class: 'bars' },
          buckets.map((b) =>
            h('li', { class: 'bar-row' }, h('span', { class: 'bar-label' }, b.label), h('span', { class: 'bar', style: { width: `${Math.max(2, (100 * b.profiles) / top)}%` }, 'aria-hidden': 'true' }), h('strong', null, num(b.profiles))),
          ),
        )
      : h('p', { class: 'muted' }, 'Nobody did every step in the period.'),
  );
}

function showDropped(step, i) {
  const ids = step.dropped || [];
  replace(
    els.dropped,
    h('h3', { class: 'h3' }, `Dropped before step ${i + 1} (${step.label || step.name}): ${num(step.drop_off)} visitors${ids.length < step.drop_off ? `, the first ${ids.length} listed` : ''}`),
    h(
      'ul',
      { class: 'inline-list' },
      ids.map((id) => h('li', null, h('button', { type: 'button', class: 'linkish', testid: 'steps-dropped-visitor', onclick: () => openVisitor(id) }, id))),
    ),
  );
}
