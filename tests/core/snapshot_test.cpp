#include <gtest/gtest.h>

#include <string>

#include "test_util.h"
#include "waymark/engine.h"

namespace waymark {
namespace {

using testing_util::DefaultMap;
using testing_util::kT0;
using testing_util::MakeEvent;
using testing_util::ReadFile;

Engine Journey() {
  Engine engine(DefaultMap());
  engine.Track(MakeEvent("a", "page_viewed", kT0, {{"plan", "pro"}}));
  engine.Track(MakeEvent("b", "pricing_viewed", kT0 + kMinute));
  engine.Track(MakeEvent("c", "lead_submitted", kT0 + 2 * kMinute, {{"note", "caf\xC3\xA9"}}));
  EXPECT_TRUE(engine.Identify("user-1", json{{"plan", "team"}}).ok());
  EXPECT_TRUE(engine.Alias("anon-2").ok());
  return engine;
}

TEST(Snapshot, RoundTripRestoresEverything) {
  Engine engine = Journey();
  std::string snap = engine.Snapshot();
  EXPECT_EQ(snap.rfind("wms1:", 0), 0u);
  Engine restored(DefaultMap());
  ASSERT_TRUE(restored.Restore(snap).ok());
  EXPECT_EQ(restored.Snapshot(), snap);
  EXPECT_EQ(restored.stage(), "lead");
  EXPECT_EQ(restored.user_id(), "user-1");
  EXPECT_EQ(restored.aliases(), std::vector<std::string>{"anon-2"});
  EXPECT_DOUBLE_EQ(restored.Score(kT0 + kDay), engine.Score(kT0 + kDay));
  EXPECT_EQ(restored.StateJson(kT0 + kDay), engine.StateJson(kT0 + kDay));
  // Both continue identically.
  auto a = engine.Track(MakeEvent("d", "demo_requested", kT0 + kHour));
  auto b = restored.Track(MakeEvent("d", "demo_requested", kT0 + kHour));
  EXPECT_EQ(engine.Snapshot(), restored.Snapshot());
  EXPECT_EQ(a.transitions.size(), b.transitions.size());
}

// A snapshot as the released SDK stored it in visitors' browsers (format wms1, the default map of
// version 1; tests/core/fixtures, written once by the engine of that release). Every later release
// must restore it, or migrate it, without losing the visitor's journey: a change of the snapshot
// format that breaks this test needs a migration, not a new fixture.
TEST(Snapshot, ASnapshotStoredByTheReleasedSdkStillRestores) {
  const std::string stored =
      ReadFile(WAYMARK_SOURCE_DIR "/tests/core/fixtures/snapshot-wms1-default-map-v1.txt");
  ASSERT_FALSE(stored.empty());
  Engine restored(DefaultMap());
  ASSERT_TRUE(restored.Restore(stored).ok());
  EXPECT_EQ(restored.stage(), "lead");
  EXPECT_EQ(restored.user_id(), "user-1");
  EXPECT_EQ(restored.anonymous_id(), "anon-1");
  EXPECT_EQ(restored.aliases(), std::vector<std::string>{"anon-2"});
  ASSERT_EQ(restored.log().size(), 3u);
  EXPECT_EQ(restored.log()[2].event.properties, (json{{"note", "caf\xC3\xA9"}}));
  EXPECT_NEAR(restored.Score(kT0 + kDay), 30.292742962963938, 1e-9);
  // The journey goes on from where it was: the same as an engine that saw the events itself.
  Engine live = Journey();
  auto a = restored.Track(MakeEvent("d", "demo_requested", kT0 + kHour));
  auto b = live.Track(MakeEvent("d", "demo_requested", kT0 + kHour));
  EXPECT_EQ(restored.stage(), "qualified");
  // Equal, except that the released engine decayed the stored scores with the platform's pow()
  // (waymark::Exp2 since): those may differ in the last place, nowhere else.
  json x = restored.StateJson(kT0 + kDay);
  json y = live.StateJson(kT0 + kDay);
  EXPECT_NEAR(x["score"].get<double>(), y["score"].get<double>(), 1e-12);
  ASSERT_EQ(x["score_breakdown"].size(), y["score_breakdown"].size());
  for (std::size_t i = 0; i < x["score_breakdown"].size(); ++i) {
    EXPECT_NEAR(x["score_breakdown"][i]["points"].get<double>(),
                y["score_breakdown"][i]["points"].get<double>(), 1e-12);
    x["score_breakdown"][i].erase("points");
    y["score_breakdown"][i].erase("points");
  }
  x.erase("score");
  y.erase("score");
  EXPECT_EQ(x, y);
}

TEST(Snapshot, OnceRulesSurviveRestore) {
  Engine engine = Journey();
  Engine restored(DefaultMap());
  ASSERT_TRUE(restored.Restore(engine.Snapshot()).ok());
  double before = restored.Score(kT0 + 3 * kMinute);
  restored.Track(MakeEvent("x", "lead_submitted", kT0 + 3 * kMinute, {{"again", true}}));
  EXPECT_NEAR(restored.Score(kT0 + 3 * kMinute), before, 1e-9);  // lead_form is once
}

TEST(Snapshot, EveryTruncationIsACleanError) {
  std::string snap = Journey().Snapshot();
  for (std::size_t len = 0; len < snap.size(); len += (len < 200 ? 1 : 37)) {
    Engine e(DefaultMap());
    e.Track(MakeEvent("z", "pricing_viewed", kT0));
    Status s = e.Restore(snap.substr(0, len));
    ASSERT_FALSE(s.ok()) << len;
    EXPECT_EQ(s.error().code, "snapshot_corrupt") << len;
    EXPECT_EQ(e.stage(), "awareness") << "a failed restore leaves a fresh state";
    EXPECT_TRUE(e.log().empty());
  }
}

TEST(Snapshot, FlippedBytesAreDetected) {
  std::string snap = Journey().Snapshot();
  for (std::size_t i = 5; i < snap.size(); i += 13) {
    std::string bad = snap;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    Engine e(DefaultMap());
    Status s = e.Restore(bad);
    EXPECT_FALSE(s.ok()) << i;
  }
}

TEST(Snapshot, OldFormatAndOtherMapsAreRefused) {
  Engine e(DefaultMap());
  EXPECT_EQ(e.Restore("wms0:00000000:{}").error().code, "snapshot_version");
  EXPECT_EQ(e.Restore("").error().code, "snapshot_corrupt");
  EXPECT_EQ(e.Restore(std::string(100, '\0')).error().code, "snapshot_corrupt");
  EXPECT_EQ(e.Restore(std::string("wms1:zzzzzzzz:\xFF\xFE")).error().code, "snapshot_corrupt");

  auto other =
      testing_util::MapOrNull(R"({"id":"other","version":1,"stages":[{"id":"awareness"}]})");
  ASSERT_NE(other, nullptr);
  Engine o(other);
  Status s = o.Restore(Journey().Snapshot());
  EXPECT_EQ(s.error().code, "snapshot_map_mismatch");
  EXPECT_NE(s.error().message.find("\"default\""), std::string::npos);
}

TEST(Snapshot, ValidChecksumWithHostilePayloadIsRefused) {
  // A payload that passes the checksum but holds wrong types must still not crash.
  auto make = [](const std::string& payload) {
    std::uint32_t h = 2166136261u;
    for (unsigned char c : payload) {
      h ^= c;
      h *= 16777619u;
    }
    char buf[9];
    std::snprintf(buf, sizeof(buf), "%08x", h);
    return std::string("wms1:") + buf + ":" + payload;
  };
  const std::string payloads[] = {
      "[]",
      "{}",
      "{\"v\":1}",
      "{\"v\":\"1\",\"map\":\"default\"}",
      "{\"v\":1,\"map\":\"default\",\"anon\":1}",
      "{\"v\":1,\"map\":\"default\",\"anon\":\"a\",\"uid\":\"\",\"stage\":\"nowhere\",\"prev\":"
      "\"\","
      "\"entered\":0,\"last\":0}",
      "{\"v\":1,\"map\":\"default\",\"anon\":\"a\",\"uid\":\"\",\"stage\":\"lead\",\"prev\":\"\","
      "\"entered\":0,\"last\":0,\"sr\":0,\"aliases\":[],\"traits\":{},\"log\":[[1,2,3]],\"tr\":[],"
      "\"st\":{},"
      "\"sc\":{},\"once\":[],\"cnt\":[0,0,0,0,0]}",
      "{\"v\":1,\"map\":\"default\",\"anon\":\"a\",\"uid\":\"\",\"stage\":\"lead\",\"prev\":\"\","
      "\"entered\":0,\"last\":0,\"sr\":0,\"aliases\":[],\"traits\":{},\"log\":[],\"tr\":[[\"a\"]],"
      "\"st\":{},"
      "\"sc\":{\"x\":\"y\"},\"once\":[1],\"cnt\":[0,0,0,0]}",
      std::string(5000, '[') + std::string(5000, ']')};
  for (const auto& p : payloads) {
    Engine e(DefaultMap());
    Status s = e.Restore(make(p));
    EXPECT_FALSE(s.ok()) << p.substr(0, 80);
  }
  // And a well-formed minimal one is accepted.
  Engine e(DefaultMap());
  Status ok = e.Restore(make(
      "{\"v\":1,\"map\":\"default\",\"anon\":\"a\",\"uid\":\"\",\"stage\":\"lead\",\"prev\":\"\","
      "\"entered\":5,\"last\":5,\"sr\":5,\"aliases\":[],\"traits\":{},\"log\":[],\"tr\":[],\"st\":{"
      "},"
      "\"sc\":{},\"once\":[],\"cnt\":[0,0,0,0,0]}"));
  EXPECT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(e.stage(), "lead");
}

}  // namespace
}  // namespace waymark
