// Where a journey map names a stage by its id, besides the stage itself: the initial stage,
// transitions' `from` and `to`, triggers' `on.from` and `on.to`, `attribution.conversions`, the
// `stage` of any condition (transitions, content variants, triggers, scoring rules: wherever
// one sits, however nested in all/any/not) and the keys of `sync.stages`. Renaming a stage in
// the visual editor renames it there too, so the map stays valid. Ids of transitions, triggers
// or variants that happen to equal a stage's id are not references.
import { replaceValue, renameKey } from './json-edit.js';

/** [{ path, key }] of every reference to stage `id` in `map` (key: a member name, not a value). */
export function stageReferences(map, id) {
  const out = [];
  if (!map || typeof map !== 'object') return out;
  const named = (value, path) => {
    if (value === id) out.push({ path, key: false });
    else if (Array.isArray(value)) value.forEach((v, k) => v === id && out.push({ path: `${path}[${k}]`, key: false }));
  };
  if (map.initial === id) out.push({ path: 'initial', key: false });
  (Array.isArray(map.transitions) ? map.transitions : []).forEach((t, i) => {
    if (!t || typeof t !== 'object') return;
    named(t.from, `transitions[${i}].from`);
    named(t.to, `transitions[${i}].to`);
  });
  (Array.isArray(map.triggers) ? map.triggers : []).forEach((t, i) => {
    if (t && t.on && typeof t.on === 'object') {
      named(t.on.from, `triggers[${i}].on.from`);
      named(t.on.to, `triggers[${i}].on.to`);
    }
  });
  if (map.attribution && typeof map.attribution === 'object') named(map.attribution.conversions, 'attribution.conversions');
  const syncStages = map.sync && map.sync.stages;
  if (syncStages && typeof syncStages === 'object' && !Array.isArray(syncStages) && Object.hasOwn(syncStages, id)) {
    out.push({ path: `sync.stages.${id}`, key: true });
  }
  // Conditions: a member named "stage" anywhere but in the stages list itself.
  const walk = (value, path) => {
    if (Array.isArray(value)) value.forEach((v, k) => walk(v, `${path}[${k}]`));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        const at = path ? `${path}.${k}` : k;
        if (k === 'stage') named(v, at);
        else if (!(path === '' && k === 'stages')) walk(v, at);
      }
    }
  };
  walk(map, '');
  return out;
}

/**
 * `text` (a map whose stage was just renamed from `from` to `to`) with every reference to `from`
 * renamed too, and the count of places. Nothing is renamed when two stages now have the id `to`
 * (the core reports the duplicate; references are not moved onto another stage).
 */
export function renameStageReferences(text, from, to) {
  const map = JSON.parse(text);
  const stages = Array.isArray(map.stages) ? map.stages : [];
  if (from === to || stages.filter((s) => s && s.id === to).length > 1) return { text, renamed: 0 };
  let out = text;
  const refs = stageReferences(map, from);
  for (const ref of refs) out = ref.key ? renameKey(out, ref.path, to) : replaceValue(out, ref.path, to);
  return { text: out, renamed: refs.length };
}
