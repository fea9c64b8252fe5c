// The rollups' arithmetic (days, rounding, paths, date ranges) and the proof that what the
// projector keeps equals a recount of the stored rows, through full replays, content
// impressions, conversions and a new map version.
#include "storage/rollups.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "config.h"
#include "default_map_database_test.h"
#include "pipeline/profile_replay.h"
#include "reports/stats.h"
#include "storage/schema.h"
#include "waymark/default_map.h"
#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

constexpr std::int64_t kDay = kMsPerDay;
constexpr std::int64_t kStart = 1700000000000;  // 2023-11-14 22:13:20 UTC

TEST(RollupArithmetic, DaysAndHoursFloor) {
  EXPECT_EQ(DayOf(0), 0);
  EXPECT_EQ(DayOf(kDay - 1), 0);
  EXPECT_EQ(DayOf(kDay), 1);
  EXPECT_EQ(DayOf(-1), -1);  // 1969-12-31, not day 0
  EXPECT_EQ(HourOf(-1), -1);
  EXPECT_EQ(DayToDate(DayOf(kStart)), "2023-11-14");
  EXPECT_EQ(DayToDate(0), "1970-01-01");
  EXPECT_EQ(DayToDate(19782), "2024-02-29");
}

TEST(RollupArithmetic, TimeBucketsAreWithinThirteenPercent) {
  EXPECT_EQ(TimeBucket(0), 0);
  EXPECT_EQ(TimeBucket(999), 0);
  EXPECT_EQ(TimeBucket(1000), 1);
  EXPECT_EQ(TimeBucketValue(0), 0);
  EXPECT_EQ(TimeBucket(INT64_MAX), kTimeBuckets - 1);
  EXPECT_GT(TimeBucketValue(kTimeBuckets - 1), 4LL * 365 * kDay);  // the open bucket: years
  for (int k = 1; k < kTimeBuckets - 1; ++k) {
    EXPECT_EQ(TimeBucket(TimeBucketValue(k)), k) << k;  // a bucket's value lies in it
    EXPECT_LT(TimeBucketValue(k - 1), TimeBucketValue(k)) << k;
  }
  // Bucketing keeps the order, so a percentile of bucket values is the bucket of the exact
  // percentile, and every value it stands for is within 13 %.
  std::mt19937_64 rng(7);
  std::vector<std::int64_t> values;
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t v = 1000 + static_cast<std::int64_t>(rng() % (400 * kDay));
    values.push_back(v);
    const double read = static_cast<double>(TimeBucketValue(TimeBucket(v)));
    EXPECT_LE(std::abs(read - static_cast<double>(v)), 0.13 * static_cast<double>(v)) << v;
  }
  std::sort(values.begin(), values.end());
  TimeHistogram histogram;
  for (std::int64_t v : values) {
    const std::int64_t r = TimeBucketValue(TimeBucket(v));
    if (!histogram.empty() && histogram.back().first == r) {
      ++histogram.back().second;
    } else {
      histogram.emplace_back(r, 1);
    }
  }
  for (int p : {1, 25, 50, 75, 90, 99, 100}) {
    EXPECT_EQ(HistogramPercentile(histogram, p),
              TimeBucketValue(TimeBucket(NearestRankPercentile(values, p))))
        << p;
  }
  EXPECT_EQ(HistogramPercentile({}, 50), 0);
}

TEST(RollupArithmetic, ShownContentNamesAreBoundedInCharacters) {
  EXPECT_TRUE(ShownContent({{"slot", std::string(200, 'a')}, {"variant", "v"}}));
  // 200 two-byte characters are 400 bytes, still 200 characters.
  std::string accented;
  for (int i = 0; i < 200; ++i) accented += "\xc3\xa9";
  EXPECT_TRUE(ShownContent({{"slot", accented}}));
  EXPECT_FALSE(ShownContent({{"slot", std::string(201, 'a')}}));
  EXPECT_FALSE(ShownContent({{"slot", "hero"}, {"variant", std::string(2000, 'v')}}));
}

