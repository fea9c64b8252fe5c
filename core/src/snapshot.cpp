// Snapshots: the whole engine state as one string the browser can keep in IndexedDB and the
// collector in SQLite. Format: "wms1:<fnv1a-32 hex of payload>:<payload JSON>". The checksum turns
// truncation and bit rot into a clear error instead of a half-restored state.
#include <cstdio>

#include "engine_internal.h"

namespace waymark {

namespace {

constexpr const char* kMagic = "wms1:";
constexpr std::int64_t kFormatVersion = 1;
constexpr std::size_t kMaxSnapshotBytes = 16 * 1024 * 1024;

std::string Fnv1a(std::string_view data) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : data) {
    h ^= c;
    h *= 16777619u;
  }
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", h);
  return buf;
}

Error Corrupt(const std::string& what) {
  return MakeError("snapshot_corrupt", "snapshot: " + what + "; starting from a fresh state");
}

bool GetString(const json& obj, const char* key, std::string* out) {
  const json* v = Member(obj, key);
  if (v == nullptr || !v->is_string()) return false;
  *out = v->get<std::string>();
  return true;
}

bool GetTime(const json& obj, const char* key, TimeMs* out) {
  const json* v = Member(obj, key);
  return v != nullptr && GetInt64(*v, out);
}

}  // namespace

std::string Engine::Snapshot() const {
  json p = json::object();
  p["v"] = kFormatVersion;
  p["map"] = map_->id;
  p["mv"] = map_->version;
  p["anon"] = anonymous_id_;
  p["uid"] = user_id_;
  p["aliases"] = aliases_;
  p["traits"] = traits_;
  p["stage"] = stage_;
  p["prev"] = previous_stage_;
  p["entered"] = stage_entered_;
  p["last"] = last_activity_;
  json log = json::array();
  for (const auto& tp : log_) {
    json entry = json::array({EventToJson(tp.event), tp.at, tp.folded});
    // A fourth item since the typed boundary (same format version: older snapshots have three).
    if (tp.event.fingerprint != 0) entry.push_back(tp.event.fingerprint);
    log.push_back(std::move(entry));
  }
  p["log"] = std::move(log);
  json trs = json::array();
  for (const auto& r : transitions_) {
    trs.push_back(json::array({r.from, r.to, r.at, r.event_id, r.rule, r.map_version}));
  }
  p["tr"] = std::move(trs);
  json times = json::object();
  for (const auto& [id, t] : stage_times_) {
    times[id] = json::array({t.first_entered, t.last_entered, t.last_exited, t.total, t.visits});
  }
  p["st"] = std::move(times);
  json scores = json::object();
  json once = json::array();
  for (std::size_t i = 0; i < rule_scores_.size(); ++i) {
    const std::string& id = map_->scoring.rules[i].id;
    if (rule_scores_[i].awarded) scores[id] = rule_scores_[i].value;
    if (rule_scores_[i].once_fired) once.push_back(id);
  }
  p["sc"] = std::move(scores);
  p["sr"] = score_ref_;
  p["once"] = std::move(once);
  p["cnt"] = json::array({counters_.accepted, counters_.folded, counters_.throttled,
                          counters_.rejected, counters_.evicted});
  std::string payload = DumpJson(p);
  return std::string(kMagic) + Fnv1a(payload) + ":" + payload;
}

