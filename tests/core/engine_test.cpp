#include "waymark/engine.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "test_util.h"
#include "waymark/channels.h"

namespace waymark {
namespace {

using testing_util::DefaultMap;
using testing_util::kT0;
using testing_util::MakeEvent;

// A journey through the whole default map, used by several tests.
std::vector<Event> FullJourney() {
  std::vector<Event> events;
  int n = 0;
  auto add = [&](const std::string& name, TimeMs t, json props = json::object()) {
    events.push_back(MakeEvent("e" + std::to_string(n++), name, t, std::move(props)));
  };
  Event landing = MakeEvent("e" + std::to_string(n++), "page_viewed", kT0);
  landing.context.url = "https://site.example/blog/post?utm_source=newsletter&utm_medium=email";
  landing.context.path = "/blog/post";
  landing.context.campaign = {{"utm_source", "newsletter"}, {"utm_medium", "email"}};
  events.push_back(landing);
  add("content_read", kT0 + kMinute);
  add("generate_lead", kT0 + 2 * kMinute);  // GA4 alias of lead_submitted
  add("demo_requested", kT0 + kHour);       // lead -> qualified
  add("Trial Started", kT0 + kDay);         // Segment alias of trial_started
  add("purchase", kT0 + 10 * kDay, {{"value", 49}, {"currency", "EUR"}});
  add("subscription_renewed", kT0 + 40 * kDay);
  add("friend_invited", kT0 + 41 * kDay);
  add("plan_upgraded", kT0 + 50 * kDay);
  return events;
}

TEST(Engine, DefaultMapFullJourney) {
  Engine engine(DefaultMap());
  std::vector<std::string> stages;
  for (const auto& e : FullJourney()) {
    auto out = engine.Track(e);
    ASSERT_EQ(out.status, TrackStatus::kAccepted) << e.name << ": " << out.error.message;
    stages.push_back(engine.stage());
  }
  EXPECT_EQ(stages, (std::vector<std::string>{"awareness", "engaged", "lead", "qualified", "trial",
                                              "customer", "retained", "advocate", "customer"}));
  ASSERT_EQ(engine.transitions().size(), 8u);
  const auto& first = engine.transitions().front();
  EXPECT_EQ(first.from, "awareness");
  EXPECT_EQ(first.to, "engaged");
  EXPECT_EQ(first.rule, "engage");
  EXPECT_EQ(first.event_id, "e1");
  EXPECT_EQ(first.at, kT0 + kMinute);
  EXPECT_EQ(first.map_version, 1);
  EXPECT_EQ(engine.transitions().back().rule, "expand");
  // The landing was classified by the engine.
  EXPECT_EQ(engine.log().front().event.context.channel, "Email");
  auto times = engine.StageTimes(kT0 + 50 * kDay);
  EXPECT_EQ(times["awareness"].total, kMinute);
  EXPECT_EQ(times["trial"].total, 9 * kDay);
  EXPECT_EQ(times["customer"].visits, 2);
}

TEST(Engine, IncrementalEqualsReplay) {
  auto map = DefaultMap();
  Engine live(map);
  auto events = FullJourney();
  for (const auto& e : events) live.Track(e);
  Engine replayed = Engine::Replay(map, events);
  EXPECT_EQ(live.Snapshot(), replayed.Snapshot());
  EXPECT_EQ(live.StateJson(kT0 + 60 * kDay), replayed.StateJson(kT0 + 60 * kDay));
}

TEST(Engine, WhatIfReplayUnderAnotherMapLeavesLiveStateAlone) {
  auto map = DefaultMap();
  Engine live(map);
  auto events = FullJourney();
  for (const auto& e : events) live.Track(e);
  std::string before = live.Snapshot();
  // Version 2 of the map: a demo request no longer qualifies.
  json doc = ParseJson(map->source, kMaxMapBytes, kMaxMapDepth).value();
  doc["version"] = 2;
  for (auto& t : doc["transitions"]) {
    if (t["id"] == "request_demo") t["when"] = {{"event", "lead_qualified"}};
  }
  auto v2 = ParseJourneyMap(doc.dump());
  ASSERT_TRUE(v2.ok()) << v2.error().message;
  std::vector<Event> first_four(events.begin(), events.begin() + 4);
  Engine what_if = Engine::Replay(v2.value(), first_four);
  // Under v2 the demo request still qualifies, but through the score rule (1 + 5 + 5 + 20 + 30
  // points >= 50) rather than the demo edge.
  EXPECT_EQ(what_if.stage(), "qualified");
  EXPECT_EQ(what_if.transitions().back().rule, "qualify");
  EXPECT_EQ(what_if.transitions().back().map_version, 2);
  EXPECT_EQ(live.transitions()[2].rule, "request_demo");
  EXPECT_EQ(live.Snapshot(), before);
  EXPECT_EQ(live.stage(), "customer");
}

TEST(Engine, DormancyAtTheExactDueTimeThenReactivation) {
  Engine engine(DefaultMap());
  engine.Track(MakeEvent("a", "pricing_viewed", kT0));  // engaged
  ASSERT_EQ(engine.stage(), "engaged");
  auto early = engine.Advance(kT0 + 29 * kDay);
  EXPECT_TRUE(early.transitions.empty());
  auto due = engine.Advance(kT0 + 45 * kDay);
  ASSERT_EQ(due.transitions.size(), 1u);
  EXPECT_EQ(due.transitions[0].to, "dormant");
  EXPECT_EQ(due.transitions[0].at, kT0 + 30 * kDay);
  EXPECT_EQ(due.transitions[0].event_id, "");
  auto back = engine.Track(MakeEvent("b", "page_viewed", kT0 + 46 * kDay));
  ASSERT_EQ(back.transitions.size(), 1u);
  EXPECT_EQ(back.transitions[0].rule, "reactivate");
  EXPECT_EQ(engine.stage(), "engaged");
  ASSERT_EQ(back.triggers.size(), 1u);
  EXPECT_EQ(back.triggers[0].trigger, "reactivated");
}

TEST(Engine, TimedTransitionsAppliedBeforeALateEventWithoutAdvance) {
  Engine engine(DefaultMap());
  engine.Track(MakeEvent("a", "pricing_viewed", kT0));
  auto out = engine.Track(MakeEvent("b", "page_viewed", kT0 + 31 * kDay));
  ASSERT_EQ(out.transitions.size(), 2u);
  EXPECT_EQ(out.transitions[0].to, "dormant");
  EXPECT_EQ(out.transitions[0].at, kT0 + 30 * kDay);
  EXPECT_EQ(out.transitions[1].to, "engaged");
}

TEST(Engine, LateEventsNeverRunTheClockBackwards) {
  Engine engine(DefaultMap());
  engine.Track(MakeEvent("a", "page_viewed", kT0 + kHour));
  auto out = engine.Track(MakeEvent("b", "pricing_viewed", kT0));
  EXPECT_EQ(out.status, TrackStatus::kAccepted);
  EXPECT_EQ(engine.log().back().at, kT0 + kHour);
  EXPECT_EQ(engine.log().back().event.time, kT0);  // the device time is kept as it came
}

TEST(Engine, FoldsIdenticalEventsAndThrottles) {
  Engine engine(DefaultMap());
  EXPECT_EQ(engine.Track(MakeEvent("a", "feature_used", kT0)).status, TrackStatus::kAccepted);
  EXPECT_EQ(engine.Track(MakeEvent("b", "feature_used", kT0 + 500)).status, TrackStatus::kFolded);
  EXPECT_EQ(engine.Track(MakeEvent("c", "feature_used", kT0 + 900, {{"x", 1}})).status,
            TrackStatus::kAccepted);
  EXPECT_EQ(engine.Track(MakeEvent("d", "feature_used", kT0 + 5000)).status,
            TrackStatus::kAccepted);
  EXPECT_EQ(engine.log().front().folded, 1);
  EXPECT_EQ(engine.counters().folded, 1);
  // page_viewed: at most 60 per minute.
  int throttled = 0;
  for (int i = 0; i < 70; ++i) {
    Event e = MakeEvent("p" + std::to_string(i), "page_viewed", kT0 + 10000 + i * 100);
    e.context.path = "/p" + std::to_string(i);  // distinct, so not folded
    if (engine.Track(e).status == TrackStatus::kThrottled) ++throttled;
  }
  EXPECT_EQ(throttled, 10);
  EXPECT_EQ(engine.counters().throttled, 10);
}

TEST(Engine, ViewsOfAnotherQueryAreNeverFoldedAway) {
  // A single-page app: /spa/a, /spa/a?x=1, back to /spa/a, within the fold window. Each is a
  // view of another URL; only a true repeat (same path, query and properties) folds.
  Engine engine(DefaultMap());
  auto view = [](const std::string& id, TimeMs at, const std::string& url) {
    Event e = MakeEvent(id, "page_viewed", at);
    e.context.url = url;
    e.context.path = "/spa/a";
    return e;
  };
  EXPECT_EQ(engine.Track(view("v1", kT0, "https://x.example/spa/a")).status,
            TrackStatus::kAccepted);
  EXPECT_EQ(engine.Track(view("v2", kT0 + 300, "https://x.example/spa/a?x=1")).status,
            TrackStatus::kAccepted);
  EXPECT_EQ(engine.Track(view("v3", kT0 + 600, "https://x.example/spa/a?x=2#top")).status,
            TrackStatus::kAccepted);
  EXPECT_EQ(engine.Track(view("v4", kT0 + 900, "https://x.example/spa/a?x=2#other")).status,
            TrackStatus::kFolded)
      << "the fragment is not part of the page";
  EXPECT_EQ(engine.Track(view("v5", kT0 + 1200, "https://x.example/spa/a?x=1")).status,
            TrackStatus::kAccepted)
      << "back to an earlier view: other views came in between, not a repeat";
  EXPECT_EQ(engine.Track(view("v6", kT0 + 1300, "https://x.example/spa/a?x=1")).status,
            TrackStatus::kFolded)
      << "a true repeat of the latest view within the window";
}

TEST(Engine, BoundedLogEvictsOldest) {
  Engine engine(DefaultMap());
  for (int i = 0; i < 600; ++i) {
    engine.Track(MakeEvent("f" + std::to_string(i), "feature_used", kT0 + i * 3000, {{"i", i}}));
  }
  EXPECT_EQ(engine.log().size(), 500u);
  EXPECT_EQ(engine.counters().evicted, 100);
  EXPECT_EQ(engine.log().front().event.id, "f100");
}

TEST(Engine, RejectsBadEventsAndChangesNothing) {
  Engine engine(DefaultMap());
  engine.Track(MakeEvent("a", "page_viewed", kT0));
  std::string before = engine.Snapshot();
  auto out = engine.Track(MakeEvent("b", "Pricing Page", kT0 + 1));
  EXPECT_EQ(out.status, TrackStatus::kRejected);
  EXPECT_EQ(out.error.code, "invalid_event_name");
  auto out2 = engine.TrackJson(json{{"id", "c"}, {"name", "page_viewed"}});
  EXPECT_EQ(out2.error.code, "invalid_event");
  EXPECT_EQ(out2.event_id, "c");
  // Only the rejection counter moved.
  Engine restored(DefaultMap());
  ASSERT_TRUE(restored.Restore(before).ok());
  EXPECT_EQ(engine.log().size(), restored.log().size());
  EXPECT_EQ(engine.counters().rejected, 2);
}

TEST(Engine, GarbageThroughTrackJsonNeverCrashes) {
  Engine engine(DefaultMap());
  std::mt19937 rng(42);  // seeded: the test is repeatable
  const json atoms[] = {json(nullptr),
                        json(true),
                        json(-1),
                        json(1e300),
                        json(""),
                        json("page_viewed"),
                        json(std::string("\xFF\xFE")),
                        json::array(),
                        json::object(),
                        json(kT0),
                        json(std::string(5000, 'x'))};
  const char* keys[] = {"id",      "name",    "time",         "seq",  "properties",
                        "context", "user_id", "anonymous_id", "type", "sent_at"};
  for (int i = 0; i < 3000; ++i) {
    json e = json::object();
    for (const char* k : keys) {
      if (rng() % 3 == 0) continue;
      e[k] = atoms[rng() % (sizeof(atoms) / sizeof(atoms[0]))];
    }
    auto out = engine.TrackJson(e);
    if (out.status == TrackStatus::kRejected) EXPECT_FALSE(out.error.code.empty());
  }
  // Every event was counted once, most garbage was refused, and the engine still works.
  const Counters& c = engine.counters();
  EXPECT_EQ(c.accepted + c.folded + c.throttled + c.rejected, 3000);
  EXPECT_GT(c.rejected, 2000);
  EXPECT_EQ(engine.Track(MakeEvent("ok-after", "pricing_viewed", kT0 + kDay)).status,
            TrackStatus::kAccepted);
}

TEST(Engine, IdentityGuardsAndConflicts) {
  Engine engine(DefaultMap());
  for (const char* bad : {"null", "undefined", "0", "anonymous", "  ", "", "[object Object]"}) {
    auto s = engine.Identify(bad, json());
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code, "invalid_user_id");
  }
  ASSERT_TRUE(engine.Identify("user-42", json{{"plan", "pro"}}).ok());
  EXPECT_EQ(engine.Identify("user-43", json()).error().code, "identity_conflict");
  EXPECT_TRUE(engine.Identify("user-42", json{{"seats", 5}}).ok());
  EXPECT_EQ(engine.traits()["plan"], "pro");
  EXPECT_EQ(engine.traits()["seats"], 5);
  Event other = MakeEvent("x", "page_viewed", kT0);
  other.user_id = "user-43";
  EXPECT_EQ(engine.Track(other).error.code, "identity_conflict");
  EXPECT_TRUE(engine.Alias("anon-2").ok());
  EXPECT_EQ(engine.Alias("null").error().code, "invalid_anonymous_id");
  engine.Reset();
  EXPECT_TRUE(engine.user_id().empty());
  EXPECT_TRUE(engine.Identify("user-43", json()).ok());
}

// The collector never sees identify() calls, only their user_identified events: the traits ride
// on the event, so a map that reads traits gives the same journey on both sides.
TEST(Engine, TraitsCarriedByAnEventAreMergedLikeIdentify) {
  auto map = testing_util::MapOrNull(R"({"id": "t", "version": 1,
    "stages": [{"id": "visitor"}, {"id": "pro"}],
    "transitions": [{"id": "pro_seen", "from": "visitor", "to": "pro",
      "when": {"all": [{"event": "page_viewed"}, {"field": "traits.plan", "equals": "pro"}]}}]})");
  ASSERT_NE(map, nullptr);
  Engine browser(map);
  Engine collector(map);
  ASSERT_TRUE(browser.Identify("user-7", json{{"plan", "pro"}}).ok());
  auto envelope = json::parse(R"({"id": "i1", "name": "user_identified", "type": "identify",
    "anonymous_id": "anon-1", "user_id": "user-7", "time": 1700000000000,
    "traits": {"plan": "pro"}})");
  for (Engine* e : {&browser, &collector}) {
    ASSERT_EQ(e->TrackJson(envelope).status, TrackStatus::kAccepted);
    Event view = MakeEvent("p1", "page_viewed", kT0 + kMinute);
    EXPECT_EQ(e->Track(view).transitions.size(), 1u);
    EXPECT_EQ(e->stage(), "pro");
    EXPECT_EQ(e->user_id(), "user-7");
    EXPECT_EQ(e->traits(), json({{"plan", "pro"}}));
  }
  // Stored and replayed with the event.
  ASSERT_FALSE(collector.log().empty());
  EXPECT_EQ(EventToJson(collector.log().front().event)["traits"], json({{"plan", "pro"}}));

  // Bad traits refuse the event with identify()'s error and change nothing, not even the user.
  Engine fresh(map);
  auto bad = envelope;
  bad["traits"] = "pro";
  auto parsed = fresh.TrackJson(bad);
  EXPECT_EQ(parsed.status, TrackStatus::kRejected);
  EXPECT_EQ(parsed.error.code, "invalid_traits");
  json many = json::object();
  for (int i = 0; i < 65; ++i) many["k" + std::to_string(i)] = i;
  bad["traits"] = many;
  EXPECT_EQ(fresh.TrackJson(bad).error.code, "invalid_traits");
  json deep = {{"a", {{"b", {{"c", {{"d", {{"e", 1}}}}}}}}}};
  bad["traits"] = deep;
  EXPECT_EQ(fresh.TrackJson(bad).error.code, "invalid_traits");
  EXPECT_TRUE(fresh.user_id().empty());
  EXPECT_TRUE(fresh.traits().empty());
  // The total cap (twice the per-call keys) holds across events as across identify() calls.
  json half = json::object();
  for (int i = 0; i < 64; ++i) half["a" + std::to_string(i)] = i;
  ASSERT_TRUE(fresh.Identify("user-7", half).ok());
  half = json::object();
  for (int i = 0; i < 64; ++i) half["b" + std::to_string(i)] = i;
  ASSERT_TRUE(fresh.Identify("user-7", half).ok());
  auto over = envelope;
  over["traits"] = {{"c", 1}};
  EXPECT_EQ(fresh.TrackJson(over).error.code, "invalid_traits");
  EXPECT_EQ(fresh.traits().size(), 128u);
}

