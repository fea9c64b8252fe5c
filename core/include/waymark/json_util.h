// Safe JSON handling for a core built without exceptions: with JSON_NOEXCEPTION every nlohmann
// throw becomes an abort, so the core only touches JSON through these helpers, which check
// types before reading and never call a throwing accessor.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "waymark/result.h"

namespace waymark {

using json = nlohmann::json;

/// Parses `text` after a linear pre-scan that refuses documents over `max_bytes` or nested
/// deeper than `max_depth` (so a 10 000-deep array never reaches a recursive routine).
/// Error codes: `too_large`, `too_deep`, `invalid_json` (includes invalid UTF-8).
Result<json> ParseJson(std::string_view text, std::size_t max_bytes, int max_depth);

/// Nesting depth of a parsed value (scalars are 0), stopping early beyond `limit`.
int JsonDepth(const json& value, int limit);

/// Serializes without ever failing: invalid UTF-8 inside strings is replaced by U+FFFD.
std::string DumpJson(const json& value);

/// The exact length of DumpJson(value) without building the string (floats are the one case that
/// is serialized to measure). Recursion is bounded by the value's depth, which callers limit.
std::size_t SerializedSize(const json& value);

/// Returns the member `key` of `object` or nullptr when `object` is not an object or lacks it.
const json* Member(const json& object, std::string_view key);

/// Follows a dotted path of object members (`a.b.c`); nullptr when any step is missing.
const json* DottedMember(const json& root, std::string_view dotted);

/// True when `text` is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view text);

/// Field-path helpers for error messages: `Path("a", "b")` is `a.b`, `Index("a", 3)` is `a[3]`.
std::string PathJoin(const std::string& parent, std::string_view key);
std::string PathIndex(const std::string& parent, std::size_t index);

/// Human name of a JSON type for messages ("a string", "an object", ...).
std::string TypeName(const json& value);

/// Reads an integer that fits int64 (also accepts floats with no fractional part).
bool GetInt64(const json& value, std::int64_t* out);

}  // namespace waymark
