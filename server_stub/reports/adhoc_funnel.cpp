#include "reports/adhoc_funnel.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <utility>

#include "storage/rollups.h"

namespace waymark::collector {
namespace {

// What one visitor did that a step can match: (time, step kinds' names), in time order. At the
// same time the arrival in the initial stage comes first, then events, then the transitions they
// caused (a transition has its event's time).
struct Happening {
  std::int64_t at = 0;
  int order = 0;  ///< 0 arrival, 1 event, 2 transition
  FunnelStep::Kind kind = FunnelStep::Kind::kStage;
  std::string name;
};

// Most events read per visitor (the event steps' names only): a bot with millions of events
// costs no more than this.
constexpr std::int64_t kAdhocMaxEventsPerProfile = 10000;

// FNV-1a: a deterministic spread of profile ids, so that a sample is neither the anonymous ids
// first ("a:" sorts before "u:") nor the earliest arrivals.
std::uint64_t Spread(const std::string& id) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// Time-to-convert buckets (upper bounds, exclusive); the last is open.
constexpr std::array<std::pair<std::int64_t, const char*>, 9> kConvertBuckets = {{
    {60LL * 1000, "under 1 min"},
    {10LL * 60 * 1000, "1 to 10 min"},
    {60LL * 60 * 1000, "10 min to 1 h"},
    {6LL * 60 * 60 * 1000, "1 to 6 h"},
    {24LL * 60 * 60 * 1000, "6 to 24 h"},
    {3LL * 24 * 60 * 60 * 1000, "1 to 3 days"},
    {7LL * 24 * 60 * 60 * 1000, "3 to 7 days"},
    {14LL * 24 * 60 * 60 * 1000, "7 to 14 days"},
    {30LL * 24 * 60 * 60 * 1000, "14 to 30 days"},
}};

}  // namespace

std::optional<std::string> ParseFunnelSteps(const std::string& text, const JourneyMap& map,
                                            std::vector<FunnelStep>* out) {
  out->clear();
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const std::string which = "steps[" + std::to_string(out->size()) + "]";
    if (out->size() == kAdhocMaxSteps) {
      return "steps: at most " + std::to_string(kAdhocMaxSteps) + " steps";
    }
    const std::size_t colon = item.find(':');
    const std::string kind = item.substr(0, colon);
    const std::string name = colon == std::string::npos ? "" : item.substr(colon + 1);
    FunnelStep step;
    if (kind == "stage") {
      if (map.FindStage(name) == nullptr) {
        return which + ": no stage \"" + name.substr(0, 64) + "\" in the map";
      }
      step.kind = FunnelStep::Kind::kStage;
    } else if (kind == "event") {
      if (name.empty() || name.size() > 128 || name.find('\0') != std::string::npos ||
          !IsValidUtf8(name)) {
        return which + ": an event name of 1 to 128 bytes of UTF-8";
      }
      step.kind = FunnelStep::Kind::kEvent;
    } else {
      return which + ": expected stage:<id> or event:<name>";
    }
    step.name = name;
    out->push_back(std::move(step));
    if (end == text.size()) break;
    start = end + 1;
  }
  if (out->size() < 2) return std::string("steps: at least 2 steps");
  return std::nullopt;
}

