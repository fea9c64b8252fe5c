#include "pipeline/ingest.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "pipeline/profile_replay.h"
#include "storage/device_locks.h"
#include "storage/rollups.h"
#include "storage/sql_dialect.h"
#include "waymark/attribution.h"
#include "waymark/identity.h"

namespace waymark::collector {

namespace {

constexpr std::size_t kMaxEventsPerCommit = 5000;
// Profiles projected per transaction between commits: small enough that a waiting request is not
// held up long by projection, large enough to amortize the transaction.
constexpr std::size_t kProfilesPerSlice = 64;
constexpr std::size_t kProfilesPerBusySlice = 8;

std::string Hex64(std::uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Which profile an event belongs to, and whether it links an anonymous id to a user.
struct Placement {
  std::string profile_id;
  std::string link_user;  // non-empty: link event.anonymous_id to this user now
};

std::string UserProfile(const std::string& user_id) { return "u:" + user_id; }
std::int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Below this much free space a commit is likely to fail (a batch's WAL frames, a checkpoint).
constexpr std::uint64_t kMinFreeBytes = 1 << 20;
// A failed batch commit keeps /readyz failing this long, unless a later one succeeds.
constexpr std::int64_t kCommitFailureMemoryMs = 5000;

std::string AnonymousProfile(const std::string& anonymous_id) { return "a:" + anonymous_id; }

}  // namespace

TimeMs StableClockOffset(std::optional<TimeMs> stored, TimeMs batch_offset) {
  if (stored && std::llabs(*stored - batch_offset) <= kClockChangeMs) return *stored;
  return batch_offset;
}

CorrectedTime CorrectTime(TimeMs device, TimeMs sent, TimeMs received, TimeMs max_future_ms) {
  CorrectedTime out;
  TimeMs time = device;
  // Both positive, so their difference cannot overflow.
  if (sent > 0 && received > 0 && sent - received > -kSentAtTolerance &&
      sent - received < kSentAtTolerance) {
    TimeMs offset = 0;
    if (__builtin_sub_overflow(device, sent, &offset) ||
        __builtin_add_overflow(received, offset, &time)) {
      return out;  // not a time: refused, never wrapped around
    }
    out.sent_at = sent;
  }
  TimeMs latest = 0;
  if (__builtin_add_overflow(received, std::max<TimeMs>(0, max_future_ms), &latest)) {
    latest = received;
  }
  if (time > latest) {
    time = received;
    out.clamped = true;
  }
  if (time < kEarliestDeviceTime) return out;
  out.valid = true;
  out.time = time;
  return out;
}

std::string ContentHash(const Event& event, const std::string& browser_stage) {
  json envelope = EventToJson(event);
  envelope.erase("sent_at");  // a retry carries a new sent_at; it is the same event
  std::string text = DumpJson(envelope) + "|" + browser_stage;
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return Hex64(h);
}

Ingestor::Ingestor(std::string database_path, const Config& config, Metrics* metrics)
    : database_path_(std::move(database_path)), config_(config), metrics_(metrics) {}

Ingestor::~Ingestor() { Stop(); }

std::optional<std::string> Ingestor::Start() {
  if (auto err = db_.Open(database_path_, config_.synchronous_full)) return err;
  if (db_.dialect() == Dialect::kSqlite) {
    // Checkpoints run beside the writer, never inside its commits (wal_checkpointer.h).
    if (auto err = db_.Exec("PRAGMA wal_autocheckpoint=0")) return err;
    checkpointer_ = std::make_unique<WalCheckpointer>(database_path_);
    if (auto err = checkpointer_->Start()) return err;
    struct stat st {};
    if (::stat(database_path_.c_str(), &st) != 0) return "database: cannot stat " + database_path_;
    file_device_ = st.st_dev;
    file_inode_ = st.st_ino;
    database_is_file_ = true;
  }
  projector_ = std::make_unique<ProfileProjector>(db_, config_, metrics_);
  thread_ = std::thread([this] { Loop(); });
  return std::nullopt;
}

std::optional<std::string> Ingestor::CheckFileIdentity() const {
  if (!database_is_file_) return std::nullopt;  // PostgreSQL: its server keeps its own files
  struct stat st {};
  if (::stat(database_path_.c_str(), &st) != 0) {
    return "database file " + database_path_ +
           " was deleted while the collector ran; restart it to create a new one";
  }
  if (static_cast<std::uint64_t>(st.st_dev) != file_device_ ||
      static_cast<std::uint64_t>(st.st_ino) != file_inode_) {
    return "database file " + database_path_ +
           " was replaced while the collector ran; restart it to use the new file";
  }
  return std::nullopt;
}

std::optional<std::string> Ingestor::CheckWritable() {
  if (auto err = CheckFileIdentity()) return err;
  std::string folder = database_path_;
  const std::size_t slash = folder.rfind('/');
  folder = slash == std::string::npos ? "." : slash == 0 ? "/" : folder.substr(0, slash);
  struct statvfs fs {};
  if (database_is_file_ && ::statvfs(folder.c_str(), &fs) == 0) {
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes < kMinFreeBytes) {
      return "disk full: " + std::to_string(free_bytes) + " bytes free where the database is";
    }
  }
  auto err = RunWrite([](Database& db) -> std::optional<std::string> {
    auto q = db.Prepare(
        "INSERT INTO meta (key, value) VALUES ('ready_check', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    q.Bind(1, std::to_string(SteadyMs()));
    if (!q.Run()) return q.error();
    return std::nullopt;
  });
  if (err) return err;
  const std::int64_t failed = last_commit_failure_ms_.load();
  if (failed != 0 && SteadyMs() - failed < kCommitFailureMemoryMs) {
    return "a batch commit failed " + std::to_string(SteadyMs() - failed) + " ms ago";
  }
  return std::nullopt;
}

void Ingestor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (checkpointer_) checkpointer_->Stop();
}

void Ingestor::SetMap(std::shared_ptr<const MapState> map, bool only_if_newer) {
  std::lock_guard<std::mutex> lock(map_mu_);
  auto& current = maps_[map->project];
  if (only_if_newer && current && current->version >= map->version) return;
  current = std::move(map);
}

std::shared_ptr<const MapState> Ingestor::map(const std::string& project) const {
  std::lock_guard<std::mutex> lock(map_mu_);
  auto it = maps_.find(project);
  return it == maps_.end() ? nullptr : it->second;
}

std::size_t Ingestor::pending_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_events_;
}

std::optional<std::vector<EventResult>> Ingestor::Submit(std::vector<IncomingEvent> events) {
  auto job = std::make_unique<Job>();
  job->events = std::move(events);
  auto future = job->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return std::nullopt;
    if (queued_events_ + job->events.size() > config_.limits.max_pending_events) {
      return std::nullopt;
    }
    queued_events_ += job->events.size();
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return future.get();
}

std::optional<std::string> Ingestor::RunWrite(
    std::function<std::optional<std::string>(Database&)> work) {
  auto job = std::make_unique<Job>();
  job->write = std::move(work);
  auto future = job->write_done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return std::string("the server is stopping");
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return future.get();
}

void Ingestor::Loop() {
  // Events from before a restart may still wait for projection.
  bool projection_pending = true;
  auto last_projection = std::chrono::steady_clock::now();
  // Time passes for idle visitors too: every advance interval, profiles whose next timed
  // transition fell due are marked dirty, and projection advances them to now.
  const auto advance_every = std::chrono::seconds(config_.limits.advance_interval_seconds);
  auto last_advance = std::chrono::steady_clock::now() - advance_every;
  for (;;) {
    std::vector<std::unique_ptr<Job>> batch;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [&] { return stopping_ || !queue_.empty(); };
      if (!projection_pending) {
        if (advance_every.count() > 0) {
          cv_.wait_until(lock, last_advance + advance_every, ready);
        } else {
          cv_.wait(lock, ready);
        }
      }
      stopping = stopping_;
      // Take every waiting job (up to a commit size): concurrent requests share one commit.
      std::size_t events = 0;
      while (!queue_.empty() && events < kMaxEventsPerCommit) {
        if (queue_.front()->write && !batch.empty()) break;  // writes run alone
        events += queue_.front()->events.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
        if (batch.back()->write) break;
      }
    }
    if (batch.size() == 1 && batch[0]->write) {
      Job& job = *batch[0];
      std::optional<std::string> err = CheckFileIdentity();
      if (!err) err = db_.BeginWrite();
      if (!err) err = job.write(db_);
      if (!err) err = db_.Exec("COMMIT");
      if (err) db_.Exec("ROLLBACK");  // also after a failed COMMIT, which may leave it open
      job.write_done.set_value(err);
      // A write may leave profiles to project (a map publish marks them all).
      projection_pending = true;
      continue;
    }
    if (!batch.empty()) {
      CommitGroup(batch);
      projection_pending = true;
    }
    if (stopping) {
      // Committed events are safe; dirty profiles are projected after the restart.
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return;
      continue;
    }
    if (advance_every.count() > 0 &&
        std::chrono::steady_clock::now() - last_advance >= advance_every) {
      last_advance = std::chrono::steady_clock::now();
      if (MarkDueProfiles()) projection_pending = true;
    }
    if (!projection_pending) continue;
    // Acknowledgements come first: projection runs while no request waits and stops after the
    // profile during which one arrives, so a request waits at most for one profile and a commit
    // that does not fsync (ProjectSlice). Under sustained load it still gets a small slice every
    // 100 ms so it cannot starve. Its lag is a metric.
    const auto now = std::chrono::steady_clock::now();
    if (!RequestsWaiting()) {
      projection_pending = ProjectSlice(kProfilesPerSlice, /*yield_to_requests=*/true);
      last_projection = now;
    } else if (now - last_projection > std::chrono::milliseconds(100)) {
      projection_pending = ProjectSlice(kProfilesPerBusySlice, /*yield_to_requests=*/false);
      last_projection = now;
    }
  }
}

