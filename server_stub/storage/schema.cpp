#include "storage/schema.h"

#include <algorithm>
#include <vector>

#include "storage/rollups.h"

namespace waymark::collector {

namespace {
// Bumped when what a rollup counts changes: the collector then recounts them at start.
constexpr int kRollupsVersion = 10;

// Times are milliseconds since the epoch. Profiles are keyed "u:<user id>" once known, else
// "a:<anonymous id>".
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Projects: the unit of isolation (their own keys, map, events, profiles, identities, stats and
-- webhooks). Every table below that holds a project's data has project_id first in its key, so
-- each can be sharded by project (docs/deploy.md). reports_version: the map version the reports
-- read while a publish's re-projection runs; NULL when none is pending (storage/rollups.h).
CREATE TABLE IF NOT EXISTS projects (
  project_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  reports_version INTEGER
);

-- Keys of the projects created through the API (the config file's keys belong to project
-- "default" and are never stored). Only a key's SHA-256 is kept: it is shown once, at creation.
-- kind: site (batches, the map) or admin (everything else of the project).
CREATE TABLE IF NOT EXISTS project_keys (
  key_hash TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  origins TEXT NOT NULL,
  server_side INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS project_keys_by_project ON project_keys (project_id);

-- Webhook endpoints of the projects created through the API (project "default"'s come from the
-- config file). triggers: a JSON array of trigger ids, empty for all.
CREATE TABLE IF NOT EXISTS project_webhooks (
  project_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  triggers TEXT NOT NULL,
  PRIMARY KEY (project_id, endpoint_id)
);

-- Every published journey map; a project's current one is its highest version. Versions are
-- numbered across projects (each version belongs to one project), so the journey rollups, keyed
-- by map version, are a project's own.
CREATE TABLE IF NOT EXISTS maps (
  version INTEGER PRIMARY KEY,
  map_id TEXT NOT NULL,
  body TEXT NOT NULL,
  etag TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  project_id TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX IF NOT EXISTS maps_by_project ON maps (project_id, version);

-- Accepted events. The primary key on (project, event id) makes ingestion idempotent.
CREATE TABLE IF NOT EXISTS events (
  project_id TEXT NOT NULL DEFAULT 'default',
  id TEXT NOT NULL,
  site_key TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  anonymous_id TEXT NOT NULL,
  user_id TEXT,
  name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  device_time INTEGER NOT NULL,
  sent_at INTEGER,
  received_at INTEGER NOT NULL,
  corrected_time INTEGER NOT NULL,
  channel TEXT,
  browser_stage TEXT,
  server_stage TEXT,
  content_hash TEXT NOT NULL,
  ip TEXT,
  body TEXT NOT NULL,
  projected INTEGER NOT NULL DEFAULT 0,
  unfiltered INTEGER NOT NULL DEFAULT 0,
  device TEXT,
  PRIMARY KEY (project_id, id)
);
-- projected: 1 once the profile's journey includes the event. unfiltered: 1 for an event a
-- browser sent without its engine (all its properties): the projection applies the sync filter
-- of the stage the journey is in at that event, then clears it. device: desktop, mobile, tablet,
-- bot or other, from the User-Agent of the request that brought it (http/device_type.h).
-- Every read of events is by id, by profile, or the live tail's by rowid: those are its only
-- indexes (each one more costs every insert; reports read the rollups).
CREATE INDEX IF NOT EXISTS events_by_profile ON events (project_id, profile_id, corrected_time);
-- A project's live tail pages by rowid (SQLite's index entries end with it).
CREATE INDEX IF NOT EXISTS events_by_project ON events (project_id);
CREATE INDEX IF NOT EXISTS events_unprojected ON events (project_id, profile_id)
  WHERE projected = 0;

-- Profiles with events their journey does not include yet. Written in the same transaction as
-- the events, so a crash between ingestion and projection loses nothing: the projector resumes.
-- full_replay, bit 1: replay the whole journey; bit 2: only for a new map version (the
-- background re-projection after a publish, which reads of the stats do not wait for). Marks
-- combine with kCombineDirtyMarks (profile_replay.h).
CREATE TABLE IF NOT EXISTS dirty_profiles (
  project_id TEXT NOT NULL DEFAULT 'default',
  profile_id TEXT NOT NULL,
  full_replay INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (project_id, profile_id)
);
-- The background re-projection's marks, counted by the overview without reading the others.
CREATE INDEX IF NOT EXISTS dirty_in_background ON dirty_profiles (project_id, profile_id)
  WHERE (full_replay & 2) <> 0;

-- Each device's clock offset (server time minus device time, from its first batch's sent_at):
-- a device's events are shifted together by it, so their order and spacing survive batches
-- that took different times on the way (ingest.cpp, StableCorrectedTime).
CREATE TABLE IF NOT EXISTS device_clocks (
  project_id TEXT NOT NULL DEFAULT 'default',
  anonymous_id TEXT NOT NULL,
  offset_ms INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, anonymous_id)
);

-- The identity graph: each anonymous id belongs to at most one known user.
CREATE TABLE IF NOT EXISTS identities (
  project_id TEXT NOT NULL DEFAULT 'default',
  anonymous_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  linked_at INTEGER NOT NULL,
  PRIMARY KEY (project_id, anonymous_id)
);
CREATE INDEX IF NOT EXISTS identities_by_user ON identities (project_id, user_id);

-- The authoritative journey state per profile, as the server's engine computed it. channel,
-- campaign: the channel and utm_campaign of the journey's first touch (empty when none);
-- converted: it reached a conversion stage of the map it was computed under; next_due: when a
-- timed transition (dormancy, churn) may fall due without a new event (NULL: never). (Comments
-- between columns stay out of the tables: SQLite keeps that text and edits it on ALTER TABLE.)
CREATE TABLE IF NOT EXISTS profiles (
  project_id TEXT NOT NULL DEFAULT 'default',
  profile_id TEXT NOT NULL,
  user_id TEXT,
  stage TEXT NOT NULL,
  stage_entered_at INTEGER,
  score REAL NOT NULL DEFAULT 0,
  first_seen INTEGER,
  last_seen INTEGER,
  event_count INTEGER NOT NULL DEFAULT 0,
  stage_mismatches INTEGER NOT NULL DEFAULT 0,
  map_version INTEGER NOT NULL,
  snapshot TEXT NOT NULL,
  state TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  next_due INTEGER,
  channel TEXT NOT NULL DEFAULT '',
  campaign TEXT NOT NULL DEFAULT '',
  converted INTEGER NOT NULL DEFAULT 0,
  source TEXT NOT NULL DEFAULT '',
  medium TEXT NOT NULL DEFAULT '',
  landing TEXT NOT NULL DEFAULT '',
  device TEXT NOT NULL DEFAULT '',
  content_seen TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (project_id, profile_id)
);
CREATE INDEX IF NOT EXISTS profiles_by_stage ON profiles (project_id, stage);
CREATE INDEX IF NOT EXISTS profiles_due ON profiles (next_due) WHERE next_due IS NOT NULL;

-- Each profile's current transition history (replaced when the profile is recomputed).
CREATE TABLE IF NOT EXISTS transitions (
  project_id TEXT NOT NULL DEFAULT 'default',
  profile_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  from_stage TEXT NOT NULL,
  to_stage TEXT NOT NULL,
  at INTEGER NOT NULL,
  event_id TEXT,
  rule TEXT NOT NULL,
  map_version INTEGER NOT NULL,
  PRIMARY KEY (project_id, profile_id, position)
);

-- Time spent per stage per profile (closed visits plus the open one up to the last event).
CREATE TABLE IF NOT EXISTS stage_times (
  project_id TEXT NOT NULL DEFAULT 'default',
  profile_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  total_ms INTEGER NOT NULL,
  visits INTEGER NOT NULL,
  PRIMARY KEY (project_id, profile_id, stage)
);

-- Attribution credits per conversion, one row per (model, channel).
CREATE TABLE IF NOT EXISTS conversions (
  project_id TEXT NOT NULL DEFAULT 'default',
  profile_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  at INTEGER NOT NULL,
  model TEXT NOT NULL,
  channel TEXT NOT NULL,
  credit REAL NOT NULL,
  touches TEXT NOT NULL DEFAULT '',
  triggers TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (project_id, profile_id, stage, at, model, channel)
);
-- triggers: the ids of the triggers that fired on the transition into the conversion stage, a
-- sorted JSON array ('' when none, and for conversions stored before schema 6).
-- touches: the channel's credit split by its touches' source and campaign, a JSON array of
-- [source, campaign, credit] ('' before schema 6: the whole credit under '' and '').

-- Webhook deliveries, written in the same transaction as the transition that caused them. The
-- unique dedupe key makes each (transition, endpoint) at most one row of its project, across
-- replays and restarts.
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id TEXT NOT NULL DEFAULT 'default',
  dedupe_key TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  trigger_id TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  last_status INTEGER,
  delivered_at INTEGER,
  UNIQUE (project_id, dedupe_key)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
-- The webhook report counts a project's deliveries created in its date range.
CREATE INDEX IF NOT EXISTS outbox_by_created ON outbox (project_id, created_at);

-- Rollups (storage/rollups.h): what the reports read, kept in the transactions that change what
-- they count. day: UTC days since 1970-01-01; a profile counts on its cohort day (its first
-- event's), an event or a conversion on the day it happened. Journey rollups are kept per map
-- version (a version is one project's): the reports read the version whose re-projection
-- finished (projects.reports_version). Event counts are per project.
-- shard: each collector writes its own rows of the event counts (reads sum them), so collectors
-- on one PostgreSQL do not queue on the row of the current day and hour.
CREATE TABLE IF NOT EXISTS rollup_events (
  project_id TEXT NOT NULL, day INTEGER NOT NULL, name TEXT NOT NULL, shard INTEGER NOT NULL,
  events INTEGER NOT NULL,
  PRIMARY KEY (project_id, day, name, shard));
CREATE TABLE IF NOT EXISTS rollup_event_hours (
  project_id TEXT NOT NULL, hour INTEGER NOT NULL, shard INTEGER NOT NULL,
  events INTEGER NOT NULL,
  PRIMARY KEY (project_id, hour, shard));
-- Profiles per map version, whatever their day: how far a re-projection got.
CREATE TABLE IF NOT EXISTS rollup_versions (
  map_version INTEGER PRIMARY KEY, profiles INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rollup_cohorts (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, profiles INTEGER NOT NULL,
  identified INTEGER NOT NULL, mismatches INTEGER NOT NULL,
  PRIMARY KEY (map_version, day));
-- h0 .. h83: profiles by their total time in the stage (storage/rollups.h, TimeBucket).
CREATE TABLE IF NOT EXISTS rollup_stages (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stage TEXT NOT NULL,
  reached INTEGER NOT NULL, current_profiles INTEGER NOT NULL, exits INTEGER NOT NULL,
  timed_profiles INTEGER NOT NULL, visits INTEGER NOT NULL, total_ms INTEGER NOT NULL,
  @TIME_BUCKETS@
  PRIMARY KEY (map_version, day, stage));
CREATE TABLE IF NOT EXISTS rollup_edges (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, from_stage TEXT NOT NULL,
  to_stage TEXT NOT NULL, transitions INTEGER NOT NULL, profiles INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, from_stage, to_stage));
CREATE TABLE IF NOT EXISTS rollup_edge_rules (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, from_stage TEXT NOT NULL,
  to_stage TEXT NOT NULL, rule TEXT NOT NULL, transitions INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, from_stage, to_stage, rule));
-- path: a JSON array of the stages entered (the map's initial stage is put in front on reading).
CREATE TABLE IF NOT EXISTS rollup_paths (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, path TEXT NOT NULL,
  truncated INTEGER NOT NULL, visitors INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, path, truncated));
-- stages: the set of stages a journey entered or sits in (every stage, however long the
-- journey), as a reach key (storage/rollups.h: a token per stage, at most 1 088 bytes): the
-- funnel's ordered progress is read from it with the map's stages and ranks.
CREATE TABLE IF NOT EXISTS rollup_reach (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stages TEXT NOT NULL,
  profiles INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, stages));
-- The same per segment of journeys: dimension is channel, source, medium, campaign, landing,
-- device (of the journey's first touch), identified ('identified' or 'anonymous') or stage (the
-- one it is in); value '' when the journey has none, cut to 200 bytes (KeyText). Each journey
-- counts once per dimension.
CREATE TABLE IF NOT EXISTS rollup_segment_reach (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, dimension TEXT NOT NULL,
  value TEXT NOT NULL, stages TEXT NOT NULL, profiles INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, dimension, value, stages));
