#include "metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>

namespace waymark::collector {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

const std::vector<double>& LatencyBounds() {
  static const std::vector<double> bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,   0.5,   1,    2.5,   5};
  return bounds;
}

const std::vector<double>& CommitBounds() {
  static const std::vector<double> bounds = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
  return bounds;
}

constexpr const char* kLatencyName = "waymark_http_request_duration_seconds";
constexpr const char* kCommitEventsName = "waymark_commit_events";
constexpr const char* kCommitRequestsName = "waymark_commit_requests";

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// HELP text may not contain raw newlines, and its backslashes must be doubled (format 0.0.4).
std::string EscapeHelp(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Integral values print without an exponent so counters read naturally; everything else uses
// the shortest text that parses back to the same double, so sums survive the scrape exactly.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", value);
    return buf;
  }
  auto result = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, result.ptr);
}

std::string FormatBound(double bound) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", bound);
  return buf;
}

// Splits a series key "name{a=\"x\"}" into its family name and the label block between the
// braces (empty without labels).
std::pair<std::string, std::string> SplitKey(const std::string& key) {
  std::size_t brace = key.find('{');
  if (brace == std::string::npos) return {key, std::string()};
  return {key.substr(0, brace), key.substr(brace + 1, key.size() - brace - 2)};
}

std::string WithExtraLabel(const std::string& label_block, const std::string& extra) {
  if (label_block.empty()) return "{" + extra + "}";
  return "{" + label_block + "," + extra + "}";
}

}  // namespace

Metrics::Metrics() {
  help_ = {
      {"waymark_http_requests_total", "HTTP requests answered by the collector."},
      {"waymark_http_request_duration_seconds", "HTTP request latency in seconds, by route."},
      {"waymark_http_request_body_bytes_total",
       "Request body bytes as received (before decompression), by route."},
      {"waymark_events_total",
       "Events received, by result (accepted, duplicate, rejected) and rejection reason."},
      {"waymark_stage_mismatches_total",
       "Events whose browser-reported stage differed from the stage the server computed."},
      {"waymark_webhook_deliveries_total",
       "Webhook delivery attempts, by endpoint and result (delivered, retry, failed)."},
      {"waymark_webhook_failures_total",
       "Webhook deliveries given up (outbox status 'failed'), by endpoint."},
      {"waymark_webhook_outbox_pending",
       "Webhook deliveries waiting to be sent (outbox rows pending or in flight)."},
      {"waymark_batches_refused_total",
       "Batches refused as a whole (too large, invalid JSON), by reason."},
      {"waymark_events_clamped_total",
       "Events whose corrected time was too far in the future and was clamped to receive time."},
      {"waymark_identity_conflicts_total",
       "Events naming a second known user for a device already linked to another (the device "
       "stays with its first user)."},
      {"waymark_commit_failures_total", "Ingest commits that failed."},
      {"waymark_http_connections_open", "TCP connections open to the collector."},
      {"waymark_http_connections_idle", "Open keep-alive connections waiting for a request."},
      {"waymark_http_requests_queued", "Requests read and waiting for a worker thread."},
      {"waymark_http_body_bytes_held",
       "Request body bytes being read or handled, counted against the in-flight body budget."},
      {"waymark_http_connections_evicted_total",
       "Idle keep-alive connections closed to make room for new ones (connection cap)."},
      {"waymark_http_connections_refused_total",
       "Connections answered 503 because every slot was held by a busy connection."},
      {"waymark_http_deadlines_missed_total",
       "Requests whose head, body or answer missed its deadline (408 or closed)."},
      {"waymark_rate_limited_clients", "Clients with a rate-limit bucket in memory."},
      {"waymark_wal_pending_frames",
       "SQLite write-ahead log frames not yet checkpointed into the database file."},
      {"waymark_ingest_queue_events", "Events queued for the ingest writer, not yet committed."},
      {"waymark_projection_backlog_profiles",
       "Profiles whose journeys do not include all their stored events yet."},
      {"waymark_projection_failures_total", "Projection passes that failed (retried)."},
      {kCommitEventsName, "Events written per ingest commit (group commit size)."},
      {kCommitRequestsName, "Requests written per ingest commit (group commit size)."},
  };
  // Unlabelled histograms exist from the start so a scrape before the first commit shows zeros
  // rather than a missing series (rate() over a series that appears late loses its first sample).
  for (const char* name : {kCommitEventsName, kCommitRequestsName}) {
    Histogram& h = commits_[name];
    h.bounds = CommitBounds();
    h.buckets.assign(h.bounds.size(), 0);
  }
}