bool Ingestor::MarkDueProfiles() {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  std::optional<std::string> err = CheckFileIdentity();
  if (!err) err = db_.BeginWrite();
  bool marked = false;
  if (!err) {
    // Bounded per pass; the rest follow on the next one.
    auto mark = db_.Prepare(
        "INSERT INTO dirty_profiles (project_id, profile_id) SELECT project_id, profile_id FROM "
        "profiles WHERE next_due IS NOT NULL AND next_due <= ? ORDER BY project_id, profile_id "
        "LIMIT 10000 ON CONFLICT (project_id, profile_id) DO NOTHING");
    mark.Bind(1, now);
    if (!mark.Run()) err = "advance: " + mark.error();
    marked = !err && db_.Changes() > 0;
  }
  if (!err) err = db_.Exec("COMMIT");
  if (err) {
    db_.Exec("ROLLBACK");
    log_.Error("advancing idle profiles failed", *err);
    return false;
  }
  return marked;
}

bool Ingestor::RequestsWaiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_ || !queue_.empty();
}

bool Ingestor::ProjectSlice(std::size_t max_profiles, bool yield_to_requests) {
  bool outbox_added = false;
  bool remaining = false;
  bool stale_map = false;
  // Until the server has read the stored maps nothing is projected, or journeys left dirty by
  // the last run would be stored under a version that does not exist. The maps arrive within
  // milliseconds of the start.
  if (!maps_loaded_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return true;
  }
  const MapLookup maps = [this](const std::string& project) { return map(project); };
  std::function<bool()> stop_early;
  if (yield_to_requests) stop_early = [this] { return RequestsWaiting(); };
  // A projection commit needs no fsync of its own: it only derives state from events already
  // durable, and its dirty marks go with it, so if an OS crash loses it the profiles are simply
  // projected again. The WAL is sequential, so the next fsynced commit (a batch, a webhook
  // delivery record) makes it durable before anything that depends on it.
  // PostgreSQL: the same for this transaction only (synchronous_commit off: a crash may lose it,
  // never corrupt anything).
  const bool sqlite = db_.dialect() == Dialect::kSqlite;
  if (sqlite && config_.synchronous_full) db_.Exec("PRAGMA synchronous=NORMAL");
  std::optional<std::string> err = CheckFileIdentity();
  if (!err) err = db_.BeginWrite();
  if (!err && !sqlite) err = db_.Exec("SET LOCAL synchronous_commit = off");
  if (!err) {
    err = projector_->ProjectDirty(maps, max_profiles, &outbox_added, &remaining, stop_early,
                                   /*urgent_only=*/false, &stale_map);
  }
  if (!err) err = db_.Exec("COMMIT");
  // A project whose publish's re-projection just finished switches its reports to the new
  // version (storage/rollups.h), checked after every pass: a small project's reports switch when
  // its own journeys are done, whatever another project's backlog.
  bool switched = false;
  if (!err) err = FinishReprojections(&switched);
  if (sqlite && config_.synchronous_full) db_.Exec("PRAGMA synchronous=FULL");
  if (err) {
    db_.Exec("ROLLBACK");
    log_.Error("projection failed", *err);
    if (metrics_ != nullptr) metrics_->Add("waymark_projection_failures_total", {});
    // Retried on the next pass; a short pause keeps a persistent failure from spinning.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return true;
  }
  // Another collector published a newer map than this one has: take it now rather than at the
  // next poll, and project under it.
  if (stale_map) {
    if (!map_refresher_ || !map_refresher_()) {
      // Not taken (a map this release cannot read, the database gone): wait rather than claim
      // and release the same journeys thousands of times a second.
      log_.Error("projection waits", "a newer map version is stored than this collector can use");
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  if (outbox_added && on_outbox_) on_outbox_();
  // The backlog gauge counts rows: refreshed at most every 250 ms, not after every slice.
  const auto now = std::chrono::steady_clock::now();
  if (!remaining || now - last_backlog_count_ > std::chrono::milliseconds(250)) {
    last_backlog_count_ = now;
    auto count = db_.Prepare("SELECT COUNT(*) FROM dirty_profiles");
    if (count.Step()) projection_backlog_ = count.Int(0);
  }
  return remaining;
}

std::optional<std::string> Ingestor::FlushProfile(const ProfileKey& profile) {
  bool outbox_added = false;
  auto result = RunWrite([&](Database&) -> std::optional<std::string> {
    auto state = map(profile.project);
    if (!state) return std::nullopt;
    return projector_->ProjectIfDirty(*state, profile, &outbox_added);
  });
  if (outbox_added && on_outbox_) on_outbox_();
  return result;
}

std::optional<std::string> Ingestor::FlushAll() {
  bool outbox_added = false;
  auto result = RunWrite([&](Database&) -> std::optional<std::string> {
    bool remaining = false;
    // Bounded so an admin read never waits on an unbounded backlog; the rest follows shortly.
    // Profiles waiting only for the background re-projection of a new map are left to it.
    return projector_->ProjectDirty([this](const std::string& p) { return map(p); }, 5000,
                                    &outbox_added, &remaining, nullptr,
                                    /*urgent_only=*/true);
  });
  if (outbox_added && on_outbox_) on_outbox_();
  return result;
}

void Ingestor::CommitGroup(std::vector<std::unique_ptr<Job>>& jobs) {
  std::size_t events = 0;
  for (const auto& j : jobs) events += j->events.size();
  std::vector<std::vector<EventResult>> results(jobs.size());
  bool outbox_added = false;
  std::optional<std::string> err = CheckFileIdentity();
  if (!err) err = db_.BeginWrite();
  if (!err) err = ProcessEvents(jobs, &results, &outbox_added);
  if (!err) err = db_.Exec("COMMIT");
  if (err) {
    db_.Exec("ROLLBACK");
    // Nothing was stored: every event of the group is answered as retryable, never as accepted.
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      results[j].clear();
      for (const auto& e : jobs[j]->events) {
        results[j].push_back(EventResult{e.index, e.event.id, "rejected", "storage_unavailable",
                                         "the event could not be stored: " + *err});
      }
    }
    log_.Error("commit failed", *err);
    if (metrics_ != nullptr) metrics_->Add("waymark_commit_failures_total", {});
    last_commit_failure_ms_ = SteadyMs();
  } else {
    last_commit_failure_ms_ = 0;
    if (metrics_ != nullptr) metrics_->ObserveCommit(events, jobs.size());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued_events_ -= std::min(queued_events_, events);
  }
  for (std::size_t j = 0; j < jobs.size(); ++j) jobs[j]->done.set_value(std::move(results[j]));
  if (outbox_added && on_outbox_) on_outbox_();
  // After the answers: on a large database that lost its statistics it takes a while.
  if (!statistics_checked_ && last_commit_failure_ms_ == 0) AnalyzeNewDatabase();
}

// PostgreSQL plans by its statistics, and a database created a moment ago has none until
// autovacuum's first pass (up to a minute, and after the tables grew by a tenth): without them it
// takes `project_id = ?` for a selective condition and can read a whole project's rows for a
// lookup by keys. So after its first commit a collector analyzes the tables its lookups read, once,
// if nothing did yet (cheap on a new database: they are small).
void Ingestor::AnalyzeNewDatabase() {
  if (db_.dialect() != Dialect::kPostgres) {
    statistics_checked_ = true;
    return;
  }
  auto q = db_.Prepare(
      "SELECT 1 FROM pg_stat_user_tables WHERE relname = 'events' AND "
      "schemaname = current_schema() AND last_analyze IS NULL AND last_autoanalyze IS NULL");
  const bool never = q.Step();
  const bool failed = q.failed();
  q.Reset();
  if (failed) return;  // asked again after the next commit
  statistics_checked_ = true;
  if (!never) return;
  if (auto err = db_.Exec("ANALYZE events, identities, device_clocks, dirty_profiles, profiles")) {
    log_.Error("analyzing the new database failed", *err);
  }
}

namespace {
// The rows of a journey merged into another (its events moved to the survivor first).
std::vector<Statement> ForgetProfileStatements(Database& db) {
  std::vector<Statement> out;
  for (const char* table :
       {"profiles", "transitions", "stage_times", "conversions", "dirty_profiles"}) {
    out.push_back(db.Prepare(std::string("DELETE FROM ") + table +
                             " WHERE profile_id = ? AND project_id = ?"));
  }
  return out;
}
}  // namespace

// The statements of a group commit, prepared once per connection (PostgreSQL prepares on the
// server: a round trip each). What a commit needs to know of its events and devices is read with
// one query each (ids already stored, user links, clock offsets), not once per event: on
// PostgreSQL a round trip per event per lookup cost more than the inserts.
struct Ingestor::Statements {
  explicit Statements(Database& db)
      // A commit's lookups and writes are per project: the project is the last parameter.
      // The key lists are planned for their values each time (storage/database.h, Planning).
      : stored(db.Prepare(
            ProjectRowsByKeysSql(db.dialect(), "t.id, t.content_hash", "events", "id", 1, 2),
            Planning::kEachTime)),
        links(db.Prepare(ProjectRowsByKeysSql(db.dialect(), "t.anonymous_id, t.user_id",
                                              "identities", "anonymous_id", 1, 2),
                         Planning::kEachTime)),
        clocks(db.Prepare(ProjectRowsByKeysSql(db.dialect(), "t.anonymous_id, t.offset_ms",
                                               "device_clocks", "anonymous_id", 1, 2),
                          Planning::kEachTime)),
        find(db.Prepare("SELECT content_hash FROM events WHERE id = ? AND project_id = ?")),
        insert(db.Prepare(
            "INSERT INTO events (id, site_key, profile_id, anonymous_id, user_id, name, seq, "
            "device_time, sent_at, received_at, corrected_time, channel, browser_stage, "
            "content_hash, ip, body, unfiltered, project_id, device) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (project_id, id) DO NOTHING")),
        // PostgreSQL: every row of the commit in one statement; RETURNING names those stored.
        insert_all(
            db.dialect() != Dialect::kPostgres
                ? Statement(nullptr, "")
                : db.Prepare("INSERT INTO events (project_id, id, site_key, profile_id, "
                             "anonymous_id, user_id, name, seq, device_time, sent_at, received_at, "
                             "corrected_time, browser_stage, content_hash, ip, body, unfiltered, "
                             "device) "
                             "SELECT ?2, id, site_key, profile_id, anonymous_id, user_id, name, "
                             "seq, device_time, sent_at, received_at, corrected_time, "
                             "browser_stage, content_hash, ip, body, unfiltered, device FROM "
                             "json_to_recordset(CAST(?1 AS json)) AS "
                             "x(id text, site_key text, profile_id text, anonymous_id text, "
                             "user_id text, name text, seq bigint, device_time bigint, sent_at "
                             "bigint, received_at bigint, corrected_time bigint, browser_stage "
                             "text, content_hash text, ip text, body text, unfiltered bigint, "
                             "device text) "
                             "ON CONFLICT (project_id, id) DO NOTHING RETURNING id")),
        add_link(db.Prepare("INSERT INTO identities (anonymous_id, user_id, linked_at, "
                            "project_id) VALUES (?,?,?,?)")),
        // The moved events' stages were counted under the journey they leave (its contribution
        // is taken out on the move): cleared, the merged journey's replay counts them again.
        move_events(db.Prepare("UPDATE events SET profile_id = ?, server_stage = NULL "
                               "WHERE profile_id = ? AND project_id = ?")),
        merged_content(db.Prepare(
            "SELECT corrected_time, server_stage, body FROM events WHERE profile_id = ? AND "
            "project_id = ? AND name = 'content_shown' AND server_stage IS NOT NULL")),
        mark_dirty(db.Prepare(
            std::string("INSERT INTO dirty_profiles (profile_id, full_replay, project_id) VALUES "
                        "(?, ?, ?) ON CONFLICT (project_id, profile_id) DO UPDATE SET ") +
            kCombineDirtyMarks)),
        // PostgreSQL: every mark of the commit in one statement (one round trip, not one per
        // profile), in profile order as the per-row marks go.
        mark_dirty_all(db.dialect() != Dialect::kPostgres
                           ? Statement(nullptr, "")
                           : db.Prepare(std::string("INSERT INTO dirty_profiles (project_id, "
                                                    "profile_id, full_replay) SELECT ?2, p, f FROM "
                                                    "json_to_recordset(CAST(?1 AS json)) AS "
                                                    "x(p text, f bigint) ORDER BY p ON CONFLICT "
                                                    "(project_id, profile_id) DO UPDATE SET ") +
                                        kCombineDirtyMarks)),
        save_clock(db.Prepare(
            "INSERT INTO device_clocks (anonymous_id, offset_ms, updated_at, project_id) "
            "VALUES (?,?,?,?) ON CONFLICT (project_id, anonymous_id) DO UPDATE SET "
            "offset_ms = excluded.offset_ms, updated_at = excluded.updated_at")),
        bulk(db.dialect() == Dialect::kPostgres),
        forget_profile(ForgetProfileStatements(db)),
        locks(db),
        // Each collector's ingest counts events in a shard of its own (PostgreSQL: no queue on
        // the current day's row); one writer on SQLite needs one.
        rollups(db, db.dialect() == Dialect::kPostgres
                        ? static_cast<int>(std::random_device()() % kEventShards)
                        : 0),
        facts(db) {}

  /// The first statement that failed to prepare, or nullopt.
  std::optional<std::string> Error() const {
    for (const Statement* s : {&stored, &links, &clocks, &find, &insert, &add_link, &move_events,
                               &merged_content, &mark_dirty, &save_clock}) {
      if (!s->ok()) return "prepare: " + s->error();
    }
    if (bulk && !insert_all.ok()) return "prepare: " + insert_all.error();
    if (bulk && !mark_dirty_all.ok()) return "prepare: " + mark_dirty_all.error();
    for (const Statement& s : forget_profile) {
      if (!s.ok()) return "prepare: " + s.error();
    }
    return std::nullopt;
  }

  Statement stored, links, clocks, find, insert, insert_all, add_link, move_events, merged_content,
      mark_dirty, mark_dirty_all, save_clock;
  const bool bulk;
  /// A journey merged into another: its rows go (ForgetProfileStatements).
  std::vector<Statement> forget_profile;
  DeviceLocks locks;
  RollupWriter rollups;
  StoredFactsReader facts;  ///< a merged-away journey's contribution, to take out of the rollups
};

namespace {

/// Runs a lookup bound to a JSON array of keys and a project; calls row(stmt) per row.
template <typename RowFn>
std::optional<std::string> Lookup(Statement& q, const std::vector<std::string>& keys,
                                  const std::string& project, const char* what, RowFn&& row) {
  q.Bind(1, DumpJson(json(keys))).Bind(2, project);
  while (q.Step()) row(q);
  const bool failed = q.failed();
  std::string error = q.error();
  q.Reset();
  if (failed) return std::string(what) + ": " + error;
  return std::nullopt;
}

/// An event of the commit that is to be stored, with where it goes.
struct NewRow {
  const IncomingEvent* in;
  std::size_t job;
  std::size_t slot;  ///< its place in the job's results
  std::string profile_id;
  bool known_user;
  TimeMs corrected;
};

}  // namespace

// The journey, conversions and content impressions of a profile about to be merged into another
// leave the rollups; the merged journey's replay adds them back under the surviving profile. A
// journey still on an older map version only leaves that version's profile count (its rows stay
// as they were until the re-projection switches the reports: storage/rollups.h).
std::optional<std::string> Ingestor::TakeOutOfRollups(const ProfileKey& profile_id,
                                                      std::int64_t current_version,
                                                      RollupDelta* delta) {
  Statements& st = *statements_;
  std::string error;
  auto facts = st.facts.Journey(profile_id, &error);
  if (!error.empty()) return "identity merge: " + error;
  if (!facts) return std::nullopt;
  // A journey on an older version leaves only that version's count (its rows are dropped at the
  // switch); one on this or a newer version (stored by a collector that has a newer map) leaves
  // its version's rows.
  if (facts->map_version < current_version) {
    delta->AddVersionProfiles(facts->map_version, -1);
    return std::nullopt;
  }
  const std::int64_t version = facts->map_version;
  delta->AddJourney(*facts, -1);
  if (!st.facts.SubtractConversions(profile_id, version, *facts, delta, &error)) {
    return "identity merge: " + error;
  }
  st.merged_content.Bind(1, profile_id.id).Bind(2, profile_id.project);
  while (st.merged_content.Step()) {
    json body = json::parse(st.merged_content.Text(2), nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("properties")) continue;
    if (auto key = ShownContent(body["properties"])) {
      delta->AddContentShown(version, st.merged_content.Int(0), st.merged_content.Text(1),
                             key->first, key->second, -1);
    }
  }
  const bool failed = st.merged_content.failed();
  error = st.merged_content.error();
  st.merged_content.Reset();
  if (failed) return "identity merge: " + error;
  return std::nullopt;
}

std::optional<std::string> Ingestor::ProcessEvents(std::vector<std::unique_ptr<Job>>& jobs,
                                                   std::vector<std::vector<EventResult>>* results,
                                                   bool* outbox_added) {
  if (!statements_) statements_ = std::make_unique<Statements>(db_);
  if (auto err = statements_->Error()) {
    statements_.reset();  // prepared again next time (the database may be back)
    return err;
  }
  // A commit holds the events of many requests, of any projects: each project's are stored with
  // one set of lookups of its own (ids, links and clocks are per project).
  std::map<std::string, std::vector<EventSlot>> by_project;
  std::vector<std::string> devices;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    (*results)[j].resize(jobs[j]->events.size());
    for (std::size_t k = 0; k < jobs[j]->events.size(); ++k) {
      by_project[jobs[j]->events[k].project].push_back({j, k});
      devices.push_back(jobs[j]->events[k].event.anonymous_id);
    }
  }
  // Other collectors on the same PostgreSQL: this commit's devices are ours until it ends. All
  // of them at once, in one order, whatever their projects: two commits that lock in turns per
  // project could each hold what the other waits for.
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
  if (auto err = statements_->locks.LockAll(devices)) return err;
  RollupDelta delta;
  for (const auto& [project, slots] : by_project) {
    if (auto err = ProcessProject(project, jobs, slots, results, &delta)) return err;
  }
  if (auto err = statements_->rollups.Flush(delta)) return err;
  (void)outbox_added;  // deliveries are written by the projector
  return std::nullopt;
}