CREATE TABLE IF NOT EXISTS rollup_segment_paths (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, dimension TEXT NOT NULL,
  value TEXT NOT NULL, path TEXT NOT NULL, truncated INTEGER NOT NULL, visitors INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, dimension, value, path, truncated));
CREATE TABLE IF NOT EXISTS rollup_content (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stage TEXT NOT NULL, slot TEXT NOT NULL,
  variant TEXT NOT NULL, shown INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, stage, slot, variant));
-- Visitors by the channel and campaign of their first touch ('' when none), and how many of them
-- reached a conversion stage.
CREATE TABLE IF NOT EXISTS rollup_acquisition (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, channel TEXT NOT NULL,
  campaign TEXT NOT NULL, visitors INTEGER NOT NULL, converted INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, channel, campaign));
CREATE TABLE IF NOT EXISTS rollup_conversions (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stage TEXT NOT NULL,
  conversions INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, stage));
-- Journeys by the content they were shown in a stage (profiles.content_seen: the stage the
-- collector's engine had them in at each content_shown, its slot and variant): how many, of them
-- how many went further than the stage (a higher rank of the map's main path: judged at
-- projection with the journey's map version), and their impressions.
CREATE TABLE IF NOT EXISTS rollup_exposure (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stage TEXT NOT NULL, slot TEXT NOT NULL,
  variant TEXT NOT NULL, profiles INTEGER NOT NULL, onward INTEGER NOT NULL,
  shown INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, stage, slot, variant));
-- The same per segment of journeys, as rollup_segment_reach.
CREATE TABLE IF NOT EXISTS rollup_segment_exposure (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, dimension TEXT NOT NULL,
  value TEXT NOT NULL, stage TEXT NOT NULL, slot TEXT NOT NULL, variant TEXT NOT NULL,
  profiles INTEGER NOT NULL, onward INTEGER NOT NULL, shown INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, dimension, value, stage, slot, variant));