TEST(RollupArithmetic, KeyTextIsCutAtACharacterBoundary) {
  EXPECT_EQ(KeyText("spring-sale"), "spring-sale");
  EXPECT_EQ(KeyText(std::string(2048, 'c')), std::string(kMaxKeyTextBytes, 'c'));
  // 'x' then 2-byte characters: byte 200 would split one; the cut keeps whole characters.
  std::string accented = "x";
  for (int i = 0; i < 150; ++i) accented += "\xc3\xa9";
  const std::string cut = KeyText(accented);
  EXPECT_EQ(cut.size(), kMaxKeyTextBytes - 1);
  EXPECT_EQ(cut, accented.substr(0, kMaxKeyTextBytes - 1));
}

TEST(RollupArithmetic, ReachKeysStayShortWhateverTheStageIds) {
  // The map's limits: 64 stages of 64-byte ids, every one entered.
  std::vector<std::string> ids;
  std::set<std::string> entered;
  for (int i = 0; i < 64; ++i) {
    std::string id = "stage_" + std::to_string(i) + "_";
    id += std::string(64 - id.size(), 'x');
    ids.push_back(id);
    entered.insert(id);
  }
  const std::string key = ReachKey(entered);
  EXPECT_LE(key.size(), 64u * 17u);
  EXPECT_EQ(ReachStages(key, StageTokens(ids)), entered);
  // The order of insertion does not matter; a stage no map version read knows is left out.
  EXPECT_EQ(ReachKey({"b", "a"}), ReachKey({"a", "b"}));
  EXPECT_EQ(ReachStages(ReachKey({"a", "gone"}), StageTokens({"a", "b"})),
            (std::set<std::string>{"a"}));
  EXPECT_EQ(ReachStages("", StageTokens({"a"})), std::set<std::string>{});
}

TEST(RollupArithmetic, CreditsInMillionths) {
  EXPECT_EQ(CreditMicros(1.0), 1000000);
  EXPECT_EQ(CreditMicros(1.0 / 3.0), 333333);
  EXPECT_EQ(CreditMicros(0.0), 0);
}

TEST(RollupArithmetic, PathsCollapseRepeatsAndStopAtEightStages) {
  using T = JourneyFacts::Transition;
  StoredPath p = PathOfTransitions({T{"a", "b", "r"}, T{"b", "b", "loop"}, T{"b", "c", "r"}});
  EXPECT_EQ(p.stages, (std::vector<std::string>{"b", "c"}));
  EXPECT_FALSE(p.truncated);
  std::vector<T> long_one;
  for (int i = 0; i < 12; ++i) long_one.push_back(T{"", i % 2 == 0 ? "x" : "y", "r"});
  p = PathOfTransitions(long_one);
  EXPECT_EQ(p.stages.size(), kStoredPathStages);
  EXPECT_TRUE(p.truncated);
}

TEST(ReportRangeTest, DefaultsToTheLastThirtyDays) {
  ReportRange r;
  ASSERT_FALSE(ParseReportRange(nullptr, nullptr, kStart, &r).has_value());
  EXPECT_EQ(r.last_day, DayOf(kStart));
  EXPECT_EQ(r.last_day - r.first_day + 1, kDefaultRangeDays);
  EXPECT_EQ(RangeJson(r), (json{{"from", "2023-10-16"}, {"to", "2023-11-14"}, {"days", 30}}));
  const std::string to = "2024-03-01";
  ASSERT_FALSE(ParseReportRange(nullptr, &to, kStart, &r).has_value());
  EXPECT_EQ(DayToDate(r.first_day), "2024-02-01");  // 30 days: 29 of a leap February
  const std::string from = "2024-02-29";
  ASSERT_FALSE(ParseReportRange(&from, &to, kStart, &r).has_value());
  EXPECT_EQ(r.last_day - r.first_day + 1, 2);
}

TEST(ReportRangeTest, RefusesWhatIsNotADateOrARange) {
  ReportRange r;
  auto refuse = [&](const std::string& from, const std::string& to) {
    auto err =
        ParseReportRange(from.empty() ? nullptr : &from, to.empty() ? nullptr : &to, kStart, &r);
    return err.value_or("");
  };
  EXPECT_EQ(refuse("2023-02-29", ""), "from: expected a date YYYY-MM-DD (UTC, from 1970-01-01)");
  EXPECT_EQ(refuse("", "2023-13-01"), "to: expected a date YYYY-MM-DD (UTC, from 1970-01-01)");
  EXPECT_EQ(refuse("1969-12-31", "").substr(0, 5), "from:");
  EXPECT_EQ(refuse("2023-1-01", "").substr(0, 5), "from:");
  EXPECT_EQ(refuse("2023-01-0x", "").substr(0, 5), "from:");
  EXPECT_EQ(refuse("2023-02-02", "2023-02-01"), "from: after to");
  EXPECT_EQ(refuse("1970-01-01", "2023-01-01"), "from: the range is longer than 7320 days");
}

