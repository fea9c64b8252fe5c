#include "waymark/journey_map.h"

#include <algorithm>
#include <cctype>

#include "waymark/event.h"

namespace waymark {

namespace {

// Every parse helper reports errors as `path: what`, so the message always names the bad field.
Error MapError(const std::string& path, const std::string& what) {
  return MakeError("invalid_map", (path.empty() ? std::string("map") : path) + ": " + what);
}

bool IsIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return s[0] >= 'a' && s[0] <= 'z';
}

Status ReadId(const json& obj, const std::string& path, const char* key, std::string* out) {
  const json* v = Member(obj, key);
  std::string field = PathJoin(path, key);
  if (v == nullptr) return MapError(field, "required");
  if (!v->is_string()) return MapError(field, "expected a string, got " + TypeName(*v));
  *out = v->get<std::string>();
  if (!IsIdentifier(*out)) {
    return MapError(field, "expected an id of lowercase letters, digits, '_' or '-' (at most 64)");
  }
  return {};
}

Status ReadOptionalString(const json& obj, const std::string& path, const char* key,
                          std::string* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return {};
  if (!v->is_string()) return MapError(PathJoin(path, key), "expected a string");
  *out = v->get<std::string>();
  return {};
}

Status ReadInt(const json& obj, const std::string& path, const char* key, std::int64_t lo,
               std::int64_t hi, std::int64_t* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return {};
  std::int64_t n;
  if (!GetInt64(*v, &n) || n < lo || n > hi) {
    return MapError(PathJoin(path, key),
                    "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  *out = n;
  return {};
}

Status ReadNumber(const json& obj, const std::string& path, const char* key, double lo, double hi,
                  double* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return {};
  if (!v->is_number()) return MapError(PathJoin(path, key), "expected a number");
  double d = v->get<double>();
  if (!(d >= lo && d <= hi)) {
    return MapError(PathJoin(path, key),
                    "expected a number from " + DumpJson(lo) + " to " + DumpJson(hi));
  }
  *out = d;
  return {};
}

Status ReadBool(const json& obj, const std::string& path, const char* key, bool* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return {};
  if (!v->is_boolean()) return MapError(PathJoin(path, key), "expected true or false");
  *out = v->get<bool>();
  return {};
}

Status ReadDuration(const json& obj, const std::string& path, const char* key, TimeMs* out) {
  const json* v = Member(obj, key);
  if (v == nullptr) return {};
  auto d = ParseDuration(*v);
  if (!d) return MapError(PathJoin(path, key), "expected a duration");
  *out = d.value();
  return {};
}

// A string or an array of strings. "*" alone sets *any.
Status ReadNameList(const json& v, const std::string& path, std::vector<std::string>* out,
                    bool* any) {
  auto add = [&](const json& item, const std::string& item_path) -> Status {
    if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
      return MapError(item_path, "expected a non-empty string");
    }
    const auto& s = item.get_ref<const std::string&>();
    if (s == "*") {
      if (any == nullptr) return MapError(item_path, "\"*\" is not allowed here");
      *any = true;
    } else {
      out->push_back(s);
    }
    return {};
  };
  if (v.is_string()) return add(v, path);
  if (!v.is_array() || v.empty()) {
    return MapError(path, "expected a string or a non-empty array of strings");
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    Status s = add(v[i], PathIndex(path, i));
    if (!s) return s;
  }
  return {};
}

struct OpName {
  const char* key;
  CompareOp op;
};
constexpr OpName kOps[] = {
    {"equals", CompareOp::kEquals},
    {"not_equals", CompareOp::kNotEquals},
    {"in", CompareOp::kIn},
    {"gt", CompareOp::kGt},
    {"gte", CompareOp::kGte},
    {"lt", CompareOp::kLt},
    {"lte", CompareOp::kLte},
    {"exists", CompareOp::kExists},
    {"contains", CompareOp::kContains},
    {"prefix", CompareOp::kPrefix},
};

bool IsNumericOp(CompareOp op) {
  return op == CompareOp::kGt || op == CompareOp::kGte || op == CompareOp::kLt ||
         op == CompareOp::kLte;
}

// Reads the single comparison operator of a field or score predicate.
Status ReadComparison(const json& obj, const std::string& path, bool numeric_only,
                      Condition* cond) {
  int found = 0;
  for (const auto& o : kOps) {
    const json* v = Member(obj, o.key);
    if (v == nullptr) continue;
    ++found;
    std::string field = PathJoin(path, o.key);
    if (numeric_only && !IsNumericOp(o.op)) {
      return MapError(field, "a score is compared with gt, gte, lt or lte");
    }
    if (IsNumericOp(o.op) && !v->is_number()) return MapError(field, "expected a number");
    if (o.op == CompareOp::kIn && (!v->is_array() || v->empty())) {
      return MapError(field, "expected a non-empty array");
    }
    if (o.op == CompareOp::kExists && !v->is_boolean()) {
      return MapError(field, "expected true or false");
    }
    if ((o.op == CompareOp::kContains || o.op == CompareOp::kPrefix) && !v->is_string()) {
      return MapError(field, "expected a string");
    }
    if ((o.op == CompareOp::kEquals || o.op == CompareOp::kNotEquals) && v->is_structured()) {
      return MapError(field, "expected a string, number, boolean or null");
    }
    cond->op = o.op;
    cond->operand = *v;
  }
  if (found != 1) {
    return MapError(path, numeric_only
                              ? "expected exactly one of gt, gte, lt, lte"
                              : "expected exactly one of equals, not_equals, in, gt, gte, lt, "
                                "lte, exists, contains, prefix");
  }
  return {};
}

bool IsFieldPath(const std::string& f) {
  static constexpr const char* kPrefixes[] = {"properties.", "traits.", "context.campaign."};
  for (const char* p : kPrefixes) {
    std::string prefix = p;
    if (f.size() > prefix.size() && f.compare(0, prefix.size(), prefix) == 0) return true;
  }
  static constexpr const char* kFields[] = {
      "name",         "type",          "user_id",          "context.url",
      "context.path", "context.title", "context.referrer", "context.channel"};
  for (const char* k : kFields) {
    if (f == k) return true;
  }
  return false;
}

Result<Condition> ParseConditionAt(const json& v, const std::string& path, int depth);

Status ParseChildren(const json& v, const std::string& path, int depth, Condition* cond) {
  if (!v.is_array() || v.empty()) return MapError(path, "expected a non-empty array of conditions");
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto child = ParseConditionAt(v[i], PathIndex(path, i), depth + 1);
    if (!child) return child.error();
    cond->children.push_back(std::move(child).value());
  }
  return {};
}

Result<Condition> ParseConditionAt(const json& v, const std::string& path, int depth) {
  if (depth > 16) return MapError(path, "conditions nest deeper than 16 levels");
  if (!v.is_object()) return MapError(path, "expected a condition object, got " + TypeName(v));
  Condition c;
  static constexpr const char* kKinds[] = {"always",       "event", "field", "count", "score",
                                           "inactive_for", "stage", "all",   "any",   "not"};
  int kinds = 0;
  std::string kind;
  for (const char* k : kKinds) {
    if (Member(v, k) != nullptr) {
      ++kinds;
      kind = k;
    }
  }
  if (kinds != 1) {
    return MapError(path,
                    "expected exactly one of always, event, field, count, score, "
                    "inactive_for, stage, all, any, not");
  }
  const json& body = *Member(v, kind);
  std::string field_path = PathJoin(path, kind);
  // Keys allowed beside the kind key.
  std::vector<std::string> allowed = {kind};
  Status s;
  if (kind == "always") {
    if (!body.is_boolean() || !body.get<bool>()) return MapError(field_path, "expected true");
    c.kind = ConditionKind::kAlways;
  } else if (kind == "event") {
    c.kind = ConditionKind::kEvent;
    if (!(s = ReadNameList(body, field_path, &c.names, &c.any_event))) return s.error();
  } else if (kind == "field") {
    c.kind = ConditionKind::kField;
    if (!body.is_string() || !IsFieldPath(body.get<std::string>())) {
      return MapError(field_path,
                      "expected a field path: properties.<key>, traits.<key>, "
                      "context.campaign.<param>, name, type, user_id, context.url, context.path, "
                      "context.title, context.referrer or context.channel");
    }
    c.field = body.get<std::string>();
    if (!(s = ReadComparison(v, path, false, &c))) return s.error();
    for (const auto& o : kOps) allowed.push_back(o.key);
  } else if (kind == "count") {
    c.kind = ConditionKind::kCount;
    if (!body.is_object()) return MapError(field_path, "expected an object");
    const json* ev = Member(body, "event");
    if (ev == nullptr) return MapError(PathJoin(field_path, "event"), "required");
    if (!(s = ReadNameList(*ev, PathJoin(field_path, "event"), &c.names, &c.any_event))) {
      return s.error();
    }
    if (!(s = ReadInt(body, field_path, "at_least", 0, 1000000, &c.at_least))) return s.error();
    if (!(s = ReadInt(body, field_path, "at_most", 0, 1000000, &c.at_most))) return s.error();
    if (!(s = ReadDuration(body, field_path, "within", &c.within))) return s.error();
    if (Member(body, "within") != nullptr && c.within <= 0) {
      return MapError(PathJoin(field_path, "within"), "expected a duration");
    }
    if (c.at_most >= 0 && c.at_least > c.at_most) {
      return MapError(PathJoin(field_path, "at_most"), "must not be less than at_least");
    }
    if (const json* where = Member(body, "where")) {
      auto w = ParseConditionAt(*where, PathJoin(field_path, "where"), depth + 1);
      if (!w) return w.error();
      c.children.push_back(std::move(w).value());
    }
    for (auto it = body.begin(); it != body.end(); ++it) {
      const std::string& k = it.key();
      if (k != "event" && k != "at_least" && k != "at_most" && k != "within" && k != "where") {
        return MapError(PathJoin(field_path, k), "unknown field");
      }
    }
  } else if (kind == "score") {
    c.kind = ConditionKind::kScore;
    if (!body.is_object()) return MapError(field_path, "expected an object");
    if (!(s = ReadOptionalString(body, field_path, "group", &c.field))) return s.error();
    if (!(s = ReadComparison(body, field_path, true, &c))) return s.error();
    for (auto it = body.begin(); it != body.end(); ++it) {
      const std::string& k = it.key();
      if (k != "group" && k != "gt" && k != "gte" && k != "lt" && k != "lte") {
        return MapError(PathJoin(field_path, k), "unknown field");
      }
    }
  } else if (kind == "inactive_for") {
    c.kind = ConditionKind::kInactiveFor;
    auto d = ParseDuration(body);
    if (!d || d.value() <= 0) return MapError(field_path, "expected a duration");
    c.duration = d.value();
  } else if (kind == "stage") {
    c.kind = ConditionKind::kStage;
    if (!(s = ReadNameList(body, field_path, &c.names, nullptr))) return s.error();
  } else if (kind == "all" || kind == "any") {
    c.kind = kind == "all" ? ConditionKind::kAll : ConditionKind::kAny;
    if (!(s = ParseChildren(body, field_path, depth, &c))) return s.error();
  } else {  // not
    c.kind = ConditionKind::kNot;
    auto child = ParseConditionAt(body, field_path, depth + 1);
    if (!child) return child.error();
    c.children.push_back(std::move(child).value());
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      return MapError(PathJoin(path, it.key()), "unknown field beside \"" + kind + "\"");
    }
  }
  return c;
}

