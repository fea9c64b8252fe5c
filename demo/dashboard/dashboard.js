// The journey dashboard: one page, served by the collector itself (`--static build/dashboard`).
// The admin key arrives as `#key=<admin key>` (then lives in sessionStorage only).
import { api, loadKey, setKey, hasKey, onUnauthorized, rememberProject, forgetProject, knownProjects, keyOfProject } from './api.js';
import * as range from './range.js';
import { setParams } from './address.js';
import * as segment from './segment.js';
import { clock, titleCase } from './format.js';
import * as overview from './views/overview.js';
import * as journeyMap from './views/journey-map.js';
import * as funnel from './views/funnel.js';
import * as stepsFunnel from './views/steps-funnel.js';
import * as paths from './views/paths.js';
import * as attribution from './views/attribution.js';
import * as contentGaps from './views/content-gaps.js';
import * as live from './views/live.js';
import * as timeline from './views/timeline.js';
import * as mapEditor from './views/map-editor.js';

const REFRESH_MS = 10000;
const SECTIONS = ['journey-map', 'funnel', 'steps', 'paths', 'attribution', 'content-gaps', 'live', 'timeline', 'map-editor'];

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
  generation: 0,
  project: '',
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
  safe('overview', () => overview.init($('overview'), $('rangebar')));
  safe('journey map', () => journeyMap.init($('journey-map')));
  safe('funnel', () => funnel.init($('funnel')));
  safe('steps funnel', () => stepsFunnel.init($('steps'), { onOpenVisitor: openTimeline }));
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

const settleOne = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));
const unreachableError = (r) => r && r.error && r.error.status === 0;

function render(name, fn) {
  try {
    fn();
  } catch (err) {
    console.error(`dashboard: rendering ${name} failed`, err);
  }
}

