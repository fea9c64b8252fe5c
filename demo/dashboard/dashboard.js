// The journey dashboard: one page, served by the collector itself (`--static build/dashboard`).
// The admin key arrives as `#key=<admin key>` (then lives in sessionStorage only).
import { api, loadKey, setKey, hasKey, onUnauthorized } from './api.js';
import { clock, titleCase } from './format.js';
import * as overview from './views/overview.js';
import * as journeyMap from './views/journey-map.js';
import * as funnel from './views/funnel.js';
import * as paths from './views/paths.js';
import * as attribution from './views/attribution.js';
import * as contentGaps from './views/content-gaps.js';
import * as live from './views/live.js';
import * as timeline from './views/timeline.js';
import * as mapEditor from './views/map-editor.js';

const REFRESH_MS = 10000;
const SECTIONS = ['journey-map', 'funnel', 'paths', 'attribution', 'content-gaps', 'live', 'timeline', 'map-editor'];

const $ = (id) => document.getElementById(id);
const state = {
  map: null,
  stageNames: new Map(),
  viewsReady: false,
  running: false,
  autoPaused: false,
  refreshing: false,
  lastRefresh: 0,
  ticker: 0,
  firstRender: true,
  unreachable: false,
};

const stageNameOf = (id) => (id ? state.stageNames.get(id) || titleCase(id) : '');

function initViews() {
  if (state.viewsReady) return;
  state.viewsReady = true;
  const safe = (name, fn) => {
    try {
      fn();
    } catch (err) {
      console.error(`dashboard: ${name} failed to start`, err);
    }
  };
  safe('overview', () => overview.init($('overview')));
  safe('journey map', () => journeyMap.init($('journey-map')));
  safe('funnel', () => funnel.init($('funnel')));
  safe('paths', () => paths.init($('paths')));
  safe('attribution', () => attribution.init($('attribution')));
  safe('content gaps', () => contentGaps.init($('content-gaps')));
  safe('live', () => live.init($('live'), { onOpenVisitor: openTimeline, stageNameOf }));
  safe('timeline', () => timeline.init($('timeline'), { stageNameOf }));
  safe('map editor', () => mapEditor.init($('map-editor'), { onPublished: () => refreshStats({ force: true }) }));
  initNav();
}

function openTimeline(id) {
  const section = $('timeline');
  const rect = section.getBoundingClientRect();
  if (rect.top < 0 || rect.top > window.innerHeight * 0.6) section.scrollIntoView({ behavior: smooth(), block: 'start' });
  timeline.show(id);
}

function smooth() {
  return window.matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth';
}

// ---- refresh loop -------------------------------------------------------------------------

function settle(results) {
  return results.map((r) => (r.status === 'fulfilled' ? { value: r.value } : { error: r.reason }));
}

function render(name, fn) {
  try {
    fn();
  } catch (err) {
    console.error(`dashboard: rendering ${name} failed`, err);
  }
}

