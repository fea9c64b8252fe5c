// The journey context: profiles are built the way ingest builds them (the core engine run over
// the events, its state and history written to the tables), then the context is checked for
// content, order, priorities under a byte budget, and safety with hostile profile ids.
#include "reports/journey_context.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "default_map_database_test.h"
#include "reports/profile_view.h"
#include "storage/profile_key.h"
#include "storage/schema.h"
#include "waymark/default_map.h"
#include "waymark/engine.h"
#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

constexpr std::int64_t kT0 = 1700000000000;
constexpr std::int64_t kMinute = 60 * 1000;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kDay = 24 * kHour;

Event MakeEvent(const std::string& id, const std::string& name, std::int64_t time,
                const std::string& path, const std::string& channel = "",
                json properties = json::object()) {
  Event e;
  e.id = id;
  e.anonymous_id = "anon-" + id.substr(0, 1);
  e.name = name;
  e.time = time;
  e.context.path = path;
  e.context.channel = channel;
  e.properties = std::move(properties);
  return e;
}

json Shown(const std::string& slot, const std::string& variant) {
  return {{"slot", slot}, {"variant", variant}, {"stage", "awareness"}};
}

std::int64_t Int(const json& object, const char* key) {
  const json* v = Member(object, key);
  std::int64_t out = -999;
  if (v == nullptr || !GetInt64(*v, &out)) return -999;
  return out;
}

std::vector<std::string> Strings(const json& list, const char* key) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const auto& item : list) {
    const json* v = Member(item, key);
    out.push_back(v != nullptr && v->is_string() ? v->get<std::string>() : "?");
  }
  return out;
}

std::size_t Size(const json& doc, const char* key) {
  const json* v = Member(doc, key);
  return v != nullptr && v->is_array() ? v->size() : 0;
}

class JourneyContextTest : public DefaultMapDatabaseTest {
 protected:
  // Runs the events through the engine and stores the result as ingest does.
  Engine Store(const std::string& profile_id, std::vector<Event> events,
               const std::string& user_id = "") {
    EngineOptions options;
    options.build_outbound = false;
    Engine engine(map_, options);
    if (!user_id.empty()) {
      EXPECT_TRUE(engine.Identify(user_id, json::object()).ok());
    }
    auto ev = db_.Prepare(
        "INSERT INTO events (id, site_key, profile_id, anonymous_id, name, seq, device_time, "
        "received_at, corrected_time, channel, content_hash, body) "
        "VALUES (?,'k',?,?,?,?,?,?,?,?,'h',?)");
    std::int64_t seq = 0;
    for (auto& e : events) {
      e.seq = ++seq;
      ev.Bind(1, e.id).Bind(2, profile_id).Bind(3, e.anonymous_id).Bind(4, e.name);
      ev.Bind(5, e.seq).Bind(6, e.time).Bind(7, e.time).Bind(8, e.time);
      if (e.context.channel.empty()) {
        ev.BindNull(9);
      } else {
        ev.Bind(9, e.context.channel);
      }
      ev.Bind(10, DumpJson(EventToJson(e)));
      EXPECT_TRUE(ev.Run()) << ev.error();
      TrackOutcome out = engine.Track(e);
      EXPECT_EQ(out.status, TrackStatus::kAccepted) << e.id;
    }
    const std::int64_t last = engine.last_activity();
    auto profile = db_.Prepare(
        "INSERT INTO profiles (profile_id, user_id, stage, stage_entered_at, score, first_seen, "
        "last_seen, event_count, stage_mismatches, map_version, snapshot, state, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,0,1,?,?,?)");
    profile.Bind(1, profile_id);
    if (engine.user_id().empty()) {
      profile.BindNull(2);
    } else {
      profile.Bind(2, engine.user_id());
    }
    profile.Bind(3, engine.stage()).Bind(4, engine.stage_entered_at()).Bind(5, engine.Score(last));
    profile.Bind(6, events.empty() ? last : events.front().time).Bind(7, last);
    profile.Bind(8, static_cast<std::int64_t>(events.size())).Bind(9, engine.Snapshot());
    profile.Bind(10, DumpJson(engine.StateJson(last))).Bind(11, last);
    EXPECT_TRUE(profile.Run()) << profile.error();
    auto tr = db_.Prepare(
        "INSERT INTO transitions (profile_id, position, from_stage, to_stage, at, event_id, rule, "
        "map_version) VALUES (?,?,?,?,?,?,?,?)");
    std::int64_t position = 0;
    for (const auto& t : engine.transitions()) {
      tr.Bind(1, profile_id).Bind(2, position++).Bind(3, t.from).Bind(4, t.to).Bind(5, t.at);
      tr.Bind(6, t.event_id).Bind(7, t.rule).Bind(8, t.map_version);
      EXPECT_TRUE(tr.Run()) << tr.error();
    }
    return engine;
  }

