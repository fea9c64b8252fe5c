// 4. Attribution: credit share per channel (or per source, or campaign, of the touches) under the
// six models, with a conversion-stage filter.
import { h, replace, num, pct, decimal, note, errorNote, notAvailable } from '../format.js';
import { PALETTE, COLORS, createChart, baseOption, tooltipBox, describe } from '../charts.js';
import { api } from '../api.js';
import { csvButton } from '../export.js';
import { filter as segmentFilter, breakdown as segmentBreakdown, dimensionLabel, valueLabel } from '../segment.js';

export const MODELS = [
  ['first_touch', 'First touch'],
  ['last_touch', 'Last touch'],
  ['last_non_direct', 'Last non-direct'],
  ['linear', 'Linear'],
  ['time_decay', 'Time decay'],
  ['position_based', 'Position based'],
];
const MODEL_COLORS = ['#2f6fd6', '#14916b', '#6d8f1f', '#e0782f', '#9b4dca', '#d1435b'];

let els = null;
let chart = null;
let stage = '';
let knownStages = [];
let period = null;
let before = null;
let by = 'channel';
const CREDIT_DIMENSIONS = new Set(['channel', 'source', 'medium', 'campaign', 'landing', 'device']);
const BY = [
  ['channel', 'Channel'],
  ['source', 'Source'],
  ['campaign', 'Campaign'],
];

export function init(section) {
  const select = h('select', { id: 'attribution-stage', testid: 'attribution-stage' }, h('option', { value: '' }, 'All conversion stages'));
  select.addEventListener('change', () => {
    stage = select.value;
    refresh();
  });
  const bySelect = h('select', { id: 'attribution-by', testid: 'attribution-by' }, BY.map(([id, label]) => h('option', { value: id }, label)));
  bySelect.addEventListener('change', () => {
    by = bySelect.value;
    refresh();
  });
  els = {
    sub: h('p', { class: 'card-sub' }, 'Loading…'),
    by: bySelect,
    select,
    status: h('div', { class: 'view-status' }),
    chart: h('div', { class: 'chart chart-attr', testid: 'attribution-chart' }),
    table: h('div', { class: 'table-wrap' }),
    breakdown: h('div', { class: 'table-wrap breakdown', testid: 'attribution-breakdown' }),
  };
  describe(els.chart, 'Attribution chart: loading.');
  section.setAttribute('aria-labelledby', 'attribution-title');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', { id: 'attribution-title' }, 'Attribution'), els.sub),
      h(
        'div',
        { class: 'card-tools' },
        h('label', { class: 'field-inline', for: 'attribution-by' }, 'Credit by ', bySelect),
        h('label', { class: 'field-inline', for: 'attribution-stage' }, 'Conversion stage ', select),
        csvButton('attribution', {
          extra: () => Object.fromEntries(Object.entries({ ...lastQuery, by: lastQuery.by === 'channel' ? '' : lastQuery.by }).filter(([, v]) => v)),
        }),
      ),
    ),
    els.status,
    els.chart,
    els.table,
    els.breakdown,
  );
  chart = createChart(els.chart);
}

/** Fetches the period's attribution (and the previous period's when comparing) and draws it. */
let asked = 0;
// What the table shows (stage, grouping, trigger or filter): the CSV downloads the same.
let lastQuery = {};
export async function refresh(newPeriod = period, newBefore = before) {
  period = newPeriod;
  before = newBefore;
  const mine = ++asked; // another period, stage or grouping asked since: its answer wins
  try {
    // A filter on the converting journeys' first touch or device narrows it (by channel only:
    // the collector keeps credits per segment for those).
    // A trigger is credited by channel, over every visitor (credits are kept per trigger so).
    const f = segmentFilter();
    const trigger = stage.startsWith('trigger:') ? stage.slice('trigger:'.length) : '';
    const b = segmentBreakdown();
    const narrowed = trigger
      ? { trigger }
      : f && by === 'channel' && CREDIT_DIMENSIONS.has(f.dimension)
        ? { filter: `${f.dimension}:${f.value}` }
        : b && by === 'channel' && CREDIT_DIMENSIONS.has(b)
          ? { breakdown: b }
          : {};
    const onStage = trigger ? '' : stage;
    const grouped = trigger ? 'channel' : by;
    els.by.disabled = Boolean(trigger);
    // The previous period is only compared, never broken down.
    const { breakdown: _unused, ...beforeNarrowed } = narrowed;
    lastQuery = { stage: onStage, by: grouped, ...beforeNarrowed };
    const [data, previous] = await Promise.all([
      api.attribution(onStage, period, grouped, narrowed),
      before ? api.attribution(onStage, before, grouped, beforeNarrowed) : null,
    ]);
    if (mine !== asked) return;
    render(data, previous);
  } catch (err) {
    if (mine !== asked || (err && err.unauthorized)) return;
    els.chart.hidden = true;
    replace(els.status, err.notAvailable && !stage ? notAvailable('Attribution', 'GET /v1/stats/attribution') : errorNote(err, 'Attribution'));
  }
}

