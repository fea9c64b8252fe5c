// The dashboard's building blocks without HTTP: the recent-events stream, the map preview (an
// engine replay summarized exactly as projection stores it), and the static files' helpers.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "default_map_database_test.h"
#include "http/static_files.h"
#include "pipeline/ingest.h"
#include "pipeline/profile_replay.h"
#include "reports/map_preview.h"
#include "reports/recent_events.h"
#include "reports/stats.h"
#include "storage/rollups.h"
#include "storage/schema.h"
#include "waymark/default_map.h"
#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

constexpr std::int64_t kDay = 24 * 60 * 60 * 1000;
constexpr std::int64_t kStart = 1700000000000;

// The wall clock, as projection reads it when it advances idle profiles.
std::int64_t NowForTests() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class DashboardTest : public DefaultMapDatabaseTest {
 protected:
  // Fixtures write the journey tables directly: the reports read rollups, recounted from them.
  Database& Recount() {
    EXPECT_FALSE(RebuildRollups(db_).has_value());
    return db_;
  }

  // Stores one event as ingestion does (body = the canonical envelope) and marks its profile for
  // a full replay.
  void Store(const std::string& anonymous_id, const std::string& name, std::int64_t time,
             const json& context = json::object()) {
    ++seq_;
    json envelope = {{"id", "ev-" + std::to_string(seq_)},
                     {"seq", seq_},
                     {"anonymous_id", anonymous_id},
                     {"name", name},
                     {"type", "track"},
                     {"time", time}};
    if (!context.empty()) envelope["context"] = context;
    auto event = ParseEvent(DumpJson(envelope));
    ASSERT_TRUE(event.ok()) << event.error().message;
    StoreRaw(event.value().id, "a:" + anonymous_id, anonymous_id, name, time,
             DumpJson(EventToJson(event.value())));
  }

  void StoreRaw(const std::string& id, const std::string& profile, const std::string& anonymous_id,
                const std::string& name, std::int64_t time, const std::string& body) {
    auto ins = db_.Prepare(
        "INSERT INTO events (id, site_key, profile_id, anonymous_id, name, seq, device_time, "
        "received_at, corrected_time, content_hash, body) VALUES (?,'k',?,?,?,?,?,?,?,'h',?)");
    ins.Bind(1, id).Bind(2, profile).Bind(3, anonymous_id).Bind(4, name).Bind(5, seq_);
    ins.Bind(6, time).Bind(7, time + 5).Bind(8, time).Bind(9, body);
    ASSERT_TRUE(ins.Run()) << ins.error();
    auto dirty = db_.Prepare(
        "INSERT OR REPLACE INTO dirty_profiles (profile_id, full_replay) VALUES (?, 1)");
    dirty.Bind(1, profile);
    ASSERT_TRUE(dirty.Run()) << dirty.error();
  }

  void Project() {
    // Version 1, stored as the default project's: a range of every version (AllTime) reads the
    // versions of its project.
    auto version = db_.Prepare(
        "INSERT INTO maps (version, map_id, body, etag, created_at, project_id) "
        "VALUES (1, 'default', '{}', 'e', 0, ?) ON CONFLICT (version) DO NOTHING");
    version.Bind(1, kDefaultProject);
    ASSERT_TRUE(version.Run()) << version.error();
    MapState state;
    state.map = map_;
    state.version = 1;
    ProfileProjector projector(db_, config_, nullptr);
    bool outbox = false;
    bool remaining = false;
    auto shared = std::make_shared<const MapState>(state);
    const MapLookup maps = [&](const std::string&) { return shared; };
    ASSERT_FALSE(projector.ProjectDirty(maps, 0, &outbox, &remaining).has_value());
  }

  // Visitors under the default map: one that engages, goes dormant after 30 days and comes
  // back; a lead; a customer through the expansion loop; one that stays in awareness.
  void SeedJourneys() {
    Store("dormant", "pricing_viewed", kStart);
    Store("dormant", "page_viewed", kStart + 31 * kDay, {{"path", "/back"}});
    Store("lead", "page_viewed", kStart + 1000);
    Store("lead", "lead_submitted", kStart + 20000);
    Store("loop", "order_completed", kStart + 2000);
    Store("loop", "subscription_renewed", kStart + 3 * kDay);
    Store("loop", "plan_upgraded", kStart + 5 * kDay);
    Store("loop", "subscription_renewed", kStart + 9 * kDay);
    Store("idle", "page_viewed", kStart + 3000);
    Project();
  }

  Config config_;
  std::int64_t seq_ = 0;
};

