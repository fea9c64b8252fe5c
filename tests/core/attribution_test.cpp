#include "waymark/attribution.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace waymark {
namespace {

constexpr double kEps = 1e-9;
constexpr TimeMs kConversion = 1000 * kDay;

// A touch `days` before the conversion.
Touch Before(const std::string& channel, double days) {
  return Touch{channel, kConversion - static_cast<TimeMs>(days * static_cast<double>(kDay))};
}

void ExpectCredits(const std::vector<Credit>& actual, const std::vector<Credit>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i].channel, expected[i].channel) << "at " << i;
    EXPECT_NEAR(actual[i].credit, expected[i].credit, kEps) << expected[i].channel;
  }
}

double Sum(const std::vector<Credit>& credits) {
  double sum = 0;
  for (const Credit& c : credits) sum += c.credit;
  return sum;
}

// Email 10 d, Organic Search 5 d, Direct 1 d before the conversion.
std::vector<Touch> ThreeChannelPath() {
  return {Before("Email", 10), Before("Organic Search", 5), Before("Direct", 1)};
}

// ---------------------------------------------------------------------------------------------
// PathInWindow

TEST(PathInWindow, KeepsTouchesFromLookbackAgoUpToTheConversionInclusive) {
  std::vector<Touch> path = {Before("Old", 31), Before("Edge", 30), Before("Mid", 3),
                             Touch{"AtConversion", kConversion}, Touch{"Later", kConversion + 1}};
  std::vector<Touch> window = PathInWindow(path, kConversion, 30 * kDay);
  ASSERT_EQ(window.size(), 3u);
  EXPECT_EQ(window[0].channel, "Edge");
  EXPECT_EQ(window[1].channel, "Mid");
  EXPECT_EQ(window[2].channel, "AtConversion");
}

TEST(PathInWindow, SortsByTimeKeepingInputOrderForTies) {
  std::vector<Touch> path = {Touch{"C", 30}, Touch{"A", 10}, Touch{"B1", 20}, Touch{"B2", 20},
                             Touch{"B3", 20}};
  std::vector<Touch> window = PathInWindow(path, 100, 1000);
  std::vector<std::string> channels;
  for (const Touch& t : window) channels.push_back(t.channel);
  EXPECT_EQ(channels, (std::vector<std::string>{"A", "B1", "B2", "B3", "C"}));
}

TEST(PathInWindow, ZeroLookbackKeepsOnlyTheConversionInstantAndNegativeKeepsNothing) {
  std::vector<Touch> path = {Touch{"Before", 99}, Touch{"At", 100}};
  std::vector<Touch> window = PathInWindow(path, 100, 0);
  ASSERT_EQ(window.size(), 1u);
  EXPECT_EQ(window[0].channel, "At");
  EXPECT_TRUE(PathInWindow(path, 100, -1).empty());
}

TEST(PathInWindow, HugeLookbackDoesNotOverflow) {
  constexpr TimeMs kMin = std::numeric_limits<TimeMs>::min();
  constexpr TimeMs kMax = std::numeric_limits<TimeMs>::max();
  std::vector<Touch> path = {Touch{"Earliest", kMin}, Touch{"Zero", 0}, Touch{"Latest", kMax}};
  EXPECT_EQ(PathInWindow(path, 0, kMax).size(), 1u);     // window starts at kMin + 1: Zero
  EXPECT_EQ(PathInWindow(path, kMax, kMax).size(), 2u);  // window starts at 0: Zero, Latest
  // -5 - kMax is below the int64 range: the window start saturates at kMin.
  std::vector<Touch> saturated = PathInWindow(path, -5, kMax);
  ASSERT_EQ(saturated.size(), 1u);
  EXPECT_EQ(saturated[0].channel, "Earliest");
  EXPECT_TRUE(PathInWindow({}, 0, kMax).empty());
}

// ---------------------------------------------------------------------------------------------
// DenoisePath