TimeMs LongestInactivity(const Condition& c) {
  TimeMs longest = c.kind == ConditionKind::kInactiveFor ? c.duration : 0;
  for (const auto& child : c.children) longest = std::max(longest, LongestInactivity(child));
  return longest;
}

// Whether a transition's condition waits on time passing rather than on an event.
bool HasInactivity(const Condition& c) {
  if (c.kind == ConditionKind::kInactiveFor) return true;
  for (const auto& child : c.children) {
    if (HasInactivity(child)) return true;
  }
  return false;
}
bool HasEventTest(const Condition& c) {
  if (c.kind == ConditionKind::kEvent || c.kind == ConditionKind::kField) return true;
  if (c.kind == ConditionKind::kCount) return false;  // counts over the log, not the event
  for (const auto& child : c.children) {
    if (HasEventTest(child)) return true;
  }
  return false;
}

// Collects event names used by conditions so they can be checked against the registry.
void CollectEventNames(const Condition& c, const std::string& path,
                       std::vector<std::pair<std::string, std::string>>* out) {
  if (c.kind == ConditionKind::kEvent || c.kind == ConditionKind::kCount) {
    for (const auto& n : c.names) out->emplace_back(n, path);
  }
  for (const auto& child : c.children) CollectEventNames(child, path, out);
}

