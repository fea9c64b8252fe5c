#include "reports/journey_context.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "storage/profile_key.h"
#include "storage/sql_dialect.h"
#include "waymark/engine.h"

namespace waymark::collector {

namespace {

constexpr std::size_t kMaxContributors = 5;
// The smallest a touchpoint can serialize to, with its comma: {"at":<13 digits>,"name":"a_b"}.
// Reading budget / this many candidates per query bounds the work without ever leaving out a
// touchpoint that could have fit.
constexpr std::size_t kMinTouchpointBytes = 34;
constexpr std::int64_t kMaxSlots = 64;
constexpr std::size_t kMaxStateBytes = 16 * 1024 * 1024;
constexpr const char* kContentShown = "content_shown";

double Round(double value, int places) {
  const double scale = std::pow(10.0, places);
  return std::round(value * scale) / scale;
}

struct ProfileRow {
  json user_id;  // string or null
  std::string stage;
  json entered_at;  // integer or null
  double score = 0;
  std::string snapshot;
  std::string state;
};

// Every query below reads one profile of one project: ?1 the project, ?2 the profile id.
std::optional<ProfileRow> LoadProfile(Database& db, const ProfileKey& profile, std::string* error) {
  Statement stmt = db.Prepare(
      "SELECT user_id, stage, stage_entered_at, score, snapshot, state FROM profiles "
      "WHERE project_id = ?1 AND profile_id = ?2");
  stmt.Bind(1, profile.project).Bind(2, profile.id);
  std::optional<ProfileRow> out;
  ForEachRow(stmt, error, [&](Statement& s) {
    ProfileRow row;
    row.user_id = s.IsNull(0) || s.Text(0).empty() ? json(nullptr) : json(s.Text(0));
    row.stage = s.Text(1);
    // The engine's "not yet entered" is -1; either way there is no time in stage to report.
    row.entered_at = s.IsNull(2) || s.Int(2) < 0 ? json(nullptr) : json(s.Int(2));
    row.score = s.Double(3);
    row.snapshot = s.Text(4);
    row.state = s.Text(5);
    out = std::move(row);
  });
  return out;
}

struct ScoreView {
  double total = 0;
  std::vector<std::pair<std::string, double>> rules;  // by points, descending
};

// The snapshot gives the score decayed to `now`; the stored state only has it as of the last
// activity, so it is the fallback for a snapshot that does not restore (another map id, damage).
ScoreView ReadScore(const JourneyMap& map, const ProfileRow& profile, std::int64_t now_ms) {
  ScoreView view;
  // The engine only lives inside this call, while the caller's map outlives it, so it borrows
  // the map instead of copying it (maps can be a megabyte).
  std::shared_ptr<const JourneyMap> borrowed(&map, [](const JourneyMap*) {});
  EngineOptions options;
  options.build_outbound = false;
  options.trust_channel = false;  // channels come from the stored context, not the sender
  Engine engine(borrowed, options);
  if (engine.Restore(profile.snapshot).ok()) {
    view.total = engine.Score(now_ms);
    for (const auto& item : engine.ScoreBreakdown(now_ms)) {
      view.rules.emplace_back(item.rule, item.points);
    }
  } else {
    view.total = profile.score;
    auto state = ParseJson(profile.state, kMaxStateBytes, 32);
    const json* breakdown = state ? Member(state.value(), "score_breakdown") : nullptr;
    if (breakdown != nullptr && breakdown->is_array()) {
      for (const auto& item : *breakdown) {
        const json* rule = Member(item, "rule");
        const json* points = Member(item, "points");
        if (rule == nullptr || !rule->is_string() || points == nullptr || !points->is_number()) {
          continue;
        }
        view.rules.emplace_back(rule->get<std::string>(), points->get<double>());
      }
    }
  }
  std::stable_sort(view.rules.begin(), view.rules.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    return a.first < b.first;
  });
  return view;
}

// The stage held before the current one, for "$previous" targets: like the engine, a self-loop
// does not count as having left.
std::string PreviousStage(Database& db, const ProfileKey& profile, std::string* error) {
  Statement stmt = db.Prepare(
      "SELECT from_stage FROM transitions WHERE project_id = ?1 AND profile_id = ?2 AND "
      "from_stage <> to_stage ORDER BY position DESC LIMIT 1");
  stmt.Bind(1, profile.project).Bind(2, profile.id);
  std::string previous;
  ForEachRow(stmt, error, [&](Statement& s) { previous = s.Text(0); });
  return previous;
}

struct Leaving {
  const Transition* transition;
  std::string target;  // "$previous" resolved
};

// Transitions that can fire from `stage`, in the order the engine tries them, with the same
// wildcard rule as Engine::AllowedFrom (a "*" edge never demotes and never loops).
std::vector<Leaving> LeavingTransitions(const JourneyMap& map, const std::string& stage,
                                        const std::string& previous) {
  std::vector<Leaving> out;
  const Stage* current = map.FindStage(stage);
  for (std::size_t index : map.transition_order) {
    if (index >= map.transitions.size()) continue;
    const Transition& t = map.transitions[index];
    const std::string target = t.to == "$previous" ? previous : t.to;
    if (target.empty()) continue;
    if (!t.from.empty()) {
      if (std::find(t.from.begin(), t.from.end(), stage) == t.from.end()) continue;
    } else {
      const Stage* dst = map.FindStage(target);
      if (target == stage || current == nullptr || dst == nullptr || dst->rank < current->rank) {
        continue;
      }
    }
    out.push_back(Leaving{&t, target});
  }
  return out;
}

void CollectEventNames(const Condition& c, std::vector<std::string>* names, bool* any_event) {
  if (c.kind == ConditionKind::kEvent || c.kind == ConditionKind::kCount) {
    if (c.any_event) *any_event = true;
    for (const auto& name : c.names) {
      if (std::find(names->begin(), names->end(), name) == names->end()) names->push_back(name);
    }
  }
  for (const auto& child : c.children) CollectEventNames(child, names, any_event);
}

std::vector<json> NextStages(const std::string& stage, const std::vector<Leaving>& leaving) {
  struct Target {
    std::string stage;
    std::vector<std::string> rules;
    std::vector<std::string> events;
    bool any_event = false;
    TimeMs inactive_for = 0;
  };
  std::vector<Target> targets;
  for (const auto& l : leaving) {
    if (l.target == stage) continue;  // a self-loop does not move the visitor on
    auto it = std::find_if(targets.begin(), targets.end(),
                           [&](const Target& t) { return t.stage == l.target; });
    if (it == targets.end()) {
      targets.push_back(Target{l.target, {}, {}, false, 0});
      it = targets.end() - 1;
    }
    it->rules.push_back(l.transition->id);
    CollectEventNames(l.transition->when, &it->events, &it->any_event);
    if (l.transition->timed) {
      const TimeMs d = l.transition->longest_inactivity;
      it->inactive_for = it->inactive_for == 0 ? d : std::min(it->inactive_for, d);
    }
  }
  std::vector<json> out;
  for (auto& t : targets) {
    json item = {{"stage", t.stage}, {"rules", t.rules}};
    if (t.any_event) t.events.insert(t.events.begin(), "*");
    if (!t.events.empty()) item["events"] = t.events;
    if (t.inactive_for > 0) item["inactive_for_ms"] = t.inactive_for;
    out.push_back(std::move(item));
  }
  return out;
}

// The latest variant the SDK reported per slot. One malformed body never fails the query
// (JsonStringSql); non-string slots and variants are skipped.
std::vector<json> ContentShown(Database& db, const ProfileKey& profile, std::string* error) {
  const Dialect d = db.dialect();
  Statement stmt = db.Prepare(
      "WITH shown AS (SELECT " + JsonStringSql(d, "body", {"properties", "slot"}) + " AS slot, " +
      JsonStringSql(d, "body", {"properties", "variant"}) +
      " AS variant, corrected_time AS at, seq, id FROM events WHERE project_id = ?1 AND "
      "profile_id = ?2 AND name = ?3), ranked AS (SELECT slot, variant, at, ROW_NUMBER() OVER ("
      "PARTITION BY slot ORDER BY at DESC, seq DESC, id DESC) AS rn FROM shown "
      "WHERE slot IS NOT NULL AND variant IS NOT NULL) "
      "SELECT slot, variant, at FROM ranked WHERE rn = 1 ORDER BY at DESC, slot LIMIT ?4");
  stmt.Bind(1, profile.project).Bind(2, profile.id);
  stmt.Bind(3, std::string_view(kContentShown)).Bind(4, kMaxSlots);
  std::vector<json> out;
  ForEachRow(stmt, error, [&](Statement& s) {
    out.push_back({{"slot", s.Text(0)}, {"variant", s.Text(1)}, {"at", s.Int(2)}});
  });
  return out;
}

// Newest first: the events the stage's outgoing transitions test (what would move the visitor
// on), then the others. content_shown is left out: it is reported as content_shown.
std::vector<json> Touchpoints(Database& db, const ProfileKey& profile,
                              const std::vector<std::string>& relevant, bool any_relevant,
                              std::size_t budget, std::string* error) {
  const auto candidates = static_cast<std::int64_t>(budget / kMinTouchpointBytes + 1);
  const std::string names = DumpJson(json(relevant));
  const Dialect d = db.dialect();
  const std::string columns = "SELECT name, corrected_time, channel, " +
                              JsonStringSql(d, "body", {"context", "path"}) +
                              " FROM events WHERE project_id = ?1 AND profile_id = ?2 AND "
                              "name <> ?3 AND ";
  const char* kOrder = " ORDER BY corrected_time DESC, seq DESC, id DESC LIMIT ?6";
  std::vector<json> out;
  auto read = [&](const std::string& filter) {
    Statement stmt = db.Prepare(columns + filter + kOrder);
    stmt.Bind(1, profile.project).Bind(2, profile.id).Bind(3, std::string_view(kContentShown));
    stmt.Bind(4, any_relevant ? 1 : 0).Bind(5, names).Bind(6, candidates);
    ForEachRow(stmt, error, [&](Statement& s) {
      json tp = {{"name", s.Text(0)}, {"at", s.Int(1)}};
      if (!s.IsNull(3) && !s.Text(3).empty()) tp["path"] = s.Text(3);
      if (!s.IsNull(2) && !s.Text(2).empty()) tp["channel"] = s.Text(2);
      out.push_back(std::move(tp));
    });
  };
  read("(?4 = 1 OR name IN (" + JsonArrayTextsSql(d, 5) + "))");
  read("?4 = 0 AND name NOT IN (" + JsonArrayTextsSql(d, 5) + ")");
  return out;
}

json Channels(Database& db, const ProfileKey& profile, std::string* error) {
  json out = {{"first", nullptr}, {"last", nullptr}};
  for (const char* which : {"first", "last"}) {
    const bool first = std::string_view(which) == "first";
    Statement stmt = db.Prepare(
        first ? "SELECT channel FROM events WHERE project_id = ?1 AND profile_id = ?2 AND "
                "channel IS NOT NULL AND channel <> '' "
                "ORDER BY corrected_time ASC, seq ASC, id ASC LIMIT 1"
              : "SELECT channel FROM events WHERE project_id = ?1 AND profile_id = ?2 AND "
                "channel IS NOT NULL AND channel <> '' "
                "ORDER BY corrected_time DESC, seq DESC, id DESC LIMIT 1");
    stmt.Bind(1, profile.project).Bind(2, profile.id);
    ForEachRow(stmt, error, [&](Statement& s) { out[which] = s.Text(0); });
  }
  return out;
}

// Fills a document up to a byte limit. Each addition costs what DumpJson writes for it (commas
// and keys included), so the running total is the exact size of the document, invalid UTF-8
// (written as U+FFFD) included, and filling stays linear in what is added.
class Filler {
 public:
  explicit Filler(std::size_t limit) : limit_(limit) {}