// Per value of the breakdown: its conversions and each channel's share under the linear model.
function renderBreakdown(breakdown) {
  if (!breakdown) {
    els.breakdown.replaceChildren();
    return;
  }
  const rows = breakdown.values || [];
  replace(
    els.breakdown,
    h('h3', { class: 'h3' }, `Conversions by ${dimensionLabel(breakdown.dimension).toLowerCase()} (linear credit by channel)`),
    rows.length
      ? h(
          'table',
          { class: 'table', testid: 'attribution-breakdown-table' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, dimensionLabel(breakdown.dimension)), h('th', { scope: 'col', class: 'num' }, 'Conversions'), h('th', { scope: 'col' }, 'Channels (linear)'))),
          h(
            'tbody',
            null,
            rows.map((v) => {
              const linear = (v.models || []).find((m) => m.model === 'linear') || { channels: [] };
              return h(
                'tr',
                { testid: 'attribution-breakdown-row' },
                h('th', { scope: 'row' }, valueLabel(v.value)),
                h('td', { class: 'num' }, num(v.conversions)),
                h('td', null, (linear.channels || []).map((c) => `${c.channel} ${pct(c.share, 0)}`).join(' · ') || '—'),
              );
            }),
          ),
        )
      : note('muted', 'No conversions in the period.'),
  );
}

