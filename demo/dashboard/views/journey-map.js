// 1. Journey map: stages as nodes laid out by rank (left to right), side stages (rank < 0) below,
// transitions as edges weighted by the visitors who took them (/v1/stats/transitions), node size
// by visitors reached (/v1/stats/funnel). Readable up to the map's 64 stages: stages without
// traffic are hidden unless asked for, a wide map opens on its first columns with zoom and pan
// (mouse wheel, drag, the slider), and each label is cut to its column's width (the full name is
// in the tooltip and the tables), so labels never overlap.
import { h, replace, num, duration, note, errorNote, titleCase } from '../format.js';
import { COLORS, createChart, baseOption, tooltipBox, describe } from '../charts.js';
import { csvButton } from '../export.js';

const MAIN_Y = 1;
const SIDE_Y = 0;
const BACK_DEPTH_PX = 86;
/** Narrowest column a stage's label gets before the map opens zoomed in. */
const MIN_COLUMN_PX = 120;
/** Vertical room of one stage of a column (node and two label lines). */
const ROW_PX = 104;
let els = null;
let chart = null;
let last = null;
// The visible window of columns, in percent of the x axis (dataZoom), kept across refreshes; null
// until the map is first drawn (then chosen so that columns get MIN_COLUMN_PX).
let zoom = null;
let zoomKey = '';

export function init(section) {
  const unused = h('input', { type: 'checkbox', id: 'jm-unused', testid: 'journey-map-unused' });
  unused.addEventListener('change', () => last && render(last));
  const empty = h('input', { type: 'checkbox', id: 'jm-empty', testid: 'journey-map-empty' });
  empty.addEventListener('change', () => {
    zoom = null;
    if (last) render(last);
  });
  const reset = h('button', { type: 'button', class: 'btn btn-small', testid: 'journey-map-reset' }, 'Show all stages at once');
  reset.addEventListener('click', () => {
    zoom = { start: 0, end: 100 };
    if (last) render(last);
  });
  els = {
    sub: h('p', { class: 'card-sub', testid: 'journey-map-summary' }, 'Loading…'),
    unused,
    empty,
    reset,
    chart: h('div', { class: 'chart chart-xl', id: 'jm-chart', testid: 'journey-map-chart' }),
    status: h('div', { class: 'view-status' }),
    stagesTable: h('div'),
    edgesTable: h('div'),
  };
  describe(els.chart, 'Journey map chart: loading.');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', { id: 'journey-map-title' }, 'Journey map'), els.sub),
      h(
        'div',
        { class: 'card-tools' },
        h('label', { class: 'toggle', for: 'jm-empty' }, empty, ' Stages without traffic'),
        h('label', { class: 'toggle', for: 'jm-unused' }, unused, ' Transitions without traffic'),
        reset,
        csvButton('transitions', { label: 'Transitions CSV' }),
      ),
    ),
    els.status,
    els.chart,
    legend(),
    h(
      'details',
      { class: 'data-alt' },
      h('summary', null, 'Journey map as tables (stages and transitions)'),
      h('div', { class: 'data-alt-grid' }, els.stagesTable, els.edgesTable),
    ),
  );
  section.setAttribute('aria-labelledby', 'journey-map-title');
  chart = createChart(els.chart);
  if (chart) {
    chart.on('datazoom', () => {
      const dz = (chart.getOption().dataZoom || [])[0];
      if (!dz) return;
      const next = { start: dz.start, end: dz.end };
      if (zoom && Math.abs(zoom.start - next.start) < 0.01 && Math.abs(zoom.end - next.end) < 0.01) return;
      zoom = next;
      // Labels are fitted to the columns' width at this zoom.
      clearTimeout(els.zoomTimer);
      els.zoomTimer = setTimeout(() => last && render(last), 120);
    });
    chart.on('click', (p) => {
      if (p.dataType === 'node' && p.data && p.data.stageId) {
        const row = document.querySelector(`[data-testid="funnel-row-${CSS.escape(p.data.stageId)}"]`);
        if (row) row.scrollIntoView({ behavior: 'smooth', block: 'center' });
      }
    });
  }
}