std::optional<std::string> Ingestor::ProcessProject(const std::string& project,
                                                    std::vector<std::unique_ptr<Job>>& jobs,
                                                    const std::vector<EventSlot>& slots,
                                                    std::vector<std::vector<EventResult>>* results,
                                                    RollupDelta* rollups) {
  auto state = map(project);
  // Requests are only queued for projects whose map the server has.
  if (!state) return "project " + project + ": no map";
  const JourneyMap& map = *state->map;
  Statements& st = *statements_;
  RollupDelta& delta = *rollups;

  // Profiles whose events changed, and whether a merge of two journeys needs a full replay (the
  // projector also replays fully when an event is older than the stored journey).
  std::map<std::string, bool> touched;  // profile -> full replay
  std::set<std::string> removed_profiles;

  std::vector<std::string> devices;
  std::vector<std::string> ids;
  for (const EventSlot& slot : slots) {
    const IncomingEvent& in = jobs[slot.job]->events[slot.index];
    devices.push_back(in.event.anonymous_id);
    ids.push_back(in.event.id);
  }
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());

  std::map<std::string, std::string> stored;  // id -> content hash, stored before this commit
  std::map<std::string, std::string> links;   // anonymous id -> user
  std::map<std::string, TimeMs> clocks;       // anonymous id -> offset
  if (auto err = Lookup(st.stored, ids, project, "stored ids",
                        [&](Statement& q) { stored[q.Text(0)] = q.Text(1); })) {
    return err;
  }
  if (auto err = Lookup(st.links, devices, project, "identity links",
                        [&](Statement& q) { links[q.Text(0)] = q.Text(1); })) {
    return err;
  }
  if (auto err = Lookup(st.clocks, devices, project, "device clocks",
                        [&](Statement& q) { clocks[q.Text(0)] = q.Int(1); })) {
    return err;
  }

  std::vector<NewRow> rows;
  {
    for (const EventSlot& slot : slots) {
      const std::size_t j = slot.job;
      const std::size_t k = slot.index;
      const IncomingEvent& in = jobs[j]->events[k];
      const Event& e = in.event;
      EventResult& r = (*results)[j][k];
      r = EventResult{in.index, e.id, "accepted", "", ""};

      // An id stored before, or earlier in this commit: the same content is a duplicate, other
      // content a conflict; either way it changes nothing.
      auto known = stored.find(e.id);
      if (known != stored.end()) {
        const bool same = known->second == in.content_hash;
        r.status = same ? "duplicate" : "rejected";
        if (!same) {
          r.reason = "id_conflict";
          r.message = "id: an event with this id and other content was stored before";
        }
        continue;
      }
      stored.emplace(e.id, in.content_hash);

      auto linked_it = links.find(e.anonymous_id);
      const std::string linked = linked_it != links.end() ? linked_it->second : std::string();
      // The core's rule (waymark/identity.h): never merge two known users.
      const UserLink link = LinkUser(linked, e.user_id, map.blocked_ids);
      const bool known_user = link != UserLink::kNoUser;
      NewRow row{&in, j, k, "", known_user, in.corrected_time};
      if (known_user) {
        row.profile_id = UserProfile(e.user_id);
      } else {
        row.profile_id = linked.empty() ? AnonymousProfile(e.anonymous_id) : UserProfile(linked);
      }
      if (link == UserLink::kConflict && metrics_ != nullptr) {
        metrics_->Add("waymark_identity_conflicts_total", {});  // the device keeps its first
      }

      // One offset per device: its events keep their order and spacing across batches.
      if (in.sent_at > 0 && !in.clamped) {
        const TimeMs batch_offset = in.received_at - in.sent_at;
        auto clock = clocks.find(e.anonymous_id);
        std::optional<TimeMs> known_offset;
        if (clock != clocks.end()) known_offset = clock->second;
        const TimeMs offset = StableClockOffset(known_offset, batch_offset);
        if (!known_offset || offset != *known_offset) {
          st.save_clock.Bind(1, e.anonymous_id).Bind(2, offset).Bind(3, in.received_at);
          st.save_clock.Bind(4, project);
          if (!st.save_clock.Run()) return "device clock: " + st.save_clock.error();
          clocks[e.anonymous_id] = offset;
        }
        row.corrected = std::min(e.time + offset, in.received_at + config_.limits.future_skew_ms);
      }

      if (link == UserLink::kLink) {
        // The device becomes the user's: its stored anonymous journey moves into the user's, and
        // so do its events earlier in this commit.
        links[e.anonymous_id] = e.user_id;
        st.add_link.Bind(1, e.anonymous_id).Bind(2, e.user_id).Bind(3, in.received_at);
        st.add_link.Bind(4, project);
        if (!st.add_link.Run()) return "identity link: " + st.add_link.error();
        const std::string from = AnonymousProfile(e.anonymous_id);
        if (auto err = TakeOutOfRollups({project, from}, state->version, &delta)) return err;
        st.move_events.Bind(1, row.profile_id).Bind(2, from).Bind(3, project);
        if (!st.move_events.Run()) return "identity merge: " + st.move_events.error();
        bool moved = db_.Changes() > 0;
        for (NewRow& earlier : rows) {
          if (earlier.profile_id == from) {
            earlier.profile_id = row.profile_id;
            moved = true;
          }
        }
        if (moved || touched.count(from) != 0) {
          removed_profiles.insert(from);
          touched.erase(from);
          touched[row.profile_id] = true;  // two journeys merged: replay the whole log
        }
      }
      touched.emplace(row.profile_id, false);
      rows.push_back(std::move(row));
    }
  }

  // The rows themselves. One that is not stored after all (another collector stored that id for
  // another device a moment ago: ids are unique across devices) is a duplicate or a conflict; what
  // its placement did to links stays, as for any event of that device.
  std::set<std::string> inserted;
  if (st.bulk && !rows.empty()) {
    // In id order: two commits inserting the same ids (one batch sent to two collectors) then
    // take the unique index's locks in one order and cannot deadlock.
    std::vector<const NewRow*> by_id;
    by_id.reserve(rows.size());
    for (const NewRow& row : rows) by_id.push_back(&row);
    std::sort(by_id.begin(), by_id.end(),
              [](const NewRow* a, const NewRow* b) { return a->in->event.id < b->in->event.id; });
    json all = json::array();
    for (const NewRow* ordered : by_id) {
      const NewRow& row = *ordered;
      const IncomingEvent& in = *row.in;
      const Event& e = in.event;
      all.push_back(
          {{"id", e.id},
           {"site_key", in.site_key},
           {"profile_id", row.profile_id},
           {"anonymous_id", e.anonymous_id},
           {"user_id", row.known_user ? json(e.user_id) : json(nullptr)},
           {"name", e.name},
           {"seq", e.seq},
           {"device_time", e.time},
           {"sent_at", in.sent_at > 0 ? json(in.sent_at) : json(nullptr)},
           {"received_at", in.received_at},
           {"corrected_time", row.corrected},
           {"browser_stage", in.browser_stage.empty() ? json(nullptr) : json(in.browser_stage)},
           {"content_hash", in.content_hash},
           {"ip", in.ip.empty() ? json(nullptr) : json(in.ip)},
           {"body", in.body},
           {"unfiltered", in.unfiltered ? 1 : 0},
           {"device", in.device.empty() ? json(nullptr) : json(in.device)}});
    }
    st.insert_all.Bind(1, DumpJson(all)).Bind(2, project);
    while (st.insert_all.Step()) inserted.insert(st.insert_all.Text(0));
    const bool failed = st.insert_all.failed();
    std::string error = st.insert_all.error();
    st.insert_all.Reset();
    if (failed) return "events insert: " + error;
  } else {
    for (const NewRow& row : rows) {
      const IncomingEvent& in = *row.in;
      const Event& e = in.event;
      Statement& insert = st.insert;
      insert.Bind(1, e.id).Bind(2, in.site_key).Bind(3, row.profile_id).Bind(4, e.anonymous_id);
      if (row.known_user) {
        insert.Bind(5, e.user_id);
      } else {
        insert.BindNull(5);
      }
      insert.Bind(6, e.name).Bind(7, e.seq).Bind(8, e.time);
      if (in.sent_at > 0) {
        insert.Bind(9, in.sent_at);
      } else {
        insert.BindNull(9);
      }
      insert.Bind(10, in.received_at).Bind(11, row.corrected);
      insert.BindNull(12);  // channel: set after the engine classified the landing
      if (in.browser_stage.empty()) {
        insert.BindNull(13);
      } else {
        insert.Bind(13, in.browser_stage);
      }
      insert.Bind(14, in.content_hash);
      if (in.ip.empty()) {
        insert.BindNull(15);
      } else {
        insert.Bind(15, in.ip);
      }
      insert.Bind(16, in.body).Bind(17, static_cast<std::int64_t>(in.unfiltered ? 1 : 0));
      insert.Bind(18, project);
      if (in.device.empty()) {
        insert.BindNull(19);
      } else {
        insert.Bind(19, in.device);
      }
      if (!insert.Run()) return "events insert: " + insert.error();
      if (db_.Changes() > 0) inserted.insert(e.id);
    }
  }
  for (const NewRow& row : rows) {
    const Event& e = row.in->event;
    if (inserted.count(e.id) != 0) continue;
    st.find.Bind(1, e.id).Bind(2, project);
    const bool same = st.find.Step() && st.find.Text(0) == row.in->content_hash;
    st.find.Reset();
    EventResult& r = (*results)[row.job][row.slot];
    r.status = same ? "duplicate" : "rejected";
    if (!same) {
      r.reason = "id_conflict";
      r.message = "id: an event with this id and other content was stored before";
    }
  }

  for (const NewRow& row : rows) {
    if (inserted.count(row.in->event.id) != 0)
      delta.AddEvent(project, row.corrected, row.in->event.name, +1);
  }
  for (const auto& gone : removed_profiles) {
    for (Statement& del : st.forget_profile) {
      del.Bind(1, gone).Bind(2, project);
      if (!del.Run()) return std::string("merge cleanup: ") + del.error();
    }
  }
  if (st.bulk && !touched.empty()) {
    json marks = json::array();
    for (const auto& [profile, full] : touched)
      marks.push_back({{"p", profile}, {"f", full ? 1 : 0}});
    st.mark_dirty_all.Bind(1, DumpJson(marks)).Bind(2, project);
    if (!st.mark_dirty_all.Run()) return "dirty profiles: " + st.mark_dirty_all.error();
    return std::nullopt;
  }
  for (const auto& [profile, full] : touched) {
    st.mark_dirty.Bind(1, profile).Bind(2, full ? 1 : 0).Bind(3, project);
    if (!st.mark_dirty.Run()) return "dirty profiles: " + st.mark_dirty.error();
  }
  return std::nullopt;
}