function render(data, previous) {
  els.status.replaceChildren();
  renderBreakdown(data.breakdown);
  els.chart.hidden = false;
  // Conversions: all, one conversion stage, or those a trigger fired on ("trigger:<id>").
  const stages = data.conversion_stages || [];
  const triggers = data.triggers || [];
  const choices = [...stages, ...triggers.map((t) => `trigger:${t}`)];
  if (choices.join('|') !== knownStages.join('|')) {
    knownStages = choices;
    replace(
      els.select,
      h('option', { value: '' }, 'All conversion stages'),
      stages.map((s) => h('option', { value: s }, s)),
      triggers.length ? h('optgroup', { label: 'Fired the trigger' }, triggers.map((t) => h('option', { value: `trigger:${t}` }, t))) : null,
    );
    if (stage && !choices.includes(stage)) stage = '';
    els.select.value = stage;
  }
  // Rows are the values credit is grouped by (`values`; older collectors: `channels`).
  const rowsOf = (m) => (m.values || (m.channels || []).map((c) => ({ value: c.channel, credit: c.credit, share: c.share }))).map((v) => ({ channel: v.value, credit: v.credit, share: v.share }));
  const models = new Map((data.models || []).map((m) => [m.model, rowsOf(m)]));
  const byLabel = (BY.find(([id]) => id === (data.by || 'channel')) || BY[0])[1];
  const shown = (value) => (value === '' ? '(none)' : value);
  // Channels ordered by their linear credit (all models agree on the set of channels).
  const totals = new Map();
  for (const [, channels] of models) {
    for (const c of channels) totals.set(c.channel, (totals.get(c.channel) || 0) + (c.credit || 0));
  }
  const channels = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const cell = (model, channel) => (models.get(model) || []).find((c) => c.channel === channel);
  const beforeModels = previous ? new Map((previous.models || []).map((m) => [m.model, rowsOf(m)])) : null;
  const beforeCell = (model, channel) => (beforeModels.get(model) || []).find((c) => c.channel === channel);

  replace(
    els.sub,
    `${num(data.conversions)} conversions`,
    data.trigger ? ` that fired ${data.trigger}` : data.stage ? ` into ${data.stage}` : stages.length ? ` into ${stages.join(', ')}` : '',
    ` · share of credit per ${byLabel.toLowerCase()} under each model`,
    previous ? ` · before: ${num(previous.conversions)} conversions` : '',
    data.segment ? [' · ', h('strong', { testid: 'attribution-segment' }, `${dimensionLabel(data.segment.dimension)} = ${valueLabel(data.segment.value)}`)] : '',
  );

  if (!channels.length) {
    els.chart.hidden = true;
    replace(els.status, note('muted', 'No conversions with a channel yet.'));
    els.table.replaceChildren();
    describe(els.chart, 'Attribution chart: no conversions yet.');
    return;
  }

  describe(
    els.chart,
    `Grouped bar chart: share of conversion credit for ${channels.length} channels under six attribution models. ` +
      `Under linear: ${channels.map((c) => `${c} ${pct((cell('linear', c) || {}).share || 0, 0)}`).join(', ')}. The table below holds every value.`,
  );

  const maxShare = Math.max(0.1, ...[...models.values()].flat().map((c) => c.share || 0));
  if (chart) {
    chart.setOption(
      {
        ...baseOption(),
        legend: { top: 0, itemWidth: 12, itemHeight: 10, textStyle: { fontSize: 12 } },
        grid: { left: 8, right: 16, top: 34, bottom: 10, containLabel: true },
        xAxis: {
          type: 'category',
          data: channels.map(shown),
          axisTick: { show: false },
          axisLine: { lineStyle: { color: COLORS.grid } },
          axisLabel: { color: COLORS.text, fontSize: 12, interval: 0, width: 110, overflow: 'break' },
        },
        yAxis: {
          type: 'value',
          max: Math.min(100, Math.ceil((maxShare * 100 + 5) / 10) * 10),
          axisLabel: { formatter: '{value}%', color: COLORS.muted },
          splitLine: { lineStyle: { color: COLORS.grid } },
        },
        tooltip: {
          ...baseOption().tooltip,
          trigger: 'axis',
          axisPointer: { type: 'shadow' },
          formatter: (items) => {
            const list = Array.isArray(items) ? items : [items];
            const channel = list.length ? channels[list[0].dataIndex] : '';
            return tooltipBox(
              shown(channel),
              MODELS.map(([id, label]) => {
                const c = cell(id, channel);
                return [label, c ? `${pct(c.share)} (${decimal(c.credit, 2)})` : '—'];
              }),
            );
          },
        },
        series: MODELS.map(([id, label], i) => ({
          type: 'bar',
          name: label,
          barMaxWidth: 22,
          itemStyle: { color: MODEL_COLORS[i % MODEL_COLORS.length] || PALETTE[i], borderRadius: [3, 3, 0, 0] },
          data: channels.map((c) => {
            const v = cell(id, c);
            return v ? Math.round(v.share * 1000) / 10 : 0;
          }),
        })),
      },
      { lazyUpdate: true },
    );
  }

  replace(
    els.table,
    h(
      'table',
      { class: 'table', testid: 'attribution-table' },
      h('caption', { class: 'sr-only' }, 'Share of credit (credit) per channel and model'),
      h(
        'thead',
        null,
        h('tr', null, h('th', { scope: 'col' }, byLabel), MODELS.map(([, label]) => h('th', { scope: 'col', class: 'num' }, label))),
      ),
      h(
        'tbody',
        null,
        channels.map((c) =>
          h(
            'tr',
            { testid: `attribution-row-${c}` },
            h('th', { scope: 'row' }, shown(c)),
            MODELS.map(([id]) => {
              const v = cell(id, c);
              return h(
                'td',
                { class: 'num' },
                v ? pct(v.share) : '—',
                v ? h('span', { class: 'muted small' }, ` ${decimal(v.credit, 2)}`) : null,
                beforeModels ? h('span', { class: 'prev', testid: 'attribution-previous' }, ` before ${pct((beforeCell(id, c) || {}).share || 0)}`) : null,
              );
            }),
          ),
        ),
      ),
    ),
    h('p', { class: 'muted small' }, 'Share of the conversions\u2019 credit, with the credit (conversions) in grey.'),
  );
}
