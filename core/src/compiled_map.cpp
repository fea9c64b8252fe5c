// The compiled journey map (waymark/compiled_map.h): a writer and a bounds-checked reader of the
// same field order. Every Write* below has its Read* twin; change both, and the format version.
#include "waymark/compiled_map.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace waymark {

namespace {

constexpr std::string_view kMagic = "WMAP";
constexpr std::size_t kHeaderBytes = 4 + 1 + 8;
constexpr int kMaxNesting = 64;  // conditions and operand values, as the JSON parser allows

class Writer {
 public:
  void U(std::uint64_t v) {
    do {
      std::uint8_t byte = v & 0x7f;
      v >>= 7;
      if (v != 0) byte |= 0x80;
      out_.push_back(static_cast<char>(byte));
    } while (v != 0);
  }
  void I(std::int64_t v) {
    U((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void B(bool v) { U(v ? 1 : 0); }
  void D(double v) {
    char raw[8];
    std::memcpy(raw, &v, 8);
    out_.append(raw, 8);
  }
  void S(std::string_view s) {
    U(s.size());
    out_.append(s.data(), s.size());
  }
  template <typename List>
  void Strings(const List& list) {
    U(list.size());
    for (const auto& s : list) S(s);
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_ && pos_ == bytes_.size(); }
  bool failed() const { return !ok_; }
  void Fail() { ok_ = false; }

  std::uint64_t U() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) break;
      const auto byte = static_cast<std::uint8_t>(bytes_[pos_++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  std::int64_t I() {
    const std::uint64_t z = U();
    return static_cast<std::int64_t>(z >> 1) ^ -static_cast<std::int64_t>(z & 1);
  }
  bool B() { return U() != 0; }
  double D() {
    double v = 0;
    if (bytes_.size() - pos_ < 8) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, bytes_.data() + pos_, 8);
    pos_ += 8;
    return v;
  }
  std::string S() {
    const std::uint64_t n = U();
    if (!ok_ || n > bytes_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  // A count of items that take at least one byte each: never more than the bytes left, so a
  // lying count cannot make the reader allocate without bound.
  std::size_t Count() {
    const std::uint64_t n = U();
    if (!ok_ || n > bytes_.size() - pos_) {
      ok_ = false;
      return 0;
    }
    return static_cast<std::size_t>(n);
  }
  template <typename List>
  void Strings(List* list) {
    for (std::size_t n = Count(); n > 0 && ok_; --n) list->insert(list->end(), S());
  }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// ---- values (condition operands) ------------------------------------------------------------

enum ValueTag : std::uint8_t {
  kNull,
  kFalse,
  kTrue,
  kInt,
  kUint,
  kDouble,
  kString,
  kArray,
  kObject
};

void WriteValue(Writer& w, const json& v) {
  if (v.is_null()) {
    w.U(kNull);
  } else if (v.is_boolean()) {
    w.U(v.get<bool>() ? kTrue : kFalse);
  } else if (v.is_number_unsigned()) {
    w.U(kUint);
    w.U(v.get<std::uint64_t>());
  } else if (v.is_number_integer()) {
    w.U(kInt);
    w.I(v.get<std::int64_t>());
  } else if (v.is_number_float()) {
    w.U(kDouble);
    w.D(v.get<double>());
  } else if (v.is_string()) {
    w.U(kString);
    w.S(v.get_ref<const std::string&>());
  } else if (v.is_array()) {
    w.U(kArray);
    w.U(v.size());
    for (const auto& item : v) WriteValue(w, item);
  } else {
    w.U(kObject);
    w.U(v.size());
    for (auto it = v.begin(); it != v.end(); ++it) {
      w.S(it.key());
      WriteValue(w, it.value());
    }
  }
}

json ReadValue(Reader& r, int depth) {
  if (depth > kMaxNesting) {
    r.Fail();
    return nullptr;
  }
  switch (r.U()) {
    case kNull:
      return nullptr;
    case kFalse:
      return false;
    case kTrue:
      return true;
    case kInt:
      return r.I();
    case kUint:
      return r.U();
    case kDouble:
      return r.D();
    case kString:
      return r.S();
    case kArray: {
      json out = json::array();
      for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
        out.push_back(ReadValue(r, depth + 1));
      }
      return out;
    }
    case kObject: {
      json out = json::object();
      for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
        std::string key = r.S();
        out[key] = ReadValue(r, depth + 1);
      }
      return out;
    }
    default:
      r.Fail();
      return nullptr;
  }
}

// ---- conditions -------------------------------------------------------------------------------

void WriteCondition(Writer& w, const Condition& c) {
  w.U(static_cast<std::uint64_t>(c.kind));
  w.Strings(c.names);
  w.B(c.any_event);
  w.S(c.field);
  w.U(static_cast<std::uint64_t>(c.op));
  WriteValue(w, c.operand);
  w.I(c.at_least);
  w.I(c.at_most);
  w.I(c.within);
  w.I(c.duration);
  w.U(c.children.size());
  for (const auto& child : c.children) WriteCondition(w, child);
}

Condition ReadCondition(Reader& r, int depth) {
  Condition c;
  if (depth > kMaxNesting) {
    r.Fail();
    return c;
  }
  const std::uint64_t kind = r.U();
  if (kind > static_cast<std::uint64_t>(ConditionKind::kNot)) r.Fail();
  c.kind = static_cast<ConditionKind>(kind);
  r.Strings(&c.names);
  c.any_event = r.B();
  c.field = r.S();
  const std::uint64_t op = r.U();
  if (op > static_cast<std::uint64_t>(CompareOp::kPrefix)) r.Fail();
  c.op = static_cast<CompareOp>(op);
  c.operand = ReadValue(r, depth + 1);
  c.at_least = r.I();
  c.at_most = r.I();
  c.within = r.I();
  c.duration = r.I();
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    c.children.push_back(ReadCondition(r, depth + 1));
  }
  if (c.kind == ConditionKind::kNot && c.children.size() != 1) r.Fail();
  return c;
}

// ---- the map's parts --------------------------------------------------------------------------

void WriteContent(Writer& w, const Content& c) {
  w.B(c.text.has_value());
  if (c.text) w.S(*c.text);
  w.U(c.attrs.size());
  for (const auto& [k, v] : c.attrs) {
    w.S(k);
    w.S(v);
  }
  w.B(c.hidden);
}

Content ReadContent(Reader& r) {
  Content c;
  if (r.B()) c.text = r.S();
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    std::string k = r.S();
    c.attrs[k] = r.S();
  }
  c.hidden = r.B();
  return c;
}

void WriteVariant(Writer& w, const Variant& v) {
  w.S(v.id);
  w.I(v.priority);
  WriteCondition(w, v.when);
  WriteContent(w, v.content);
  w.U(v.order);
}

Variant ReadVariant(Reader& r) {
  Variant v;
  v.id = r.S();
  v.priority = static_cast<int>(r.I());
  v.when = ReadCondition(r, 0);
  v.content = ReadContent(r);
  v.order = r.U();
  return v;
}

void WriteFilter(Writer& w, const SyncFilter& f) {
  w.B(f.all_events);
  w.Strings(f.events);
  w.B(f.all_properties);
  w.Strings(f.properties);
}

SyncFilter ReadFilter(Reader& r) {
  SyncFilter f;
  f.all_events = r.B();
  r.Strings(&f.events);
  f.all_properties = r.B();
  r.Strings(&f.properties);
  return f;
}

void WritePayload(Writer& w, const JourneyMap& m) {
  w.S(m.id);
  w.I(m.version);
  w.S(m.name);
  w.U(m.stages.size());
  for (const auto& s : m.stages) {
    w.S(s.id);
    w.S(s.name);
    w.I(s.rank);
    w.B(s.phase == Phase::kAfter);
  }
  w.S(m.initial);
  w.U(m.transitions.size());
  for (const auto& t : m.transitions) {
    w.S(t.id);
    w.Strings(t.from);
    w.S(t.to);
    w.I(t.priority);
    WriteCondition(w, t.when);
    w.B(t.timed);
    w.U(t.order);
    w.U(t.from_mask);
    w.I(t.longest_inactivity);
  }
  w.U(m.transition_order.size());
  for (std::size_t i : m.transition_order) w.U(i);
  w.I(m.scoring.half_life);
  w.D(m.scoring.cap);
  w.U(m.scoring.group_caps.size());
  for (const auto& [group, cap] : m.scoring.group_caps) {
    w.S(group);
    w.D(cap);
  }
  w.U(m.scoring.rules.size());
  for (const auto& rule : m.scoring.rules) {
    w.S(rule.id);
    WriteCondition(w, rule.when);
    w.D(rule.points);
    w.B(rule.once);
    w.S(rule.group);
  }
  w.U(m.slots.size());
  for (const auto& slot : m.slots) {
    w.S(slot.id);
    w.U(slot.variants.size());
    for (const auto& v : slot.variants) WriteVariant(w, v);
    w.B(slot.fallback.has_value());
    if (slot.fallback) WriteVariant(w, *slot.fallback);
  }
  WriteFilter(w, m.sync_default);
  w.U(m.sync_stages.size());
  for (const auto& [stage, filter] : m.sync_stages) {
    w.S(stage);
    WriteFilter(w, filter);
  }
  w.I(m.noise.fold_window);
  w.U(m.noise.throttles.size());
  for (const auto& t : m.noise.throttles) {
    w.S(t.event);
    w.I(t.limit);
    w.I(t.per);
  }
  w.U(m.noise.log_cap);
  w.U(m.triggers.size());
  for (const auto& t : m.triggers) {
    w.S(t.id);
    w.Strings(t.from);
    w.Strings(t.to);
    w.S(t.rule);
    w.Strings(t.events);
    w.B(t.when.has_value());
    if (t.when) WriteCondition(w, *t.when);
  }
  w.I(m.attribution.lookback);
  w.I(m.attribution.half_life);
  w.D(m.attribution.first_weight);
  w.D(m.attribution.last_weight);
  w.Strings(m.attribution.conversions);
  w.U(m.events.size());
  for (const auto& [name, def] : m.events) {
    w.S(name);
    w.Strings(def.aliases);
    w.S(def.description);
  }
  w.B(m.reject_unknown_events);
  w.Strings(m.blocked_ids);
  w.U(m.alias_index.size());
  for (const auto& [alias, name] : m.alias_index) {
    w.S(alias);
    w.S(name);
  }
  w.Strings(m.property_reads);
}

void ReadPayload(Reader& r, JourneyMap* m) {
  m->id = r.S();
  m->version = r.I();
  m->name = r.S();
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    Stage s;
    s.id = r.S();
    s.name = r.S();
    s.rank = static_cast<int>(r.I());
    s.phase = r.B() ? Phase::kAfter : Phase::kBefore;
    m->stages.push_back(std::move(s));
  }
  m->initial = r.S();
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    Transition t;
    t.id = r.S();
    r.Strings(&t.from);
    t.to = r.S();
    t.priority = static_cast<int>(r.I());
    t.when = ReadCondition(r, 0);
    t.timed = r.B();
    t.order = r.U();
    t.from_mask = r.U();
    t.longest_inactivity = r.I();
    m->transitions.push_back(std::move(t));
  }
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) m->transition_order.push_back(r.U());
  m->scoring.half_life = r.I();
  m->scoring.cap = r.D();
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    std::string group = r.S();
    m->scoring.group_caps[group] = r.D();
  }
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    ScoringRule rule;
    rule.id = r.S();
    rule.when = ReadCondition(r, 0);
    rule.points = r.D();
    rule.once = r.B();
    rule.group = r.S();
    m->scoring.rules.push_back(std::move(rule));
  }
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    Slot slot;
    slot.id = r.S();
    for (std::size_t k = r.Count(); k > 0 && !r.failed(); --k) {
      slot.variants.push_back(ReadVariant(r));
    }
    if (r.B()) slot.fallback = ReadVariant(r);
    m->slots.push_back(std::move(slot));
  }
  m->sync_default = ReadFilter(r);
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    std::string stage = r.S();
    m->sync_stages[stage] = ReadFilter(r);
  }
  m->noise.fold_window = r.I();
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    Throttle t;
    t.event = r.S();
    t.limit = r.I();
    t.per = r.I();
    m->noise.throttles.push_back(std::move(t));
  }
  m->noise.log_cap = r.U();
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    TriggerDef t;
    t.id = r.S();
    r.Strings(&t.from);
    r.Strings(&t.to);
    t.rule = r.S();
    r.Strings(&t.events);
    if (r.B()) t.when = ReadCondition(r, 0);
    m->triggers.push_back(std::move(t));
  }
  m->attribution.lookback = r.I();
  m->attribution.half_life = r.I();
  m->attribution.first_weight = r.D();
  m->attribution.last_weight = r.D();
  r.Strings(&m->attribution.conversions);
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    EventDef def;
    def.name = r.S();
    r.Strings(&def.aliases);
    def.description = r.S();
    m->events[def.name] = std::move(def);
  }
  m->reject_unknown_events = r.B();
  r.Strings(&m->blocked_ids);
  for (std::size_t n = r.Count(); n > 0 && !r.failed(); --n) {
    std::string alias = r.S();
    m->alias_index[alias] = r.S();
  }
  r.Strings(&m->property_reads);
}

