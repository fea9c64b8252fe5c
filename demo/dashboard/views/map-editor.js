// 7. Map editor: the current map (GET /v1/map) as JSON text; Validate and Preview replay the stored
// history under the draft (POST /v1/map/preview); Publish is PUT /v1/map (the version must grow);
// the version list is GET /v1/map/versions.
import { h, replace, num, pct, dateTimeText, ago, note } from '../format.js';
import { COLORS, createChart, baseOption, tooltipBox, describe } from '../charts.js';
import { api } from '../api.js';
import { prettyJson, locate } from '../json-edit.js';
import * as visual from './map-visual.js';

let els = null;
let chart = null;
let loadedText = '';
let loadedVersion = null;
let lastInput = 0;
let onPublished = () => {};
let previewAvailable = true;
let visualTimer = 0;
let checkTimer = 0;
let checkSeq = 0;

export function init(section, hooks = {}) {
  onPublished = hooks.onPublished || onPublished;
  const text = h('textarea', {
    id: 'map-editor-text',
    class: 'code-editor',
    testid: 'map-editor-text',
    spellcheck: 'false',
    autocomplete: 'off',
    autocapitalize: 'off',
    wrap: 'off',
    rows: '26',
    'aria-describedby': 'map-editor-help',
  });
  text.addEventListener('input', () => {
    lastInput = Date.now();
    updateDirty();
    // The visual editor follows the text, and the core checks it, once typing pauses.
    clearTimeout(visualTimer);
    visualTimer = setTimeout(() => visual.refresh(), 300);
    scheduleCheck();
  });
  const button = (label, testid, cls, fn, title) => {
    const b = h('button', { type: 'button', class: `btn ${cls}`, testid, title }, label);
    b.addEventListener('click', fn);
    return b;
  };
  els = {
    text,
    dirty: h('span', { class: 'dirty-flag', testid: 'map-editor-dirty', 'aria-live': 'polite' }),
    status: h('div', { class: 'editor-status', testid: 'map-editor-status', role: 'status', 'aria-live': 'polite' }),
    offer: h('div', { class: 'editor-offer', testid: 'map-publish-offer', hidden: true }),
    preview: h('div', { class: 'preview', testid: 'map-preview-result' }),
    previewChart: h('div', { class: 'chart chart-s', testid: 'map-preview-chart' }),
    versions: h('div', { class: 'versions', testid: 'map-versions' }),
    viewer: h('div', { class: 'version-viewer', testid: 'map-version-view', hidden: true }),
    validate: button('Validate', 'map-validate', 'btn-secondary', () => validate(), 'Check the draft with the core (POST /v1/map/preview)'),
    previewBtn: button('Preview funnel', 'map-preview', 'btn-secondary', () => preview(), 'Replay stored history under the draft'),
    publish: button('Publish…', 'map-publish', 'btn-primary', () => publish(false), 'PUT /v1/map'),
    format: button('Format', 'map-format', 'btn-ghost', () => formatText(), 'Re-indent the JSON'),
    reload: button('Discard changes', 'map-reload', 'btn-ghost', () => load(true), 'Reload the current map from the collector'),
  };
  els.previewChart.hidden = true;
  els.visual = h('div', { class: 'visual-editor', testid: 'map-visual' });
  visual.init(els.visual, {
    getText: () => els.text.value,
    setText: (value) => {
      els.text.value = value;
      lastInput = Date.now();
      updateDirty();
      scheduleCheck();
    },
  });
  section.setAttribute('aria-labelledby', 'map-editor-title');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h(
        'div',
        null,
        h('h2', { id: 'map-editor-title' }, 'Map editor'),
        h(
          'p',
          { class: 'card-sub', id: 'map-editor-help' },
          'The journey map as JSON (reference: docs/journey-map.md). Validate and preview before publishing: ',
          'every published version is kept, and visitors are recomputed under it on their next event. ',
          'Auto-refresh pauses while you edit.',
        ),
      ),
    ),
    h(
      'div',
      { class: 'editor-grid' },
      h(
        'div',
        { class: 'editor-main' },
        h(
          'div',
          { class: 'toolbar', role: 'toolbar', 'aria-label': 'Map editor actions' },
          els.validate,
          els.previewBtn,
          els.publish,
          h('span', { class: 'toolbar-sep' }),
          els.format,
          els.reload,
          els.dirty,
        ),
        els.status,
        els.offer,
        els.visual,
        h('label', { for: 'map-editor-text', class: 'h3 editor-json-label' }, 'The map as JSON (the source of truth)'),
        text,
      ),
      h(
        'div',
        { class: 'editor-side' },
        h('h3', { class: 'h3' }, 'Preview: live vs draft funnel'),
        els.preview,
        els.previewChart,
        h('h3', { class: 'h3' }, 'Published versions'),
        els.versions,
        els.viewer,
      ),
    ),
  );
  replace(els.preview, h('p', { class: 'muted small' }, 'Preview replays the stored history under the draft and compares each stage\u2019s reached count with the live map.'));
  chart = createChart(els.previewChart);
}

