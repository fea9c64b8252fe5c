#include "waymark/duration.h"

#include <gtest/gtest.h>

namespace waymark {
namespace {

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(ParseDuration(json("500ms")).value(), 500);
  EXPECT_EQ(ParseDuration(json("30s")).value(), 30 * kSecond);
  EXPECT_EQ(ParseDuration(json("15m")).value(), 15 * kMinute);
  EXPECT_EQ(ParseDuration(json("12h")).value(), 12 * kHour);
  EXPECT_EQ(ParseDuration(json("7d")).value(), 7 * kDay);
  EXPECT_EQ(ParseDuration(json("2w")).value(), 14 * kDay);
  EXPECT_EQ(ParseDuration(json(1234)).value(), 1234);
}

TEST(Duration, RefusesGarbage) {
  for (const json& bad :
       {json("7 days"), json("d"), json(""), json("-1d"), json("1.5h"), json(-1), json(1.5),
        json(nullptr), json::array(), json("99999999999999999999d"), json("1y")}) {
    auto d = ParseDuration(bad);
    ASSERT_FALSE(d.ok()) << bad.dump();
    EXPECT_EQ(d.error().code, "invalid_duration");
  }
}

TEST(Duration, Formats) {
  EXPECT_EQ(FormatDuration(7 * kDay), "1w");
  EXPECT_EQ(FormatDuration(kDay), "1d");
  EXPECT_EQ(FormatDuration(90 * kSecond), "90s");
  EXPECT_EQ(FormatDuration(1500), "1500ms");
  EXPECT_EQ(FormatDuration(0), "0ms");
}

}  // namespace
}  // namespace waymark
