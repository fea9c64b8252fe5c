// 6b. Visitor timeline: GET /v1/profiles/{id} (user id, anonymous id or profile id) as a
// vertical timeline of stage transitions and touchpoints.
import { h, replace, num, decimal, ago, dateTimeText, isoTime, note, errorNote } from '../format.js';
import { api } from '../api.js';
import { eventFilter, shows } from './event-filter.js';

let els = null;
let stageName = (id) => id;
let current = '';
let filter = null;

export function init(section, { stageNameOf } = {}) {
  if (stageNameOf) stageName = stageNameOf;
  const input = h('input', {
    type: 'search',
    id: 'timeline-search',
    testid: 'timeline-search',
    placeholder: 'user id, anonymous id or profile id (u:…, a:…)',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const form = h(
    'form',
    { class: 'search-form', role: 'search', 'aria-label': 'Find a visitor', testid: 'timeline-form' },
    h('label', { for: 'timeline-search', class: 'sr-only' }, 'Visitor id'),
    input,
    h('button', { type: 'submit', class: 'btn btn-primary', testid: 'timeline-submit' }, 'Show timeline'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    show(input.value);
  });
  filter = eventFilter('timeline-filter', applyFilter);
  els = {
    input,
    hidden: h('span', { class: 'muted small', testid: 'timeline-hidden' }),
    result: h('div', { class: 'timeline-result', testid: 'timeline-result', 'aria-live': 'polite' }),
  };
  section.setAttribute('aria-labelledby', 'timeline-title');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h(
        'div',
        null,
        h('h2', { id: 'timeline-title' }, 'Visitor timeline'),
        h('p', { class: 'card-sub' }, 'Search a visitor, or pick one in the live stream.'),
      ),
    ),
    form,
    h('div', { class: 'view-filter' }, filter.element, els.hidden),
    els.result,
  );
  replace(els.result, h('p', { class: 'muted empty-state' }, 'No visitor selected.'));
}

/** Shows no visitor (another project was opened). */
export function clear() {
  current = '';
  els.input.value = '';
  els.hidden.textContent = '';
  replace(els.result, h('p', { class: 'muted empty-state' }, 'No visitor selected.'));
}

// Stage changes always show unless one event name is chosen; touchpoints by the filter.
function applyFilter() {
  let hidden = 0;
  const names = [];
  for (const li of els.result.querySelectorAll('.tl-item')) {
    const isChange = li.dataset.kind === 'transition';
    if (!isChange) names.push(li.dataset.name);
    const show = shows(filter.choice, { name: li.dataset.name, stageChange: isChange });
    li.hidden = !show;
    if (!show) hidden++;
  }
  filter.setNames(names);
  els.hidden.textContent = hidden ? `${num(hidden)} hidden` : '';
}

export function setStageNames(fn) {
  stageName = fn;
}

export async function show(rawId) {
  const id = String(rawId || '').trim();
  els.input.value = id;
  if (!id) {
    replace(els.result, note('muted', 'Enter a user id, an anonymous id or a profile id.'));
    return;
  }
  current = id;
  replace(els.result, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const profile = await api.profile(id);
    if (current !== id) return;
    render(profile);
  } catch (err) {
    if (current !== id) return;
    if (err && err.status === 404) {
      replace(els.result, h('div', { testid: 'timeline-error' }, note('warn', `No visitor found for “${id}”.`)));
    } else if (err && err.unauthorized) {
      replace(els.result, h('div', { testid: 'timeline-error' }, note('error', 'The admin key was refused.')));
    } else {
      replace(els.result, h('div', { testid: 'timeline-error' }, errorNote(err, 'Profile')));
    }
  }
}

/** Re-fetches the visitor shown (after a stats refresh), without disturbing the search box. */
export async function refresh() {
  if (!current || document.activeElement === els.input) return;
  try {
    const profile = await api.profile(current);
    render(profile);
  } catch {
    /* keep what is shown */
  }
}