TEST(DenoisePath, CollapsesConsecutiveRepeatsKeepingTheMostRecentTime) {
  std::vector<Touch> path = {Touch{"A", 1}, Touch{"A", 5}, Touch{"B", 6},
                             Touch{"A", 7}, Touch{"A", 8}, Touch{"A", 9}};
  std::vector<Touch> out = DenoisePath(path);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].channel, "A");
  EXPECT_EQ(out[0].at, 5);
  EXPECT_EQ(out[1].channel, "B");
  EXPECT_EQ(out[1].at, 6);
  EXPECT_EQ(out[2].channel, "A");
  EXPECT_EQ(out[2].at, 9);
}

TEST(DenoisePath, EmptyAndRepeatFreePathsAreUnchanged) {
  EXPECT_TRUE(DenoisePath({}).empty());
  std::vector<Touch> path = {Touch{"A", 1}, Touch{"B", 2}, Touch{"A", 3}};
  std::vector<Touch> out = DenoisePath(path);
  ASSERT_EQ(out.size(), 3u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].channel, path[i].channel);
    EXPECT_EQ(out[i].at, path[i].at);
  }
}

TEST(DenoisePath, MostRecentTimeEvenWhenTheRunIsNotSorted) {
  std::vector<Touch> out = DenoisePath({Touch{"A", 9}, Touch{"A", 3}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at, 9);
}

// ---------------------------------------------------------------------------------------------
// Attribute: empty and single-touch paths

TEST(Attribute, EmptyPathOrNothingInWindowGivesNoCredits) {
  for (AttributionModel model : AllModels()) {
    EXPECT_TRUE(Attribute({}, kConversion, model).empty()) << ModelName(model);
    EXPECT_TRUE(Attribute({Before("Email", 31)}, kConversion, model).empty()) << ModelName(model);
    EXPECT_TRUE(Attribute({Touch{"Email", kConversion + 1}}, kConversion, model).empty())
        << ModelName(model);
  }
}

TEST(Attribute, SingleTouchGetsEverythingUnderEveryModel) {
  for (AttributionModel model : AllModels()) {
    ExpectCredits(Attribute({Before("Paid Search", 2)}, kConversion, model),
                  {{"Paid Search", 1.0}});
  }
}

// ---------------------------------------------------------------------------------------------
// Attribute: one test per model, numbers worked out by hand

TEST(Attribute, FirstTouch) {
  // Email (10 d) was first: 1.0. Uncredited channels are not listed.
  ExpectCredits(Attribute(ThreeChannelPath(), kConversion, AttributionModel::kFirstTouch),
                {{"Email", 1.0}});
}

TEST(Attribute, LastTouch) {
  // Direct (1 d) was last: 1.0.
  ExpectCredits(Attribute(ThreeChannelPath(), kConversion, AttributionModel::kLastTouch),
                {{"Direct", 1.0}});
}

TEST(Attribute, LastNonDirectSkipsTrailingDirect) {
  // Direct (1 d) is skipped; Organic Search (5 d) is the last other touch: 1.0.
  ExpectCredits(Attribute(ThreeChannelPath(), kConversion, AttributionModel::kLastNonDirect),
                {{"Organic Search", 1.0}});
  // Direct, Email, Direct, Direct: Email is the last non-direct touch.
  std::vector<Touch> path = {Before("Direct", 9), Before("Email", 8), Before("Direct", 2),
                             Before("Direct", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLastNonDirect), {{"Email", 1.0}});
}

TEST(Attribute, LastNonDirectFallsBackToLastTouchWhenAllAreDirect) {
  AttributionOptions options;
  options.collapse_repeats = false;
  std::vector<Touch> path = {Before("Direct", 3), Before("Direct", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLastNonDirect, options),
                {{"Direct", 1.0}});
}

TEST(Attribute, LinearSplitsEvenlyAndSumsPerChannel) {
  // Email, Search, Email, Direct: 1/4 each; Email appears twice (not consecutively, so not
  // de-noised): 2/4 = 0.5, Search 0.25, Direct 0.25.
  std::vector<Touch> path = {Before("Email", 9), Before("Organic Search", 6), Before("Email", 3),
                             Before("Direct", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLinear),
                {{"Email", 0.5}, {"Organic Search", 0.25}, {"Direct", 0.25}});
}

TEST(Attribute, TimeDecayHalvesPerHalfLife) {
  // 14 d, 7 d and 0 d before, half-life 7 d: weights 2^-2, 2^-1, 2^0 = 0.25, 0.5, 1 (sum 1.75)
  // -> 0.25/1.75 = 1/7, 0.5/1.75 = 2/7, 1/1.75 = 4/7.
  std::vector<Touch> path = {Before("Email", 14), Before("Paid Social", 7),
                             Before("Organic Search", 0)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kTimeDecay),
                {{"Email", 1.0 / 7}, {"Paid Social", 2.0 / 7}, {"Organic Search", 4.0 / 7}});
}