json AdhocFunnel(Database& db, const JourneyMap& map, const ReportRange& range,
                 const std::vector<FunnelStep>& steps, std::int64_t window_ms, std::string* error) {
  // The visitors who arrived in the range (their cohort day): ids and arrival only, every one
  // (a scan of the project's profiles, no events); beyond the cap a deterministic sample spread
  // over them (the smallest Spread values) is followed.
  Statement visitors = db.Prepare(
      "SELECT profile_id, first_seen FROM profiles WHERE project_id = ?1 AND "
      "first_seen >= ?2 AND first_seen < ?3");
  visitors.Bind(1, range.project).Bind(2, range.first_day * kMsPerDay);
  visitors.Bind(3, (range.last_day + 1) * kMsPerDay);
  struct Visitor {
    std::string id;
    std::int64_t first_seen = 0;
    std::uint64_t spread = 0;
  };
  std::vector<Visitor> cohort;
  ForEachRow(visitors, error, [&](Statement& s) {
    std::string id = s.Text(0);
    const std::uint64_t spread = Spread(id);
    cohort.push_back({std::move(id), s.IsNull(1) ? 0 : s.Int(1), spread});
  });
  const std::size_t arrived = cohort.size();
  const bool sampled = arrived > kAdhocMaxProfiles;
  if (sampled) {
    std::nth_element(cohort.begin(), cohort.begin() + kAdhocMaxProfiles, cohort.end(),
                     [](const Visitor& a, const Visitor& b) { return a.spread < b.spread; });
    cohort.resize(kAdhocMaxProfiles);
  }
  // Listed in profile id order (the dropped lists read the same on every run).
  std::sort(cohort.begin(), cohort.end(),
            [](const Visitor& a, const Visitor& b) { return a.id < b.id; });

  bool wants_stages = false;
  bool wants_events = false;
  std::vector<std::string> event_names;
  for (const FunnelStep& step : steps) {
    if (step.kind == FunnelStep::Kind::kStage) {
      wants_stages = true;
    } else {
      wants_events = true;
      event_names.push_back(step.name);
    }
  }
  Statement transitions = db.Prepare(
      "SELECT to_stage, at FROM transitions WHERE project_id = ? AND profile_id = ? "
      "ORDER BY position");
  // Only the event steps' names, at most kAdhocMaxEventsPerProfile per visitor.
  std::string names;
  for (std::size_t i = 0; i < event_names.size(); ++i) {
    names += (i ? ", ?" : "?") + std::to_string(i + 3);
  }
  Statement events = db.Prepare(
      "SELECT name, corrected_time FROM events WHERE project_id = ?1 AND "
      "profile_id = ?2 AND name IN (" +
      (names.empty() ? std::string("NULL") : names) +
      ") ORDER BY corrected_time, anonymous_id, seq, id LIMIT " +
      std::to_string(kAdhocMaxEventsPerProfile));

  const std::size_t n = steps.size();
  std::vector<std::int64_t> entered(n, 0);
  std::vector<std::vector<std::int64_t>> step_times(n);  // ms from the previous step
  std::vector<std::vector<std::string>> dropped(n);
  std::vector<std::int64_t> convert_times;
  bool failed = false;

  for (const Visitor& v : cohort) {
    if (failed) break;
    std::vector<Happening> happened;
    // Everyone enters the initial stage when they arrive.
    happened.push_back({v.first_seen, 0, FunnelStep::Kind::kStage, map.initial});
    if (wants_stages) {
      transitions.Bind(1, range.project).Bind(2, v.id);
      failed = !ForEachRow(transitions, error, [&](Statement& s) {
        happened.push_back({s.Int(1), 2, FunnelStep::Kind::kStage, s.Text(0)});
      });
      transitions.Reset();
    }
    if (wants_events && !failed) {
      events.Bind(1, range.project).Bind(2, v.id);
      for (std::size_t i = 0; i < event_names.size(); ++i) {
        events.Bind(static_cast<int>(i) + 3, event_names[i]);
      }
      failed = !ForEachRow(events, error, [&](Statement& s) {
        happened.push_back({s.Int(1), 1, FunnelStep::Kind::kEvent, s.Text(0)});
      });
      events.Reset();
    }
    std::stable_sort(happened.begin(), happened.end(), [](const Happening& a, const Happening& b) {
      return a.at != b.at ? a.at < b.at : a.order < b.order;
    });
    // Greedy: the earliest first step, then the earliest of each next step at or after it.
    std::size_t at = 0;
    std::int64_t first_time = 0;
    std::int64_t previous_time = 0;
    std::size_t done = 0;
    for (std::size_t k = 0; k < n; ++k) {
      bool found = false;
      for (; at < happened.size(); ++at) {
        const Happening& h = happened[at];
        if (k > 0 && h.at - first_time > window_ms) break;
        if (h.kind == steps[k].kind && h.name == steps[k].name) {
          found = true;
          if (k == 0) first_time = h.at;
          if (k > 0) step_times[k].push_back(h.at - previous_time);
          previous_time = h.at;
          ++at;
          break;
        }
      }
      if (!found) break;
      ++entered[k];
      done = k + 1;
    }
    if (done > 0 && done < n && dropped[done].size() < kAdhocDroppedListed) {
      dropped[done].push_back(v.id);
    }
    if (done == n) convert_times.push_back(previous_time - first_time);
  }

  json out_steps = json::array();
  auto ratio = [](std::int64_t a, std::int64_t b) {
    return b > 0 ? json(static_cast<double>(std::llround(10000.0 * static_cast<double>(a) /
                                                         static_cast<double>(b))) /
                        10000.0)
                 : json(nullptr);
  };
  for (std::size_t k = 0; k < n; ++k) {
    std::sort(step_times[k].begin(), step_times[k].end());
    json row = {{"kind", steps[k].kind == FunnelStep::Kind::kStage ? "stage" : "event"},
                {"name", steps[k].name},
                {"entered", entered[k]}};
    if (steps[k].kind == FunnelStep::Kind::kStage) {
      const Stage* stage = map.FindStage(steps[k].name);
      row["label"] = stage != nullptr && !stage->name.empty() ? stage->name : steps[k].name;
    } else {
      row["label"] = steps[k].name;
    }
    if (k == 0) {
      row["conversion_from_previous"] = nullptr;
      row["conversion_from_first"] = nullptr;
      row["drop_off"] = nullptr;
      row["median_ms_from_previous"] = nullptr;
    } else {
      row["conversion_from_previous"] = ratio(entered[k], entered[k - 1]);
      row["conversion_from_first"] = ratio(entered[k], entered[0]);
      row["drop_off"] = entered[k - 1] - entered[k];
      row["median_ms_from_previous"] =
          step_times[k].empty() ? json(nullptr) : json(NearestRankPercentile(step_times[k], 50));
    }
    row["dropped"] = dropped[k];
    out_steps.push_back(std::move(row));
  }
  std::sort(convert_times.begin(), convert_times.end());
  json buckets = json::array();
  std::int64_t low = 0;
  std::size_t next = 0;
  for (std::size_t b = 0; b <= kConvertBuckets.size(); ++b) {
    const bool open = b == kConvertBuckets.size();
    const std::int64_t high = open ? -1 : kConvertBuckets[b].first;
    std::int64_t count = 0;
    while (next < convert_times.size() && (open || convert_times[next] < high)) {
      ++count;
      ++next;
    }
    buckets.push_back({{"label", open ? "30 days or more" : kConvertBuckets[b].second},
                       {"from_ms", low},
                       {"to_ms", open ? json(nullptr) : json(high)},
                       {"profiles", count}});
    low = high;
  }
  return {{"map", {{"id", map.id}, {"version", map.version}}},
          {"range", RangeJson(range)},
          {"window_ms", window_ms},
          {"profiles", cohort.size()},
          {"arrived", arrived},
          {"sampled", sampled},
          {"steps", std::move(out_steps)},
          {"time_to_convert",
           {{"profiles", convert_times.size()},
            {"median_ms", convert_times.empty() ? json(nullptr)
                                                : json(NearestRankPercentile(convert_times, 50))},
            {"p90_ms", convert_times.empty() ? json(nullptr)
                                             : json(NearestRankPercentile(convert_times, 90))},
            {"buckets", std::move(buckets)}}}};
}

}  // namespace waymark::collector
