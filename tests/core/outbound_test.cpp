#include "waymark/outbound.h"

#include <gtest/gtest.h>

#include <string>

#include "waymark/json_util.h"

namespace waymark {
namespace {

std::string Envelope(int i, std::size_t pad) {
  return DumpJson(json{{"id", "e" + std::to_string(i)}, {"pad", std::string(pad, 'x')}});
}

TEST(Outbound, BatchesStayUnderTheCapAndKeepOrder) {
  std::vector<std::string> envs;
  for (int i = 0; i < 200; ++i) envs.push_back(Envelope(i, 1000));
  Batches b = BuildBatches(envs, kKeepaliveBudget, 1700000000000, "site-key-1");
  ASSERT_GT(b.bodies.size(), 1u);
  std::size_t total = 0;
  int next = 0;
  for (std::size_t k = 0; k < b.bodies.size(); ++k) {
    EXPECT_LE(b.bodies[k].size(), kKeepaliveBudget);
    auto parsed = ParseJson(b.bodies[k], 1 << 20, 8);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value()["site_key"], "site-key-1");
    EXPECT_EQ(parsed.value()["sent_at"], 1700000000000);
    EXPECT_EQ(parsed.value()["events"].size(), b.counts[k]);
    for (const auto& e : parsed.value()["events"]) {
      EXPECT_EQ(e["id"], "e" + std::to_string(next++));
    }
    total += b.counts[k];
  }
  EXPECT_EQ(total, 200u);
  EXPECT_TRUE(b.oversize.empty());
}

TEST(Outbound, OversizeEnvelopesAreReportedNotDropped) {
  std::vector<std::string> envs = {Envelope(0, 10), Envelope(1, 70000), Envelope(2, 10)};
  Batches b = BuildBatches(envs, kKeepaliveBudget, 1);
  EXPECT_EQ(b.oversize, std::vector<std::size_t>{1});
  ASSERT_EQ(b.bodies.size(), 1u);
  EXPECT_EQ(b.counts[0], 2u);
}

TEST(Outbound, EmptyQueueGivesNoBodies) {
  Batches b = BuildBatches({}, kKeepaliveBudget, 1);
  EXPECT_TRUE(b.bodies.empty());
}

TEST(Outbound, SiteKeyIsEscaped) {
  Batches b = BuildBatches({Envelope(0, 1)}, 1000, 1, "k\"ey");
  ASSERT_EQ(b.bodies.size(), 1u);
  EXPECT_TRUE(ParseJson(b.bodies[0], 1000, 8).ok());
}

}  // namespace
}  // namespace waymark