TEST_F(DashboardTest, ReplaySummaryIsWhatProjectionStores) {
  SeedJourneys();
  Statement events = db_.Prepare(kProfileEventsSql);
  StoredJourneyReader stored(db_);
  EngineOptions options;
  options.build_outbound = false;
  for (const char* id : {"a:dormant", "a:lead", "a:loop", "a:idle"}) {
    const ProfileKey profile{kDefaultProject, id};
    std::vector<StoredEvent> loaded;
    ASSERT_FALSE(LoadStoredEvents(events, profile, &loaded).has_value());
    std::vector<Event> list;
    for (auto& s : loaded) list.push_back(s.event);
    // Projection advances idle profiles to now (time passes on the server): so does the replay.
    Engine engine = Engine::Replay(map_, list, options);
    engine.Advance(NowForTests());
    const JourneySummary replayed = SummarizeJourney(engine);
    std::string error;
    auto journey = stored.Read(profile, &error);
    ASSERT_TRUE(journey.has_value()) << id << " " << error;
    EXPECT_EQ(replayed.stage, journey->stage) << id;
    EXPECT_EQ(replayed.entered, journey->entered) << id;
    EXPECT_EQ(replayed.time_in_stage_ms, journey->time_in_stage_ms) << id;
  }
  // The seeded events are from 2023: by today's clock the visitor who came back has been idle 30
  // days again (dormant), and the customer 90 days (churned): time passed on the server.
  auto dormant = stored.Read({kDefaultProject, "a:dormant"}, nullptr);
  EXPECT_EQ(dormant->entered,
            (std::vector<std::string>{"engaged", "dormant", "engaged", "dormant"}));
  auto loop = stored.Read({kDefaultProject, "a:loop"}, nullptr);
  EXPECT_EQ(loop->entered,
            (std::vector<std::string>{"customer", "retained", "customer", "retained", "churned"}));
}

