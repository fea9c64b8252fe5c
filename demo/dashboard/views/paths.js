// 3. Top paths: a Sankey of stage sequences (nodes are step-indexed, "0:awareness", so the graph
// is acyclic even when journeys loop) and the list of the most common paths.
import { h, replace, num, pct, note, errorNote, notAvailable, titleCase } from '../format.js';
import { PALETTE, COLORS, createChart, baseOption, tooltipBox, describe } from '../charts.js';
import { csvButton } from '../export.js';
import { delta } from './overview.js';
import { dimensionLabel, valueLabel, params as segmentParams } from '../segment.js';

let els = null;
let chart = null;

export function init(section) {
  els = {
    sub: h('p', { class: 'card-sub' }, 'Loading…'),
    status: h('div', { class: 'view-status' }),
    chart: h('div', { class: 'chart chart-l', testid: 'paths-chart' }),
    list: h('ol', { class: 'path-list', testid: 'paths-list', 'aria-label': 'Top paths by visitors' }),
  };
  els.body = h(
    'div',
    { class: 'split split-paths' },
    els.chart,
    h('div', { class: 'path-list-wrap' }, h('h3', { class: 'h3' }, 'Most common paths'), els.list),
  );
  describe(els.chart, 'Sankey diagram of visitor paths: loading.');
  section.setAttribute('aria-labelledby', 'paths-title');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', { id: 'paths-title' }, 'Top paths'), els.sub),
      h('div', { class: 'card-tools' }, csvButton('paths', { extra: () => ({ limit: '100', ...(segmentParams().filter ? segmentParams() : {}) }) })),
    ),
    els.status,
    els.body,
  );
  chart = createChart(els.chart);
}

function stageInfo(map) {
  const info = new Map();
  const stages = (map && map.stages) || [];
  stages.forEach((s, i) => info.set(s.id, { name: s.name || titleCase(s.id), color: PALETTE[i % PALETTE.length] }));
  return (id) => info.get(id) || { name: titleCase(id), color: COLORS.unknown };
}

