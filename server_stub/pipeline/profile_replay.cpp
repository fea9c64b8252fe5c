#include "pipeline/profile_replay.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "storage/device_locks.h"
#include "waymark/attribution.h"
#include "waymark/identity.h"

namespace waymark::collector {

namespace {

bool TriggerWanted(const WebhookEndpoint& endpoint, const std::string& trigger) {
  return endpoint.triggers.empty() || std::find(endpoint.triggers.begin(), endpoint.triggers.end(),
                                                trigger) != endpoint.triggers.end();
}

const char* LockSkippingLocked(const Database& db) {
  return db.dialect() == Dialect::kPostgres ? " FOR UPDATE SKIP LOCKED" : "";
}

}  // namespace

// Events marked projected per statement on PostgreSQL (ProfileProjector::Statements::mark_all).
constexpr std::size_t kMarksPerStatement = 1000;

// Prepared once per connection: compiling SQL per profile cost a fifth of the writer's time.
struct ProfileProjector::Statements {
  explicit Statements(Database& db)
      // Several collectors on one PostgreSQL each project what is dirty: a profile's dirty row
      // stays locked by the transaction projecting it, and the others skip it (one projection
      // of a profile at a time; an event stored meanwhile marks it dirty again after that
      // commit). SQLite has one writer.
      // In every statement of a profile's rows its project is the last parameter.
      : dirty(
            db.Prepare(std::string("SELECT project_id, profile_id, full_replay FROM dirty_profiles "
                                   "ORDER BY (full_replay & 2) LIMIT ?") +
                       LockSkippingLocked(db))),
        dirty_urgent(
            db.Prepare(std::string("SELECT project_id, profile_id, full_replay FROM dirty_profiles "
                                   "WHERE (full_replay & 2) = 0 LIMIT ?") +
                       LockSkippingLocked(db))),
        dirty_one(db.Prepare(std::string("SELECT full_replay FROM dirty_profiles WHERE "
                                         "profile_id = ? AND project_id = ?") +
                             LockSkippingLocked(db))),
        clean(db.Prepare("DELETE FROM dirty_profiles WHERE profile_id = ? AND project_id = ?")),
        load_profile(db.Prepare(
            "SELECT snapshot, map_version, stage_mismatches, first_seen, last_seen, event_count, "
            "channel, campaign, source, medium, landing, device, content_seen FROM profiles "
            "WHERE profile_id = ? AND project_id = ?")),
        all_events(db.Prepare(kProfileEventsSql)),
        new_events(db.Prepare(
            "SELECT id, body, corrected_time, browser_stage, unfiltered, server_stage, device "
            "FROM events WHERE project_id = ? AND profile_id = ? AND projected = 0 "
            "ORDER BY corrected_time, anonymous_id, seq, id")),
        filter_body(db.Prepare(
            "UPDATE events SET body = ?, unfiltered = 0 WHERE id = ? AND project_id = ?")),
        mark(db.Prepare("UPDATE events SET server_stage = ?, channel = ?, projected = 1 "
                        "WHERE id = ? AND project_id = ?")),
        // PostgreSQL: a pass's events marked in one statement (one round trip per event was
        // most of a re-projection's time there).
        mark_all(db.dialect() != Dialect::kPostgres
                     ? Statement(nullptr, "")
                     : db.Prepare("UPDATE events AS e SET server_stage = x.stage, channel = "
                                  "x.channel, projected = 1 FROM json_to_recordset(CAST(?1 AS "
                                  "json)) AS x(id text, stage text, channel text) WHERE "
                                  "e.project_id = ?2 AND e.id = x.id",
                                  // A join with events: a generic plan made while the table
                                  // was nearly empty would scan it whole at every pass.
                                  Planning::kEachTime)),
        conversion_exists(db.Prepare("SELECT 1 FROM conversions WHERE profile_id = ? AND "
                                     "stage = ? AND at = ? AND project_id = ? LIMIT 1")),
        outbox(
            db.Prepare("INSERT INTO outbox (dedupe_key, endpoint, trigger_id, profile_id, payload, "
                       "created_at, next_attempt_at, project_id) VALUES (?,?,?,?,?,?,?,?) "
                       "ON CONFLICT (project_id, dedupe_key) DO NOTHING")),
        conversion(db.Prepare(
            "INSERT INTO conversions (profile_id, stage, at, model, channel, credit, project_id, "
            "touches, triggers) "
            "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (project_id, profile_id, stage, at, model, "
            "channel) DO NOTHING")),
        clear_conversions(
            db.Prepare("DELETE FROM conversions WHERE profile_id = ? AND project_id = ?")),
        drop_profile(db.Prepare("DELETE FROM profiles WHERE profile_id = ? AND project_id = ?")),
        unstage_events(db.Prepare(
            "UPDATE events SET server_stage = NULL WHERE profile_id = ? AND project_id = ?")),
        newest_map(db.Prepare("SELECT MAX(version) FROM maps WHERE project_id = ?")),
        save(db.Prepare(
            "INSERT INTO profiles (profile_id, user_id, stage, stage_entered_at, score, "
            "first_seen, last_seen, event_count, stage_mismatches, map_version, snapshot, state, "
            "updated_at, next_due, channel, campaign, converted, project_id, source, medium, "
            "landing, device, content_seen) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (project_id, profile_id) DO UPDATE SET user_id = excluded.user_id, "
            "stage = excluded.stage, stage_entered_at = excluded.stage_entered_at, "
            "score = excluded.score, first_seen = excluded.first_seen, "
            "last_seen = excluded.last_seen, event_count = excluded.event_count, "
            "stage_mismatches = excluded.stage_mismatches, map_version = excluded.map_version, "
            "snapshot = excluded.snapshot, state = excluded.state, "
            "updated_at = excluded.updated_at, next_due = excluded.next_due, "
            "channel = excluded.channel, campaign = excluded.campaign, "
            "converted = excluded.converted, source = excluded.source, "
            "medium = excluded.medium, landing = excluded.landing, device = excluded.device, "
            "content_seen = excluded.content_seen")),
        clear_transitions(
            db.Prepare("DELETE FROM transitions WHERE profile_id = ? AND project_id = ?")),
        transition(db.Prepare(
            "INSERT INTO transitions (profile_id, position, from_stage, to_stage, at, "
            "event_id, rule, map_version, project_id) VALUES (?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (project_id, profile_id, position) DO UPDATE SET "
            "from_stage = excluded.from_stage, "
            "to_stage = excluded.to_stage, at = excluded.at, event_id = excluded.event_id, "
            "rule = excluded.rule, map_version = excluded.map_version")),
        clear_stage_times(
            db.Prepare("DELETE FROM stage_times WHERE profile_id = ? AND project_id = ?")),
        stage_time(db.Prepare(
            "INSERT INTO stage_times (profile_id, stage, total_ms, visits, project_id) "
            "VALUES (?,?,?,?,?) ON CONFLICT (project_id, profile_id, stage) DO UPDATE SET "
            "total_ms = excluded.total_ms, "
            "visits = excluded.visits")),
        locks(db),
        rollups(db),
        facts(db),
        postgres(db.dialect() == Dialect::kPostgres) {}

