#include "stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "storage/sql_dialect.h"
#include "waymark/attribution.h"

namespace waymark::collector {

namespace {

constexpr std::int64_t kDayMs = 24 * 60 * 60 * 1000;
constexpr int kRecentFailures = 20;

using Counts = std::map<std::string, std::int64_t>;

// A single COUNT(*)-style number; `bind` is ?1 for queries with one parameter.
template <typename... Bound>
std::int64_t QueryCount(Database& db, std::string_view sql, std::string* error,
                        const Bound&... bind) {
  Statement stmt = db.Prepare(sql);
  (stmt.Bind(1, bind), ...);
  std::int64_t n = 0;
  ForEachRow(stmt, error, [&](Statement& s) { n = s.Int(0); });
  return n;
}

Counts QueryCounts(Database& db, std::string_view sql, std::string* error) {
  Statement stmt = db.Prepare(sql);
  Counts out;
  ForEachRow(stmt, error, [&](Statement& s) { out[s.Text(0)] = s.Int(1); });
  return out;
}

std::int64_t Get(const Counts& counts, const std::string& key) {
  auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

// Ratios and credit sums are rounded so that reports read cleanly and do not differ in the last
// bits between runs that summed the same rows in another order.
double Round(double value, int places) {
  const double scale = std::pow(10.0, places);
  return std::round(value * scale) / scale;
}

const char* PhaseName(Phase phase) { return phase == Phase::kAfter ? "after" : "before"; }

json StageHeader(const Stage& stage) {
  return {{"id", stage.id},
          {"name", stage.name},
          {"rank", stage.rank},
          {"phase", PhaseName(stage.phase)}};
}

// A profile reached a stage when a transition entered it or when it sits there now (which also
// covers a history recorded before the stage existed in the map); everyone starts in the initial
// stage, which is why it is not read from the tables.
Counts ReachedByStage(Database& db, const JourneyMap& map, std::int64_t total_profiles,
                      std::string* error) {
  Counts reached = QueryCounts(db,
                               "SELECT stage, COUNT(*) FROM ("
                               "SELECT to_stage AS stage, profile_id FROM transitions "
                               "UNION SELECT stage, profile_id FROM profiles) AS reached "
                               "GROUP BY stage",
                               error);
  reached[map.initial] = total_profiles;
  return reached;
}

Counts CurrentByStage(Database& db, std::string* error) {
  return QueryCounts(db, "SELECT stage, COUNT(*) FROM profiles GROUP BY stage", error);
}

// A self-loop leaves the visitor where they were, so it is not an exit.
Counts ExitsByStage(Database& db, std::string* error) {
  return QueryCounts(db,
                     "SELECT from_stage, COUNT(*) FROM transitions WHERE from_stage <> to_stage "
                     "GROUP BY from_stage",
                     error);
}

struct TimeSamples {
  std::vector<std::int64_t> totals;  // ascending
  std::int64_t visits = 0;
};

// Rows with no visit are profiles that never entered the stage; counting them would pull every
// median toward zero.
std::map<std::string, TimeSamples> StageTimeSamples(Database& db, std::string* error) {
  Statement stmt = db.Prepare(
      "SELECT stage, total_ms, visits FROM stage_times WHERE visits > 0 "
      "ORDER BY stage, total_ms");
  std::map<std::string, TimeSamples> out;
  ForEachRow(stmt, error, [&](Statement& s) {
    TimeSamples& samples = out[s.Text(0)];
    samples.totals.push_back(s.Int(1));
    samples.visits += s.Int(2);
  });
  return out;
}

json Median(const std::map<std::string, TimeSamples>& samples, const std::string& stage) {
  auto it = samples.find(stage);
  if (it == samples.end() || it->second.totals.empty()) return nullptr;
  return NearestRankPercentile(it->second.totals, 50);
}

std::int64_t TotalProfiles(Database& db, std::string* error) {
  return QueryCount(db, "SELECT COUNT(*) FROM profiles", error);
}

// Stages a condition selects visitors by. A stage under an odd number of `not`s is excluded
// rather than targeted ({"not": {"stage": "customer"}} is everyone but customers), so counting
// it would hide exactly the gap this report looks for. `count.where` is skipped: it filters
// logged events, not the visitor.
void CollectTargetedStages(const Condition& c, bool negated, std::set<std::string>* out) {
  switch (c.kind) {
    case ConditionKind::kStage:
      if (!negated) out->insert(c.names.begin(), c.names.end());
      return;
    case ConditionKind::kAll:
    case ConditionKind::kAny:
      for (const auto& child : c.children) CollectTargetedStages(child, negated, out);
      return;
    case ConditionKind::kNot:
      for (const auto& child : c.children) CollectTargetedStages(child, !negated, out);
      return;
    default:
      return;
  }
}

const char* EdgeKind(const JourneyMap& map, const std::string& from, const std::string& to) {
  if (from == to) return "loop";
  const Stage* a = map.FindStage(from);
  const Stage* b = map.FindStage(to);
  if (a == nullptr || b == nullptr) return "unknown";  // a history from an older map version
  if (b->rank > a->rank) return "forward";
  if (b->rank < a->rank) return "backward";
  return "loop";
}

}  // namespace

std::int64_t NearestRankPercentile(const std::vector<std::int64_t>& sorted, int percent) {
  if (sorted.empty()) return 0;
  percent = std::clamp(percent, 1, 100);
  // Integer ceiling: in doubles 0.9 * 10 is 9.000000000000002, whose ceiling skips a rank.
  const std::size_t rank = (static_cast<std::size_t>(percent) * sorted.size() + 99) / 100;
  return sorted[rank - 1];
}

FunnelCounts FunnelCountsFromTables(Database& db, const JourneyMap& map, std::string* error) {
  FunnelCounts counts;
  counts.total_profiles = TotalProfiles(db, error);
  counts.reached = ReachedByStage(db, map, counts.total_profiles, error);
  counts.current = CurrentByStage(db, error);
  for (auto& [stage, samples] : StageTimeSamples(db, error)) {
    counts.time_in_stage_ms[stage] = std::move(samples.totals);
  }
  return counts;
}

FunnelCounts FunnelCountsFromJourneys(const JourneyMap& map,
                                      const std::vector<JourneySummary>& journeys) {
  FunnelCounts counts;
  counts.total_profiles = static_cast<std::int64_t>(journeys.size());
  for (const JourneySummary& j : journeys) {
    // As ReachedByStage: the distinct stages among the transitions' targets and the current one.
    std::set<std::string> reached(j.entered.begin(), j.entered.end());
    reached.insert(j.stage);
    for (const auto& stage : reached) ++counts.reached[stage];
    ++counts.current[j.stage];
    for (const auto& [stage, total] : j.time_in_stage_ms) {
      counts.time_in_stage_ms[stage].push_back(total);
    }
  }
  counts.reached[map.initial] = counts.total_profiles;
  for (auto& [stage, totals] : counts.time_in_stage_ms) std::sort(totals.begin(), totals.end());
  return counts;
}

json FunnelReport(const JourneyMap& map, const FunnelCounts& counts) {
  auto median = [&](const std::string& stage) -> json {
    auto it = counts.time_in_stage_ms.find(stage);
    if (it == counts.time_in_stage_ms.end() || it->second.empty()) return nullptr;
    return NearestRankPercentile(it->second, 50);
  };

  std::vector<const Stage*> funnel;
  std::vector<const Stage*> side;
  for (const Stage& s : map.stages) (s.rank >= 0 ? funnel : side).push_back(&s);
  std::stable_sort(funnel.begin(), funnel.end(),
                   [](const Stage* a, const Stage* b) { return a->rank < b->rank; });

  json stages = json::array();
  std::int64_t previous = -1;
  for (const Stage* s : funnel) {
    json row = StageHeader(*s);
    const std::int64_t n = Get(counts.reached, s->id);
    row["reached"] = n;
    row["current"] = Get(counts.current, s->id);
    // Paths skip stages (a demo request jumps to qualified), so a stage can be reached by more
    // profiles than the one before it: the ratio can exceed 1 and the drop-off be negative.
    if (previous < 0) {
      row["conversion_from_previous"] = nullptr;
      row["drop_off"] = nullptr;
    } else {
      row["conversion_from_previous"] =
          previous > 0 ? json(Round(static_cast<double>(n) / static_cast<double>(previous), 4))
                       : json(nullptr);
      row["drop_off"] = previous - n;
    }
    row["median_time_in_stage_ms"] = median(s->id);
    stages.push_back(std::move(row));
    previous = n;
  }

  json side_stages = json::array();
  for (const Stage* s : side) {
    json row = StageHeader(*s);
    row["reached"] = Get(counts.reached, s->id);
    row["current"] = Get(counts.current, s->id);
    row["median_time_in_stage_ms"] = median(s->id);
    side_stages.push_back(std::move(row));
  }

  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"total_profiles", counts.total_profiles},
          {"stages", std::move(stages)},
          {"side_stages", std::move(side_stages)}};
}

