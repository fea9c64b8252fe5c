// Prometheus metrics for the collector: counters with labels and one latency histogram. All
// operations are thread-safe; rendering produces the text exposition format for GET /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace waymark::collector {

class Metrics {
 public:
  Metrics();

  /// Adds `value` to the counter `name` with the given labels ({"route","/v1/batch"}, ...).
  void Add(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
           double value = 1);
  /// Sets a counter kept elsewhere (the HTTP server's) to its current total.
  void SetCounter(const std::string& name,
                  const std::vector<std::pair<std::string, std::string>>& labels, double value);
  /// Sets a gauge.
  void Set(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels,
           double value);
  /// Records a request latency in seconds for `route`.
  void ObserveLatency(const std::string& route, double seconds);
  /// Records how many events one commit carried (group commit size).
  void ObserveCommit(std::size_t events, std::size_t requests);

  std::string Render() const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<std::uint64_t> buckets;  // cumulative at render time
    double sum = 0;
    std::uint64_t count = 0;
  };
  static std::string Key(const std::string& name,
                         const std::vector<std::pair<std::string, std::string>>& labels);
  void Observe(std::map<std::string, Histogram>& family, const std::string& key,
               const std::vector<double>& bounds, double value);

  mutable std::mutex mu_;
  std::map<std::string, double> counters_;  // "name{labels}" -> value
  std::map<std::string, double> gauges_;
  std::map<std::string, Histogram> latency_;  // "route" label set -> histogram
  std::map<std::string, Histogram> commits_;
  std::map<std::string, std::string> help_;
};

}  // namespace waymark::collector
