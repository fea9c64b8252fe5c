// A database made by the release before projects (schema 4) keeps working: started on it, the
// collector moves every row into project "default" and every report and profile reads as the old
// release answered them. The expected answers (fixtures/*.reports.json) were recorded from the
// release that made the SQLite file, started on a copy with the same flags as here. On PostgreSQL
// the same rows are loaded from a dump of a database whose schema that release made
// (fixtures/README.md).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import {
  ADMIN,
  BACKEND,
  ROOT,
  adminHeaders,
  databaseFor,
  get,
  makeEvent,
  makeTempDir,
  postBatch,
  runSql,
  startCollector,
  stopCollector,
  verifyRollups,
} from './helpers.mjs';

const FIXTURES = path.join(ROOT, 'tests', 'collector', 'fixtures');
const FILE = path.join(FIXTURES, 'waymark-2026-12-06-039c563.db');
const DUMP = path.join(FIXTURES, 'waymark-2026-12-06-a797fcc.pg.sql');
const EXPECTED = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'waymark-2026-12-06-039c563.reports.json'), 'utf8'));

// What depends on the moment of reading (decayed scores, the last 24 hours), as left out of the
// recorded answers.
function timeless(name, body) {
  const out = structuredClone(body);
  if (name === 'overview') {
    delete out.now;
    delete out.events_last_24h;
  }
  if (name === 'profile') {
    delete out.score;
    for (const b of out.score_breakdown ?? []) delete b.points;
  }
  return out;
}

// What a later release redefined on purpose, left out of both sides: what a content gap is (it
// was "no variant names the stage"; it is now "lost visitors and little stage content shown",
// issue 15), and with it the order of the stages (gaps first). Every other field of every stage
// is still compared, by stage id.
function redefined(name, body) {
  if (name !== 'content-gaps') return body;
  const out = structuredClone(body);
  delete out.gaps;
  out.stages = (out.stages ?? []).map((st) => {
    const copy = { ...st };
    delete copy.gap;
    return copy;
  }).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}

// `actual` cut to the fields the recorded answer has: a later release may add fields (the
// funnel's ordered progress), never change or drop one.
function recordedFields(actual, recorded) {
  if (Array.isArray(recorded) && Array.isArray(actual)) {
    return actual.map((item, i) => (i < recorded.length ? recordedFields(item, recorded[i]) : item));
  }
  if (recorded && typeof recorded === 'object' && actual && typeof actual === 'object' && !Array.isArray(actual)) {
    return Object.fromEntries(Object.keys(actual).filter((k) => k in recorded).map((k) => [k, recordedFields(actual[k], recorded[k])]));
  }
  return actual;
}

let srv;

before(async () => {
  const dir = makeTempDir('migration');
  if (BACKEND === 'sqlite') {
    fs.copyFileSync(FILE, path.join(dir, 'waymark.db'));
  } else {
    const { PG_BIN } = await import('./postgres.mjs');
    const url = await databaseFor(dir);
    await promisify(execFile)(path.join(PG_BIN, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', DUMP]);
  }
  // The flags the file was made and recorded with; time does not pass for idle visitors, so the
  // stages stay those of the recording whatever the day the test runs.
  srv = await startCollector({
    dir,
    siteKeys: ['KEY'],
    serverSide: ['KEY'],
    webhooks: ['crm,http://127.0.0.1:9/hook,secret,became_customer'],
    extraArgs: ['--advance-interval', '0'],
  });
});

after(async () => {
  if (!srv) return;
  const { code } = await stopCollector(srv);
  assert.equal(code, 0, srv.stderr);
});

describe(`a schema 4 database (${BACKEND})`, () => {
  it('is moved into project "default" in place', async () => {
    assert.equal(await runSql(srv, "SELECT value FROM meta WHERE key = 'schema_version'"), '7');
    assert.equal(await runSql(srv, 'SELECT project_id FROM projects'), 'default');
    for (const table of ['events', 'profiles', 'identities', 'transitions', 'stage_times', 'device_clocks']) {
      const rows = await runSql(srv, `SELECT project_id, COUNT(*) FROM ${table} GROUP BY project_id`);
      assert.match(rows, /^default\|\d+$/, `${table}: ${rows}`);
    }
    assert.equal(await runSql(srv, 'SELECT COUNT(*) FROM events'), '90');
    assert.equal(await runSql(srv, 'SELECT COUNT(*) FROM profiles'), '22');
    const leftOver =
      BACKEND === 'sqlite'
        ? "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%_v4'"
        : "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '%_v4'";
    assert.equal(await runSql(srv, leftOver), '0');
  });

  it('answers every report as the release that made it did', async () => {
    for (const [name, recorded] of Object.entries(EXPECTED.reports)) {
      const res = await get(srv, `/v1/stats/${name}?${EXPECTED.range}`, adminHeaders(ADMIN));
      assert.equal(res.status, 200, `${name}: ${res.text}`);
      const actual = redefined(name, timeless(name, res.json));
      const expected = redefined(name, recorded);
      assert.deepEqual(recordedFields(actual, expected), expected, name);
    }
  });

  it('answers every profile as before', async () => {
    for (const [id, expected] of Object.entries(EXPECTED.profiles)) {
      const res = await get(srv, `/v1/profiles/${encodeURIComponent(id.slice(2))}`, adminHeaders(ADMIN));
      assert.equal(res.status, 200, `${id}: ${res.text}`);
      assert.deepEqual(recordedFields(timeless('profile', res.json), expected), expected, id);
    }
  });

  it('keeps its rollups equal to a recount and takes new events into the old journeys', async () => {
    const check = await verifyRollups(srv);
    assert.equal(check.code, 0, check.out);
    const [id] = Object.keys(EXPECTED.profiles).filter((p) => p.startsWith('a:'));
    const anon = id.slice(2);
    const res = await postBatch(srv, { sent_at: Date.now(), events: [makeEvent({ anonymous_id: anon })] });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.accepted, 1, res.text);
    const profile = await get(srv, `/v1/profiles/${anon}`, adminHeaders(ADMIN));
    assert.equal(profile.json.event_count, EXPECTED.profiles[id].event_count + 1);
  });
});
