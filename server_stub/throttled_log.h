// Error lines to stderr, at most one per message in each interval: a database that is down fails
// every pass of the writer (ten a second), and a log that floods hides the first line, the one
// that says what happened. The next line after a quiet interval says how many were left out.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace waymark::collector {

class ThrottledLog {
 public:
  using Clock = std::chrono::steady_clock;
  /// `sink` receives each JSON line with its newline (stderr by default); `now` the time.
  explicit ThrottledLog(std::chrono::milliseconds interval = std::chrono::seconds(5),
                        std::function<void(const std::string&)> sink = nullptr,
                        std::function<Clock::time_point()> now = nullptr);

  /// {"level":"error","msg":msg,"error":error[,"suppressed":n]} unless `msg` was written less
  /// than an interval ago (then only counted).
  void Error(const std::string& msg, const std::string& error);

 private:
  struct Entry {
    Clock::time_point last;
    std::int64_t suppressed = 0;
  };
  std::chrono::milliseconds interval_;
  std::function<void(const std::string&)> sink_;
  std::function<Clock::time_point()> now_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace waymark::collector