/** { paths, previous (the previous period's, when comparing), error, map } */
export function render({ paths, previous, error, map }) {
  if (error) {
    els.body.hidden = true;
    els.list.replaceChildren();
    replace(els.sub, 'Sequences of stages visitors went through.');
    replace(els.status, error.notAvailable ? notAvailable('Top paths', 'GET /v1/stats/paths') : errorNote(error, 'Top paths'));
    return;
  }
  els.status.replaceChildren();
  if (!paths) return;
  els.body.hidden = false;
  const info = stageInfo(map);
  const list = paths.paths || [];
  const profiles = paths.profiles || 0;
  replace(
    els.sub,
    paths.segment ? h('strong', { testid: 'paths-segment' }, `${dimensionLabel(paths.segment.dimension)} = ${valueLabel(paths.segment.value)} · `) : '',
    paths.breakdown ? `by ${dimensionLabel(paths.breakdown.dimension).toLowerCase()} · ` : '',
    `${num(profiles)} visitors`,
    paths.distinct_paths !== undefined ? ` · ${num(paths.distinct_paths)} distinct paths (top ${num(list.length)} listed)` : ` · top ${num(list.length)} paths`,
    ' · each column is a step of the journey',
  );
  els.chart.hidden = false;

  const nodes = (paths.nodes || []).map((n) => {
    const stage = n.stage || String(n.name).replace(/^\d+:/, '');
    const i = info(stage);
    return {
      name: n.name,
      stage,
      step: n.step,
      itemStyle: { color: i.color, borderColor: i.color },
      label: { formatter: () => i.name },
    };
  });
  const links = (paths.links || []).filter((l) => l.value > 0).map((l) => ({ source: l.source, target: l.target, value: l.value }));
  const nodeBy = new Map(nodes.map((n) => [n.name, n]));

  if (!links.length) {
    els.chart.hidden = true;
    replace(els.status, note('muted', 'No paths yet: visitors have not moved between stages.'));
  }
  describe(
    els.chart,
    `Sankey diagram of the paths of ${profiles} visitors through the stages, ${list.length} top paths. The list next to it holds the same data.`,
  );
  if (chart && links.length) {
    chart.setOption(
      {
        ...baseOption(),
        tooltip: {
          ...baseOption().tooltip,
          trigger: 'item',
          formatter: (p) => {
            if (p.dataType === 'edge') {
              const a = nodeBy.get(p.data.source);
              const b = nodeBy.get(p.data.target);
              return tooltipBox(`${info(a ? a.stage : '').name} → ${info(b ? b.stage : '').name}`, [
                ['Step', `${a ? a.step + 1 : '?'} → ${b ? b.step + 1 : '?'}`],
                ['Visitors', num(p.data.value)],
              ]);
            }
            const n = nodeBy.get(p.name);
            return tooltipBox(info(n ? n.stage : '').name, [
              ['Step', n ? String(n.step + 1) : '?'],
              ['Visitors', num(p.value)],
            ]);
          },
        },
        series: [
          {
            type: 'sankey',
            left: 8,
            right: 96,
            top: 12,
            bottom: 12,
            nodeAlign: 'left',
            nodeWidth: 14,
            nodeGap: 10,
            layoutIterations: 32,
            draggable: false,
            emphasis: { focus: 'adjacency' },
            data: nodes,
            links,
            lineStyle: { color: 'gradient', opacity: 0.35, curveness: 0.5 },
            label: { color: COLORS.text, fontSize: 11 },
          },
        ],
      },
      { lazyUpdate: true },
    );
  }

  const top = list[0] ? list[0].visitors : 1;
  const keyOf = (p) => `${(p.stages || []).join('>')}${p.truncated ? '…' : ''}`;
  const before = previous ? new Map((previous.paths || []).map((p) => [keyOf(p), p.visitors])) : null;
  replace(
    els.list,
    list.length
      ? list.map((p, i) =>
          h(
            'li',
            { class: 'path-item', testid: 'path-item', dataset: { visitors: String(p.visitors) } },
            h('span', { class: 'path-rank', 'aria-hidden': 'true' }, String(i + 1)),
            h(
              'span',
              { class: 'path-stages' },
              (p.stages || []).map((s, k) => [
                k ? h('span', { class: 'arrow', 'aria-label': 'then' }, '→') : null,
                h('span', { class: 'chip', style: { '--chip': info(s).color } }, info(s).name),
              ]),
              p.truncated ? h('span', { class: 'muted', title: 'Path truncated: longer journeys are cut here' }, ' …') : null,
            ),
            h(
              'span',
              { class: 'path-count' },
              h('span', { class: 'bar', style: { width: `${Math.max(2, (100 * p.visitors) / Math.max(1, top))}%` }, 'aria-hidden': 'true' }),
              h('strong', null, num(p.visitors)),
              h('span', { class: 'muted' }, profiles ? ` ${pct(p.visitors / profiles, 0)}` : ''),
              before
                ? h(
                    'span',
                    { class: 'prev', testid: 'path-previous' },
                    before.has(keyOf(p))
                      ? [` · before ${num(before.get(keyOf(p)))} `, delta(p.visitors, before.get(keyOf(p)))]
                      : (previous.paths || []).length >= 100
                        ? ' · before: not in its top 100'
                        : [' · before 0 ', delta(p.visitors, 0)],
                  )
                : null,
            ),
            p.by_value
              ? h(
                  'span',
                  { class: 'path-by-value small muted', testid: 'path-by-value' },
                  p.by_value.map((v) => `${valueLabel(v.value)} ${num(v.visitors)}`).join(' · '),
                )
              : null,
          ),
        )
      : h('li', { class: 'muted' }, 'No paths yet.'),
  );
}