json FunnelStats(Database& db, const JourneyMap& map, std::int64_t /*now_ms*/, std::string* error) {
  return FunnelReport(map, FunnelCountsFromTables(db, map, error));
}

JourneySummary SummarizeJourney(const Engine& engine) {
  // The same reads as the projection's writes (profile_replay.cpp): stage, every transition kept
  // in the engine's history, and stage times up to the last activity for visited stages.
  JourneySummary out;
  out.stage = engine.stage();
  for (const TransitionRecord& t : engine.transitions()) out.entered.push_back(t.to);
  // Up to the last activity, or to the entry of a stage time moved the visitor into (as the
  // projection stores them, profile_replay.cpp).
  const TimeMs until = std::max(engine.last_activity(), engine.stage_entered_at());
  for (const auto& [stage, t] : engine.StageTimes(until)) {
    if (t.visits > 0) out.time_in_stage_ms[stage] = t.total;
  }
  return out;
}

StoredJourneyReader::StoredJourneyReader(Database& db)
    : profile_(db.Prepare("SELECT stage FROM profiles WHERE profile_id = ?")),
      transitions_(
          db.Prepare("SELECT to_stage FROM transitions WHERE profile_id = ? ORDER BY position")),
      times_(db.Prepare(
          "SELECT stage, total_ms FROM stage_times WHERE profile_id = ? AND visits > 0")) {}