std::optional<std::string> Ingestor::FinishReprojections(bool* switched) {
  if (!finisher_) finisher_ = std::make_unique<ReprojectionFinisher>(db_);
  if (!held_projects_) {
    held_projects_ = std::make_unique<Statement>(
        db_.Prepare("SELECT project_id FROM projects WHERE reports_version IS NOT NULL"));
  }
  // The projects whose reports wait for a re-projection; every known one on the first pass after
  // a start (rows of another version can be left by a recount during a re-projection).
  std::vector<std::string> projects;
  if (finished_once_) {
    std::string error;
    const bool read =
        ForEachRow(*held_projects_, &error, [&](Statement& q) { projects.push_back(q.Text(0)); });
    if (held_projects_->ok()) held_projects_->Reset();
    if (!read) {
      held_projects_.reset();  // prepared again next time (the database may be back)
      return "reports version: " + error;
    }
  } else {
    std::lock_guard<std::mutex> lock(map_mu_);
    for (const auto& [project, state] : maps_) projects.push_back(project);
  }
  if (projects.empty()) return std::nullopt;
  // In a transaction of its own: its deletes go back to rollup tables the projection's flush
  // passed, which against a recount's table locks (taken in table order) could deadlock.
  if (auto err = db_.BeginWrite()) return err;
  for (const std::string& project : projects) {
    auto state = map(project);
    if (!state) continue;
    bool done = false;
    if (auto err = finisher_->Finish(project, state->version, &done)) {
      db_.Exec("ROLLBACK");
      return err;
    }
    *switched = *switched || done;
  }
  if (auto err = db_.Exec("COMMIT")) return err;
  finished_once_ = true;
  return std::nullopt;
}

}  // namespace waymark::collector