  json& doc() { return doc_; }
  bool dropped() const { return dropped_; }
  /// From here on, the first thing that does not fit closes the document: nothing of lower
  /// priority is added after it, as if parts were dropped from the bottom until the rest fit.
  void Strict() { strict_ = true; }

  /// Adds `value` under `key` of `object` (the document or an object inside it) if it fits.
  bool Add(json* object, const std::string& key, json value) {
    const std::size_t cost =
        (object->empty() ? 0 : 1) + DumpJson(json(key)).size() + 1 + DumpJson(value).size();
    if (!Spend(cost)) return false;
    (*object)[key] = std::move(value);
    return true;
  }

  /// Adds a list under `key` of `object` holding as many leading `items` as fit. A list with
  /// items of which none fit is left out rather than written empty: an empty list means there
  /// was nothing, an absent one that it was dropped.
  void AddList(json* object, const std::string& key, std::vector<json> items) {
    if (items.empty()) {
      Add(object, key, json::array());
      return;
    }
    if (!Add(object, key, json::array({std::move(items[0])}))) return;
    json* list = &(*object)[key];
    for (std::size_t i = 1; i < items.size(); ++i) {
      const std::size_t cost = 1 + DumpJson(items[i]).size();
      if (!Spend(cost)) return;
      list->push_back(std::move(items[i]));
    }
  }