std::optional<JourneySummary> StoredJourneyReader::Read(const std::string& profile_id,
                                                        std::string* error) {
  JourneySummary out;
  bool found = false;
  bool ok = true;
  // Each statement is reset after use (a finished or failed step leaves it ready to rerun).
  auto run = [&](Statement& stmt, auto&& row) {
    if (!ok) return;
    if (stmt.ok()) stmt.Bind(1, profile_id);
    ok = ForEachRow(stmt, error, row);
    if (stmt.ok()) stmt.Reset();
  };
  run(profile_, [&](Statement& s) {
    out.stage = s.Text(0);
    found = true;
  });
  if (!found) return std::nullopt;
  run(transitions_, [&](Statement& s) { out.entered.push_back(s.Text(0)); });
  run(times_, [&](Statement& s) { out.time_in_stage_ms[s.Text(0)] = s.Int(1); });
  if (!ok) return std::nullopt;
  return out;
}

json PathStats(Database& db, const JourneyMap& map, std::int64_t /*now_ms*/, std::size_t limit,
               std::string* error) {
  using Path = std::pair<std::vector<std::string>, bool>;  // stages, truncated
  std::map<Path, std::int64_t> paths;
  std::map<std::pair<std::size_t, std::string>, std::int64_t> nodes;  // (step, stage) -> visitors
  std::map<std::tuple<std::size_t, std::string, std::string>, std::int64_t> links;
  std::int64_t profiles = 0;

  std::vector<std::string> stages;
  std::string last;  // the last stage entered, kept beyond the cut to collapse repeats
  bool truncated = false;
  auto finish = [&] {
    ++profiles;
    for (std::size_t i = 0; i < stages.size(); ++i) {
      ++nodes[{i, stages[i]}];
      if (i > 0) ++links[{i - 1, stages[i - 1], stages[i]}];
    }
    ++paths[{stages, truncated}];
  };
  auto begin = [&] {
    stages.assign(1, map.initial);
    last = map.initial;
    truncated = false;
  };

  // Profiles in key order, each with its transitions in order (both from primary keys, so the
  // join streams without a sort); a profile with no transitions has one row with a NULL stage.
  Statement stmt = db.Prepare(
      "SELECT p.profile_id, t.to_stage FROM profiles p "
      "LEFT JOIN transitions t ON t.profile_id = p.profile_id ORDER BY p.profile_id, t.position");
  std::string profile;
  bool open = false;
  ForEachRow(stmt, error, [&](Statement& s) {
    std::string id = s.Text(0);
    if (!open || id != profile) {
      if (open) finish();
      profile = std::move(id);
      open = true;
      begin();
    }
    if (s.IsNull(1)) return;
    std::string to = s.Text(1);
    if (to == last) return;  // a self-loop, or a return to where the cut path already ends
    last = to;
    if (stages.size() < kPathMaxStages) {
      stages.push_back(std::move(to));
    } else {
      truncated = true;
    }
  });
  if (open) finish();

  // Stage order for nodes: map order, stages no longer in the map after it by name.
  std::map<std::string, std::size_t> order;
  for (std::size_t i = 0; i < map.stages.size(); ++i) order.emplace(map.stages[i].id, i);
  auto stage_order = [&](const std::string& stage) {
    auto it = order.find(stage);
    return it == order.end() ? map.stages.size() : it->second;
  };
  auto node_name = [](std::size_t step, const std::string& stage) {
    return std::to_string(step) + ":" + stage;
  };

  std::vector<std::pair<const Path*, std::int64_t>> ranked;
  for (const auto& [path, visitors] : paths) ranked.emplace_back(&path, visitors);
  // The map's key order (stages lexicographically, untruncated first) breaks ties.
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  json out_paths = json::array();
  for (std::size_t i = 0; i < ranked.size() && i < limit; ++i) {
    out_paths.push_back({{"stages", ranked[i].first->first},
                         {"visitors", ranked[i].second},
                         {"truncated", ranked[i].first->second}});
  }

  std::vector<std::pair<const std::pair<std::size_t, std::string>*, std::int64_t>> node_list;
  for (const auto& [key, visitors] : nodes) node_list.emplace_back(&key, visitors);
  std::stable_sort(node_list.begin(), node_list.end(), [&](const auto& a, const auto& b) {
    if (a.first->first != b.first->first) return a.first->first < b.first->first;
    return stage_order(a.first->second) < stage_order(b.first->second);
  });
  json out_nodes = json::array();
  for (const auto& [key, visitors] : node_list) {
    out_nodes.push_back({{"name", node_name(key->first, key->second)},
                         {"stage", key->second},
                         {"step", key->first},
                         {"visitors", visitors}});
  }

  std::vector<std::pair<const std::tuple<std::size_t, std::string, std::string>*, std::int64_t>>
      link_list;
  for (const auto& [key, value] : links) link_list.emplace_back(&key, value);
  // By step, the widest first; the map's key order (source, target names) breaks ties.
  std::stable_sort(link_list.begin(), link_list.end(), [](const auto& a, const auto& b) {
    if (std::get<0>(*a.first) != std::get<0>(*b.first)) {
      return std::get<0>(*a.first) < std::get<0>(*b.first);
    }
    return a.second > b.second;
  });
  json out_links = json::array();
  for (const auto& [key, value] : link_list) {
    const auto& [step, from, to] = *key;
    out_links.push_back(
        {{"source", node_name(step, from)}, {"target", node_name(step + 1, to)}, {"value", value}});
  }

  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"profiles", profiles},
          {"distinct_paths", paths.size()},
          {"paths", std::move(out_paths)},
          {"nodes", std::move(out_nodes)},
          {"links", std::move(out_links)}};
}

