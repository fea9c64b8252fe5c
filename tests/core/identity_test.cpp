#include "waymark/identity.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace waymark {
namespace {

using testing_util::kT0;
using testing_util::MakeEvent;

TEST(Identity, GuardList) {
  for (const char* bad : {"", " ", "null", "NULL", "undefined", "0", "-1", "anonymous",
                          "Anonymous ", "guest", "[object Object]", "none", "nil", "NaN", "unknown",
                          "n/a", "00000000-0000-0000-0000-000000000000", "true", "false"}) {
    EXPECT_TRUE(IsBlockedId(bad)) << '"' << bad << '"';
  }
  for (const char* good :
       {"user-42", "42", "alice@example.com", "0190a5b2-7c3e-7000-8000-1a2b3c4d5e6f"}) {
    EXPECT_FALSE(IsBlockedId(good)) << good;
  }
  EXPECT_TRUE(IsBlockedId(std::string(300, 'a')));
  EXPECT_TRUE(IsBlockedId("test-user", {"TEST-user"}));
}

TEST(Identity, MergeIsOrderedAndDeterministic) {
  Event a1 = MakeEvent("a1", "page_viewed", kT0 + 10);
  Event a2 = MakeEvent("a2", "pricing_viewed", kT0 + 30);
  Event b1 = MakeEvent("b1", "page_viewed", kT0 + 10);
  b1.anonymous_id = "anon-0";  // same time as a1: the device id breaks the tie
  Event b2 = MakeEvent("b2", "lead_submitted", kT0 + 20);
  b2.anonymous_id = "anon-0";
  b2.user_id = "user-1";
  auto m1 = MergeLogs({a1, a2}, {b1, b2});
  auto m2 = MergeLogs({b1, b2}, {a1, a2});
  ASSERT_TRUE(m1.ok());
  ASSERT_TRUE(m2.ok());
  std::vector<std::string> ids1, ids2;
  for (const auto& e : m1.value()) ids1.push_back(e.id);
  for (const auto& e : m2.value()) ids2.push_back(e.id);
  EXPECT_EQ(ids1, (std::vector<std::string>{"b1", "a1", "b2", "a2"}));
  EXPECT_EQ(ids1, ids2);
}

TEST(Identity, SequenceBreaksTiesOnOneDevice) {
  Event x = MakeEvent("x", "page_viewed", kT0);
  x.seq = 2;
  Event y = MakeEvent("y", "page_viewed", kT0);
  y.seq = 1;
  auto m = MergeLogs({x}, {y});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.value()[0].id, "y");
}

TEST(Identity, DuplicatesDroppedAndKnownUsersNeverMerged) {
  Event a = MakeEvent("same", "page_viewed", kT0);
  auto m = MergeLogs({a}, {a});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.value().size(), 1u);
  Event u1 = MakeEvent("u1", "page_viewed", kT0);
  u1.user_id = "alice";
  Event u2 = MakeEvent("u2", "page_viewed", kT0);
  u2.user_id = "bob";
  auto conflict = MergeLogs({u1}, {u2});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, "identity_conflict");
  // A placeholder user id is no identity and does not conflict.
  u2.user_id = "null";
  EXPECT_TRUE(MergeLogs({u1}, {u2}).ok());
}

TEST(Identity, MergedLogReplaysToTheCombinedJourney) {
  Event a = MakeEvent("a", "lead_submitted", kT0);  // device A: a lead
  Event b = MakeEvent("b", "trial_started", kT0 + kHour);
  b.anonymous_id = "anon-2";  // device B, later: starts a trial
  auto merged = MergeLogs({a}, {b});
  ASSERT_TRUE(merged.ok());
  Engine engine = Engine::Replay(testing_util::DefaultMap(), merged.value());
  EXPECT_EQ(engine.stage(), "trial");
  ASSERT_EQ(engine.transitions().size(), 2u);
  EXPECT_EQ(engine.transitions()[0].to, "lead");
}

}  // namespace
}  // namespace waymark

namespace waymark {
namespace {

// The one rule for linking a device to a known user (the collector's identity graph and
// MergeLogs both apply it).
TEST(LinkUser, NeverTwoKnownUsers) {
  EXPECT_EQ(LinkUser("", ""), UserLink::kNoUser);
  EXPECT_EQ(LinkUser("", "null"), UserLink::kNoUser) << "a placeholder is no identity";
  EXPECT_EQ(LinkUser("u-1", "guest-42", {"guest-42"}), UserLink::kNoUser) << "the map's list";
  EXPECT_EQ(LinkUser("", "u-1"), UserLink::kLink);
  EXPECT_EQ(LinkUser("u-1", "u-1"), UserLink::kSameUser);
  EXPECT_EQ(LinkUser("u-1", "u-2"), UserLink::kConflict);
}

}  // namespace
}  // namespace waymark

namespace waymark {
namespace {

// A device's events stay in the order it made them, even when one arrives with an earlier clock;
// devices interleave by time.
TEST(JourneyOrder, KeepsEachDevicesSequenceAndInterleavesDevicesByTime) {
  auto event = [](const char* id, const char* device, std::int64_t seq, TimeMs time) {
    Event e;
    e.id = id;
    e.anonymous_id = device;
    e.seq = seq;
    e.time = time;
    return e;
  };
  const std::vector<Event> events = {
      event("a3", "dev-a", 3, 1000),  // made last, but its clock says earliest
      event("b1", "dev-b", 1, 1500), event("a1", "dev-a", 1, 2000), event("a2", "dev-a", 2, 3000),
      event("b2", "dev-b", 2, 2500)};
  std::vector<const Event*> pointers;
  for (const auto& e : events) pointers.push_back(&e);
  std::vector<std::string> ids;
  for (std::size_t i : JourneyOrder(pointers)) ids.push_back(events[i].id);
  EXPECT_EQ(ids, (std::vector<std::string>{"b1", "a1", "b2", "a2", "a3"}));
}

}  // namespace
}  // namespace waymark
