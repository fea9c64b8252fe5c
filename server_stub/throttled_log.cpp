#include "throttled_log.h"

#include <cstdio>

#include "waymark/json_util.h"

namespace waymark::collector {

ThrottledLog::ThrottledLog(std::chrono::milliseconds interval,
                           std::function<void(const std::string&)> sink,
                           std::function<Clock::time_point()> now)
    : interval_(interval), sink_(std::move(sink)), now_(std::move(now)) {
  if (!sink_) {
    sink_ = [](const std::string& line) { std::fwrite(line.data(), 1, line.size(), stderr); };
  }
  if (!now_) now_ = [] { return Clock::now(); };
}

void ThrottledLog::Error(const std::string& msg, const std::string& error) {
  json line = {{"level", "error"}, {"msg", msg}, {"error", error}};
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::time_point now = now_();
    auto it = entries_.find(msg);
    if (it != entries_.end() && now - it->second.last < interval_) {
      ++it->second.suppressed;
      return;
    }
    Entry& entry = entries_[msg];
    if (entry.suppressed > 0) line["suppressed"] = entry.suppressed;
    entry.last = now;
    entry.suppressed = 0;
  }
  sink_(DumpJson(line) + "\n");
}

}  // namespace waymark::collector