TEST(Engine, OutboundFollowsSyncFiltersAndLocalOnly) {
  Engine engine(DefaultMap());
  auto out =
      engine.Track(MakeEvent("a", "page_viewed", kT0, {{"plan", "pro"}, {"email", "x@y.z"}}));
  ASSERT_TRUE(out.outbound.has_value());
  // In awareness only allowlisted properties leave the device.
  EXPECT_EQ((*out.outbound)["properties"], (json{{"plan", "pro"}}));
  engine.Track(MakeEvent("b", "lead_submitted", kT0 + 1000, {{"email", "x@y.z"}}));
  auto later = engine.Track(MakeEvent("c", "page_viewed", kT0 + 9000, {{"email", "x@y.z"}}));
  ASSERT_TRUE(later.outbound.has_value());
  EXPECT_EQ((*later.outbound)["properties"]["email"], "x@y.z");

  EngineOptions local;
  local.local_only = true;
  Engine private_engine(DefaultMap(), local);
  auto p = private_engine.Track(MakeEvent("a", "pricing_viewed", kT0));
  EXPECT_FALSE(p.outbound.has_value());
  EXPECT_EQ(private_engine.stage(), "engaged");  // still personalizes
}

TEST(Engine, ContentDecisionsFollowTheStage) {
  Engine engine(DefaultMap());
  auto decide = [&](const std::string& slot) {
    for (const auto& d : engine.Decide(kT0 + kDay)) {
      if (d.slot == slot) return d;
    }
    return Decision{};
  };
  EXPECT_EQ(decide("hero").variant, "hero_default");
  EXPECT_TRUE(decide("hero").is_default);
  EXPECT_TRUE(decide("banner").content.hidden);
  engine.Track(MakeEvent("t", "trial_started", kT0));
  EXPECT_EQ(decide("hero").variant, "hero_trial");
  EXPECT_EQ(decide("cta").variant, "cta_upgrade");
  EXPECT_EQ(decide("cta").content.attrs.at("href"), "/upgrade.html");
  EXPECT_FALSE(decide("hero").is_default);
}

