// The event-type filter shared by the live events and the visitor timeline. Content impressions
// (content_shown) are most of the rows on a site with personalization and say little about the
// journey, so they are hidden by default; stage changes can be shown alone.
import { h } from '../format.js';

export const NOISE = new Set(['content_shown']);

const BASE = [
  ['journey', 'Without content impressions'],
  ['all', 'Every event'],
  ['changes', 'Stage changes only'],
];

/**
 * A labelled <select>; `onChange(choice)` on every change. `setNames(names)` lists the event
 * names seen so far as further choices ("name:<event>").
 */
export function eventFilter(id, onChange) {
  const select = h('select', { id, testid: id });
  let names = [];
  const fill = () => {
    const chosen = select.value || 'journey';
    select.replaceChildren(
      ...BASE.map(([value, label]) => h('option', { value }, label)),
      names.length ? h('optgroup', { label: 'One event' }, names.map((n) => h('option', { value: `name:${n}` }, n))) : null,
    );
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : 'journey';
  };
  fill();
  select.addEventListener('change', () => onChange(select.value));
  return {
    element: h('label', { class: 'view-filter', for: id }, 'Show ', select),
    get choice() {
      return select.value || 'journey';
    },
    setNames(seen) {
      const sorted = [...new Set(seen)].filter(Boolean).sort();
      if (sorted.join('\n') === names.join('\n')) return;
      names = sorted;
      fill();
    },
  };
}

/** Whether a row (its event name, and whether it is or carries a stage change) is shown. */
export function shows(choice, { name, stageChange }) {
  if (choice === 'all') return true;
  if (choice === 'changes') return Boolean(stageChange);
  if (choice.startsWith('name:')) return name === choice.slice(5);
  return stageChange || !NOISE.has(name);
}
