#include "waymark/event.h"

#include <cctype>
#include <cmath>

namespace waymark {

namespace {

Error Invalid(const std::string& field, const std::string& what) {
  return MakeError("invalid_event", field + ": " + what);
}

// Checks strings (length, UTF-8) and depth of a property value, recursively; depth is bounded by
// `max_depth`, so recursion is too.
Status CheckValue(const json& value, const std::string& path, int depth,
                  const EventLimits& limits) {
  if (depth > limits.max_property_depth) {
    return MakeError("too_deep", path + ": nested deeper than " +
                                     std::to_string(limits.max_property_depth) + " levels");
  }
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s.size() > limits.max_string_length) {
      return MakeError("string_too_long", path + ": string of " + std::to_string(s.size()) +
                                              " bytes, the limit is " +
                                              std::to_string(limits.max_string_length));
    }
    if (!IsValidUtf8(s)) return MakeError("invalid_utf8", path + ": not valid UTF-8");
    return {};
  }
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!IsValidUtf8(it.key())) return MakeError("invalid_utf8", path + ": key not valid UTF-8");
      Status s = CheckValue(it.value(), PathJoin(path, it.key()), depth + 1, limits);
      if (!s) return s;
    }
    return {};
  }
  if (value.is_array()) {
    std::size_t i = 0;
    for (const auto& item : value) {
      Status s = CheckValue(item, PathIndex(path, i++), depth + 1, limits);
      if (!s) return s;
    }
    return {};
  }
  if (value.is_number_float() && !std::isfinite(value.get<double>())) {
    return Invalid(path, "expected a finite number");
  }
  return {};
}

Status CheckString(const std::string& s, std::size_t max, const std::string& field) {
  if (s.size() > max) {
    return MakeError("string_too_long", field + ": string of " + std::to_string(s.size()) +
                                            " bytes, the limit is " + std::to_string(max));
  }
  if (!IsValidUtf8(s)) return MakeError("invalid_utf8", field + ": not valid UTF-8");
  // Ids, names and page context become columns; PostgreSQL's text cannot hold a NUL, and no real
  // id or URL has one. (Property values keep theirs: they are stored as JSON text, escaped.)
  if (s.find('\0') != std::string::npos) {
    return MakeError(field == "name" ? "invalid_event_name" : "invalid_event",
                     field + ": contains a NUL character");
  }
  return {};
}

Error TooManyProperties(std::size_t count, const EventLimits& limits) {
  return MakeError("too_many_properties", "properties: " + std::to_string(count) +
                                              " properties, the limit is " +
                                              std::to_string(limits.max_properties));
}

Error TooLarge(std::size_t bytes, const EventLimits& limits) {
  return MakeError("event_too_large", "event is " + std::to_string(bytes) +
                                          " bytes, the limit is " +
                                          std::to_string(limits.max_event_bytes));
}

bool IsKnownType(const std::string& type) {
  return type == "track" || type == "page" || type == "identify" || type == "alias" ||
         type == "screen";
}

Status ReadString(const json& object, const char* key, std::size_t max, std::string* out,
                  const std::string& prefix) {
  const json* v = Member(object, key);
  if (v == nullptr || v->is_null()) return {};
  std::string field = PathJoin(prefix, key);
  if (!v->is_string()) return Invalid(field, "expected a string, got " + TypeName(*v));
  const auto& s = v->get_ref<const std::string&>();
  if (Status checked = CheckString(s, max, field); !checked) return checked;
  *out = s;
  return {};
}

Status ReadTime(const json& object, const char* key, bool required, TimeMs* out) {
  const json* v = Member(object, key);
  if (v == nullptr || v->is_null()) {
    if (required) return Invalid(key, "required (milliseconds since the epoch)");
    return {};
  }
  std::int64_t t;
  if (!GetInt64(*v, &t) || t < 0) {
    return Invalid(key, "expected milliseconds since the epoch, got " + TypeName(*v));
  }
  *out = t;
  return {};
}

}  // namespace

bool IsConventionalEventName(std::string_view name) {
  if (name.empty() || !std::islower(static_cast<unsigned char>(name[0]))) return false;
  bool has_separator = false;
  char prev = 0;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
    if (c == '_') {
      if (prev == '_') return false;
      has_separator = true;
    }
    prev = c;
  }
  return has_separator && prev != '_';
}

