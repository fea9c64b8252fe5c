// The CSV export of reports (reports/report_csv.h): the same numbers as the JSON, one row per
// item, and nothing a spreadsheet would run.
#include "reports/report_csv.h"

#include <gtest/gtest.h>

namespace waymark::collector {
namespace {

TEST(ReportCsvTest, FunnelStagesAndSideStagesShareOneTable) {
  const json body = {{"total_profiles", 3},
                     {"stages",
                      {{{"id", "awareness"}, {"reached", 3}, {"progress_from_previous", nullptr}},
                       {{"id", "lead"}, {"reached", 1}, {"progress_from_previous", 0.3333}}}},
                     {"side_stages", {{{"id", "dormant"}, {"reached", 2}}}}};
  auto csv = ReportCsv("funnel", "", body);
  ASSERT_TRUE(csv);
  EXPECT_EQ(*csv,
            "group,id,progress_from_previous,reached\r\n"
            "main,awareness,,3\r\n"
            "main,lead,0.3333,1\r\n"
            "side,dormant,,2\r\n");
}

TEST(ReportCsvTest, NestedObjectsBecomeDottedColumnsAndListsOneCell) {
  const json body = {{"stages",
                      {{{"id", "trial"},
                        {"shown", {{"total", 4}, {"by_slot", {{"hero", 4}}}}},
                        {"variants", {{{"slot", "hero"}, {"variant", "upgrade"}}}}}}}};
  auto csv = ReportCsv("content-gaps", "", body);
  ASSERT_TRUE(csv);
  EXPECT_EQ(*csv,
            "id,shown.by_slot.hero,shown.total,variants\r\n"
            "trial,4,4,slot=hero variant=upgrade\r\n");
}

TEST(ReportCsvTest, QuotesSeparatorsAndDisarmsFormulas) {
  // Campaign names come from visitors' links: "=HYPERLINK(...)" must stay text.
  const json body = {{"campaigns",
                      {{{"campaign", "=HYPERLINK(\"http://x\")"}, {"visitors", 2}},
                       {{"campaign", "spring, \"big\" sale"}, {"visitors", -1}},
                       {{"campaign", "-drop"}, {"visitors", 0}}}}};
  auto csv = ReportCsv("channels", "", body);
  ASSERT_TRUE(csv);
  EXPECT_EQ(*csv,
            "campaign,visitors\r\n"
            "\"'=HYPERLINK(\"\"http://x\"\")\",2\r\n"
            "\"spring, \"\"big\"\" sale\",-1\r\n"
            "'-drop,0\r\n");
}

TEST(ReportCsvTest, AttributionIsOneRowPerModelAndChannel) {
  json body = {{"by", "channel"},
               {"models",
                {{{"model", "first_touch"},
                  {"values", {{{"value", "Email"}, {"credit", 1.0}, {"share", 0.5}}}}},
                 {{"model", "linear"}, {"values", json::array()}}}}};
  auto csv = ReportCsv("attribution", "", body);
  ASSERT_TRUE(csv);
  EXPECT_EQ(*csv, "model,channel,credit,share\r\nfirst_touch,Email,1.0,0.5\r\n");
  body["by"] = "campaign";
  EXPECT_EQ(*ReportCsv("attribution", "", body),
            "model,campaign,credit,share\r\nfirst_touch,Email,1.0,0.5\r\n");
  body["models"][0]["values"] = json::array();
  EXPECT_EQ(*ReportCsv("attribution", "", body), "model,campaign,credit,share\r\n");
}

TEST(ReportCsvTest, PathsReadAsSequencesAndTablesAreChecked) {
  const json body = json::parse(R"({"paths": [{"stages": ["awareness", "lead"], "visitors": 7}]})");
  auto csv = ReportCsv("paths", "", body);
  ASSERT_TRUE(csv);
  EXPECT_EQ(*csv, "stages,visitors\r\nawareness > lead,7\r\n");
  EXPECT_FALSE(ReportCsv("paths", "edges", body));
  EXPECT_FALSE(ReportCsv("nonsense", "", body));
  EXPECT_EQ(ReportTables("webhooks"), (std::vector<std::string>{"by_status", "recent_failures"}));
  auto statuses = ReportCsv("webhooks", "by_status", {{"by_status", {{"delivered", 3}}}});
  ASSERT_TRUE(statuses);
  EXPECT_EQ(*statuses,
            "status,deliveries\r\npending,0\r\ninflight,0\r\ndelivered,3\r\nfailed,0\r\n");
}

}  // namespace
}  // namespace waymark::collector
