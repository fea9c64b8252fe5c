// 7b. The visual map editor, beside the JSON: the journey as a graph of stages (by rank; side
// stages below), and for the stage picked its name, rank and phase, the transitions leaving it
// with their conditions, and the content shown in it; the scoring rules below. The JSON text
// stays the source of truth: every edit here is written into the text at the place of the field
// it changes (json-edit.js), so the rest of the document stays byte for byte, and the text is
// read back after every edit. Conditions the forms do not cover (all/any/not, several names)
// are edited as JSON in place.
import { h, replace } from '../format.js';
import { replaceValue, setMember, appendElement, removeAt } from '../json-edit.js';
import { renameStageReferences } from '../stage-refs.js';

let els = null;
let hooks = { getText: () => '', setText: () => {} };
let selected = '';
let placeEdges = null; // draws the graph's arrows again (the boxes move when the window does)

const CONDITION_KINDS = [
  ['event', 'Event happened'],
  ['field', 'Event property'],
  ['count', 'Events counted within a window'],
  ['score', 'Score threshold'],
  ['inactive_for', 'Inactive for'],
  ['json', 'Other (JSON)'],
];
const DEFAULT_CONDITION = {
  event: { event: 'page_viewed' },
  field: { field: 'properties.plan', equals: 'pro' },
  count: { count: { event: 'page_viewed', at_least: 3, within: '7d' } },
  score: { score: { gte: 30 } },
  inactive_for: { inactive_for: '30d' },
  json: { always: true },
};
const FIELD_OPS = ['equals', 'not_equals', 'gt', 'gte', 'lt', 'lte', 'contains', 'prefix', 'exists'];
const SCORE_OPS = ['gte', 'gt', 'lte', 'lt'];

/** hooks: getText() the editor's text, setText(text) writes it (and validates). */
export function init(container, newHooks) {
  hooks = { ...hooks, ...newHooks };
  els = {
    status: h('p', { class: 'muted small', testid: 'visual-status' }),
    graph: h('div', { class: 'visual-graph', testid: 'visual-graph', role: 'list', 'aria-label': 'Stages by rank' }),
    panel: h('div', { class: 'visual-panel', testid: 'visual-panel' }),
    scoring: h('div', { class: 'visual-scoring', testid: 'visual-scoring' }),
  };
  window.addEventListener('resize', () => placeEdges && placeEdges());
  const addStage = h('button', { type: 'button', class: 'btn btn-small', testid: 'visual-add-stage' }, 'Add a stage');
  addStage.addEventListener('click', () => addNewStage());
  container.append(
    h('div', { class: 'visual-head' }, h('h3', { class: 'h3' }, 'Visual editor'), addStage, els.status),
    els.graph,
    els.panel,
    els.scoring,
  );
}

/** Draws the editor from the current text (after every edit and when the text changes). */
export function refresh() {
  if (!els) return;
  let map;
  try {
    map = JSON.parse(hooks.getText());
  } catch {
    replace(els.status, 'The text is not valid JSON: fix it there to edit visually.');
    els.graph.replaceChildren();
    els.panel.replaceChildren();
    els.scoring.replaceChildren();
    return;
  }
  if (!map || !Array.isArray(map.stages)) {
    replace(els.status, 'The map has no stages array.');
    return;
  }
  els.status.textContent = 'Edits here are written into the JSON below, field by field.';
  const stages = map.stages.map((s, i) => ({ ...s, index: i, rank: Number.isFinite(s.rank) ? s.rank : i }));
  if (!stages.some((s) => s.id === selected)) selected = stages[0] ? stages[0].id : '';
  renderGraph(map, stages);
  renderPanel(map, stages);
  renderScoring(map);
}

// Applies an edit of the text (a function of it); a failed edit, or one whose result would not
// be JSON, leaves the text as it was.
function edit(fn) {
  try {
    const next = fn(hooks.getText());
    JSON.parse(next);
    hooks.setText(next);
  } catch (err) {
    replace(els.status, `Not applied: ${err.message}`);
    return;
  }
  refresh();
}

