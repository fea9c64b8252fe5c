#include "metrics.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace waymark::collector {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool HasLine(const std::string& text, const std::string& line) {
  for (const std::string& l : Lines(text)) {
    if (l == line) return true;
  }
  return false;
}

int CountPrefix(const std::string& text, const std::string& prefix) {
  int n = 0;
  for (const std::string& l : Lines(text)) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

TEST(MetricsTest, CounterHasHelpTypeAndLabels) {
  Metrics m;
  m.Add("waymark_events_total", {{"result", "accepted"}, {"reason", ""}}, 3);
  m.Add("waymark_events_total", {{"result", "rejected"}, {"reason", "too_large"}});
  std::string out = m.Render();
  EXPECT_TRUE(HasLine(out,
                      "# HELP waymark_events_total Events received, by result (accepted, "
                      "duplicate, rejected) and rejection reason."));
  EXPECT_TRUE(HasLine(out, "# TYPE waymark_events_total counter"));
  // Labels come out sorted by name whatever order the caller used.
  EXPECT_TRUE(HasLine(out, "waymark_events_total{reason=\"\",result=\"accepted\"} 3"));
  EXPECT_TRUE(HasLine(out, "waymark_events_total{reason=\"too_large\",result=\"rejected\"} 1"));
}

TEST(MetricsTest, SameLabelsInAnyOrderAreOneSeries) {
  Metrics m;
  m.Add("waymark_webhook_deliveries_total", {{"endpoint", "crm"}, {"result", "retry"}});
  m.Add("waymark_webhook_deliveries_total", {{"result", "retry"}, {"endpoint", "crm"}});
  EXPECT_TRUE(
      HasLine(m.Render(), "waymark_webhook_deliveries_total{endpoint=\"crm\",result=\"retry\"} 2"));
}

TEST(MetricsTest, CountersIgnoreNegativeIncrements) {
  Metrics m;
  m.Add("waymark_stage_mismatches_total", {}, 2);
  m.Add("waymark_stage_mismatches_total", {}, -5);
  EXPECT_TRUE(HasLine(m.Render(), "waymark_stage_mismatches_total 2"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics m;
  m.Add("waymark_http_requests_total", {{"route", "a\\b\"c\nd"}});
  EXPECT_TRUE(HasLine(m.Render(), "waymark_http_requests_total{route=\"a\\\\b\\\"c\\nd\"} 1"));
}

TEST(MetricsTest, UnknownNameGetsGenericHelp) {
  Metrics m;
  m.Add("waymark_something_new_total", {});
  std::string out = m.Render();
  EXPECT_TRUE(HasLine(out,
                      "# HELP waymark_something_new_total Waymark collector metric "
                      "waymark_something_new_total."));
  EXPECT_TRUE(HasLine(out, "# TYPE waymark_something_new_total counter"));
}

TEST(MetricsTest, GaugeSetOverwrites) {
  Metrics m;
  m.Set("waymark_webhook_outbox_pending", {}, 7);
  m.Set("waymark_webhook_outbox_pending", {}, 2);
  std::string out = m.Render();
  EXPECT_TRUE(HasLine(out, "# TYPE waymark_webhook_outbox_pending gauge"));
  EXPECT_TRUE(HasLine(out, "waymark_webhook_outbox_pending 2"));
  EXPECT_FALSE(HasLine(out, "waymark_webhook_outbox_pending 7"));
}

TEST(MetricsTest, FractionalValuesKeepPrecision) {
  Metrics m;
  m.Add("waymark_x_total", {}, 0.5);
  EXPECT_TRUE(HasLine(m.Render(), "waymark_x_total 0.5"));
}

// Keys sort "x_total_y{" before "x_total{", so a naive walk would split one family in two.
TEST(MetricsTest, EachFamilyHasOneTypeLineAndContiguousSamples) {
  Metrics m;
  m.Add("waymark_a_total", {});
  m.Add("waymark_a_total_extra", {});
  m.Add("waymark_a_total", {{"k", "v"}});
  std::vector<std::string> lines = Lines(m.Render());
  EXPECT_EQ(CountPrefix(m.Render(), "# TYPE waymark_a_total counter"), 1);
  EXPECT_EQ(CountPrefix(m.Render(), "# TYPE waymark_a_total_extra counter"), 1);
  std::size_t type_line = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == "# TYPE waymark_a_total counter") type_line = i;
  }
  ASSERT_LT(type_line + 2, lines.size());
  EXPECT_EQ(lines[type_line + 1], "waymark_a_total 1");
  EXPECT_EQ(lines[type_line + 2], "waymark_a_total{k=\"v\"} 1");
}

TEST(MetricsTest, LatencyHistogramIsCumulativeWithInfSumAndCount) {
  Metrics m;
  m.ObserveLatency("/v1/batch", 0.003);
  m.ObserveLatency("/v1/batch", 0.2);
  m.ObserveLatency("/v1/batch", 0.25);  // on a bound: counts in le="0.25"
  m.ObserveLatency("/v1/batch", 7);     // above every bound: only in +Inf
  std::string out = m.Render();
  const std::string name = "waymark_http_request_duration_seconds";
  EXPECT_TRUE(HasLine(out, "# TYPE " + name + " histogram"));
  EXPECT_EQ(CountPrefix(out, "# HELP " + name + " "), 1);
  const std::vector<std::pair<std::string, int>> expected = {
      {"0.001", 0}, {"0.0025", 0}, {"0.005", 1}, {"0.01", 1}, {"0.025", 1}, {"0.05", 1}, {"0.1", 1},
      {"0.25", 3},  {"0.5", 3},    {"1", 3},     {"2.5", 3},  {"5", 3},     {"+Inf", 4}};
  for (const auto& [le, count] : expected) {
    EXPECT_TRUE(HasLine(
        out, name + "_bucket{route=\"/v1/batch\",le=\"" + le + "\"} " + std::to_string(count)))
        << le;
  }
  EXPECT_TRUE(HasLine(out, name + "_sum{route=\"/v1/batch\"} 7.453"));
  EXPECT_TRUE(HasLine(out, name + "_count{route=\"/v1/batch\"} 4"));
  EXPECT_EQ(CountPrefix(out, name + "_bucket{route=\"/v1/batch\""), 13);
}

TEST(MetricsTest, LatencyRoutesShareOneFamily) {
  Metrics m;
  m.ObserveLatency("/v1/batch", 0.01);
  m.ObserveLatency("/metrics", 0.01);
  std::string out = m.Render();
  EXPECT_EQ(CountPrefix(out, "# TYPE waymark_http_request_duration_seconds histogram"), 1);
  EXPECT_TRUE(HasLine(out, "waymark_http_request_duration_seconds_count{route=\"/metrics\"} 1"));
  EXPECT_TRUE(HasLine(out, "waymark_http_request_duration_seconds_count{route=\"/v1/batch\"} 1"));
}

TEST(MetricsTest, CommitHistogramsExistBeforeTheFirstCommit) {
  Metrics m;
  std::string out = m.Render();
  EXPECT_TRUE(HasLine(out, "# TYPE waymark_commit_events histogram"));
  EXPECT_TRUE(HasLine(out, "# TYPE waymark_commit_requests histogram"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_events_bucket{le=\"+Inf\"} 0"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_events_count 0"));
  // No latency samples yet: no family (there is no unlabelled latency series to show).
  EXPECT_EQ(out.find("waymark_http_request_duration_seconds"), std::string::npos);
}

TEST(MetricsTest, CommitHistogramsCountEventsAndRequests) {
  Metrics m;
  m.ObserveCommit(120, 3);
  m.ObserveCommit(6000, 40);
  std::string out = m.Render();
  EXPECT_TRUE(HasLine(out, "waymark_commit_events_bucket{le=\"100\"} 0"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_events_bucket{le=\"250\"} 1"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_events_bucket{le=\"5000\"} 1"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_events_bucket{le=\"+Inf\"} 2"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_events_sum 6120"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_events_count 2"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_requests_bucket{le=\"2\"} 0"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_requests_bucket{le=\"5\"} 1"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_requests_bucket{le=\"50\"} 2"));
  EXPECT_TRUE(HasLine(out, "waymark_commit_requests_sum 43"));
}

TEST(MetricsTest, EveryLineIsHelpTypeOrSample) {
  Metrics m;
  m.Add("waymark_http_requests_total", {{"route", "/v1/batch"}, {"code", "200"}});
  m.Set("waymark_webhook_outbox_pending", {}, 1);
  m.ObserveLatency("/v1/batch", 0.02);
  m.ObserveCommit(1, 1);
  std::string out = m.Render();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');  // the format requires a final line feed
  for (const std::string& line : Lines(out)) {
    ASSERT_FALSE(line.empty());
    if (line[0] == '#') {
      EXPECT_TRUE(line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) << line;
    } else {
      EXPECT_EQ(line.rfind("waymark_", 0), 0u) << line;
      EXPECT_NE(line.find(' '), std::string::npos) << line;
    }
  }
}

TEST(MetricsTest, ConcurrentAddsAllCount) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10000; ++i) {
        m.Add("waymark_http_requests_total", {{"route", "/v1/batch"}});
        m.ObserveLatency("/v1/batch", 0.001);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::string out = m.Render();
  EXPECT_TRUE(HasLine(out, "waymark_http_requests_total{route=\"/v1/batch\"} 40000"));
  EXPECT_TRUE(
      HasLine(out, "waymark_http_request_duration_seconds_count{route=\"/v1/batch\"} 40000"));
}

}  // namespace
}  // namespace waymark::collector