TEST(Engine, ScoreDecaysWithHalfLife) {
  Engine engine(DefaultMap());
  engine.Track(MakeEvent("a", "pricing_viewed", kT0));  // 10 points, half-life 30 d
  EXPECT_DOUBLE_EQ(engine.Score(kT0), 10.0);
  EXPECT_NEAR(engine.Score(kT0 + 30 * kDay), 5.0, 1e-9);
  EXPECT_NEAR(engine.Score(kT0 + 60 * kDay), 2.5, 1e-9);
  EXPECT_DOUBLE_EQ(engine.Score(kT0 - kDay), 10.0);  // reads before the award do not grow it
  auto breakdown = engine.ScoreBreakdown(kT0 + 30 * kDay);
  ASSERT_EQ(breakdown.size(), 1u);
  EXPECT_EQ(breakdown[0].rule, "pricing_interest");
  EXPECT_EQ(breakdown[0].group, "intent");
}

TEST(Engine, AttributionOverTheJourney) {
  Engine engine(DefaultMap());
  Event a = MakeEvent("a", "page_viewed", kT0);
  a.context.url = "https://site.example/";
  a.context.campaign = {{"gclid", "abc"}};
  Event b = MakeEvent("b", "page_viewed", kT0 + 7 * kDay);
  b.context.url = "https://site.example/";
  b.context.campaign = {{"utm_source", "newsletter"}, {"utm_medium", "email"}};
  engine.Track(a);
  engine.Track(b);
  auto linear = engine.Attribute(AttributionModel::kLinear, kT0 + 7 * kDay);
  ASSERT_EQ(linear.size(), 2u);
  EXPECT_EQ(linear[0].channel, "Paid Search");
  EXPECT_NEAR(linear[0].credit, 0.5, 1e-12);
  auto decay = engine.Attribute(AttributionModel::kTimeDecay, kT0 + 7 * kDay);
  EXPECT_NEAR(decay[0].credit, 1.0 / 3.0, 1e-12);  // weights 0.5 and 1
}