class RollupsKeptTest : public DefaultMapDatabaseTest {
 protected:
  // Stores an event as ingestion does: the row, its count in rollup_events, its profile dirty.
  void Store(const std::string& anonymous_id, const std::string& name, std::int64_t time,
             const json& properties = json::object(), bool full = true,
             const std::string& referrer = "") {
    ++seq_;
    json envelope = {{"id", "ev-" + std::to_string(seq_)},
                     {"seq", seq_},
                     {"anonymous_id", anonymous_id},
                     {"name", name},
                     {"type", "track"},
                     {"time", time},
                     {"properties", properties}};
    if (!referrer.empty()) {
      envelope["context"] = {{"url", "https://shop.example/"}, {"referrer", referrer}};
    }
    auto event = ParseEvent(DumpJson(envelope));
    ASSERT_TRUE(event.ok()) << event.error().message;
    auto ins = db_.Prepare(
        "INSERT INTO events (id, site_key, profile_id, anonymous_id, name, seq, device_time, "
        "received_at, corrected_time, content_hash, body) VALUES (?,'k',?,?,?,?,?,?,?,'h',?)");
    ins.Bind(1, event.value().id).Bind(2, "a:" + anonymous_id).Bind(3, anonymous_id);
    ins.Bind(4, name).Bind(5, seq_).Bind(6, time).Bind(7, time).Bind(8, time);
    ins.Bind(9, DumpJson(EventToJson(event.value())));
    ASSERT_TRUE(ins.Run()) << ins.error();
    RollupDelta delta;
    delta.AddEvent(kDefaultProject, time, name, +1);
    RollupWriter writer(db_);
    ASSERT_FALSE(writer.Flush(delta).has_value());
    auto dirty = db_.Prepare(
        "INSERT OR REPLACE INTO dirty_profiles (profile_id, full_replay) VALUES (?, ?)");
    dirty.Bind(1, "a:" + anonymous_id).Bind(2, full ? 1 : 0);
    ASSERT_TRUE(dirty.Run()) << dirty.error();
  }

  // Projects up to `max_profiles` dirty profiles (0: all) under `version`.
  void Project(std::int64_t version, std::size_t max_profiles = 0) {
    MapState state;
    state.map = map_;
    state.version = version;
    ProfileProjector projector(db_, config_, nullptr);
    bool outbox = false;
    bool remaining = false;
    ASSERT_FALSE(db_.Exec("BEGIN IMMEDIATE").has_value());
    auto shared = std::make_shared<const MapState>(state);
    const MapLookup maps = [&](const std::string&) { return shared; };
    ASSERT_FALSE(projector.ProjectDirty(maps, max_profiles, &outbox, &remaining).has_value());
    ASSERT_FALSE(db_.Exec("COMMIT").has_value());
  }

  // The default map with `content_shown` unknown and unknown events refused.
  void UseMapRefusingContentShown() {
    json doc = json::parse(DefaultMapJson());
    doc["unknown_events"] = "reject";
    doc["events"].erase("content_shown");
    json throttles = json::array();
    for (const auto& t : doc["noise"]["throttles"]) {
      if (t.value("event", "") != "content_shown") throttles.push_back(t);
    }
    doc["noise"]["throttles"] = throttles;
    auto strict = ParseJourneyMap(DumpJson(doc));
    ASSERT_TRUE(strict.ok()) << strict.error().message;
    map_ = strict.value();
  }

  void StoreMap(std::int64_t version) {
    auto ins = db_.Prepare(
        "INSERT INTO maps (version, map_id, body, etag, created_at) VALUES (?, 'default', ?, "
        "'e', 0)");
    ins.Bind(1, version).Bind(2, std::string(DefaultMapJson()));
    ASSERT_TRUE(ins.Run()) << ins.error();
  }

  bool Finish(std::int64_t version) {
    bool switched = false;
    EXPECT_FALSE(db_.Exec("BEGIN IMMEDIATE").has_value());
    EXPECT_FALSE(FinishReprojection(db_, kDefaultProject, version, &switched).has_value());
    EXPECT_FALSE(db_.Exec("COMMIT").has_value());
    return switched;
  }