function legend() {
  const item = (cls, label) => h('li', null, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), label);
  return h(
    'ul',
    { class: 'legend', 'aria-label': 'Legend' },
    item('sw-before', 'Stage before conversion'),
    item('sw-after', 'Stage after conversion'),
    item('sw-side', 'Side stage (rank < 0)'),
    item('sw-forward', 'Forward transition'),
    item('sw-backward', 'Backward transition'),
    item('sw-loop', 'Loop (same rank or self-loop)'),
    item('sw-unused', 'In the map, no traffic yet'),
    h('li', { class: 'legend-hint' }, 'Node size: visitors reached · edge width: transitions'),
  );
}

/** data: { map, funnel, transitions, errors } */
export function render(data) {
  last = data;
  const { map, funnel, transitions } = data;
  if (data.errors && data.errors.length) {
    replace(els.status, ...data.errors.map(([what, err]) => errorNote(err, what)));
  } else {
    els.status.replaceChildren();
  }
  const everyStage = collectStages(map, funnel);
  if (!everyStage.length) {
    replace(els.sub, 'No map loaded yet.');
    return;
  }
  // Stages nobody reached are hidden unless asked for (all are shown while there is no traffic).
  const traffic = (s) => (s.reached || 0) > 0 || (s.current || 0) > 0;
  const showEmpty = els.empty.checked || !everyStage.some(traffic);
  const stages = showEmpty ? everyStage : everyStage.filter(traffic);
  const hiddenStages = everyStage.length - stages.length;
  const layout = positions(stages, map);
  const edges = collectEdges(stages, map, transitions, els.unused.checked);
  const maxReached = Math.max(1, ...stages.map((s) => s.reached || 0));
  const observed = edges.filter((e) => !e.unused);
  const maxCount = Math.max(1, ...observed.map((e) => e.count));
  const total = funnel ? funnel.total_profiles : null;

  replace(
    els.sub,
    `${map ? map.name || map.id : 'Map'} · version ${map ? map.version : '?'} · `,
    `${num(total)} visitors · ${num(transitions ? transitions.total : null)} transitions observed`,
    hiddenStages ? h('span', { testid: 'journey-map-hidden' }, ` · ${num(hiddenStages)} stage${hiddenStages === 1 ? '' : 's'} without traffic hidden`) : '',
  );

  const top = [...observed].sort((a, b) => b.count - a.count).slice(0, 3);
  describe(
    els.chart,
    `Journey map chart with ${stages.length} stages and ${observed.length} observed transitions. ` +
      (top.length
        ? `Busiest: ${top.map((e) => `${e.fromName} to ${e.toName} ${e.count}`).join('; ')}. `
        : '') +
      'The tables below the chart hold the same data.',
  );

  renderTables(stages, edges);
  if (!chart) return;

  // Zoom: a map wider than the chart opens on its first columns, each MIN_COLUMN_PX wide.
  const columnCount = Math.max(1, ...[...layout.values()].map((p) => Math.floor(p[0]) + 1));
  const width = chart.getWidth() || 1200;
  const key = `${map ? `${map.id}@${map.version}` : ''}|${stages.length}`;
  if (!zoom || zoomKey !== key) {
    const fits = Math.max(1, Math.floor((width - 32) / MIN_COLUMN_PX));
    zoom = { start: 0, end: columnCount <= fits ? 100 : (100 * fits) / (columnCount + 0.2) };
    zoomKey = key;
  }
  const span = Math.max(1, ((zoom.end - zoom.start) / 100) * (columnCount + 0.2));
  const labelWidth = Math.max(48, (width - 32) / span - 12);
  els.reset.hidden = zoom.end - zoom.start >= 99.9;
  // Height: every stage of the busiest column gets its row.
  const perColumn = new Map();
  for (const [, [x, y]] of layout) if (y >= MAIN_Y) perColumn.set(x, (perColumn.get(x) || 0) + 1);
  const rows = Math.max(1, ...perColumn.values());
  const wantedHeight = Math.max(500, rows * ROW_PX + (stages.some((s) => s.rank < 0) ? 200 : 120));
  if (Math.abs(els.chart.clientHeight - wantedHeight) > 2) {
    els.chart.style.height = `${wantedHeight}px`;
    chart.resize();
  }

  const nodes = stages
    .filter((s) => layout.has(s.id))
    .map((s) => {
      const [x, y] = layout.get(s.id);
      const size = 26 + 52 * Math.sqrt((s.reached || 0) / maxReached);
      const color = s.rank < 0 ? COLORS.side : s.phase === 'after' ? COLORS.after : COLORS.before;
      return {
        id: s.id,
        name: s.name,
        stageId: s.id,
        value: [x, y],
        symbolSize: size,
        stage: s,
        itemStyle: {
          color: s.rank < 0 ? '#ffffff' : color,
          borderColor: s.rank < 0 ? (s.phase === 'after' ? COLORS.after : COLORS.before) : '#ffffff',
          borderWidth: s.rank < 0 ? 3 : 2,
          borderType: s.rank < 0 ? 'dashed' : 'solid',
          opacity: s.reached ? 1 : 0.55,
          shadowBlur: 6,
          shadowColor: 'rgba(20,30,50,0.18)',
        },
        label: {
          show: true,
          position: 'bottom',
          distance: 6,
          // Cut to the column's width here: ECharts does not truncate the parts of a rich label.
          formatter: () =>
            `{name|${safeLabel(fitText(s.name, labelWidth - 10, NAME_FONT))}}\n{n|${safeLabel(fitText(`${num(s.current)} now · ${num(s.reached)} reached`, labelWidth - 10, COUNT_FONT))}}`,
          rich: {
            name: { fontWeight: 600, fontSize: 13, color: COLORS.text, lineHeight: 17 },
            n: { fontSize: 11, color: COLORS.muted, lineHeight: 15 },
          },
          backgroundColor: 'rgba(255,255,255,0.88)',
          borderRadius: 4,
          padding: [2, 5],
        },
      };
    });

  const hasReverse = new Set(observed.map((e) => `${e.from}|${e.to}`));
  const maxColGuess = Math.max(0, ...[...layout.values()].map((p) => p[0]));
  const pxPerCol = Math.max(60, (width - 32) / Math.min(span, maxColGuess + 1.2));
  const links = [];
  const loops = [];
  for (const e of edges) {
    if (!layout.has(e.from) || !layout.has(e.to)) continue;
    if (e.from === e.to) {
      if (!e.unused) loops.push(e);
      continue;
    }
    const [x1, y1] = layout.get(e.from);
    const [x2, y2] = layout.get(e.to);
    const color = e.unused ? '#b8c0cc' : COLORS[e.kind] || COLORS.unknown;
    let curveness;
    if (y1 !== y2) curveness = 0.18; // to or from a side stage: the two directions bend apart
    else if (e.kind === 'forward') {
      curveness = Math.abs(x2 - x1) <= 1.01 ? (hasReverse.has(`${e.to}|${e.from}`) ? 0.12 : 0) : 0.2;
    } else {
      // backward / same-rank edges bend below the row, deep enough to pass under the labels
      const lengthPx = Math.max(1, Math.abs(x2 - x1) * pxPerCol);
      curveness = Math.min(1.1, Math.max(0.25, (2 * BACK_DEPTH_PX) / lengthPx));
    }
    const width = e.unused ? 1 : 1.5 + 10 * (e.count / maxCount);
    links.push({
      source: e.from,
      target: e.to,
      edge: e,
      lineStyle: {
        color,
        width,
        curveness,
        type: e.unused ? 'dashed' : 'solid',
        opacity: e.unused ? 0.8 : 0.78,
      },
      label: {
        show: !e.unused,
        formatter: () => num(e.count),
        fontSize: 11,
        fontWeight: 600,
        color: e.unused ? COLORS.muted : color,
        backgroundColor: 'rgba(255,255,255,0.9)',
        padding: [1, 4],
        borderRadius: 3,
      },
      emphasis: { lineStyle: { width: width + 2, opacity: 1 } },
    });
  }

  const cols = layout.columns;
  const maxCol = Math.max(0, ...[...layout.values()].map((p) => p[0]));
  const mainYs = [...layout.values()].map((p) => p[1]);
  const yMax = Math.max(MAIN_Y, ...mainYs) + 0.62;
  const hasSide = stages.some((s) => s.rank < 0);

  const option = {
    ...baseOption(),
    grid: { left: 16, right: 16, top: 8, bottom: 28 },
    // Zoom with the wheel, pan by dragging, or move the slider; the y axis stays whole.
    dataZoom: [
      { type: 'inside', xAxisIndex: 0, filterMode: 'none', start: zoom.start, end: zoom.end, zoomOnMouseWheel: true, moveOnMouseMove: true },
      { type: 'slider', xAxisIndex: 0, filterMode: 'none', start: zoom.start, end: zoom.end, height: 14, bottom: 6, showDetail: false, brushSelect: false },
    ],
    xAxis: { type: 'value', min: -0.6, max: maxCol + 0.6, show: false },
    yAxis: { type: 'value', min: hasSide ? SIDE_Y - 0.45 : MAIN_Y - 0.95, max: yMax, show: false },
    tooltip: {
      ...baseOption().tooltip,
      trigger: 'item',
      formatter: (p) => tooltipFor(p),
    },
    series: [
      {
        type: 'custom',
        name: 'phases',
        coordinateSystem: 'cartesian2d',
        silent: true,
        data: [],
        renderItem: () => null,
        markArea: {
          silent: true,
          data: [
            ...(hasSide
              ? [
                  [
                    {
                      xAxis: -0.5,
                      yAxis: SIDE_Y + 0.42,
                      itemStyle: { color: '#f6f7f9' },
                      label: {
                        show: true,
                        position: 'insideTopLeft',
                        formatter: 'Side stages (rank < 0)',
                        color: COLORS.muted,
                        fontWeight: 600,
                        fontSize: 11,
                        distance: 8,
                      },
                    },
                    { xAxis: maxCol + 0.5, yAxis: SIDE_Y - 0.42 },
                  ],
                ]
              : []),
            ...cols.phaseRegions.map((r) => [
            {
              xAxis: r.from - 0.5,
              yAxis: yMax,
              itemStyle: { color: r.phase === 'after' ? COLORS.afterSoft : COLORS.beforeSoft, opacity: 0.75 },
              label: {
                show: true,
                position: 'insideTop',
                formatter: r.phase === 'after' ? 'After conversion' : 'Before conversion',
                color: r.phase === 'after' ? COLORS.after : COLORS.before,
                fontWeight: 600,
                fontSize: 11,
                distance: 6,
              },
            },
            { xAxis: r.to + 0.5, yAxis: SIDE_Y + 0.5 },
          ]),
          ],
        },
        z: 0,
      },
      {
        type: 'graph',
        name: 'journey',
        coordinateSystem: 'cartesian2d',
        layout: 'none',
        roam: false,
        draggable: false,
        edgeSymbol: ['none', 'arrow'],
        edgeSymbolSize: [0, 9],
        data: nodes,
        links,
        emphasis: { focus: 'adjacency', blurScope: 'series', label: { show: true } },
        blur: { itemStyle: { opacity: 0.35 }, lineStyle: { opacity: 0.12 } },
        z: 3,
      },
      {
        type: 'custom',
        name: 'self-loops',
        coordinateSystem: 'cartesian2d',
        data: loops.map((e) => {
          const [x, y] = layout.get(e.from);
          const node = nodes.find((n) => n.id === e.from);
          return { value: [x, y, e.count, node ? node.symbolSize : 30, 1.5 + 10 * (e.count / maxCount)], edge: e };
        }),
        renderItem: renderLoop,
        z: 4,
      },
    ],
  };
  chart.setOption(option, { lazyUpdate: true });
}

