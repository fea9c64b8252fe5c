#include "waymark/json_util.h"

#include <cmath>

namespace waymark {

namespace {

// Depth of the deepest container, counting brackets outside strings. Linear and allocation-free;
// a malformed document may pass it and is then refused by the real parser.
bool DepthWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

}  // namespace

Result<json> ParseJson(std::string_view text, std::size_t max_bytes, int max_depth) {
  if (text.size() > max_bytes) {
    return MakeError("too_large", "document is " + std::to_string(text.size()) +
                                      " bytes, the limit is " + std::to_string(max_bytes));
  }
  if (!DepthWithin(text, max_depth)) {
    return MakeError("too_deep",
                     "document is nested deeper than " + std::to_string(max_depth) + " levels");
  }
  json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    if (!IsValidUtf8(text)) return MakeError("invalid_json", "document is not valid UTF-8");
    return MakeError("invalid_json", "document is not valid JSON");
  }
  return value;
}

int JsonDepth(const json& value, int limit) {
  if (!value.is_structured()) return 0;
  if (limit <= 0) return 1;
  int deepest = 0;
  for (const auto& child : value) {
    int d = JsonDepth(child, limit - 1);
    if (d > deepest) deepest = d;
    if (deepest >= limit) break;
  }
  return deepest + 1;
}

std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {
std::size_t QuotedSize(const std::string& s) {
  std::size_t n = 2;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
      n += 2;
    } else if (c < 0x20) {
      n += 6;  // \u00XX
    } else {
      n += 1;
    }
  }
  return n;
}

std::size_t IntegerSize(std::uint64_t v, bool negative) {
  std::size_t n = negative ? 2 : 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}
}  // namespace

std::size_t SerializedSize(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return 4;
    case json::value_t::boolean:
      return value.get<bool>() ? 4 : 5;
    case json::value_t::string:
      return QuotedSize(value.get_ref<const std::string&>());
    case json::value_t::number_unsigned:
      return IntegerSize(value.get<std::uint64_t>(), false);
    case json::value_t::number_integer: {
      std::int64_t v = value.get<std::int64_t>();
      std::uint64_t magnitude =
          v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
      return IntegerSize(magnitude, v < 0);
    }
    case json::value_t::object: {
      std::size_t n = 2 + (value.empty() ? 0 : value.size() - 1);  // braces and commas
      for (auto it = value.begin(); it != value.end(); ++it) {
        n += QuotedSize(it.key()) + 1 + SerializedSize(it.value());
      }
      return n;
    }
    case json::value_t::array: {
      std::size_t n = 2 + (value.empty() ? 0 : value.size() - 1);
      for (const auto& item : value) n += SerializedSize(item);
      return n;
    }
    default:
      return DumpJson(value).size();
  }
}

const json* Member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end()) return nullptr;
  return &*it;
}

const json* DottedMember(const json& root, std::string_view dotted) {
  const json* cur = &root;
  while (cur != nullptr) {
    std::size_t dot = dotted.find('.');
    cur = Member(*cur, dotted.substr(0, dot));
    if (dot == std::string_view::npos) break;
    dotted = dotted.substr(dot + 1);
  }
  return cur;
}

bool IsValidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) {
      return false;  // overlong
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string PathJoin(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out = parent;
  out += '.';
  out += key;
  return out;
}

std::string PathIndex(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string TypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

bool GetInt64(const json& value, std::int64_t* out) {
  if (value.is_number_integer() && !value.is_number_unsigned()) {
    *out = value.get<std::int64_t>();
    return true;
  }
  if (value.is_number_unsigned()) {
    auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return false;
    *out = static_cast<std::int64_t>(u);
    return true;
  }
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d || d > 9.0e18 || d < -9.0e18) return false;
    *out = static_cast<std::int64_t>(d);
    return true;
  }
  return false;
}

}  // namespace waymark