  bool ok() const {
    for (const Statement* s :
         {&dirty,      &dirty_urgent, &dirty_one,         &clean,        &load_profile,
          &all_events, &new_events,   &filter_body,       &mark,         &conversion_exists,
          &outbox,     &conversion,   &clear_conversions, &drop_profile, &unstage_events,
          &newest_map, &save,         &clear_transitions, &transition,   &clear_stage_times,
          &stage_time}) {
      if (!s->ok()) return false;
    }
    return !postgres || mark_all.ok();
  }

  Statement dirty, dirty_urgent, dirty_one, clean, load_profile, all_events, new_events,
      filter_body, mark, mark_all, conversion_exists, outbox, conversion, clear_conversions,
      drop_profile, unstage_events, newest_map, save, clear_transitions, transition,
      clear_stage_times, stage_time;
  DeviceLocks locks;  ///< several collectors: anonymous journeys being linked elsewhere wait
  RollupWriter rollups;
  StoredFactsReader facts;  ///< a stored journey's contribution, before a full replay replaces it
  bool postgres;            ///< mark_all is prepared (and needed) on PostgreSQL only
  RollupDelta delta;        ///< what this pass changed, written before its transaction commits
};

std::optional<std::string> LoadStoredEvents(Statement& query, const ProfileKey& profile,
                                            std::vector<StoredEvent>* out) {
  if (!query.ok()) return query.error().empty() ? std::string("prepare failed") : query.error();
  query.Bind(1, profile.project).Bind(2, profile.id);
  const std::size_t first = out->size();
  while (query.Step()) {
    auto parsed = ParseEvent(query.Text(1));
    if (!parsed) continue;  // stored bodies were validated on the way in
    StoredEvent s;
    s.event = std::move(parsed).value();
    s.event.time = query.Int(2);
    s.browser_stage = query.IsNull(3) ? "" : query.Text(3);
    s.unfiltered = query.Int(4) != 0;
    if (!query.IsNull(5)) s.server_stage = query.Text(5);
    if (!query.IsNull(6)) s.device = query.Text(6);
    out->push_back(std::move(s));
  }
  const bool failed = query.failed();
  std::string error = query.error();
  query.Reset();
  if (failed) return error;
  // The core owns the order of a journey's events (waymark/identity.h, JourneyOrder); the query's
  // ORDER BY only makes it cheap (its input is almost always in order already).
  std::vector<const Event*> loaded;
  loaded.reserve(out->size() - first);
  for (std::size_t i = first; i < out->size(); ++i) loaded.push_back(&(*out)[i].event);
  const std::vector<std::size_t> order = JourneyOrder(loaded);
  std::vector<StoredEvent> sorted;
  sorted.reserve(order.size());
  for (std::size_t i : order) sorted.push_back(std::move((*out)[first + i]));
  std::move(sorted.begin(), sorted.end(), out->begin() + static_cast<std::ptrdiff_t>(first));
  return std::nullopt;
}

std::optional<std::string> MarkForReprojection(Database& db, const std::string& project,
                                               std::int64_t map_version) {
  Statement mark = db.Prepare(
      std::string("INSERT INTO dirty_profiles (project_id, profile_id, full_replay) SELECT "
                  "project_id, profile_id, 3 FROM profiles WHERE project_id = ? AND "
                  "map_version <> ? ORDER BY profile_id "
                  "ON CONFLICT (project_id, profile_id) DO UPDATE SET ") +
      kCombineDirtyMarks);
  mark.Bind(1, project).Bind(2, map_version);
  if (!mark.Run()) return "re-projection: " + mark.error();
  return std::nullopt;
}

std::string DeliveryKey(const std::string& profile_id, const FiredTrigger& t,
                        const std::string& endpoint_id) {
  // Timed transitions have no event; their profile, time and target identify them.
  std::string who =
      t.event_id.empty() ? profile_id + "@" + std::to_string(t.at) + ">" + t.to : t.event_id;
  return t.trigger + "|" + who + "|" + endpoint_id;
}

ProfileProjector::ProfileProjector(Database& db, const Config& config, Metrics* metrics)
    : db_(db), config_(config), metrics_(metrics), st_(std::make_unique<Statements>(db)) {}

ProfileProjector::~ProfileProjector() = default;

std::optional<std::string> ProfileProjector::ProjectDirty(const MapLookup& maps,
                                                          std::size_t max_profiles,
                                                          bool* outbox_added, bool* remaining,
                                                          const std::function<bool()>& stop_early,
                                                          bool urgent_only, bool* stale_map) {
  if (!st_->ok()) return std::string("projection: prepare failed: ") + db_.LastError();
  std::vector<std::pair<ProfileKey, bool>> work;
  const std::int64_t limit =
      max_profiles == 0 ? INT64_MAX : static_cast<std::int64_t>(max_profiles) + 1;
  Statement& dirty = urgent_only ? st_->dirty_urgent : st_->dirty;
  dirty.Bind(1, limit);
  while (dirty.Step()) {
    work.emplace_back(ProfileKey{dirty.Text(0), dirty.Text(1)}, (dirty.Int(2) & kReplayFull) != 0);
  }
  bool failed = dirty.failed();
  std::string error = dirty.error();
  dirty.Reset();
  if (failed) return "projection: " + error;
  *remaining = max_profiles != 0 && work.size() > max_profiles;
  if (*remaining) work.pop_back();
  // Read after the claim: a publish whose marks were claimed is visible here (storage/rollups.h).
  // Only another collector on the same PostgreSQL can be ahead; one MAX per project in the pass.
  std::map<std::string, std::shared_ptr<const MapState>> usable;  // null: behind or unknown
  for (const auto& [key, full] : work) {
    if (usable.count(key.project) != 0) continue;
    auto map = maps(key.project);
    bool behind = map == nullptr;
    if (map != nullptr) {
      if (auto err = BehindTheStoredMap(key.project, *map, &behind)) return err;
    }
    usable[key.project] = behind ? nullptr : map;
    if (behind && stale_map != nullptr) *stale_map = true;
  }
  for (std::size_t i = 0; i < work.size(); ++i) {
    const ProfileKey& key = work[i].first;
    const auto& map = usable[key.project];
    // A project whose newest map this collector does not have yet: left for when it has it.
    // An anonymous journey being linked to a user by another collector right now: left dirty for
    // a later pass (storage/device_locks.h).
    if (map == nullptr || (key.id.rfind("a:", 0) == 0 && !st_->locks.TryLock(key.id.substr(2)))) {
      *remaining = true;
      continue;
    }
    if (auto err = Project(*map, key, work[i].second, outbox_added)) {
      st_->delta.Clear();  // the caller rolls the pass back
      return err;
    }
    if (i + 1 < work.size() && stop_early && stop_early()) {
      *remaining = true;
      break;
    }
  }
  return st_->rollups.Flush(st_->delta);
}

std::optional<std::string> ProfileProjector::ProjectIfDirty(const MapState& map,
                                                            const ProfileKey& profile_id,
                                                            bool* outbox_added) {
  if (!st_->ok()) return std::string("projection: prepare failed: ") + db_.LastError();
  // As in ProjectDirty: an anonymous journey another collector is linking right now waits.
  if (profile_id.id.rfind("a:", 0) == 0 && !st_->locks.TryLock(profile_id.id.substr(2))) {
    return std::nullopt;
  }
  st_->dirty_one.Bind(1, profile_id.id).Bind(2, profile_id.project);
  bool dirty = st_->dirty_one.Step();
  bool full = dirty && (st_->dirty_one.Int(0) & kReplayFull) != 0;
  st_->dirty_one.Reset();
  if (!dirty) return std::nullopt;
  // As in ProjectDirty: a collector behind the stored map leaves the journey to the new one.
  bool behind = false;
  if (auto err = BehindTheStoredMap(profile_id.project, map, &behind)) return err;
  if (behind) return std::nullopt;
  if (auto err = Project(map, profile_id, full, outbox_added)) {
    st_->delta.Clear();
    return err;
  }
  return st_->rollups.Flush(st_->delta);
}

std::optional<std::string> ProfileProjector::BehindTheStoredMap(const std::string& project,
                                                                const MapState& map, bool* behind) {
  std::int64_t newest = 0;
  st_->newest_map.Bind(1, project);
  if (st_->newest_map.Step() && !st_->newest_map.IsNull(0)) newest = st_->newest_map.Int(0);
  const bool failed = st_->newest_map.failed();
  const std::string error = st_->newest_map.error();
  st_->newest_map.Reset();
  if (failed) return "projection: " + error;
  *behind = newest > map.version;
  return std::nullopt;
}

// An event a browser sent without its engine keeps what the sync filter of the stage after it
// lets through, as the browser's engine would have sent it. One the filter keeps back entirely,
// or the engine rejected, keeps only what places it in the journey (id, name, time, sequence,
// ids): no properties, no page context. The journey of this projection has seen the whole event;
// later replays see what is stored, as when the browser filters (its engine saw the whole event).
// The row stays, so a copy sent again is still a duplicate.
std::optional<std::string> ProfileProjector::ApplySyncFilter(const std::string& project,
                                                             const Engine& engine,
                                                             const Event& event, bool rejected,
                                                             json* properties) {
  std::optional<json> synced = rejected ? std::nullopt : engine.SyncedEnvelope(event);
  json body = synced ? std::move(*synced) : EventToJson(event);
  if (!synced) {
    body.erase("properties");
    body.erase("context");
  }
  auto kept = body.find("properties");
  *properties = kept != body.end() ? *kept : json();
  st_->filter_body.Bind(1, DumpJson(body)).Bind(2, event.id).Bind(3, project);
  if (!st_->filter_body.Run()) return "projection: " + st_->filter_body.error();
  return std::nullopt;
}

std::optional<std::string> ProfileProjector::Project(const MapState& map, const ProfileKey& key,
                                                     bool full, bool* outbox_added) {
  Statements& st = *st_;
  const std::string& project = key.project;
  const std::string& profile_id = key.id;
  EngineOptions options;
  options.trust_channel = false;   // channels come from the stored context, not the sender
  options.build_outbound = false;  // the collector sends nothing on
  Engine engine(map.map, options);
  std::int64_t mismatches = 0;
  std::int64_t first_seen = -1;
  std::int64_t event_count = 0;
  std::size_t transitions_before = 0;
  // What the stored journey counts in the rollups now; replaced by what it counts after.
  std::optional<JourneyFacts> before;
  // The channel and campaign of the journey's first touch, kept across incremental passes.
  Acquisition acquisition;
  // The content it was shown, by the stage it was in then (rollup_exposure), kept like it.
  Exposures exposures;
  const std::vector<std::string>& conversion_stages = map.map->attribution.conversions;

  st.load_profile.Bind(1, profile_id).Bind(2, project);
  const bool stored = st.load_profile.Step();
  if (stored && st.load_profile.Int(1) > map.version) {
    // Computed under a newer map than this collector has yet (several collectors): left dirty
    // for when it has it.
    st.load_profile.Reset();
    return std::nullopt;
  }
  if (stored && !full) {
    // A profile computed under another map version is recomputed under the current one.
    if (st.load_profile.Int(1) != map.version || !engine.Restore(st.load_profile.Text(0)).ok()) {
      full = true;
      engine = Engine(map.map, options);
    } else {
      mismatches = st.load_profile.Int(2);
      first_seen = st.load_profile.IsNull(3) ? -1 : st.load_profile.Int(3);
      event_count = st.load_profile.Int(5);
      acquisition = {st.load_profile.Text(6), st.load_profile.Text(7),  st.load_profile.Text(8),
                     st.load_profile.Text(9), st.load_profile.Text(10), st.load_profile.Text(11)};
      exposures = ExposureCounts(ParseExposures(st.load_profile.Text(12)));
      transitions_before = engine.transitions().size();
      // The stored rows are what the projection wrote from this very state.
      before =
          FactsFromEngine(engine, std::max<std::int64_t>(first_seen, 0), map.version, mismatches,
                          std::max(engine.last_activity(), engine.stage_entered_at()), acquisition,
                          conversion_stages, exposures);
    }
  }
  const bool load_failed = st.load_profile.failed();
  st.load_profile.Reset();
  if (load_failed) return "projection: " + st.load_profile.error();
  if (stored && !before) {
    std::string error;
    before = st.facts.Journey(key, &error);
    if (!error.empty()) return "projection: " + error;
  }
  // A replay under a new map version leaves what the journey counted under the old one as it was
  // (the reports read the old version's rollups until the re-projection is done); otherwise the
  // old contribution is taken out before the new one is added (storage/rollups.h).
  const bool switching = before && before->map_version < map.version;
  const bool replacing = before && !switching;
  auto take_out_before = [&] {
    if (replacing) {
      st.delta.AddJourney(*before, -1);
    } else if (switching) {
      st.delta.AddVersionProfiles(before->map_version, -1);
    }
  };

  auto load = [&](Statement& q, std::vector<StoredEvent>* out) -> std::optional<std::string> {
    if (auto err = LoadStoredEvents(q, key, out)) return "projection: " + *err;
    return std::nullopt;
  };

  std::vector<StoredEvent> events;
  if (!full) {
    if (auto err = load(st.new_events, &events)) return err;
    // An event older than the journey's last activity, or than a timed transition the server
    // already applied (the stage was entered later), changes history: replay it all.
    const TimeMs settled = std::max(engine.last_activity(), engine.stage_entered_at());
    if (engine.last_activity() >= 0 &&
        std::any_of(events.begin(), events.end(),
                    [&](const StoredEvent& s) { return s.event.time < settled; })) {
      full = true;
      events.clear();
      engine = Engine(map.map, options);
    }
  }
  if (full) {
    mismatches = 0;
    first_seen = -1;
    transitions_before = 0;
    acquisition = Acquisition();
    exposures.clear();
    if (auto err = load(st.all_events, &events)) return err;
    event_count = 0;
    std::string error;
    if (replacing && !st.facts.SubtractConversions(key, map.version, *before, &st.delta, &error)) {
      return "projection: " + error;
    }
    st.clear_conversions.Bind(1, profile_id).Bind(2, project);
    if (!st.clear_conversions.Run()) return "projection: " + st.clear_conversions.error();
  }
  event_count += static_cast<std::int64_t>(events.size());

  const TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  // Conversions credited and webhook deliveries queued for what a step (an event, or time passing)
  // did.
  auto record = [&](const std::vector<TransitionRecord>& transitions,
                    const std::vector<FiredTrigger>& triggers) -> std::optional<std::string> {
    for (const auto& t : transitions) {
      const auto& conversions = map.map->attribution.conversions;
      if (std::find(conversions.begin(), conversions.end(), t.to) == conversions.end()) continue;
      // One conversion per (stage, at), as the report counts them: a second entry into the same
      // stage at the same millisecond keeps the first one's credits.
      st.conversion_exists.Bind(1, profile_id).Bind(2, t.to).Bind(3, t.at).Bind(4, project);
      const bool known = st.conversion_exists.Step();
      const bool failed = st.conversion_exists.failed();
      st.conversion_exists.Reset();
      if (failed) return "projection: " + st.conversion_exists.error();
      if (known) continue;
      // The triggers that fired on this very transition (the same from, to and time).
      std::vector<std::string> fired;
      for (const auto& trig : triggers) {
        if (trig.to == t.to && trig.from == t.from && trig.at == t.at)
          fired.push_back(trig.trigger);
      }
      const std::string fired_json = TriggerIdsJson(fired);
      bool credited = false;
      for (AttributionModel model : AllModels()) {
        // Each channel's credit, split by its touches' source and campaign (rollup_credit_sources).
        const auto touches = engine.AttributeTouches(model, t.at);
        for (const auto& credit : engine.Attribute(model, t.at)) {
          std::vector<CreditPart> parts;
          for (const TouchCredit& tc : touches) {
            if (tc.touch.channel != credit.channel) continue;
            auto same = std::find_if(parts.begin(), parts.end(), [&](const CreditPart& p) {
              return p.source == tc.touch.source && p.campaign == tc.touch.campaign;
            });
            if (same == parts.end()) {
              parts.push_back({tc.touch.source, tc.touch.campaign, tc.credit});
            } else {
              same->credit += tc.credit;
            }
          }
          const std::string touches_json = CreditPartsJson(parts);
          st.conversion.Bind(1, profile_id).Bind(2, t.to).Bind(3, t.at).Bind(4, ModelName(model));
          st.conversion.Bind(5, credit.channel).Bind(6, credit.credit).Bind(7, project);
          st.conversion.Bind(8, touches_json).Bind(9, fired_json);
          if (!st.conversion.Run()) return "projection: " + st.conversion.error();
          if (db_.Changes() == 0) continue;
          credited = true;
          st.delta.AddCredit(map.version, t.at, t.to, ModelName(model), credit.channel,
                             credit.credit, touches_json, +1, CreditSegmentValues(acquisition),
                             fired_json);
        }
      }
      if (credited) {
        st.delta.AddConversion(map.version, t.at, t.to, +1, CreditSegmentValues(acquisition),
                               fired_json);
      }
    }
    for (const auto& trig : triggers) {
      for (const auto& endpoint : map.webhooks) {
        if (!TriggerWanted(endpoint, trig.trigger)) continue;
        json payload = {{"type", "trigger"},
                        {"trigger", trig.trigger},
                        {"profile_id", profile_id},
                        {"user_id", engine.user_id()},
                        {"anonymous_id", engine.anonymous_id()},
                        {"from", trig.from},
                        {"to", trig.to},
                        {"rule", trig.rule},
                        {"at", trig.at},
                        {"event_id", trig.event_id},
                        {"map_version", map.version}};
        st.outbox.Bind(1, DeliveryKey(profile_id, trig, endpoint.id)).Bind(2, endpoint.id);
        st.outbox.Bind(3, trig.trigger).Bind(4, profile_id).Bind(5, DumpJson(payload));
        st.outbox.Bind(6, now).Bind(7, now).Bind(8, project);
        if (!st.outbox.Run()) return "outbox: " + st.outbox.error();
        if (db_.Changes() > 0) *outbox_added = true;
      }
    }
    return std::nullopt;
  };

  // content_shown counts, applied once the journey is stored (one that stores no profile counts
  // nowhere, as a recount would have it).
  struct ShownCount {
    TimeMs at;
    std::string stage, slot, variant;
    int sign;
  };
  std::vector<ShownCount> shown_counts;
  // The first accepted event's time: the journey's cohort day (the engine's log is capped, so a
  // long journey's log no longer starts there).
  TimeMs first_accepted = -1;
  // Each event's server stage and channel, marked projected: row by row, or on PostgreSQL in
  // statements of kMarksPerStatement events.
  const bool batch_marks = db_.dialect() == Dialect::kPostgres;
  json marks = json::array();
  auto flush_marks = [&]() -> std::optional<std::string> {
    if (marks.empty()) return std::nullopt;
    st.mark_all.Bind(1, DumpJson(marks)).Bind(2, project);
    marks = json::array();
    if (!st.mark_all.Run()) return "projection: " + st.mark_all.error();
    return std::nullopt;
  };
  for (auto& s : events) {
    const std::string id = s.event.id;
    const TimeMs at = s.event.time;
    const std::string device = s.device;
    // content_shown counts in rollup_content under the event's server stage, by the slot and
    // variant its stored body names: out with the old stage, in with the new one.
    const bool shown = s.event.name == "content_shown";
    json shown_properties = shown ? s.event.properties : json();
    // Its stored stage was counted under this journey's version (a merge clears the stage of
    // the events it moves: ingest.cpp).
    if (shown && s.server_stage && replacing) {
      if (auto key = ShownContent(shown_properties)) {
        shown_counts.push_back({at, *s.server_stage, key->first, key->second, -1});
      }
    }
    std::optional<Event> unfiltered;
    if (s.unfiltered) unfiltered = s.event;
    TrackOutcome out = engine.Track(std::move(s.event));
    if (unfiltered) {
      // As the engine recorded it (channel classified), when it is in the log.
      const bool rejected = out.status == TrackStatus::kRejected;
      const bool logged = !rejected && !engine.log().empty() && engine.log().back().event.id == id;
      if (auto err =
              ApplySyncFilter(project, engine, logged ? engine.log().back().event : *unfiltered,
                              rejected, &shown_properties)) {
        return err;
      }
    }
    if (shown) {
      if (auto key = ShownContent(shown_properties)) {
        shown_counts.push_back({at, engine.stage(), key->first, key->second, +1});
        ++exposures[{engine.stage(), key->first, key->second}];
      }
    }
    std::string channel;
    if (out.status != TrackStatus::kRejected && first_accepted < 0) {
      first_accepted = at;
      // The device of the journey's first event (a breakdown dimension): only when this pass
      // starts the journey (new, or a full replay), not from a later event of a journey stored
      // before devices were recorded.
      if (acquisition.device.empty() && first_seen < 0) acquisition.device = device;
    }
    if (out.status != TrackStatus::kRejected) {
      if (!s.browser_stage.empty() && s.browser_stage != engine.stage()) {
        ++mismatches;
        if (metrics_ != nullptr) metrics_->Add("waymark_stage_mismatches_total", {});
      }
      if (out.status == TrackStatus::kAccepted && !engine.log().empty() &&
          engine.log().back().event.id == id) {
        channel = engine.log().back().event.context.channel;
        // The first touch: where the journey came from (rollup_acquisition).
        if (acquisition.channel.empty() && !channel.empty()) {
          const std::string first_device = acquisition.device;
          acquisition = FirstTouch(engine.log().back().event.context);
          acquisition.device = first_device;
        }
      }
    }
    if (batch_marks) {
      marks.push_back({{"id", id},
                       {"stage", engine.stage()},
                       {"channel", channel.empty() ? json() : json(channel)}});
      if (marks.size() == kMarksPerStatement) {
        if (auto err = flush_marks()) return err;
      }
    } else {
      st.mark.Bind(1, engine.stage());
      if (channel.empty()) {
        st.mark.BindNull(2);
      } else {
        st.mark.Bind(2, channel);
      }
      st.mark.Bind(3, id).Bind(4, project);
      if (!st.mark.Run()) return "projection: " + st.mark.error();
    }

    if (auto err = record(out.transitions, out.triggers)) return err;
  }
  if (auto err = flush_marks()) return err;

  // Time passes on the server too: timed transitions that fell due since the last activity
  // (dormancy, churn) land at the times they fell due, with their triggers (deduplicated as
  // always); the periodic pass (Ingestor) marks profiles dirty once their next_due has come.
  const bool advancing = config_.limits.advance_interval_seconds > 0;
  if (advancing) {
    AdvanceOutcome timed = engine.Advance(now);
    if (auto err = record(timed.transitions, timed.triggers)) return err;
  }

  st.clean.Bind(1, profile_id).Bind(2, project);
  if (!st.clean.Run()) return "projection: " + st.clean.error();
  const TimeMs last = engine.last_activity();
  if (last < 0) {
    // Nothing was accepted: under this map there is no journey. A profile stored before (under
    // another map) is removed, so that no profile stays on an old version. Its events' stages no
    // longer count anywhere (a recount skips events with no stage), nor do those of a journey
    // never stored: a later event that stores it replays only itself.
    if (!stored) {
      st.unstage_events.Bind(1, profile_id).Bind(2, project);
      if (!st.unstage_events.Run()) return "projection: " + st.unstage_events.error();
      return std::nullopt;
    }
    for (const ShownCount& c : shown_counts) {
      if (c.sign < 0) st.delta.AddContentShown(map.version, c.at, c.stage, c.slot, c.variant, -1);
    }
    for (Statement* clear : {&st.drop_profile, &st.clear_transitions, &st.clear_stage_times,
                             &st.clear_conversions, &st.unstage_events}) {
      clear->Bind(1, profile_id).Bind(2, project);
      if (!clear->Run()) return "projection: " + clear->error();
    }
    take_out_before();
    return std::nullopt;
  }
  for (const ShownCount& c : shown_counts) {
    st.delta.AddContentShown(map.version, c.at, c.stage, c.slot, c.variant, c.sign);
  }
  if (first_seen < 0 && first_accepted >= 0) first_seen = first_accepted;
  if (first_seen < 0) {
    first_seen = engine.log().empty() ? last : engine.log().front().at;
    if (!engine.transitions().empty()) {
      first_seen = std::min(first_seen, engine.transitions().front().at);
    }
  }

  // A stage entered by time passing (after the last activity) is read at its own entry time.
  const TimeMs until = std::max(last, engine.stage_entered_at());
  const JourneyFacts after = FactsFromEngine(engine, first_seen, map.version, mismatches, until,
                                             acquisition, conversion_stages, exposures);
  st.save.Bind(1, profile_id);
  if (engine.user_id().empty()) {
    st.save.BindNull(2);
  } else {
    st.save.Bind(2, engine.user_id());
  }
  st.save.Bind(3, engine.stage()).Bind(4, engine.stage_entered_at()).Bind(5, engine.Score(last));
  st.save.Bind(6, first_seen).Bind(7, last).Bind(8, event_count).Bind(9, mismatches);
  st.save.Bind(10, map.version).Bind(11, engine.Snapshot());
  st.save.Bind(12, DumpJson(engine.StateJson(until))).Bind(13, now);
  // Only what falls due after now: a transition due earlier was judged by Advance(now) above.
  const TimeMs next_due = advancing ? engine.NextTimedDue(now) : -1;
  if (next_due < 0) {
    st.save.BindNull(14);
  } else {
    st.save.Bind(14, next_due);
  }
  st.save.Bind(15, acquisition.channel).Bind(16, acquisition.campaign);
  st.save.Bind(17, static_cast<std::int64_t>(after.converted ? 1 : 0)).Bind(18, project);
  st.save.Bind(19, acquisition.source).Bind(20, acquisition.medium);
  st.save.Bind(21, acquisition.landing).Bind(22, acquisition.device);
  st.save.Bind(23, ExposuresJson(after.exposures));
  if (!st.save.Run()) return "profile save: " + st.save.error();

  // Transitions: only the new ones when the history just grew; rewritten after a full replay or
  // once the engine's bounded history starts dropping old records.
  const auto& history = engine.transitions();
  std::size_t start = transitions_before;
  if (full || history.size() < transitions_before || history.size() >= options.transition_cap) {
    st.clear_transitions.Bind(1, profile_id).Bind(2, project);
    if (!st.clear_transitions.Run()) return "projection: " + st.clear_transitions.error();
    start = 0;
  }
  for (std::size_t i = start; i < history.size(); ++i) {
    const auto& t = history[i];
    st.transition.Bind(1, profile_id).Bind(2, static_cast<std::int64_t>(i)).Bind(3, t.from);
    st.transition.Bind(4, t.to).Bind(5, t.at).Bind(6, t.event_id).Bind(7, t.rule);
    st.transition.Bind(8, t.map_version).Bind(9, project);
    if (!st.transition.Run()) return "transitions: " + st.transition.error();
  }
  if (full) {
    st.clear_stage_times.Bind(1, profile_id).Bind(2, project);
    if (!st.clear_stage_times.Run()) return "projection: " + st.clear_stage_times.error();
  }
  for (const auto& t : after.stage_times) {  // the visited stages, as stored
    st.stage_time.Bind(1, profile_id).Bind(2, t.stage).Bind(3, t.total_ms).Bind(4, t.visits);
    st.stage_time.Bind(5, project);
    if (!st.stage_time.Run()) return "stage times: " + st.stage_time.error();
  }
  take_out_before();
  st.delta.AddJourney(after, +1);
  return std::nullopt;
}

}  // namespace waymark::collector