/** Editing: focus in the editor, or unsaved changes typed in the last minute. */
export function isEditing() {
  if (!els) return false;
  const section = document.getElementById('map-editor');
  if (section && section.contains(document.activeElement) && document.activeElement !== document.body) return true;
  return isDirty() && Date.now() - lastInput < 60000;
}

function isDirty() {
  return els.text.value !== loadedText;
}

function updateDirty() {
  els.dirty.textContent = isDirty() ? 'Unsaved changes' : '';
}

/** Loads the current map into the editor (force: even over unsaved changes). */
export async function load(force = false, { quiet = false } = {}) {
  try {
    const text = await api.mapText();
    let version = null;
    try {
      version = JSON.parse(text).version;
    } catch {
      /* shown as is */
    }
    if (!force && isDirty() && loadedText) {
      if (version !== loadedVersion) {
        setStatus('warn', `Version ${version} was published since you started editing. “Discard changes” loads it.`);
      }
      return;
    }
    loadedText = pretty(text);
    loadedVersion = version;
    els.text.value = loadedText;
    updateDirty();
    visual.refresh();
    if (force && !quiet) setStatus('muted', `Loaded the current map, version ${version}.`);
  } catch (err) {
    setStatus('error', `Could not load the map: ${err.message}`);
  }
  await loadVersions();
}

/** Called on each stats refresh: follows a new published version unless the user has edits. */
export function mapChanged(version) {
  if (!els || version === undefined || version === loadedVersion) return;
  load(false);
}

/** The collector keeps the document as published: only a one-line document is re-indented. */
function pretty(text) {
  if (text.split('\n').length > 3) return text;
  try {
    return `${prettyJson(JSON.parse(text))}\n`;
  } catch {
    return text;
  }
}

// Re-exported: tests and the visual editor share the formatting.
export { prettyJson };

function formatText() {
  const parsed = parseDraft();
  if (!parsed) return;
  els.text.value = `${prettyJson(parsed)}\n`;
  lastInput = Date.now();
  updateDirty();
}

function setStatus(kind, ...children) {
  replace(els.status, note(kind, ...children));
}

/** Parses the textarea; on a syntax error shows where it is and returns null. */
function parseDraft() {
  const text = els.text.value;
  try {
    return JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec(err.message);
    const pos = m ? Number(m[1]) : null;
    const where = pos === null ? '' : lineCol(text, pos);
    setStatus(
      'error',
      h('strong', null, 'Not valid JSON'),
      where ? ` at ${where}: ` : ': ',
      err.message.replace(/^JSON\.parse: /, ''),
      pos !== null ? [' ', goButton('Go to the error', pos, pos + 1)] : null,
    );
    return null;
  }
}

function lineCol(text, pos) {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `line ${line}, column ${col}`;
}

function goButton(label, start, end) {
  const b = h('button', { type: 'button', class: 'linkish', testid: 'map-goto-error' }, label);
  b.addEventListener('click', () => select(start, end));
  return b;
}

function select(start, end) {
  const ta = els.text;
  ta.focus();
  ta.setSelectionRange(start, end);
  const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 18;
  const line = ta.value.slice(0, start).split('\n').length - 1;
  ta.scrollTop = Math.max(0, line * lineHeight - ta.clientHeight / 3);
}

/** The text span of a core error path in the editor (the path itself, else its closest parent). */
function spanOf(path, spans) {
  if (!path || !spans) return null;
  let p = path;
  while (p && !spans.has(p)) {
    const parent = p.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
    p = parent === p ? '' : parent;
  }
  return p ? spans.get(p) : null;
}

