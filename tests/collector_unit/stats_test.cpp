// The /v1/stats reports over a hand-built database: seven profiles under a small map with a
// side stage, a self-loop, a "$previous" return, skipped stages and content that targets some
// stages and not others. Every expected number below is worked out by hand in the comments.
#include "reports/stats.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "reports/adhoc_funnel.h"
#include "storage/rollups.h"
#include "storage/schema.h"
#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

constexpr std::int64_t kNow = 1700000000000;
constexpr std::int64_t kHour = 60 * 60 * 1000;

// Percentiles read as the bucket of the exact value (storage/rollups.h, within 13 %).
std::int64_t Bucketed(std::int64_t exact_ms) { return TimeBucketValue(TimeBucket(exact_ms)); }

constexpr const char* kTestMap = R"json({
  "id": "test", "version": 3, "name": "Test journey",
  "stages": [
    { "id": "visitor", "name": "Visitor", "rank": 0 },
    { "id": "interested", "name": "Interested", "rank": 1 },
    { "id": "trial", "name": "Trial", "rank": 2 },
    { "id": "customer", "name": "Customer", "rank": 3, "phase": "after" },
    { "id": "advocate", "name": "Advocate", "rank": 4, "phase": "after" },
    { "id": "dormant", "name": "Dormant", "rank": -1 }
  ],
  "initial": "visitor",
  "transitions": [
    { "id": "interest", "from": "visitor", "to": "interested", "when": { "event": "product_viewed" } },
    { "id": "start", "from": ["visitor", "interested", "dormant"], "to": "trial", "priority": 20,
      "when": { "event": "trial_started" } },
    { "id": "demo", "from": "interested", "to": "trial", "priority": 10,
      "when": { "event": "demo_requested" } },
    { "id": "buy", "from": "*", "to": "customer", "priority": 30, "when": { "event": "order_completed" } },
    { "id": "rebuy", "from": "customer", "to": "customer", "priority": 40,
      "when": { "event": "order_completed" } },
    { "id": "sleep", "from": ["interested", "trial"], "to": "dormant", "when": { "inactive_for": "30d" } },
    { "id": "wake", "from": "dormant", "to": "$previous", "when": { "event": "*" } }
  ],
  "content": { "slots": [
    { "id": "hero", "variants": [
        { "id": "hero_trial", "when": { "stage": "trial" }, "content": { "text": "t" } },
        { "id": "hero_vip", "when": { "score": { "gte": 50 } }, "content": { "text": "v" } },
        { "id": "hero_not_customer", "when": { "not": { "stage": "customer" } }, "content": { "text": "n" } } ],
      "default": { "id": "hero_default", "content": { "text": "d" } } },
    { "id": "cta", "variants": [
        { "id": "cta_comeback", "when": { "all": [ { "stage": "dormant" }, { "score": { "gte": 1 } } ] },
          "content": { "text": "c" } } ],
      "default": { "id": "cta_default", "content": { "text": "d" } } }
  ] },
  "attribution": { "conversions": ["customer"] }
})json";

class StatsTest : public ::testing::Test {
 protected:
  // Fixtures write the journey tables directly: the reports read rollups, recounted from them.
  Database& Recount() {
    EXPECT_FALSE(RebuildRollups(db_).has_value());
    return db_;
  }

  void SetUp() override {
    ASSERT_FALSE(db_.Open(":memory:", false).has_value());
    ASSERT_FALSE(MigrateSchema(db_).has_value());
    auto parsed = ParseJourneyMap(kTestMap);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    map_ = parsed.value();
    // The fixtures' journeys are on map version 3, stored as the default project's: a range of
    // every version (AllTime) reads the versions of its project.
    auto version = db_.Prepare(
        "INSERT INTO maps (version, map_id, body, etag, created_at, project_id) "
        "VALUES (3, 'test', '{}', 'e', 0, ?)");
    version.Bind(1, kDefaultProject);
    ASSERT_TRUE(version.Run()) << version.error();
  }

  void Profile(const std::string& id, const char* user_id, const std::string& stage,
               std::int64_t mismatches = 0) {
    auto stmt = db_.Prepare(
        "INSERT INTO profiles (profile_id, user_id, stage, stage_entered_at, score, first_seen, "
        "last_seen, event_count, stage_mismatches, map_version, snapshot, state, updated_at) "
        "VALUES (?,?,?,?,0,?,?,0,?,3,'','{}',?)");
    stmt.Bind(1, id);
    if (user_id != nullptr) {
      stmt.Bind(2, std::string(user_id));
    } else {
      stmt.BindNull(2);
    }
    stmt.Bind(3, stage).Bind(4, kNow - kHour).Bind(5, kNow - 10 * kHour).Bind(6, kNow - kHour);
    stmt.Bind(7, mismatches).Bind(8, kNow);
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }

  void History(const std::string& id,
               const std::vector<std::tuple<std::string, std::string, std::string>>& steps) {
    auto stmt = db_.Prepare(
        "INSERT INTO transitions (profile_id, position, from_stage, to_stage, at, event_id, rule, "
        "map_version) VALUES (?,?,?,?,?,'',?,3)");
    std::int64_t position = 0;
    for (const auto& [from, to, rule] : steps) {
      stmt.Bind(1, id).Bind(2, position).Bind(3, from).Bind(4, to);
      stmt.Bind(5, kNow - 10 * kHour + position).Bind(6, rule);
      ASSERT_TRUE(stmt.Run()) << stmt.error();
      ++position;
    }
  }

  void Time(const std::string& id, const std::string& stage, std::int64_t total,
            std::int64_t visits) {
    auto stmt = db_.Prepare(
        "INSERT INTO stage_times (profile_id, stage, total_ms, visits) VALUES (?,?,?,?)");
    stmt.Bind(1, id).Bind(2, stage).Bind(3, total).Bind(4, visits);
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }

  void AddCredit(const std::string& id, const std::string& stage, std::int64_t at,
                 const std::string& model, const std::string& channel, double credit) {
    auto stmt = db_.Prepare(
        "INSERT INTO conversions (profile_id, stage, at, model, channel, credit) "
        "VALUES (?,?,?,?,?,?)");
    stmt.Bind(1, id).Bind(2, stage).Bind(3, at).Bind(4, model).Bind(5, channel).Bind(6, credit);
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }

  void StoreEvent(const std::string& id, const std::string& profile, const std::string& name,
                  std::int64_t received_at, const std::string& body,
                  const char* channel = nullptr) {
    auto stmt = db_.Prepare(
        "INSERT INTO events (id, site_key, profile_id, anonymous_id, name, seq, device_time, "
        "received_at, corrected_time, channel, content_hash, body) "
        "VALUES (?,'k',?,'anon',?,1,?,?,?,?,'h',?)");
    stmt.Bind(1, id).Bind(2, profile).Bind(3, name).Bind(4, received_at).Bind(5, received_at);
    stmt.Bind(6, received_at);
    if (channel != nullptr) {
      stmt.Bind(7, std::string(channel));
    } else {
      stmt.BindNull(7);
    }
    stmt.Bind(8, body);
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }

  void Shown(const std::string& id, const std::string& profile, const std::string& slot,
             const std::string& stage, std::int64_t received_at, const std::string& variant = "") {
    json body = {
        {"id", id},
        {"name", "content_shown"},
        {"properties",
         {{"slot", slot}, {"variant", variant.empty() ? slot + "_x" : variant}, {"stage", stage}}}};
    StoreEvent(id, profile, "content_shown", received_at, DumpJson(body));
    // The projection's stage for the event: what rollup_content counts it under.
    auto stage_of = db_.Prepare("UPDATE events SET server_stage = ? WHERE id = ?");
    stage_of.Bind(1, stage).Bind(2, id);
    ASSERT_TRUE(stage_of.Run()) << stage_of.error();
  }

  void Delivery(std::int64_t id, const std::string& status, std::int64_t attempts,
                std::int64_t next_attempt_at, const char* last_error,
                std::optional<std::int64_t> last_status) {
    auto stmt = db_.Prepare(
        "INSERT INTO outbox (id, dedupe_key, endpoint, trigger_id, profile_id, payload, "
        "created_at, status, attempts, next_attempt_at, last_error, last_status) "
        "VALUES (?,?,'crm','converted','a:1','{}',?,?,?,?,?,?)");
    stmt.Bind(1, id).Bind(2, "key-" + std::to_string(id)).Bind(3, kNow - 1000 + id);
    stmt.Bind(4, status).Bind(5, attempts).Bind(6, next_attempt_at);
    if (last_error != nullptr) {
      stmt.Bind(7, std::string(last_error));
    } else {
      stmt.BindNull(7);
    }
    if (last_status) {
      stmt.Bind(8, *last_status);
    } else {
      stmt.BindNull(8);
    }
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }

  // Seven profiles:
  //   a:1 visitor    (no transitions)
  //   a:2 interested visitor->interested
  //   u:3 customer   visitor->interested->trial->customer (rules interest, start, buy)
  //   u:4 dormant    visitor->trial->dormant (start, sleep)
  //   a:5 customer   visitor->customer (buy), customer->customer (rebuy, a self-loop)
  //   a:6 dormant    visitor->interested->dormant->interested->dormant (interest, sleep, wake,
  //                  sleep)
  //   a:7 trial      visitor->interested->trial (interest, demo)
  void Seed() {
    Profile("a:1", nullptr, "visitor");
    Profile("a:2", nullptr, "interested", 2);
    Profile("u:3", "u3", "customer");
    Profile("u:4", "u4", "dormant", 1);
    Profile("a:5", "", "customer");  // an empty user id is not an identified profile
    Profile("a:6", nullptr, "dormant");
    Profile("a:7", nullptr, "trial");

    History("a:2", {{"visitor", "interested", "interest"}});
    History("u:3", {{"visitor", "interested", "interest"},
                    {"interested", "trial", "start"},
                    {"trial", "customer", "buy"}});
    History("u:4", {{"visitor", "trial", "start"}, {"trial", "dormant", "sleep"}});
    History("a:5", {{"visitor", "customer", "buy"}, {"customer", "customer", "rebuy"}});
    History("a:6", {{"visitor", "interested", "interest"},
                    {"interested", "dormant", "sleep"},
                    {"dormant", "interested", "wake"},
                    {"interested", "dormant", "sleep"}});
    History("a:7", {{"visitor", "interested", "interest"}, {"interested", "trial", "demo"}});

    Time("a:1", "visitor", 1000, 1);
    Time("a:1", "trial", 0, 0);  // never entered: must not pull the trial median down
    Time("a:2", "visitor", 2000, 1);
    Time("a:2", "interested", 5000, 1);
    Time("u:3", "visitor", 3000, 1);
    Time("u:3", "interested", 4000, 1);
    Time("u:3", "trial", 6000, 1);
    Time("u:3", "customer", 10000, 1);
    Time("u:4", "visitor", 1000, 1);
    Time("u:4", "trial", 3000, 1);
    Time("u:4", "dormant", 7000, 1);
    Time("a:5", "visitor", 500, 1);
    Time("a:5", "customer", 20000, 2);
    Time("a:6", "visitor", 1500, 1);
    Time("a:6", "interested", 9000, 2);
    Time("a:6", "dormant", 8000, 2);
    Time("a:7", "visitor", 2500, 1);
    Time("a:7", "interested", 1000, 1);
    Time("a:7", "trial", 4000, 1);
  }

  Database db_;
  std::shared_ptr<const JourneyMap> map_;
};

const json& Find(const json& list, const std::string& key, const std::string& value) {
  static const json kNull;
  if (!list.is_array()) return kNull;
  for (const auto& item : list) {
    const json* v = Member(item, key);
    if (v != nullptr && v->is_string() && v->get<std::string>() == value) return item;
  }
  return kNull;
}

std::int64_t Int(const json& object, const char* key) {
  const json* v = Member(object, key);
  std::int64_t out = -999;
  if (v == nullptr || !GetInt64(*v, &out)) return -999;
  return out;
}

TEST(NearestRankPercentileTest, PicksObservedValues) {
  EXPECT_EQ(NearestRankPercentile({}, 50), 0);
  EXPECT_EQ(NearestRankPercentile({7}, 50), 7);
  EXPECT_EQ(NearestRankPercentile({1, 2, 3, 4}, 50), 2);  // lower middle of an even count
  EXPECT_EQ(NearestRankPercentile({1, 2, 3, 4, 5}, 50), 3);
  // ceil(0.9 * 10) = 9 exactly; a double computation would give rank 10.
  EXPECT_EQ(NearestRankPercentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90), 9);
  EXPECT_EQ(NearestRankPercentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 100), 10);
  EXPECT_EQ(NearestRankPercentile({1, 2, 3}, 0), 1);  // clamped to 1
}

TEST_F(StatsTest, EmptyDatabaseGivesZeros) {
  std::string error;
  json funnel = FunnelStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(funnel, "total_profiles"), 0);
  ASSERT_EQ(funnel["stages"].size(), 5u);
  EXPECT_EQ(Int(funnel["stages"][0], "reached"), 0);
  EXPECT_TRUE(funnel["stages"][1]["conversion_from_previous"].is_null());
  EXPECT_TRUE(funnel["stages"][0]["median_time_in_stage_ms"].is_null());
  json attribution = AttributionStats(Recount(), *map_, AllTime(kNow), "", &error);
  EXPECT_EQ(Int(attribution, "conversions"), 0);
  EXPECT_EQ(attribution["models"].size(), 6u);
  json gaps = ContentGapStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(Int(gaps, "gaps"), 0);
  json hooks = WebhookStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(Int(hooks, "total"), 0);
  EXPECT_TRUE(hooks["oldest_pending_created_at"].is_null());
  json overview = OverviewStats(Recount(), *map_, 1, AllTime(kNow), &error);
  EXPECT_EQ(Int(overview, "events"), 0);
  EXPECT_EQ(Int(overview, "stage_mismatches"), 0);
  EXPECT_EQ(error, "");
}

TEST_F(StatsTest, Funnel) {
  Seed();
  std::string error;
  json out = FunnelStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(out, "total_profiles"), 7);
  EXPECT_EQ(out["map"]["id"], "test");
  EXPECT_EQ(out["map"]["version"], 3);

  const json& stages = out["stages"];
  ASSERT_EQ(stages.size(), 5u);  // rank >= 0, in rank order
  EXPECT_EQ(stages[0]["id"], "visitor");
  EXPECT_EQ(stages[4]["id"], "advocate");
  EXPECT_EQ(stages[3]["phase"], "after");

  // visitor: the initial stage counts everyone. Times 500,1000,1000,1500,2000,2500,3000:
  // median at rank ceil(3.5) = 4 -> 1500.
  EXPECT_EQ(Int(stages[0], "reached"), 7);
  EXPECT_EQ(Int(stages[0], "current"), 1);
  EXPECT_TRUE(stages[0]["conversion_from_previous"].is_null());
  EXPECT_TRUE(stages[0]["drop_off"].is_null());
  EXPECT_EQ(Int(stages[0], "median_time_in_stage_ms"), Bucketed(1500));
  // interested: a:2, u:3, a:6, a:7 (a:6 twice, counted once). 4 / 7.
  EXPECT_EQ(Int(stages[1], "reached"), 4);
  EXPECT_EQ(Int(stages[1], "current"), 1);
  EXPECT_DOUBLE_EQ(stages[1]["conversion_from_previous"].get<double>(), 0.5714);
  EXPECT_EQ(Int(stages[1], "drop_off"), 3);
  EXPECT_EQ(Int(stages[1], "median_time_in_stage_ms"), Bucketed(4000));  // 1000,4000,5000,9000
  // trial: u:3, u:4 (skipped interested), a:7. 3 / 4.
  EXPECT_EQ(Int(stages[2], "reached"), 3);
  EXPECT_EQ(Int(stages[2], "current"), 1);
  EXPECT_DOUBLE_EQ(stages[2]["conversion_from_previous"].get<double>(), 0.75);
  EXPECT_EQ(Int(stages[2], "drop_off"), 1);
  EXPECT_EQ(Int(stages[2], "median_time_in_stage_ms"),
            Bucketed(4000));  // 3000,4000,6000 (0/0 ignored)
  // customer: u:3, a:5. 2 / 3.
  EXPECT_EQ(Int(stages[3], "reached"), 2);
  EXPECT_EQ(Int(stages[3], "current"), 2);
  EXPECT_DOUBLE_EQ(stages[3]["conversion_from_previous"].get<double>(), 0.6667);
  EXPECT_EQ(Int(stages[3], "drop_off"), 1);
  EXPECT_EQ(Int(stages[3], "median_time_in_stage_ms"), Bucketed(10000));
  // advocate: nobody.
  EXPECT_EQ(Int(stages[4], "reached"), 0);
  EXPECT_DOUBLE_EQ(stages[4]["conversion_from_previous"].get<double>(), 0.0);
  EXPECT_EQ(Int(stages[4], "drop_off"), 2);
  EXPECT_TRUE(stages[4]["median_time_in_stage_ms"].is_null());

  // Ordered progress: the furthest main-path stage each profile got to (a:1 visitor, a:2 and
  // a:6 interested, u:4 and a:7 trial, u:3 and a:5 customer); a:5 skipped trial and counts
  // there, so each step holds at most the one before.
  const std::vector<std::int64_t> progressed = {7, 6, 4, 2, 0};
  const std::vector<double> rates = {0, 0.8571, 0.6667, 0.5, 0.0};
  for (std::size_t i = 0; i < progressed.size(); ++i) {
    EXPECT_EQ(Int(stages[i], "progressed"), progressed[i]) << i;
    if (i == 0) {
      EXPECT_TRUE(stages[i]["progress_from_previous"].is_null());
      EXPECT_TRUE(stages[i]["progress_drop_off"].is_null());
      continue;
    }
    EXPECT_DOUBLE_EQ(stages[i]["progress_from_previous"].get<double>(), rates[i]) << i;
    EXPECT_EQ(Int(stages[i], "progress_drop_off"), progressed[i - 1] - progressed[i]) << i;
    EXPECT_LE(stages[i]["progress_from_previous"].get<double>(), 1.0);
  }

  const json& side = out["side_stages"];
  ASSERT_EQ(side.size(), 1u);
  EXPECT_EQ(side[0]["id"], "dormant");
  EXPECT_EQ(Int(side[0], "rank"), -1);
  EXPECT_EQ(Int(side[0], "reached"), 2);  // u:4, a:6
  EXPECT_EQ(Int(side[0], "current"), 2);
}