function renderGraph(map, stages) {
  const transitions = Array.isArray(map.transitions) ? map.transitions : [];
  const from = (t) => (Array.isArray(t.from) ? t.from : [t.from]);
  const main = stages.filter((s) => s.rank >= 0).sort((a, b) => a.rank - b.rank);
  const side = stages.filter((s) => s.rank < 0);
  const ranks = [...new Set(main.map((s) => s.rank))];
  const node = (s) => {
    const leaving = transitions.filter((t) => from(t).includes(s.id) || from(t).includes('*')).length;
    const b = h(
      'button',
      { type: 'button', class: `visual-node${s.id === selected ? ' selected' : ''}${s.phase === 'after' ? ' after' : ''}${s.rank < 0 ? ' side' : ''}`, testid: `visual-stage-${s.id}`, 'aria-pressed': String(s.id === selected), role: 'listitem' },
      h('strong', null, s.name || s.id),
      h('span', { class: 'muted small' }, ` ${s.id} · rank ${s.rank} · ${leaving} out`),
    );
    b.dataset.stage = s.id;
    b.addEventListener('click', () => {
      selected = s.id;
      refresh();
    });
    return b;
  };
  replace(
    els.graph,
    h('div', { class: 'visual-row' }, ranks.map((r) => h('div', { class: 'visual-col' }, main.filter((s) => s.rank === r).map(node)))),
    side.length ? h('div', { class: 'visual-row visual-side' }, h('span', { class: 'muted small' }, 'Side stages: '), side.map(node)) : null,
  );
  drawEdges(transitions, stages);
}

const SVG = 'http://www.w3.org/2000/svg';