async function refreshStats({ force = false } = {}) {
  if (!state.running || state.refreshing) return;
  if (!force && (state.autoPaused || mapEditor.isEditing() || document.hidden)) return;
  state.refreshing = true;
  setRefreshStatus('Refreshing…');
  try {
    const [map, ov, fun, tr, tis, gaps, pathsR, hooks] = settle(
      await Promise.allSettled([
        api.map(),
        api.overview(),
        api.funnel(),
        api.transitions(),
        api.timeInStage(),
        api.contentGaps(),
        api.paths(20),
        api.webhooks(),
      ]),
    );
    const all = [map, ov, fun, tr, tis, gaps, pathsR, hooks];
    if (all.some((r) => r.error && r.error.unauthorized)) return; // the key form is shown
    const unreachable = all.every((r) => r.error && r.error.status === 0);
    setGlobalStatus(unreachable ? 'The collector cannot be reached. Retrying every 10 s.' : '');
    if (unreachable) return;

    if (map.value) {
      state.map = map.value;
      state.stageNames = new Map((map.value.stages || []).map((s) => [s.id, s.name || titleCase(s.id)]));
    }
    if (fun.value) {
      for (const s of [...(fun.value.stages || []), ...(fun.value.side_stages || [])]) state.stageNames.set(s.id, s.name || s.id);
    }
    renderMapBadge();

    const errs = (pairs) => pairs.filter(([, r]) => r.error).map(([what, r]) => [what, r.error]);
    render('overview', () => overview.render({ overview: ov.value, webhooks: hooks.value }));
    render('journey map', () =>
      journeyMap.render({
        map: state.map,
        funnel: fun.value,
        transitions: tr.value,
        errors: errs([
          ['Funnel', fun],
          ['Transitions', tr],
        ]),
      }),
    );
    render('funnel', () =>
      funnel.render({
        funnel: fun.value,
        timeInStage: tis.value,
        errors: errs([
          ['Funnel', fun],
          ['Time in stage', tis],
        ]),
      }),
    );
    render('paths', () => paths.render({ paths: pathsR.value, error: pathsR.error, map: state.map }));
    render('content gaps', () => contentGaps.render({ gaps: gaps.value, error: gaps.error }));
    await attribution.refresh();
    if (state.map) mapEditor.mapChanged(state.map.version);
    timeline.refresh();

    state.lastRefresh = Date.now();
    if (state.firstRender) {
      state.firstRender = false;
      const target = window.location.hash.replace(/^#/, '');
      if (SECTIONS.includes(target)) requestAnimationFrame(() => $(target).scrollIntoView({ block: 'start' }));
    }
  } finally {
    state.refreshing = false;
    updateRefreshStatus();
  }
}

function renderMapBadge() {
  const badge = document.querySelector('[data-testid="map-badge"]');
  if (!state.map) {
    badge.textContent = '';
    return;
  }
  badge.replaceChildren();
  const name = document.createElement('strong');
  name.textContent = state.map.name || state.map.id;
  badge.append('Map ', name, ` · ${state.map.id} v${state.map.version}`);
}

function setRefreshStatus(text) {
  $('refresh-status').textContent = text;
}

function updateRefreshStatus() {
  if (!state.running) return;
  const updated = state.lastRefresh ? `Updated ${clock(state.lastRefresh)}` : 'Not updated yet';
  if (state.refreshing) return;
  if (state.autoPaused) setRefreshStatus(`${updated} · auto-refresh paused`);
  else if (mapEditor.isEditing()) setRefreshStatus(`${updated} · paused while editing the map`);
  else {
    const next = Math.max(0, Math.ceil((state.lastRefresh + REFRESH_MS - Date.now()) / 1000));
    setRefreshStatus(`${updated} · next in ${next} s`);
  }
}

function tick() {
  if (!state.running) return;
  if (Date.now() - state.lastRefresh >= REFRESH_MS) refreshStats();
  updateRefreshStatus();
}

function setGlobalStatus(text) {
  const el = $('global-status');
  el.textContent = text;
  el.hidden = !text;
}

// ---- navigation ---------------------------------------------------------------------------

function initNav() {
  const links = [...document.querySelectorAll('.tabs a')];
  const update = () => {
    const offset = 120;
    let current = SECTIONS[0];
    for (const id of SECTIONS) {
      const el = $(id);
      if (el && el.getBoundingClientRect().top - offset <= 0) current = id;
    }
    if (window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 4) current = SECTIONS[SECTIONS.length - 1];
    for (const a of links) {
      if (a.getAttribute('href') === `#${current}`) a.setAttribute('aria-current', 'true');
      else a.removeAttribute('aria-current');
    }
  };
  let frame = 0;
  window.addEventListener(
    'scroll',
    () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(update);
    },
    { passive: true },
  );
  for (const a of links) {
    a.addEventListener('click', (ev) => {
      const id = a.getAttribute('href').slice(1);
      const target = $(id);
      if (!target) return;
      ev.preventDefault();
      target.scrollIntoView({ behavior: smooth(), block: 'start' });
      target.focus({ preventScroll: true });
      window.history.replaceState(null, '', `#${id}`);
      for (const l of links) l.toggleAttribute('aria-current', l === a);
      if (a.hasAttribute('aria-current')) a.setAttribute('aria-current', 'true');
    });
  }
  update();
}

// ---- auth ---------------------------------------------------------------------------------

function showAuth(message) {
  stop();
  $('app').hidden = true;
  $('auth').hidden = false;
  document.querySelector('.topbar-actions').hidden = true;
  const err = $('auth-error');
  err.textContent = message || '';
  err.hidden = !message;
  const input = $('auth-key');
  input.value = '';
  input.focus();
}

async function tryKey(key) {
  setKey(key);
  try {
    await api.overview();
    return true;
  } catch (err) {
    if (err.unauthorized) {
      setKey('');
      showAuth('This key was refused (401). Check the admin key the collector was started with.');
      return false;
    }
    // Unreachable or another error: open the dashboard anyway; views show their own errors.
    return true;
  }
}

function start() {
  $('auth').hidden = true;
  $('app').hidden = false;
  document.querySelector('.topbar-actions').hidden = false;
  initViews();
  state.running = true;
  state.lastRefresh = 0;
  mapEditor.load(false);
  live.start();
  refreshStats({ force: true });
  clearInterval(state.ticker);
  state.ticker = setInterval(tick, 1000);
}

function stop() {
  state.running = false;
  clearInterval(state.ticker);
  live.stop();
}

async function boot() {
  onUnauthorized(() => {
    if (!state.running && !$('auth').hidden) return;
    setKey('');
    showAuth('The admin key was refused (401). Enter it again.');
  });
  $('auth-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = $('auth-key').value.trim();
    if (!key) return;
    if (await tryKey(key)) start();
  });
  $('refresh-now').addEventListener('click', () => refreshStats({ force: true }));
  $('refresh-toggle').addEventListener('click', (ev) => {
    state.autoPaused = !state.autoPaused;
    ev.currentTarget.setAttribute('aria-pressed', String(state.autoPaused));
    ev.currentTarget.textContent = state.autoPaused ? 'Resume auto-refresh' : 'Pause auto-refresh';
    if (!state.autoPaused) refreshStats({ force: true });
    updateRefreshStatus();
  });
  $('forget-key').addEventListener('click', () => {
    setKey('');
    showAuth('');
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.running && Date.now() - state.lastRefresh >= REFRESH_MS) refreshStats();
  });

  const key = loadKey();
  if (!key || !hasKey()) {
    showAuth('');
    return;
  }
  if (await tryKey(key)) start();
}

boot();