TEST_F(StatsTest, FunnelCountsProfilesSittingInAStageWithoutATransitionIntoIt) {
  // A history recorded before the stage was on the path still counts the profile there.
  Profile("a:9", nullptr, "trial");
  json out = FunnelStats(Recount(), *map_, AllTime(kNow));
  EXPECT_EQ(Int(out["stages"][2], "reached"), 1);
  EXPECT_EQ(Int(out["stages"][0], "reached"), 1);
}

TEST_F(StatsTest, Transitions) {
  Seed();
  std::string error;
  json out = TransitionStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(out, "total"), 14);
  const json& edges = out["edges"];
  ASSERT_EQ(edges.size(), 9u);
  // Busiest first, then (from, to) in order.
  const std::vector<std::pair<std::string, std::string>> order = {
      {"visitor", "interested"}, {"interested", "dormant"}, {"interested", "trial"},
      {"customer", "customer"},  {"dormant", "interested"}, {"trial", "customer"},
      {"trial", "dormant"},      {"visitor", "customer"},   {"visitor", "trial"}};
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(edges[i]["from"], order[i].first) << i;
    EXPECT_EQ(edges[i]["to"], order[i].second) << i;
  }
  EXPECT_EQ(Int(edges[0], "count"), 4);
  EXPECT_EQ(Int(edges[0], "profiles"), 4);
  EXPECT_EQ(edges[0]["kind"], "forward");
  EXPECT_EQ(edges[0]["rules"], json::parse(R"([{"rule":"interest","count":4}])"));
  // a:6 fell asleep twice: two rows, one profile.
  EXPECT_EQ(Int(edges[1], "count"), 2);
  EXPECT_EQ(Int(edges[1], "profiles"), 1);
  EXPECT_EQ(edges[1]["kind"], "backward");
  // Two rules on one edge, ties by rule id.
  EXPECT_EQ(Int(edges[2], "profiles"), 2);
  EXPECT_EQ(edges[2]["rules"],
            json::parse(R"([{"rule":"demo","count":1},{"rule":"start","count":1}])"));
  EXPECT_EQ(edges[3]["kind"], "loop");
  EXPECT_EQ(edges[4]["kind"], "forward");   // dormant (-1) -> interested (1)
  EXPECT_EQ(edges[6]["kind"], "backward");  // trial (2) -> dormant (-1)
}

TEST_F(StatsTest, TransitionKindForStagesOutsideTheMapAndEqualRanks) {
  auto parsed = ParseJourneyMap(R"({"id":"m","version":1,"stages":[
      {"id":"a","rank":0},{"id":"b","rank":0}]})");
  ASSERT_TRUE(parsed.ok());
  Profile("a:1", nullptr, "b");
  History("a:1", {{"a", "b", "r"}, {"b", "gone", "r"}});
  json out = TransitionStats(Recount(), *parsed.value(), AllTime(kNow));
  EXPECT_EQ(Find(out["edges"], "to", "b")["kind"], "loop");  // equal ranks
  EXPECT_EQ(Find(out["edges"], "to", "gone")["kind"], "unknown");
}

TEST_F(StatsTest, TimeInStage) {
  Seed();
  std::string error;
  json out = TimeInStageStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  const json& stages = out["stages"];
  ASSERT_EQ(stages.size(), 6u);  // every stage, map order

  const json& visitor = Find(stages, "id", "visitor");
  EXPECT_EQ(Int(visitor, "profiles"), 7);
  EXPECT_EQ(Int(visitor, "median_ms"), Bucketed(1500));
  EXPECT_EQ(Int(visitor, "p75_ms"), Bucketed(2500));           // rank ceil(5.25) = 6
  EXPECT_EQ(Int(visitor, "p90_ms"), Bucketed(3000));           // rank ceil(6.3) = 7
  EXPECT_DOUBLE_EQ(visitor["mean_ms"].get<double>(), 1642.9);  // 11500 / 7
  EXPECT_DOUBLE_EQ(visitor["mean_visits"].get<double>(), 1.0);

  const json& interested = Find(stages, "id", "interested");
  EXPECT_EQ(Int(interested, "profiles"), 4);
  EXPECT_EQ(Int(interested, "median_ms"), Bucketed(4000));
  EXPECT_EQ(Int(interested, "p75_ms"), Bucketed(5000));
  EXPECT_EQ(Int(interested, "p90_ms"), Bucketed(9000));
  EXPECT_DOUBLE_EQ(interested["mean_ms"].get<double>(), 4750.0);
  EXPECT_DOUBLE_EQ(interested["mean_visits"].get<double>(), 1.25);

  const json& trial = Find(stages, "id", "trial");
  EXPECT_EQ(Int(trial, "profiles"), 3);  // a:1's 0-visit row is not a profile in trial
  EXPECT_EQ(Int(trial, "median_ms"), Bucketed(4000));
  EXPECT_EQ(Int(trial, "p90_ms"), Bucketed(6000));
  EXPECT_DOUBLE_EQ(trial["mean_ms"].get<double>(), 4333.3);

  const json& customer = Find(stages, "id", "customer");
  EXPECT_EQ(Int(customer, "median_ms"), Bucketed(10000));
  EXPECT_EQ(Int(customer, "p75_ms"), Bucketed(20000));
  EXPECT_DOUBLE_EQ(customer["mean_visits"].get<double>(), 1.5);

  const json& advocate = Find(stages, "id", "advocate");
  EXPECT_EQ(Int(advocate, "profiles"), 0);
  EXPECT_TRUE(advocate["median_ms"].is_null());
  EXPECT_TRUE(advocate["mean_visits"].is_null());
}