-- Conversions and credits per segment of the converting journey, for the dimensions that do not
-- change once a journey converted (its first touch and device: CreditDimensions).
CREATE TABLE IF NOT EXISTS rollup_conversion_segments (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stage TEXT NOT NULL, dimension TEXT NOT NULL,
  value TEXT NOT NULL, conversions INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, stage, dimension, value));
CREATE TABLE IF NOT EXISTS rollup_credit_segments (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stage TEXT NOT NULL, model TEXT NOT NULL,
  dimension TEXT NOT NULL, value TEXT NOT NULL, channel TEXT NOT NULL,
  credit_micros INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, stage, model, dimension, value, channel));
-- Conversions and credits per trigger that fired on them (conversions.triggers).
CREATE TABLE IF NOT EXISTS rollup_conversion_triggers (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, trigger_id TEXT NOT NULL,
  conversions INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, trigger_id));
CREATE TABLE IF NOT EXISTS rollup_credit_triggers (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, trigger_id TEXT NOT NULL, model TEXT NOT NULL,
  channel TEXT NOT NULL, credit_micros INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, trigger_id, model, channel));
-- The same credits by the source and campaign of the touches (conversions.touches).
CREATE TABLE IF NOT EXISTS rollup_credit_sources (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stage TEXT NOT NULL, model TEXT NOT NULL,
  channel TEXT NOT NULL, source TEXT NOT NULL, campaign TEXT NOT NULL,
  credit_micros INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, stage, model, channel, source, campaign));