// Labels are drawn on the canvas (not HTML), but `{` `}` `|` would be read as rich-text markup.
function safeLabel(s) {
  return String(s).replace(/[{}|]/g, ' ');
}

const FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const NAME_FONT = `600 13px ${FAMILY}`;
const COUNT_FONT = `11px ${FAMILY}`;
let measurer = null;

/** `text` cut (with …) to at most `px` wide in `font`, as the chart's canvas draws it. */
function fitText(text, px, font) {
  if (!measurer) measurer = document.createElement('canvas').getContext('2d');
  if (!measurer) return text;
  measurer.font = font;
  const str = String(text);
  if (measurer.measureText(str).width <= px) return str;
  let lo = 0;
  let hi = str.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (measurer.measureText(`${str.slice(0, mid)}…`).width <= px) lo = mid;
    else hi = mid - 1;
  }
  return `${str.slice(0, lo).trimEnd()}…`;
}

function renderLoop(params, api) {
  const [cx, cy] = api.coord([api.value(0), api.value(1)]);
  const r = api.value(3) / 2;
  const width = api.value(4);
  const a1 = (-120 * Math.PI) / 180;
  const a2 = (-60 * Math.PI) / 180;
  const x1 = cx + r * Math.cos(a1);
  const y1 = cy + r * Math.sin(a1);
  const x2 = cx + r * Math.cos(a2);
  const y2 = cy + r * Math.sin(a2);
  const lift = 46 + r * 0.4;
  const cp1 = [cx - r - 22, cy - r - lift];
  const cp2 = [cx + r + 22, cy - r - lift];
  // arrow head at the end, pointing from cp2 into (x2, y2)
  const ang = Math.atan2(y2 - cp2[1], x2 - cp2[0]);
  const len = 9;
  const head = [
    [x2, y2],
    [x2 - len * Math.cos(ang - 0.45), y2 - len * Math.sin(ang - 0.45)],
    [x2 - len * Math.cos(ang + 0.45), y2 - len * Math.sin(ang + 0.45)],
  ];
  return {
    type: 'group',
    children: [
      {
        type: 'bezierCurve',
        shape: { x1, y1, x2, y2, cpx1: cp1[0], cpy1: cp1[1], cpx2: cp2[0], cpy2: cp2[1] },
        style: { stroke: COLORS.loop, lineWidth: width, fill: null, opacity: 0.85 },
      },
      { type: 'polygon', shape: { points: head }, style: { fill: COLORS.loop } },
      {
        type: 'text',
        x: cx,
        y: cy - r - lift * 0.78,
        style: {
          text: num(api.value(2)),
          fill: COLORS.loop,
          font: '600 11px system-ui, sans-serif',
          align: 'center',
          verticalAlign: 'bottom',
          backgroundColor: 'rgba(255,255,255,0.9)',
          padding: [1, 4],
        },
      },
    ],
  };
}