json TransitionStats(Database& db, const JourneyMap& map, std::int64_t /*now_ms*/,
                     std::string* error) {
  struct Edge {
    std::int64_t count = 0;
    std::int64_t profiles = 0;
    std::vector<std::pair<std::string, std::int64_t>> rules;
  };
  std::map<std::pair<std::string, std::string>, Edge> edges;

  Statement by_edge = db.Prepare(
      "SELECT from_stage, to_stage, COUNT(*), COUNT(DISTINCT profile_id) FROM transitions "
      "GROUP BY from_stage, to_stage");
  ForEachRow(by_edge, error, [&](Statement& s) {
    Edge& e = edges[{s.Text(0), s.Text(1)}];
    e.count = s.Int(2);
    e.profiles = s.Int(3);
  });
  Statement by_rule = db.Prepare(
      "SELECT from_stage, to_stage, rule, COUNT(*) FROM transitions "
      "GROUP BY from_stage, to_stage, rule ORDER BY from_stage, to_stage, rule");
  ForEachRow(by_rule, error, [&](Statement& s) {
    edges[{s.Text(0), s.Text(1)}].rules.emplace_back(s.Text(2), s.Int(3));
  });

  std::vector<std::pair<const std::pair<std::string, std::string>*, Edge*>> order;
  std::int64_t total = 0;
  for (auto& [key, edge] : edges) {
    order.emplace_back(&key, &edge);
    total += edge.count;
  }
  // Busiest edges first; the map's key order breaks ties, so the report is stable.
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second->count > b.second->count; });

  json out_edges = json::array();
  for (const auto& [key, edge] : order) {
    std::stable_sort(edge->rules.begin(), edge->rules.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    json rules = json::array();
    for (const auto& [rule, count] : edge->rules) {
      rules.push_back({{"rule", rule}, {"count", count}});
    }
    out_edges.push_back({{"from", key->first},
                         {"to", key->second},
                         {"kind", EdgeKind(map, key->first, key->second)},
                         {"count", edge->count},
                         {"profiles", edge->profiles},
                         {"rules", std::move(rules)}});
  }
  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"total", total},
          {"edges", std::move(out_edges)}};
}

