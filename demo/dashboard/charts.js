// ECharts helpers. echarts.min.js is loaded by a classic <script> before the modules (global
// `echarts`), copied from node_modules by scripts/build-dashboard.mjs: nothing comes from a CDN.
import { h } from './format.js';

export const COLORS = {
  before: '#2f6fd6',
  beforeSoft: '#e8f0fc',
  after: '#14916b',
  afterSoft: '#e3f4ed',
  side: '#8a94a6',
  forward: '#5b7fbf',
  backward: '#e0782f',
  loop: '#9b4dca',
  unknown: '#9aa3b2',
  live: '#8fa8d8',
  draft: '#e0782f',
  text: '#1d2433',
  muted: '#5d6779',
  grid: '#e4e8ef',
};

// Distinct, color-blind friendly enough hues for stages (Sankey) and channels (attribution).
export const PALETTE = [
  '#2f6fd6', '#14916b', '#e0782f', '#9b4dca', '#d1435b', '#1b9fb5', '#b58a12', '#5f6b7d',
  '#6d8f1f', '#c45ba0', '#3f4fa8', '#8c5a2b',
];

export function available() {
  return typeof window.echarts !== 'undefined';
}

const charts = new Set();

/** Creates an ECharts instance on `el` that follows the element's size. */
export function createChart(el) {
  if (!available()) {
    el.replaceChildren(h('p', { class: 'note note-error' }, 'Charts unavailable: echarts.min.js did not load. The tables below still hold every number.'));
    return null;
  }
  const chart = window.echarts.init(el, null, { renderer: 'canvas' });
  charts.add(chart);
  if (typeof ResizeObserver !== 'undefined') {
    let frame = 0;
    new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => chart.resize());
    }).observe(el);
  }
  return chart;
}

export function baseOption() {
  return {
    aria: { enabled: false }, // the container carries its own aria-label; tables are the text alternative
    animationDuration: 400,
    animationDurationUpdate: 400,
    textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', color: COLORS.text },
    tooltip: {
      confine: true,
      backgroundColor: '#ffffff',
      borderColor: '#d5dbe5',
      textStyle: { color: COLORS.text, fontSize: 12 },
      extraCssText: 'box-shadow: 0 4px 14px rgba(20, 30, 50, 0.12); border-radius: 6px;',
    },
  };
}

/**
 * A tooltip body built from DOM nodes (so API strings are text, never HTML).
 * rows: [[label, value], ...]
 */
export function tooltipBox(title, rows = [], footer) {
  return h(
    'div',
    { class: 'tt' },
    h('div', { class: 'tt-title' }, title),
    rows.length
      ? h(
          'table',
          { class: 'tt-rows' },
          rows.map(([k, v]) => h('tr', null, h('th', null, k), h('td', null, v))),
        )
      : null,
    footer ? h('div', { class: 'tt-foot' }, footer) : null,
  );
}

/** Sets a chart container's accessible description. */
export function describe(el, text) {
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', text);
}
