#include "waymark/duration.h"

#include <cctype>

namespace waymark {

namespace {
// A century is far beyond any window a journey map needs; refusing more keeps every sum of
// times well inside int64.

Error DurationError() {
  return MakeError("invalid_duration",
                   "expected a duration (milliseconds or a string like "
                   "\"30s\", \"15m\", \"12h\", \"7d\", \"2w\")");
}
}  // namespace

Result<TimeMs> ParseDuration(const json& value) {
  std::int64_t ms = 0;
  if (value.is_number()) {
    if (!GetInt64(value, &ms) || ms < 0 || ms > kMaxDuration) return DurationError();
    return ms;
  }
  if (!value.is_string()) return DurationError();
  const std::string& s = value.get_ref<const std::string&>();
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    n = n * 10 + (s[i] - '0');
    if (n > kMaxDuration) return DurationError();
    ++i;
  }
  if (i == 0) return DurationError();
  std::string unit = s.substr(i);
  TimeMs scale;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = kSecond;
  } else if (unit == "m") {
    scale = kMinute;
  } else if (unit == "h") {
    scale = kHour;
  } else if (unit == "d") {
    scale = kDay;
  } else if (unit == "w") {
    scale = 7 * kDay;
  } else {
    return DurationError();
  }
  if (n > kMaxDuration / scale) return DurationError();
  return n * scale;
}

std::string FormatDuration(TimeMs ms) {
  struct Unit {
    TimeMs scale;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {
      {7 * kDay, "w"}, {kDay, "d"}, {kHour, "h"}, {kMinute, "m"}, {kSecond, "s"}};
  if (ms > 0) {
    for (const auto& u : kUnits) {
      if (ms % u.scale == 0) return std::to_string(ms / u.scale) + u.suffix;
    }
  }
  return std::to_string(ms) + "ms";
}

}  // namespace waymark