TEST(Attribute, TimeDecayWithCustomHalfLife) {
  // 2 d and 1 d before, half-life 1 d: weights 0.25, 0.5 (sum 0.75) -> 1/3, 2/3.
  AttributionOptions options;
  options.half_life = kDay;
  std::vector<Touch> path = {Before("Email", 2), Before("Referral", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kTimeDecay, options),
                {{"Email", 1.0 / 3}, {"Referral", 2.0 / 3}});
}

TEST(Attribute, TimeDecayWithZeroOrNegativeHalfLifeIsLinear) {
  // Three touches: 1/3 each.
  for (TimeMs half_life : {TimeMs{0}, TimeMs{-kDay}}) {
    AttributionOptions options;
    options.half_life = half_life;
    std::vector<Touch> path = {Before("Email", 14), Before("Paid Social", 7),
                               Before("Organic Search", 0)};
    ExpectCredits(Attribute(path, kConversion, AttributionModel::kTimeDecay, options),
                  {{"Email", 1.0 / 3}, {"Paid Social", 1.0 / 3}, {"Organic Search", 1.0 / 3}});
  }
}

TEST(Attribute, TimeDecayDoesNotUnderflowOnOldPathsWithTinyHalfLife) {
  // 1000 d and 1000 d - 1 ms before, half-life 1 ms: measured from the conversion both weights
  // are 2^-86400000000 = 0 in a double, but relative to each other they are 0.5 and 1 -> 1/3, 2/3.
  AttributionOptions options;
  options.half_life = 1;
  options.lookback = 2000 * kDay;
  std::vector<Touch> path = {Touch{"Email", kConversion - 1000 * kDay},
                             Touch{"Referral", kConversion - 1000 * kDay + 1}};
  std::vector<Credit> credits = Attribute(path, kConversion, AttributionModel::kTimeDecay, options);
  ExpectCredits(credits, {{"Email", 1.0 / 3}, {"Referral", 2.0 / 3}});
  for (const Credit& c : credits) EXPECT_FALSE(std::isnan(c.credit));
}

TEST(Attribute, PositionBasedDefaults) {
  // Four touches: first 0.4, last 0.4, the middle two share 0.2 -> 0.1 each.
  std::vector<Touch> path = {Before("Email", 9), Before("Organic Social", 6), Before("Referral", 3),
                             Before("Paid Search", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kPositionBased),
                {{"Email", 0.4}, {"Organic Social", 0.1}, {"Referral", 0.1}, {"Paid Search", 0.4}});
  // Three touches: 0.4, 0.2, 0.4.
  ExpectCredits(Attribute(ThreeChannelPath(), kConversion, AttributionModel::kPositionBased),
                {{"Email", 0.4}, {"Organic Search", 0.2}, {"Direct", 0.4}});
}

TEST(Attribute, PositionBasedTwoTouchesSplitInProportion) {
  std::vector<Touch> path = {Before("Email", 9), Before("Paid Search", 1)};
  // Defaults 0.4 : 0.4 -> 0.5 / 0.5.
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kPositionBased),
                {{"Email", 0.5}, {"Paid Search", 0.5}});
  // 0.6 : 0.2 -> 0.6/0.8 = 0.75 and 0.2/0.8 = 0.25.
  AttributionOptions options;
  options.first_weight = 0.6;
  options.last_weight = 0.2;
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kPositionBased, options),
                {{"Email", 0.75}, {"Paid Search", 0.25}});
  // 0 : 0 -> an even split rather than 0/0.
  options.first_weight = 0;
  options.last_weight = 0;
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kPositionBased, options),
                {{"Email", 0.5}, {"Paid Search", 0.5}});
}