CREATE TABLE IF NOT EXISTS rollup_credits (
  map_version INTEGER NOT NULL, day INTEGER NOT NULL, stage TEXT NOT NULL, model TEXT NOT NULL,
  channel TEXT NOT NULL, credit_micros INTEGER NOT NULL,
  PRIMARY KEY (map_version, day, stage, model, channel));
)sql";

// Columns added after version 1, for databases created before them, and what depends on them.
struct AddedColumn {
  const char* table;
  const char* column;
  const char* add;       ///< the ALTER TABLE statement
  const char* after;     ///< run once the column exists (an index), or nullptr
  const char* backfill;  ///< run right after the ALTER TABLE only, or nullptr
  /// The backfill on tables keyed by project (schema 5 on), when it differs.
  const char* project_backfill = nullptr;
};
// Every stored journey replayed in the background (as after a map publish: the reports do not
// wait), to fill in a column added for it; before schema 5 and after.
constexpr const char* kReplayEveryJourney =
    "INSERT INTO dirty_profiles (profile_id, full_replay) SELECT profile_id, 3 FROM profiles "
    "ORDER BY profile_id ON CONFLICT (profile_id) DO UPDATE SET full_replay = 3";
constexpr const char* kReplayEveryJourneyOfEveryProject =
    "INSERT INTO dirty_profiles (project_id, profile_id, full_replay) SELECT project_id, "
    "profile_id, 3 FROM profiles ORDER BY project_id, profile_id "
    "ON CONFLICT (project_id, profile_id) DO UPDATE SET full_replay = 3";