  void RawProfile(const std::string& profile_id, const std::string& user_id,
                  const std::string& stage, std::int64_t entered_at) {
    auto stmt = db_.Prepare(
        "INSERT INTO profiles (profile_id, user_id, stage, stage_entered_at, score, map_version, "
        "snapshot, state, updated_at) VALUES (?,?,?,?,0,1,'','{}',0)");
    stmt.Bind(1, profile_id).Bind(2, user_id).Bind(3, stage).Bind(4, entered_at);
    ASSERT_TRUE(stmt.Run()) << stmt.error();
  }

  // A visitor still in awareness: two page views two days apart (not enough to engage), two
  // clicks, and content shown in two slots.
  Engine StoreAwareness() {
    std::vector<Event> events;
    events.push_back(MakeEvent("a1", "page_viewed", kT0, "/", "Organic Search"));
    events.push_back(MakeEvent("a2", "button_clicked", kT0 + kHour, "/features"));
    events.push_back(MakeEvent("a3", "page_viewed", kT0 + 2 * kDay, "/blog", "Email"));
    events.push_back(MakeEvent("a4", "button_clicked", kT0 + 2 * kDay + kHour, "/blog"));
    events.push_back(MakeEvent("a5", "content_shown", kT0 + 2 * kDay + 2 * kHour, "/blog", "",
                               Shown("hero", "hero_old")));
    events.push_back(MakeEvent("a6", "content_shown", kT0 + 2 * kDay + 3 * kHour, "/blog", "",
                               Shown("cta", "cta_pricing")));
    events.push_back(MakeEvent("a7", "content_shown", kT0 + 2 * kDay + 4 * kHour, "/blog", "",
                               Shown("hero", "hero_default")));
    return Store("a:ctx", std::move(events));
  }

  // A known user who engaged, read a hundred pages and became a lead: far more history than a
  // small budget holds.
  Engine StoreBig() {
    std::vector<Event> events;
    events.push_back(MakeEvent("b0", "page_viewed", kT0, "/", "Paid Search"));
    // Three page views engage; the rest are unscored reads, so the score stays below the 50
    // that would qualify the lead.
    for (int i = 1; i < 100; ++i) {
      events.push_back(MakeEvent("b" + std::to_string(i), i < 3 ? "page_viewed" : "doc_viewed",
                                 kT0 + i * 10 * kMinute,
                                 "/docs/chapter-" + std::to_string(i) +
                                     "/a-rather-long-page-name-that-uses-up-the-budget"));
    }
    events.push_back(MakeEvent("b100", "lead_submitted", kT0 + 1000 * kMinute, "/lead"));
    events.push_back(MakeEvent("b101", "content_shown", kT0 + 1001 * kMinute, "/lead", "",
                               Shown("cta", "cta_trial")));
    events.push_back(MakeEvent("b102", "button_clicked", kT0 + 1002 * kMinute, "/", "Email"));
    return Store("u:big", std::move(events), "big");
  }
};