std::string Metrics::Key(const std::string& name, const Labels& labels) {
  if (labels.empty()) return name;
  // Sorted so that callers passing the same labels in a different order hit the same series.
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::string key = name + "{";
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0) key += ',';
    key += sorted[i].first;
    key += "=\"";
    key += EscapeLabelValue(sorted[i].second);
    key += '"';
  }
  key += '}';
  return key;
}

void Metrics::Add(const std::string& name, const Labels& labels, double value) {
  // A counter only goes up; a negative or NaN increment would make rate() report nonsense.
  if (!(value >= 0)) return;
  std::string key = Key(name, labels);
  std::lock_guard<std::mutex> lock(mu_);
  counters_[key] += value;
}

void Metrics::SetCounter(const std::string& name, const Labels& labels, double value) {
  std::string key = Key(name, labels);
  std::lock_guard<std::mutex> lock(mu_);
  double& counter = counters_[key];
  counter = std::max(counter, value);  // never backwards
}

void Metrics::Set(const std::string& name, const Labels& labels, double value) {
  std::string key = Key(name, labels);
  std::lock_guard<std::mutex> lock(mu_);
  gauges_[key] = value;
}

void Metrics::Observe(std::map<std::string, Histogram>& family, const std::string& key,
                      const std::vector<double>& bounds, double value) {
  Histogram& h = family[key];
  if (h.bounds.empty()) {
    h.bounds = bounds;
    h.buckets.assign(bounds.size(), 0);
  }
  // Stored per bucket; Render accumulates. Values above the last bound only count in +Inf,
  // which is the total count.
  auto it = std::lower_bound(h.bounds.begin(), h.bounds.end(), value);
  if (it != h.bounds.end()) ++h.buckets[static_cast<std::size_t>(it - h.bounds.begin())];
  h.sum += value;
  ++h.count;
}

void Metrics::ObserveLatency(const std::string& route, double seconds) {
  if (std::isnan(seconds)) return;
  std::lock_guard<std::mutex> lock(mu_);
  Observe(latency_, route, LatencyBounds(), seconds);
}

void Metrics::ObserveCommit(std::size_t events, std::size_t requests) {
  std::lock_guard<std::mutex> lock(mu_);
  Observe(commits_, kCommitEventsName, CommitBounds(), static_cast<double>(events));
  Observe(commits_, kCommitRequestsName, CommitBounds(), static_cast<double>(requests));
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;

  auto header = [&](const std::string& name, const char* type) {
    auto help = help_.find(name);
    out += "# HELP " + name + " ";
    out +=
        EscapeHelp(help != help_.end() ? help->second : "Waymark collector metric " + name + ".");
    out += "\n# TYPE " + name + " " + type + "\n";
  };

  // The format wants every sample of a family in one group under a single TYPE line. Keys sort
  // "x_total_y{" before "x_total{" ('_' < '{'), so families are regrouped rather than trusting
  // map order.
  auto render_simple = [&](const std::map<std::string, double>& series, const char* type) {
    std::map<std::string, std::vector<std::pair<std::string, double>>> families;
    for (const auto& [key, value] : series) {
      auto [name, labels] = SplitKey(key);
      families[name].emplace_back(key, value);
    }
    for (const auto& [name, samples] : families) {
      header(name, type);
      for (const auto& [key, value] : samples) out += key + " " + FormatValue(value) + "\n";
    }
  };
  render_simple(counters_, "counter");
  render_simple(gauges_, "gauge");

  auto render_histogram = [&](const std::string& name, const std::string& label_block,
                              const Histogram& h) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.buckets[i];
      out += name + "_bucket" +
             WithExtraLabel(label_block, "le=\"" + FormatBound(h.bounds[i]) + "\"") + " " +
             std::to_string(cumulative) + "\n";
    }
    out += name + "_bucket" + WithExtraLabel(label_block, "le=\"+Inf\"") + " " +
           std::to_string(h.count) + "\n";
    std::string suffix = label_block.empty() ? std::string() : "{" + label_block + "}";
    out += name + "_sum" + suffix + " " + FormatValue(h.sum) + "\n";
    out += name + "_count" + suffix + " " + std::to_string(h.count) + "\n";
  };

  if (!latency_.empty()) {
    header(kLatencyName, "histogram");
    for (const auto& [route, h] : latency_) {
      render_histogram(kLatencyName, "route=\"" + EscapeLabelValue(route) + "\"", h);
    }
  }
  for (const auto& [name, h] : commits_) {
    header(name, "histogram");
    render_histogram(name, std::string(), h);
  }
  return out;
}

}  // namespace waymark::collector
