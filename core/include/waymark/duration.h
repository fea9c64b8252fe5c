// Time in the core is always an input: milliseconds since the Unix epoch, passed in by the caller.
#pragma once

#include <cstdint>
#include <string>

#include "waymark/json_util.h"
#include "waymark/result.h"

namespace waymark {

using TimeMs = std::int64_t;

constexpr TimeMs kSecond = 1000;
constexpr TimeMs kMinute = 60 * kSecond;
constexpr TimeMs kHour = 60 * kMinute;
constexpr TimeMs kDay = 24 * kHour;
/// The longest duration a map may name (100 years): parsing refuses longer ones, and loading a
/// compiled map checks every duration against it, so time arithmetic can never overflow.
constexpr TimeMs kMaxDuration = 100LL * 366 * kDay;

/// Parses a duration: a non-negative integer of milliseconds, or a string such as `500ms`, `30s`,
/// `15m`, `12h`, `7d`, `2w`. Error code `invalid_duration`, message "expected a duration".
Result<TimeMs> ParseDuration(const json& value);

/// The shortest exact form: 604800000 -> "7d", 90000 -> "90s", 1500 -> "1500ms".
std::string FormatDuration(TimeMs ms);

}  // namespace waymark