constexpr AddedColumn kAddedColumns[] = {
    {"events", "unfiltered", "ALTER TABLE events ADD COLUMN unfiltered INTEGER NOT NULL DEFAULT 0",
     nullptr, nullptr},
    // Profiles stored before time passed on the server are all looked at once (due at 0): the
    // periodic pass advances them, 10 000 per interval, and stores their real next_due.
    {"profiles", "next_due", "ALTER TABLE profiles ADD COLUMN next_due INTEGER",
     "CREATE INDEX IF NOT EXISTS profiles_due ON profiles (next_due) WHERE next_due IS NOT NULL",
     "UPDATE profiles SET next_due = 0"},
    // Journeys stored before these are replayed in the background to fill them in (as after a
    // map publish: the reports do not wait for it).
    {"profiles", "channel", "ALTER TABLE profiles ADD COLUMN channel TEXT NOT NULL DEFAULT ''",
     nullptr, kReplayEveryJourney, kReplayEveryJourneyOfEveryProject},
    {"profiles", "campaign", "ALTER TABLE profiles ADD COLUMN campaign TEXT NOT NULL DEFAULT ''",
     nullptr, nullptr},
    {"profiles", "converted",
     "ALTER TABLE profiles ADD COLUMN converted INTEGER NOT NULL DEFAULT 0", nullptr, nullptr},
    // Schema 6: the rest of the first touch (breakdowns). Journeys stored before are replayed in
    // the background to fill them in; events stored before have no device.
    {"events", "device", "ALTER TABLE events ADD COLUMN device TEXT", nullptr, nullptr},
    {"profiles", "source", "ALTER TABLE profiles ADD COLUMN source TEXT NOT NULL DEFAULT ''",
     nullptr, kReplayEveryJourney, kReplayEveryJourneyOfEveryProject},
    {"profiles", "medium", "ALTER TABLE profiles ADD COLUMN medium TEXT NOT NULL DEFAULT ''",
     nullptr, nullptr},
    {"profiles", "landing", "ALTER TABLE profiles ADD COLUMN landing TEXT NOT NULL DEFAULT ''",
     nullptr, nullptr},
    {"profiles", "device", "ALTER TABLE profiles ADD COLUMN device TEXT NOT NULL DEFAULT ''",
     nullptr, nullptr},
    // Schema 7: content shown with impressions and whether the journey went further (it replaces
    // schema 6's profiles.exposures, left unread in databases that have it).
    {"profiles", "content_seen",
     "ALTER TABLE profiles ADD COLUMN content_seen TEXT NOT NULL DEFAULT ''", nullptr,
     kReplayEveryJourney, kReplayEveryJourneyOfEveryProject},
    {"conversions", "triggers",
     "ALTER TABLE conversions ADD COLUMN triggers TEXT NOT NULL DEFAULT ''", nullptr, nullptr},
    {"conversions", "touches",
     "ALTER TABLE conversions ADD COLUMN touches TEXT NOT NULL DEFAULT ''", nullptr, nullptr},
};

/// The schema text with rollup_stages' time-bucket columns written out.
std::string SqliteSchema() {
  std::string columns;
  for (int k = 0; k < kTimeBuckets; ++k) {
    columns += "h" + std::to_string(k) + " INTEGER NOT NULL DEFAULT 0,";
    columns += (k % 6 == 5) ? "\n  " : " ";
  }
  std::string out = kSchema;
  const std::string marker = "@TIME_BUCKETS@";
  out.replace(out.find(marker), marker.size(), columns);
  return out;
}

