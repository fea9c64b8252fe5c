#include "reports/stats.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "storage/rollups.h"
#include "waymark/attribution.h"

namespace waymark::collector {

namespace {

constexpr int kRecentFailures = 20;

// Every journey rollup query is limited to the range's days and the version the reports read:
// ?1 first day, ?2 last day, ?3 map version. With a version the condition is one range of the
// primary key's prefix (map_version, day): PostgreSQL reads only those rows' pages, however many
// dead row versions the counters' updates left in the table. A version is one project's, so it
// needs no project filter. A version < 0 (fixtures, tests) reads every version of the range's
// project, bound at `project` (RangeQuery): the statement's highest placeholder, so that leaving
// it out with a version leaves no gap in the numbers PostgreSQL infers types for.
std::string InRange(const ReportRange& range, const char* project = "?4") {
  return range.map_version >= 0
             ? std::string(" WHERE map_version = ?3 AND day >= ?1 AND day <= ?2")
             : std::string(
                   " WHERE day >= ?1 AND day <= ?2 AND CAST(?3 AS BIGINT) < 0 AND map_version IN "
                   "(SELECT version FROM maps WHERE project_id = ") +
                   project + ")";
}

using Counts = std::map<std::string, std::int64_t>;

// A range query of a rollup_segment_* table narrowed to the range's segment (or, with
// `any_value`, to its dimension only: the value is then the query's to group by). The segment
// is bound after the range's own parameters.
Statement SegmentQuery(Database& db, const std::string& select_from, const ReportRange& range,
                       const std::string& tail, bool any_value = false) {
  const int next = range.map_version < 0 ? 5 : 4;
  std::string sql = select_from + InRange(range) + " AND dimension = ?" + std::to_string(next);
  if (!any_value) sql += " AND value = ?" + std::to_string(next + 1);
  Statement stmt = db.Prepare(sql + tail);
  stmt.Bind(1, range.first_day).Bind(2, range.last_day).Bind(3, range.map_version);
  if (range.map_version < 0) stmt.Bind(4, range.project);
  stmt.Bind(next, range.segment_dimension);
  if (!any_value) stmt.Bind(next + 1, range.segment_value);
  return stmt;
}

// The token of each of the map's stages, to read reach keys (rollup_reach, rollup_segment_reach)
// with.
std::map<std::string, std::string> MapStageTokens(const JourneyMap& map) {
  std::vector<std::string> ids;
  for (const Stage& s : map.stages) ids.push_back(s.id);
  return StageTokens(ids);
}

// Each row of `rows` cut to `fields` (a breakdown repeats a report's rows with fewer columns).
json PickFields(const json& rows, std::initializer_list<const char*> fields) {
  json out = json::array();
  for (const json& row : rows) {
    json picked = json::object();
    for (const char* field : fields) picked[field] = row.contains(field) ? row[field] : json();
    out.push_back(std::move(picked));
  }
  return out;
}

// A single COUNT(*)-style number; `bind` are ?1, ?2, ... in order.
template <typename... Bound>
std::int64_t QueryCount(Database& db, std::string_view sql, std::string* error,
                        const Bound&... bind) {
  Statement stmt = db.Prepare(sql);
  int index = 0;
  (stmt.Bind(++index, bind), ...);
  std::int64_t n = 0;
  ForEachRow(stmt, error, [&](Statement& s) { n = s.Int(0); });
  return n;
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

// A journey rollup query with InRange's placeholders bound; `project` is the index InRange was
// given (bound only when the condition uses it).
Statement RangeQuery(Database& db, const std::string& sql, const ReportRange& range,
                     int project = 4) {
  Statement stmt = db.Prepare(sql);
  stmt.Bind(1, range.first_day).Bind(2, range.last_day).Bind(3, range.map_version);
  if (range.map_version < 0) stmt.Bind(project, range.project);
  return stmt;
}

// Per stage, over the cohorts in range: profiles that reached it (a transition entered it, or
// they sit in it now: that also covers a history recorded before the stage existed in the map),
// sit in it, left it (a self-loop is not an exit), and the time spent in it (with its histogram).
struct StageRow {
  std::int64_t reached = 0, current = 0, exits = 0, timed_profiles = 0, visits = 0, total_ms = 0;
  std::array<std::int64_t, kTimeBuckets> buckets{};
};
std::map<std::string, StageRow> StageRows(Database& db, const ReportRange& range,
                                          std::string* error) {
  std::string sums =
      "SUM(reached), SUM(current_profiles), SUM(exits), SUM(timed_profiles), SUM(visits), "
      "SUM(total_ms)";
  for (int k = 0; k < kTimeBuckets; ++k) sums += ", SUM(h" + std::to_string(k) + ")";
  Statement stmt = RangeQuery(
      db, "SELECT stage, " + sums + " FROM rollup_stages" + InRange(range) + " GROUP BY stage",
      range);
  std::map<std::string, StageRow> out;
  ForEachRow(stmt, error, [&](Statement& s) {
    StageRow& row = out[s.Text(0)];
    row.reached = s.Int(1);
    row.current = s.Int(2);
    row.exits = s.Int(3);
    row.timed_profiles = s.Int(4);
    row.visits = s.Int(5);
    row.total_ms = s.Int(6);
    for (int k = 0; k < kTimeBuckets; ++k) row.buckets[static_cast<std::size_t>(k)] = s.Int(7 + k);
  });
  return out;
}

Counts Column(const std::map<std::string, StageRow>& rows, std::int64_t StageRow::*field) {
  Counts out;
  for (const auto& [stage, row] : rows) {
    if (row.*field != 0) out[stage] = row.*field;
  }
  return out;
}

// Per stage, the profiles' total times in it as bucket values (storage/rollups.h), ascending.
std::map<std::string, TimeHistogram> StageTimeHistograms(
    const std::map<std::string, StageRow>& rows) {
  std::map<std::string, TimeHistogram> out;
  for (const auto& [stage, row] : rows) {
    for (int k = 0; k < kTimeBuckets; ++k) {
      const std::int64_t n = row.buckets[static_cast<std::size_t>(k)];
      if (n > 0) out[stage].emplace_back(TimeBucketValue(k), n);
    }
  }
  return out;
}

json Median(const std::map<std::string, TimeHistogram>& histograms, const std::string& stage) {
  auto it = histograms.find(stage);
  if (it == histograms.end() || it->second.empty()) return nullptr;
  return HistogramPercentile(it->second, 50);
}

std::int64_t TotalProfiles(Database& db, const ReportRange& range, std::string* error) {
  Statement stmt = RangeQuery(
      db, std::string("SELECT COALESCE(SUM(profiles), 0) FROM rollup_cohorts") + InRange(range),
      range);
  std::int64_t n = 0;
  ForEachRow(stmt, error, [&](Statement& s) { n = s.Int(0); });
  return n;
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

std::int64_t HistogramPercentile(const TimeHistogram& histogram, int percent) {
  std::int64_t n = 0;
  for (const auto& [value, count] : histogram) n += count;
  if (n <= 0) return 0;
  percent = std::clamp(percent, 1, 100);
  const std::int64_t rank = (percent * n + 99) / 100;
  std::int64_t seen = 0;
  for (const auto& [value, count] : histogram) {
    seen += count;
    if (seen >= rank) return value;
  }
  return histogram.back().first;
}

namespace {
// Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// "YYYY-MM-DD" (years 1970 to 9999) to a day number.
std::optional<std::int64_t> ParseDate(const std::string& text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  const int y = std::stoi(text.substr(0, 4));
  const int m = std::stoi(text.substr(5, 2));
  const int d = std::stoi(text.substr(8, 2));
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1) return std::nullopt;
  if (d > kDays[m - 1] + (m == 2 && IsLeap(y) ? 1 : 0)) return std::nullopt;
  return DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}
}  // namespace

std::string DayToDate(std::int64_t day) {
  // H. Hinnant's civil_from_days.
  const std::int64_t z = day + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  char out[32];
  std::snprintf(out, sizeof out, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return out;
}

ReportRange AllTime(std::int64_t now_ms) {
  // Wide enough for any stored time, small enough for every backend's integers.
  ReportRange range;
  range.now_ms = now_ms;
  range.first_day = -(std::int64_t{1} << 40);
  range.last_day = std::int64_t{1} << 40;
  return range;
}

std::optional<std::string> ParseReportRange(const std::string* from, const std::string* to,
                                            std::int64_t now_ms, ReportRange* out) {
  out->now_ms = now_ms;
  out->last_day = DayOf(now_ms);
  if (to != nullptr) {
    auto day = ParseDate(*to);
    if (!day) return "to: expected a date YYYY-MM-DD (UTC, from 1970-01-01)";
    out->last_day = *day;
  }
  out->first_day = out->last_day - (kDefaultRangeDays - 1);
  if (from != nullptr) {
    auto day = ParseDate(*from);
    if (!day) return "from: expected a date YYYY-MM-DD (UTC, from 1970-01-01)";
    out->first_day = *day;
  }
  if (out->first_day > out->last_day) return "from: after to";
  if (out->last_day - out->first_day + 1 > kMaxRangeDays) {
    return "from: the range is longer than " + std::to_string(kMaxRangeDays) + " days";
  }
  return std::nullopt;
}

json RangeJson(const ReportRange& range) {
  if (range.last_day - range.first_day + 1 > kMaxRangeDays) return {{"all_time", true}};
  return {{"from", DayToDate(range.first_day)},
          {"to", DayToDate(range.last_day)},
          {"days", range.last_day - range.first_day + 1}};
}

namespace {
// The furthest stage of the map's main path (rank >= 0, the first of equal ranks in the map's
// order) among `stages`; the initial stage when none is on it.
std::string FurthestOnMainPath(const JourneyMap& map, const std::set<std::string>& stages) {
  const Stage* best = nullptr;
  for (const Stage& s : map.stages) {
    if (s.rank < 0 || stages.count(s.id) == 0) continue;
    if (best == nullptr || s.rank > best->rank) best = &s;
  }
  return best != nullptr ? best->id : map.initial;
}
}  // namespace

// Adds `profiles` journeys that entered (or sit in) `entered` to counts: reached and furthest
// (a segment's counts, read from reach sets only).
void AddReach(const JourneyMap& map, const std::set<std::string>& entered, std::int64_t profiles,
              FunnelCounts* counts) {
  if (profiles == 0) return;
  counts->total_profiles += profiles;
  for (const auto& stage : entered) counts->reached[stage] += profiles;
  counts->furthest[FurthestOnMainPath(map, entered)] += profiles;
}

namespace {
// The counts the stage rows hold (all but `furthest`): the range's profiles, and who reached,
// sits in and spent time in each stage. Everyone starts in the initial stage, which is why it is
// not read from the rows.
FunnelCounts StageCounts(Database& db, const JourneyMap& map, const ReportRange& range,
                         const std::map<std::string, StageRow>& rows, std::string* error) {
  FunnelCounts counts;
  counts.total_profiles = TotalProfiles(db, range, error);
  counts.reached = Column(rows, &StageRow::reached);
  counts.reached[map.initial] = counts.total_profiles;
  counts.current = Column(rows, &StageRow::current);
  counts.time_in_stage_ms = StageTimeHistograms(rows);
  return counts;
}

// Calls fn(stages entered, profiles) per set of stages the range's journeys (of its segment, if
// it has one) entered or sit in: a few rows per day, each placed with the map by the caller.
template <typename Fn>
void ForEachReach(Database& db, const JourneyMap& map, const ReportRange& range, std::string* error,
                  Fn&& fn) {
  const auto tokens = MapStageTokens(map);
  Statement reach = range.segment_dimension.empty()
                        ? RangeQuery(db,
                                     "SELECT stages, SUM(profiles) FROM rollup_reach" +
                                         InRange(range) + " GROUP BY stages",
                                     range)
                        : SegmentQuery(db, "SELECT stages, SUM(profiles) FROM rollup_segment_reach",
                                       range, " GROUP BY stages");
  ForEachRow(reach, error, [&](Statement& s) {
    if (s.Int(1) != 0) fn(ReachStages(s.Text(0), tokens), s.Int(1));
  });
}

// Calls fn(value, stages entered, profiles) per value of the range's segment dimension and set of
// stages its journeys entered: every value in one pass (a breakdown).
template <typename Fn>
void ForEachSegmentReach(Database& db, const JourneyMap& map, const ReportRange& by,
                         std::string* error, Fn&& fn) {
  const auto tokens = MapStageTokens(map);
  Statement reach =
      SegmentQuery(db, "SELECT value, stages, SUM(profiles) FROM rollup_segment_reach", by,
                   " GROUP BY value, stages", /*any_value=*/true);
  ForEachRow(reach, error, [&](Statement& s) {
    if (s.Int(2) != 0) fn(s.Text(0), ReachStages(s.Text(1), tokens), s.Int(2));
  });
}
}  // namespace

FunnelCounts FunnelCountsFromTables(Database& db, const JourneyMap& map, const ReportRange& range,
                                    std::string* error) {
  FunnelCounts counts;
  if (!range.segment_dimension.empty()) {
    // A segment's journeys: what their reach sets tell (the initial stage counts everyone);
    // current stages and times in stage are not kept per segment.
    ForEachReach(db, map, range, error, [&](const std::set<std::string>& entered, std::int64_t n) {
      AddReach(map, entered, n, &counts);
    });
    counts.reached[map.initial] = counts.total_profiles;
    return counts;
  }
  counts = StageCounts(db, map, range, StageRows(db, range, error), error);
  ForEachReach(db, map, range, error, [&](const std::set<std::string>& entered, std::int64_t n) {
    counts.furthest[FurthestOnMainPath(map, entered)] += n;
  });
  return counts;
}

FunnelCounts FunnelCountsFromJourneys(const JourneyMap& map,
                                      const std::vector<JourneySummary>& journeys) {
  FunnelCounts counts;
  counts.total_profiles = static_cast<std::int64_t>(journeys.size());
  for (const JourneySummary& j : journeys) {
    // As the rollups count them (RollupDelta::AddJourney): the distinct stages among the
    // transitions' targets and the current one.
    std::set<std::string> reached(j.entered.begin(), j.entered.end());
    reached.insert(j.stage);
    for (const auto& stage : reached) ++counts.reached[stage];
    ++counts.furthest[FurthestOnMainPath(map, reached)];
    ++counts.current[j.stage];
    for (const auto& [stage, total] : j.time_in_stage_ms) {
      counts.time_in_stage_ms[stage].emplace_back(TimeBucketValue(TimeBucket(total)), 1);
    }
  }
  counts.reached[map.initial] = counts.total_profiles;
  // Bucketed and merged into a histogram, as the rollups keep them.
  for (auto& [stage, histogram] : counts.time_in_stage_ms) {
    std::sort(histogram.begin(), histogram.end());
    TimeHistogram merged;
    for (const auto& [value, n] : histogram) {
      if (!merged.empty() && merged.back().first == value) {
        merged.back().second += n;
      } else {
        merged.emplace_back(value, n);
      }
    }
    histogram = std::move(merged);
  }
  return counts;
}

json FunnelReport(const JourneyMap& map, const FunnelCounts& counts) {
  auto median = [&](const std::string& stage) { return Median(counts.time_in_stage_ms, stage); };

  std::vector<const Stage*> funnel;
  std::vector<const Stage*> side;
  for (const Stage& s : map.stages) (s.rank >= 0 ? funnel : side).push_back(&s);
  std::stable_sort(funnel.begin(), funnel.end(),
                   [](const Stage* a, const Stage* b) { return a->rank < b->rank; });

  // Ordered progress: the profiles whose furthest main-path stage is this one or a later one.
  // Everyone counts at the initial stage; a profile that skipped a stage (a demo request jumps
  // from lead to qualified... to trial) counts at it too, as one that went past it. So each step
  // holds at most the profiles of the one before: never above 100 %.
  std::map<std::string, std::int64_t> progressed;
  for (const Stage* s : funnel) {
    std::int64_t n = 0;
    for (const auto& [stage, count] : counts.furthest) {
      const Stage* at = map.FindStage(stage);
      if (at != nullptr && at->rank >= s->rank) n += count;
    }
    progressed[s->id] = s->id == map.initial ? counts.total_profiles : n;
  }

  json stages = json::array();
  std::int64_t previous = -1;
  std::int64_t previous_progressed = -1;
  auto ratio = [](std::int64_t n, std::int64_t of) {
    return of > 0 ? json(Round(static_cast<double>(n) / static_cast<double>(of), 4))
                  : json(nullptr);
  };
  for (const Stage* s : funnel) {
    json row = StageHeader(*s);
    const std::int64_t n = Get(counts.reached, s->id);
    const std::int64_t p = progressed[s->id];
    row["reached"] = n;
    row["current"] = Get(counts.current, s->id);
    row["progressed"] = p;
    // `reached` counts the profiles that entered the stage itself: paths skip stages, so a stage
    // can be reached by more profiles than the one before it (a ratio above 1, a negative
    // drop-off). The progress fields are the ordered funnel.
    if (previous < 0) {
      row["conversion_from_previous"] = nullptr;
      row["drop_off"] = nullptr;
      row["progress_from_previous"] = nullptr;
      row["progress_drop_off"] = nullptr;
    } else {
      row["conversion_from_previous"] = ratio(n, previous);
      row["drop_off"] = previous - n;
      row["progress_from_previous"] = ratio(p, previous_progressed);
      row["progress_drop_off"] = previous_progressed - p;
    }
    row["median_time_in_stage_ms"] = median(s->id);
    stages.push_back(std::move(row));
    previous = n;
    previous_progressed = p;
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

json FunnelStats(Database& db, const JourneyMap& map, const ReportRange& range,
                 std::string* error) {
  json out = FunnelReport(map, FunnelCountsFromTables(db, map, range, error));
  out["range"] = RangeJson(range);
  if (!range.segment_dimension.empty()) {
    out["segment"] = {{"dimension", range.segment_dimension}, {"value", range.segment_value}};
    // Not kept per segment: said as unknown rather than as zero.
    for (const char* list : {"stages", "side_stages"}) {
      for (json& row : out[list]) {
        row["current"] = nullptr;
        row["median_time_in_stage_ms"] = nullptr;
      }
    }
  }
  return out;
}

// The `limit` values of `dimension` with the most journeys in the range (then by value), and how
// many values there are: one pass over its values holding `limit` of them, whatever their number
// (landing pages and campaigns are whatever visitors send).
std::pair<std::vector<std::string>, std::int64_t> TopValues(Database& db, const ReportRange& range,
                                                            const std::string& dimension,
                                                            const char* table, const char* column,
                                                            std::size_t limit, std::string* error,
                                                            const std::string& stage = "") {
  ReportRange by = range;
  by.segment_dimension = dimension;
  // With a stage (a conversion stage of the attribution), only its rows rank the values: bound
  // after the dimension.
  const int stage_at = range.map_version < 0 ? 6 : 5;
  Statement totals =
      SegmentQuery(db, std::string("SELECT value, SUM(") + column + ") FROM " + table, by,
                   (stage.empty() ? std::string() : " AND stage = ?" + std::to_string(stage_at)) +
                       " GROUP BY value",
                   /*any_value=*/true);
  if (!stage.empty()) totals.Bind(stage_at, stage);
  // The best `limit` so far in a heap whose top is the worst of them (fewest journeys, then the
  // greatest value). `better(a, b)`: a ranks before b (the heap's "less").
  using Entry = std::pair<std::int64_t, std::string>;
  auto better = [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::vector<Entry> heap;
  std::int64_t distinct = 0;
  ForEachRow(totals, error, [&](Statement& s) {
    if (s.Int(1) <= 0) return;
    ++distinct;
    Entry e{s.Int(1), s.Text(0)};
    if (heap.size() < limit) {
      heap.push_back(std::move(e));
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (!heap.empty() && better(e, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = std::move(e);
      std::push_heap(heap.begin(), heap.end(), better);
    }
  });
  std::sort(heap.begin(), heap.end(), better);
  std::vector<std::string> values;
  for (auto& e : heap) values.push_back(std::move(e.second));
  return {std::move(values), distinct};
}

json FunnelBreakdown(Database& db, const JourneyMap& map, const ReportRange& range,
                     const std::string& dimension, std::size_t limit, std::string* error) {
  ReportRange by = range;
  by.segment_dimension = dimension;
  const auto [top, distinct] =
      TopValues(db, range, dimension, "rollup_segment_reach", "profiles", limit, error);
  std::map<std::string, FunnelCounts> per_value;
  for (const auto& value : top) per_value[value];
  // Every journey counts once per dimension, so the values past the top are the whole funnel's
  // counts less the top values' (no need to hold them).
  FunnelCounts other;
  ForEachSegmentReach(
      db, map, by, error,
      [&](const std::string& value, const std::set<std::string>& entered, std::int64_t n) {
        auto it = per_value.find(value);
        AddReach(map, entered, n, it == per_value.end() ? &other : &it->second);
      });
  std::vector<std::pair<std::string, const FunnelCounts*>> ranked;
  for (const auto& value : top) {
    FunnelCounts& counts = per_value[value];
    counts.reached[map.initial] = counts.total_profiles;
    ranked.emplace_back(value, &counts);
  }
  other.reached[map.initial] = other.total_profiles;
  auto summary = [&](const FunnelCounts& counts) {
    json report = FunnelReport(map, counts);
    return json{
        {"total_profiles", counts.total_profiles},
        {"stages", PickFields(report["stages"], {"id", "name", "reached", "progressed",
                                                 "progress_from_previous", "progress_drop_off"})}};
  };
  json values = json::array();
  for (const auto& [value, counts] : ranked) {
    json row = summary(*counts);
    row["value"] = value;
    values.push_back(std::move(row));
  }
  return {{"dimension", dimension},
          {"distinct_values", distinct},
          {"values", std::move(values)},
          {"other", other.total_profiles > 0 ? summary(other) : json(nullptr)}};
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
    : profile_(db.Prepare("SELECT stage FROM profiles WHERE project_id = ? AND profile_id = ?")),
      transitions_(db.Prepare("SELECT to_stage FROM transitions WHERE project_id = ? AND "
                              "profile_id = ? ORDER BY position")),
      times_(db.Prepare("SELECT stage, total_ms FROM stage_times WHERE project_id = ? AND "
                        "profile_id = ? AND visits > 0")) {}

std::optional<JourneySummary> StoredJourneyReader::Read(const ProfileKey& profile,
                                                        std::string* error) {
  JourneySummary out;
  bool found = false;
  bool ok = true;
  // Each statement is reset after use (a finished or failed step leaves it ready to rerun).
  auto run = [&](Statement& stmt, auto&& row) {
    if (!ok) return;
    if (stmt.ok()) stmt.Bind(1, profile.project).Bind(2, profile.id);
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

namespace {
using Path = std::pair<std::vector<std::string>, bool>;  // stages, truncated

// Stored paths are the stages entered (storage/rollups.h); the map's initial stage goes in
// front, a first entry into it collapsing as any repeat does, and the cut applies to the whole.
std::optional<Path> ReportedPath(const JourneyMap& map, const std::string& stored, bool truncated) {
  json entered = json::parse(stored, nullptr, false);
  if (!entered.is_array()) return std::nullopt;
  Path path{{map.initial}, truncated};
  for (const auto& stage : entered) {
    if (!stage.is_string()) continue;
    std::string to = stage.get<std::string>();
    if (to == path.first.back()) continue;
    if (path.first.size() < kPathMaxStages) {
      path.first.push_back(std::move(to));
    } else {
      path.second = true;
    }
  }
  return path;
}
}  // namespace

void AddPathBreakdown(Database& db, const JourneyMap& map, const ReportRange& range,
                      const std::string& dimension, std::size_t limit, json* paths,
                      std::string* error) {
  ReportRange by = range;
  by.segment_dimension = dimension;
  // The values with the most visitors overall; a path's visitors of other values are summed as
  // one "other" entry (value null), so memory stays paths x limit whatever the values.
  const auto [top, distinct] =
      TopValues(db, range, dimension, "rollup_segment_paths", "visitors", limit, error);
  const std::set<std::string> kept(top.begin(), top.end());
  std::map<Path, std::map<std::string, std::int64_t>> per_path;
  std::map<Path, std::int64_t> per_path_other;
  Statement stmt =
      SegmentQuery(db, "SELECT path, truncated, value, SUM(visitors) FROM rollup_segment_paths", by,
                   " GROUP BY path, truncated, value", /*any_value=*/true);
  ForEachRow(stmt, error, [&](Statement& s) {
    if (s.Int(3) <= 0) return;
    if (auto path = ReportedPath(map, s.Text(0), s.Int(1) != 0)) {
      if (kept.count(s.Text(2)) != 0) {
        per_path[*path][s.Text(2)] += s.Int(3);
      } else {
        per_path_other[*path] += s.Int(3);
      }
    }
  });
  for (json& row : (*paths)["paths"]) {
    Path key{row["stages"].get<std::vector<std::string>>(), row["truncated"].get<bool>()};
    std::vector<std::pair<std::string, std::int64_t>> values;
    auto it = per_path.find(key);
    if (it != per_path.end()) values.assign(it->second.begin(), it->second.end());
    std::stable_sort(values.begin(), values.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    json by_value = json::array();
    for (std::size_t i = 0; i < values.size() && i < limit; ++i) {
      by_value.push_back({{"value", values[i].first}, {"visitors", values[i].second}});
    }
    auto other = per_path_other.find(key);
    if (other != per_path_other.end()) {
      by_value.push_back({{"value", nullptr}, {"visitors", other->second}});
    }
    row["by_value"] = std::move(by_value);
  }
  (*paths)["breakdown"] = {{"dimension", dimension}, {"distinct_values", distinct}};
}

json PathStats(Database& db, const JourneyMap& map, const ReportRange& range, std::size_t limit,
               std::string* error) {
  std::map<Path, std::int64_t> paths;
  std::map<std::pair<std::size_t, std::string>, std::int64_t> nodes;  // (step, stage) -> visitors
  std::map<std::tuple<std::size_t, std::string, std::string>, std::int64_t> links;
  std::int64_t profiles = 0;

  Statement stmt =
      range.segment_dimension.empty()
          ? RangeQuery(db,
                       std::string("SELECT path, truncated, SUM(visitors) FROM rollup_paths") +
                           InRange(range) + " GROUP BY path, truncated",
                       range)
          : SegmentQuery(db, "SELECT path, truncated, SUM(visitors) FROM rollup_segment_paths",
                         range, " GROUP BY path, truncated");
  ForEachRow(stmt, error, [&](Statement& s) {
    const std::int64_t visitors = s.Int(2);
    if (visitors <= 0) return;
    if (auto path = ReportedPath(map, s.Text(0), s.Int(1) != 0)) paths[*path] += visitors;
  });
  for (const auto& [path, visitors] : paths) {
    profiles += visitors;
    const auto& stages = path.first;
    for (std::size_t i = 0; i < stages.size(); ++i) {
      nodes[{i, stages[i]}] += visitors;
      if (i > 0) links[{i - 1, stages[i - 1], stages[i]}] += visitors;
    }
  }

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

  json out = {{"map", {{"id", map.id}, {"version", map.version}}},
              {"range", RangeJson(range)},
              {"profiles", profiles},
              {"distinct_paths", paths.size()},
              {"paths", std::move(out_paths)},
              {"nodes", std::move(out_nodes)},
              {"links", std::move(out_links)}};
  if (!range.segment_dimension.empty()) {
    out["segment"] = {{"dimension", range.segment_dimension}, {"value", range.segment_value}};
  }
  return out;
}

json TransitionStats(Database& db, const JourneyMap& map, const ReportRange& range,
                     std::string* error) {
  struct Edge {
    std::int64_t count = 0;
    std::int64_t profiles = 0;
    std::vector<std::pair<std::string, std::int64_t>> rules;
  };
  std::map<std::pair<std::string, std::string>, Edge> edges;

  Statement by_edge = RangeQuery(
      db,
      std::string(
          "SELECT from_stage, to_stage, SUM(transitions), SUM(profiles) FROM rollup_edges") +
          InRange(range) + " GROUP BY from_stage, to_stage",
      range);
  ForEachRow(by_edge, error, [&](Statement& s) {
    if (s.Int(2) <= 0) return;
    Edge& e = edges[{s.Text(0), s.Text(1)}];
    e.count = s.Int(2);
    e.profiles = s.Int(3);
  });
  Statement by_rule = RangeQuery(
      db,
      std::string("SELECT from_stage, to_stage, rule, SUM(transitions) FROM rollup_edge_rules") +
          InRange(range) +
          " GROUP BY from_stage, to_stage, rule ORDER BY from_stage, to_stage, rule",
      range);
  ForEachRow(by_rule, error, [&](Statement& s) {
    if (s.Int(3) <= 0) return;
    auto edge = edges.find({s.Text(0), s.Text(1)});
    if (edge != edges.end()) edge->second.rules.emplace_back(s.Text(2), s.Int(3));
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
          {"range", RangeJson(range)},
          {"total", total},
          {"edges", std::move(out_edges)}};
}

json TimeInStageStats(Database& db, const JourneyMap& map, const ReportRange& range,
                      std::string* error) {
  const auto rows = StageRows(db, range, error);
  const auto histograms = StageTimeHistograms(rows);
  json stages = json::array();
  for (const Stage& s : map.stages) {
    json row = StageHeader(s);
    auto it = histograms.find(s.id);
    auto totals = rows.find(s.id);
    if (it == histograms.end() || it->second.empty() || totals == rows.end() ||
        totals->second.timed_profiles <= 0) {
      row["profiles"] = 0;
      for (const char* key : {"median_ms", "p75_ms", "p90_ms", "mean_ms", "mean_visits"}) {
        row[key] = nullptr;
      }
    } else {
      // Percentiles from the rounded histogram; the mean from the exact sums.
      const StageRow& t = totals->second;
      const double n = static_cast<double>(t.timed_profiles);
      row["profiles"] = t.timed_profiles;
      row["median_ms"] = HistogramPercentile(it->second, 50);
      row["p75_ms"] = HistogramPercentile(it->second, 75);
      row["p90_ms"] = HistogramPercentile(it->second, 90);
      row["mean_ms"] = Round(static_cast<double>(t.total_ms) / n, 1);
      row["mean_visits"] = Round(static_cast<double>(t.visits) / n, 2);
    }
    stages.push_back(std::move(row));
  }
  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"range", RangeJson(range)},
          {"stages", std::move(stages)}};
}

json AttributionStats(Database& db, const JourneyMap& map, const ReportRange& range,
                      const std::string& conversion_stage, std::string* error, AttributionBy by,
                      const std::string& trigger) {
  // One conversion is one entry into a conversion stage: (profile, stage, at), on its own day.
  // ?4 is the stage, so the project (without a version) is ?5. A segment (the converting
  // journeys' first touch or device) reads the per-segment rows, its dimension and value bound
  // next (no gap in the numbers: PostgreSQL types every parameter up to the last).
  const bool segmented = !range.segment_dimension.empty();
  const int seg = range.map_version < 0 ? 6 : 5;
  const std::string segment_clause = segmented ? " AND dimension = ?" + std::to_string(seg) +
                                                     " AND value = ?" + std::to_string(seg + 1)
                                               : "";
  auto bind_segment = [&](Statement& stmt) {
    if (segmented) stmt.Bind(seg, range.segment_dimension).Bind(seg + 1, range.segment_value);
  };
  // A trigger stands where the stage does (?4): its conversions are kept by trigger id.
  const bool by_trigger = !trigger.empty();
  const std::string stage_clause =
      by_trigger ? " AND trigger_id = ?4" : " AND (?4 = '' OR stage = ?4)";
  Statement count_stmt = RangeQuery(db,
                                    std::string("SELECT COALESCE(SUM(conversions), 0) FROM ") +
                                        (by_trigger  ? "rollup_conversion_triggers"
                                         : segmented ? "rollup_conversion_segments"
                                                     : "rollup_conversions") +
                                        InRange(range, "?5") + stage_clause + segment_clause,
                                    range, 5);
  count_stmt.Bind(4, by_trigger ? trigger : conversion_stage);
  bind_segment(count_stmt);
  std::int64_t conversions = 0;
  ForEachRow(count_stmt, error, [&](Statement& s) { conversions = s.Int(0); });

  std::map<std::string, std::vector<std::pair<std::string, double>>> by_model;
  // By channel from rollup_credits; by the touches' source or campaign from their split.
  const std::string key = by == AttributionBy::kSource     ? "source"
                          : by == AttributionBy::kCampaign ? "campaign"
                                                           : "channel";
  const std::string table = by_trigger                      ? "rollup_credit_triggers"
                            : segmented                     ? "rollup_credit_segments"
                            : by == AttributionBy::kChannel ? "rollup_credits"
                                                            : "rollup_credit_sources";
  Statement credit_stmt = RangeQuery(db,
                                     "SELECT model, " + key + ", SUM(credit_micros) FROM " + table +
                                         InRange(range, "?5") + stage_clause + segment_clause +
                                         " GROUP BY model, " + key + " ORDER BY model, " + key,
                                     range, 5);
  credit_stmt.Bind(4, by_trigger ? trigger : conversion_stage);
  bind_segment(credit_stmt);
  ForEachRow(credit_stmt, error, [&](Statement& s) {
    if (s.Int(2) == 0) return;
    by_model[s.Text(0)].emplace_back(s.Text(1), static_cast<double>(s.Int(2)) / 1e6);
  });

  json trigger_ids = json::array();
  // Transition triggers only: an event trigger fires on no transition, so on no conversion.
  for (const TriggerDef& t : map.triggers) {
    if (t.events.empty()) trigger_ids.push_back(t.id);
  }
  json models = json::array();
  for (AttributionModel model : AllModels()) {
    const std::string name = ModelName(model);
    auto rows = by_model[name];  // copied: sorted below, in (channel) order from the query
    for (auto& row : rows) row.second = Round(row.second, 6);
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    json channels = json::array();
    json values = json::array();
    for (const auto& [value, credit] : rows) {
      // The credits of one conversion sum to 1, so credit / conversions is the value's share.
      json share = conversions > 0 ? json(Round(credit / static_cast<double>(conversions), 4))
                                   : json(nullptr);
      values.push_back({{"value", value}, {"credit", credit}, {"share", share}});
      if (by == AttributionBy::kChannel) {
        channels.push_back({{"channel", value}, {"credit", credit}, {"share", std::move(share)}});
      }
    }
    json row = {{"model", name}, {"values", std::move(values)}};
    if (by == AttributionBy::kChannel) row["channels"] = std::move(channels);
    models.push_back(std::move(row));
  }
  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"range", RangeJson(range)},
          {"conversion_stages", map.attribution.conversions},
          {"stage", conversion_stage.empty() ? json(nullptr) : json(conversion_stage)},
          {"by", key},
          {"trigger", by_trigger ? json(trigger) : json(nullptr)},
          {"triggers", trigger_ids},
          {"segment",
           segmented ? json{{"dimension", range.segment_dimension}, {"value", range.segment_value}}
                     : json(nullptr)},
          {"conversions", conversions},
          {"models", std::move(models)}};
}

json AttributionBreakdown(Database& db, const JourneyMap& map, const ReportRange& range,
                          const std::string& conversion_stage, const std::string& dimension,
                          std::size_t limit, std::string* error) {
  // The values with the most conversions (of any stage: the top is not per stage), then each
  // one's attribution from the per-segment rows.
  const auto [top, distinct] = TopValues(db, range, dimension, "rollup_conversion_segments",
                                         "conversions", limit, error, conversion_stage);
  json values = json::array();
  for (const auto& value : top) {
    ReportRange one = range;
    one.segment_dimension = dimension;
    one.segment_value = value;
    json report = AttributionStats(db, map, one, conversion_stage, error);
    values.push_back({{"value", value},
                      {"conversions", report["conversions"]},
                      {"models", std::move(report["models"])}});
  }
  return {{"dimension", dimension}, {"distinct_values", distinct}, {"values", std::move(values)}};
}

namespace {
// What a content gaps report is made of, read from the rollups (ContentGapStats) or, per value
// of a breakdown, from one pass over the segment rows (ContentGapBreakdown).
struct GapInputs {
  bool segmented = false;
  FunnelCounts counts;  // reached, furthest (and, whole, current and times in stage)
  Counts exits;         // whole only
  Counts in_stage;      // main-path stages: journeys that entered or sit in it
  Counts onward;        // of them, those that went further (a later rank)
  std::map<std::string, std::map<std::string, Counts>> shown;  // stage -> slot -> variant
  // stage -> (slot, variant) -> (journeys shown it there, of them onward)
  std::map<std::string,
           std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, std::int64_t>>>
      exposed;
};

// Adds `n` journeys that entered (or sit in) `entered` to the stage counts of `in`: furthest
// stage (and, in a segment, reached and total), and per main-path stage in it and onward.
void AddGapReach(const JourneyMap& map, const std::set<std::string>& entered, std::int64_t n,
                 GapInputs* in) {
  if (in->segmented) {
    AddReach(map, entered, n, &in->counts);
  } else {
    in->counts.furthest[FurthestOnMainPath(map, entered)] += n;
  }
  int top = -1;
  for (const Stage& st : map.stages) {
    if (entered.count(st.id) != 0) top = std::max(top, st.rank);
  }
  for (const Stage& st : map.stages) {
    if (st.rank < 0 || (st.id != map.initial && entered.count(st.id) == 0)) continue;
    in->in_stage[st.id] += n;
    if (top > st.rank) in->onward[st.id] += n;
  }
}

// Adds a rollup_exposure / rollup_segment_exposure row (journeys, of them onward, impressions):
// in a segment the impressions are the segment's journeys' own.
void AddGapExposure(const std::string& stage, const std::string& slot, const std::string& variant,
                    std::int64_t profiles, std::int64_t onward, std::int64_t shown, GapInputs* in) {
  if (profiles != 0) {
    auto& cell = in->exposed[stage][{slot, variant}];
    cell.first += profiles;
    cell.second += onward;
  }
  if (in->segmented && shown > 0) in->shown[stage][slot][variant] += shown;
}

const char* const kExposureSums = "SUM(profiles), SUM(onward), SUM(shown) FROM ";

// The report from its inputs: a row per stage, gaps first by lost visitors.
json GapReport(const JourneyMap& map, const ReportRange& range, GapInputs& in) {
  if (in.segmented) in.counts.reached[map.initial] = in.counts.total_profiles;
  const FunnelCounts& counts = in.counts;
  int top_rank = -1;
  for (const Stage& s : map.stages) top_rank = std::max(top_rank, s.rank);
  std::map<std::string, std::string> default_variant;  // slot -> its default's id
  for (const Slot& slot : map.slots) {
    if (slot.fallback) default_variant[slot.id] = slot.fallback->id;
  }
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
  auto rate = [](std::int64_t n, std::int64_t of) {
    return of > 0 ? json(Round(static_cast<double>(n) / static_cast<double>(of), 4))
                  : json(nullptr);
  };

  struct Row {
    json value;
    bool gap = false;
    bool main_path = false;
    std::int64_t lost = 0;
    std::int64_t visitors = 0;
  };
  std::vector<Row> rows;
  std::int64_t gaps = 0;
  for (const Stage& s : map.stages) {
    Row row;
    row.value = StageHeader(s);
    row.visitors = Get(counts.reached, s.id);
    row.main_path = s.rank >= 0;
    const bool lost_known = row.main_path || !in.segmented;
    if (s.rank < 0) {
      row.lost = Get(counts.current, s.id);
    } else if (s.rank < top_rank) {
      row.lost = Get(counts.furthest, s.id);
    }
    json variants = json::array();
    auto t = targeting.find(s.id);
    if (t != targeting.end()) {
      for (const auto& [slot, variant] : t->second) {
        variants.push_back({{"slot", slot}, {"variant", variant}});
      }
    }
    const bool targeted = !variants.empty();
    json shown_row = {{"total", 0}, {"by_slot", json::object()}, {"by_variant", json::array()}};
    std::int64_t shown_total = 0;
    std::int64_t made_for_stages = 0;  // impressions of variants other than their slot's default
    for (const auto& [slot, variants_shown] : in.shown[s.id]) {
      std::int64_t slot_total = 0;
      for (const auto& [variant, n] : variants_shown) {
        shown_row["by_variant"].push_back({{"slot", slot}, {"variant", variant}, {"shown", n}});
        slot_total += n;
        auto d = default_variant.find(slot);
        if (d == default_variant.end() || d->second != variant) made_for_stages += n;
      }
      shown_row["by_slot"][slot] = slot_total;
      shown_total += slot_total;
    }
    shown_row["total"] = shown_total;
    shown_row["stage_content"] = made_for_stages;
    const json per_visitor =
        row.visitors > 0
            ? json(Round(static_cast<double>(made_for_stages) / static_cast<double>(row.visitors),
                         4))
            : json(nullptr);
    row.gap = lost_known && row.lost > 0 &&
              static_cast<double>(made_for_stages) <
                  kGapContentPerVisitor * static_cast<double>(row.visitors);
    if (row.gap) ++gaps;
    row.value["visitors"] = row.visitors;
    row.value["current"] = in.segmented ? json(nullptr) : json(Get(counts.current, s.id));
    row.value["lost"] = lost_known ? json(row.lost) : json(nullptr);
    row.value["exits"] = in.segmented ? json(nullptr) : json(Get(in.exits, s.id));
    row.value["stage_content_per_visitor"] = per_visitor;
    // Onward with and without each variant shown here (main-path stages below the last rank).
    json shown_onward = json::array();
    if (s.rank >= 0 && s.rank < top_rank) {
      const std::int64_t all_in = Get(in.in_stage, s.id);
      const std::int64_t all_onward = Get(in.onward, s.id);
      for (const auto& [key, cell] : in.exposed[s.id]) {
        const std::int64_t without = std::max<std::int64_t>(0, all_in - cell.first);
        const std::int64_t without_onward = std::max<std::int64_t>(0, all_onward - cell.second);
        shown_onward.push_back({{"slot", key.first},
                                {"variant", key.second},
                                {"visitors", cell.first},
                                {"onward", cell.second},
                                {"onward_rate", rate(cell.second, cell.first)},
                                {"without",
                                 {{"visitors", without},
                                  {"onward", without_onward},
                                  {"onward_rate", rate(without_onward, without)}}}});
      }
      row.value["onward"] = all_onward;
      row.value["onward_rate"] = rate(all_onward, all_in);
    } else {
      row.value["onward"] = nullptr;
      row.value["onward_rate"] = nullptr;
    }
    row.value["variants_onward"] = std::move(shown_onward);
    row.value["median_time_in_stage_ms"] =
        in.segmented ? json(nullptr) : Median(counts.time_in_stage_ms, s.id);
    row.value["targeted"] = targeted;
    row.value["variants"] = std::move(variants);
    row.value["shown"] = std::move(shown_row);
    row.value["gap"] = row.gap;
    rows.push_back(std::move(row));
  }
  // Gaps first, ranked by lost visitors (then visitors); the rest in map order.
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.gap != b.gap) return a.gap;
    if (!a.gap) return false;
    if (a.lost != b.lost) return a.lost > b.lost;
    return a.visitors > b.visitors;
  });
  // Each visitor once: at their furthest main-path stage (a side stage's lost visitors are also
  // counted there).
  std::int64_t lost_in_gaps = 0;
  for (const Row& row : rows) lost_in_gaps += row.gap && row.main_path ? row.lost : 0;
  json stages = json::array();
  for (auto& row : rows) stages.push_back(std::move(row.value));
  json out = {{"map", {{"id", map.id}, {"version", map.version}}},
              {"range", RangeJson(range)},
              {"total_profiles", counts.total_profiles},
              {"gaps", gaps},
              {"lost_in_gaps", lost_in_gaps},
              {"stages", std::move(stages)}};
  if (in.segmented) {
    out["segment"] = {{"dimension", range.segment_dimension}, {"value", range.segment_value}};
  }
  return out;
}
}  // namespace

json ContentGapStats(Database& db, const JourneyMap& map, const ReportRange& range,
                     std::string* error) {
  // Where visitors stopped, as the ordered funnel counts it: a main-path stage loses the visitors
  // whose furthest stage it is (they left it for a side stage or sit in it), except the last
  // rank, which has nowhere further to go; a side stage loses those who sit in it now (not kept
  // per segment: unknown in one). One read of the stage rows (none in a segment) and one of the
  // reach sets serve the funnel's counts, the lost visitors and "went further" alike.
  GapInputs in;
  in.segmented = !range.segment_dimension.empty();
  if (!in.segmented) {
    const auto stage_rows = StageRows(db, range, error);
    in.counts = StageCounts(db, map, range, stage_rows, error);
    in.exits = Column(stage_rows, &StageRow::exits);
  }
  ForEachReach(db, map, range, error, [&](const std::set<std::string>& entered, std::int64_t n) {
    AddGapReach(map, entered, n, &in);
  });
  // Who was shown what in each stage, and whether they went further (judged at projection).
  Statement exposure_stmt =
      in.segmented
          ? SegmentQuery(db,
                         std::string("SELECT stage, slot, variant, ") + kExposureSums +
                             "rollup_segment_exposure",
                         range, " GROUP BY stage, slot, variant")
          : RangeQuery(db,
                       std::string("SELECT stage, slot, variant, ") + kExposureSums +
                           "rollup_exposure" + InRange(range) + " GROUP BY stage, slot, variant",
                       range);
  ForEachRow(exposure_stmt, error, [&](Statement& s) {
    AddGapExposure(s.Text(0), s.Text(1), s.Text(2), s.Int(3), s.Int(4), s.Int(5), &in);
  });
  if (!in.segmented) {
    // What the SDK reports it showed, in the stage the collector's engine had the visitor in at
    // that event, on the day it was shown (rollup_content, kept by the projection).
    Statement shown_stmt =
        RangeQuery(db,
                   std::string("SELECT stage, slot, variant, SUM(shown) FROM rollup_content") +
                       InRange(range) + " GROUP BY stage, slot, variant",
                   range);
    ForEachRow(shown_stmt, error, [&](Statement& s) {
      if (s.Int(3) > 0) in.shown[s.Text(0)][s.Text(1)][s.Text(2)] += s.Int(3);
    });
  }
  return GapReport(map, range, in);
}

json ContentGapBreakdown(Database& db, const JourneyMap& map, const ReportRange& range,
                         const std::string& dimension, std::size_t limit, std::string* error) {
  // The values with the most journeys; then one pass over the dimension's reach rows and one
  // over its exposure rows, each row added to its value's report (rows of other values skipped).
  const auto [top, distinct] =
      TopValues(db, range, dimension, "rollup_segment_reach", "profiles", limit, error);
  ReportRange by = range;
  by.segment_dimension = dimension;
  std::map<std::string, GapInputs> per_value;
  for (const auto& value : top) per_value[value].segmented = true;
  ForEachSegmentReach(
      db, map, by, error,
      [&](const std::string& value, const std::set<std::string>& entered, std::int64_t n) {
        auto it = per_value.find(value);
        if (it != per_value.end()) AddGapReach(map, entered, n, &it->second);
      });
  Statement exposure = SegmentQuery(db,
                                    std::string("SELECT value, stage, slot, variant, ") +
                                        kExposureSums + "rollup_segment_exposure",
                                    by, " GROUP BY value, stage, slot, variant",
                                    /*any_value=*/true);
  ForEachRow(exposure, error, [&](Statement& s) {
    auto it = per_value.find(s.Text(0));
    if (it != per_value.end()) {
      AddGapExposure(s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Int(5), s.Int(6), &it->second);
    }
  });
  json values = json::array();
  for (const auto& value : top) {
    ReportRange one = by;
    one.segment_value = value;
    json report = GapReport(map, one, per_value[value]);
    values.push_back({{"value", value},
                      {"total_profiles", report["total_profiles"]},
                      {"gaps", report["gaps"]},
                      {"lost_in_gaps", report["lost_in_gaps"]},
                      {"stages", PickFields(report["stages"],
                                            {"id", "name", "visitors", "lost",
                                             "stage_content_per_visitor", "onward_rate", "gap"})}});
  }
  return {{"dimension", dimension}, {"distinct_values", distinct}, {"values", std::move(values)}};
}

json ChannelStats(Database& db, const JourneyMap& map, const ReportRange& range,
                  std::string* error) {
  struct Row {
    std::string channel, campaign;
    std::int64_t visitors = 0, converted = 0;
  };
  std::vector<Row> rows;
  std::map<std::string, Row> channels;
  Statement stmt =
      RangeQuery(db,
                 std::string("SELECT channel, campaign, SUM(visitors), SUM(converted) FROM "
                             "rollup_acquisition") +
                     InRange(range) + " GROUP BY channel, campaign ORDER BY channel, campaign",
                 range);
  ForEachRow(stmt, error, [&](Statement& s) {
    if (s.Int(2) <= 0) return;
    rows.push_back({s.Text(0), s.Text(1), s.Int(2), s.Int(3)});
    Row& total = channels[s.Text(0)];
    total.channel = s.Text(0);
    total.visitors += s.Int(2);
    total.converted += s.Int(3);
  });
  auto rate = [](const Row& r) -> json {
    return r.visitors > 0
               ? json(Round(static_cast<double>(r.converted) / static_cast<double>(r.visitors), 4))
               : json(nullptr);
  };
  auto by_visitors = [](const Row& a, const Row& b) { return a.visitors > b.visitors; };
  std::stable_sort(rows.begin(), rows.end(), by_visitors);
  json out_rows = json::array();
  for (const Row& r : rows) {
    out_rows.push_back({{"channel", r.channel},
                        {"campaign", r.campaign},
                        {"visitors", r.visitors},
                        {"converted", r.converted},
                        {"conversion_rate", rate(r)}});
  }
  std::vector<Row> per_channel;
  for (auto& [name, r] : channels) per_channel.push_back(r);
  std::stable_sort(per_channel.begin(), per_channel.end(), by_visitors);
  json out_channels = json::array();
  for (const Row& r : per_channel) {
    out_channels.push_back({{"channel", r.channel},
                            {"visitors", r.visitors},
                            {"converted", r.converted},
                            {"conversion_rate", rate(r)}});
  }
  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"range", RangeJson(range)},
          {"conversion_stages", map.attribution.conversions},
          {"channels", std::move(out_channels)},
          {"campaigns", std::move(out_rows)}};
}

json WebhookStats(Database& db, const JourneyMap& /*map*/, const ReportRange& range,
                  std::string* error) {
  const std::int64_t now_ms = range.now_ms;
  Statement status_stmt = db.Prepare(
      "SELECT status, COUNT(*) FROM outbox WHERE project_id = ?3 AND created_at >= ?1 AND "
      "created_at < ?2 GROUP BY status");
  status_stmt.Bind(1, range.first_day * kMsPerDay).Bind(2, (range.last_day + 1) * kMsPerDay);
  status_stmt.Bind(3, range.project);
  Counts by_status;
  ForEachRow(status_stmt, error, [&](Statement& s) { by_status[s.Text(0)] = s.Int(1); });
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
                 "SELECT COUNT(*) FROM outbox WHERE project_id = ?1 AND status IN ('pending', "
                 "'inflight') AND next_attempt_at <= ?2",
                 error, range.project, now_ms);

  Statement oldest_stmt = db.Prepare(
      "SELECT MIN(created_at) FROM outbox WHERE project_id = ? AND status IN ('pending', "
      "'inflight')");
  oldest_stmt.Bind(1, range.project);
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
      "WHERE project_id = ?2 AND status <> 'delivered' AND (last_error IS NOT NULL OR "
      "last_status IS NOT NULL OR status = 'failed') ORDER BY id DESC LIMIT ?1");
  failures_stmt.Bind(1, kRecentFailures).Bind(2, range.project);
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

  return {{"range", RangeJson(range)},
          {"total", total},
          {"by_status", std::move(statuses)},
          {"due", due},
          {"oldest_pending_created_at", std::move(oldest_pending)},
          {"recent_failures", std::move(failures)}};
}

json OverviewStats(Database& db, const JourneyMap& map, std::int64_t map_version,
                   const ReportRange& range, std::string* error) {
  const std::int64_t now_ms = range.now_ms;
  // Event counts are kept per project (not per map version): filtered by it.
  const std::int64_t events = QueryCount(db,
                                         "SELECT COALESCE(SUM(events), 0) FROM rollup_events "
                                         "WHERE project_id = ?1 AND day >= ?2 AND day <= ?3",
                                         error, range.project, range.first_day, range.last_day);
  const std::int64_t all_events = QueryCount(
      db, "SELECT COALESCE(SUM(events), 0) FROM rollup_event_hours WHERE project_id = ?1", error,
      range.project);
  // By when the events happened (corrected time), not when they arrived: after a backfill of
  // last month, "last 24 h" is still the last 24 hours. In whole hours: this one and the 23
  // before it.
  const std::int64_t recent = QueryCount(db,
                                         "SELECT COALESCE(SUM(events), 0) FROM rollup_event_hours "
                                         "WHERE project_id = ?1 AND hour > ?2 AND hour <= ?3",
                                         error, range.project, HourOf(now_ms) - 24, HourOf(now_ms));

  Statement profiles_stmt =
      RangeQuery(db,
                 std::string("SELECT COALESCE(SUM(profiles), 0), COALESCE(SUM(identified), 0), "
                             "COALESCE(SUM(mismatches), 0) FROM rollup_cohorts") +
                     InRange(range),
                 range);
  std::int64_t profiles = 0;
  std::int64_t identified = 0;
  std::int64_t mismatches = 0;
  ForEachRow(profiles_stmt, error, [&](Statement& s) {
    profiles = s.Int(0);
    identified = s.Int(1);
    mismatches = s.Int(2);
  });

  json out = {{"project", range.project},
              {"map", {{"id", map.id}, {"version", map.version}}},
              {"range", RangeJson(range)},
              {"now", now_ms},
              {"events", events},
              {"events_all_time", all_events},
              {"events_last_24h", recent},
              {"profiles", profiles},
              {"identified_profiles", identified},
              {"stage_mismatches", mismatches}};
  out["reprojection"] = ReprojectionProgress(db, range.project, map_version, error);
  return out;
}

json ReprojectionProgress(Database& db, const std::string& project, std::int64_t map_version,
                          std::string* error) {
  std::int64_t profiles = 0;
  std::int64_t current = 0;
  // Profiles per map version: a row per version, not a row per profile. rollup_versions holds
  // every project's versions: only this project's count (its stored ones, and the current one,
  // which is its own even before a row of maps says so).
  Statement count = db.Prepare(
      "SELECT COALESCE(SUM(profiles), 0), "
      "COALESCE(SUM(CASE WHEN map_version = ?1 THEN profiles ELSE 0 END), 0) "
      "FROM rollup_versions WHERE map_version = ?1 OR "
      "map_version IN (SELECT version FROM maps WHERE project_id = ?2)");
  count.Bind(1, map_version).Bind(2, project);
  ForEachRow(count, error, [&](Statement& s) {
    profiles = s.Int(0);
    current = s.Int(1);
  });
  const std::int64_t waiting = QueryCount(
      db, "SELECT COUNT(*) FROM dirty_profiles WHERE project_id = ?1 AND (full_replay & 2) <> 0",
      error, project);
  const std::int64_t shown = ReportsVersion(db, project, map_version, error);
  return {{"map_version", map_version},
          {"profiles", profiles},
          {"profiles_on_this_version", current},
          {"waiting", waiting},
          {"reports_version", shown},
          {"done", waiting == 0 && shown == map_version}};
}

}  // namespace waymark::collector