TEST_F(JourneyContextTest, UnknownProfileIsNull) {
  StoreAwareness();
  std::string error;
  EXPECT_TRUE(
      BuildJourneyContext(db_, kDefaultProject, *map_, "a:nobody", 2048, kT0, &error).is_null());
  EXPECT_EQ(error, "");
}

TEST_F(JourneyContextTest, InjectionLikeIdIsJustAnUnknownId) {
  StoreAwareness();
  std::string error;
  EXPECT_TRUE(BuildJourneyContext(db_, kDefaultProject, *map_, "x' OR 1=1 --", 2048, kT0, &error)
                  .is_null());
  EXPECT_TRUE(
      BuildJourneyContext(db_, kDefaultProject, *map_, "a:ctx' --", 2048, kT0, &error).is_null());
  EXPECT_EQ(error, "");
  // And nothing was changed by it.
  auto count = db_.Prepare("SELECT COUNT(*) FROM profiles");
  ASSERT_TRUE(count.Step());
  EXPECT_EQ(count.Int(0), 1);
}

// The same profile id in another project is another visitor: nothing of this one is read.
TEST_F(JourneyContextTest, AnotherProjectsProfileIsUnknown) {
  StoreAwareness();
  std::string error;
  EXPECT_TRUE(BuildJourneyContext(db_, "other", *map_, "a:ctx", 2048, kT0, &error).is_null());
  EXPECT_EQ(error, "");
  EXPECT_EQ(ResolveProfileId(db_, "other", "a:ctx"), "");
  EXPECT_EQ(ResolveProfileId(db_, kDefaultProject, "a:ctx"), "a:ctx");
  EXPECT_TRUE(ProfileJson(db_, "other", map_, "a:ctx", kT0).is_null());
}

TEST_F(JourneyContextTest, FullContextOfAnAwarenessVisitor) {
  Engine engine = StoreAwareness();
  const std::int64_t now = kT0 + 3 * kDay;
  std::string error;
  json ctx =
      BuildJourneyContext(db_, kDefaultProject, *map_, "a:ctx", kContextMaxBudget, now, &error);
  EXPECT_EQ(error, "");
  ASSERT_TRUE(ctx.is_object());

  EXPECT_EQ(ctx["profile_id"], "a:ctx");
  EXPECT_TRUE(ctx["user_id"].is_null());
  EXPECT_EQ(ctx["stage"]["id"], "awareness");
  EXPECT_EQ(ctx["stage"]["name"], "Awareness");
  EXPECT_EQ(ctx["stage"]["phase"], "before");
  EXPECT_EQ(Int(ctx["stage"], "entered_at"), kT0);
  EXPECT_EQ(Int(ctx["stage"], "time_in_stage_ms"), 3 * kDay);

  // The score is decayed to `now`, from the snapshot.
  EXPECT_DOUBLE_EQ(ctx["score"]["total"].get<double>(), std::round(engine.Score(now) * 100) / 100);
  EXPECT_LT(ctx["score"]["total"].get<double>(), engine.Score(engine.last_activity()));
  EXPECT_EQ(Strings(ctx["score"]["top"], "rule"),
            (std::vector<std::string>{"email_visit", "page_view"}));

  // Where the visitor can go from awareness, in the order the engine tries the transitions.
  EXPECT_EQ(Strings(ctx["next_stages"], "stage"),
            (std::vector<std::string>{"customer", "trial", "qualified", "lead", "engaged"}));
  const json& engaged = ctx["next_stages"][4];
  EXPECT_EQ(engaged["rules"], json::array({"engage"}));
  EXPECT_EQ(engaged["events"], json::array({"pricing_viewed", "feature_viewed", "content_read",
                                            "video_played", "page_viewed"}));

  // Latest variant per slot, newest first.
  EXPECT_EQ(Strings(ctx["content_shown"], "slot"), (std::vector<std::string>{"hero", "cta"}));
  EXPECT_EQ(Strings(ctx["content_shown"], "variant"),
            (std::vector<std::string>{"hero_default", "cta_pricing"}));
  EXPECT_EQ(Int(ctx["content_shown"][0], "at"), kT0 + 2 * kDay + 4 * kHour);

  // page_viewed moves an awareness visitor on (engage counts page views), so both page views
  // come before the newer clicks; content_shown is not a touchpoint here.
  const json& tps = ctx["touchpoints"];
  EXPECT_EQ(Strings(tps, "name"), (std::vector<std::string>{"page_viewed", "page_viewed",
                                                            "button_clicked", "button_clicked"}));
  EXPECT_EQ(tps[0], json::parse(R"({"name":"page_viewed","at":1700172800000,"path":"/blog",
                                    "channel":"Email"})"));
  EXPECT_EQ(Int(tps[1], "at"), kT0);
  EXPECT_EQ(Int(tps[2], "at"), kT0 + 2 * kDay + kHour);
  EXPECT_EQ(Member(tps[2], "channel"), nullptr);  // not a landing

  EXPECT_EQ(ctx["channels"], json::parse(R"({"first":"Organic Search","last":"Email"})"));
  EXPECT_FALSE(ctx["truncated"].get<bool>());
  EXPECT_EQ(Int(ctx, "budget"), 65536);
  EXPECT_EQ(Int(ctx, "bytes"), static_cast<std::int64_t>(DumpJson(ctx).size()));
}