/// The schema in PostgreSQL's types: its INTEGER is 32 bits (times are milliseconds) and its REAL
/// 4 bytes; SQLite reads BIGINT and DOUBLE PRECISION as the same INTEGER and REAL, but its rowid
/// alias must be spelled INTEGER PRIMARY KEY, so the SQLite text is the source.
std::string PostgresSchema() {
  std::string out = SqliteSchema();
  auto replace_all = [&out](const std::string& from, const std::string& to) {
    for (std::size_t at = out.find(from); at != std::string::npos;
         at = out.find(from, at + to.size())) {
      out.replace(at, from.size(), to);
    }
  };
  replace_all("INTEGER PRIMARY KEY AUTOINCREMENT",
              "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY");
  replace_all(" INTEGER", " BIGINT");
  replace_all(" REAL", " DOUBLE PRECISION");
  // Rollup rows are counters updated in place: room on their pages lets PostgreSQL update them
  // without new index entries (HOT), which keeps the tables and their keys compact.
  for (std::size_t at = out.find("CREATE TABLE IF NOT EXISTS rollup_"); at != std::string::npos;
       at = out.find("CREATE TABLE IF NOT EXISTS rollup_", at + 1)) {
    std::size_t open = out.find('(', at);
    int depth = 0;
    std::size_t close = open;
    for (; close < out.size(); ++close) {
      if (out[close] == '(') ++depth;
      if (out[close] == ')' && --depth == 0) break;
    }
    out.insert(close + 1, " WITH (fillfactor = 70)");
  }
  replace_all("events_by_project ON events (project_id)",
              "events_by_project ON events (project_id, rowid)");
  // SQLite's implicit rowid is the recent-events cursor (recent_events.cpp): the same name here.
  replace_all(
      "CREATE TABLE IF NOT EXISTS events (\n",
      "CREATE TABLE IF NOT EXISTS events (\n  rowid BIGINT GENERATED ALWAYS AS IDENTITY,\n");
  // The guarded JSON string read that SQLite's json_valid/json_type/json_extract give
  // (storage/sql_dialect.h): NULL for anything but a string, and for a body PostgreSQL cannot read.
  out += R"sql(
CREATE OR REPLACE FUNCTION waymark_json_string(doc text, VARIADIC path text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE v json;
BEGIN
  v := doc::json #> path;
  IF json_typeof(v) = 'string' THEN RETURN v #>> '{}'; END IF;
  RETURN NULL;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $$;
)sql";
  return out;
}