TEST(Attribute, PositionBasedCustomWeightsAndSameChannelAtBothEnds) {
  // A, B, C, A with 0.3 / 0.5: middle share (1 - 0.8) / 2 = 0.1 each; A = 0.3 + 0.5 = 0.8.
  AttributionOptions options;
  options.first_weight = 0.3;
  options.last_weight = 0.5;
  std::vector<Touch> path = {Before("A", 9), Before("B", 6), Before("C", 3), Before("A", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kPositionBased, options),
                {{"A", 0.8}, {"B", 0.1}, {"C", 0.1}});
}

TEST(Attribute, PositionBasedInvalidWeightsFallBackToDefaults) {
  // Three touches with the defaults: 0.4, 0.2, 0.4.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::pair<double, double>> bad = {
      {0.7, 0.7}, {-0.1, 0.4}, {0.4, -0.1}, {nan, 0.4}, {0.4, inf}};
  for (const auto& [first, last] : bad) {
    AttributionOptions options;
    options.first_weight = first;
    options.last_weight = last;
    ExpectCredits(
        Attribute(ThreeChannelPath(), kConversion, AttributionModel::kPositionBased, options),
        {{"Email", 0.4}, {"Organic Search", 0.2}, {"Direct", 0.4}});
  }
}

// ---------------------------------------------------------------------------------------------
// Attribute: window, de-noising, ties, order

TEST(Attribute, LookbackExcludesOlderTouches) {
  // Email at 40 d is outside the default 30 d window: linear over Search and Direct, 0.5 each.
  std::vector<Touch> path = {Before("Email", 40), Before("Organic Search", 20),
                             Before("Direct", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLinear),
                {{"Organic Search", 0.5}, {"Direct", 0.5}});
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kFirstTouch),
                {{"Organic Search", 1.0}});
  // A 60 d lookback brings Email back: 1/3 each.
  AttributionOptions options;
  options.lookback = 60 * kDay;
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLinear, options),
                {{"Email", 1.0 / 3}, {"Organic Search", 1.0 / 3}, {"Direct", 1.0 / 3}});
}

TEST(Attribute, TouchesAfterTheConversionAreIgnored) {
  std::vector<Touch> path = {Before("Email", 2), Touch{"Paid Search", kConversion + kDay}};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLastTouch), {{"Email", 1.0}});
}

TEST(Attribute, DenoisingCollapsesRepeatsBeforeTheModel) {
  // Email, Email, Search. Collapsed: Email, Search -> linear 0.5 / 0.5.
  std::vector<Touch> path = {Before("Email", 10), Before("Email", 3), Before("Organic Search", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLinear),
                {{"Email", 0.5}, {"Organic Search", 0.5}});
  // Not collapsed: 1/3 each, Email summed to 2/3.
  AttributionOptions options;
  options.collapse_repeats = false;
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLinear, options),
                {{"Email", 2.0 / 3}, {"Organic Search", 1.0 / 3}});
}

TEST(Attribute, DenoisedTouchKeepsTheMostRecentTimeForTimeDecay) {
  // Email 14 d, Email 7 d, Search 0 d, half-life 7 d.
  std::vector<Touch> path = {Before("Email", 14), Before("Email", 7), Before("Organic Search", 0)};
  // Collapsed to Email at 7 d (weight 0.5) and Search (1): 0.5/1.5 = 1/3, 1/1.5 = 2/3.
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kTimeDecay),
                {{"Email", 1.0 / 3}, {"Organic Search", 2.0 / 3}});
  // Not collapsed: 0.25 + 0.5 = 0.75 and 1 (sum 1.75): 3/7 and 4/7.
  AttributionOptions options;
  options.collapse_repeats = false;
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kTimeDecay, options),
                {{"Email", 3.0 / 7}, {"Organic Search", 4.0 / 7}});
}