TEST_F(JourneyContextTest, NextStagesFromLeadGroupRulesAndShowInactivity) {
  StoreBig();
  json ctx = BuildJourneyContext(db_, kDefaultProject, *map_, "u:big", kContextMaxBudget,
                                 kT0 + 2000 * kMinute);
  ASSERT_TRUE(ctx.is_object());
  EXPECT_EQ(ctx["user_id"], "big");
  EXPECT_EQ(ctx["stage"]["id"], "lead");
  EXPECT_EQ(ctx["next_stages"], json::parse(R"([
    {"stage":"customer","rules":["convert"],"events":["order_completed"]},
    {"stage":"trial","rules":["start_trial"],"events":["trial_started","signed_up"]},
    {"stage":"qualified","rules":["request_demo","qualify"],
     "events":["demo_requested","lead_qualified"]},
    {"stage":"dormant","rules":["go_dormant"],"inactive_for_ms":2592000000}])"));
  // Nothing in the history is an event that moves a lead on: plain newest first.
  EXPECT_EQ(Size(ctx, "touchpoints"), 102u);
  EXPECT_EQ(ctx["touchpoints"][0]["name"], "button_clicked");
  EXPECT_EQ(ctx["touchpoints"][1]["name"], "lead_submitted");
  EXPECT_EQ(ctx["touchpoints"][101]["path"], "/");
  EXPECT_EQ(ctx["channels"], json::parse(R"({"first":"Paid Search","last":"Email"})"));
  EXPECT_FALSE(ctx["truncated"].get<bool>());
}

TEST_F(JourneyContextTest, PreviousStageTargetAndWildcardRelevance) {
  RawProfile("a:sleepy", "", "dormant", kT0 + 31 * kDay);
  auto tr = db_.Prepare(
      "INSERT INTO transitions (profile_id, position, from_stage, to_stage, at, event_id, rule, "
      "map_version) VALUES ('a:sleepy',?,?,?,?,'',?,1)");
  tr.Bind(1, 0).Bind(2, "awareness").Bind(3, "engaged").Bind(4, kT0).Bind(5, "engage");
  ASSERT_TRUE(tr.Run());
  tr.Bind(1, 1)
      .Bind(2, "engaged")
      .Bind(3, "dormant")
      .Bind(4, kT0 + 31 * kDay)
      .Bind(5, "go_dormant");
  ASSERT_TRUE(tr.Run());
  json ctx = BuildJourneyContext(db_, kDefaultProject, *map_, "a:sleepy", 2048, kT0 + 40 * kDay);
  ASSERT_TRUE(ctx.is_object());
  // reactivate goes to "$previous", the stage left for dormant.
  EXPECT_EQ(Strings(ctx["next_stages"], "stage"),
            (std::vector<std::string>{"customer", "trial", "engaged"}));
  EXPECT_EQ(ctx["next_stages"][2]["rules"], json::array({"reactivate"}));
  EXPECT_EQ(ctx["next_stages"][2]["events"], json::array({"*"}));
  // No snapshot and an empty state: the stored score, no contributors.
  EXPECT_DOUBLE_EQ(ctx["score"]["total"].get<double>(), 0.0);
  EXPECT_TRUE(ctx["score"]["top"].empty());
  EXPECT_TRUE(ctx["user_id"].is_null());  // an empty user id is no user
  EXPECT_EQ(ctx["channels"], json::parse(R"({"first":null,"last":null})"));
}

