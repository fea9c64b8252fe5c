// Every error of an invalid map (map_errors.h), each at its path in the document as written.
#include "map_errors.h"

#include <gtest/gtest.h>

#include <string>

#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

json SmallMap() {
  return json::parse(R"({
    "id": "shop", "version": 2,
    "stages": [
      {"id": "visitor", "rank": 0}, {"id": "interested", "rank": 1},
      {"id": "trial", "rank": 2}, {"id": "customer", "rank": 3, "phase": "after"}
    ],
    "transitions": [
      {"id": "interest", "from": "visitor", "to": "interested", "when": {"event": "product_viewed"}},
      {"id": "buy", "from": "*", "to": "customer", "when": {"event": "order_completed"}}
    ]
  })");
}

TEST(MapProblemsTest, AValidMapHasNone) { EXPECT_TRUE(ListMapProblems(SmallMap().dump()).empty()); }

TEST(MapProblemsTest, ListsEveryIndependentErrorWithItsPath) {
  json map = SmallMap();
  map["stages"][1]["phase"] = "middle";
  map["stages"][3]["rank"] = "high";
  map["transitions"][1]["priority"] = "first";
  auto problems = ListMapProblems(map.dump());
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].path, "stages[1].phase");
  EXPECT_EQ(problems[0].message, "expected \"before\" or \"after\" (conversion)");
  EXPECT_EQ(problems[1].path, "stages[3].rank");
  EXPECT_EQ(problems[2].path, "transitions[1].priority");
}

TEST(MapProblemsTest, PathsStayTheDocumentsAfterAnElementIsSetAside) {
  json map = SmallMap();
  map["stages"][1]["id"] = "Not An Id";  // the whole stage is set aside
  map["stages"][3]["phase"] = "later";   // index 2 once stages[1] is gone: reported as 3
  auto problems = ListMapProblems(map.dump());
  ASSERT_GE(problems.size(), 2u);
  EXPECT_EQ(problems[0].path, "stages[1].id");
  EXPECT_EQ(problems[1].path, "stages[3].phase");
}

TEST(MapProblemsTest, AFieldSetAsideIsNotReportedAgainAsMissing) {
  json map = SmallMap();
  map["transitions"][0]["to"] = "nowhere";
  map["stages"][2]["phase"] = "x";
  auto problems = ListMapProblems(map.dump());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].path, "stages[2].phase");
  EXPECT_EQ(problems[1].path, "transitions[0].to");
  EXPECT_EQ(problems[1].message, "unknown stage \"nowhere\"");
}

TEST(MapProblemsTest, EveryBrokenReferenceIsListedNotOnlyTheFirst) {
  // As after renaming a stage: several transitions name a stage that is gone.
  json map = SmallMap();
  map["transitions"][0]["to"] = "gone";
  map["transitions"][1]["to"] = "gone";
  map["transitions"][1]["from"] = "gone";
  auto problems = ListMapProblems(map.dump());
  ASSERT_EQ(problems.size(), 2u) << problems.back().path << ": " << problems.back().message;
  EXPECT_EQ(problems[0].path, "transitions[0].to");
  EXPECT_EQ(problems[1].path.rfind("transitions[1].", 0), 0u) << problems[1].path;
}

TEST(MapProblemsTest, AMissingRequiredMemberIsReportedOnceAtItsOwnPath) {
  json map = SmallMap();
  map["transitions"][0].erase("when");
  map["stages"][2]["phase"] = "x";
  auto problems = ListMapProblems(map.dump());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].path, "stages[2].phase");
  EXPECT_EQ(problems[1].path, "transitions[0].when");
  EXPECT_EQ(problems[1].message, "required");
}

TEST(MapProblemsTest, NotJsonIsOneProblemAndTheListIsBounded) {
  auto problems = ListMapProblems("{\"id\": ");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].path, "");
  json map = SmallMap();
  for (int i = 0; i < 40; ++i) {
    map["transitions"].push_back({{"id", "t" + std::to_string(i)},
                                  {"from", "visitor"},
                                  {"to", "interested"},
                                  {"priority", "bad"},
                                  {"when", {{"event", "x_y"}}}});
  }
  EXPECT_EQ(ListMapProblems(map.dump(), 10).size(), 10u);
}

}  // namespace
}  // namespace waymark::collector