void CollectScoreGroups(const Condition& c, std::vector<std::string>* out) {
  if (c.kind == ConditionKind::kScore && !c.field.empty()) out->push_back(c.field);
  for (const auto& child : c.children) CollectScoreGroups(child, out);
}

void CollectStageNames(const Condition& c, std::vector<std::string>* out) {
  if (c.kind == ConditionKind::kStage) out->insert(out->end(), c.names.begin(), c.names.end());
  for (const auto& child : c.children) CollectStageNames(child, out);
}

// The property paths (after "properties.") a condition reads from events.
void CollectPropertyReads(const Condition& c, std::set<std::string>* out) {
  constexpr std::string_view kProps = "properties.";
  if (c.kind == ConditionKind::kField && c.field.compare(0, kProps.size(), kProps) == 0) {
    out->insert(c.field.substr(kProps.size()));
  }
  for (const auto& child : c.children) CollectPropertyReads(child, out);
}

Status CheckKeys(const json& obj, const std::string& path,
                 std::initializer_list<const char*> keys) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const char* k : keys) known = known || it.key() == k;
    if (!known) return MapError(PathJoin(path, it.key()), "unknown field");
  }
  return {};
}

bool IsSafeUrl(const std::string& url) {
  if (url.empty()) return true;
  // Browsers strip tabs and newlines and read '\\' as '/', which would turn "/\\evil.example" into
  // an off-site link; such characters have no business in a content URL.
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '\\' || c == 0x7F) return false;
  }
  // Relative URLs: path, query or fragment, but not protocol-relative ("//evil.example").
  if (url[0] == '/') return url.size() < 2 || url[1] != '/';
  if (url[0] == '?' || url[0] == '#') return true;
  std::string lower;
  for (char c : url.substr(0, 8))
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.rfind("https://", 0) == 0 || lower.rfind("http://", 0) == 0;
}

Status ParseContent(const json& v, const std::string& path, Content* out) {
  if (!v.is_object()) return MapError(path, "expected an object");
  Status s = CheckKeys(v, path, {"text", "attrs", "hidden"});
  if (!s) return s;
  if (const json* text = Member(v, "text")) {
    if (!text->is_string()) return MapError(PathJoin(path, "text"), "expected a string");
    if (text->get_ref<const std::string&>().size() > 4096) {
      return MapError(PathJoin(path, "text"), "longer than 4096 bytes");
    }
    out->text = text->get<std::string>();
  }
  if (!(s = ReadBool(v, path, "hidden", &out->hidden))) return s;
  if (const json* attrs = Member(v, "attrs")) {
    std::string apath = PathJoin(path, "attrs");
    if (!attrs->is_object()) return MapError(apath, "expected an object");
    // Only attributes that cannot run script. Event handlers (on*), style and srcdoc are out.
    static constexpr const char* kAllowed[] = {"href",       "src",         "alt",   "title",
                                               "aria-label", "placeholder", "class", "value"};
    for (auto it = attrs->begin(); it != attrs->end(); ++it) {
      std::string field = PathJoin(apath, it.key());
      bool ok = false;
      for (const char* a : kAllowed) ok = ok || it.key() == a;
      if (!ok) {
        return MapError(field,
                        "attribute not allowed (allowed: href, src, alt, title, "
                        "aria-label, placeholder, class, value)");
      }
      if (!it.value().is_string()) return MapError(field, "expected a string");
      const auto& val = it.value().get_ref<const std::string&>();
      if (val.size() > 2048) return MapError(field, "longer than 2048 bytes");
      if ((it.key() == "href" || it.key() == "src") && !IsSafeUrl(val)) {
        return MapError(field, "expected an http(s) URL or a relative URL");
      }
      out->attrs[it.key()] = val;
    }
  }
  return {};
}

Status ParseSyncFilter(const json& v, const std::string& path, SyncFilter* out) {
  if (!v.is_object()) return MapError(path, "expected an object");
  Status s = CheckKeys(v, path, {"events", "properties"});
  if (!s) return s;
  auto read = [&](const char* key, bool* all, std::set<std::string>* names) -> Status {
    const json* list = Member(v, key);
    if (list == nullptr) return {};
    std::string field = PathJoin(path, key);
    if (list->is_string() && list->get_ref<const std::string&>() == "*") {
      *all = true;
      return {};
    }
    if (!list->is_array()) return MapError(field, "expected \"*\" or an array of names");
    *all = false;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& item = (*list)[i];
      if (!item.is_string()) return MapError(PathIndex(field, i), "expected a string");
      if (item.get_ref<const std::string&>() == "*") {
        return MapError(PathIndex(field, i), "use \"*\" alone, not inside a list");
      }
      names->insert(item.get<std::string>());
    }
    return {};
  };
  if (!(s = read("events", &out->all_events, &out->events))) return s;
  return read("properties", &out->all_properties, &out->properties);
}

}  // namespace

