// The map editor's text edits (demo/dashboard/json-edit.js): each changes only the field it
// edits and always leaves JSON, whatever the layout of the document around it.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { locate, replaceValue, setMember, appendElement, removeAt } from '../../demo/dashboard/json-edit.js';

const valid = (text) => JSON.parse(text);

test('removeAt keeps the document JSON wherever the item sits on its line', () => {
  const cases = [
    ['{\n  "stages": [{"id": "a"},\n    {"id": "b"}]\n}', 'stages[0]', { stages: [{ id: 'b' }] }],
    ['{ "id": "x",\n "version": 2 }', 'id', { version: 2 }],
    ['{\n  "a": 1,\n  "b": 2\n}', 'a', { b: 2 }],
    ['{\n  "a": 1,\n  "b": 2\n}', 'b', { a: 1 }],
    ['[1, 2, 3]', '[1]', [1, 3]],
    ['{"only": [5]}', 'only[0]', { only: [] }],
    ['{\n  "s": [\n    {"id": "a"},\n    {"id": "b"},\n    {"id": "c"}\n  ]\n}', 's[1]', { s: [{ id: 'a' }, { id: 'c' }] }],
  ];
  for (const [text, path, expected] of cases) {
    const out = removeAt(text, path);
    assert.deepEqual(valid(out), expected, `${path} of ${JSON.stringify(text)} gave ${JSON.stringify(out)}`);
  }
  // An item on its own line takes its line with it: the rest of the text is as it was.
  assert.equal(removeAt('{\n  "s": [\n    1,\n    2\n  ]\n}', 's[0]'), '{\n  "s": [\n    2\n  ]\n}');
});

test('setMember and appendElement add at the end of any container, and refuse a non-container', () => {
  assert.deepEqual(valid(setMember('{}', '', 'a', 1)), { a: 1 });
  assert.deepEqual(valid(setMember('{ "a": 1 }', '', 'b', [2])), { a: 1, b: [2] });
  assert.deepEqual(valid(appendElement('{"s": []}', 's', { id: 'x' })), { s: [{ id: 'x' }] });
  assert.deepEqual(valid(appendElement('{\n  "s": [\n    1\n  ]\n}', 's', 2)), { s: [1, 2] });
  assert.throws(() => setMember('{"a": "x"}', 'a', 'b', 2), /not an object or an array/);
  assert.throws(() => replaceValue('{"a": 1}', 'b', 2), /no b in the map/);
  // A replaced value changes nothing around it.
  const text = '{\n  "id": "x",   "version":  2,\n  "name": "keep me"\n}';
  assert.equal(replaceValue(text, 'version', 3), '{\n  "id": "x",   "version":  3,\n  "name": "keep me"\n}');
  assert.equal(locate('not json'), null);
});

test('renaming a stage renames every place that names it, and nothing else', async () => {
  const { stageReferences, renameStageReferences } = await import('../../demo/dashboard/stage-refs.js');
  const fs = await import('node:fs');
  const text = fs.readFileSync(new URL('../../core/maps/default.json', import.meta.url), 'utf8');
  const map = JSON.parse(text);
  // "advocate" is also a transition's id, and "churned" a trigger's: ids, not references.
  const renamed = setMember(text, 'stages[7]', 'id', 'promoter');
  const { text: out, renamed: places } = renameStageReferences(renamed, 'advocate', 'promoter');
  const after = JSON.parse(out);
  // transitions 7 (to), 8, 9 and 11 (from), the hero's and the CTA's customer variants.
  assert.equal(places, 6);
  assert.equal(stageReferences(map, 'advocate').length, 6);
  assert.equal(after.transitions[7].id, 'advocate', 'a transition id is not a stage reference');
  assert.deepEqual(after.transitions[7].to, 'promoter');
  assert.deepEqual(after.transitions[8].from, ['retained', 'promoter']);
  assert.deepEqual(after.content.slots[0].variants[0].when.stage, ['customer', 'retained', 'promoter']);
  assert.deepEqual(stageReferences(after, 'advocate'), []);
  // Only the renamed words changed: the same text with the new id put back.
  assert.equal(out.replaceAll('"promoter"', '"advocate"'), text);
  // sync.stages is keyed by stage: the key is renamed in place.
  const synced = renameStageReferences(setMember(text, 'stages[0]', 'id', 'visitor'), 'awareness', 'visitor');
  const syncedMap = JSON.parse(synced.text);
  assert.equal(syncedMap.initial, 'visitor');
  assert.ok(Object.hasOwn(syncedMap.sync.stages, 'visitor') && !Object.hasOwn(syncedMap.sync.stages, 'awareness'));
  assert.deepEqual(Object.keys(syncedMap.sync.stages), Object.keys(map.sync.stages).map((k) => (k === 'awareness' ? 'visitor' : k)));
  assert.equal(synced.text.replaceAll('"visitor"', '"awareness"'), text);
  // A rename onto another stage's id moves no reference (the core reports the duplicate).
  const clash = renameStageReferences(setMember(text, 'stages[1]', 'id', 'lead'), 'engaged', 'lead');
  assert.equal(clash.renamed, 0);
  assert.deepEqual(JSON.parse(clash.text).transitions[0].to, 'engaged');
});