TEST_F(JourneyContextTest, ScoreFallsBackToTheStoredStateWithoutASnapshot) {
  Engine engine = StoreAwareness();
  ASSERT_TRUE(db_.Exec("UPDATE profiles SET snapshot = 'wms1:damaged'") == std::nullopt);
  const std::int64_t last = engine.last_activity();
  json ctx = BuildJourneyContext(db_, kDefaultProject, *map_, "a:ctx", 2048, kT0 + 30 * kDay);
  ASSERT_TRUE(ctx.is_object());
  // As of the last activity, not decayed further.
  EXPECT_DOUBLE_EQ(ctx["score"]["total"].get<double>(), std::round(engine.Score(last) * 100) / 100);
  EXPECT_EQ(Strings(ctx["score"]["top"], "rule"),
            (std::vector<std::string>{"email_visit", "page_view"}));
}

TEST_F(JourneyContextTest, BudgetIsNeverExceededAndPrioritiesHold) {
  StoreBig();
  const std::int64_t now = kT0 + 2000 * kMinute;
  json full = BuildJourneyContext(db_, kDefaultProject, *map_, "u:big", kContextMaxBudget, now);
  ASSERT_TRUE(full.is_object());
  std::size_t previous_touchpoints = 0;
  for (std::size_t budget : {256u, 512u, 1024u, 2048u, 4096u}) {
    SCOPED_TRACE(budget);
    json ctx = BuildJourneyContext(db_, kDefaultProject, *map_, "u:big", budget, now);
    ASSERT_TRUE(ctx.is_object());
    const std::string text = DumpJson(ctx);
    EXPECT_LE(text.size(), budget);
    EXPECT_EQ(Int(ctx, "bytes"), static_cast<std::int64_t>(text.size()));
    EXPECT_EQ(Int(ctx, "budget"), static_cast<std::int64_t>(budget));
    EXPECT_TRUE(ctx["truncated"].get<bool>());
    // The essentials always fit.
    EXPECT_EQ(ctx["profile_id"], "u:big");
    EXPECT_EQ(ctx["stage"]["id"], "lead");
    // Touchpoints are the newest ones, cut at the end, and grow with the budget.
    const std::size_t n = Size(ctx, "touchpoints");
    EXPECT_GE(n, previous_touchpoints);
    previous_touchpoints = n;
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(ctx["touchpoints"][i], full["touchpoints"][i]);
    // A list that is present and empty was empty to begin with; one cut to nothing is absent.
    for (const char* list : {"next_stages", "content_shown", "touchpoints"}) {
      const json* part = Member(ctx, list);
      if (part != nullptr && part->empty()) {
        EXPECT_EQ(Size(full, list), 0u) << list;
      }
    }
    if (const json* top = DottedMember(ctx, "score.top"); top != nullptr && top->empty()) {
      ADD_FAILURE() << "score.top written empty";
    }
    // Parts go from the bottom: a part is there only when every part above it is complete.
    const std::vector<std::string> parts = {"score", "next_stages", "content_shown", "touchpoints",
                                            "channels"};
    bool complete = true;
    for (const auto& part : parts) {
      const json* mine = Member(ctx, part);
      if (!complete) {
        EXPECT_EQ(mine, nullptr) << part << " after a cut part";
      }
      if (mine == nullptr || *mine != full[part]) complete = false;
    }
  }
  json small = BuildJourneyContext(db_, kDefaultProject, *map_, "u:big", 512, now);
  EXPECT_TRUE(small.contains("score"));
  EXPECT_EQ(small["user_id"], "big");
  json mid = BuildJourneyContext(db_, kDefaultProject, *map_, "u:big", 2048, now);
  EXPECT_EQ(Size(mid, "next_stages"), 4u);
  EXPECT_GT(Size(mid, "touchpoints"), 0u);
  EXPECT_LT(Size(mid, "touchpoints"), 102u);
  EXPECT_EQ(mid["content_shown"], json::parse(R"([{"slot":"cta","variant":"cta_trial",
                                                   "at":1700060060000}])"));
}