TEST(Attribute, PathIsSortedAndWindowedBeforeDenoising) {
  // Input order Email 5 d, Search 3 d, Email 4 d. Sorted: Email 5 d, Email 4 d, Search 3 d,
  // which collapses to Email, Search -> linear 0.5 / 0.5 (de-noising the raw order would have
  // left three touches and given Email 2/3).
  std::vector<Touch> path = {Before("Email", 5), Before("Organic Search", 3), Before("Email", 4)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLinear),
                {{"Email", 0.5}, {"Organic Search", 0.5}});
  // Email 40 d (outside), Search 20 d, Email 10 d: the window drops the first Email; nothing
  // collapses; first touch is Search.
  std::vector<Touch> windowed = {Before("Email", 40), Before("Organic Search", 20),
                                 Before("Email", 10)};
  ExpectCredits(Attribute(windowed, kConversion, AttributionModel::kFirstTouch),
                {{"Organic Search", 1.0}});
}

TEST(Attribute, TiesKeepInputOrder) {
  // Two touches at the same instant: the first given is first, the second given is last.
  std::vector<Touch> path = {Before("Referral", 2), Before("Email", 2)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kFirstTouch), {{"Referral", 1.0}});
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLastTouch), {{"Email", 1.0}});
  // Same time under time decay: equal weights, 0.5 each.
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kTimeDecay),
                {{"Referral", 0.5}, {"Email", 0.5}});
}

TEST(Attribute, CreditsAreOrderedByFirstAppearanceAndSumToOne) {
  // Search, Email, Search, Direct, Paid Social, Email: every touch gets something under linear,
  // time decay and position based, so all four channels are listed in first-appearance order.
  std::vector<Touch> path = {Before("Organic Search", 20), Before("Email", 15),
                             Before("Organic Search", 10), Before("Direct", 6),
                             Before("Paid Social", 3),     Before("Email", 1)};
  const std::vector<std::string> order = {"Organic Search", "Email", "Direct", "Paid Social"};
  for (AttributionModel model : AllModels()) {
    std::vector<Credit> credits = Attribute(path, kConversion, model);
    EXPECT_NEAR(Sum(credits), 1.0, kEps) << ModelName(model);
    for (const Credit& c : credits) EXPECT_GT(c.credit, 0.0) << ModelName(model);
    bool spread = model == AttributionModel::kLinear || model == AttributionModel::kTimeDecay ||
                  model == AttributionModel::kPositionBased;
    ASSERT_EQ(credits.size(), spread ? 4u : 1u) << ModelName(model);
    if (spread) {
      for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(credits[i].channel, order[i]);
    }
  }
}

TEST(Attribute, UncreditedChannelsAreDroppedButOrderIsByFirstAppearance) {
  // A, B, A under last touch: only A, which was also first.
  std::vector<Touch> path = {Before("A", 3), Before("B", 2), Before("A", 1)};
  ExpectCredits(Attribute(path, kConversion, AttributionModel::kLastTouch), {{"A", 1.0}});
  // A, B, C under position based 0.5 / 0.5: the middle share is 1 - 1 = 0, so B is dropped.
  AttributionOptions options;
  options.first_weight = 0.5;
  options.last_weight = 0.5;
  std::vector<Touch> abc = {Before("A", 3), Before("B", 2), Before("C", 1)};
  ExpectCredits(Attribute(abc, kConversion, AttributionModel::kPositionBased, options),
                {{"A", 0.5}, {"C", 0.5}});
}

TEST(Attribute, OutOfRangeModelFallsBackToLastTouch) {
  auto bogus = static_cast<AttributionModel>(99);
  ExpectCredits(Attribute(ThreeChannelPath(), kConversion, bogus), {{"Direct", 1.0}});
  EXPECT_STREQ(ModelName(bogus), "");
}

// ---------------------------------------------------------------------------------------------
// Model names

TEST(Models, NamesRoundTrip) {
  const std::vector<std::string> expected = {"first_touch", "last_touch", "last_non_direct",
                                             "linear",      "time_decay", "position_based"};
  ASSERT_EQ(AllModels().size(), expected.size());
  std::set<std::string> seen;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    AttributionModel model = AllModels()[i];
    EXPECT_EQ(ModelName(model), expected[i]);
    auto parsed = ParseModel(expected[i]);
    ASSERT_TRUE(parsed.ok()) << expected[i];
    EXPECT_EQ(parsed.value(), model);
    seen.insert(ModelName(model));
  }
  EXPECT_EQ(seen.size(), expected.size());
  EXPECT_EQ(AllModels()[0], AttributionModel::kFirstTouch);
  EXPECT_EQ(AllModels()[5], AttributionModel::kPositionBased);
}