Error Corrupt(const std::string& what) { return MakeError("map_corrupt", "compiled map: " + what); }

bool InRange(TimeMs d) { return d >= 0 && d <= kMaxDuration; }

// Every duration of a condition tree within what parsing allows.
bool ConditionDurationsInRange(const Condition& c) {
  if (!InRange(c.within) || !InRange(c.duration)) return false;
  for (const auto& child : c.children) {
    if (!ConditionDurationsInRange(child)) return false;
  }
  return true;
}

bool DurationsInRange(const JourneyMap& m) {
  if (!InRange(m.scoring.half_life) || !InRange(m.noise.fold_window) ||
      !InRange(m.attribution.lookback) || !InRange(m.attribution.half_life)) {
    return false;
  }
  for (const auto& t : m.noise.throttles) {
    if (!InRange(t.per)) return false;
  }
  for (const auto& t : m.transitions) {
    if (!InRange(t.longest_inactivity) || !ConditionDurationsInRange(t.when)) return false;
  }
  for (const auto& r : m.scoring.rules) {
    if (!ConditionDurationsInRange(r.when)) return false;
  }
  for (const auto& slot : m.slots) {
    for (const auto& v : slot.variants) {
      if (!ConditionDurationsInRange(v.when)) return false;
    }
    if (slot.fallback && !ConditionDurationsInRange(slot.fallback->when)) return false;
  }
  for (const auto& t : m.triggers) {
    if (t.when && !ConditionDurationsInRange(*t.when)) return false;
  }
  return true;
}