function tooltipFor(p) {
  if (p.seriesType === 'graph' && p.dataType === 'node' && p.data.stage) {
    const s = p.data.stage;
    return tooltipBox(s.name, [
      ['Stage id', s.id],
      ['Phase', `${s.phase === 'after' ? 'after' : 'before'} conversion${s.rank < 0 ? ' (side stage)' : ''}`],
      ['Rank', String(s.rank)],
      ['Reached', num(s.reached)],
      ['Now in stage', num(s.current)],
      ['Median time in stage', duration(s.median)],
    ]);
  }
  const e = p.data && p.data.edge;
  if (e) return edgeTooltip(e);
  return '';
}

function edgeTooltip(e) {
  if (e.unused) {
    return tooltipBox(`${e.fromName} → ${e.toName}`, [
      ['Kind', e.kind],
      ['Rules', e.rules.map((r) => r.rule).join(', ') || '—'],
    ], 'Defined in the map; no visitor took it yet.');
  }
  return tooltipBox(`${e.fromName} → ${e.toName}`, [
    ['Kind', e.kind],
    ['Transitions', num(e.count)],
    ['Visitors', num(e.profiles)],
    ['Rules', e.rules.map((r) => `${r.rule} (${num(r.count)})`).join(', ') || '—'],
  ]);
}