bool HasColumn(Database& db, const std::string& table, const std::string& column,
               std::string* error) {
  auto q = db.Prepare(db.dialect() == Dialect::kSqlite
                          ? "SELECT 1 FROM pragma_table_info(?) WHERE name = ?"
                          : "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                            "current_schema() AND table_name = ? AND column_name = ?");
  if (!q.ok()) {
    *error = q.error();
    return false;
  }
  q.Bind(1, table).Bind(2, column);
  const bool present = q.Step();
  if (q.failed()) *error = q.error();
  q.Reset();
  return present;
}

std::optional<std::string> AddMissingColumns(Database& db) {
  std::string error;
  const bool keyed_by_project = HasColumn(db, "dirty_profiles", "project_id", &error);
  for (const AddedColumn& c : kAddedColumns) {
    const bool present = HasColumn(db, c.table, c.column, &error);
    if (!error.empty()) return error;
    if (!present) {
      if (auto err = db.Exec(c.add)) return err;
      const char* backfill =
          keyed_by_project && c.project_backfill != nullptr ? c.project_backfill : c.backfill;
      if (backfill != nullptr) {
        if (auto err = db.Exec(backfill)) return err;
      }
    }
    if (c.after != nullptr) {
      if (auto err = db.Exec(c.after)) return err;
    }
  }
  return std::nullopt;
}

// Tables that gained project_id first in their keys (schema 5). A database made before projects
// has them keyed without it: its rows become project "default"'s.
constexpr const char* kProjectTables[] = {"events",      "dirty_profiles", "device_clocks",
                                          "identities",  "profiles",       "transitions",
                                          "stage_times", "conversions",    "outbox"};

std::vector<std::string> ColumnsOf(Database& db, const std::string& table, std::string* error) {
  std::vector<std::string> out;
  auto q = db.Prepare(db.dialect() == Dialect::kSqlite
                          ? "SELECT name FROM pragma_table_info(?) ORDER BY cid"
                          : "SELECT column_name FROM information_schema.columns WHERE "
                            "table_schema = current_schema() AND table_name = ? AND "
                            "is_identity = 'NO' ORDER BY ordinal_position");
  q.Bind(1, table);
  ForEachRow(q, error, [&](Statement& row) { out.push_back(row.Text(0)); });
  return out;
}

// Before schema 5: every keyed table is renamed (its own indexes dropped, their names are taken
// again), the new tables are made, and the rows copied in as project "default"'s; in one
// transaction with the schema's creation, so a failure leaves the file as it was.
std::optional<std::string> MoveIntoDefaultProject(Database& db, const std::string& schema) {
  std::string error;
  for (const char* table : kProjectTables) {
    auto indexes = db.Prepare(db.dialect() == Dialect::kSqlite
                                  ? "SELECT name FROM sqlite_master WHERE type = 'index' AND "
                                    "tbl_name = ? AND sql IS NOT NULL"
                                  : "SELECT indexname FROM pg_indexes WHERE schemaname = "
                                    "current_schema() AND tablename = ? AND indexname NOT IN "
                                    "(SELECT conname FROM pg_constraint)");
    indexes.Bind(1, table);
    std::vector<std::string> names;
    if (!ForEachRow(indexes, &error, [&](Statement& q) { names.push_back(q.Text(0)); })) {
      return error;
    }
    for (const std::string& name : names) {
      if (auto err = db.Exec("DROP INDEX " + name)) return err;
    }
    if (auto err = db.Exec(std::string("ALTER TABLE ") + table + " RENAME TO " + table + "_v4")) {
      return err;
    }
  }
  if (!HasColumn(db, "maps", "project_id", &error)) {
    if (!error.empty()) return error;
    if (auto err = db.Exec("ALTER TABLE maps ADD COLUMN project_id TEXT NOT NULL DEFAULT "
                           "'default'")) {
      return err;
    }
  }
  if (auto err = db.Exec(schema)) return err;
  for (const char* table : kProjectTables) {
    const std::string old = std::string(table) + "_v4";
    std::vector<std::string> old_columns = ColumnsOf(db, old, &error);
    std::vector<std::string> new_columns = ColumnsOf(db, table, &error);
    if (!error.empty()) return error;
    std::string list;
    for (const std::string& c : old_columns) {
      if (std::find(new_columns.begin(), new_columns.end(), c) == new_columns.end()) continue;
      list += (list.empty() ? "" : ", ") + c;
    }
    // PostgreSQL's identity columns (events.rowid, outbox.id) are numbered again, in the old order
    // (deliveries go out by outbox id; a live tail's cursor from before restarts).
    std::string order;
    if (db.dialect() == Dialect::kPostgres && std::string(table) == "events")
      order = " ORDER BY rowid";
    if (db.dialect() == Dialect::kPostgres && std::string(table) == "outbox")
      order = " ORDER BY id";
    if (auto err = db.Exec(std::string("INSERT INTO ") + table + " (project_id, " + list +
                           ") SELECT 'default', " + list + " FROM " + old + order)) {
      return err;
    }
    if (auto err = db.Exec("DROP TABLE " + old)) return err;
  }
  // The map version the reports read during a re-projection moves from meta to the project.
  auto held = db.Prepare("SELECT value FROM meta WHERE key = 'reports_version'");
  if (held.Step()) {
    auto move = db.Prepare(
        "INSERT INTO projects (project_id, name, created_at, reports_version) "
        "VALUES ('default', 'Default', ?, ?) ON CONFLICT (project_id) DO UPDATE SET "
        "reports_version = excluded.reports_version");
    move.Bind(1, static_cast<std::int64_t>(0))
        .Bind(2, static_cast<std::int64_t>(std::stoll("0" + held.Text(0))));
    held.Reset();
    if (!move.Run()) return move.error();
    if (auto err = db.Exec("DELETE FROM meta WHERE key = 'reports_version'")) return err;
  }
  return error.empty() ? std::nullopt : std::optional<std::string>(error);
}

std::optional<std::string> MigrateToProjects(Database& db, const std::string& schema) {
  std::string error;
  const bool has_events = !ColumnsOf(db, "events", &error).empty();
  if (!error.empty()) return error;
  if (!has_events || HasColumn(db, "events", "project_id", &error)) return std::nullopt;
  if (!error.empty()) return error;
  // Columns of releases before schema 4 first, with their backfills, then the move.
  if (auto err = AddMissingColumns(db)) return err;
  if (auto err = db.BeginWrite()) return err;
  auto err = MoveIntoDefaultProject(db, schema);
  if (!err) err = db.Exec("COMMIT");
  if (err) db.Exec("ROLLBACK");
  return err;
}

std::optional<std::string> Migrate(Database& db) {
  const std::string schema = db.dialect() == Dialect::kSqlite ? SqliteSchema() : PostgresSchema();
  if (auto err = MigrateToProjects(db, schema)) return "schema: projects: " + *err;
  if (auto err = db.Exec(schema)) return "schema: " + *err;
  if (auto err = AddMissingColumns(db)) return "schema: " + *err;
  // Project "default" always exists: the config file's keys and webhooks are its.
  auto project = db.Prepare(
      "INSERT INTO projects (project_id, name, created_at) VALUES ('default', 'Default', 0) "
      "ON CONFLICT (project_id) DO NOTHING");
  if (!project.Run()) return "schema: " + project.error();
  // A database made before rollups (or by a release that kept others) gets them counted once.
  auto rollups = db.Prepare("SELECT value FROM meta WHERE key = 'rollups_version'");
  const bool current = rollups.Step() && rollups.Text(0) == std::to_string(kRollupsVersion);
  rollups.Reset();
  if (!current) {
    // One transaction: a recount stopped half-way is never taken for a finished one. Tables of
    // another rollups version may have other keys: they are made again.
    if (auto err = db.BeginWrite()) return "schema: " + *err;
    std::optional<std::string> err;
    for (const std::string& table : RollupTableNames()) {
      if (!err) err = db.Exec("DROP TABLE IF EXISTS " + table);
    }
    if (!err) {
      err = db.Exec(db.dialect() == Dialect::kSqlite ? SqliteSchema() : PostgresSchema());
    }
    if (!err) err = RebuildRollups(db);
    if (!err) {
      auto mark = db.Prepare(
          "INSERT INTO meta (key, value) VALUES ('rollups_version', ?) "
          "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
      mark.Bind(1, std::to_string(kRollupsVersion));
      if (!mark.Run()) err = mark.error();
    }
    if (!err) err = db.Exec("COMMIT");
    if (err) {
      db.Exec("ROLLBACK");
      return "schema: " + *err;
    }
  }
  auto stmt = db.Prepare(
      "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  stmt.Bind(1, std::to_string(kSchemaVersion));
  if (!stmt.Run()) return "schema: " + stmt.error();
  return std::nullopt;
}
}  // namespace

std::optional<std::string> CollationWarning(Database& db) {
  if (db.dialect() != Dialect::kPostgres) return std::nullopt;
  auto q = db.Prepare("SELECT datcollate FROM pg_database WHERE datname = current_database()");
  if (!q.Step()) return std::nullopt;
  const std::string collation = q.Text(0);
  if (collation == "C" || collation == "POSIX") return std::nullopt;
  return "the database's collation is " + collation +
         ", not C: text sorts differently from SQLite (create it with TEMPLATE template0 "
         "LC_COLLATE 'C' LC_CTYPE 'C'; docs/deploy.md)";
}

std::optional<std::string> MigrateSchema(Database& db) {
  if (db.dialect() == Dialect::kSqlite) return Migrate(db);
  // Collectors starting together on one PostgreSQL migrate one at a time (CREATE ... IF NOT EXISTS
  // is not safe against a concurrent CREATE of the same table).
  // Two-number keys: a space of their own, apart from the device locks' single-number keys
  // (storage/device_locks.cpp), which a publish or a migration must never hold up.
  if (auto err = db.Exec("SELECT pg_advisory_lock(7411, 1)")) return "schema: " + *err;
  std::optional<std::string> err = Migrate(db);
  db.Exec("SELECT pg_advisory_unlock(7411, 1)");
  return err;
}

}  // namespace waymark::collector