  ReportRange Version(std::int64_t version) {
    ReportRange range = AllTime(kStart);
    range.map_version = version;
    return range;
  }

  std::vector<std::string> Differences() {
    std::vector<std::string> out;
    EXPECT_FALSE(VerifyRollups(db_, &out).has_value());
    return out;
  }

  Config config_;
  std::int64_t seq_ = 0;
};

TEST_F(RollupsKeptTest, ProjectionKeepsThemEqualToARecount) {
  const json hero = {{"slot", "hero"}, {"variant", "hero_engaged"}};
  std::mt19937_64 rng(11);
  const std::vector<std::string> names = {"page_viewed",   "pricing_viewed",  "lead_submitted",
                                          "content_shown", "order_completed", "plan_upgraded",
                                          "demo_requested"};
  // 40 visitors over 20 days, events arriving in bursts, some older than what was projected
  // (full replays), projected after every burst (incremental continuations). The versions are
  // stored: the re-projection's progress counts the versions of the project.
  StoreMap(1);
  for (int round = 0; round < 6; ++round) {
    for (int v = 0; v < 40; ++v) {
      const std::string who = "v" + std::to_string(v);
      const int events = static_cast<int>(rng() % 4);
      for (int e = 0; e < events; ++e) {
        const std::string& name = names[rng() % names.size()];
        const std::int64_t at = kStart + static_cast<std::int64_t>(rng() % (20 * kDay));
        // Some arrive from campaigns, so conversions have channels to credit.
        const char* referrers[] = {"", "https://www.google.com/", "https://news.example.org/"};
        Store(who, name, at, name == "content_shown" ? hero : json::object(), rng() % 3 == 0,
              referrers[rng() % 3]);
      }
    }
    Project(1);
    EXPECT_EQ(Differences(), std::vector<std::string>{}) << "round " << round;
  }
  // Something to count in every table.
  json kept;
  for (const char* table :
       {"rollup_events", "rollup_event_hours", "rollup_versions", "rollup_acquisition",
        "rollup_cohorts", "rollup_stages", "rollup_edges", "rollup_edge_rules", "rollup_paths",
        "rollup_content", "rollup_conversions", "rollup_credits", "rollup_reach",
        "rollup_segment_reach", "rollup_exposure", "rollup_segment_exposure"}) {
    auto count = db_.Prepare(std::string("SELECT COUNT(*) FROM ") + table);
    ASSERT_TRUE(count.Step()) << table;
    EXPECT_GT(count.Int(0), 0) << table;
  }
  // Every visitor counted once by where they came from; the referrers classify to channels.
  json channels = ChannelStats(db_, *map_, Version(1));
  std::int64_t visitors = 0;
  std::set<std::string> seen_channels;
  for (const auto& row : channels["channels"]) {
    visitors += row["visitors"].get<std::int64_t>();
    seen_channels.insert(row["channel"].get<std::string>());
  }
  EXPECT_EQ(visitors, 40);
  EXPECT_EQ(seen_channels.count("Organic Search"), 1u) << channels.dump();
  EXPECT_EQ(seen_channels.count("Referral"), 1u) << channels.dump();
  // A new map version: every profile replayed in full, each counted once. The reports read
  // version 1 until the re-projection is done, unchanged while it runs.
  const json funnel = FunnelStats(db_, *map_, Version(1));
  const json paths = PathStats(db_, *map_, Version(1), 20);
  StoreMap(2);
  ASSERT_FALSE(HoldReportsVersion(db_, kDefaultProject, 1).has_value());
  ASSERT_FALSE(MarkForReprojection(db_, kDefaultProject, 2).has_value());
  Project(2, 15);
  std::string error;
  EXPECT_EQ(ReportsVersion(db_, kDefaultProject, 2, &error), 1);
  EXPECT_FALSE(Finish(2)) << "25 profiles are still on version 1";
  EXPECT_EQ(FunnelStats(db_, *map_, Version(1)), funnel);
  EXPECT_EQ(PathStats(db_, *map_, Version(1), 20), paths);
  json progress = ReprojectionProgress(db_, kDefaultProject, 2);
  EXPECT_EQ(progress["profiles"], 40);
  EXPECT_EQ(progress["profiles_on_this_version"], 15);
  EXPECT_EQ(progress["reports_version"], 1);
  EXPECT_EQ(progress["done"], false);
  std::vector<std::string> ignored;
  EXPECT_NE(VerifyRollups(db_, &ignored), std::nullopt);  // refused while it runs
  Project(2);
  EXPECT_TRUE(Finish(2));
  EXPECT_EQ(ReportsVersion(db_, kDefaultProject, 2, &error), 2);
  EXPECT_EQ(Differences(), std::vector<std::string>{});
  // The same journeys under the same map: the same funnel, now read from version 2's rows.
  json switched = FunnelStats(db_, *map_, Version(2));
  EXPECT_EQ(switched["total_profiles"], funnel["total_profiles"]);
  EXPECT_EQ(switched["stages"], funnel["stages"]);
  json overview = OverviewStats(db_, *map_, 2, Version(2));
  EXPECT_EQ(overview["profiles"], 40);
  EXPECT_EQ(overview["reprojection"]["profiles_on_this_version"], 40);
  EXPECT_EQ(overview["reprojection"]["done"], true);
  EXPECT_EQ(overview["events_all_time"], seq_);
  auto old_rows = db_.Prepare("SELECT COUNT(*) FROM rollup_stages WHERE map_version = 1");
  ASSERT_TRUE(old_rows.Step());
  EXPECT_EQ(old_rows.Int(0), 0) << "the old version's rows are dropped at the switch";
}