json TimeInStageStats(Database& db, const JourneyMap& map, std::int64_t /*now_ms*/,
                      std::string* error) {
  const auto samples = StageTimeSamples(db, error);
  json stages = json::array();
  for (const Stage& s : map.stages) {
    json row = StageHeader(s);
    auto it = samples.find(s.id);
    if (it == samples.end() || it->second.totals.empty()) {
      row["profiles"] = 0;
      for (const char* key : {"median_ms", "p75_ms", "p90_ms", "mean_ms", "mean_visits"}) {
        row[key] = nullptr;
      }
    } else {
      const auto& totals = it->second.totals;
      double sum = 0;
      for (std::int64_t v : totals) sum += static_cast<double>(v);
      const double n = static_cast<double>(totals.size());
      row["profiles"] = totals.size();
      row["median_ms"] = NearestRankPercentile(totals, 50);
      row["p75_ms"] = NearestRankPercentile(totals, 75);
      row["p90_ms"] = NearestRankPercentile(totals, 90);
      row["mean_ms"] = Round(sum / n, 1);
      row["mean_visits"] = Round(static_cast<double>(it->second.visits) / n, 2);
    }
    stages.push_back(std::move(row));
  }
  return {{"map", {{"id", map.id}, {"version", map.version}}}, {"stages", std::move(stages)}};
}

json AttributionStats(Database& db, const JourneyMap& map, std::int64_t /*now_ms*/,
                      const std::string& conversion_stage, std::string* error) {
  // One conversion is one entry into a conversion stage: (profile, stage, at).
  const std::int64_t conversions =
      QueryCount(db,
                 "SELECT COUNT(*) FROM (SELECT DISTINCT profile_id, stage, at FROM conversions "
                 "WHERE ?1 = '' OR stage = ?1) AS entries",
                 error, conversion_stage);

  std::map<std::string, std::vector<std::pair<std::string, double>>> by_model;
  Statement credit_stmt = db.Prepare(
      "SELECT model, channel, SUM(credit) FROM conversions WHERE ?1 = '' OR stage = ?1 "
      "GROUP BY model, channel ORDER BY model, channel");
  credit_stmt.Bind(1, conversion_stage);
  ForEachRow(credit_stmt, error,
             [&](Statement& s) { by_model[s.Text(0)].emplace_back(s.Text(1), s.Double(2)); });

  json models = json::array();
  for (AttributionModel model : AllModels()) {
    const std::string name = ModelName(model);
    auto rows = by_model[name];  // copied: sorted below, in (channel) order from the query
    for (auto& row : rows) row.second = Round(row.second, 6);
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    json channels = json::array();
    for (const auto& [channel, credit] : rows) {
      // The credits of one conversion sum to 1, so credit / conversions is the channel's share.
      json share = conversions > 0 ? json(Round(credit / static_cast<double>(conversions), 4))
                                   : json(nullptr);
      channels.push_back({{"channel", channel}, {"credit", credit}, {"share", std::move(share)}});
    }
    models.push_back({{"model", name}, {"channels", std::move(channels)}});
  }
  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"conversion_stages", map.attribution.conversions},
          {"stage", conversion_stage.empty() ? json(nullptr) : json(conversion_stage)},
          {"conversions", conversions},
          {"models", std::move(models)}};
}

