// 2. Funnel: how far visitors got along the map's main path (ordered progress: a visitor who
// skipped a stage counts at it, so a step never holds more than the one before), conversion from
// the previous step, drop-off, who entered each stage itself, time in stage.
import { h, replace, num, pct, duration, note, errorNote } from '../format.js';
import { COLORS, createChart, baseOption, tooltipBox, describe } from '../charts.js';
import { csvButton } from '../export.js';
import { delta } from './overview.js';
import { dimensionLabel, valueLabel, params as segmentParams } from '../segment.js';

let els = null;
let chart = null;

export function init(section) {
  els = {
    sub: h('p', { class: 'card-sub' }, 'Loading…'),
    status: h('div', { class: 'view-status' }),
    chart: h('div', { class: 'chart chart-m', testid: 'funnel-chart' }),
    table: h('div', { class: 'table-wrap' }),
    breakdown: h('div', { class: 'table-wrap breakdown', testid: 'funnel-breakdown' }),
  };
  describe(els.chart, 'Funnel chart: loading.');
  section.setAttribute('aria-labelledby', 'funnel-title');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', { id: 'funnel-title' }, 'Funnel'), els.sub),
      h('div', { class: 'card-tools' }, csvButton('funnel', { extra: () => (segmentParams().filter ? segmentParams() : {}) }), csvButton('time-in-stage', { label: 'Time in stage CSV' })),
    ),
    els.status,
    h('div', { class: 'split split-funnel' }, els.chart, els.table),
    els.breakdown,
  );
  chart = createChart(els.chart);
}

