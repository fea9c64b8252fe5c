// 5. Content gaps: stages with traffic and drop-off but no content variant targeting them.
import { h, replace, num, duration, note, errorNote, notAvailable } from '../format.js';
import { csvButton } from '../export.js';

let els = null;

export function init(section) {
  els = {
    sub: h('p', { class: 'card-sub' }, 'Loading…'),
    status: h('div', { class: 'view-status' }),
    summary: h('div', { class: 'gap-summary', testid: 'content-gaps-summary', 'aria-live': 'polite' }),
    table: h('div', { class: 'table-wrap' }),
  };
  section.setAttribute('aria-labelledby', 'content-gaps-title');
  section.append(
    h(
      'div',
      { class: 'card-head' },
      h('div', null, h('h2', { id: 'content-gaps-title' }, 'Content gaps'), els.sub),
      h('div', { class: 'card-tools' }, csvButton('content-gaps')),
    ),
    els.status,
    els.summary,
    els.table,
  );
}

/** { gaps, previous (the previous period's, when comparing), error } */
export function render({ gaps, previous, error }) {
  if (error) {
    replace(els.status, error.notAvailable ? notAvailable('Content gaps', 'GET /v1/stats/content-gaps') : errorNote(error, 'Content gaps'));
    return;
  }
  els.status.replaceChildren();
  if (!gaps) return;
  const stages = gaps.stages || [];
  const before = previous ? new Map((previous.stages || []).map((s) => [s.id, s])) : null;
  const was = (s, key) => (before ? h('span', { class: 'prev' }, ` (${num(before.has(s.id) ? before.get(s.id)[key] : 0)})`) : null);
  const count = gaps.gaps || 0;
  replace(els.sub, 'Which stages the map\u2019s content variants speak to, and what the SDK reported showing.');
  replace(
    els.summary,
    count
      ? note(
          'warn',
          h('strong', { testid: 'content-gaps-count' }, `${num(count)} content gap${count === 1 ? '' : 's'}. `),
          'A gap is a stage with traffic and drop-off but no content variant targeting it: ',
          'visitors leave it without ever seeing content made for them. Add a variant whose ',
          h('code', null, 'when'),
          ' names the stage (map editor below).',
        )
      : note(
          'ok',
          h('strong', { testid: 'content-gaps-count' }, 'No content gaps. '),
          'Every stage with traffic and drop-off has at least one content variant targeting it.',
        ),
  );
  const head = ['Stage', 'Visitors', 'Now', 'Exits', 'Median time', 'Targeted', 'Variants', 'Shown'];
  replace(
    els.table,
    h(
      'table',
      { class: 'table', testid: 'content-gaps-table' },
      h('caption', { class: 'sr-only' }, 'Content coverage per stage, gaps first'),
      h('thead', null, h('tr', null, head.map((t, i) => h('th', { scope: 'col', class: i >= 1 && i <= 4 ? 'num' : null }, t)))),
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
            h('td', { class: 'num' }, num(s.current)),
            h('td', { class: 'num' }, num(s.exits), was(s, 'exits')),
            h('td', { class: 'num' }, duration(s.median_time_in_stage_ms)),
            h('td', null, s.targeted ? h('span', { class: 'yes' }, 'Yes') : h('span', { class: 'no' }, 'No')),
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
                      'span',
                      { class: 'muted small' },
                      ' (',
                      Object.entries(s.shown.by_slot || {})
                        .map(([slot, n]) => `${slot} ${num(n)}`)
                        .join(', '),
                      ')',
                    ),
                  ]
                : h('span', { class: 'muted' }, '0'),
            ),
          ),
        ),
      ),
    ),
  );
}
