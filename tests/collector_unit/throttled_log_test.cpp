// The writer's error lines: a database that is down fails ten times a second; the log says so
// once per interval, with how many lines it left out.
#include "throttled_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

TEST(ThrottledLogTest, OneLinePerMessagePerIntervalWithTheCountLeftOut) {
  std::vector<std::string> lines;
  ThrottledLog::Clock::time_point now{};
  ThrottledLog log(
      std::chrono::seconds(5), [&](const std::string& line) { lines.push_back(line); },
      [&] { return now; });
  for (int i = 0; i <= 50; ++i) {  // a failing pass every 100 ms for five seconds
    log.Error("projection failed", "connection refused");
    now += std::chrono::milliseconds(100);
  }
  log.Error("commit failed", "connection refused");  // another message is not held back
  ASSERT_EQ(lines.size(), 3u);
  json first = json::parse(lines[0]);
  EXPECT_EQ(first["level"], "error");
  EXPECT_EQ(first["msg"], "projection failed");
  EXPECT_EQ(first["error"], "connection refused");
  EXPECT_FALSE(first.contains("suppressed"));
  json second = json::parse(lines[1]);
  EXPECT_EQ(second["msg"], "projection failed");
  EXPECT_EQ(second["suppressed"], 49);
  EXPECT_EQ(json::parse(lines[2])["msg"], "commit failed");
  EXPECT_EQ(lines[0].back(), '\n');
}

}  // namespace
}  // namespace waymark::collector
