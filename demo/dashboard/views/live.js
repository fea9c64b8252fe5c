// 6a. Live events: polls GET /v1/events/recent?after=<cursor> every 2 s, newest on top. An event
// after which its visitor's stage differs from their previous event's is marked as a stage change;
// content impressions are hidden unless asked for (event-filter.js).
import { h, replace, ago, dateTimeText, isoTime, num, notAvailable, errorNote } from '../format.js';
import { api } from '../api.js';
import { eventFilter, shows } from './event-filter.js';

const POLL_MS = 2000;
const RETRY_UNAVAILABLE_MS = 30000;
const KEEP = 100;
const PAGE = 100;

let els = null;
let cursor = null;
let paused = false;
let timer = 0;
let running = false;
let inFlight = false;
let openTimeline = () => {};
let stageName = (id) => id;
let received = 0;
let filter = null;
// Each visitor's stage after their latest event seen here (bounded: the oldest are dropped).
const lastStage = new Map();
const LAST_STAGE_KEEP = 5000;

export function init(section, { onOpenVisitor, stageNameOf }) {
  openTimeline = onOpenVisitor;
  if (stageNameOf) stageName = stageNameOf;
  const pause = h('button', { type: 'button', class: 'btn btn-small', testid: 'live-pause', 'aria-pressed': 'false' }, 'Pause');
  pause.addEventListener('click', () => setPaused(!paused));
  filter = eventFilter('live-filter', applyFilter);
  els = {
    pause,
    status: h('p', { class: 'card-sub', testid: 'live-status', role: 'status' }, 'Connecting…'),
    hidden: h('span', { class: 'muted small', testid: 'live-hidden' }),
    note: h('div', { class: 'view-status' }),
    list: h('ol', { class: 'live-list', testid: 'live-list', 'aria-label': 'Latest events, newest first' }),
  };
  section.setAttribute('aria-labelledby', 'live-title');
  section.append(
    h('div', { class: 'card-head' }, h('div', null, h('h2', { id: 'live-title' }, 'Live events'), els.status), pause),
    h('div', { class: 'view-filter' }, filter.element, els.hidden),
    els.note,
    h('div', { class: 'live-scroll' }, els.list),
  );
}

/** Starts again from the latest events (another project was opened). */
export function reset() {
  stop();
  cursor = null;
  received = 0;
  lastStage.clear();
  els.list.replaceChildren();
  els.hidden.textContent = '';
  start();
}

function applyFilter() {
  let hidden = 0;
  const names = [];
  for (const li of els.list.querySelectorAll('.live-item')) {
    names.push(li.dataset.name);
    const show = shows(filter.choice, { name: li.dataset.name, stageChange: li.dataset.change === 'true' });
    li.hidden = !show;
    if (!show) hidden++;
  }
  filter.setNames(names);
  els.hidden.textContent = hidden ? `${num(hidden)} hidden` : '';
}

export function setStageNames(fn) {
  stageName = fn;
}

export function start() {
  if (running) return;
  running = true;
  schedule(0);
}

export function stop() {
  running = false;
  clearTimeout(timer);
}

function setPaused(value) {
  paused = value;
  els.pause.setAttribute('aria-pressed', String(paused));
  els.pause.textContent = paused ? 'Resume' : 'Pause';
  if (paused) {
    clearTimeout(timer);
    replace(els.status, 'Paused. New events are fetched when you resume.');
  } else {
    schedule(0);
  }
}

function schedule(ms) {
  clearTimeout(timer);
  if (!running || paused) return;
  timer = setTimeout(poll, ms);
}

async function poll() {
  if (inFlight || paused || !running) return;
  inFlight = true;
  let next = POLL_MS;
  try {
    const first = cursor === null;
    let fresh = [];
    // The first request without a cursor; then page on with `after` until caught up (bounded).
    // Without a cursor the collector answers the latest events; with one, what came after it.
    for (let page = 0; page < (first ? 1 : 5); page++) {
      const data = await api.recentEvents(cursor === null ? undefined : cursor, PAGE);
      const events = (data && data.events) || [];
      if (data && data.cursor !== undefined && data.cursor !== null) cursor = data.cursor;
      else if (events.length) cursor = events[events.length - 1].cursor;
      else if (cursor === null) cursor = 0;
      fresh = fresh.concat(events);
      if (events.length < PAGE) break;
    }
    if (fresh.length > KEEP) fresh = fresh.slice(fresh.length - KEEP);
    els.note.replaceChildren();
    add(fresh, !first);
    received += first ? 0 : fresh.length;
    refreshTimes();
    replace(
      els.status,
      `Live · updated every 2 s · ${num(els.list.querySelectorAll('.live-item').length)} shown`,
      received ? ` · ${num(received)} new since opened` : '',
    );
  } catch (err) {
    if (err && err.unauthorized) {
      next = 0;
      stop();
    } else if (err && err.notAvailable) {
      replace(els.note, notAvailable('The live event stream is', 'GET /v1/events/recent'));
      replace(els.status, 'Not available on this collector.');
      next = RETRY_UNAVAILABLE_MS;
    } else {
      replace(els.note, errorNote(err, 'Live events'));
      replace(els.status, 'Retrying…');
      next = 5000;
    }
  } finally {
    inFlight = false;
    if (next) schedule(next);
  }
}