function collectStages(map, funnel) {
  const byId = new Map();
  const mapStages = map && Array.isArray(map.stages) ? map.stages : [];
  mapStages.forEach((s) => {
    byId.set(s.id, {
      id: s.id,
      name: s.name || titleCase(s.id),
      rank: Number.isFinite(s.rank) ? s.rank : 0,
      phase: s.phase || 'before',
      reached: 0,
      current: 0,
      median: null,
    });
  });
  if (funnel) {
    for (const s of [...(funnel.stages || []), ...(funnel.side_stages || [])]) {
      const prev = byId.get(s.id) || {};
      byId.set(s.id, {
        ...prev,
        id: s.id,
        name: s.name || prev.name || titleCase(s.id),
        rank: Number.isFinite(s.rank) ? s.rank : prev.rank ?? 0,
        phase: s.phase || prev.phase || 'before',
        reached: s.reached ?? 0,
        current: s.current ?? 0,
        median: s.median_time_in_stage_ms ?? null,
      });
    }
  }
  return [...byId.values()];
}

function asList(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Positions: main stages by rank column, side stages below, near the stages they connect to. */
function positions(stages, map) {
  const layout = new Map();
  const main = stages.filter((s) => s.rank >= 0).sort((a, b) => a.rank - b.rank);
  const ranks = [...new Set(main.map((s) => s.rank))];
  const colOf = new Map(ranks.map((r, i) => [r, i]));
  const perCol = new Map();
  for (const s of main) {
    const col = colOf.get(s.rank);
    const k = perCol.get(col) || 0;
    perCol.set(col, k + 1);
    layout.set(s.id, [col, MAIN_Y + k * 0.45]);
  }
  const maxCol = Math.max(0, ranks.length - 1);

  // Phase regions along the main row (contiguous columns of the same phase).
  const phaseRegions = [];
  ranks.forEach((r, i) => {
    const phase = main.find((s) => s.rank === r).phase === 'after' ? 'after' : 'before';
    const lastRegion = phaseRegions[phaseRegions.length - 1];
    if (lastRegion && lastRegion.phase === phase) lastRegion.to = i;
    else phaseRegions.push({ phase, from: i, to: i });
  });

  const side = stages.filter((s) => s.rank < 0).sort((a, b) => b.rank - a.rank);
  const transitions = map && Array.isArray(map.transitions) ? map.transitions : [];
  const wanted = side.map((s) => {
    const cols = [];
    for (const t of transitions) {
      const from = asList(t.from).filter((f) => f !== '*');
      const to = asList(t.to).filter((x) => x !== '$previous');
      const touches = from.includes(s.id) || to.includes(s.id);
      if (!touches) continue;
      for (const other of [...from, ...to]) {
        const p = layout.get(other);
        if (p && other !== s.id) cols.push(p[0]);
      }
    }
    let x;
    if (cols.length) x = cols.reduce((a, b) => a + b, 0) / cols.length;
    else {
      const same = main.filter((m) => (m.phase === 'after') === (s.phase === 'after')).map((m) => layout.get(m.id)[0]);
      x = same.length ? same.reduce((a, b) => a + b, 0) / same.length : maxCol / 2;
    }
    return { s, x };
  });
  wanted.sort((a, b) => a.x - b.x);
  const gap = side.length > 1 ? Math.min(1, (maxCol + 0.8) / (side.length - 1)) : 1;
  for (let i = 1; i < wanted.length; i++) {
    if (wanted[i].x < wanted[i - 1].x + gap) wanted[i].x = wanted[i - 1].x + gap;
  }
  const overflow = wanted.length ? wanted[wanted.length - 1].x - (maxCol + 0.3) : 0;
  if (overflow > 0) wanted.forEach((w) => (w.x = Math.max(-0.3, w.x - overflow)));
  for (const w of wanted) layout.set(w.s.id, [Math.round(w.x * 100) / 100, SIDE_Y]);
  layout.columns = { phaseRegions };
  return layout;
}

function kindOf(a, b) {
  if (!a || !b) return 'unknown';
  if (a.id === b.id) return 'loop';
  if (b.rank > a.rank) return 'forward';
  if (b.rank < a.rank) return 'backward';
  return 'loop';
}

function collectEdges(stages, map, transitions, includeUnused) {
  const byId = new Map(stages.map((s) => [s.id, s]));
  const name = (id) => (byId.get(id) ? byId.get(id).name : id);
  const edges = [];
  const seen = new Set();
  for (const e of (transitions && transitions.edges) || []) {
    seen.add(`${e.from}|${e.to}`);
    edges.push({
      from: e.from,
      to: e.to,
      fromName: name(e.from),
      toName: name(e.to),
      kind: e.kind || kindOf(byId.get(e.from), byId.get(e.to)),
      count: e.count || 0,
      profiles: e.profiles || 0,
      rules: e.rules || [],
      unused: false,
    });
  }
  if (includeUnused && map && Array.isArray(map.transitions)) {
    const extra = new Map();
    for (const t of map.transitions) {
      const froms = asList(t.from).flatMap((f) => (f === '*' ? stages.map((s) => s.id) : [f]));
      for (const to of asList(t.to)) {
        if (to === '$previous' || !byId.has(to)) continue;
        for (const from of froms) {
          if (!byId.has(from) || (from === to && asList(t.from).includes('*'))) continue;
          const key = `${from}|${to}`;
          if (seen.has(key)) continue;
          if (!extra.has(key)) {
            extra.set(key, {
              from,
              to,
              fromName: name(from),
              toName: name(to),
              kind: kindOf(byId.get(from), byId.get(to)),
              count: 0,
              profiles: 0,
              rules: [],
              unused: true,
            });
          }
          extra.get(key).rules.push({ rule: t.id, count: 0 });
        }
      }
    }
    edges.push(...extra.values());
  }
  return edges;
}

function renderTables(stages, edges) {
  const sorted = [...stages].sort((a, b) => (a.rank < 0) - (b.rank < 0) || (a.rank >= 0 ? a.rank - b.rank : b.rank - a.rank));
  replace(
    els.stagesTable,
    h(
      'table',
      { class: 'table compact', testid: 'journey-map-stages' },
      h('caption', null, 'Stages'),
      h(
        'thead',
        null,
        h('tr', null, ['Stage', 'Phase', 'Rank', 'Reached', 'Now', 'Median time'].map((t, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : null }, t))),
      ),
      h(
        'tbody',
        null,
        sorted.map((s) =>
          h(
            'tr',
            { testid: `map-stage-${s.id}` },
            h('th', { scope: 'row' }, s.name),
            h('td', null, s.rank < 0 ? `${s.phase} (side)` : s.phase),
            h('td', { class: 'num' }, String(s.rank)),
            h('td', { class: 'num' }, num(s.reached)),
            h('td', { class: 'num' }, num(s.current)),
            h('td', { class: 'num' }, duration(s.median)),
          ),
        ),
      ),
    ),
  );
  const observed = edges.filter((e) => !e.unused);
  replace(
    els.edgesTable,
    observed.length
      ? h(
          'table',
          { class: 'table compact', testid: 'journey-map-edges' },
          h('caption', null, 'Transitions taken'),
          h(
            'thead',
            null,
            h('tr', null, ['From', 'To', 'Kind', 'Count', 'Visitors', 'Rules'].map((t, i) => h('th', { scope: 'col', class: i === 3 || i === 4 ? 'num' : null }, t))),
          ),
          h(
            'tbody',
            null,
            observed.map((e) =>
              h(
                'tr',
                { testid: `map-edge-${e.from}-${e.to}` },
                h('td', null, e.fromName),
                h('td', null, e.toName),
                h('td', null, h('span', { class: `kind kind-${e.kind}` }, e.kind)),
                h('td', { class: 'num' }, num(e.count)),
                h('td', { class: 'num' }, num(e.profiles)),
                h('td', null, e.rules.map((r) => `${r.rule} (${num(r.count)})`).join(', ')),
              ),
            ),
          ),
        )
      : note('muted', 'No transitions yet: visitors have not moved between stages.'),
  );
}