Status Engine::Restore(const std::string& snapshot) {
  Reset();
  const std::string magic = kMagic;
  // "wms<N>:" with another N is a snapshot of another format version, not damage.
  std::size_t colon = snapshot.find(':');
  bool versioned = snapshot.compare(0, 3, "wms") == 0 && colon != std::string::npos && colon > 3 &&
                   colon < 12 && snapshot.find_first_not_of("0123456789", 3) == colon;
  if (versioned && snapshot.compare(0, magic.size(), magic) != 0) {
    return MakeError("snapshot_version",
                     "snapshot: written by another format version; starting from a fresh state");
  }
  if (snapshot.size() < magic.size() + 10 || snapshot.compare(0, magic.size(), magic) != 0 ||
      snapshot[magic.size() + 8] != ':') {
    return Corrupt("not a waymark snapshot");
  }
  std::string_view payload = std::string_view(snapshot).substr(magic.size() + 9);
  if (Fnv1a(payload) != snapshot.substr(magic.size(), 8)) {
    return Corrupt("checksum mismatch (truncated or damaged)");
  }
  auto parsed = ParseJson(payload, kMaxSnapshotBytes, 32);
  if (!parsed) return Corrupt(parsed.error().message);
  const json& p = parsed.value();
  std::int64_t version = 0;
  const json* v = Member(p, "v");
  if (v == nullptr || !GetInt64(*v, &version)) return Corrupt("no format version");
  if (version != kFormatVersion) {
    return MakeError("snapshot_version", "snapshot: format version " + std::to_string(version) +
                                             " is not supported; starting from a fresh state");
  }
  std::string map_id;
  if (!GetString(p, "map", &map_id)) return Corrupt("no map id");
  if (map_id != map_->id) {
    return MakeError("snapshot_map_mismatch", "snapshot: taken under map \"" + map_id +
                                                  "\", not \"" + map_->id +
                                                  "\"; starting from a fresh state");
  }
  Engine e(map_, options_);
  bool ok = GetString(p, "anon", &e.anonymous_id_) && GetString(p, "uid", &e.user_id_) &&
            GetString(p, "stage", &e.stage_) && GetString(p, "prev", &e.previous_stage_) &&
            GetTime(p, "entered", &e.stage_entered_) && GetTime(p, "last", &e.last_activity_);
  ok = ok && GetTime(p, "sr", &e.score_ref_);
  if (!ok) return Corrupt("missing or mistyped fields");
  e.stage_index_ = map_->StageIndex(e.stage_);
  if (e.stage_index_ < 0) {
    return MakeError("snapshot_map_mismatch", "snapshot: stage \"" + e.stage_ +
                                                  "\" is not in the current map; starting from "
                                                  "a fresh state");
  }
  const json* aliases = Member(p, "aliases");
  const json* traits = Member(p, "traits");
  const json* log = Member(p, "log");
  const json* trs = Member(p, "tr");
  const json* times = Member(p, "st");
  const json* scores = Member(p, "sc");
  const json* once = Member(p, "once");
  const json* cnt = Member(p, "cnt");
  if (aliases == nullptr || !aliases->is_array() || traits == nullptr || !traits->is_object() ||
      log == nullptr || !log->is_array() || trs == nullptr || !trs->is_array() ||
      times == nullptr || !times->is_object() || scores == nullptr || !scores->is_object() ||
      once == nullptr || !once->is_array() || cnt == nullptr || !cnt->is_array() ||
      cnt->size() != 5) {
    return Corrupt("missing or mistyped sections");
  }
  for (const auto& a : *aliases) {
    if (!a.is_string()) return Corrupt("aliases");
    e.aliases_.push_back(a.get<std::string>());
  }
  e.traits_ = *traits;
  for (const auto& item : *log) {
    if (!item.is_array() || item.size() < 3 || item.size() > 4) return Corrupt("log entry");
    auto ev = EventFromJson(item[0], options_.limits);
    Touchpoint tp;
    if (!ev || !GetInt64(item[1], &tp.at) || !GetInt64(item[2], &tp.folded)) {
      return Corrupt("log entry");
    }
    tp.event = std::move(ev).value();
    if (item.size() == 4) {
      if (!item[3].is_number_unsigned()) return Corrupt("log entry");
      tp.event.fingerprint = item[3].get<std::uint64_t>();
    }
    e.log_.push_back(std::move(tp));
  }
  for (const auto& item : *trs) {
    if (!item.is_array() || item.size() != 6 || !item[0].is_string() || !item[1].is_string() ||
        !item[3].is_string() || !item[4].is_string()) {
      return Corrupt("transition entry");
    }
    TransitionRecord r;
    r.from = item[0].get<std::string>();
    r.to = item[1].get<std::string>();
    r.event_id = item[3].get<std::string>();
    r.rule = item[4].get<std::string>();
    if (!GetInt64(item[2], &r.at) || !GetInt64(item[5], &r.map_version)) {
      return Corrupt("transition entry");
    }
    e.transitions_.push_back(std::move(r));
  }
  for (auto it = times->begin(); it != times->end(); ++it) {
    const json& t = it.value();
    StageTime st;
    if (!t.is_array() || t.size() != 5 || !GetInt64(t[0], &st.first_entered) ||
        !GetInt64(t[1], &st.last_entered) || !GetInt64(t[2], &st.last_exited) ||
        !GetInt64(t[3], &st.total) || !GetInt64(t[4], &st.visits)) {
      return Corrupt("stage times");
    }
    e.stage_times_[it.key()] = st;
  }
  for (auto it = scores->begin(); it != scores->end(); ++it) {
    const json& s = it.value();
    RuleScore rs;
    if (!s.is_number()) return Corrupt("scores");
    rs.value = s.get<double>();
    rs.awarded = true;
    // Rules that the current map no longer has are dropped: their points no longer count.
    for (std::size_t i = 0; i < map_->scoring.rules.size(); ++i) {
      if (map_->scoring.rules[i].id == it.key()) {
        rs.once_fired = e.rule_scores_[i].once_fired;
        e.rule_scores_[i] = rs;
      }
    }
  }
  for (const auto& o : *once) {
    if (!o.is_string()) return Corrupt("once rules");
    for (std::size_t i = 0; i < map_->scoring.rules.size(); ++i) {
      if (map_->scoring.rules[i].id == o.get_ref<const std::string&>()) {
        e.rule_scores_[i].once_fired = true;
      }
    }
  }
  std::int64_t c[5];
  for (int i = 0; i < 5; ++i) {
    if (!GetInt64((*cnt)[i], &c[i])) return Corrupt("counters");
  }
  e.counters_ = Counters{c[0], c[1], c[2], c[3], c[4]};
  *this = std::move(e);
  return {};
}

}  // namespace waymark
