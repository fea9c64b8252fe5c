// One engine everywhere (issue 13): 1 000 seeded random streams (out-of-order times, duplicate
// ids, aliases and unknown names, identity changes, campaigns, map switches, timed transitions)
// run through the engine, and everything they produce (snapshots, state, scores decayed to
// several later times, breakdowns, attribution under every model, content decisions) is hashed
// into one digest. This suite runs natively and as wasm; scripts/test-core.sh requires the two
// digests to be equal, so a single differing bit anywhere fails `npm test`.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "test_util.h"
#include "waymark/compiled_map.h"
#include "waymark/det_math.h"
#include "waymark/engine.h"

namespace waymark {
namespace {

using testing_util::DefaultMap;
using testing_util::kT0;

// splitmix64: the same sequence on every platform (integer arithmetic only).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t Below(std::uint64_t n) { return Next() % n; }
  template <typename T, std::size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Below(N)];
  }

 private:
  std::uint64_t state_;
};

// A second map to switch to: another half-life, an easier engage rule, another position weight.
std::shared_ptr<const JourneyMap> VariantMap() {
  auto doc = ParseJson(DefaultMapJson(), 1 << 20, 64).value();
  doc["version"] = 2;
  doc["scoring"]["half_life"] = "11d";
  for (auto& t : doc["transitions"]) {
    if (t["id"] == "engage") t["when"] = json{{"event", "page_viewed"}};
  }
  auto parsed = ParseJourneyMap(doc.dump());
  return parsed.ok() ? LoadCompiledMap(CompileMap(*parsed.value())).value() : nullptr;
}

Event RandomEvent(Rng& rng, int index, TimeMs* clock, std::vector<Event>* sent) {
  static const char* kNames[] = {"page_viewed",    "page_viewed",   "pricing_viewed",
                                 "feature_used",   "content_read",  "generate_lead",
                                 "Trial Started",  "trial_started", "order_completed",
                                 "Bad Name",       "video_played",  "demo_requested",
                                 "lead_submitted", "sign_up",       "feature_viewed",
                                 "friend_invited", "xyz",           "plan_upgraded"};
  static const char* kSources[] = {"google", "newsletter", "facebook", "bing", "partner"};
  static const char* kMediums[] = {"cpc", "email", "social", "organic", "referral"};
  static const char* kReferrers[] = {"https://www.google.com/", "https://news.ycombinator.com/",
                                     "https://t.co/x", "https://site.example/docs", ""};
  // Duplicates: an event already sent, again (same id; the engine folds or keeps it as it would).
  if (!sent->empty() && rng.Below(20) == 0) return (*sent)[rng.Below(sent->size())];
  Event e;
  e.id = "e" + std::to_string(index) + "-" + std::to_string(rng.Below(1000));
  e.anonymous_id = "anon-1";
  e.seq = index;
  e.name = rng.Pick(kNames);
  // Mostly forward in steps from a second to days; sometimes late (out of order).
  const std::uint64_t step = rng.Below(4);
  const TimeMs forward = step == 0   ? static_cast<TimeMs>(rng.Below(2000))
                         : step == 1 ? static_cast<TimeMs>(rng.Below(3600000))
                         : step == 2 ? static_cast<TimeMs>(rng.Below(3 * 86400000LL))
                                     : static_cast<TimeMs>(rng.Below(40 * 86400000LL));
  *clock += forward;
  e.time = rng.Below(8) == 0 ? *clock - static_cast<TimeMs>(rng.Below(86400000)) : *clock;
  if (rng.Below(3) == 0) e.properties["plan"] = rng.Below(2) ? "pro" : "team";
  if (rng.Below(3) == 0) e.properties["value"] = static_cast<double>(rng.Below(100000)) / 7.0;
  e.context.path = "/p/" + std::to_string(rng.Below(6));
  e.context.url = "https://site.example" + e.context.path;
  if (rng.Below(5) == 0) {
    e.context.campaign["utm_source"] = rng.Pick(kSources);
    e.context.campaign["utm_medium"] = rng.Pick(kMediums);
  }
  if (rng.Below(4) == 0) e.context.referrer = rng.Pick(kReferrers);
  if (rng.Below(25) == 0) e.user_id = rng.Below(3) ? "user-1" : "user-2";
  sent->push_back(e);
  return e;
}