function add(events, highlight) {
  if (!events.length) return;
  // Ascending: a visitor's stage change is seen against their previous event.
  const changes = events.map((e) => {
    const visitor = e.profile_id || e.user_id || e.anonymous_id;
    const stage = e.server_stage || e.browser_stage || '';
    const before = lastStage.get(visitor);
    lastStage.delete(visitor);
    lastStage.set(visitor, stage);
    if (lastStage.size > LAST_STAGE_KEEP) lastStage.delete(lastStage.keys().next().value);
    return before !== undefined && stage !== '' && before !== stage ? before : null;
  });
  const frag = document.createDocumentFragment();
  // the newest goes on top
  for (let i = events.length - 1; i >= 0; i--) frag.appendChild(item(events[i], highlight, changes[i]));
  els.list.insertBefore(frag, els.list.firstChild);
  const empty = els.list.querySelector('.live-empty');
  if (empty) empty.remove();
  while (els.list.children.length > KEEP) els.list.lastElementChild.remove();
  applyFilter();
}

function item(e, highlight, changedFrom) {
  const visitorId = e.profile_id || e.user_id || e.anonymous_id;
  const who = e.user_id || e.anonymous_id || e.profile_id || '?';
  const stage = e.server_stage || e.browser_stage;
  const mismatch = e.browser_stage && e.server_stage && e.browser_stage !== e.server_stage;
  const button = h(
    'button',
    {
      type: 'button',
      class: 'linkish visitor',
      testid: 'live-visitor',
      title: `Open the timeline of ${who}`,
      'aria-label': `Open the timeline of visitor ${who}`,
    },
    e.user_id ? h('span', { class: 'uid-icon', 'aria-hidden': 'true' }, '●') : null,
    who,
  );
  button.addEventListener('click', () => openTimeline(visitorId));
  return h(
    'li',
    {
      class: `live-item${highlight ? ' fresh' : ''}${changedFrom ? ' stage-change' : ''}`,
      testid: 'live-item',
      dataset: { cursor: String(e.cursor ?? ''), name: e.name || '', change: String(Boolean(changedFrom)) },
    },
    h('time', { class: 'live-time', datetime: isoTime(e.time), title: `Event time ${dateTimeText(e.time)} · received ${dateTimeText(e.received_at)}`, dataset: { ms: String(e.time || e.received_at || '') } }, ago(e.time)),
    h('span', { class: 'live-name' }, e.name || '?'),
    stage
      ? h(
          'span',
          {
            class: `chip chip-stage${mismatch ? ' chip-warn' : ''}${changedFrom ? ' chip-change' : ''}`,
            testid: changedFrom ? 'live-stage-change' : null,
            title: mismatch ? `Browser said ${e.browser_stage}, server computed ${e.server_stage}` : changedFrom ? `Stage change: ${stageName(changedFrom)} → ${stageName(stage)}` : 'Stage after this event',
          },
          changedFrom ? '→ ' : '',
          stageName(stage),
          mismatch ? ' ≠' : '',
        )
      : h('span', { class: 'chip chip-muted' }, 'no stage'),
    h('span', { class: 'live-meta' }, [e.channel, e.path].filter(Boolean).join(' · ') || '—'),
    button,
  );
}

function refreshTimes() {
  const now = Date.now();
  for (const t of els.list.querySelectorAll('time[data-ms]')) {
    const ms = Number(t.dataset.ms);
    if (ms) t.textContent = ago(ms, now);
  }
  if (!els.list.children.length) {
    els.list.appendChild(h('li', { class: 'live-empty muted' }, 'No events yet. They appear here as the collector receives them.'));
  }
}