TEST_F(JourneyContextTest, OversizedIdsStillFitTheSmallestBudget) {
  const std::string id = "a:" + std::string(300, 'p');
  RawProfile(id, std::string(256, 'u'), "awareness", kT0);
  json ctx = BuildJourneyContext(db_, kDefaultProject, *map_, id, 256, kT0 + kDay);
  ASSERT_TRUE(ctx.is_object());
  EXPECT_LE(DumpJson(ctx).size(), 256u);
  EXPECT_EQ(Int(ctx, "bytes"), static_cast<std::int64_t>(DumpJson(ctx).size()));
  EXPECT_TRUE(ctx["truncated"].get<bool>());
  EXPECT_EQ(ctx["stage"]["id"], "awareness");
}

TEST_F(JourneyContextTest, InvalidUtf8InStoredTextNeverBreaksTheBudget) {
  // DumpJson writes U+FFFD (3 bytes) for each invalid byte, longer than the size estimate.
  const std::string id = "a:bad";
  RawProfile(id, std::string(200, '\xff'), "awareness", kT0);
  for (std::size_t budget : {256u, 512u, 700u}) {
    json ctx = BuildJourneyContext(db_, kDefaultProject, *map_, id, budget, kT0 + kDay);
    ASSERT_TRUE(ctx.is_object());
    EXPECT_LE(DumpJson(ctx).size(), budget);
    EXPECT_EQ(Int(ctx, "bytes"), static_cast<std::int64_t>(DumpJson(ctx).size()));
    EXPECT_TRUE(ctx["truncated"].get<bool>());
  }
}

TEST_F(JourneyContextTest, BudgetIsClamped) {
  StoreAwareness();
  json low = BuildJourneyContext(db_, kDefaultProject, *map_, "a:ctx", 10, kT0 + 3 * kDay);
  EXPECT_EQ(Int(low, "budget"), 256);
  EXPECT_LE(DumpJson(low).size(), 256u);
  json high = BuildJourneyContext(db_, kDefaultProject, *map_, "a:ctx", std::size_t{1} << 30,
                                  kT0 + 3 * kDay);
  EXPECT_EQ(Int(high, "budget"), 65536);
}

// Another visitor's data never leaks into a context: stored after the first build, it changes
// nothing in this one (the same bytes at every budget).
TEST_F(JourneyContextTest, AnotherProfileChangesNothing) {
  StoreBig();
  const std::int64_t now = kT0 + 2000 * kMinute;
  std::vector<std::string> before;
  for (std::size_t budget : {256u, 2048u, 65536u}) {
    before.push_back(
        DumpJson(BuildJourneyContext(db_, kDefaultProject, *map_, "u:big", budget, now)));
  }
  StoreAwareness();
  std::size_t i = 0;
  for (std::size_t budget : {256u, 2048u, 65536u}) {
    EXPECT_EQ(DumpJson(BuildJourneyContext(db_, kDefaultProject, *map_, "u:big", budget, now)),
              before[i++]);
  }
}

}  // namespace
}  // namespace waymark::collector