/**
 * Shows a map the core refused: the first error (its message starts with the path of the bad
 * field), then every problem the collector found (`errors`, each with its path), each with a
 * link to its place in the editor.
 */
function showCoreError(err, what) {
  const message = err.message || '';
  const m = /^([A-Za-z0-9_$.\[\]-]+): /.exec(message);
  const path = m ? m[1] : '';
  const spans = indexJson(els.text.value);
  const span = spanOf(path, spans);
  const problems = (err.body && Array.isArray(err.body.errors) ? err.body.errors : []).filter((p) => p && typeof p.message === 'string');
  setStatus(
    'error',
    h('strong', { testid: 'map-error-code' }, `${what} refused${err.status ? ` (${err.status}${err.code ? ` ${err.code}` : ''})` : ''}: `),
    path ? h('code', { class: 'err-path', testid: 'map-error-path' }, path) : null,
    h('span', { testid: 'map-error-message' }, path ? message.slice(path.length) : message),
    span ? [' ', goButton('Show in the editor', span[0], span[1])] : null,
    problems.length > 1
      ? h(
          'div',
          { class: 'map-problems' },
          h('p', { class: 'small' }, h('strong', { testid: 'map-error-count' }, `${problems.length} problems`), problems.length >= 25 ? ' (the first 25)' : '', ' (a problem after the first can follow from an earlier one):'),
          h(
            'ol',
            { class: 'problem-list', testid: 'map-error-list' },
            problems.map((p) => {
              const at = spanOf(p.path, spans);
              return h(
                'li',
                { testid: 'map-error-item' },
                p.path ? h('code', { class: 'err-path' }, p.path) : h('em', null, 'the document'),
                `: ${p.message}`,
                at ? [' ', goButton('Show', at[0], at[1])] : null,
              );
            }),
          ),
        )
      : null,
  );
}

/** A map over the collector's body limit: the limit as the collector states it. */
function tooLarge(err, doing) {
  const bytes = new Blob([els.text.value]).size;
  setStatus(
    'error',
    h('strong', { testid: 'map-error-code' }, `${doing} refused (413 payload_too_large): `),
    h('span', { testid: 'map-too-large' }, `the draft is ${num(bytes)} bytes; the collector takes at most ${err.message.replace(/^body: more than /, '')}`),
    ` (${err.message}). Shorten descriptions or split content.`,
  );
}

/** The core checks the draft once edits pause (a replay of one journey: cheap at any size). */
function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(quickCheck, 700);
}

async function quickCheck() {
  if (!previewAvailable) return;
  const text = els.text.value;
  try {
    JSON.parse(text);
  } catch {
    parseDraft();
    return;
  }
  const seq = ++checkSeq;
  try {
    await api.post('/v1/map/preview?limit=1&max_ms=200', text);
    if (seq !== checkSeq) return;
    setStatus('ok', h('strong', { testid: 'map-valid' }, 'Valid. '), 'Checked by the core as you edit; Preview funnel replays the history under it.');
  } catch (err) {
    if (seq !== checkSeq) return;
    if (err.status === 400) showCoreError(err, 'Map');
    else if (err.status === 413) tooLarge(err, 'Validation');
  }
}

async function validate() {
  hideOffer();
  const draft = parseDraft();
  if (!draft) return;
  if (!previewAvailable) {
    setStatus('muted', 'The JSON is well-formed. Server-side validation is not available on this collector (POST /v1/map/preview); Publish validates it.');
    return;
  }
  setStatus('muted', 'Validating…');
  try {
    const res = await api.previewMap(els.text.value);
    const live = res.live && res.live.map ? res.live.map.version : loadedVersion;
    const bumpHint = Number.isFinite(draft.version) && live !== null && draft.version <= live ? ` Publishing needs a version above ${live}: Publish offers to bump it.` : '';
    setStatus('ok', h('strong', { testid: 'map-valid' }, 'Valid. '), `Map “${draft.id}”, version ${draft.version}, ${num((draft.stages || []).length)} stages.${bumpHint}`);
    renderPreview(res);
  } catch (err) {
    if (err.notAvailable) {
      previewAvailable = false;
      setStatus('muted', 'The JSON is well-formed. Server-side validation is not available on this collector (POST /v1/map/preview missing); Publish validates it with the core.');
      showPreviewUnavailable();
    } else if (err.status === 400) {
      showCoreError(err, 'Map');
    } else if (err.status === 413) {
      tooLarge(err, 'Validation');
    } else {
      setStatus('error', `Validation failed: ${err.message}`);
    }
  }
}