TEST_F(RollupsKeptTest, ExposuresKnowWhetherTheJourneyWentFurther) {
  StoreMap(1);
  const json hero = {{"slot", "hero"}, {"variant", "hero_engaged"}};
  // "on" is shown the hero twice in awareness, then goes on to engaged; "stays" sees it once
  // and stays in awareness.
  Store("on", "content_shown", kStart, hero);
  Store("on", "content_shown", kStart + 1000, hero);
  Store("stays", "content_shown", kStart + 2000, hero);
  Project(1);
  auto rows = db_.Prepare(
      "SELECT profiles, onward, shown FROM rollup_exposure WHERE stage = 'awareness' AND "
      "slot = 'hero' AND variant = 'hero_engaged'");
  ASSERT_TRUE(rows.Step()) << rows.error();
  EXPECT_EQ(rows.Int(0), 2);
  EXPECT_EQ(rows.Int(1), 0);  // nobody went further yet
  EXPECT_EQ(rows.Int(2), 3);
  rows.Reset();
  // An incremental pass: "on" moves on (pricing_viewed: awareness -> engaged), its exposure now
  // counts as onward; what it added before is taken out.
  Store("on", "pricing_viewed", kStart + 3000, json::object(), /*full=*/false);
  Project(1);
  ASSERT_TRUE(rows.Step()) << rows.error();
  EXPECT_EQ(rows.Int(0), 2);
  EXPECT_EQ(rows.Int(1), 1);
  EXPECT_EQ(rows.Int(2), 3);
  rows.Reset();
  auto seen = db_.Prepare("SELECT content_seen FROM profiles WHERE profile_id = 'a:on'");
  ASSERT_TRUE(seen.Step());
  EXPECT_EQ(seen.Text(0), R"([["awareness","hero","hero_engaged",2,1]])");
  seen.Reset();
  // Per segment the same (every journey has an empty channel here).
  auto segment = db_.Prepare(
      "SELECT profiles, onward, shown FROM rollup_segment_exposure WHERE dimension = 'channel' "
      "AND value = '' AND stage = 'awareness'");
  ASSERT_TRUE(segment.Step()) << segment.error();
  EXPECT_EQ(segment.Int(0), 2);
  EXPECT_EQ(segment.Int(1), 1);
  EXPECT_EQ(segment.Int(2), 3);
  segment.Reset();
  EXPECT_EQ(Differences(), std::vector<std::string>{});
  // The report: in awareness 2, of them 1 onward, both shown hero_engaged.
  json gaps = ContentGapStats(db_, *map_, Version(1));
  for (const json& row : gaps["stages"]) {
    if (row["id"] != "awareness") continue;
    EXPECT_EQ(row["onward"], 1);
    ASSERT_EQ(row["variants_onward"].size(), 1u);
    EXPECT_EQ(row["variants_onward"][0]["visitors"], 2);
    EXPECT_EQ(row["variants_onward"][0]["onward"], 1);
    EXPECT_EQ(row["variants_onward"][0]["without"]["visitors"], 0);
  }
}