Result<Event> EventFromJson(const json& value, const EventLimits& limits) {
  if (!value.is_object()) return Invalid("event", "expected an object, got " + TypeName(value));
  Event e;
  Status s;
  if (!(s = ReadString(value, "id", limits.max_id_length, &e.id, ""))) return s.error();
  if (e.id.empty()) return Invalid("id", "required");
  if (!(s = ReadString(value, "name", limits.max_name_length, &e.name, ""))) return s.error();
  if (e.name.empty()) return Invalid("name", "required");
  if (!(s = ReadString(value, "type", 16, &e.type, ""))) return s.error();
  if (e.type.empty()) e.type = "track";
  if (!IsKnownType(e.type)) {
    return Invalid("type", "expected one of track, page, identify, alias, screen");
  }
  if (!(s = ReadString(value, "anonymous_id", limits.max_id_length, &e.anonymous_id, ""))) {
    return s.error();
  }
  if (!(s = ReadString(value, "user_id", limits.max_id_length, &e.user_id, ""))) {
    return s.error();
  }
  if (!(s = ReadTime(value, "time", true, &e.time))) return s.error();
  if (!(s = ReadTime(value, "sent_at", false, &e.sent_at))) return s.error();
  if (const json* seq = Member(value, "seq"); seq != nullptr && !seq->is_null()) {
    if (!GetInt64(*seq, &e.seq) || e.seq < 0) {
      return Invalid("seq", "expected a non-negative integer");
    }
  }
  if (const json* props = Member(value, "properties"); props != nullptr && !props->is_null()) {
    if (!props->is_object()) {
      return Invalid("properties", "expected an object, got " + TypeName(*props));
    }
    if (props->size() > limits.max_properties) {
      return TooManyProperties(props->size(), limits);
    }
    if (!(s = CheckValue(*props, "properties", 1, limits))) return s.error();
    e.properties = *props;
  }
  if (const json* traits = Member(value, "traits"); traits != nullptr && !traits->is_null()) {
    if (!(s = CheckTraits(*traits, limits))) return s.error();
    e.traits = *traits;
  }
  if (const json* ctx = Member(value, "context"); ctx != nullptr && !ctx->is_null()) {
    if (!ctx->is_object()) return Invalid("context", "expected an object, got " + TypeName(*ctx));
    const std::size_t max = limits.max_string_length;
    if (!(s = ReadString(*ctx, "url", max, &e.context.url, "context"))) return s.error();
    if (!(s = ReadString(*ctx, "path", max, &e.context.path, "context"))) return s.error();
    if (!(s = ReadString(*ctx, "title", max, &e.context.title, "context"))) return s.error();
    if (!(s = ReadString(*ctx, "referrer", max, &e.context.referrer, "context"))) {
      return s.error();
    }
    if (!(s = ReadString(*ctx, "channel", 64, &e.context.channel, "context"))) return s.error();
    if (const json* bot = Member(*ctx, "automation"); bot != nullptr && !bot->is_null()) {
      if (!bot->is_boolean()) {
        return Invalid("context.automation", "expected a boolean, got " + TypeName(*bot));
      }
      e.context.automation = bot->get<bool>();
    }
    if (const json* camp = Member(*ctx, "campaign"); camp != nullptr && !camp->is_null()) {
      if (!camp->is_object()) {
        return Invalid("context.campaign", "expected an object, got " + TypeName(*camp));
      }
      if (camp->size() > 32) return Invalid("context.campaign", "more than 32 parameters");
      for (auto it = camp->begin(); it != camp->end(); ++it) {
        std::string v;
        if (it.key().size() > 64 || !IsValidUtf8(it.key())) {
          return Invalid("context.campaign", "parameter names are at most 64 bytes of UTF-8");
        }
        if (!(s = ReadString(*camp, it.key().c_str(), max, &v, "context.campaign"))) {
          return s.error();
        }
        if (!v.empty()) e.context.campaign[it.key()] = v;
      }
    }
  }
  // The 32 KB cap applies to the envelope as it came, compactly serialized.
  std::size_t bytes = SerializedSize(value);
  if (bytes > limits.max_event_bytes) {
    return TooLarge(bytes, limits);
  }
  return e;
}

Status CheckTraits(const json& traits, const EventLimits& limits) {
  if (traits.is_null()) return {};
  if (!traits.is_object()) return MakeError("invalid_traits", "traits: expected an object");
  if (traits.size() > limits.max_properties ||
      JsonDepth(traits, limits.max_property_depth + 1) > limits.max_property_depth ||
      SerializedSize(traits) > kMaxTraitsBytes) {
    return MakeError("invalid_traits", "traits: at most " + std::to_string(limits.max_properties) +
                                           " keys, depth " +
                                           std::to_string(limits.max_property_depth) + " and " +
                                           std::to_string(kMaxTraitsBytes / 1024) + " KB");
  }
  return {};
}

Status CheckEnvelopeFacts(const EnvelopeFacts& facts, const EventLimits& limits) {
  if (facts.properties > limits.max_properties) {
    return TooManyProperties(facts.properties, limits);
  }
  if (facts.depth > limits.max_property_depth) {
    return MakeError("too_deep", "properties: nested deeper than " +
                                     std::to_string(limits.max_property_depth) + " levels");
  }
  if (facts.bytes > limits.max_event_bytes) return TooLarge(facts.bytes, limits);
  return {};
}