json ContentGapStats(Database& db, const JourneyMap& map, std::int64_t /*now_ms*/,
                     std::string* error) {
  const std::int64_t total = TotalProfiles(db, error);
  const Counts reached = ReachedByStage(db, map, total, error);
  const Counts current = CurrentByStage(db, error);
  const Counts exits = ExitsByStage(db, error);
  const auto samples = StageTimeSamples(db, error);

  // stage -> (slot, variant) pairs whose condition selects that stage. A slot's default has no
  // condition: it shows to everyone, so it targets nobody.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> targeting;
  for (const Slot& slot : map.slots) {
    for (const Variant& variant : slot.variants) {
      std::set<std::string> stages;
      CollectTargetedStages(variant.when, false, &stages);
      for (const auto& stage : stages) targeting[stage].emplace_back(slot.id, variant.id);
    }
  }

  // What the SDK reports it showed, in the stage the visitor was in when it was shown: the
  // server's stage for that event, else the browser's, else a `stage` property (older senders).
  // A malformed body never fails the whole report; non-string stage or slot values are skipped
  // (JsonStringSql).
  std::map<std::string, Counts> shown;
  const Dialect d = db.dialect();
  Statement shown_stmt = db.Prepare(
      "SELECT stage, slot, COUNT(*) FROM (SELECT COALESCE(server_stage, browser_stage, " +
      JsonStringSql(d, "body", {"properties", "stage"}) + ") AS stage, " +
      JsonStringSql(d, "body", {"properties", "slot"}) +
      " AS slot FROM events WHERE name = ?1) AS shown "
      "WHERE stage IS NOT NULL AND slot IS NOT NULL GROUP BY stage, slot");
  shown_stmt.Bind(1, std::string_view("content_shown"));
  ForEachRow(shown_stmt, error, [&](Statement& s) { shown[s.Text(0)][s.Text(1)] = s.Int(2); });

  struct Row {
    json value;
    bool gap = false;
    std::int64_t exits = 0;
    std::int64_t visitors = 0;
  };
  std::vector<Row> rows;
  std::int64_t gaps = 0;
  for (const Stage& s : map.stages) {
    Row row;
    row.value = StageHeader(s);
    row.visitors = Get(reached, s.id);
    row.exits = Get(exits, s.id);
    json variants = json::array();
    auto t = targeting.find(s.id);
    if (t != targeting.end()) {
      for (const auto& [slot, variant] : t->second) {
        variants.push_back({{"slot", slot}, {"variant", variant}});
      }
    }
    const bool targeted = !variants.empty();
    json shown_row = {{"total", 0}, {"by_slot", json::object()}};
    std::int64_t shown_total = 0;
    auto sh = shown.find(s.id);
    if (sh != shown.end()) {
      for (const auto& [slot, n] : sh->second) {
        shown_row["by_slot"][slot] = n;
        shown_total += n;
      }
    }
    shown_row["total"] = shown_total;
    row.gap = row.visitors > 0 && row.exits > 0 && !targeted;
    if (row.gap) ++gaps;
    row.value["visitors"] = row.visitors;
    row.value["current"] = Get(current, s.id);
    row.value["exits"] = row.exits;
    row.value["median_time_in_stage_ms"] = Median(samples, s.id);
    row.value["targeted"] = targeted;
    row.value["variants"] = std::move(variants);
    row.value["shown"] = std::move(shown_row);
    row.value["gap"] = row.gap;
    rows.push_back(std::move(row));
  }
  // Gaps first, the biggest leak (most exits, then most visitors) on top; the rest in map order.
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.gap != b.gap) return a.gap;
    if (!a.gap) return false;
    if (a.exits != b.exits) return a.exits > b.exits;
    return a.visitors > b.visitors;
  });
  json stages = json::array();
  for (auto& row : rows) stages.push_back(std::move(row.value));
  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"gaps", gaps},
          {"stages", std::move(stages)}};
}