/** data: { funnel, previous (the previous period's funnel, when comparing), timeInStage, errors } */
export function render({ funnel, previous, timeInStage, errors }) {
  if (errors && errors.length) replace(els.status, ...errors.map(([what, err]) => errorNote(err, what)));
  else els.status.replaceChildren();
  if (!funnel) return;
  const stages = funnel.stages || [];
  const side = funnel.side_stages || [];
  const tis = new Map(((timeInStage && timeInStage.stages) || []).map((s) => [s.id, s]));
  const last = stages[stages.length - 1];
  const first = stages[0];
  const got = (s) => s.progressed;
  const fromPrevious = (s) => s.progress_from_previous;
  const dropOff = (s) => s.progress_drop_off;
  const before = previous ? new Map([...(previous.stages || []), ...(previous.side_stages || [])].map((s) => [s.id, s])) : null;
  replace(
    els.sub,
    `${num(funnel.total_profiles)} visitors`,
    first && last && got(first) ? ` · ${pct(got(last) / got(first))} got to ${last.name}` : '',
    ' · a visitor who skipped a stage counts at it',
  );
  describe(
    els.chart,
    `Funnel bar chart of visitors who got to each stage: ${stages.map((s) => `${s.name} ${got(s)}`).join(', ')}. The table next to it holds the same data.`,
  );

  els.chart.style.height = `${Math.max(220, stages.length * 40 + 24)}px`;
  if (chart) {
    chart.resize();
    const max = Math.max(1, ...stages.map(got), ...(before ? [...before.values()].map((b) => got(b) || 0) : []));
    chart.setOption(
      {
        ...baseOption(),
        grid: { left: 8, right: 64, top: 8, bottom: 8, containLabel: true },
        xAxis: { type: 'value', max, show: false },
        yAxis: {
          type: 'category',
          inverse: true,
          data: stages.map((s) => s.name),
          axisTick: { show: false },
          axisLine: { show: false },
          axisLabel: { color: COLORS.text, fontSize: 12, fontWeight: 500 },
        },
        tooltip: {
          ...baseOption().tooltip,
          trigger: 'item',
          formatter: (p) => {
            const s = stages[p.dataIndex];
            const t = tis.get(s.id);
            return tooltipBox(s.name, [
              ['Got this far', num(got(s))],
              ['Entered the stage', num(s.reached)],
              ['Now in stage', num(s.current)],
              ['From previous', pct(fromPrevious(s))],
              ['Drop-off', dropOff(s) === null ? '—' : num(dropOff(s))],
              ['Median time', duration(s.median_time_in_stage_ms)],
              ['p90 time', duration(t ? t.p90_ms : null)],
              ...(before && before.has(s.id) ? [['Previous period', `${num(got(before.get(s.id)))} got this far`]] : []),
            ]);
          },
        },
        series: [
          {
            type: 'bar',
            name: 'Got this far',
            barWidth: '62%',
            showBackground: true,
            backgroundStyle: { color: '#f1f4f8', borderRadius: 4 },
            data: stages.map((s) => ({
              value: got(s),
              itemStyle: { color: s.phase === 'after' ? COLORS.after : COLORS.before, borderRadius: 4 },
            })),
            label: {
              show: true,
              position: 'right',
              formatter: (p) => {
                const s = stages[p.dataIndex];
                return fromPrevious(s) === null
                  ? num(got(s))
                  : `${num(got(s))}  {c|${pct(fromPrevious(s), 0)}}`;
              },
              rich: { c: { color: COLORS.muted, fontSize: 11 } },
              fontWeight: 600,
              color: COLORS.text,
            },
          },
          ...(before
            ? [
                {
                  type: 'bar',
                  name: 'Previous period',
                  barWidth: '24%',
                  barGap: '10%',
                  data: stages.map((s) => ({ value: before.has(s.id) ? got(before.get(s.id)) : 0, itemStyle: { color: '#c9d1dd', borderRadius: 3 } })),
                  label: { show: true, position: 'right', color: COLORS.muted, fontSize: 11, formatter: (p) => `before ${num(p.value)}` },
                },
              ]
            : []),
        ],
      },
      { lazyUpdate: true, replaceMerge: ['series'] },
    );
  }

  const head = ['Stage', 'Got this far', ...(before ? ['Previous period'] : []), 'Entered', 'Now', 'From previous', 'Drop-off', 'Median time', 'p90 time'];
  const row = (s, isSide) => {
    const t = tis.get(s.id);
    const conv = fromPrevious(s);
    const drop = dropOff(s);
    return h(
      'tr',
      { testid: `funnel-row-${s.id}`, class: isSide ? 'side-row' : null, dataset: { stage: s.id } },
      h(
        'th',
        { scope: 'row' },
        h('span', { class: `dot dot-${isSide ? 'side' : s.phase === 'after' ? 'after' : 'before'}`, 'aria-hidden': 'true' }),
        s.name,
      ),
      h('td', { class: 'num', testid: `funnel-progressed-${s.id}` }, isSide ? '' : num(got(s))),
      before ? previousCell(s, before.get(s.id), isSide) : null,
      h('td', { class: 'num', testid: `funnel-reached-${s.id}`, title: 'Visitors who entered this stage itself' }, num(s.reached)),
      h('td', { class: 'num' }, num(s.current)),
      h('td', { class: 'num', testid: `funnel-conversion-${s.id}` }, isSide ? '' : pct(conv)),
      h('td', { class: 'num' }, isSide ? '' : drop === null || drop === undefined ? '—' : num(drop)),
      h('td', { class: 'num' }, duration(s.median_time_in_stage_ms)),
      h('td', { class: 'num' }, duration(t ? t.p90_ms : null)),
    );
  };
  if (before) els.sub.append(` · compared with ${previous.range ? `${previous.range.from} to ${previous.range.to}` : 'the previous period'}`);
  if (funnel.segment) {
    els.sub.append(' · ', h('strong', { testid: 'funnel-segment' }, `${dimensionLabel(funnel.segment.dimension)} = ${valueLabel(funnel.segment.value)}`));
  }
  renderBreakdown(funnel.breakdown, stages);
  replace(
    els.table,
    h(
      'table',
      { class: 'table', testid: 'funnel-table' },
      h('caption', { class: 'sr-only' }, 'Funnel: visitors per stage'),
      h('thead', null, h('tr', null, head.map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
      h('tbody', null, stages.map((s) => row(s, false))),
      side.length
        ? h(
            'tbody',
            { class: 'side-body' },
            h('tr', { class: 'group-row' }, h('th', { scope: 'rowgroup', colspan: String(head.length) }, 'Side stages')),
            side.map((s) => row(s, true)),
          )
        : null,
    ),
    stages.length ? null : note('muted', 'The map has no stage of rank 0 or more.'),
  );
}

// The previous period's count of a stage (got this far, or entered for a side stage) and its
// change; its rate from the previous step in grey.
function previousCell(s, b, isSide) {
  const now = isSide ? s.reached : s.progressed;
  const then = b ? (isSide ? b.reached : b.progressed) : 0;
  return h(
    'td',
    { class: 'num', testid: `funnel-previous-${s.id}` },
    num(then),
    ' ',
    delta(now, then),
    !isSide && b && b.progress_from_previous !== null && b.progress_from_previous !== undefined ? h('span', { class: 'prev' }, ` (${pct(b.progress_from_previous, 0)})`) : null,
  );
}

// The funnel per value of a dimension: who got to each stage, and the share of the value's
// visitors that is (ordered progress, as the funnel itself).
function renderBreakdown(breakdown, stages) {
  if (!breakdown) {
    els.breakdown.replaceChildren();
    return;
  }
  const columns = [...(breakdown.values || [])];
  if (breakdown.other) columns.push({ ...breakdown.other, value: null });
  const cell = (column, stageId) => (column.stages || []).find((s) => s.id === stageId);
  const label = (column) => (column.value === null ? `Other (${num(breakdown.distinct_values - breakdown.values.length)} values)` : valueLabel(column.value));
  replace(
    els.breakdown,
    h('h3', { class: 'h3' }, `Got this far, by ${dimensionLabel(breakdown.dimension).toLowerCase()}`),
    columns.length
      ? h(
          'table',
          { class: 'table', testid: 'breakdown-table' },
          h('caption', { class: 'sr-only' }, `Funnel by ${dimensionLabel(breakdown.dimension)}`),
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', { scope: 'col' }, 'Stage'),
              columns.map((c, i) => h('th', { scope: 'col', class: 'num', testid: `breakdown-value-${i}` }, label(c), h('div', { class: 'prev' }, `${num(c.total_profiles)} visitors`))),
            ),
          ),
          h(
            'tbody',
            null,
            stages.map((s) =>
              h(
                'tr',
                null,
                h('th', { scope: 'row' }, s.name),
                columns.map((c, i) => {
                  const v = cell(c, s.id);
                  return h(
                    'td',
                    { class: 'num', testid: `breakdown-cell-${s.id}-${i}` },
                    v ? num(v.progressed) : '—',
                    v && c.total_profiles ? h('span', { class: 'prev' }, ` ${pct(v.progressed / c.total_profiles, 0)}`) : null,
                  );
                }),
              ),
            ),
          ),
        )
      : note('muted', 'No visitors in the period.'),
  );
}