TEST_F(DashboardTest, PreviewUnderTheLiveMapGivesTheLiveFunnel) {
  SeedJourneys();
  std::string error;
  json out = PreviewMap(db_, kDefaultProject, map_, *map_, 20000, NowForTests(), &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(out["profiles"], 4);
  EXPECT_EQ(out["events"], 9);
  EXPECT_EQ(out["truncated"], false);
  EXPECT_EQ(out["draft"]["funnel"], out["live"]["funnel"]);
  // The rollups the projector kept (not recounted) give the same funnel.
  json kept = FunnelStats(db_, *map_, AllTime(0));
  EXPECT_EQ(kept["range"], (json{{"all_time", true}}));
  kept.erase("range");
  EXPECT_EQ(out["live"]["funnel"], kept);
  EXPECT_EQ(out["draft"]["map"], (json{{"id", "default"}, {"version", 1}}));
}

TEST_F(DashboardTest, PreviewUnderADraftAndOfTheMostRecentProfiles) {
  SeedJourneys();
  // The draft: one page view engages; pricing does not.
  json doc = json::parse(std::string(DefaultMapJson()));
  doc["version"] = 7;
  for (auto& t : doc["transitions"]) {
    if (t["id"] == "engage") t["when"] = {{"event", "page_viewed"}};
  }
  auto draft = ParseJourneyMap(DumpJson(doc));
  ASSERT_TRUE(draft.ok()) << draft.error().message;
  std::string error;
  json out = PreviewMap(db_, kDefaultProject, draft.value(), *map_, 20000, NowForTests(), &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(out["draft"]["map"]["version"], 7);
  const json& stages = out["draft"]["funnel"]["stages"];
  // engaged: "dormant" only at its second (page) view, "lead" and "idle" at their page view.
  EXPECT_EQ(stages[1]["id"], "engaged");
  EXPECT_EQ(stages[1]["reached"], 3);
  EXPECT_EQ(out["live"]["funnel"]["stages"][1]["reached"], 1);  // "dormant" (pricing)

  // Most recent by last event: "dormant" (day 31), then "loop" (day 9).
  json two = PreviewMap(db_, kDefaultProject, draft.value(), *map_, 2, NowForTests(), &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(two["profiles"], 2);
  EXPECT_EQ(two["truncated"], true);
  EXPECT_EQ(two["events"], 6);
  EXPECT_EQ(two["live"]["funnel"]["total_profiles"], 2);
  EXPECT_EQ(two["live"]["funnel"]["stages"][5]["id"], "customer");
  EXPECT_EQ(two["live"]["funnel"]["stages"][5]["reached"], 1);

  EXPECT_EQ(two["time_capped"], false);

  // A time cap reached at once still replays one profile, and says it stopped for time.
  json capped = PreviewMap(db_, kDefaultProject, draft.value(), *map_, 20000, NowForTests(), &error,
                           /*max_ms=*/1);
  EXPECT_EQ(error, "");
  EXPECT_GE(capped["profiles"], 1);
  // Stopped for time exactly when fewer were replayed than without a cap.
  const bool fewer = capped["profiles"].get<int>() < out["profiles"].get<int>();
  EXPECT_EQ(capped["time_capped"].get<bool>(), fewer);
  if (fewer) EXPECT_EQ(capped["truncated"], true);

  // Nothing was written, and the read transaction is closed (a write can start).
  EXPECT_FALSE(db_.Exec("BEGIN IMMEDIATE; COMMIT").has_value());
  auto left = db_.Prepare("SELECT COUNT(*) FROM profiles WHERE map_version <> 1");
  ASSERT_TRUE(left.Step());
  EXPECT_EQ(left.Int(0), 0);
}

TEST_F(DashboardTest, RecentEventsInCursorOrder) {
  std::string error;
  EXPECT_EQ(RecentEvents(db_, kDefaultProject, std::nullopt, 50, &error),
            (json{{"events", json::array()}, {"cursor", 0}}));
  Store("x", "page_viewed", kStart, {{"path", "/a"}});
  Store("x", "page_viewed", kStart + 10000);
  StoreRaw("bad-body", "a:y", "y", "page_viewed", kStart - 5000, "{not json");
  StoreRaw("num-path", "a:y", "y", "page_viewed", kStart - 4000, R"({"context":{"path":7}})");
  // Insertion order, not event time, is the stream's order.
  json all = RecentEvents(db_, kDefaultProject, std::nullopt, 50, &error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(all["events"].size(), 4u);
  EXPECT_EQ(all["cursor"], 4);
  EXPECT_EQ(all["events"][0]["id"], "ev-1");
  EXPECT_EQ(all["events"][0]["path"], "/a");
  EXPECT_EQ(all["events"][0]["cursor"], 1);
  EXPECT_EQ(all["events"][0]["time"], kStart);
  EXPECT_EQ(all["events"][0]["received_at"], kStart + 5);
  EXPECT_TRUE(all["events"][0]["user_id"].is_null());
  EXPECT_TRUE(all["events"][0]["server_stage"].is_null());  // not projected
  EXPECT_TRUE(all["events"][1]["path"].is_null());
  EXPECT_TRUE(all["events"][2]["path"].is_null());  // a malformed body does not fail the read
  EXPECT_TRUE(all["events"][3]["path"].is_null());  // not a string

  json last = RecentEvents(db_, kDefaultProject, std::nullopt, 2, &error);
  EXPECT_EQ(last["events"][0]["cursor"], 3);
  EXPECT_EQ(last["events"][1]["cursor"], 4);
  json page = RecentEvents(db_, kDefaultProject, 1, 2, &error);
  ASSERT_EQ(page["events"].size(), 2u);
  EXPECT_EQ(page["events"][0]["cursor"], 2);
  EXPECT_EQ(page["cursor"], 3);
  EXPECT_EQ(RecentEvents(db_, kDefaultProject, 4, 2, &error)["cursor"], 4);
  EXPECT_EQ(RecentEvents(db_, kDefaultProject, 99, 2, &error)["cursor"], 99);
  EXPECT_EQ(error, "");

  // Another project's events share the cursors but not the stream.
  ASSERT_FALSE(db_.Exec("INSERT INTO events (project_id, id, site_key, profile_id, anonymous_id, "
                        "name, seq, device_time, received_at, corrected_time, content_hash, body) "
                        "VALUES ('other', 'ev-1', 'k', 'a:x', 'x', 'page_viewed', 1, 0, 0, 0, "
                        "'h', '{}')")
                   .has_value());
  json mine = RecentEvents(db_, kDefaultProject, std::nullopt, 50, &error);
  EXPECT_EQ(mine["events"].size(), 4u);
  EXPECT_EQ(mine["cursor"], 4);
  json theirs = RecentEvents(db_, "other", std::nullopt, 50, &error);
  ASSERT_EQ(theirs["events"].size(), 1u);
  EXPECT_EQ(theirs["cursor"], 5);
  EXPECT_EQ(RecentEvents(db_, "other", 1, 50, &error)["events"].size(), 1u);
  EXPECT_EQ(RecentEvents(db_, kDefaultProject, 4, 50, &error)["events"].size(), 0u);
  EXPECT_EQ(error, "");
}

TEST(StaticFilesTest, ContentTypes) {
  EXPECT_EQ(StaticContentType("/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(StaticContentType("/d/app.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StaticContentType("/a.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StaticContentType("/s.css"), "text/css; charset=utf-8");
  EXPECT_EQ(StaticContentType("/i.svg"), "image/svg+xml");
  EXPECT_EQ(StaticContentType("/d.json"), "application/json");
  EXPECT_EQ(StaticContentType("/w.wasm"), "application/wasm");
  EXPECT_EQ(StaticContentType("/v1.0/README"), "application/octet-stream");
  EXPECT_EQ(StaticContentType("/x.unknown"), "application/octet-stream");
}

TEST(StaticFilesTest, ApiPathsAreNeverStatic) {
  for (const char* p :
       {"/v1", "/v1/", "/v1/map", "/v1/stats/funnel", "/healthz", "/readyz", "/metrics"}) {
    EXPECT_TRUE(IsApiPath(p)) << p;
  }
  for (const char* p : {"/", "/index.html", "/v1x", "/v10/a", "/healthz.html", "/app/v1/map"}) {
    EXPECT_FALSE(IsApiPath(p)) << p;
  }
}

}  // namespace
}  // namespace waymark::collector