TEST(Engine, StateJsonDescribesTheJourney) {
  Engine engine(DefaultMap());
  for (const auto& e : FullJourney()) engine.Track(e);
  json s = engine.StateJson(kT0 + 51 * kDay);
  EXPECT_EQ(s["stage"], "customer");
  EXPECT_EQ(s["stage_name"], "Customer");
  EXPECT_EQ(s["time_in_stage"], kDay);
  EXPECT_EQ(s["transitions"].size(), 8u);
  EXPECT_EQ(s["map"]["id"], "default");
}

}  // namespace
}  // namespace waymark

namespace waymark {
namespace {

using testing_util::DefaultMap;
using testing_util::kT0;
using testing_util::MakeEvent;

// The collector's engine (trust_channel off) derives channels from the context: a forged claim on
// an event that is no landing becomes no touch, a claim that contradicts the landing's own tags is
// replaced, and only "Direct" on a plain visit (the SDK's session start) is kept. The browser's
// engine keeps what its SDK sent.
TEST(Engine, AnUntrustedSenderCannotChooseTheChannel) {
  EngineOptions untrusted;
  untrusted.trust_channel = false;
  Engine collector(DefaultMap(), untrusted);
  Engine browser(DefaultMap());
  auto event = [](const std::string& id, TimeMs at, const std::string& claim) {
    Event e = MakeEvent(id, "page_viewed", at);
    e.context.url = "https://site.example/p";
    e.context.path = "/p";
    e.context.channel = claim;
    return e;
  };
  Event forged = event("a", kT0, "Paid Search");  // no campaign, no referrer: no landing
  Event contradicted = event("b", kT0 + kHour, "Email");
  contradicted.context.campaign = {{"utm_source", "google"}, {"utm_medium", "cpc"}};
  Event direct = event("c", kT0 + 2 * kHour, "Direct");
  Event internal = event("d", kT0 + 3 * kHour, "Organic Social");
  internal.context.referrer = "https://site.example/other";  // our own site
  for (Engine* engine : {&collector, &browser}) {
    for (const Event& e : {forged, contradicted, direct, internal}) engine->Track(e);
  }
  std::vector<std::string> seen;
  for (const auto& tp : collector.log()) seen.push_back(tp.event.context.channel);
  EXPECT_EQ(seen, (std::vector<std::string>{"", "Paid Search", "Direct", ""}));
  seen.clear();
  for (const auto& tp : browser.log()) seen.push_back(tp.event.context.channel);
  EXPECT_EQ(seen, (std::vector<std::string>{"Paid Search", "Email", "Direct", "Organic Social"}));
  EXPECT_EQ(LandingChannel({}, "https://site.example/x", "https://site.example/p"), "");
  EXPECT_EQ(LandingChannel({}, "https://www.bing.com/", "https://site.example/p"),
            "Organic Search");
}

}  // namespace
}  // namespace waymark

