// The core's side of the browser's typed boundary (wasm/typed_track.h): which properties a map
// reads, events checked by measured facts, the fold by fingerprint, and fingerprints kept across a
// snapshot. The boundary itself runs in tests/js/engine.test.mjs against the built wasm.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"
#include "waymark/engine.h"

namespace waymark {
namespace {

using testing_util::DefaultMap;
using testing_util::kT0;
using testing_util::MakeEvent;
using testing_util::MapOrNull;

TEST(PropertyReads, EveryConditionCountsAndAReadValueCoversItsFields) {
  auto map = MapOrNull(R"({"id": "m", "version": 1, "stages": [{"id": "a"}, {"id": "b"}],
    "transitions": [{"id": "t", "from": ["a"], "to": "b",
      "when": {"all": [{"field": "properties.plan.tier", "equals": "pro"},
                       {"count": {"event": "page_viewed", "at_least": 2,
                                  "where": {"field": "properties.path_kind", "equals": "docs"}}}]}}],
    "scoring": {"rules": [{"id": "r", "when": {"field": "properties.plan", "exists": true},
                           "points": 1},
                          {"id": "s", "when": {"field": "context.path", "prefix": "/docs"},
                           "points": 1}]},
    "content": {"slots": [{"id": "hero", "variants": [{"id": "v",
      "when": {"not": {"field": "properties.cart", "gt": 3}}, "content": {"text": "x"}}]}]},
    "triggers": [{"id": "g", "on": {"event": "page_viewed"},
                  "when": {"field": "properties.utm", "equals": "x"}}]})");
  ASSERT_NE(map, nullptr);
  // "plan" is read whole, so "plan.tier" needs no entry; context fields are not properties.
  EXPECT_EQ(map->property_reads, (std::vector<std::string>{"cart", "path_kind", "plan", "utm"}));
  EXPECT_TRUE(DefaultMap() != nullptr);
}

TEST(EnvelopeFacts, LimitsGiveTheJsonPathsErrors) {
  EventLimits limits;
  EXPECT_TRUE(CheckEnvelopeFacts({300, 3, 2}, limits).ok());
  EXPECT_EQ(CheckEnvelopeFacts({300, 65, 2}, limits).error().code, "too_many_properties");
  EXPECT_EQ(CheckEnvelopeFacts({300, 3, 5}, limits).error().code, "too_deep");
  Status big = CheckEnvelopeFacts({40000, 3, 2}, limits);
  EXPECT_EQ(big.error().code, "event_too_large");
  EXPECT_EQ(big.error().message, "event is 40000 bytes, the limit is 32768");
}

TEST(EnvelopeFacts, FieldsAreCheckedAsEventFromJsonChecksThem) {
  EventLimits limits;
  Event e = MakeEvent("id-1", "page_viewed", kT0);
  EXPECT_TRUE(CheckEventFields(e, limits).ok());
  Event no_id = e;
  no_id.id.clear();
  EXPECT_EQ(CheckEventFields(no_id, limits).error().message, "id: required");
  Event bad_type = e;
  bad_type.type = "click";
  EXPECT_EQ(CheckEventFields(bad_type, limits).error().code, "invalid_event");
  Event long_url = e;
  long_url.context.url = std::string(3000, 'u');
  EXPECT_EQ(CheckEventFields(long_url, limits).error().message,
            "context.url: string of 3000 bytes, the limit is 2048");
  Event bad_utf8 = e;
  bad_utf8.context.title = "\xC3";
  EXPECT_EQ(CheckEventFields(bad_utf8, limits).error().code, "invalid_utf8");
  Event bad_time = e;
  bad_time.time = -1;
  EXPECT_EQ(CheckEventFields(bad_time, limits).error().code, "invalid_event");

  Engine engine(DefaultMap());
  TrackOutcome out = engine.TrackMeasured(no_id, EnvelopeFacts{100, 0, 1});
  EXPECT_EQ(out.status, TrackStatus::kRejected);
  out = engine.TrackMeasured(e, EnvelopeFacts{50000, 0, 1});
  EXPECT_EQ(out.error.code, "event_too_large");
  EXPECT_EQ(engine.counters().rejected, 2);
  EXPECT_EQ(engine.TrackMeasured(e, EnvelopeFacts{100, 0, 1}).status, TrackStatus::kAccepted);
}

TEST(Fingerprint, FoldComparesItAndNeverMixesWithUnfingerprintedEvents) {
  Engine engine(DefaultMap());
  Event a = MakeEvent("a", "button_clicked", kT0);
  a.fingerprint = 42;
  Event b = MakeEvent("b", "button_clicked", kT0 + 100);
  b.fingerprint = 42;
  Event c = MakeEvent("c", "button_clicked", kT0 + 200);
  c.fingerprint = 43;  // other properties the map does not read: the partial values are equal
  Event d = MakeEvent("d", "button_clicked", kT0 + 300);  // no fingerprint
  EXPECT_EQ(engine.Track(a).status, TrackStatus::kAccepted);
  EXPECT_EQ(engine.Track(b).status, TrackStatus::kFolded);
  EXPECT_EQ(engine.Track(c).status, TrackStatus::kAccepted);
  EXPECT_EQ(engine.Track(d).status, TrackStatus::kAccepted);
  EXPECT_TRUE(SameProperties(MakeEvent("x", "n_n", 0), MakeEvent("y", "n_n", 0)));
}

TEST(Fingerprint, KeptBySnapshotsAndOldEntriesStillRestore) {
  Engine engine(DefaultMap());
  Event a = MakeEvent("a", "button_clicked", kT0);
  a.fingerprint = (std::uint64_t{1} << 52) + 7;
  engine.Track(a);
  Engine restored(DefaultMap());
  ASSERT_TRUE(restored.Restore(engine.Snapshot()).ok());
  EXPECT_EQ(restored.log().back().event.fingerprint, a.fingerprint);
  Event again = MakeEvent("b", "button_clicked", kT0 + 10);
  again.fingerprint = a.fingerprint;
  EXPECT_EQ(restored.Track(again).status, TrackStatus::kFolded);
}

}  // namespace
}  // namespace waymark
