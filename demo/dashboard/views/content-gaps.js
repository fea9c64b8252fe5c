// 5. Content gaps: per stage, the visitors it lost (went no further) and the content they were
// shown there; a stage that lost visitors and showed them little or no content made for a stage
// is a gap, ranked by lost visitors (GET /v1/stats/content-gaps).
import { h, replace, num, pct, decimal, duration, note, errorNote, notAvailable } from '../format.js';
import { csvButton } from '../export.js';
import { dimensionLabel, valueLabel, params as segmentParams } from '../segment.js';

let els = null;
let shownBreakdown = ''; // the dimension of the breakdown drawn (its CSV is that one)

export function init(section) {
  els = {
    sub: h('p', { class: 'card-sub' }, 'Loading…'),
    status: h('div', { class: 'view-status' }),
    summary: h('div', { class: 'gap-summary', testid: 'content-gaps-summary', 'aria-live': 'polite' }),
    table: h('div', { class: 'table-wrap' }),
    breakdown: h('div', { class: 'table-wrap', testid: 'gap-breakdown' }),
    breakdownCsv: csvButton('content-gaps', { label: 'Breakdown CSV', testid: 'csv-content-gaps-breakdown', extra: () => ({ breakdown: shownBreakdown, table: 'breakdown' }) }),
  };
  els.breakdownCsv.hidden = true;
  section.setAttribute('aria-labelledby', 'content-gaps-title');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', { id: 'content-gaps-title' }, 'Content gaps'), els.sub),
      h('div', { class: 'card-tools' }, csvButton('content-gaps', { extra: () => (segmentParams().filter ? segmentParams() : {}) }), els.breakdownCsv),
    ),
    els.status,
    els.summary,
    els.table,
    els.breakdown,
  );
}

/** { gaps, previous (the previous period's, when comparing), error } */
export function render({ gaps, previous, error }) {
  if (error) {
    replace(els.status, error.notAvailable ? notAvailable('Content gaps', 'GET /v1/stats/content-gaps') : errorNote(error, 'Content gaps'));
    // What is still shown is the last answer's: no segment or breakdown it may not match.
    replace(els.sub, 'Where visitors stopped, and what content they were shown there.');
    renderBreakdown(null, []);
    return;
  }
  els.status.replaceChildren();
  if (!gaps) return;
  const stages = gaps.stages || [];
  const before = previous ? new Map((previous.stages || []).map((s) => [s.id, s])) : null;
  const was = (s, key) => (before ? h('span', { class: 'prev' }, ` (${num(before.has(s.id) ? before.get(s.id)[key] : 0)})`) : null);
  const count = gaps.gaps || 0;
  replace(els.sub, 'Where visitors stopped, and what content they were shown there.');
  if (gaps.segment) {
    els.sub.append(
      ' · ',
      h('strong', { testid: 'content-gaps-segment' }, `${dimensionLabel(gaps.segment.dimension)} = ${valueLabel(gaps.segment.value)}`),
      ' (their own impressions; time in stage and side stages are not kept per segment)',
    );
  }
  renderBreakdown(gaps.breakdown, stages);
  replace(
    els.summary,
    count
      ? note(
          'warn',
          h('strong', { testid: 'content-gaps-count' }, `${num(count)} content gap${count === 1 ? '' : 's'}: `),
          h('span', { testid: 'content-gaps-lost' }, `${num(gaps.lost_in_gaps)} visitors lost`),
          ' in stages that showed them little or no content made for them (under one impression for every two visitors). ',
          'Add a variant whose ',
          h('code', null, 'when'),
          ' names the stage, or widen one that rarely shows (map editor below).',
        )
      : note(
          'ok',
          h('strong', { testid: 'content-gaps-count' }, 'No content gaps. '),
          'Every stage that lost visitors showed them content made for it.',
        ),
  );
  const head = ['Stage', 'Visitors', 'Lost', 'Went further', 'Median time', 'Stage content per visitor', 'Targeted by', 'Shown (by variant)', 'Went further, shown vs not'];
  const numeric = new Set([1, 2, 3, 4, 5]);
  replace(
    els.table,
    h(
      'table',
      { class: 'table', testid: 'content-gaps-table' },
      h('caption', { class: 'sr-only' }, 'Content per stage, gaps first by lost visitors'),
      h('thead', null, h('tr', null, head.map((t, i) => h('th', { scope: 'col', class: numeric.has(i) ? 'num' : null }, t)))),
      h(
        'tbody',
        null,
        stages.map((s) =>
          h(
            'tr',
            { testid: `gap-row-${s.id}`, class: s.gap ? 'gap-row' : null, dataset: { gap: String(!!s.gap) } },
            h(
              'th',
              { scope: 'row' },
              s.gap ? h('span', { class: 'badge badge-warn' }, 'Gap') : null,
              s.name || s.id,
              s.rank < 0 ? h('span', { class: 'muted small' }, ' side') : null,
            ),
            h('td', { class: 'num' }, num(s.visitors), was(s, 'visitors')),
            h('td', { class: 'num', testid: `gap-lost-${s.id}` }, num(s.lost), was(s, 'lost')),
            h('td', { class: 'num', testid: `gap-onward-${s.id}` }, s.onward_rate === null || s.onward_rate === undefined ? '—' : pct(s.onward_rate, 0)),
            h('td', { class: 'num' }, duration(s.median_time_in_stage_ms)),
            h('td', { class: 'num', testid: `gap-per-visitor-${s.id}` }, s.stage_content_per_visitor === null || s.stage_content_per_visitor === undefined ? '—' : decimal(s.stage_content_per_visitor, 2)),
            h(
              'td',
              null,
              (s.variants || []).length
                ? h('ul', { class: 'inline-list' }, s.variants.map((v) => h('li', null, h('code', null, `${v.slot}/${v.variant}`))))
                : h('span', { class: 'muted' }, '—'),
            ),
            h(
              'td',
              null,
              s.shown && s.shown.total
                ? [
                    h('strong', null, num(s.shown.total)),
                    h(
                      'ul',
                      { class: 'inline-list small' },
                      (s.shown.by_variant || []).map((v) => h('li', null, h('code', null, `${v.slot}/${v.variant}`), ` ${num(v.shown)}`)),
                    ),
                  ]
                : h('span', { class: 'muted' }, '0'),
            ),
            // Did content help? Of the visitors shown a variant here, how many went further,
            // against the stage's visitors not shown it.
            h(
              'td',
              { testid: `gap-variants-onward-${s.id}` },
              (s.variants_onward || []).length
                ? h(
                    'ul',
                    { class: 'inline-list small' },
                    s.variants_onward.map((v) =>
                      h(
                        'li',
                        { testid: 'gap-variant-onward' },
                        h('code', null, `${v.slot}/${v.variant}`),
                        ` ${pct(v.onward_rate, 0)} of ${num(v.visitors)} vs ${pct(v.without.onward_rate, 0)} of ${num(v.without.visitors)}`,
                      ),
                    ),
                  )
                : h('span', { class: 'muted' }, '—'),
            ),
          ),
        ),
      ),
    ),
  );
}

