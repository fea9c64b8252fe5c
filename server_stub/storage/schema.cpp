#include "storage/schema.h"

#include "storage/rollups.h"

namespace waymark::collector {

namespace {
// Bumped when what a rollup counts changes: the collector then recounts them at start.
constexpr int kRollupsVersion = 5;

// Times are milliseconds since the epoch. Profiles are keyed "u:<user id>" once known, else
// "a:<anonymous id>".
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Every published journey map; the current one is the highest version.
CREATE TABLE IF NOT EXISTS maps (
  version INTEGER PRIMARY KEY,
  map_id TEXT NOT NULL,
  body TEXT NOT NULL,
  etag TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

-- Accepted events. The primary key on the event id makes ingestion idempotent.
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
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
  projected INTEGER NOT NULL DEFAULT 0,  -- 1 once the profile's journey includes it
  -- 1 for an event a browser sent without its engine (all its properties): the projection applies
  -- the sync filter of the stage the journey is in at that event, then clears it
  unfiltered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_by_profile ON events (profile_id, corrected_time);
CREATE INDEX IF NOT EXISTS events_by_anonymous ON events (anonymous_id);
CREATE INDEX IF NOT EXISTS events_by_received ON events (received_at);
CREATE INDEX IF NOT EXISTS events_by_time ON events (corrected_time);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name);
CREATE INDEX IF NOT EXISTS events_unprojected ON events (profile_id) WHERE projected = 0;

-- Profiles with events their journey does not include yet. Written in the same transaction as
-- the events, so a crash between ingestion and projection loses nothing: the projector resumes.
CREATE TABLE IF NOT EXISTS dirty_profiles (
  profile_id TEXT PRIMARY KEY,
  -- bit 1: replay the whole journey; bit 2: only for a new map version (the background
  -- re-projection after a publish, which reads of the stats do not wait for). Marks combine with
  -- kCombineDirtyMarks (profile_replay.h).
  full_replay INTEGER NOT NULL DEFAULT 0
);
-- The background re-projection's marks, counted by the overview without reading the others.
CREATE INDEX IF NOT EXISTS dirty_in_background ON dirty_profiles (profile_id)
  WHERE (full_replay & 2) <> 0;

-- Each device's clock offset (server time minus device time, from its first batch's sent_at):
-- a device's events are shifted together by it, so their order and spacing survive batches
-- that took different times on the way (ingest.cpp, StableCorrectedTime).
CREATE TABLE IF NOT EXISTS device_clocks (
  anonymous_id TEXT PRIMARY KEY,
  offset_ms INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- The identity graph: each anonymous id belongs to at most one known user.
CREATE TABLE IF NOT EXISTS identities (
  anonymous_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  linked_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS identities_by_user ON identities (user_id);

-- The authoritative journey state per profile, as the server's engine computed it. channel,
-- campaign: the channel and utm_campaign of the journey's first touch (empty when none);
-- converted: it reached a conversion stage of the map it was computed under. (Comments between
-- columns stay out of the table: SQLite keeps that text and edits it on ALTER TABLE.)
CREATE TABLE IF NOT EXISTS profiles (
  profile_id TEXT PRIMARY KEY,
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
  -- when a timed transition (dormancy, churn) may fall due without a new event; NULL: never
  next_due INTEGER,
  channel TEXT NOT NULL DEFAULT '',
  campaign TEXT NOT NULL DEFAULT '',
  converted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS profiles_by_stage ON profiles (stage);

-- Each profile's current transition history (replaced when the profile is recomputed).
CREATE TABLE IF NOT EXISTS transitions (
  profile_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  from_stage TEXT NOT NULL,
  to_stage TEXT NOT NULL,
  at INTEGER NOT NULL,
  event_id TEXT,
  rule TEXT NOT NULL,
  map_version INTEGER NOT NULL,
  PRIMARY KEY (profile_id, position)
);
CREATE INDEX IF NOT EXISTS transitions_by_edge ON transitions (from_stage, to_stage);

-- Time spent per stage per profile (closed visits plus the open one up to the last event).
CREATE TABLE IF NOT EXISTS stage_times (
  profile_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  total_ms INTEGER NOT NULL,
  visits INTEGER NOT NULL,
  PRIMARY KEY (profile_id, stage)
);

-- Attribution credits per conversion, one row per (model, channel).
CREATE TABLE IF NOT EXISTS conversions (
  profile_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  at INTEGER NOT NULL,
  model TEXT NOT NULL,
  channel TEXT NOT NULL,
  credit REAL NOT NULL,
  PRIMARY KEY (profile_id, stage, at, model, channel)
);

-- Webhook deliveries, written in the same transaction as the transition that caused them. The
-- unique dedupe key makes each (transition, endpoint) at most one row, across replays and restarts.
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dedupe_key TEXT NOT NULL UNIQUE,
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
  delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
-- The webhook report counts the deliveries created in its date range.
CREATE INDEX IF NOT EXISTS outbox_by_created ON outbox (created_at);

-- Rollups (storage/rollups.h): what the reports read, kept in the transactions that change what
-- they count. day: UTC days since 1970-01-01; a profile counts on its cohort day (its first
-- event's), an event or a conversion on the day it happened. Journey rollups are kept per map
-- version: the reports read the version whose re-projection finished (meta reports_version).
-- shard: each collector writes its own rows of the event counts (reads sum them), so collectors
-- on one PostgreSQL do not queue on the row of the current day and hour.
CREATE TABLE IF NOT EXISTS rollup_events (
  day INTEGER NOT NULL, name TEXT NOT NULL, shard INTEGER NOT NULL, events INTEGER NOT NULL,
  PRIMARY KEY (day, name, shard));
CREATE TABLE IF NOT EXISTS rollup_event_hours (
  hour INTEGER NOT NULL, shard INTEGER NOT NULL, events INTEGER NOT NULL,
  PRIMARY KEY (hour, shard));
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
};
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
     nullptr,
     "INSERT INTO dirty_profiles (profile_id, full_replay) SELECT profile_id, 3 FROM profiles "
     "ORDER BY profile_id ON CONFLICT (profile_id) DO UPDATE SET full_replay = 3"},
    {"profiles", "campaign", "ALTER TABLE profiles ADD COLUMN campaign TEXT NOT NULL DEFAULT ''",
     nullptr, nullptr},
    {"profiles", "converted",
     "ALTER TABLE profiles ADD COLUMN converted INTEGER NOT NULL DEFAULT 0", nullptr, nullptr},
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
  // SQLite's implicit rowid is the recent-events cursor (recent_events.cpp): the same name here.
  replace_all(
      "CREATE TABLE IF NOT EXISTS events (\n",
      "CREATE TABLE IF NOT EXISTS events (\n  rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,\n");
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

std::optional<std::string> AddMissingColumns(Database& db) {
  for (const AddedColumn& c : kAddedColumns) {
    auto column = db.Prepare(db.dialect() == Dialect::kSqlite
                                 ? "SELECT 1 FROM pragma_table_info(?) WHERE name = ?"
                                 : "SELECT 1 FROM information_schema.columns WHERE table_schema = "
                                   "current_schema() AND table_name = ? AND column_name = ?");
    if (!column.ok()) return column.error();
    column.Bind(1, c.table).Bind(2, c.column);
    const bool present = column.Step();
    const bool failed = column.failed();
    std::string error = column.error();
    column.Reset();
    if (failed) return error;
    if (!present) {
      if (auto err = db.Exec(c.add)) return err;
      if (c.backfill != nullptr) {
        if (auto err = db.Exec(c.backfill)) return err;
      }
    }
    if (c.after != nullptr) {
      if (auto err = db.Exec(c.after)) return err;
    }
  }
  return std::nullopt;
}

std::optional<std::string> Migrate(Database& db) {
  if (auto err = db.Exec(db.dialect() == Dialect::kSqlite ? SqliteSchema() : PostgresSchema())) {
    return "schema: " + *err;
  }
  if (auto err = AddMissingColumns(db)) return "schema: " + *err;
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
  if (auto err = db.Exec("SELECT pg_advisory_lock(7411001)")) return "schema: " + *err;
  std::optional<std::string> err = Migrate(db);
  db.Exec("SELECT pg_advisory_unlock(7411001)");
  return err;
}

}  // namespace waymark::collector