TEST_F(StatsTest, Attribution) {
  Seed();
  // u:3 converted once over Organic Search then Email; a:5 twice: over Direct alone, then over
  // Direct then Email.
  struct Row {
    const char* model;
    std::vector<std::pair<const char*, double>> u3, a5_first, a5_second;
  };
  const std::vector<Row> rows = {
      {"first_touch", {{"Organic Search", 1}}, {{"Direct", 1}}, {{"Direct", 1}}},
      {"last_touch", {{"Email", 1}}, {{"Direct", 1}}, {{"Email", 1}}},
      {"last_non_direct", {{"Email", 1}}, {{"Direct", 1}}, {{"Email", 1}}},
      {"linear",
       {{"Organic Search", 0.5}, {"Email", 0.5}},
       {{"Direct", 1}},
       {{"Direct", 0.5}, {"Email", 0.5}}},
      {"time_decay",
       {{"Organic Search", 0.3}, {"Email", 0.7}},
       {{"Direct", 1}},
       {{"Direct", 0.2}, {"Email", 0.8}}},
      {"position_based",
       {{"Organic Search", 0.5}, {"Email", 0.5}},
       {{"Direct", 1}},
       {{"Direct", 0.5}, {"Email", 0.5}}},
  };
  for (const auto& row : rows) {
    for (const auto& [channel, credit] : row.u3) {
      AddCredit("u:3", "customer", 100, row.model, channel, credit);
    }
    for (const auto& [channel, credit] : row.a5_first) {
      AddCredit("a:5", "customer", 200, row.model, channel, credit);
    }
    for (const auto& [channel, credit] : row.a5_second) {
      AddCredit("a:5", "customer", 300, row.model, channel, credit);
    }
  }
  AddCredit("a:5", "customer", 300, "made_up_model", "Email", 1);  // not a model: ignored

  std::string error;
  json out = AttributionStats(Recount(), *map_, AllTime(kNow), "", &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(out, "conversions"), 3);
  EXPECT_TRUE(out["stage"].is_null());
  EXPECT_EQ(out["conversion_stages"], json::array({"customer"}));
  const json& models = out["models"];
  ASSERT_EQ(models.size(), 6u);
  EXPECT_EQ(models[0]["model"], "first_touch");
  EXPECT_EQ(models[5]["model"], "position_based");

  auto channels = [&](const char* model) {
    std::vector<std::pair<std::string, double>> got;
    const json& m = Find(models, "model", model);
    for (const auto& c : m["channels"]) {
      got.emplace_back(c["channel"].get<std::string>(), c["credit"].get<double>());
    }
    return got;
  };
  using V = std::vector<std::pair<std::string, double>>;
  EXPECT_EQ(channels("first_touch"), (V{{"Direct", 2}, {"Organic Search", 1}}));
  EXPECT_EQ(channels("last_touch"), (V{{"Email", 2}, {"Direct", 1}}));
  EXPECT_EQ(channels("linear"), (V{{"Direct", 1.5}, {"Email", 1.0}, {"Organic Search", 0.5}}));
  EXPECT_EQ(channels("time_decay"), (V{{"Email", 1.5}, {"Direct", 1.2}, {"Organic Search", 0.3}}));
  // Shares: credit over conversions.
  const json& first = Find(models, "model", "first_touch");
  EXPECT_DOUBLE_EQ(first["channels"][0]["share"].get<double>(), 0.6667);
  EXPECT_DOUBLE_EQ(first["channels"][1]["share"].get<double>(), 0.3333);

  json customer = AttributionStats(Recount(), *map_, AllTime(kNow), "customer");
  EXPECT_EQ(Int(customer, "conversions"), 3);
  EXPECT_EQ(customer["stage"], "customer");
  json other = AttributionStats(Recount(), *map_, AllTime(kNow), "dormant");
  EXPECT_EQ(Int(other, "conversions"), 0);
  EXPECT_TRUE(Find(other["models"], "model", "linear")["channels"].empty());
  // The filter is a bound value, never SQL.
  json injected = AttributionStats(Recount(), *map_, AllTime(kNow), "x' OR '1'='1", &error);
  EXPECT_EQ(Int(injected, "conversions"), 0);
  EXPECT_EQ(error, "");
}

TEST_F(StatsTest, ContentGaps) {
  Seed();
  Shown("s1", "a:2", "hero", "interested", kNow - kHour);
  Shown("s2", "a:2", "hero", "interested", kNow - kHour + 1);
  Shown("s3", "a:2", "cta", "interested", kNow - kHour + 2);
  Shown("s4", "a:7", "hero", "trial", kNow - 25 * kHour);
  StoreEvent("s5", "a:7", "content_shown", kNow - kHour, "not json");  // skipped, not a failure
  StoreEvent("s6", "a:7", "content_shown", kNow - kHour,
             R"({"properties":{"slot":"hero","stage":5}})");  // never projected: no stage yet

  std::string error;
  json out = ContentGapStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  // Furthest on the main path: a:1 visitor; a:2, a:6 interested; u:4, a:7 trial; u:3, a:5
  // customer; u:4 and a:6 sit in dormant. Stage content shown: interested 3 (of 4 visitors),
  // trial 1 (of 3).
  EXPECT_EQ(Int(out, "gaps"), 4);
  // Each visitor once, at their furthest main-path stage: dormant's two (u:4, a:6) are also
  // lost at trial and interested.
  EXPECT_EQ(Int(out, "lost_in_gaps"), 2 + 2 + 1);
  const json& stages = out["stages"];
  ASSERT_EQ(stages.size(), 6u);
  // Gaps by lost visitors, then visitors (trial 3, customer and dormant 2 each, in map order),
  // then visitor (1); the rest in map order.
  const std::vector<std::string> order = {"trial",   "customer",   "dormant",
                                          "visitor", "interested", "advocate"};
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(stages[i]["id"], order[i]) << i;

  // trial: a variant targets it, but its 3 visitors saw 1 impression: little content.
  const json& trial = stages[0];
  EXPECT_TRUE(trial["gap"].get<bool>());
  EXPECT_TRUE(trial["targeted"].get<bool>());
  EXPECT_EQ(trial["variants"], json::parse(R"([{"slot":"hero","variant":"hero_trial"}])"));
  EXPECT_EQ(Int(trial, "visitors"), 3);
  EXPECT_EQ(Int(trial, "lost"), 2);
  EXPECT_EQ(Int(trial, "exits"), 2);
  EXPECT_EQ(Int(trial["shown"], "total"), 1);
  EXPECT_EQ(Int(trial["shown"], "stage_content"), 1);
  EXPECT_DOUBLE_EQ(trial["stage_content_per_visitor"].get<double>(), 0.3333);

  // customer: two visitors went no further (advocate is the last rank), shown nothing.
  const json& customer = stages[1];
  EXPECT_TRUE(customer["gap"].get<bool>());
  EXPECT_FALSE(customer["targeted"].get<bool>());  // only named under `not`
  EXPECT_EQ(Int(customer, "lost"), 2);
  EXPECT_EQ(Int(customer, "exits"), 0);  // its one transition out is a self-loop
  EXPECT_EQ(Int(customer["shown"], "total"), 0);
  EXPECT_TRUE(customer["shown"]["by_slot"].empty());
  EXPECT_DOUBLE_EQ(customer["stage_content_per_visitor"].get<double>(), 0.0);

  // dormant: a side stage loses those in it now; targeted through an `all`, never shown.
  const json& dormant = stages[2];
  EXPECT_TRUE(dormant["gap"].get<bool>());
  EXPECT_TRUE(dormant["targeted"].get<bool>());
  EXPECT_EQ(dormant["variants"], json::parse(R"([{"slot":"cta","variant":"cta_comeback"}])"));
  EXPECT_EQ(Int(dormant, "lost"), 2);
  EXPECT_EQ(Int(dormant, "exits"), 1);
  EXPECT_EQ(Int(dormant, "visitors"), 2);

  const json& visitor = stages[3];
  EXPECT_TRUE(visitor["gap"].get<bool>());
  EXPECT_FALSE(visitor["targeted"].get<bool>());
  EXPECT_EQ(Int(visitor, "visitors"), 7);
  EXPECT_EQ(Int(visitor, "current"), 1);
  EXPECT_EQ(Int(visitor, "lost"), 1);
  EXPECT_EQ(Int(visitor, "exits"), 6);
  EXPECT_EQ(Int(visitor, "median_time_in_stage_ms"), Bucketed(1500));
  EXPECT_TRUE(visitor["variants"].empty());  // hero_vip (score only) targets no stage

  // interested: 2 lost, but its 4 visitors were shown 3 impressions of stage content.
  const json& interested = stages[4];
  EXPECT_FALSE(interested["gap"].get<bool>());
  EXPECT_EQ(Int(interested, "lost"), 2);
  EXPECT_EQ(Int(interested["shown"], "total"), 3);
  EXPECT_EQ(interested["shown"]["by_slot"], json::parse(R"({"hero":2,"cta":1})"));
  EXPECT_EQ(interested["shown"]["by_variant"],
            json::parse(R"([{"slot":"cta","variant":"cta_x","shown":1},
                            {"slot":"hero","variant":"hero_x","shown":2}])"));

  // advocate: the last rank loses nobody; nobody got there.
  const json& advocate = stages[5];
  EXPECT_EQ(Int(advocate, "visitors"), 0);
  EXPECT_EQ(Int(advocate, "lost"), 0);
  EXPECT_FALSE(advocate["gap"].get<bool>());
  EXPECT_TRUE(advocate["stage_content_per_visitor"].is_null());
}