// What the engine relies on without checking again (indices, the initial stage, stage masks,
// durations that time arithmetic adds): checked once here, so crafted bytes with a good checksum
// still cannot misdirect it.
Status CheckReferences(const JourneyMap& m) {
  if (m.stages.empty() || m.stages.size() > 64) return Corrupt("1 to 64 stages expected");
  if (m.FindStage(m.initial) == nullptr) return Corrupt("the initial stage is not a stage");
  if (m.transition_order.size() != m.transitions.size()) {
    return Corrupt("transition order does not cover the transitions");
  }
  std::vector<bool> seen(m.transitions.size(), false);
  for (std::size_t i : m.transition_order) {
    if (i >= seen.size() || seen[i]) return Corrupt("transition order is not a permutation");
    seen[i] = true;
  }
  for (const auto& t : m.transitions) {
    if (t.to != "$previous" && m.FindStage(t.to) == nullptr) {
      return Corrupt("transition \"" + t.id + "\" leads to no stage");
    }
  }
  if (m.noise.log_cap == 0) return Corrupt("the log cap is 0");
  if (!DurationsInRange(m)) return Corrupt("a duration is negative or longer than 100 years");
  return {};
}

}  // namespace

std::uint64_t Fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string CompileMap(const JourneyMap& map) {
  Writer payload;
  WritePayload(payload, map);
  std::string out(kMagic);
  out.push_back(static_cast<char>(kCompiledMapVersion));
  const std::uint64_t sum = Fnv1a64(payload.out());
  char raw[8];
  std::memcpy(raw, &sum, 8);
  out.append(raw, 8);
  out += payload.out();
  return out;
}

bool LooksCompiled(std::string_view bytes) { return bytes.substr(0, kMagic.size()) == kMagic; }

Result<std::shared_ptr<const JourneyMap>> LoadCompiledMap(std::string_view bytes) {
  if (!LooksCompiled(bytes) || bytes.size() < kHeaderBytes) return Corrupt("not a compiled map");
  const auto version = static_cast<std::uint8_t>(bytes[kMagic.size()]);
  if (version != kCompiledMapVersion) {
    return MakeError("map_version", "compiled map: format version " + std::to_string(version) +
                                        ", this engine reads version " +
                                        std::to_string(kCompiledMapVersion));
  }
  std::uint64_t sum = 0;
  std::memcpy(&sum, bytes.data() + kMagic.size() + 1, 8);
  const std::string_view payload = bytes.substr(kHeaderBytes);
  if (Fnv1a64(payload) != sum) return Corrupt("checksum mismatch");
  auto map = std::make_shared<JourneyMap>();
  Reader r(payload);
  ReadPayload(r, map.get());
  if (!r.ok()) return Corrupt("truncated or malformed payload");
  if (Status s = CheckReferences(*map); !s) return s.error();
  return std::shared_ptr<const JourneyMap>(std::move(map));
}

}  // namespace waymark