namespace waymark {
namespace {

// When time alone can move the visitor on: the collector stores it and advances the profile then.
TEST(Engine, NextTimedDueIsWhenAdvanceWouldFirstChangeSomething) {
  Engine engine(DefaultMap());
  EXPECT_EQ(engine.NextTimedDue(), -1) << "no activity yet";
  engine.Track(MakeEvent("a", "pricing_viewed", kT0));
  ASSERT_EQ(engine.stage(), "engaged");
  const TimeMs due = engine.NextTimedDue();
  EXPECT_EQ(due, kT0 + 30 * kDay);  // go_dormant: inactive for 30 days
  EXPECT_TRUE(engine.Advance(due - 1).transitions.empty());
  auto out = engine.Advance(due + kDay);
  ASSERT_EQ(out.transitions.size(), 1u);
  EXPECT_EQ(out.transitions[0].at, due);
  EXPECT_EQ(engine.stage(), "dormant");
  // From dormant nothing is timed in the default map: only an event moves the visitor on.
  EXPECT_EQ(engine.NextTimedDue(), -1);
}

}  // namespace
}  // namespace waymark

namespace waymark {
namespace {

// A map switch keeps who the visitor is: the log is replayed under the new map and the identity
// (user, traits, aliases, anonymous id) carried over.
TEST(Engine, SwitchedToKeepsTheIdentityAndReplaysTheLog) {
  Engine engine(DefaultMap());
  engine.Track(MakeEvent("a", "page_viewed", kT0));
  engine.Track(MakeEvent("b", "lead_submitted", kT0 + kMinute));
  ASSERT_TRUE(engine.Identify("user-9", json{{"plan", "pro"}}).ok());
  ASSERT_TRUE(engine.Alias("anon-other").ok());
  auto doc = ParseJson(DefaultMapJson(), 1 << 20, 64).value();
  doc["version"] = 5;
  for (auto& t : doc["transitions"]) {
    if (t["id"] == "capture_lead") t["when"] = json{{"event", "nothing_happened"}};
  }
  auto other = ParseJourneyMap(doc.dump());
  ASSERT_TRUE(other.ok()) << other.error().message;
  Engine next = engine.SwitchedTo(other.value());
  EXPECT_EQ(next.map().version, 5);
  EXPECT_NE(next.stage(), "lead") << "replayed under the new rules";
  EXPECT_EQ(next.log().size(), 2u);
  EXPECT_EQ(next.user_id(), "user-9");
  EXPECT_EQ(next.traits(), (json{{"plan", "pro"}}));
  EXPECT_EQ(next.aliases(), std::vector<std::string>{"anon-other"});
  EXPECT_EQ(next.anonymous_id(), "anon-1");
}

}  // namespace
}  // namespace waymark