 private:
  bool Spend(std::size_t cost) {
    if (closed_ || used_ + cost > limit_) {
      dropped_ = true;
      closed_ = strict_;
      return false;
    }
    used_ += cost;
    return true;
  }

  json doc_ = json::object();
  std::size_t used_ = 2;  // "{}"
  std::size_t limit_;
  bool dropped_ = false;
  bool strict_ = false;
  bool closed_ = false;
};

// Removes the lowest-priority remaining piece. The filler's sizes are exact, so this is only a
// guard that keeps the budget a hard limit should they ever disagree with the final document.
bool DropOne(json* doc) {
  if (doc->erase("channels") > 0) return true;
  for (const char* list : {"touchpoints", "content_shown", "next_stages"}) {
    auto it = doc->find(list);
    if (it != doc->end() && it->is_array() && !it->empty()) {
      it->erase(it->size() - 1);
      return true;
    }
  }
  auto score = doc->find("score");
  if (score != doc->end()) {
    auto top = score->find("top");
    if (top != score->end() && top->is_array() && !top->empty()) {
      top->erase(top->size() - 1);
      return true;
    }
  }
  for (const char* key :
       {"touchpoints", "content_shown", "next_stages", "score", "stage", "user_id", "profile_id"}) {
    if (doc->erase(key) > 0) return true;
  }
  return false;
}

}  // namespace