async function preview() {
  hideOffer();
  const draft = parseDraft();
  if (!draft) return;
  if (!previewAvailable) {
    showPreviewUnavailable();
    return;
  }
  replace(els.preview, h('p', { class: 'muted' }, 'Replaying history under the draft…'));
  try {
    const res = await api.previewMap(els.text.value);
    setStatus('ok', h('strong', { testid: 'map-valid' }, 'Valid. '), 'Preview below.');
    renderPreview(res);
  } catch (err) {
    if (err.notAvailable) {
      previewAvailable = false;
      showPreviewUnavailable();
    } else if (err.status === 400) {
      showCoreError(err, 'Map');
      replace(els.preview, h('p', { class: 'muted' }, 'Fix the draft to preview it.'));
    } else if (err.status === 413) {
      tooLarge(err, 'Preview');
    } else {
      replace(els.preview, note('error', `Preview failed: ${err.message}`));
    }
  }
}

function showPreviewUnavailable() {
  els.previewChart.hidden = true;
  replace(
    els.preview,
    note('muted', h('strong', { testid: 'map-preview-unavailable' }, 'Preview not available. '), 'This collector does not serve ', h('code', null, 'POST /v1/map/preview'), ' yet.'),
  );
}

function renderPreview(res) {
  const liveF = (res.live && res.live.funnel) || {};
  const draftF = (res.draft && res.draft.funnel) || {};
  const liveStages = [...(liveF.stages || []), ...(liveF.side_stages || [])];
  const draftStages = [...(draftF.stages || []), ...(draftF.side_stages || [])];
  const liveBy = new Map(liveStages.map((s) => [s.id, s]));
  const draftBy = new Map(draftStages.map((s) => [s.id, s]));
  const order = [...draftStages.map((s) => s.id), ...liveStages.map((s) => s.id).filter((id) => !draftBy.has(id))];
  const rows = order.map((id) => {
    const l = liveBy.get(id);
    const d = draftBy.get(id);
    const rank = (d || l).rank;
    return { id, name: (d || l).name || id, side: Number.isFinite(rank) && rank < 0, live: l ? l.reached : null, draft: d ? d.reached : null };
  });
  const lv = res.live && res.live.map ? `v${res.live.map.version}` : 'live';
  const dv = res.draft && res.draft.map ? `v${res.draft.map.version}` : 'draft';
  const diffCell = (r) => {
    if (r.live === null) return h('td', { class: 'num diff-up' }, 'new stage');
    if (r.draft === null) return h('td', { class: 'num diff-down' }, 'removed');
    const d = r.draft - r.live;
    const rel = r.live ? ` (${d > 0 ? '+' : ''}${pct(d / r.live, 0)})` : '';
    return h('td', { class: `num ${d > 0 ? 'diff-up' : d < 0 ? 'diff-down' : 'diff-same'}` }, d === 0 ? '0' : `${d > 0 ? '+' : '−'}${num(Math.abs(d))}${rel}`);
  };
  replace(
    els.preview,
    h(
      'p',
      { class: 'muted small', testid: 'map-preview-meta' },
      `Replayed ${num(res.profiles)} visitors`,
      res.events !== undefined ? ` (${num(res.events)} events)` : '',
      ` in ${num(Math.round(res.ms || 0))} ms`,
      res.truncated ? ' (sample: the replay was truncated)' : '',
      `. Live ${lv} vs draft ${dv}.`,
    ),
    h(
      'table',
      { class: 'table compact', testid: 'map-preview-table' },
      h('caption', { class: 'sr-only' }, 'Visitors reaching each stage, live map vs draft'),
      h(
        'thead',
        null,
        h('tr', null, h('th', { scope: 'col' }, 'Stage'), h('th', { scope: 'col', class: 'num' }, `Live ${lv}`), h('th', { scope: 'col', class: 'num' }, `Draft ${dv}`), h('th', { scope: 'col', class: 'num' }, 'Difference')),
      ),
      h(
        'tbody',
        null,
        rows.map((r) =>
          h(
            'tr',
            { testid: `preview-row-${r.id}` },
            h('th', { scope: 'row' }, r.name, r.side ? h('span', { class: 'muted small' }, ' side') : null),
            h('td', { class: 'num', testid: `preview-live-${r.id}` }, r.live === null ? '—' : num(r.live)),
            h('td', { class: 'num', testid: `preview-draft-${r.id}` }, r.draft === null ? '—' : num(r.draft)),
            diffCell(r),
          ),
        ),
      ),
    ),
  );
  els.previewChart.hidden = !rows.length;
  describe(els.previewChart, `Bar chart comparing visitors reached per stage, live against draft: ${rows.map((r) => `${r.name} ${r.live ?? 0} vs ${r.draft ?? 0}`).join(', ')}.`);
  if (chart && rows.length) {
    chart.setOption(
      {
        ...baseOption(),
        legend: { top: 0, itemWidth: 12, itemHeight: 10 },
        grid: { left: 4, right: 28, top: 26, bottom: 4, containLabel: true },
        xAxis: { type: 'value', show: false },
        yAxis: { type: 'category', inverse: true, data: rows.map((r) => r.name), axisTick: { show: false }, axisLine: { show: false } },
        tooltip: {
          ...baseOption().tooltip,
          trigger: 'axis',
          axisPointer: { type: 'shadow' },
          formatter: (items) => {
            const r = rows[items[0].dataIndex];
            return tooltipBox(r.name, [[`Live ${lv}`, r.live === null ? '—' : num(r.live)], [`Draft ${dv}`, r.draft === null ? '—' : num(r.draft)]]);
          },
        },
        series: [
          { type: 'bar', name: `Live ${lv}`, data: rows.map((r) => r.live ?? 0), itemStyle: { color: COLORS.live, borderRadius: 3 }, barGap: '10%', barMaxWidth: 12 },
          { type: 'bar', name: `Draft ${dv}`, data: rows.map((r) => r.draft ?? 0), itemStyle: { color: COLORS.draft, borderRadius: 3 }, barMaxWidth: 12 },
        ],
      },
      { notMerge: true },
    );
    chart.resize();
  }
}