function render(p) {
  const now = Date.now();
  const transitions = (p.transitions || []).map((t) => ({ kind: 'transition', at: t.at, t }));
  const touchpoints = (p.touchpoints || []).map((t) => ({ kind: 'touchpoint', at: t.at, t }));
  // newest first; at the same instant the transition goes above the event that caused it
  const items = [...transitions, ...touchpoints].sort((a, b) => b.at - a.at || (a.kind === 'transition' ? -1 : 1));
  const ids = [
    ['Profile', p.profile_id],
    ['User id', p.user_id || '—'],
    ['Anonymous ids', (p.anonymous_ids || []).join(', ') || '—'],
  ];
  const breakdown = p.score_breakdown || [];
  replace(
    els.result,
    h(
      'div',
      { class: 'visitor-card', testid: 'timeline-card' },
      h(
        'div',
        { class: 'visitor-head' },
        h(
          'div',
          null,
          h('div', { class: 'label' }, 'Stage'),
          h('div', { class: 'stage-big', testid: 'timeline-stage', dataset: { stage: p.stage || '' } }, p.stage_name || stageName(p.stage) || '—'),
          h('div', { class: 'muted small' }, p.stage_entered_at ? `since ${dateTimeText(p.stage_entered_at)} (${ago(p.stage_entered_at, now)})` : ''),
        ),
        h(
          'div',
          null,
          h('div', { class: 'label' }, 'Score'),
          h('div', { class: 'score-big', testid: 'timeline-score' }, decimal(p.score, 1)),
          breakdown.length
            ? h('div', { class: 'muted small' }, breakdown.slice(0, 4).map((b) => `${b.rule} ${decimal(b.points, 1)}`).join(' · '))
            : null,
        ),
        h(
          'div',
          null,
          h('div', { class: 'label' }, 'Events'),
          h('div', { class: 'score-big' }, num(p.event_count)),
          h('div', { class: p.stage_mismatches ? 'warn-text small' : 'muted small' }, `${num(p.stage_mismatches)} stage mismatches`),
        ),
      ),
      h(
        'dl',
        { class: 'id-list', testid: 'timeline-ids' },
        ids.map(([k, v]) => [h('dt', null, k), h('dd', null, h('code', null, v))]),
        h('dt', null, 'Seen'),
        h('dd', null, `${dateTimeText(p.first_seen)} → ${dateTimeText(p.last_seen)}`),
        h('dt', null, 'Map version'),
        h('dd', null, String(p.map_version ?? '—')),
      ),
    ),
    h('h3', { class: 'h3' }, `Timeline · ${num(transitions.length)} transitions, ${num(touchpoints.length)} touchpoints`),
    items.length
      ? h(
          'ol',
          { class: 'timeline', testid: 'timeline-list', 'aria-label': 'Journey timeline, newest first' },
          items.map((it) => (it.kind === 'transition' ? transitionItem(it.t) : touchpointItem(it.t))),
        )
      : note('muted', 'No touchpoints recorded.'),
  );
  applyFilter();
}

function transitionItem(t) {
  return h(
    'li',
    { class: 'tl-item tl-transition', testid: 'timeline-item', dataset: { kind: 'transition', name: '' } },
    h('span', { class: 'tl-dot', 'aria-hidden': 'true' }),
    h(
      'div',
      { class: 'tl-body' },
      h(
        'div',
        { class: 'tl-title' },
        h('span', { class: 'sr-only' }, 'Stage change: '),
        stageName(t.from),
        h('span', { class: 'arrow', 'aria-hidden': 'true' }, ' → '),
        h('span', { class: 'sr-only' }, ' to '),
        h('strong', null, stageName(t.to)),
      ),
      h(
        'div',
        { class: 'tl-meta' },
        h('time', { datetime: isoTime(t.at) }, dateTimeText(t.at)),
        t.rule ? ` · rule ${t.rule}` : '',
        t.event_id ? '' : ' · timed',
        t.map_version ? ` · map v${t.map_version}` : '',
      ),
    ),
  );
}

function touchpointItem(t) {
  const props = t.properties && typeof t.properties === 'object' ? Object.entries(t.properties) : [];
  const mismatch = t.browser_stage && t.server_stage && t.browser_stage !== t.server_stage;
  return h(
    'li',
    { class: 'tl-item tl-touch', testid: 'timeline-item', dataset: { kind: 'touchpoint', name: t.name || '' } },
    h('span', { class: 'tl-dot', 'aria-hidden': 'true' }),
    h(
      'div',
      { class: 'tl-body' },
      h(
        'div',
        { class: 'tl-title' },
        h('span', { class: 'ev-name' }, t.name),
        t.path ? h('span', { class: 'muted' }, ` ${t.path}`) : null,
        t.channel ? h('span', { class: 'chip chip-channel' }, t.channel) : null,
      ),
      h(
        'div',
        { class: 'tl-meta' },
        h('time', { datetime: isoTime(t.at), title: `device ${dateTimeText(t.device_time)} · received ${dateTimeText(t.received_at)}` }, dateTimeText(t.at)),
        t.server_stage ? ` · in ${stageName(t.server_stage)}` : '',
        mismatch ? h('span', { class: 'warn-text' }, ` · browser said ${stageName(t.browser_stage)}`) : null,
      ),
      props.length
        ? h(
            'div',
            { class: 'tl-props' },
            props.slice(0, 8).map(([k, v]) => h('code', null, `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)),
          )
        : null,
    ),
  );
}