Result<Condition> ParseCondition(const json& value, const std::string& path) {
  return ParseConditionAt(value, path, 0);
}

const Stage* JourneyMap::FindStage(std::string_view stage_id) const {
  for (const auto& s : stages) {
    if (s.id == stage_id) return &s;
  }
  return nullptr;
}

int JourneyMap::StageIndex(std::string_view stage_id) const {
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].id == stage_id) return static_cast<int>(i);
  }
  return -1;
}

Status JourneyMap::Canonicalize(std::string* event_name) const {
  if (events.count(*event_name) != 0) return {};
  auto it = alias_index.find(*event_name);
  if (it != alias_index.end()) {
    *event_name = it->second;
    return {};
  }
  if (!IsConventionalEventName(*event_name)) {
    return MakeError("invalid_event_name",
                     "name: \"" + event_name->substr(0, 80) +
                         "\" is neither a registered event or alias nor snake_case "
                         "object_action (like \"pricing_viewed\")");
  }
  if (reject_unknown_events) {
    return MakeError("unknown_event",
                     "name: \"" + *event_name + "\" is not in the map's event registry");
  }
  return {};
}

Result<std::string> JourneyMap::CanonicalEventName(std::string_view event_name) const {
  std::string n(event_name);
  Status s = Canonicalize(&n);
  if (!s) return s.error();
  return n;
}