function hideOffer() {
  els.offer.hidden = true;
  els.offer.replaceChildren();
}

async function currentVersion() {
  try {
    const list = await api.mapVersions();
    const versions = (list.versions || []).map((v) => v.version);
    if (versions.length) return Math.max(...versions);
  } catch {
    /* fall back to the public map */
  }
  try {
    return (await api.map()).version;
  } catch {
    return loadedVersion;
  }
}

/** Replaces the top-level "version" value in the text (keeps the user's formatting). */
function bumpVersionText(text, version) {
  const spans = indexJson(text);
  const span = spans && spans.get('version');
  if (span) {
    const member = text.slice(span[0], span[1]);
    const replaced = member.replace(/(:\s*)[^,}\s]+\s*$/, `$1${version}`);
    return text.slice(0, span[0]) + replaced + text.slice(span[1]);
  }
  const obj = JSON.parse(text);
  obj.version = version;
  return `${prettyJson(obj)}\n`;
}

async function publish(bumped) {
  hideOffer();
  const draft = parseDraft();
  if (!draft) return;
  const current = await currentVersion();
  if (!bumped && Number.isFinite(current) && !(Number(draft.version) > current)) {
    offerBump(draft.version, current, `This draft is version ${draft.version ?? '(none)'}; the collector is at version ${current}. A published version must be greater.`);
    return;
  }
  setStatus('muted', `Publishing version ${draft.version}…`);
  els.publish.disabled = true;
  try {
    const res = await api.publishMap(els.text.value);
    await load(true, { quiet: true });
    setStatus('ok', h('strong', { testid: 'map-published' }, `Published version ${res.version}`), ` of map “${res.map_id}” (ETag ${res.etag}). Visitors move to it on their next event.`);
    els.previewChart.hidden = true;
    replace(els.preview, h('p', { class: 'muted small' }, `Version ${res.version} is now live. Preview a new draft to compare it with this version.`));
    onPublished(res);
  } catch (err) {
    if (err.status === 409) {
      const now = await currentVersion();
      offerBump(draft.version, now, `Version conflict (409): ${err.message}`);
      setStatus('error', h('strong', null, 'Not published (409 version_conflict). '), err.message);
    } else if (err.status === 400) {
      showCoreError(err, 'Map');
    } else if (err.status === 413) {
      tooLarge(err, 'Publishing');
    } else if (err.unauthorized) {
      setStatus('error', 'Not published: the admin key was refused.');
    } else {
      setStatus('error', `Not published: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    }
  } finally {
    els.publish.disabled = false;
  }
}

function offerBump(draftVersion, current, message) {
  const next = (Number.isFinite(current) ? current : Number(draftVersion) || 0) + 1;
  const yes = h('button', { type: 'button', class: 'btn btn-primary btn-small', testid: 'map-bump-publish' }, `Bump to version ${next} and publish`);
  const no = h('button', { type: 'button', class: 'btn btn-ghost btn-small', testid: 'map-bump-cancel' }, 'Cancel');
  yes.addEventListener('click', () => {
    els.text.value = bumpVersionText(els.text.value, next);
    lastInput = Date.now();
    updateDirty();
    publish(true);
  });
  no.addEventListener('click', () => {
    hideOffer();
    els.publish.focus();
  });
  replace(els.offer, note('warn', message, ' ', yes, ' ', no));
  els.offer.hidden = false;
  yes.focus();
}

export async function loadVersions() {
  try {
    const list = await api.mapVersions();
    const versions = list.versions || [];
    const newest = versions.length ? Math.max(...versions.map((v) => v.version)) : null;
    replace(
      els.versions,
      versions.length
        ? h(
            'table',
            { class: 'table compact', testid: 'map-versions-table' },
            h('caption', { class: 'sr-only' }, 'Published map versions, newest first'),
            h('thead', null, h('tr', null, ['Version', 'Map', 'Published', ''].map((t) => h('th', { scope: 'col' }, t)))),
            h(
              'tbody',
              null,
              versions.map((v) => {
                const view = h('button', { type: 'button', class: 'btn btn-ghost btn-small', testid: `map-version-view-${v.version}`, 'aria-label': `View version ${v.version}` }, 'View');
                view.addEventListener('click', () => viewVersion(v.version, newest));
                return h(
                  'tr',
                  { testid: `map-version-${v.version}` },
                  h('th', { scope: 'row' }, `v${v.version}`, v.version === newest ? h('span', { class: 'badge badge-ok' }, 'current') : null),
                  h('td', null, h('code', null, v.map_id)),
                  h('td', { title: dateTimeText(v.created_at) }, ago(v.created_at)),
                  h('td', { class: 'num' }, view),
                );
              }),
            ),
          )
        : h('p', { class: 'muted' }, 'No versions stored yet.'),
    );
  } catch (err) {
    if (err.unauthorized) return;
    replace(els.versions, note('error', `Versions: ${err.message}`));
  }
}

async function viewVersion(n, newest) {
  els.viewer.hidden = false;
  replace(els.viewer, h('p', { class: 'muted' }, `Loading version ${n}…`));
  try {
    const text = pretty(await api.mapVersionText(n));
    const loadBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', testid: 'map-version-load' }, 'Copy into the editor');
    const closeBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', testid: 'map-version-close' }, 'Close');
    loadBtn.addEventListener('click', () => {
      els.text.value = text;
      lastInput = Date.now();
      updateDirty();
      setStatus('muted', `Version ${n} copied into the editor${n !== newest ? `; publishing it makes it the new current version (above ${newest})` : ''}.`);
      els.text.focus();
    });
    closeBtn.addEventListener('click', () => {
      els.viewer.hidden = true;
      els.viewer.replaceChildren();
    });
    replace(
      els.viewer,
      h('div', { class: 'viewer-head' }, h('strong', null, `Version ${n}${n === newest ? ' (current)' : ''}`), h('span', { class: 'viewer-actions' }, loadBtn, closeBtn)),
      h('pre', { class: 'code-view', tabindex: '0', 'aria-label': `Map version ${n}`, testid: 'map-version-text' }, text),
    );
  } catch (err) {
    replace(els.viewer, note('error', `Version ${n}: ${err.message}`));
  }
}

/**
 * Maps each path of a valid JSON text ("transitions[3].when") to its [start, end) offsets (an
 * object member's span starts at its key), for pointing at the core's error paths.
 */
export function indexJson(text) {
  const spans = locate(text);
  return spans && new Map([...spans].map(([path, at]) => [path, [at.start, at.end]]));
}