namespace waymark {
namespace {

// A timed transition held back by the rest of its condition at its due time stays held (the
// condition is judged at that fixed time): after Advance(now) nothing more is due, so the
// collector does not look at the profile again until an event comes.
TEST(Engine, NextTimedDueSkipsWhatAdvanceAlreadyJudged) {
  auto doc = ParseJson(DefaultMapJson(), 1 << 20, 64).value();
  for (auto& t : doc["transitions"]) {
    if (t["id"] == "go_dormant") {
      t["when"] = json{
          {"all", json::array({json{{"inactive_for", "30d"}}, json{{"score", {{"gte", 1000}}}}})}};
    }
  }
  auto map = ParseJourneyMap(doc.dump());
  ASSERT_TRUE(map.ok()) << map.error().message;
  Engine engine(map.value());
  engine.Track(MakeEvent("a", "pricing_viewed", kT0));
  const TimeMs due = engine.NextTimedDue();
  EXPECT_EQ(due, kT0 + 30 * kDay);
  EXPECT_TRUE(engine.Advance(due + kDay).transitions.empty()) << "the score is far below 1000";
  EXPECT_EQ(engine.NextTimedDue(due + kDay), -1);
  EXPECT_EQ(engine.NextTimedDue(due - 1), due);
}

}  // namespace
}  // namespace waymark