Result<std::shared_ptr<const JourneyMap>> ParseJourneyMap(std::string_view text) {
  auto parsed = ParseJson(text, kMaxMapBytes, kMaxMapDepth);
  if (!parsed) return parsed.error();
  const json& doc = parsed.value();
  if (!doc.is_object()) return MapError("", "expected an object, got " + TypeName(doc));
  auto map = std::make_shared<JourneyMap>();
  map->source = std::string(text);
  Status s = CheckKeys(doc, "",
                       {"$schema", "id", "version", "name", "description", "events",
                        "unknown_events", "stages", "initial", "transitions", "scoring", "content",
                        "sync", "noise", "triggers", "attribution", "identity"});
  if (!s) return s.error();
  if (!(s = ReadId(doc, "", "id", &map->id))) return s.error();
  if (Member(doc, "version") == nullptr) return MapError("version", "required");
  if (!(s = ReadInt(doc, "", "version", 1, INT64_MAX / 2, &map->version))) return s.error();
  if (!(s = ReadOptionalString(doc, "", "name", &map->name))) return s.error();
  std::string ignored;
  if (!(s = ReadOptionalString(doc, "", "description", &ignored))) return s.error();

  // Event registry.
  if (const json* events = Member(doc, "events")) {
    if (!events->is_object()) return MapError("events", "expected an object");
    for (auto it = events->begin(); it != events->end(); ++it) {
      std::string path = PathJoin("events", it.key());
      if (!IsConventionalEventName(it.key()) || it.key().size() > 64) {
        return MapError(path, "event names are snake_case object_action (like \"trial_started\")");
      }
      const json& def = it.value();
      if (!def.is_object()) return MapError(path, "expected an object");
      if (!(s = CheckKeys(def, path, {"aliases", "description"}))) return s.error();
      EventDef e;
      e.name = it.key();
      if (!(s = ReadOptionalString(def, path, "description", &e.description))) return s.error();
      if (const json* aliases = Member(def, "aliases")) {
        std::string apath = PathJoin(path, "aliases");
        if (!aliases->is_array()) return MapError(apath, "expected an array of strings");
        for (std::size_t i = 0; i < aliases->size(); ++i) {
          const json& a = (*aliases)[i];
          if (!a.is_string() || a.get_ref<const std::string&>().empty() ||
              a.get_ref<const std::string&>().size() > 64) {
            return MapError(PathIndex(apath, i), "expected a non-empty string of at most 64 bytes");
          }
          e.aliases.push_back(a.get<std::string>());
        }
      }
      map->events[e.name] = e;
    }
    for (const auto& [name, def] : map->events) {
      for (std::size_t i = 0; i < def.aliases.size(); ++i) {
        const std::string& alias = def.aliases[i];
        std::string apath = PathIndex(PathJoin(PathJoin("events", name), "aliases"), i);
        if (map->events.count(alias) != 0) {
          return MapError(apath, "\"" + alias + "\" is itself a registered event");
        }
        auto [pos, inserted] = map->alias_index.emplace(alias, name);
        if (!inserted && pos->second != name) {
          return MapError(apath,
                          "\"" + alias + "\" is already an alias of \"" + pos->second + "\"");
        }
      }
    }
  }
  if (const json* unknown = Member(doc, "unknown_events")) {
    if (!unknown->is_string() ||
        (unknown->get<std::string>() != "accept" && unknown->get<std::string>() != "reject")) {
      return MapError("unknown_events", "expected \"accept\" or \"reject\"");
    }
    map->reject_unknown_events = unknown->get<std::string>() == "reject";
  }

  // Stages.
  const json* stages = Member(doc, "stages");
  if (stages == nullptr) return MapError("stages", "required");
  if (!stages->is_array() || stages->empty())
    return MapError("stages", "expected a non-empty array");
  if (stages->size() > 64) return MapError("stages", "at most 64 stages");
  for (std::size_t i = 0; i < stages->size(); ++i) {
    const json& sv = (*stages)[i];
    std::string path = PathIndex("stages", i);
    if (!sv.is_object()) return MapError(path, "expected an object");
    if (!(s = CheckKeys(sv, path, {"id", "name", "rank", "phase", "description"})))
      return s.error();
    Stage st;
    if (!(s = ReadId(sv, path, "id", &st.id))) return s.error();
    if (map->FindStage(st.id) != nullptr) {
      return MapError(PathJoin(path, "id"), "duplicate stage id \"" + st.id + "\"");
    }
    st.name = st.id;
    if (!(s = ReadOptionalString(sv, path, "name", &st.name))) return s.error();
    std::int64_t rank = static_cast<std::int64_t>(i);
    if (!(s = ReadInt(sv, path, "rank", -1000, 1000, &rank))) return s.error();
    st.rank = static_cast<int>(rank);
    std::string phase = "before";
    if (!(s = ReadOptionalString(sv, path, "phase", &phase))) return s.error();
    if (phase != "before" && phase != "after") {
      return MapError(PathJoin(path, "phase"), "expected \"before\" or \"after\" (conversion)");
    }
    st.phase = phase == "after" ? Phase::kAfter : Phase::kBefore;
    if (!(s = ReadOptionalString(sv, path, "description", &ignored))) return s.error();
    map->stages.push_back(st);
  }
  map->initial = map->stages.front().id;
  if (Member(doc, "initial") != nullptr) {
    if (!(s = ReadId(doc, "", "initial", &map->initial))) return s.error();
    if (map->FindStage(map->initial) == nullptr) {
      return MapError("initial", "unknown stage \"" + map->initial + "\"");
    }
  }

  auto check_stage = [&](const std::string& id, const std::string& path) -> Status {
    if (map->FindStage(id) == nullptr) return MapError(path, "unknown stage \"" + id + "\"");
    return {};
  };
  std::vector<std::pair<std::string, std::string>> used_events;

  // Transitions.
  if (const json* transitions = Member(doc, "transitions")) {
    if (!transitions->is_array()) return MapError("transitions", "expected an array");
    for (std::size_t i = 0; i < transitions->size(); ++i) {
      const json& tv = (*transitions)[i];
      std::string path = PathIndex("transitions", i);
      if (!tv.is_object()) return MapError(path, "expected an object");
      if (!(s = CheckKeys(tv, path, {"id", "from", "to", "priority", "when", "description"}))) {
        return s.error();
      }
      Transition t;
      t.order = i;
      if (!(s = ReadId(tv, path, "id", &t.id))) return s.error();
      for (const auto& other : map->transitions) {
        if (other.id == t.id) return MapError(PathJoin(path, "id"), "duplicate transition id");
      }
      const json* from = Member(tv, "from");
      if (from == nullptr)
        return MapError(PathJoin(path, "from"), "required (a stage, a list, or \"*\")");
      bool any = false;
      if (!(s = ReadNameList(*from, PathJoin(path, "from"), &t.from, &any))) return s.error();
      if (any && !t.from.empty()) {
        return MapError(PathJoin(path, "from"), "\"*\" cannot be combined with stage ids");
      }
      for (std::size_t k = 0; k < t.from.size(); ++k) {
        std::string fpath =
            from->is_array() ? PathIndex(PathJoin(path, "from"), k) : PathJoin(path, "from");
        if (!(s = check_stage(t.from[k], fpath))) return s.error();
      }
      const json* to = Member(tv, "to");
      if (to == nullptr || !to->is_string())
        return MapError(PathJoin(path, "to"), "expected a stage id");
      t.to = to->get<std::string>();
      if (t.to != "$previous" && !(s = check_stage(t.to, PathJoin(path, "to")))) return s.error();
      std::int64_t priority = 0;
      if (!(s = ReadInt(tv, path, "priority", -1000000, 1000000, &priority))) return s.error();
      t.priority = static_cast<int>(priority);
      const json* when = Member(tv, "when");
      if (when == nullptr) return MapError(PathJoin(path, "when"), "required");
      auto cond = ParseCondition(*when, PathJoin(path, "when"));
      if (!cond) return cond.error();
      t.when = std::move(cond).value();
      t.timed = HasInactivity(t.when) && !HasEventTest(t.when);
      if (HasInactivity(t.when) && HasEventTest(t.when)) {
        return MapError(PathJoin(path, "when"),
                        "inactive_for cannot be combined with event or field tests (a timed "
                        "transition fires when time passes, not on an event)");
      }
      std::string ignored_desc;
      if (!(s = ReadOptionalString(tv, path, "description", &ignored_desc))) return s.error();
      map->transitions.push_back(std::move(t));
    }
  }

  for (auto& t : map->transitions) {
    for (const auto& f : t.from) t.from_mask |= std::uint64_t{1} << map->StageIndex(f);
    t.longest_inactivity = LongestInactivity(t.when);
  }
  map->transition_order.resize(map->transitions.size());
  for (std::size_t i = 0; i < map->transitions.size(); ++i) map->transition_order[i] = i;
  std::stable_sort(map->transition_order.begin(), map->transition_order.end(),
                   [&](std::size_t a, std::size_t b) {
                     return map->transitions[a].priority > map->transitions[b].priority;
                   });

  // Scoring.
  if (const json* scoring = Member(doc, "scoring")) {
    const std::string path = "scoring";
    if (!scoring->is_object()) return MapError(path, "expected an object");
    if (!(s = CheckKeys(*scoring, path, {"half_life", "cap", "groups", "rules"}))) return s.error();
    if (!(s = ReadDuration(*scoring, path, "half_life", &map->scoring.half_life))) return s.error();
    if (!(s = ReadNumber(*scoring, path, "cap", 0, 1e9, &map->scoring.cap))) return s.error();
    if (const json* groups = Member(*scoring, "groups")) {
      if (!groups->is_object()) return MapError("scoring.groups", "expected an object");
      for (auto it = groups->begin(); it != groups->end(); ++it) {
        std::string gpath = PathJoin("scoring.groups", it.key());
        if (!IsIdentifier(it.key())) return MapError(gpath, "expected an id as group name");
        if (!it.value().is_object()) return MapError(gpath, "expected an object");
        if (!(s = CheckKeys(it.value(), gpath, {"cap"}))) return s.error();
        double cap = 0;
        if (!(s = ReadNumber(it.value(), gpath, "cap", 0, 1e9, &cap))) return s.error();
        map->scoring.group_caps[it.key()] = cap;
      }
    }
    if (const json* rules = Member(*scoring, "rules")) {
      if (!rules->is_array()) return MapError("scoring.rules", "expected an array");
      for (std::size_t i = 0; i < rules->size(); ++i) {
        const json& rv = (*rules)[i];
        std::string rpath = PathIndex("scoring.rules", i);
        if (!rv.is_object()) return MapError(rpath, "expected an object");
        if (!(s = CheckKeys(rv, rpath, {"id", "when", "points", "once", "group"})))
          return s.error();
        ScoringRule r;
        if (!(s = ReadId(rv, rpath, "id", &r.id))) return s.error();
        for (const auto& other : map->scoring.rules) {
          if (other.id == r.id) return MapError(PathJoin(rpath, "id"), "duplicate rule id");
        }
        if (Member(rv, "points") == nullptr) return MapError(PathJoin(rpath, "points"), "required");
        if (!(s = ReadNumber(rv, rpath, "points", -1e6, 1e6, &r.points))) return s.error();
        if (!(s = ReadBool(rv, rpath, "once", &r.once))) return s.error();
        if (!(s = ReadOptionalString(rv, rpath, "group", &r.group))) return s.error();
        if (!r.group.empty() && !IsIdentifier(r.group)) {
          return MapError(PathJoin(rpath, "group"), "expected an id as group name");
        }
        if (!r.group.empty() && map->scoring.group_caps.count(r.group) == 0) {
          map->scoring.group_caps[r.group] = 0;  // a group without a cap
        }
        const json* when = Member(rv, "when");
        if (when == nullptr) return MapError(PathJoin(rpath, "when"), "required");
        auto cond = ParseCondition(*when, PathJoin(rpath, "when"));
        if (!cond) return cond.error();
        r.when = std::move(cond).value();
        if (HasInactivity(r.when)) {
          return MapError(PathJoin(rpath, "when"),
                          "scoring rules run on events; inactive_for is not allowed");
        }
        map->scoring.rules.push_back(std::move(r));
      }
    }
  }

  // Content.
  if (const json* content = Member(doc, "content")) {
    if (!content->is_object()) return MapError("content", "expected an object");
    if (!(s = CheckKeys(*content, "content", {"slots"}))) return s.error();
    const json* slots = Member(*content, "slots");
    if (slots != nullptr) {
      if (!slots->is_array()) return MapError("content.slots", "expected an array");
      for (std::size_t i = 0; i < slots->size(); ++i) {
        const json& sv = (*slots)[i];
        std::string spath = PathIndex("content.slots", i);
        if (!sv.is_object()) return MapError(spath, "expected an object");
        if (!(s = CheckKeys(sv, spath, {"id", "variants", "default", "description"})))
          return s.error();
        Slot slot;
        if (!(s = ReadId(sv, spath, "id", &slot.id))) return s.error();
        for (const auto& other : map->slots) {
          if (other.id == slot.id) return MapError(PathJoin(spath, "id"), "duplicate slot id");
        }
        if (const json* variants = Member(sv, "variants")) {
          std::string vpath0 = PathJoin(spath, "variants");
          if (!variants->is_array()) return MapError(vpath0, "expected an array");
          for (std::size_t k = 0; k < variants->size(); ++k) {
            const json& vv = (*variants)[k];
            std::string vpath = PathIndex(vpath0, k);
            if (!vv.is_object()) return MapError(vpath, "expected an object");
            if (!(s = CheckKeys(vv, vpath, {"id", "priority", "when", "content"})))
              return s.error();
            Variant var;
            var.order = k;
            if (!(s = ReadId(vv, vpath, "id", &var.id))) return s.error();
            std::int64_t prio = 0;
            if (!(s = ReadInt(vv, vpath, "priority", -1000000, 1000000, &prio))) return s.error();
            var.priority = static_cast<int>(prio);
            const json* when = Member(vv, "when");
            if (when == nullptr) return MapError(PathJoin(vpath, "when"), "required");
            auto cond = ParseCondition(*when, PathJoin(vpath, "when"));
            if (!cond) return cond.error();
            var.when = std::move(cond).value();
            const json* c = Member(vv, "content");
            if (c == nullptr) return MapError(PathJoin(vpath, "content"), "required");
            if (!(s = ParseContent(*c, PathJoin(vpath, "content"), &var.content))) return s.error();
            slot.variants.push_back(std::move(var));
          }
        }
        std::stable_sort(
            slot.variants.begin(), slot.variants.end(),
            [](const Variant& a, const Variant& b) { return a.priority > b.priority; });
        if (const json* def = Member(sv, "default")) {
          std::string dpath = PathJoin(spath, "default");
          if (!def->is_object()) return MapError(dpath, "expected an object");
          if (!(s = CheckKeys(*def, dpath, {"id", "content"}))) return s.error();
          Variant var;
          if (!(s = ReadId(*def, dpath, "id", &var.id))) return s.error();
          const json* c = Member(*def, "content");
          if (c == nullptr) return MapError(PathJoin(dpath, "content"), "required");
          if (!(s = ParseContent(*c, PathJoin(dpath, "content"), &var.content))) return s.error();
          slot.fallback = std::move(var);
        }
        map->slots.push_back(std::move(slot));
      }
    }
  }

  // Sync filters.
  if (const json* sync = Member(doc, "sync")) {
    if (!sync->is_object()) return MapError("sync", "expected an object");
    if (!(s = CheckKeys(*sync, "sync", {"default", "stages"}))) return s.error();
    if (const json* def = Member(*sync, "default")) {
      if (!(s = ParseSyncFilter(*def, "sync.default", &map->sync_default))) return s.error();
    }
    if (const json* per = Member(*sync, "stages")) {
      if (!per->is_object()) return MapError("sync.stages", "expected an object");
      for (auto it = per->begin(); it != per->end(); ++it) {
        std::string path = PathJoin("sync.stages", it.key());
        if (!(s = check_stage(it.key(), path))) return s.error();
        SyncFilter f;
        if (!(s = ParseSyncFilter(it.value(), path, &f))) return s.error();
        map->sync_stages[it.key()] = f;
      }
    }
  }

  // Noise rules.
  if (const json* noise = Member(doc, "noise")) {
    if (!noise->is_object()) return MapError("noise", "expected an object");
    if (!(s = CheckKeys(*noise, "noise", {"fold_window", "throttles", "log_cap"})))
      return s.error();
    if (!(s = ReadDuration(*noise, "noise", "fold_window", &map->noise.fold_window)))
      return s.error();
    std::int64_t cap = static_cast<std::int64_t>(map->noise.log_cap);
    if (!(s = ReadInt(*noise, "noise", "log_cap", 10, 100000, &cap))) return s.error();
    map->noise.log_cap = static_cast<std::size_t>(cap);
    if (const json* throttles = Member(*noise, "throttles")) {
      if (!throttles->is_array()) return MapError("noise.throttles", "expected an array");
      for (std::size_t i = 0; i < throttles->size(); ++i) {
        const json& tv = (*throttles)[i];
        std::string path = PathIndex("noise.throttles", i);
        if (!tv.is_object()) return MapError(path, "expected an object");
        if (!(s = CheckKeys(tv, path, {"event", "limit", "per"}))) return s.error();
        Throttle t;
        const json* ev = Member(tv, "event");
        if (ev == nullptr || !ev->is_string())
          return MapError(PathJoin(path, "event"), "expected an event name");
        t.event = ev->get<std::string>();
        used_events.emplace_back(t.event, PathJoin(path, "event"));
        if (Member(tv, "limit") == nullptr) return MapError(PathJoin(path, "limit"), "required");
        if (!(s = ReadInt(tv, path, "limit", 1, 1000000, &t.limit))) return s.error();
        if (Member(tv, "per") == nullptr) return MapError(PathJoin(path, "per"), "required");
        if (!(s = ReadDuration(tv, path, "per", &t.per))) return s.error();
        if (t.per <= 0) return MapError(PathJoin(path, "per"), "expected a duration");
        map->noise.throttles.push_back(t);
      }
    }
  }

  // Triggers.
  if (const json* triggers = Member(doc, "triggers")) {
    if (!triggers->is_array()) return MapError("triggers", "expected an array");
    for (std::size_t i = 0; i < triggers->size(); ++i) {
      const json& tv = (*triggers)[i];
      std::string path = PathIndex("triggers", i);
      if (!tv.is_object()) return MapError(path, "expected an object");
      if (!(s = CheckKeys(tv, path, {"id", "on", "when", "description"}))) return s.error();
      TriggerDef t;
      if (!(s = ReadId(tv, path, "id", &t.id))) return s.error();
      for (const auto& other : map->triggers) {
        if (other.id == t.id) return MapError(PathJoin(path, "id"), "duplicate trigger id");
      }
      const json* on = Member(tv, "on");
      std::string opath = PathJoin(path, "on");
      if (on == nullptr || !on->is_object()) {
        return MapError(opath, "expected an object with from/to/rule (a transition) or event");
      }
      if (!(s = CheckKeys(*on, opath, {"from", "to", "rule", "event"}))) return s.error();
      bool any = false;
      if (const json* f = Member(*on, "from")) {
        if (!(s = ReadNameList(*f, PathJoin(opath, "from"), &t.from, &any))) return s.error();
        for (const auto& st : t.from) {
          if (!(s = check_stage(st, PathJoin(opath, "from")))) return s.error();
        }
      }
      if (const json* to = Member(*on, "to")) {
        if (!(s = ReadNameList(*to, PathJoin(opath, "to"), &t.to, &any))) return s.error();
        for (const auto& st : t.to) {
          if (!(s = check_stage(st, PathJoin(opath, "to")))) return s.error();
        }
      }
      if (!(s = ReadOptionalString(*on, opath, "rule", &t.rule))) return s.error();
      if (!t.rule.empty()) {
        bool found = false;
        for (const auto& tr : map->transitions) found = found || tr.id == t.rule;
        if (!found)
          return MapError(PathJoin(opath, "rule"), "unknown transition \"" + t.rule + "\"");
      }
      if (const json* ev = Member(*on, "event")) {
        if (!(s = ReadNameList(*ev, PathJoin(opath, "event"), &t.events, nullptr)))
          return s.error();
        if (!t.from.empty() || !t.to.empty() || !t.rule.empty()) {
          return MapError(opath, "an event trigger cannot also name from, to or rule");
        }
        for (const auto& n : t.events) used_events.emplace_back(n, PathJoin(opath, "event"));
      } else if (t.from.empty() && t.to.empty() && t.rule.empty() && !any) {
        return MapError(opath, "expected from, to, rule or event");
      }
      if (const json* when = Member(tv, "when")) {
        auto cond = ParseCondition(*when, PathJoin(path, "when"));
        if (!cond) return cond.error();
        t.when = std::move(cond).value();
      }
      std::string ignored_desc;
      if (!(s = ReadOptionalString(tv, path, "description", &ignored_desc))) return s.error();
      map->triggers.push_back(std::move(t));
    }
  }

  // Attribution.
  if (const json* attr = Member(doc, "attribution")) {
    const std::string path = "attribution";
    if (!attr->is_object()) return MapError(path, "expected an object");
    if (!(s = CheckKeys(*attr, path, {"lookback", "half_life", "position", "conversions"}))) {
      return s.error();
    }
    auto& a = map->attribution;
    if (!(s = ReadDuration(*attr, path, "lookback", &a.lookback))) return s.error();
    if (!(s = ReadDuration(*attr, path, "half_life", &a.half_life))) return s.error();
    if (const json* pos = Member(*attr, "position")) {
      std::string ppath = "attribution.position";
      if (!pos->is_object()) return MapError(ppath, "expected an object");
      if (!(s = CheckKeys(*pos, ppath, {"first", "last"}))) return s.error();
      if (!(s = ReadNumber(*pos, ppath, "first", 0, 1, &a.first_weight))) return s.error();
      if (!(s = ReadNumber(*pos, ppath, "last", 0, 1, &a.last_weight))) return s.error();
      if (a.first_weight + a.last_weight > 1.0 + 1e-9) {
        return MapError(ppath, "first + last must not exceed 1");
      }
    }
    if (const json* conv = Member(*attr, "conversions")) {
      if (!(s = ReadNameList(*conv, "attribution.conversions", &a.conversions, nullptr))) {
        return s.error();
      }
      for (const auto& st : a.conversions) {
        if (!(s = check_stage(st, "attribution.conversions"))) return s.error();
      }
    }
  }
  if (map->attribution.conversions.empty()) {
    // By default the lowest-ranked stage after conversion counts as the conversion; side stages
    // with negative ranks (churned, ...) are not conversions.
    const Stage* first_after = nullptr;
    for (const auto& st : map->stages) {
      if (st.phase == Phase::kAfter && st.rank >= 0 &&
          (first_after == nullptr || st.rank < first_after->rank)) {
        first_after = &st;
      }
    }
    if (first_after != nullptr) map->attribution.conversions.push_back(first_after->id);
  }

  // Identity guards.
  if (const json* identity = Member(doc, "identity")) {
    if (!identity->is_object()) return MapError("identity", "expected an object");
    if (!(s = CheckKeys(*identity, "identity", {"blocked_ids"}))) return s.error();
    if (const json* blocked = Member(*identity, "blocked_ids")) {
      if (!(s = ReadNameList(*blocked, "identity.blocked_ids", &map->blocked_ids, nullptr))) {
        return s.error();
      }
    }
  }

  // Every condition's stage, group and event references, checked once everything is known.
  std::vector<std::pair<const Condition*, std::string>> conditions;
  for (std::size_t i = 0; i < map->transitions.size(); ++i) {
    conditions.emplace_back(&map->transitions[i].when,
                            PathJoin(PathIndex("transitions", i), "when"));
  }
  for (std::size_t i = 0; i < map->scoring.rules.size(); ++i) {
    conditions.emplace_back(&map->scoring.rules[i].when,
                            PathJoin(PathIndex("scoring.rules", i), "when"));
  }
  for (std::size_t i = 0; i < map->slots.size(); ++i) {
    for (const auto& v : map->slots[i].variants) {
      conditions.emplace_back(
          &v.when, PathJoin(PathIndex(PathJoin(PathIndex("content.slots", i), "variants"), v.order),
                            "when"));
    }
  }
  for (std::size_t i = 0; i < map->triggers.size(); ++i) {
    if (map->triggers[i].when) {
      conditions.emplace_back(&*map->triggers[i].when, PathJoin(PathIndex("triggers", i), "when"));
    }
  }
  std::set<std::string> reads;
  for (const auto& [cond, path] : conditions) CollectPropertyReads(*cond, &reads);
  for (const auto& read : reads) {
    // "a" covers "a.b": the whole value of "a" is read, so "a.b" needs no entry of its own.
    const std::string* covering = nullptr;
    for (const auto& kept : map->property_reads) {
      if (read.compare(0, kept.size() + 1, kept + ".") == 0) covering = &kept;
    }
    if (covering == nullptr) map->property_reads.push_back(read);
  }
  for (const auto& [cond, path] : conditions) {
    std::vector<std::string> stage_refs;
    CollectStageNames(*cond, &stage_refs);
    for (const auto& st : stage_refs) {
      if (!(s = check_stage(st, path))) return s.error();
    }
    std::vector<std::string> groups;
    CollectScoreGroups(*cond, &groups);
    for (const auto& g : groups) {
      if (map->scoring.group_caps.count(g) == 0) {
        return MapError(path, "unknown score group \"" + g + "\"");
      }
    }
    CollectEventNames(*cond, path, &used_events);
  }

  // Every event name a condition uses must be a canonical name: an alias there is a mistake
  // (events are canonicalized before rules see them, so it would never match).
  for (const auto& [name, path] : used_events) {
    if (map->alias_index.count(name) != 0) {
      return MapError(path, "\"" + name + "\" is an alias; use the event name \"" +
                                map->alias_index.at(name) + "\"");
    }
    if (map->events.count(name) == 0 && !IsConventionalEventName(name)) {
      return MapError(path, "\"" + name + "\" is not snake_case object_action");
    }
    if (map->reject_unknown_events && map->events.count(name) == 0) {
      return MapError(path, "\"" + name + "\" is not in the event registry");
    }
  }
  return std::shared_ptr<const JourneyMap>(std::move(map));
}

}  // namespace waymark