json WebhookStats(Database& db, const JourneyMap& /*map*/, std::int64_t now_ms,
                  std::string* error) {
  const Counts by_status =
      QueryCounts(db, "SELECT status, COUNT(*) FROM outbox GROUP BY status", error);
  std::int64_t total = 0;
  json statuses = json::object();
  for (const auto& [status, n] : by_status) {
    statuses[status] = n;
    total += n;
  }

  // An in-flight row is still waiting as far as this report goes: the sender claims both kinds,
  // and an in-flight row left by a crash is picked up again.
  const std::int64_t due =
      QueryCount(db,
                 "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'inflight') "
                 "AND next_attempt_at <= ?1",
                 error, now_ms);

  Statement oldest_stmt =
      db.Prepare("SELECT MIN(created_at) FROM outbox WHERE status IN ('pending', 'inflight')");
  json oldest_pending = nullptr;
  ForEachRow(oldest_stmt, error, [&](Statement& s) {
    if (!s.IsNull(0)) oldest_pending = s.Int(0);
  });

  // A failing delivery is one not delivered whose last attempt failed (waiting for its retry)
  // or that was given up on ('failed'). The outbox keeps no time of the last attempt, so "most
  // recent" is the newest delivery (highest id).
  Statement failures_stmt = db.Prepare(
      "SELECT id, endpoint, trigger_id, status, attempts, last_status, last_error, "
      "next_attempt_at, created_at FROM outbox "
      "WHERE status <> 'delivered' AND (last_error IS NOT NULL OR last_status IS NOT NULL "
      "OR status = 'failed') ORDER BY id DESC LIMIT ?1");
  failures_stmt.Bind(1, kRecentFailures);
  json failures = json::array();
  ForEachRow(failures_stmt, error, [&](Statement& s) {
    failures.push_back({{"id", s.Int(0)},
                        {"endpoint", s.Text(1)},
                        {"trigger_id", s.Text(2)},
                        {"status", s.Text(3)},
                        {"attempts", s.Int(4)},
                        {"last_status", s.IsNull(5) ? json(nullptr) : json(s.Int(5))},
                        {"last_error", s.IsNull(6) ? json(nullptr) : json(s.Text(6))},
                        {"next_attempt_at", s.Int(7)},
                        {"created_at", s.Int(8)}});
  });

  return {{"total", total},
          {"by_status", std::move(statuses)},
          {"due", due},
          {"oldest_pending_created_at", std::move(oldest_pending)},
          {"recent_failures", std::move(failures)}};
}

json OverviewStats(Database& db, const JourneyMap& map, std::int64_t map_version,
                   std::int64_t now_ms, std::string* error) {
  const std::int64_t events = QueryCount(db, "SELECT COUNT(*) FROM events", error);
  const std::int64_t recent =
      // By when the events happened (corrected time), not when they arrived: after a backfill of
      // last month, "last 24 h" is still the last 24 hours.
      QueryCount(db, "SELECT COUNT(*) FROM events WHERE corrected_time > ?1", error,
                 now_ms - kDayMs);

  Statement profiles_stmt = db.Prepare(
      "SELECT COUNT(*), "
      "COALESCE(SUM(CASE WHEN user_id IS NOT NULL AND user_id <> '' THEN 1 ELSE 0 END), 0), "
      "COALESCE(SUM(stage_mismatches), 0) FROM profiles");
  std::int64_t profiles = 0;
  std::int64_t identified = 0;
  std::int64_t mismatches = 0;
  ForEachRow(profiles_stmt, error, [&](Statement& s) {
    profiles = s.Int(0);
    identified = s.Int(1);
    mismatches = s.Int(2);
  });

  json out = {{"map", {{"id", map.id}, {"version", map.version}}},
              {"now", now_ms},
              {"events", events},
              {"events_last_24h", recent},
              {"profiles", profiles},
              {"identified_profiles", identified},
              {"stage_mismatches", mismatches}};
  out["reprojection"] = ReprojectionProgress(db, map_version, error);
  return out;
}

json ReprojectionProgress(Database& db, std::int64_t map_version, std::string* error) {
  std::int64_t profiles = 0;
  std::int64_t current = 0;
  Statement count = db.Prepare(
      "SELECT COUNT(*), COALESCE(SUM(CASE WHEN map_version = ?1 THEN 1 ELSE 0 END), 0) "
      "FROM profiles");
  count.Bind(1, map_version);
  ForEachRow(count, error, [&](Statement& s) {
    profiles = s.Int(0);
    current = s.Int(1);
  });
  const std::int64_t waiting =
      QueryCount(db, "SELECT COUNT(*) FROM dirty_profiles WHERE (full_replay & 2) <> 0", error);
  return {{"map_version", map_version},
          {"profiles", profiles},
          {"profiles_on_this_version", current},
          {"waiting", waiting},
          {"done", waiting == 0}};
}

}  // namespace waymark::collector