json BuildJourneyContext(Database& db, const std::string& project, const JourneyMap& map,
                         const std::string& profile_id, std::size_t budget_bytes,
                         std::int64_t now_ms, std::string* error) {
  const ProfileKey key{project, profile_id};
  const std::size_t budget = std::clamp(budget_bytes, kContextMinBudget, kContextMaxBudget);
  const std::optional<ProfileRow> profile = LoadProfile(db, key, error);
  if (!profile) return nullptr;

  const Stage* stage = map.FindStage(profile->stage);
  json stage_json = {{"id", profile->stage},
                     {"name", stage != nullptr ? stage->name : profile->stage},
                     {"phase", stage == nullptr                ? json(nullptr)
                               : stage->phase == Phase::kAfter ? json("after")
                                                               : json("before")},
                     {"entered_at", profile->entered_at},
                     {"time_in_stage_ms", nullptr}};
  if (profile->entered_at.is_number_integer()) {
    const std::int64_t entered = profile->entered_at.get<std::int64_t>();
    stage_json["time_in_stage_ms"] = now_ms > entered ? now_ms - entered : 0;
  }

  const ScoreView score = ReadScore(map, *profile, now_ms);
  const std::string previous = PreviousStage(db, key, error);
  const std::vector<Leaving> leaving = LeavingTransitions(map, profile->stage, previous);
  std::vector<std::string> relevant;
  bool any_relevant = false;
  for (const auto& l : leaving) CollectEventNames(l.transition->when, &relevant, &any_relevant);

  // Room for the trailer is set aside first, with the longest values it can take.
  const json trailer = {{"truncated", false}, {"budget", budget}, {"bytes", 99999}};
  const std::size_t reserve = DumpJson(trailer).size() - 2 + 1;
  Filler fill(budget > reserve ? budget - reserve : 0);
  json& doc = fill.doc();

  // The identity and the stage are each kept when they fit, whatever happened to the one before
  // (an id can be a few hundred bytes); everything after them is kept in strict priority order.
  fill.Add(&doc, "profile_id", key.id);
  fill.Add(&doc, "user_id", profile->user_id);
  if (!fill.Add(&doc, "stage", stage_json)) {
    fill.Add(&doc, "stage", json{{"id", profile->stage}});
  }
  fill.Strict();
  if (fill.Add(&doc, "score", json{{"total", Round(score.total, 2)}})) {
    std::vector<json> top;
    for (std::size_t i = 0; i < score.rules.size() && i < kMaxContributors; ++i) {
      top.push_back({{"rule", score.rules[i].first}, {"points", Round(score.rules[i].second, 2)}});
    }
    fill.AddList(&doc["score"], "top", std::move(top));
  }
  fill.AddList(&doc, "next_stages", NextStages(profile->stage, leaving));
  fill.AddList(&doc, "content_shown", ContentShown(db, key, error));
  fill.AddList(&doc, "touchpoints", Touchpoints(db, key, relevant, any_relevant, budget, error));
  fill.Add(&doc, "channels", Channels(db, key, error));

  doc["truncated"] = fill.dropped();
  doc["budget"] = budget;
  for (;;) {
    // `bytes` counts itself: settle it. The size only grows with the value's digit count, so
    // this stops after a step or two.
    std::size_t bytes = 0;
    for (;;) {
      doc["bytes"] = bytes;
      const std::size_t n = DumpJson(doc).size();
      if (n == bytes) break;
      bytes = n;
    }
    if (bytes <= budget || !DropOne(&doc)) break;
    doc["truncated"] = true;
  }
  return std::move(doc);
}

}  // namespace waymark::collector