TEST_F(RollupsKeptTest, AHandEditIsFoundAndARebuildRepairsIt) {
  Store("a", "page_viewed", kStart);
  Store("a", "lead_submitted", kStart + 1000);
  Project(1);
  EXPECT_EQ(Differences(), std::vector<std::string>{});
  ASSERT_FALSE(db_.Exec("UPDATE rollup_cohorts SET profiles = 5").has_value());
  const auto found = Differences();
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("rollup_cohorts"), std::string::npos) << found[0];
  EXPECT_NE(found[0].find("kept 5, 0, 0, recounted 1, 0, 0"), std::string::npos) << found[0];
  // The verification rolled its recount back: the edit is still there.
  EXPECT_EQ(Differences().size(), 1u);
  ASSERT_FALSE(RebuildRollups(db_).has_value());
  EXPECT_EQ(Differences(), std::vector<std::string>{});
}

// Several collectors: one that has not polled the new map yet must not replay journeys under the
// old one (they would stay on it and the reports would never switch), nor touch journeys already
// on the new one.
TEST_F(RollupsKeptTest, ACollectorBehindOnTheMapProjectsNothing) {
  for (int v = 0; v < 40; ++v) {
    Store("s" + std::to_string(v), "page_viewed", kStart + v * 1000);
    Store("s" + std::to_string(v), "pricing_viewed", kStart + v * 1000 + 500);
  }
  StoreMap(1);
  Project(1);
  const json before = FunnelStats(db_, *map_, Version(1));
  StoreMap(2);
  ASSERT_FALSE(HoldReportsVersion(db_, kDefaultProject, 1).has_value());
  ASSERT_FALSE(MarkForReprojection(db_, kDefaultProject, 2).has_value());
  Project(2, 15);  // collector A, on version 2
  Project(1);      // collector B, still on version 1: projects nothing
  EXPECT_EQ(FunnelStats(db_, *map_, Version(1)), before) << "the first version's rows hold";
  json progress = ReprojectionProgress(db_, kDefaultProject, 2);
  EXPECT_EQ(progress["profiles_on_this_version"], 15);
  Project(2);  // A again
  EXPECT_TRUE(Finish(2));
  EXPECT_EQ(Differences(), std::vector<std::string>{});
  EXPECT_EQ(FunnelStats(db_, *map_, Version(2))["total_profiles"], 40);
}

// A journey the new map accepts nothing of is removed; its content impressions leave the rollups
// with it, and come back when the visitor's next event stores the journey again.
TEST_F(RollupsKeptTest, AJourneyTheNewMapRefusesLeavesNothingBehind) {
  Store("x", "content_shown", kStart, json{{"slot", "hero"}, {"variant", "hero_engaged"}});
  StoreMap(1);
  Project(1);
  StoreMap(2);
  UseMapRefusingContentShown();
  ASSERT_FALSE(HoldReportsVersion(db_, kDefaultProject, 1).has_value());
  ASSERT_FALSE(MarkForReprojection(db_, kDefaultProject, 2).has_value());
  Project(2);
  EXPECT_TRUE(Finish(2));
  EXPECT_EQ(Differences(), std::vector<std::string>{}) << "after the switch";
  Store("x", "page_viewed", kStart + 5000, json::object(), false);
  Project(2);
  EXPECT_EQ(Differences(), std::vector<std::string>{}) << "once the journey is stored again";
}

// Collectors' ingests count events in shards of their own; reports and a recount sum them.
TEST_F(RollupsKeptTest, EventCountsInShardsAddUp) {
  Store("a", "page_viewed", kStart);  // shard 0, as Store writes
  RollupDelta delta;
  delta.AddEvent(kDefaultProject, kStart, "page_viewed", 2);
  RollupWriter other(db_, 7);  // another collector's shard
  ASSERT_FALSE(other.Flush(delta).has_value());
  auto ins = db_.Prepare(
      "INSERT INTO events (id, site_key, profile_id, anonymous_id, name, seq, device_time, "
      "received_at, corrected_time, content_hash, body) VALUES (?,'k','a:b','b','page_viewed',?,"
      "?,?,?,'h','{}')");
  for (int i = 0; i < 2; ++i) {
    ins.Bind(1, "shard-" + std::to_string(i)).Bind(2, i).Bind(3, kStart).Bind(4, kStart);
    ins.Bind(5, kStart);
    ASSERT_TRUE(ins.Run()) << ins.error();
    ins.Reset();
  }
  auto shards = db_.Prepare("SELECT COUNT(DISTINCT shard) FROM rollup_events");
  ASSERT_TRUE(shards.Step());
  EXPECT_EQ(shards.Int(0), 2);
  EXPECT_EQ(OverviewStats(db_, *map_, 1, AllTime(kStart))["events"], 3);
  EXPECT_EQ(Differences(), std::vector<std::string>{}) << "the recount's one shard equals the sum";
}