Status CheckEventFields(const Event& e, const EventLimits& limits) {
  const std::size_t max = limits.max_string_length;
  Status s;
  if (e.id.empty()) return Invalid("id", "required");
  if (!(s = CheckString(e.id, limits.max_id_length, "id"))) return s;
  if (e.name.empty()) return Invalid("name", "required");
  if (!(s = CheckString(e.name, limits.max_name_length, "name"))) return s;
  if (!IsKnownType(e.type)) {
    return Invalid("type", "expected one of track, page, identify, alias, screen");
  }
  if (!(s = CheckString(e.anonymous_id, limits.max_id_length, "anonymous_id"))) return s;
  if (!(s = CheckString(e.user_id, limits.max_id_length, "user_id"))) return s;
  if (e.time < 0 || e.sent_at < 0 || e.seq < 0) {
    return Invalid("time", "expected milliseconds since the epoch");
  }
  const EventContext& c = e.context;
  if (!(s = CheckString(c.url, max, "context.url"))) return s;
  if (!(s = CheckString(c.path, max, "context.path"))) return s;
  if (!(s = CheckString(c.title, max, "context.title"))) return s;
  if (!(s = CheckString(c.referrer, max, "context.referrer"))) return s;
  if (!(s = CheckString(c.channel, 64, "context.channel"))) return s;
  if (c.campaign.size() > 32) return Invalid("context.campaign", "more than 32 parameters");
  for (const auto& [key, value] : c.campaign) {
    if (key.size() > 64 || !IsValidUtf8(key)) {
      return Invalid("context.campaign", "parameter names are at most 64 bytes of UTF-8");
    }
    if (!(s = CheckString(value, max, PathJoin("context.campaign", key)))) return s;
  }
  return {};
}

bool SameProperties(const Event& a, const Event& b) {
  if (a.fingerprint != 0 || b.fingerprint != 0) return a.fingerprint == b.fingerprint;
  return a.properties == b.properties;
}

Result<Event> ParseEvent(std::string_view text, const EventLimits& limits) {
  auto parsed = ParseJson(text, limits.max_event_bytes * 2, limits.max_property_depth + 4);
  if (!parsed) {
    const Error& err = parsed.error();
    if (err.code == "too_large") return MakeError("event_too_large", err.message);
    return err;
  }
  return EventFromJson(parsed.value(), limits);
}

json EventToJson(const Event& e) {
  json out = json::object();
  out["id"] = e.id;
  out["seq"] = e.seq;
  out["anonymous_id"] = e.anonymous_id;
  if (!e.user_id.empty()) out["user_id"] = e.user_id;
  out["name"] = e.name;
  out["type"] = e.type;
  out["time"] = e.time;
  if (e.sent_at != 0) out["sent_at"] = e.sent_at;
  if (!e.properties.empty()) out["properties"] = e.properties;
  if (!e.traits.is_null()) out["traits"] = e.traits;  // stored and replayed with the event
  json ctx = json::object();
  if (!e.context.url.empty()) ctx["url"] = e.context.url;
  if (!e.context.path.empty()) ctx["path"] = e.context.path;
  if (!e.context.title.empty()) ctx["title"] = e.context.title;
  if (!e.context.referrer.empty()) ctx["referrer"] = e.context.referrer;
  if (!e.context.campaign.empty()) ctx["campaign"] = e.context.campaign;
  if (!e.context.channel.empty()) ctx["channel"] = e.context.channel;
  if (e.context.automation) ctx["automation"] = true;
  if (!ctx.empty()) out["context"] = std::move(ctx);
  return out;
}

const json* EventField(const Event& e, std::string_view path, json* scratch) {
  auto set = [&](const std::string& s) -> const json* {
    if (s.empty()) return nullptr;
    *scratch = s;
    return scratch;
  };
  if (path == "name") return set(e.name);
  if (path == "type") return set(e.type);
  if (path == "user_id") return set(e.user_id);
  if (path == "context.url") return set(e.context.url);
  if (path == "context.path") return set(e.context.path);
  if (path == "context.title") return set(e.context.title);
  if (path == "context.referrer") return set(e.context.referrer);
  if (path == "context.channel") return set(e.context.channel);
  constexpr std::string_view kCampaign = "context.campaign.";
  if (path.substr(0, kCampaign.size()) == kCampaign) {
    auto it = e.context.campaign.find(std::string(path.substr(kCampaign.size())));
    return it == e.context.campaign.end() ? nullptr : set(it->second);
  }
  constexpr std::string_view kProps = "properties.";
  if (path.substr(0, kProps.size()) != kProps) return nullptr;
  return DottedMember(e.properties, path.substr(kProps.size()));
}

}  // namespace waymark