// Everything a stream produced, as text: the digest's input.
std::string Observe(const Engine& engine, TimeMs at) {
  std::string out = engine.Snapshot();
  out += engine.StateJson(at).dump();
  for (TimeMs later : {TimeMs{0}, kDay, 7 * kDay, 45 * kDay, 400 * kDay}) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "|%a", engine.Score(at + later));
    out += buf;
  }
  for (const auto& item : engine.ScoreBreakdown(at + 3 * kDay)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", item.points);
    out += item.rule + buf;
  }
  for (auto model : {AttributionModel::kFirstTouch, AttributionModel::kLastTouch,
                     AttributionModel::kLastNonDirect, AttributionModel::kLinear,
                     AttributionModel::kTimeDecay, AttributionModel::kPositionBased}) {
    for (const auto& credit : engine.Attribute(model, at)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%a", credit.credit);
      out += credit.channel + buf;
    }
  }
  for (const auto& d : engine.Decide(at)) out += d.slot + "=" + d.variant;
  return out;
}

TEST(Determinism, RandomStreamsGiveOneDigest) {
  constexpr int kStreams = 1000;
  constexpr int kEventsPerStream = 50;
  auto base = DefaultMap();
  auto variant = VariantMap();
  ASSERT_NE(base, nullptr);
  ASSERT_NE(variant, nullptr);
  std::uint64_t digest = Fnv1a64("");
  std::int64_t accepted = 0;
  std::int64_t switches = 0;
  for (int s = 0; s < kStreams; ++s) {
    Rng rng(static_cast<std::uint64_t>(s) + 1);
    Engine engine(base);
    TimeMs clock = kT0;
    std::vector<Event> sent;
    for (int i = 0; i < kEventsPerStream; ++i) {
      const std::uint64_t action = rng.Below(100);
      if (action < 3) {
        // A map switch, as a browser's loadMap does it.
        engine = engine.SwitchedTo(engine.map().version == 1 ? variant : base);
        ++switches;
      } else if (action < 6) {
        // Two draws in two statements: the order of a call's arguments is unspecified in C++.
        const char* user = rng.Below(2) ? "user-1" : "null";
        engine.Identify(user, json{{"tier", rng.Below(3)}});
      } else if (action < 10) {
        clock += static_cast<TimeMs>(rng.Below(60 * kDay));
        engine.Advance(clock);
      } else {
        engine.Track(RandomEvent(rng, i, &clock, &sent));
      }
    }
    const std::string seen = Observe(engine, clock + kHour);
    digest = Fnv1a64(std::to_string(digest) + seen);
    accepted += engine.counters().accepted;
    if (s % 100 == 0) {
      // The snapshot carries the whole state: restored, it gives the same bytes again.
      Engine restored(engine.map_ptr());
      ASSERT_TRUE(restored.Restore(engine.Snapshot()).ok()) << "stream " << s;
      EXPECT_EQ(restored.Snapshot(), engine.Snapshot()) << "stream " << s;
    }
  }
  EXPECT_GT(accepted, kStreams * 20);
  EXPECT_GT(switches, kStreams / 2);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(digest));
  std::cout << "[ DIGEST   ] random-streams " << hex << " (" << kStreams << " streams, " << accepted
            << " events accepted, " << switches << " map switches)" << std::endl;
}

// Exp2 against exact powers of two and known values, and its monotonicity over a fine sweep: a
// deterministic function that was also wrong would still agree with itself.
TEST(Determinism, Exp2IsAccurate) {
  for (int k = -1022; k < 1024; k += 7) EXPECT_EQ(Exp2(k), std::ldexp(1.0, k)) << k;
  EXPECT_EQ(Exp2(0.5), 0x1.6a09e667f3bcdp+0);  // sqrt(2), correctly rounded
  EXPECT_NEAR(Exp2(-1.0 / 3), 0.79370052598409973737585281963615, 2e-16);
  // -10.3 is not exact in binary: within a few ulp of 2^-10.3 (the input's own rounding shows).
  EXPECT_NEAR(Exp2(-10.3), 7.932152308166362525e-4, 1e-18);
  EXPECT_EQ(Exp2(-2000), 0.0);
  // Just below an integer, x - floor(x) rounds up to 1: the table is never read past its end.
  EXPECT_EQ(Exp2(-1e-17), 1.0);
  EXPECT_NEAR(Exp2(std::nextafter(3.0, 0.0)), 8.0, 1e-14);
  EXPECT_TRUE(std::isinf(Exp2(2000)));
  double previous = 0;
  for (int i = -64000; i <= 64000; ++i) {
    const double v = Exp2(i / 1000.0);
    ASSERT_GE(v, previous) << i;
    previous = v;
  }
}

}  // namespace
}  // namespace waymark