// The transitions as arrows between the stage boxes (drawn once the boxes are laid out): those
// of the stage picked in full, the others faint. Forward edges arc above the row, backward ones
// below; "*" (from any stage) is drawn from every other stage; "$previous" has no fixed target.
function drawEdges(transitions, stages) {
  const graph = els.graph;
  const ids = new Set(stages.map((s) => s.id));
  const edges = new Map(); // "from>to" -> { from, to, rules }
  for (const t of transitions) {
    if (!t || typeof t.to !== 'string' || !ids.has(t.to)) continue;
    const froms = (Array.isArray(t.from) ? t.from : [t.from]).flatMap((f) => (f === '*' ? [...ids] : [f]));
    for (const f of froms) {
      if (f === t.to || !ids.has(f)) continue;
      const key = `${f}>${t.to}`;
      if (!edges.has(key)) edges.set(key, { from: f, to: t.to, rules: [] });
      edges.get(key).rules.push(t.id);
    }
  }
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'visual-edges');
  svg.setAttribute('aria-hidden', 'true');
  const defs = document.createElementNS(SVG, 'defs');
  for (const kind of ['faint', 'picked']) {
    const marker = document.createElementNS(SVG, 'marker');
    marker.setAttribute('id', `visual-arrow-${kind}`);
    for (const [k, v] of Object.entries({ viewBox: '0 0 8 8', refX: '7', refY: '4', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' })) marker.setAttribute(k, v);
    const tip = document.createElementNS(SVG, 'path');
    tip.setAttribute('d', 'M0,0 L8,4 L0,8 z');
    tip.setAttribute('class', `visual-arrow-${kind}`);
    marker.append(tip);
    defs.append(marker);
  }
  svg.append(defs);
  graph.prepend(svg);
  const place = () => {
    if (!svg.isConnected) return;
    for (const old of svg.querySelectorAll('.visual-edge')) old.remove();
    const box = graph.getBoundingClientRect();
    const rect = new Map();
    for (const el of graph.querySelectorAll('[data-stage]')) {
      const r = el.getBoundingClientRect();
      rect.set(el.dataset.stage, { left: r.left - box.left + graph.scrollLeft, right: r.right - box.left + graph.scrollLeft, top: r.top - box.top, bottom: r.bottom - box.top });
    }
    svg.setAttribute('width', String(graph.scrollWidth));
    svg.setAttribute('height', String(graph.scrollHeight));
    // The picked stage's edges last, so they are drawn over the faint ones.
    const ordered = [...edges.values()].sort((a, b) => Number(a.from === selected || a.to === selected) - Number(b.from === selected || b.to === selected));
    for (const e of ordered) {
      const a = rect.get(e.from);
      const b = rect.get(e.to);
      if (!a || !b) continue;
      const ay = (a.top + a.bottom) / 2;
      const by = (b.top + b.bottom) / 2;
      let d;
      if (Math.abs(ay - by) < 4 && b.left >= a.right) {
        // forward on one row: over the boxes between them
        const lift = Math.min(a.top, b.top) - 6 - Math.min(40, (b.left - a.right) / 12);
        d = `M${a.right},${ay} C${a.right + 20},${lift} ${b.left - 20},${lift} ${b.left},${by}`;
      } else if (Math.abs(ay - by) < 4) {
        // backward on one row: under them
        const drop = Math.max(a.bottom, b.bottom) + 6 + Math.min(30, (a.left - b.right) / 14);
        const ax = (a.left + a.right) / 2;
        const bx = (b.left + b.right) / 2;
        d = `M${ax},${a.bottom} C${ax},${drop} ${bx},${drop} ${bx},${b.bottom}`;
      } else {
        // between the rows (side stages): bottom of the upper box to the top of the lower one
        const [up, down] = a.top < b.top ? [a, b] : [b, a];
        const ux = (up.left + up.right) / 2;
        const dx = (down.left + down.right) / 2;
        const points = [`${ux},${up.bottom}`, `${dx},${down.top}`];
        if (a !== up) points.reverse();
        const mid = (up.bottom + down.top) / 2;
        d = a === up ? `M${points[0]} C${ux},${mid} ${dx},${mid} ${points[1]}` : `M${points[0]} C${dx},${mid} ${ux},${mid} ${points[1]}`;
      }
      const picked = e.from === selected || e.to === selected;
      const path = document.createElementNS(SVG, 'path');
      path.setAttribute('d', d);
      path.setAttribute('class', `visual-edge${picked ? ' picked' : ''}`);
      path.setAttribute('marker-end', `url(#visual-arrow-${picked ? 'picked' : 'faint'})`);
      path.dataset.testid = 'visual-edge';
      path.dataset.from = e.from;
      path.dataset.to = e.to;
      const title = document.createElementNS(SVG, 'title');
      title.textContent = `${e.from} → ${e.to} (${e.rules.join(', ')})`;
      path.append(title);
      svg.append(path);
    }
    graph.dataset.edges = String(edges.size);
  };
  placeEdges = place;
  requestAnimationFrame(place);
}

function input(attrs, value, onCommit) {
  const el = h('input', { ...attrs, value: value === undefined || value === null ? '' : String(value) });
  el.addEventListener('change', () => onCommit(el.value));
  return el;
}

function select(attrs, options, value, onCommit) {
  const el = h('select', attrs, options.map(([v, label]) => h('option', { value: v }, label)));
  el.value = value;
  el.addEventListener('change', () => onCommit(el.value));
  return el;
}

const asNumber = (v) => (v.trim() === '' || Number.isNaN(Number(v)) ? v : Number(v));

function renderPanel(map, stages) {
  const stage = stages.find((s) => s.id === selected);
  if (!stage) {
    els.panel.replaceChildren();
    return;
  }
  const base = `stages[${stage.index}]`;
  const remove = h('button', { type: 'button', class: 'btn btn-small btn-ghost', testid: 'visual-remove-stage' }, 'Remove this stage');
  remove.addEventListener('click', () => edit((t) => removeAt(t, base)));
  const transitions = (Array.isArray(map.transitions) ? map.transitions : []).map((t, i) => ({ t, i }));
  const leaving = transitions.filter(({ t }) => (Array.isArray(t.from) ? t.from : [t.from]).some((f) => f === stage.id || f === '*'));
  const stageOptions = stages.map((s) => [s.id, s.name || s.id]);
  const addTransition = h('button', { type: 'button', class: 'btn btn-small', testid: 'visual-add-transition' }, 'Add a transition from this stage');
  addTransition.addEventListener('click', () => {
    const ids = new Set(transitions.map(({ t }) => t.id));
    let n = 1;
    while (ids.has(`${stage.id}_next${n === 1 ? '' : `_${n}`}`)) n++;
    const next = stages.filter((s) => s.rank > stage.rank).sort((a, b) => a.rank - b.rank)[0] || stages.find((s) => s.id !== stage.id) || stage;
    const transition = { id: `${stage.id}_next${n === 1 ? '' : `_${n}`}`, from: stage.id, to: next.id, when: { event: 'page_viewed' } };
    edit((t) => (map.transitions ? appendElement(t, 'transitions', transition) : setMember(t, '', 'transitions', [transition])));
  });

  replace(
    els.panel,
    h('h4', { class: 'visual-title' }, `Stage “${stage.name || stage.id}”`),
    h(
      'div',
      { class: 'visual-fields' },
      h('label', null, 'Id ', input({ testid: 'visual-stage-id', class: 'narrow', title: 'Transitions, content and triggers name the stage by its id: renamed there too' }, stage.id, (v) => {
        const next = v.trim();
        selected = next;
        let renamed = 0;
        edit((t) => {
          const out = renameStageReferences(setMember(t, base, 'id', next), stage.id, next);
          renamed = out.renamed;
          return out.text;
        });
        if (renamed) replace(els.status, `Renamed “${stage.id}” to “${next}” in ${renamed} place${renamed === 1 ? '' : 's'} that name it.`);
      })),
      h('label', null, 'Name ', input({ testid: 'visual-stage-name' }, stage.name, (v) => edit((t) => setMember(t, base, 'name', v)))),
      h('label', null, 'Rank ', input({ type: 'number', testid: 'visual-stage-rank', min: '-1000', max: '1000' }, stage.rank, (v) => edit((t) => setMember(t, base, 'rank', asNumber(v))))),
      h('label', null, 'Phase ', select({ testid: 'visual-stage-phase' }, [['before', 'Before conversion'], ['after', 'After conversion']], stage.phase || 'before', (v) => edit((t) => setMember(t, base, 'phase', v)))),
      remove,
    ),
    h('h4', { class: 'visual-title' }, `Transitions leaving it (${leaving.length})`),
    h(
      'ol',
      { class: 'visual-list', testid: 'visual-transitions' },
      leaving.map(({ t, i }) => {
        const path = `transitions[${i}]`;
        const removeT = h('button', { type: 'button', class: 'btn btn-small btn-ghost', testid: `visual-remove-transition-${i}` }, 'Remove');
        removeT.addEventListener('click', () => edit((text) => removeAt(text, path)));
        const to = typeof t.to === 'string' ? t.to : '';
        return h(
          'li',
          { class: 'visual-item', testid: `visual-transition-${i}` },
          h('div', { class: 'visual-fields' }, h('code', null, t.id), ' to ', select({ testid: `visual-transition-to-${i}` }, [...stageOptions, ...(to === '$previous' ? [['$previous', 'the previous stage']] : [])], to, (v) => edit((text) => setMember(text, path, 'to', v))), h('label', null, ' priority ', input({ type: 'number', testid: `visual-transition-priority-${i}`, class: 'narrow' }, t.priority ?? '', (v) => edit((text) => (v.trim() === '' ? (t.priority === undefined ? text : removeAt(text, `${path}.priority`)) : setMember(text, path, 'priority', asNumber(v)))))), removeT),
          conditionEditor(t.when, `${path}.when`, `visual-when-${i}`),
        );
      }),
    ),
    addTransition,
    contentFor(map, stage),
  );
}

// The form of one condition at `path`; the kind select replaces the whole condition.
function conditionEditor(condition, path, testid) {
  const c = condition && typeof condition === 'object' ? condition : {};
  const keys = Object.keys(c);
  let kind = 'json';
  if (keys.length === 1 && typeof c.event === 'string') kind = 'event';
  else if (typeof c.field === 'string' && keys.length === 2) kind = 'field';
  else if (keys.length === 1 && c.count && typeof c.count === 'object' && typeof c.count.event === 'string') kind = 'count';
  else if (keys.length === 1 && c.score && typeof c.score === 'object' && Object.keys(c.score).filter((k) => k !== 'group').length === 1) kind = 'score';
  else if (keys.length === 1 && typeof c.inactive_for === 'string') kind = 'inactive_for';
  const kindSelect = select({ testid: `${testid}-kind`, 'aria-label': 'Condition' }, CONDITION_KINDS, kind, (v) => edit((t) => replaceValue(t, path, DEFAULT_CONDITION[v])));
  let fields;
  if (kind === 'event') {
    fields = [h('label', null, 'event ', input({ testid: `${testid}-event`, list: 'steps-events' }, c.event, (v) => edit((t) => replaceValue(t, `${path}.event`, v.trim()))))];
  } else if (kind === 'field') {
    const op = keys.find((k) => k !== 'field');
    fields = [
      input({ testid: `${testid}-field`, 'aria-label': 'Field path' }, c.field, (v) => edit((t) => replaceValue(t, `${path}.field`, v.trim()))),
      select({ testid: `${testid}-op`, 'aria-label': 'Operator' }, FIELD_OPS.map((o) => [o, o]), op, (v) =>
        edit((t) => replaceValue(t, path, { field: c.field, [v]: v === 'exists' ? true : c[op] })),
      ),
      input({ testid: `${testid}-operand`, 'aria-label': 'Value' }, typeof c[op] === 'string' ? c[op] : JSON.stringify(c[op]), (v) => {
        let value = v;
        try {
          value = JSON.parse(v);
        } catch {
          /* a plain string */
        }
        edit((t) => replaceValue(t, `${path}.${op}`, value));
      }),
    ];
  } else if (kind === 'count') {
    fields = [
      h('label', null, 'event ', input({ testid: `${testid}-count-event` }, c.count.event, (v) => edit((t) => replaceValue(t, `${path}.count.event`, v.trim())))),
      h('label', null, 'at least ', input({ type: 'number', class: 'narrow', testid: `${testid}-count-at-least`, min: '0' }, c.count.at_least ?? 1, (v) => edit((t) => setMember(t, `${path}.count`, 'at_least', asNumber(v))))),
      h('label', null, 'within ', input({ class: 'narrow', testid: `${testid}-count-within`, placeholder: 'the whole log' }, c.count.within ?? '', (v) => edit((t) => (v.trim() ? setMember(t, `${path}.count`, 'within', v.trim()) : c.count.within === undefined ? t : removeAt(t, `${path}.count.within`))))),
    ];
  } else if (kind === 'score') {
    const op = Object.keys(c.score).find((k) => k !== 'group');
    fields = [
      select({ testid: `${testid}-score-op`, 'aria-label': 'Comparison' }, SCORE_OPS.map((o) => [o, { gte: 'at least', gt: 'above', lte: 'at most', lt: 'below' }[o]]), op, (v) =>
        edit((t) => replaceValue(t, `${path}.score`, { ...(c.score.group ? { group: c.score.group } : {}), [v]: c.score[op] })),
      ),
      input({ type: 'number', class: 'narrow', testid: `${testid}-score-value` }, c.score[op], (v) => edit((t) => replaceValue(t, `${path}.score.${op}`, asNumber(v)))),
    ];
  } else if (kind === 'inactive_for') {
    fields = [input({ class: 'narrow', testid: `${testid}-inactive`, 'aria-label': 'Duration' }, c.inactive_for, (v) => edit((t) => replaceValue(t, `${path}.inactive_for`, v.trim())))];
  } else {
    const area = h('textarea', { class: 'visual-json', testid: `${testid}-json`, rows: '3', spellcheck: 'false' });
    area.value = JSON.stringify(condition ?? null);
    area.addEventListener('change', () => {
      try {
        const value = JSON.parse(area.value);
        edit((t) => replaceValue(t, path, value));
      } catch (err) {
        replace(els.status, `Condition not applied: ${err.message}`);
      }
    });
    fields = [area];
  }
  return h('div', { class: 'visual-fields visual-condition' }, h('span', { class: 'muted small' }, 'when '), kindSelect, ...fields);
}

// Content variants whose condition names the stage (`stage: id` or a list holding it).
function contentFor(map, stage) {
  const slots = map.content && Array.isArray(map.content.slots) ? map.content.slots : [];
  const rows = [];
  slots.forEach((slot, si) => {
    (slot.variants || []).forEach((v, vi) => {
      const st = v.when && v.when.stage;
      if (st === stage.id || (Array.isArray(st) && st.includes(stage.id))) rows.push({ slot, si, v, vi });
    });
  });
  const add = h('button', { type: 'button', class: 'btn btn-small', testid: 'visual-add-content', disabled: slots.length ? null : true }, 'Add content for this stage');
  add.addEventListener('click', () => {
    const slot = slots[0];
    const ids = new Set((slot.variants || []).map((v) => v.id));
    let id = `${slot.id}_${stage.id}`;
    for (let n = 2; ids.has(id); n++) id = `${slot.id}_${stage.id}_${n}`;
    const variant = { id, when: { stage: stage.id }, content: { text: `Content for ${stage.name || stage.id}` } };
    edit((t) => (Array.isArray(slot.variants) ? appendElement(t, 'content.slots[0].variants', variant) : setMember(t, 'content.slots[0]', 'variants', [variant])));
  });
  return h(
    'div',
    null,
    h('h4', { class: 'visual-title' }, `Content shown in this stage (${rows.length})`),
    h(
      'ul',
      { class: 'visual-list', testid: 'visual-content' },
      rows.map(({ slot, si, v, vi }) =>
        h(
          'li',
          { class: 'visual-item' },
          h('code', null, `${slot.id}/${v.id}`),
          ' text ',
          input({ class: 'wide', testid: `visual-content-text-${slot.id}-${v.id}` }, v.content && v.content.text, (val) => edit((t) => setMember(t, `content.slots[${si}].variants[${vi}].content`, 'text', val))),
        ),
      ),
    ),
    add,
  );
}

function renderScoring(map) {
  const rules = map.scoring && Array.isArray(map.scoring.rules) ? map.scoring.rules : [];
  const add = h('button', { type: 'button', class: 'btn btn-small', testid: 'visual-add-rule' }, 'Add a scoring rule');
  add.addEventListener('click', () => {
    const ids = new Set(rules.map((r) => r.id));
    let id = 'new_rule';
    for (let n = 2; ids.has(id); n++) id = `new_rule_${n}`;
    const rule = { id, when: { event: 'page_viewed' }, points: 1 };
    edit((t) => {
      if (!map.scoring) return setMember(t, '', 'scoring', { rules: [rule] });
      if (!Array.isArray(map.scoring.rules)) return setMember(t, 'scoring', 'rules', [rule]);
      return appendElement(t, 'scoring.rules', rule);
    });
  });
  // Folded by default (the stage is what is usually edited); stays open once opened.
  const open = els.scoring.querySelector('details') ? els.scoring.querySelector('details').open : false;
  replace(
    els.scoring,
    h(
      'details',
      { open: open || null, testid: 'visual-scoring-details' },
      h('summary', { class: 'visual-title' }, `Scoring rules (${rules.length})`),
    h(
      'ol',
      { class: 'visual-list', testid: 'visual-rules' },
      rules.map((r, i) => {
        const path = `scoring.rules[${i}]`;
        const remove = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Remove');
        remove.addEventListener('click', () => edit((t) => removeAt(t, path)));
        return h(
          'li',
          { class: 'visual-item' },
          h(
            'div',
            { class: 'visual-fields' },
            h('code', null, r.id),
            h('label', null, ' points ', input({ type: 'number', class: 'narrow', testid: `visual-rule-points-${i}` }, r.points, (v) => edit((t) => setMember(t, path, 'points', asNumber(v))))),
            remove,
          ),
          conditionEditor(r.when, `${path}.when`, `visual-rule-when-${i}`),
        );
      }),
    ),
    add,
    ),
  );
}

// A new stage: the next free id, ranked after the main path's last stage.
function addNewStage() {
  let map;
  try {
    map = JSON.parse(hooks.getText());
  } catch {
    return;
  }
  const stages = map.stages || [];
  const ids = new Set(stages.map((s) => s.id));
  let id = 'new_stage';
  for (let n = 2; ids.has(id); n++) id = `new_stage_${n}`;
  const rank = Math.max(-1, ...stages.map((s, i) => (Number.isFinite(s.rank) ? s.rank : i))) + 1;
  selected = id;
  edit((t) => appendElement(t, 'stages', { id, name: 'New stage', rank }));
}