TEST_F(StatsTest, ContentGapsCompareOnwardWithAndWithoutEachVariant) {
  Seed();
  // a:2 (stayed interested) and u:3 (went on to trial) were shown hero_x while interested, as
  // the projection stores it (whether each went further is judged there: rollups_test).
  for (const auto& [id, onward] :
       std::vector<std::pair<std::string, int>>{{"a:2", 0}, {"u:3", 1}}) {
    auto stmt = db_.Prepare("UPDATE profiles SET content_seen = ? WHERE profile_id = ?");
    stmt.Bind(1, R"([["interested","hero","hero_x",1,)" + std::to_string(onward) + "]]");
    stmt.Bind(2, id);
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }
  std::string error;
  json out = ContentGapStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  const json& interested = Find(out["stages"], "id", "interested");
  // In interested: a:2, u:3, a:6, a:7; further: u:3 and a:7.
  EXPECT_EQ(Int(interested, "onward"), 2);
  EXPECT_DOUBLE_EQ(interested["onward_rate"].get<double>(), 0.5);
  ASSERT_EQ(interested["variants_onward"].size(), 1u);
  const json& v = interested["variants_onward"][0];
  EXPECT_EQ(v["slot"], "hero");
  EXPECT_EQ(v["variant"], "hero_x");
  EXPECT_EQ(Int(v, "visitors"), 2);
  EXPECT_EQ(Int(v, "onward"), 1);
  EXPECT_EQ(Int(v["without"], "visitors"), 2);
  EXPECT_EQ(Int(v["without"], "onward"), 1);
  // The last rank and side stages have no onward.
  EXPECT_TRUE(Find(out["stages"], "id", "advocate")["onward"].is_null());
  EXPECT_TRUE(Find(out["stages"], "id", "dormant")["variants_onward"].empty());
  // The initial stage counts everyone: 7 in it, 6 went further (all but a:1).
  EXPECT_EQ(Int(Find(out["stages"], "id", "visitor"), "onward"), 6);
}