TEST(Models, ParseModelRejectsUnknownNames) {
  const std::string big(10 * 1024, 'l');
  const std::string invalid_utf8 = "\xff\xfe";
  for (const std::string& name :
       {std::string(), std::string("Linear"), std::string("linear "), std::string(" linear"),
        std::string("first-touch"), std::string("data_driven"), std::string("linear\0", 7), big,
        invalid_utf8}) {
    auto parsed = ParseModel(name);
    ASSERT_FALSE(parsed.ok()) << name.substr(0, 32);
    EXPECT_EQ(parsed.error().code, "invalid_model");
    EXPECT_NE(parsed.error().message.find("expected one of first_touch, last_touch, "
                                          "last_non_direct, linear, time_decay, position_based"),
              std::string::npos)
        << parsed.error().message;
    EXPECT_LT(parsed.error().message.size(), 256u);  // a 10 KB name is not echoed back
  }
  EXPECT_NE(ParseModel("bogus").error().message.find("\"bogus\""), std::string::npos);
  EXPECT_EQ(ParseModel(invalid_utf8).error().message.find(invalid_utf8), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// AttributeTouches: the same credits, per touch with its source and campaign

Touch Sourced(const std::string& channel, double days, const std::string& source,
              const std::string& campaign) {
  Touch t = Before(channel, days);
  t.source = source;
  t.campaign = campaign;
  return t;
}

TEST(AttributeTouches, SumPerChannelToAttributesCreditsUnderEveryModel) {
  const std::vector<Touch> path = {
      Sourced("Email", 12, "newsletter", "spring"), Sourced("Organic Search", 9, "google", ""),
      Sourced("Email", 6, "partner", "summer"), Sourced("Direct", 2, "(direct)", ""),
      Sourced("Email", 1, "newsletter", "summer")};
  for (AttributionModel model : AllModels()) {
    const auto per_touch = AttributeTouches(path, kConversion, model);
    const auto per_channel = Attribute(path, kConversion, model);
    for (const Credit& c : per_channel) {
      double sum = 0;
      for (const TouchCredit& t : per_touch) sum += t.touch.channel == c.channel ? t.credit : 0;
      EXPECT_NEAR(sum, c.credit, kEps) << ModelName(model) << " " << c.channel;
    }
  }
  // First touch: all of it to the first landing's source and campaign.
  const auto first = AttributeTouches(path, kConversion, AttributionModel::kFirstTouch);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].touch.source, "newsletter");
  EXPECT_EQ(first[0].touch.campaign, "spring");
  EXPECT_NEAR(first[0].credit, 1.0, kEps);
  // Linear over five touches: the two e-mails of the summer campaign get 2/5.
  double summer = 0;
  for (const TouchCredit& t : AttributeTouches(path, kConversion, AttributionModel::kLinear)) {
    summer += t.touch.campaign == "summer" ? t.credit : 0;
  }
  EXPECT_NEAR(summer, 0.4, kEps);
}

TEST(AttributeTouches, ARunOfOneChannelPassesItsCreditToTheLandingTheModelLooksAt) {
  const std::vector<Touch> path = {Sourced("Email", 3, "newsletter", "spring"),
                                   Sourced("Email", 1, "partner", "summer")};
  const auto first = AttributeTouches(path, kConversion, AttributionModel::kFirstTouch);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].touch.source, "newsletter");
  const auto last = AttributeTouches(path, kConversion, AttributionModel::kLastTouch);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].touch.campaign, "summer");
  const auto linear = AttributeTouches(path, kConversion, AttributionModel::kLinear);
  ASSERT_EQ(linear.size(), 2u);
  EXPECT_NEAR(linear[0].credit, 0.5, kEps);
  EXPECT_NEAR(linear[1].credit, 0.5, kEps);
  EXPECT_TRUE(AttributeTouches({}, kConversion, AttributionModel::kLinear).empty());
}

}  // namespace
}  // namespace waymark