// A NUL character in a content impression's properties: not counted (PostgreSQL cannot hold the
// text, SQLite's JSON functions cut it), the same way by the projection and by a recount.
TEST_F(RollupsKeptTest, ContentWithANulCharacterCountsNowhere) {
  Store("n", "page_viewed", kStart);
  Store("n", "content_shown", kStart + 1000,
        json{{"slot", std::string("he\0ro", 5)}, {"variant", "v"}});
  Store("n", "content_shown", kStart + 2000,
        json{{"slot", "hero"}, {"variant", std::string("v\0", 2)}});
  Store("n", "content_shown", kStart + 3000, json{{"slot", "hero"}, {"variant", "fine"}});
  Project(1);
  EXPECT_EQ(Differences(), std::vector<std::string>{});
  auto rows = db_.Prepare("SELECT COALESCE(SUM(shown), 0) FROM rollup_content");
  ASSERT_TRUE(rows.Step());
  EXPECT_EQ(rows.Int(0), 1) << "only the impression without a NUL";
}

// A journey whose first events the map refuses stores nothing; when a later event stores it, the
// refused impression (never replayed again) counts in neither the rollups nor a recount.
TEST_F(RollupsKeptTest, RefusedEventsOfAJourneyNotYetStoredCountNowhere) {
  UseMapRefusingContentShown();
  StoreMap(1);
  Store("y", "content_shown", kStart, json{{"slot", "hero"}, {"variant", "hero_engaged"}});
  Project(1);
  Store("y", "page_viewed", kStart + 5000, json::object(), false);
  Project(1);
  EXPECT_EQ(Differences(), std::vector<std::string>{});
}

// A profile read (read-your-writes projection of one journey) by a collector behind the stored
// map leaves the journey to the new map.
TEST_F(RollupsKeptTest, AProfileReadBehindTheMapProjectsNothing) {
  Store("r", "pricing_viewed", kStart);
  StoreMap(1);
  StoreMap(2);
  MapState state;
  state.map = map_;
  state.version = 1;
  ProfileProjector projector(db_, config_, nullptr);
  bool outbox = false;
  ASSERT_FALSE(db_.Exec("BEGIN IMMEDIATE").has_value());
  ASSERT_FALSE(projector.ProjectIfDirty(state, {kDefaultProject, "a:r"}, &outbox).has_value());
  ASSERT_FALSE(db_.Exec("COMMIT").has_value());
  auto stored = db_.Prepare("SELECT COUNT(*) FROM profiles");
  ASSERT_TRUE(stored.Step());
  EXPECT_EQ(stored.Int(0), 0);
  auto dirty = db_.Prepare("SELECT COUNT(*) FROM dirty_profiles");
  ASSERT_TRUE(dirty.Step());
  EXPECT_EQ(dirty.Int(0), 1) << "still dirty, for the new map";
}

// Rows of an older version are dropped once no journey is on it, even when no publish held the
// reports (a database recounted during a re-projection).
TEST_F(RollupsKeptTest, OldVersionRowsGoWhenTheLastJourneyLeaves) {
  for (int v = 0; v < 10; ++v) Store("h" + std::to_string(v), "pricing_viewed", kStart + v);
  StoreMap(1);
  Project(1);
  StoreMap(2);
  ASSERT_FALSE(MarkForReprojection(db_, kDefaultProject, 2).has_value());
  Project(2, 3);
  EXPECT_FALSE(Finish(2)) << "seven journeys are still on version 1";
  Project(2);
  Finish(2);
  EXPECT_EQ(Differences(), std::vector<std::string>{});
}

}  // namespace
}  // namespace waymark::collector