// Content gaps per value of a dimension: per stage, the visitors each value lost there and the
// stage content they were shown per visitor; a gap for that value is marked.
function renderBreakdown(breakdown, stages) {
  els.breakdownCsv.hidden = !breakdown;
  shownBreakdown = breakdown ? breakdown.dimension : '';
  if (!breakdown) {
    els.breakdown.replaceChildren();
    return;
  }
  const values = breakdown.values || [];
  const order = stages.map((s) => s.id);
  const cell = (value, id) => (value.stages || []).find((s) => s.id === id);
  replace(
    els.breakdown,
    h('h3', { class: 'h3' }, `Lost visitors and stage content, by ${dimensionLabel(breakdown.dimension).toLowerCase()}`),
    h('p', { class: 'muted small' }, "Each value's own visitors and the impressions they were shown; side stages are not kept per value."),
    values.length
      ? h(
          'table',
          { class: 'table', testid: 'gap-breakdown-table' },
          h('caption', { class: 'sr-only' }, `Content gaps by ${dimensionLabel(breakdown.dimension)}`),
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', { scope: 'col' }, 'Stage'),
              values.map((v, i) =>
                h(
                  'th',
                  { scope: 'col', class: 'num', testid: `gap-breakdown-value-${i}` },
                  valueLabel(v.value),
                  h('div', { class: 'prev' }, `${num(v.total_profiles)} visitors · ${num(v.gaps)} gap${v.gaps === 1 ? '' : 's'}`),
                ),
              ),
            ),
          ),
          h(
            'tbody',
            null,
            order.map((id) => {
              const name = (stages.find((s) => s.id === id) || {}).name || id;
              return h(
                'tr',
                null,
                h('th', { scope: 'row' }, name),
                values.map((v, i) => {
                  const c = cell(v, id);
                  if (!c) return h('td', { class: 'num' }, '—');
                  return h(
                    'td',
                    { class: `num${c.gap ? ' gap-cell' : ''}`, testid: `gap-breakdown-${i}-${id}`, dataset: { gap: String(!!c.gap) } },
                    c.gap ? h('span', { class: 'badge badge-warn' }, 'Gap') : null,
                    c.lost === null || c.lost === undefined ? ' —' : ` ${num(c.lost)} lost`,
                    h('div', { class: 'prev' }, c.stage_content_per_visitor === null || c.stage_content_per_visitor === undefined ? '—' : `${decimal(c.stage_content_per_visitor, 2)} per visitor`),
                  );
                }),
              );
            }),
          ),
        )
      : note('muted', 'No visitors in this period.'),
  );
}