TEST_F(StatsTest, ContentGapsPerSegment) {
  Seed();
  // a:2 and u:3 arrived by e-mail and were shown hero_x while interested (a:2 twice); u:3 went
  // on. The others have no first touch.
  for (const auto& [id, seen] : std::vector<std::pair<std::string, std::string>>{
           {"a:2", R"([["interested","hero","hero_x",2,0]])"},
           {"u:3", R"([["interested","hero","hero_x",1,1]])"}}) {
    auto stmt =
        db_.Prepare("UPDATE profiles SET channel = 'Email', content_seen = ? WHERE profile_id = ?");
    stmt.Bind(1, seen).Bind(2, id);
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }
  Database& db = Recount();
  ReportRange email = AllTime(kNow);
  email.segment_dimension = "channel";
  email.segment_value = "Email";
  std::string error;
  json out = ContentGapStats(db, *map_, email, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(out["segment"]["value"], "Email");
  EXPECT_EQ(Int(out, "total_profiles"), 2);
  const json& interested = Find(out["stages"], "id", "interested");
  EXPECT_EQ(Int(interested, "visitors"), 2);
  EXPECT_EQ(Int(interested, "lost"), 1);  // a:2 went no further
  EXPECT_EQ(Int(interested, "onward"), 1);
  // The segment's own impressions: 3 of hero_x, 1.5 per visitor: not a gap.
  EXPECT_EQ(interested["shown"]["by_variant"],
            json::parse(R"([{"slot":"hero","variant":"hero_x","shown":3}])"));
  EXPECT_DOUBLE_EQ(interested["stage_content_per_visitor"].get<double>(), 1.5);
  EXPECT_FALSE(interested["gap"].get<bool>());
  const json& v = interested["variants_onward"][0];
  EXPECT_EQ(Int(v, "visitors"), 2);
  EXPECT_EQ(Int(v, "onward"), 1);
  EXPECT_EQ(Int(v["without"], "visitors"), 0);
  // Not kept per segment: unknown, not zero; a side stage is then never a gap.
  EXPECT_TRUE(interested["current"].is_null());
  EXPECT_TRUE(interested["exits"].is_null());
  EXPECT_TRUE(Find(out["stages"], "id", "dormant")["lost"].is_null());
  EXPECT_FALSE(Find(out["stages"], "id", "dormant")["gap"].get<bool>());
  // visitor: both went further; trial: u:3 went on to customer.
  EXPECT_EQ(Int(Find(out["stages"], "id", "visitor"), "lost"), 0);

  json breakdown = ContentGapBreakdown(db, *map_, AllTime(kNow), "channel", 1, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(breakdown, "distinct_values"), 2);
  ASSERT_EQ(breakdown["values"].size(), 1u);  // the 5 without a channel, the biggest
  EXPECT_EQ(breakdown["values"][0]["value"], "");
  EXPECT_EQ(Int(breakdown["values"][0], "total_profiles"), 5);
  // Each value's column is that value's filtered report (one pass over the segment rows).
  json both = ContentGapBreakdown(db, *map_, AllTime(kNow), "channel", 5, &error);
  ASSERT_EQ(both["values"].size(), 2u);
  for (const json& column : both["values"]) {
    ReportRange one = AllTime(kNow);
    one.segment_dimension = "channel";
    one.segment_value = column["value"].get<std::string>();
    json filtered = ContentGapStats(db, *map_, one, &error);
    EXPECT_EQ(column["total_profiles"], filtered["total_profiles"]);
    EXPECT_EQ(column["gaps"], filtered["gaps"]);
    EXPECT_EQ(column["lost_in_gaps"], filtered["lost_in_gaps"]);
    ASSERT_EQ(column["stages"].size(), filtered["stages"].size());
    for (std::size_t i = 0; i < filtered["stages"].size(); ++i) {
      for (const char* key :
           {"id", "visitors", "lost", "stage_content_per_visitor", "onward_rate", "gap"}) {
        EXPECT_EQ(column["stages"][i][key], filtered["stages"][i][key])
            << column["value"] << " " << i << " " << key;
      }
    }
  }
  EXPECT_EQ(Find(both["values"][1]["stages"], "id", "interested")["stage_content_per_visitor"],
            1.5);
  // The whole report without a segment counts all 7 journeys, the unsegmented impressions.
  json all = ContentGapStats(db, *map_, AllTime(kNow), &error);
  EXPECT_EQ(Int(all, "total_profiles"), 7);
  EXPECT_EQ(Int(Find(all["stages"], "id", "interested"), "visitors"), 4);
}

TEST_F(StatsTest, ContentGapsCountOnlyStageContent) {
  // Impressions of a slot's default are content for nobody: they do not fill a gap.
  Seed();
  for (int i = 0; i < 4; ++i) {
    Shown("d" + std::to_string(i), "a:1", "hero", "visitor", kNow - kHour + i, "hero_default");
  }
  std::string error;
  json out = ContentGapStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  const json& visitor = Find(out["stages"], "id", "visitor");
  EXPECT_EQ(Int(visitor["shown"], "total"), 4);
  EXPECT_EQ(Int(visitor["shown"], "stage_content"), 0);
  EXPECT_TRUE(visitor["gap"].get<bool>());
}

TEST_F(StatsTest, FunnelAndPathsPerSegment) {
  Seed();
  // a:2 and u:3 arrived by e-mail, a:5 from search; the others have no first touch.
  for (const auto& [id, channel] : std::vector<std::pair<std::string, std::string>>{
           {"a:2", "Email"}, {"u:3", "Email"}, {"a:5", "Organic Search"}}) {
    auto stmt = db_.Prepare("UPDATE profiles SET channel = ? WHERE profile_id = ?");
    stmt.Bind(1, channel).Bind(2, id);
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }
  Database& db = Recount();
  std::string error;
  json breakdown = FunnelBreakdown(db, *map_, AllTime(kNow), "channel", 2, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(breakdown["dimension"], "channel");
  EXPECT_EQ(Int(breakdown, "distinct_values"), 3);
  ASSERT_EQ(breakdown["values"].size(), 2u);
  // By profiles: the four without a channel, then Email's two; search's one is `other`.
  EXPECT_EQ(breakdown["values"][0]["value"], "");
  EXPECT_EQ(Int(breakdown["values"][0], "total_profiles"), 4);
  const json& email = breakdown["values"][1];
  EXPECT_EQ(email["value"], "Email");
  EXPECT_EQ(Int(email, "total_profiles"), 2);
  // a:2 got to interested, u:3 to customer.
  const std::vector<std::pair<std::string, std::int64_t>> progress = {
      {"visitor", 2}, {"interested", 2}, {"trial", 1}, {"customer", 1}, {"advocate", 0}};
  for (const auto& [stage, n] : progress) {
    EXPECT_EQ(Int(Find(email["stages"], "id", stage), "progressed"), n) << stage;
  }
  ASSERT_TRUE(breakdown["other"].is_object());
  EXPECT_EQ(Int(breakdown["other"], "total_profiles"), 1);
  EXPECT_EQ(Int(Find(breakdown["other"]["stages"], "id", "customer"), "progressed"), 1);

  // The filter reads the same rows: Email's funnel; current and times are not kept per segment.
  ReportRange range = AllTime(kNow);
  range.segment_dimension = "channel";
  range.segment_value = "Email";
  json funnel = FunnelStats(db, *map_, range, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(funnel, "total_profiles"), 2);
  EXPECT_EQ(funnel["segment"], json::parse(R"({"dimension":"channel","value":"Email"})"));
  for (const auto& [stage, n] : progress) {
    EXPECT_EQ(Int(Find(funnel["stages"], "id", stage), "progressed"), n) << stage;
  }
  EXPECT_TRUE(Find(funnel["stages"], "id", "trial")["current"].is_null());
  EXPECT_EQ(Int(Find(funnel["stages"], "id", "trial"), "reached"), 1);

  // By the stage journeys are in, and paths by channel.
  range.segment_dimension = "stage";
  range.segment_value = "dormant";
  EXPECT_EQ(Int(FunnelStats(db, *map_, range, &error), "total_profiles"), 2);
  range.segment_dimension = "channel";
  range.segment_value = "Email";
  json paths = PathStats(db, *map_, range, 20, &error);
  EXPECT_EQ(Int(paths, "profiles"), 2);
  json all_paths = PathStats(db, *map_, AllTime(kNow), 20, &error);
  AddPathBreakdown(db, *map_, AllTime(kNow), "channel", 5, &all_paths, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(all_paths["breakdown"]["dimension"], "channel");
  std::int64_t split = 0;
  for (const json& path : all_paths["paths"]) {
    std::int64_t sum = 0;
    for (const json& v : path["by_value"]) sum += Int(v, "visitors");
    EXPECT_EQ(sum, Int(path, "visitors")) << path.dump();
    split += sum;
  }
  EXPECT_EQ(split, 7);
  // A value nobody has is an empty funnel, not an error; a bound value, never SQL.
  range.segment_value = "x' OR '1'='1";
  EXPECT_EQ(Int(FunnelStats(db, *map_, range, &error), "total_profiles"), 0);
  EXPECT_EQ(error, "");
}

TEST_F(StatsTest, FunnelOfChosenStepsInOrderWithinAWindow) {
  Seed();
  // Transitions happen at first_seen + their position (ms); the events an hour later.
  StoreEvent("e1", "a:2", "demo_requested", kNow - 9 * kHour, "{}");
  StoreEvent("e2", "a:6", "demo_requested", kNow - 11 * kHour, "{}");  // before interested
  std::vector<FunnelStep> steps;
  ASSERT_FALSE(ParseFunnelSteps("stage:visitor,stage:interested,stage:trial", *map_, &steps));
  std::string error;
  json out = AdhocFunnel(db_, *map_, AllTime(kNow), steps, 30 * kMinute, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(out, "profiles"), 7);
  EXPECT_FALSE(out["sampled"].get<bool>());
  const json& s = out["steps"];
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(Int(s[0], "entered"), 7);
  // interested: a:2, u:3, a:6, a:7; trial after it: u:3 and a:7 (u:4 went to trial directly).
  EXPECT_EQ(Int(s[1], "entered"), 4);
  EXPECT_EQ(Int(s[2], "entered"), 2);
  EXPECT_EQ(s[1]["label"], "Interested");
  EXPECT_DOUBLE_EQ(s[2]["conversion_from_previous"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(s[2]["conversion_from_first"].get<double>(), 0.2857);
  EXPECT_EQ(Int(s[1], "drop_off"), 3);
  EXPECT_EQ(s[1]["dropped"], json::parse(R"(["a:1","a:5","u:4"])"));
  EXPECT_EQ(s[2]["dropped"], json::parse(R"(["a:2","a:6"])"));
  EXPECT_EQ(Int(out["time_to_convert"], "profiles"), 2);
  EXPECT_EQ(Int(out["time_to_convert"], "median_ms"), 1);
  EXPECT_EQ(Int(out["time_to_convert"]["buckets"][0], "profiles"), 2);

  // An event step: a:2's request came an hour after it was interested; a:6's came before.
  ASSERT_FALSE(ParseFunnelSteps("stage:interested,event:demo_requested", *map_, &steps));
  json tight = AdhocFunnel(db_, *map_, AllTime(kNow), steps, 30 * kMinute, &error);
  EXPECT_EQ(Int(tight["steps"][1], "entered"), 0);
  json wide = AdhocFunnel(db_, *map_, AllTime(kNow), steps, 2 * kHour, &error);
  EXPECT_EQ(Int(wide["steps"][1], "entered"), 1);
  EXPECT_EQ(Int(wide["steps"][1], "median_ms_from_previous"), kHour);
  EXPECT_EQ(error, "");

  // An event and the transition it caused share a time: the step after the event still matches.
  StoreEvent("e3", "a:7", "demo_requested", kNow - 10 * kHour + 1, "{}");
  ASSERT_FALSE(ParseFunnelSteps("event:demo_requested,stage:trial", *map_, &steps));
  json same_time = AdhocFunnel(db_, *map_, AllTime(kNow), steps, kMinute, &error);
  EXPECT_EQ(Int(same_time["steps"][0], "entered"), 3);  // a:2, a:6 and a:7 requested one
  EXPECT_EQ(Int(same_time["steps"][1], "entered"), 1);  // a:7 entered trial with it
  EXPECT_EQ(Int(same_time["steps"][1], "median_ms_from_previous"), 0);
  EXPECT_EQ(Int(same_time, "arrived"), 7);

  // A range without these visitors' cohort day: nobody.
  ReportRange old = AllTime(kNow);
  old.last_day = DayOf(kNow) - 3;
  EXPECT_EQ(Int(AdhocFunnel(db_, *map_, old, steps, kHour, &error), "profiles"), 0);
}

TEST(FunnelStepsTest, StepsAreCheckedOneByOne) {
  auto map = ParseJourneyMap(kTestMap);
  ASSERT_TRUE(map.ok());
  std::vector<FunnelStep> steps;
  EXPECT_EQ(ParseFunnelSteps("stage:visitor,stage:nope", *map.value(), &steps),
            "steps[1]: no stage \"nope\" in the map");
  EXPECT_EQ(ParseFunnelSteps("stage:visitor,click:x", *map.value(), &steps),
            "steps[1]: expected stage:<id> or event:<name>");
  EXPECT_EQ(ParseFunnelSteps("stage:visitor", *map.value(), &steps), "steps: at least 2 steps");
  EXPECT_EQ(ParseFunnelSteps("stage:visitor,event:", *map.value(), &steps),
            "steps[1]: an event name of 1 to 128 bytes of UTF-8");
  std::string many = "stage:visitor";
  for (int i = 0; i < 10; ++i) many += ",event:e" + std::to_string(i);
  EXPECT_EQ(ParseFunnelSteps(many, *map.value(), &steps), "steps: at most 10 steps");
  ASSERT_FALSE(ParseFunnelSteps("event:a:b,stage:trial", *map.value(), &steps));
  EXPECT_EQ(steps[0].name, "a:b");  // an event name may hold a colon
  EXPECT_EQ(steps[1].kind, FunnelStep::Kind::kStage);
}

TEST_F(StatsTest, Webhooks) {
  Delivery(1, "delivered", 1, kNow - 5000, nullptr, 200);
  Delivery(2, "pending", 0, kNow - 1000, nullptr, std::nullopt);             // due
  Delivery(3, "pending", 2, kNow + 60000, "connect refused", std::nullopt);  // retrying
  Delivery(4, "failed", 10, kNow - 100, "HTTP 500", 500);                    // given up
  Delivery(5, "delivered", 3, kNow - 100, "HTTP 503", 200);                  // failed, then ok
  Delivery(6, "inflight", 1, kNow - 10, nullptr, std::nullopt);              // due (claimed)

  std::string error;
  json out = WebhookStats(Recount(), *map_, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(out, "total"), 6);
  EXPECT_EQ(out["by_status"],
            json::parse(R"({"delivered":2,"pending":2,"failed":1,"inflight":1})"));
  EXPECT_EQ(Int(out, "due"), 2);
  EXPECT_EQ(Int(out, "oldest_pending_created_at"), kNow - 1000 + 2);
  const json& failures = out["recent_failures"];
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(Int(failures[0], "id"), 4);  // newest first
  EXPECT_EQ(failures[0]["endpoint"], "crm");
  EXPECT_EQ(failures[0]["trigger_id"], "converted");
  EXPECT_EQ(failures[0]["status"], "failed");
  EXPECT_EQ(Int(failures[0], "attempts"), 10);
  EXPECT_EQ(Int(failures[0], "last_status"), 500);
  EXPECT_EQ(failures[0]["last_error"], "HTTP 500");
  EXPECT_EQ(Int(failures[0], "next_attempt_at"), kNow - 100);
  EXPECT_EQ(Int(failures[1], "id"), 3);
  EXPECT_TRUE(failures[1]["last_status"].is_null());
}

TEST_F(StatsTest, WebhookFailuresAreCappedAtTwenty) {
  for (int i = 1; i <= 25; ++i) Delivery(i, "failed", 10, kNow, "HTTP 502", 502);
  json out = WebhookStats(Recount(), *map_, AllTime(kNow));
  ASSERT_EQ(out["recent_failures"].size(), 20u);
  EXPECT_EQ(Int(out["recent_failures"][0], "id"), 25);
  EXPECT_EQ(Int(out["recent_failures"][19], "id"), 6);
}

TEST_F(StatsTest, Overview) {
  Seed();
  StoreEvent("e1", "a:1", "page_viewed", kNow - 2 * kHour, "{}", "Organic Search");
  StoreEvent("e2", "a:2", "page_viewed", kNow - 30 * kHour, "{}", "Email");
  Shown("s1", "a:2", "hero", "interested", kNow - kHour);
  Shown("s2", "a:7", "hero", "trial", kNow - 25 * kHour);

  std::string error;
  json out = OverviewStats(Recount(), *map_, 1, AllTime(kNow), &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(out, "events"), 4);
  EXPECT_EQ(Int(out, "events_last_24h"), 2);
  EXPECT_EQ(Int(out, "profiles"), 7);
  EXPECT_EQ(Int(out, "identified_profiles"), 2);  // u:3, u:4 (a:5's user id is empty)
  EXPECT_EQ(Int(out, "stage_mismatches"), 3);
  EXPECT_EQ(Int(out, "now"), kNow);

  // A backfill: received now, happened ten days ago. "Last 24 h" counts by when it happened.
  auto backfill = db_.Prepare(
      "INSERT INTO events (id, site_key, profile_id, anonymous_id, name, seq, device_time, "
      "received_at, corrected_time, content_hash, body) VALUES ('old', 'k', 'a:9', 'anon', "
      "'page_viewed', 1, ?, ?, ?, 'h', '{}')");
  backfill.Bind(1, kNow - 240 * kHour).Bind(2, kNow).Bind(3, kNow - 240 * kHour);
  ASSERT_TRUE(backfill.Run()) << backfill.error();
  json later = OverviewStats(Recount(), *map_, 1, AllTime(kNow), &error);
  EXPECT_EQ(Int(later, "events"), 5);
  EXPECT_EQ(Int(later, "events_last_24h"), 2);
}

// Another project's rows, on a map version of its own: no report of this project counts them,
// and that project's reports count only them.
TEST_F(StatsTest, ReportsCountTheirProjectOnly) {
  Seed();
  StoreEvent("e1", "a:1", "page_viewed", kNow - 2 * kHour, "{}", "Organic Search");
  Delivery(1, "pending", 0, kNow - 1000, nullptr, std::nullopt);
  std::string error;
  const ReportRange range = AllTime(kNow);
  const json funnel = FunnelStats(Recount(), *map_, range, &error);
  const json overview = OverviewStats(db_, *map_, 3, range, &error);
  const json hooks = WebhookStats(db_, *map_, range, &error);
  const json paths = PathStats(db_, *map_, range, 20, &error);
  EXPECT_EQ(error, "");

  ASSERT_FALSE(
      db_.Exec("INSERT INTO maps (version, map_id, body, etag, created_at, project_id) VALUES "
               "(4, 'test', '{}', 'e', 0, 'other');"
               "INSERT INTO profiles (project_id, profile_id, stage, first_seen, last_seen, "
               "map_version, snapshot, state, updated_at) VALUES ('other', 'a:1', 'trial', 0, 0, "
               "4, '', '{}', 0);"
               "INSERT INTO transitions (project_id, profile_id, position, from_stage, to_stage, "
               "at, rule, map_version) VALUES ('other', 'a:1', 0, 'visitor', 'trial', 0, 'start', "
               "4);"
               "INSERT INTO events (project_id, id, site_key, profile_id, anonymous_id, name, seq, "
               "device_time, received_at, corrected_time, content_hash, body) VALUES ('other', "
               "'e1', 'k', 'a:1', '1', 'page_viewed', 1, 0, 0, 0, 'h', '{}');"
               "INSERT INTO outbox (project_id, dedupe_key, endpoint, trigger_id, profile_id, "
               "payload, created_at, status, next_attempt_at) VALUES ('other', 'key-1', 'crm', "
               "'converted', 'a:1', '{}', 0, 'pending', 0);"
               "INSERT INTO dirty_profiles (project_id, profile_id, full_replay) VALUES "
               "('other', 'a:1', 3)")
          .has_value());
  Recount();
  json now_funnel = FunnelStats(db_, *map_, range, &error);
  EXPECT_EQ(now_funnel, funnel);
  EXPECT_EQ(OverviewStats(db_, *map_, 3, range, &error), overview);
  EXPECT_EQ(WebhookStats(db_, *map_, range, &error), hooks);
  EXPECT_EQ(PathStats(db_, *map_, range, 20, &error), paths);
  EXPECT_EQ(ReprojectionProgress(db_, kDefaultProject, 3, &error)["waiting"], 0);

  ReportRange other = range;
  other.project = "other";
  EXPECT_EQ(Int(FunnelStats(db_, *map_, other, &error), "total_profiles"), 1);
  json other_overview = OverviewStats(db_, *map_, 4, other, &error);
  EXPECT_EQ(Int(other_overview, "events_all_time"), 1);
  EXPECT_EQ(Int(other_overview, "profiles"), 1);
  EXPECT_EQ(other_overview["reprojection"]["profiles"], 1);
  EXPECT_EQ(other_overview["reprojection"]["waiting"], 1);
  EXPECT_EQ(Int(WebhookStats(db_, *map_, other, &error), "total"), 1);
  StoredJourneyReader reader(db_);
  auto theirs = reader.Read({"other", "a:1"}, &error);
  ASSERT_TRUE(theirs.has_value());
  EXPECT_EQ(theirs->stage, "trial");
  EXPECT_FALSE(reader.Read({"other", "a:2"}, &error).has_value());
  EXPECT_EQ(error, "");
}

TEST_F(StatsTest, QueryFailureIsReportedThroughError) {
  ASSERT_FALSE(db_.Exec("DROP TABLE rollup_stages").has_value());
  std::string error;
  json out = FunnelStats(db_, *map_, AllTime(kNow), &error);
  EXPECT_NE(error.find("rollup_stages"), std::string::npos) << error;
  EXPECT_TRUE(out.is_object());  // what could be read is still there
  EXPECT_EQ(Int(out, "total_profiles"), 0);
}

TEST_F(StatsTest, FunnelFromStoredJourneysMatchesTheTables) {
  Seed();
  Profile("a:9", nullptr, "trial");  // no transition into its stage
  Time("a:9", "gone", 100, 1);       // a stage no longer in the map
  StoredJourneyReader reader(db_);
  std::string error;
  std::vector<JourneySummary> journeys;
  for (const char* id : {"a:1", "a:2", "u:3", "u:4", "a:5", "a:6", "a:7", "a:9"}) {
    auto journey = reader.Read({kDefaultProject, id}, &error);
    ASSERT_TRUE(journey.has_value()) << id << " " << error;
    journeys.push_back(*journey);
  }
  EXPECT_FALSE(reader.Read({kDefaultProject, "a:404"}, &error).has_value());
  EXPECT_EQ(error, "");
  json from_tables = FunnelStats(Recount(), *map_, AllTime(kNow));
  from_tables.erase("range");
  EXPECT_EQ(FunnelReport(*map_, FunnelCountsFromJourneys(*map_, journeys)), from_tables);

  const JourneySummary& u3 = journeys[2];
  EXPECT_EQ(u3.stage, "customer");
  EXPECT_EQ(u3.entered, (std::vector<std::string>{"interested", "trial", "customer"}));
  EXPECT_EQ(u3.time_in_stage_ms.at("customer"), 10000);
  EXPECT_EQ(journeys[0].time_in_stage_ms.count("trial"), 0u);  // visits 0: never entered
}

TEST_F(StatsTest, FunnelFromJourneysOfASubset) {
  Seed();
  StoredJourneyReader reader(db_);
  std::string error;
  std::vector<JourneySummary> journeys = {*reader.Read({kDefaultProject, "a:5"}, &error),
                                          *reader.Read({kDefaultProject, "a:6"}, &error)};
  json out = FunnelReport(*map_, FunnelCountsFromJourneys(*map_, journeys));
  EXPECT_EQ(Int(out, "total_profiles"), 2);
  EXPECT_EQ(Int(out["stages"][0], "reached"), 2);  // the initial stage counts everyone
  EXPECT_EQ(Int(out["stages"][1], "reached"), 1);  // interested: a:6 (twice, counted once)
  EXPECT_EQ(Int(out["stages"][3], "reached"), 1);  // customer: a:5
  EXPECT_EQ(Int(out["stages"][3], "current"), 1);
  EXPECT_EQ(Int(out["stages"][3], "median_time_in_stage_ms"), Bucketed(20000));
  EXPECT_EQ(Int(out["stages"][1], "drop_off"), 1);
  EXPECT_EQ(Int(out["side_stages"][0], "current"), 1);  // dormant: a:6
}

TEST_F(StatsTest, PathsCollapseRepeatsCutLongJourneysAndStayAcyclic) {
  Seed();
  // Seeded sequences: a:1 [visitor]; a:2 [visitor interested]; u:3 [visitor interested trial
  // customer]; u:4 [visitor trial dormant]; a:5 [visitor customer] (the rebuy self-loop is
  // collapsed); a:6 [visitor interested dormant interested dormant]; a:7 [visitor interested
  // trial]. Added: a:12 like a:2; a:8 eight stages exactly, then a self-loop (not cut);
  // a:13 the same eight and one more (cut); a:14 like a:13 with repeats and a tenth stage.
  Profile("a:12", nullptr, "interested");
  History("a:12", {{"visitor", "interested", "interest"}});
  const std::vector<std::tuple<std::string, std::string, std::string>> seven = {
      {"visitor", "interested", "interest"}, {"interested", "dormant", "sleep"},
      {"dormant", "interested", "wake"},     {"interested", "dormant", "sleep"},
      {"dormant", "interested", "wake"},     {"interested", "dormant", "sleep"},
      {"dormant", "interested", "wake"}};
  auto with = [&](std::vector<std::tuple<std::string, std::string, std::string>> more) {
    auto steps = seven;
    steps.insert(steps.end(), more.begin(), more.end());
    return steps;
  };
  Profile("a:8", nullptr, "interested");
  History("a:8", with({{"interested", "interested", "loop"}}));
  Profile("a:13", nullptr, "dormant");
  History("a:13", with({{"interested", "dormant", "sleep"}}));
  Profile("a:14", nullptr, "trial");
  History("a:14", with({{"interested", "dormant", "sleep"},
                        {"dormant", "dormant", "loop"},
                        {"dormant", "trial", "start"}}));

  std::string error;
  json out = PathStats(Recount(), *map_, AllTime(kNow), 20, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(out["map"], (json{{"id", "test"}, {"version", 3}}));
  EXPECT_EQ(Int(out, "profiles"), 11);
  EXPECT_EQ(Int(out, "distinct_paths"), 9);
  using Stages = std::vector<std::string>;
  const Stages l8 = {"visitor", "interested", "dormant", "interested",
                     "dormant", "interested", "dormant", "interested"};
  const std::vector<std::tuple<Stages, int, bool>> expected = {
      {{"visitor", "interested"}, 2, false},
      {l8, 2, true},
      {{"visitor"}, 1, false},
      {{"visitor", "customer"}, 1, false},
      {{"visitor", "interested", "dormant", "interested", "dormant"}, 1, false},
      {l8, 1, false},
      {{"visitor", "interested", "trial"}, 1, false},
      {{"visitor", "interested", "trial", "customer"}, 1, false},
      {{"visitor", "trial", "dormant"}, 1, false}};
  ASSERT_EQ(out["paths"].size(), expected.size()) << DumpJson(out["paths"]);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& [stages, visitors, truncated] = expected[i];
    EXPECT_EQ(out["paths"][i],
              (json{{"stages", stages}, {"visitors", visitors}, {"truncated", truncated}}))
        << i;
  }

  std::map<std::string, std::int64_t> links;
  for (const auto& l : out["links"]) {
    const std::string source = l["source"].get<std::string>();
    const std::string target = l["target"].get<std::string>();
    // Each link goes one step on: the diagram cannot have a cycle.
    EXPECT_EQ(std::stoi(target.substr(0, target.find(':'))),
              std::stoi(source.substr(0, source.find(':'))) + 1);
    links[source + ">" + target] = l["value"].get<std::int64_t>();
  }
  EXPECT_EQ(links["0:visitor>1:interested"], 8);
  EXPECT_EQ(links["0:visitor>1:trial"], 1);
  EXPECT_EQ(links["0:visitor>1:customer"], 1);
  EXPECT_EQ(links["6:dormant>7:interested"], 3);
  EXPECT_EQ(links.count("7:interested>8:dormant"), 0u);
  EXPECT_EQ(out["links"][0]["source"], "0:visitor");
  EXPECT_EQ(out["links"][0]["value"], 8);  // the widest first within a step

  EXPECT_EQ(out["nodes"][0],
            (json{{"name", "0:visitor"}, {"stage", "visitor"}, {"step", 0}, {"visitors", 11}}));
  // Within a step, nodes follow the map's stage order.
  EXPECT_EQ(out["nodes"][1]["name"], "1:interested");
  EXPECT_EQ(out["nodes"][2]["name"], "1:trial");
  EXPECT_EQ(out["nodes"][3]["name"], "1:customer");
  for (const auto& n : out["nodes"]) EXPECT_LT(n["step"].get<int>(), 8);

  json top = PathStats(Recount(), *map_, AllTime(kNow), 2, &error);
  EXPECT_EQ(top["paths"].size(), 2u);
  EXPECT_EQ(Int(top, "distinct_paths"), 9);
  EXPECT_EQ(top["links"], out["links"]);
}

TEST_F(StatsTest, PathsOfAnEmptyStore) {
  std::string error;
  json out = PathStats(Recount(), *map_, AllTime(kNow), 20, &error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(Int(out, "profiles"), 0);
  EXPECT_EQ(out["paths"], json::array());
  EXPECT_EQ(out["nodes"], json::array());
  EXPECT_EQ(out["links"], json::array());
}

}  // namespace
}  // namespace waymark::collector