// Every report of the period (and of the previous period when comparing) is asked at once; each
// view is drawn as soon as the reports it shows have arrived, so a slow report holds back only
// its own view. A newer refresh (another period, another project) makes an older one's answers
// stale: they are dropped.
async function refreshStats({ force = false } = {}) {
  if (!state.running) return;
  if (!force && (state.refreshing || state.autoPaused || mapEditor.isEditing() || document.hidden)) return;
  const generation = ++state.generation;
  const fresh = () => generation === state.generation && state.running;
  state.refreshing = true;
  setRefreshStatus('Refreshing…');
  const period = range.current();
  const before = range.previous();
  const ask = (fn) => settleOne(fn(period));
  const askBefore = (fn) => (before ? settleOne(fn(before)) : Promise.resolve({ value: null }));
  try {
    const map = settleOne(api.map());
    const ov = ask(api.overview);
    const ovBefore = askBefore(api.overview);
    // The funnel and paths follow the breakdown or filter; the journey map keeps every visitor
    // (its transitions are not kept per segment).
    const seg = segment.params();
    const segmented = Object.keys(seg).length > 0;
    const fun = ask(api.funnel);
    const funSeg = segmented ? ask((p) => api.funnel(p, seg)) : fun;
    const funBefore = askBefore((p) => api.funnel(p, seg));
    const tr = ask(api.transitions);
    const tis = ask(api.timeInStage);
    const gaps = ask((p) => api.contentGaps(p, seg));
    const gapsBefore = askBefore((p) => api.contentGaps(p, seg.filter ? seg : {}));
    const pathsR = ask((p) => api.paths(20, p, seg));
    const pathsBefore = askBefore((p) => api.paths(100, p, seg.filter ? seg : {}));
    const hooks = ask(api.webhooks);
    const all = [map, ov, fun, funSeg, tr, tis, gaps, pathsR, hooks];

    const draw = async (name, inputs, fn) => {
      const results = await Promise.all(inputs);
      if (!fresh()) return;
      if (results.some((r) => r.error && r.error.unauthorized)) return; // the key form is shown
      if (results.some(unreachableError)) return; // said once, at the top; the views keep their data
      render(name, () => fn(...results));
    };
    const errs = (pairs) => pairs.filter(([, r]) => r.error).map(([what, r]) => [what, r.error]);
    const mapReady = map.then((r) => {
      if (!fresh() || !r.value) return r;
      state.map = r.value;
      state.stageNames = new Map((r.value.stages || []).map((s) => [s.id, s.name || titleCase(s.id)]));
      renderMapBadge();
      render('steps funnel', () => stepsFunnel.setMap(r.value));
      return r;
    });
    const funReady = fun.then((r) => {
      if (fresh() && r.value) {
        for (const s of [...(r.value.stages || []), ...(r.value.side_stages || [])]) state.stageNames.set(s.id, s.name || s.id);
      }
      return r;
    });

    const views = [
      draw('overview', [ov, ovBefore, hooks], (o, ob, hk) =>
        overview.render({ overview: o.value, previous: ob.value, webhooks: hk.value, period, before }),
      ),
      draw('journey map', [mapReady, funReady, tr], (m, f, t) =>
        journeyMap.render({
          map: state.map,
          funnel: f.value,
          transitions: t.value,
          errors: errs([
            ['Funnel', f],
            ['Transitions', t],
          ]),
        }),
      ),
      draw('funnel', [funSeg, funBefore, tis], (f, fb, t) =>
        funnel.render({
          funnel: f.value,
          previous: fb.value,
          timeInStage: t.value,
          errors: errs([
            ['Funnel', f],
            ['Time in stage', t],
          ]),
        }),
      ),
      draw('paths', [pathsR, pathsBefore, mapReady], (p, pb) =>
        paths.render({ paths: p.value, previous: pb.value, error: p.error, map: state.map }),
      ),
      draw('content gaps', [gaps, gapsBefore], (g, gb) => contentGaps.render({ gaps: g.value, previous: gb.value, error: g.error })),
      attribution.refresh(period, before),
    ];
    const results = await Promise.all(all);
    await Promise.all(views);
    if (!fresh()) return;
    if (results.some((r) => r.error && r.error.unauthorized)) return;
    const unreachable = results.every(unreachableError);
    setGlobalStatus(unreachable ? 'The collector cannot be reached. Retrying every 10 s.' : '');
    if (unreachable) return;
    if (state.map) mapEditor.mapChanged(state.map.version);
    timeline.refresh();

    state.lastRefresh = Date.now();
    if (state.firstRender) {
      state.firstRender = false;
      // Every view of the first refresh is drawn once the charts' lazy updates have painted (two
      // frames): the moment `npm run bench` times a cold load to (data-drawn, ms since navigation).
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          document.documentElement.dataset.drawn = String(Math.round(performance.now()));
        }),
      );
      const target = window.location.hash.replace(/^#/, '');
      if (SECTIONS.includes(target)) requestAnimationFrame(() => $(target).scrollIntoView({ block: 'start' }));
    }
  } finally {
    if (generation === state.generation) {
      state.refreshing = false;
      updateRefreshStatus();
    }
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

// ---- projects and auth --------------------------------------------------------------------

// The project shown is the admin key's (the overview names it). Keys of other projects opened in
// this tab are remembered (sessionStorage), so the picker switches without asking again; the
// project id (never a key) goes in the address with the period.
function projectFromUrl() {
  return new URLSearchParams(window.location.search).get('project') || '';
}

function writeProjectToUrl(project) {
  setParams({ project: project && project !== 'default' ? project : null });
}

const ADD_PROJECT = '\u0000add';

function renderProjectPicker() {
  const picker = $('project-picker');
  const projects = knownProjects();
  if (state.project && !projects.includes(state.project)) projects.push(state.project);
  picker.replaceChildren(
    ...projects.map((p) => {
      const option = document.createElement('option');
      option.value = p;
      option.textContent = p;
      return option;
    }),
  );
  const add = document.createElement('option');
  add.value = ADD_PROJECT;
  add.textContent = 'Open another project…';
  picker.append(add);
  picker.value = state.project;
}

function switchProject(project) {
  const key = keyOfProject(project);
  if (!key) return;
  setKey(key);
  state.project = project;
  writeProjectToUrl(project);
  state.map = null;
  state.stageNames = new Map();
  renderProjectPicker();
  live.reset();
  timeline.clear();
  stepsFunnel.reset();
  mapEditor.load(false);
  refreshStats({ force: true });
}

function showAuth(message, { keepKeys = false } = {}) {
  stop();
  $('app').hidden = true;
  $('auth').hidden = false;
  document.querySelector('.topbar-actions').hidden = true;
  const err = $('auth-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('auth-cancel').hidden = !(keepKeys && state.project && keyOfProject(state.project));
  const input = $('auth-key');
  input.value = '';
  input.focus();
}

/** Checks a key with the overview; on success it is the key shown, remembered for its project. */
async function tryKey(key) {
  setKey(key);
  try {
    const overview = await api.overview();
    const project = (overview && overview.project) || 'default';
    rememberProject(project, key);
    if (state.project && state.project !== project) {
      state.map = null;
      state.stageNames = new Map();
      live.reset();
      timeline.clear();
    }
    state.project = project;
    writeProjectToUrl(project);
    return true;
  } catch (err) {
    if (err.unauthorized) {
      setKey('');
      showAuth('This key was refused (401). Check the admin key the collector was started with, or the one given when the project was created.');
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
  renderProjectPicker();
  state.running = true;
  state.lastRefresh = 0;
  mapEditor.load(false);
  live.start();
  segment.start();
  refreshStats({ force: true });
  clearInterval(state.ticker);
  state.ticker = setInterval(tick, 1000);
}

function stop() {
  state.running = false;
  state.generation++;
  clearInterval(state.ticker);
  live.stop();
}

async function boot() {
  range.readFromUrl();
  range.init($('rangebar'));
  // The step funnel reads stored journeys, not rollups: it runs on demand and when the period
  // changes, not on every auto-refresh.
  range.onChange(() => {
    refreshStats({ force: true });
    stepsFunnel.refresh();
  });
  segment.readFromUrl();
  segment.init($('segmentbar'), () => range.current());
  segment.onChange(() => refreshStats({ force: true }));
  onUnauthorized(() => {
    if (!state.running && !$('auth').hidden) return;
    if (state.project) forgetProject(state.project);
    setKey('');
    showAuth('The admin key was refused (401). Enter it again.');
  });
  $('auth-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = $('auth-key').value.trim();
    if (!key) return;
    if (await tryKey(key)) start();
  });
  $('auth-cancel').addEventListener('click', () => {
    setKey(keyOfProject(state.project));
    start();
  });
  $('project-picker').addEventListener('change', (ev) => {
    const value = ev.currentTarget.value;
    if (value === ADD_PROJECT) {
      showAuth('Enter the admin key of the project to open. The keys of the projects opened in this tab are kept for it.', { keepKeys: true });
      return;
    }
    switchProject(value);
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
    if (state.project) forgetProject(state.project);
    setKey('');
    state.project = '';
    showAuth('');
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.running && Date.now() - state.lastRefresh >= REFRESH_MS) refreshStats();
  });

  // A shared link names a project: open it with its remembered key, or ask for that key.
  const wanted = projectFromUrl();
  const keyInAddress = /(^#|&)key=/.test(window.location.hash);
  let key = loadKey();
  if (wanted && keyOfProject(wanted) && !keyInAddress) {
    key = keyOfProject(wanted);
    setKey(key);
  }
  // A link to a project this tab has no key for asks for that project's key (rather than
  // showing another project under its address).
  const wantedUnknown = wanted && !keyOfProject(wanted) && !keyInAddress;
  if (!key || !hasKey() || wantedUnknown) {
    if (wantedUnknown) setKey('');
    showAuth(wanted ? `Enter the admin key of project “${wanted}”.` : '');
    return;
  }
  if (await tryKey(key)) start();
}

boot();
