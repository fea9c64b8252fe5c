#include "storage/rollups.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "storage/sql_dialect.h"
#include "waymark/channels.h"
#include "waymark/json_util.h"

namespace waymark::collector {

namespace {

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string PathKey(const std::vector<std::string>& stages) { return DumpJson(json(stages)); }

// Upsert statements: "INSERT ... ON CONFLICT (keys) DO UPDATE SET v = t.v + excluded.v, ...".
std::string AddingUpsert(const std::string& table, const std::vector<std::string>& keys,
                         const std::vector<std::string>& values) {
  std::string cols;
  std::string marks;
  for (const auto* list : {&keys, &values}) {
    for (const auto& c : *list) {
      cols += (cols.empty() ? "" : ", ") + c;
      marks += marks.empty() ? "?" : ", ?";
    }
  }
  std::string conflict;
  for (const auto& k : keys) conflict += (conflict.empty() ? "" : ", ") + k;
  std::string set;
  for (const auto& v : values) {
    set += (set.empty() ? "" : ", ") + v + " = " + table + "." + v + " + excluded." + v;
  }
  return "INSERT INTO " + table + " (" + cols + ") VALUES (" + marks + ") ON CONFLICT (" +
         conflict + ") DO UPDATE SET " + set;
}

template <std::size_t N>
bool AllZero(const std::array<std::int64_t, N>& values) {
  for (std::int64_t v : values) {
    if (v != 0) return false;
  }
  return true;
}

// rollup_stages' value columns: the counts, then h0 .. h83 (the time buckets).
std::vector<std::string> StageValueColumns() {
  std::vector<std::string> out = {"reached",        "current_profiles", "exits",
                                  "timed_profiles", "visits",           "total_ms"};
  for (int k = 0; k < kTimeBuckets; ++k) out.push_back("h" + std::to_string(k));
  return out;
}

std::string JoinColumns(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + c;
  return out;
}

const std::string kStageValueColumnsText = JoinColumns(StageValueColumns());
const char* const kStageValueColumns = kStageValueColumnsText.c_str();

// versioned: keyed by map_version, dropped for old versions when a re-projection finishes.
struct RollupTableInfo {
  const char* name;
  const char* keys;
  const char* values;
  bool versioned;
};
const RollupTableInfo kRollupTables[] = {
    {"rollup_events", "project_id, day, name", "events", false},  // summed over shard
    {"rollup_event_hours", "project_id, hour", "events", false},
    {"rollup_versions", "map_version", "profiles", true},
    {"rollup_cohorts", "map_version, day", "profiles, identified, mismatches", true},
    {"rollup_stages", "map_version, day, stage", kStageValueColumns, true},
    {"rollup_edges", "map_version, day, from_stage, to_stage", "transitions, profiles", true},
    {"rollup_edge_rules", "map_version, day, from_stage, to_stage, rule", "transitions", true},
    {"rollup_reach", "map_version, day, stages", "profiles", true},
    {"rollup_paths", "map_version, day, path, truncated", "visitors", true},
    {"rollup_segment_reach", "map_version, day, dimension, value, stages", "profiles", true},
    {"rollup_segment_paths", "map_version, day, dimension, value, path, truncated", "visitors",
     true},
    {"rollup_exposure", "map_version, day, stage, slot, variant", "profiles, onward, shown", true},
    {"rollup_segment_exposure", "map_version, day, dimension, value, stage, slot, variant",
     "profiles, onward, shown", true},
    {"rollup_acquisition", "map_version, day, channel, campaign", "visitors, converted", true},
    {"rollup_content", "map_version, day, stage, slot, variant", "shown", true},
    {"rollup_conversions", "map_version, day, stage", "conversions", true},
    {"rollup_credits", "map_version, day, stage, model, channel", "credit_micros", true},
    {"rollup_credit_sources", "map_version, day, stage, model, channel, source, campaign",
     "credit_micros", true},
    {"rollup_conversion_segments", "map_version, day, stage, dimension, value", "conversions",
     true},
    {"rollup_credit_segments", "map_version, day, stage, model, dimension, value, channel",
     "credit_micros", true},
    {"rollup_conversion_triggers", "map_version, day, trigger_id", "conversions", true},
    {"rollup_credit_triggers", "map_version, day, trigger_id, model, channel", "credit_micros",
     true}};

std::size_t ColumnCount(const char* list) {
  std::size_t n = 1;
  for (const char* c = list; *c != '\0'; ++c) n += *c == ',' ? 1 : 0;
  return n;
}

// Every non-zero row of every rollup table: "table (key | ...)" -> "value, ...".
std::optional<std::string> Snapshot(Database& db, std::map<std::string, std::string>* out) {
  for (const RollupTableInfo& t : kRollupTables) {
    const std::size_t keys = ColumnCount(t.keys);
    const std::size_t values = ColumnCount(t.values);
    // Values summed per key: the event counts are kept in shards.
    std::string sums;
    for (std::size_t i = 0, start = 0; i < values; ++i) {
      const std::string list = t.values;
      std::size_t end = list.find(',', start);
      if (end == std::string::npos) end = list.size();
      std::string column = list.substr(start, end - start);
      column.erase(0, column.find_first_not_of(' '));
      sums += (i == 0 ? "SUM(" : ", SUM(") + column + ")";
      start = end + 1;
    }
    Statement stmt = db.Prepare(std::string("SELECT ") + t.keys + ", " + sums + " FROM " + t.name +
                                " GROUP BY " + t.keys);
    std::string error;
    ForEachRow(stmt, &error, [&](Statement& s) {
      std::string key = std::string(t.name) + " (";
      std::string value;
      bool zero = true;
      for (std::size_t i = 0; i < keys + values; ++i) {
        const std::string text = s.Text(static_cast<int>(i));
        if (i < keys) {
          key += (i == 0 ? "" : " | ") + text;
        } else {
          value += (i == keys ? "" : ", ") + text;
          zero = zero && text == "0";
        }
      }
      if (!zero) (*out)[key + ")"] = value;
    });
    if (!error.empty()) return "rollups: " + error;
  }
  return std::nullopt;
}

}  // namespace

std::int64_t DayOf(std::int64_t ms) { return FloorDiv(ms, kMsPerDay); }
std::int64_t HourOf(std::int64_t ms) { return FloorDiv(ms, kMsPerHour); }

namespace {
// Upper bounds of buckets 0 .. kTimeBuckets - 2 in whole milliseconds, computed once: every
// bucketing is an integer comparison against the same table.
const std::array<std::int64_t, kTimeBuckets - 1>& TimeBounds() {
  static const auto bounds = [] {
    std::array<std::int64_t, kTimeBuckets - 1> b{};
    for (int k = 0; k < kTimeBuckets - 1; ++k) {
      b[static_cast<std::size_t>(k)] = std::llround(1000.0 * std::pow(2.0, k / 3.0));
    }
    return b;
  }();
  return bounds;
}
}  // namespace

int TimeBucket(std::int64_t ms) {
  const auto& bounds = TimeBounds();
  return static_cast<int>(std::upper_bound(bounds.begin(), bounds.end(), ms) - bounds.begin());
}

std::int64_t TimeBucketValue(int bucket) {
  const auto& bounds = TimeBounds();
  if (bucket <= 0) return 0;
  if (bucket >= kTimeBuckets - 1) return bounds.back();
  const double low = static_cast<double>(bounds[static_cast<std::size_t>(bucket - 1)]);
  const double high = static_cast<double>(bounds[static_cast<std::size_t>(bucket)]);
  return std::llround(std::sqrt(low * high));
}

std::int64_t CreditMicros(double credit) { return std::llround(credit * 1e6); }

namespace {
// A NUL character anywhere in the properties (keys or strings): the only place a stored event
// can hold one (the core refuses them elsewhere), written "\u0000" in its stored body.
bool HoldsNul(const json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.key().find('\0') != std::string::npos || HoldsNul(it.value())) return true;
    }
  }
  if (value.is_array()) {
    for (const auto& item : value) {
      if (HoldsNul(item)) return true;
    }
  }
  return false;
}
}  // namespace

namespace {
// Characters (code points) of valid UTF-8 text, as SQL's length() counts them.
std::size_t Utf8Length(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}
}  // namespace

std::optional<std::pair<std::string, std::string>> ShownContent(const json& properties) {
  if (!properties.is_object()) return std::nullopt;
  // Not counted: PostgreSQL cannot hold the text, SQLite's JSON functions cut it at the NUL.
  if (HoldsNul(properties)) return std::nullopt;
  auto slot = properties.find("slot");
  if (slot == properties.end() || !slot->is_string()) return std::nullopt;
  auto variant = properties.find("variant");
  std::string v = variant != properties.end() && variant->is_string() ? variant->get<std::string>()
                                                                      : std::string();
  // Slot and variant are keys of rollup rows: a client's 2 KB names would pass PostgreSQL's
  // index entry limit and stall every projection. Longer names are content nobody's map has.
  if (Utf8Length(slot->get_ref<const std::string&>()) > kMaxShownNameChars ||
      Utf8Length(v) > kMaxShownNameChars) {
    return std::nullopt;
  }
  return std::make_pair(slot->get<std::string>(), std::move(v));
}

Acquisition FirstTouch(const EventContext& context) {
  Acquisition a;
  a.channel = context.channel;
  auto utm = [&](const char* key) {
    auto it = context.campaign.find(key);
    return it == context.campaign.end() ? std::string() : it->second;
  };
  a.campaign = utm("utm_campaign");
  // The same source as attribution's touches (one rule, in the core).
  a.source = TouchSource(context.campaign, context.referrer);
  a.medium = utm("utm_medium");
  if (a.medium.empty()) {
    if (context.channel == "Organic Search") {
      a.medium = "organic";
    } else {
      a.medium = HostOf(context.referrer).empty() ? "(none)" : "referral";
    }
  }
  a.landing = context.path;
  return a;
}

const std::vector<std::string>& SegmentDimensions() {
  static const std::vector<std::string> kDimensions = {
      "channel", "source", "medium", "campaign", "landing", "device", "identified", "stage"};
  return kDimensions;
}

std::vector<std::string> SegmentValues(const JourneyFacts& f) {
  return {f.channel,
          f.source,
          f.medium,
          f.campaign,
          f.landing,
          f.device,
          f.identified ? "identified" : "anonymous",
          f.stage};
}

std::string ExposuresJson(const std::vector<JourneyFacts::Exposure>& exposures) {
  json out = json::array();
  for (const auto& e : exposures) {
    out.push_back({e.stage, e.slot, e.variant, e.shown, e.onward ? 1 : 0});
  }
  return DumpJson(out);
}

std::vector<JourneyFacts::Exposure> ParseExposures(const std::string& text) {
  std::vector<JourneyFacts::Exposure> out;
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const json& e : parsed) {
    if (e.is_array() && e.size() == 5 && e[0].is_string() && e[1].is_string() && e[2].is_string() &&
        e[3].is_number_integer() && e[4].is_number_integer()) {
      out.push_back({e[0].get<std::string>(), e[1].get<std::string>(), e[2].get<std::string>(),
                     e[3].get<std::int64_t>(), e[4].get<std::int64_t>() != 0});
    }
  }
  return out;
}

Exposures ExposureCounts(const std::vector<JourneyFacts::Exposure>& exposures) {
  Exposures out;
  for (const auto& e : exposures) out[{e.stage, e.slot, e.variant}] += e.shown;
  return out;
}

std::string KeyText(std::string text) {
  if (text.size() <= kMaxKeyTextBytes) return text;
  std::size_t end = kMaxKeyTextBytes;
  // Back to the first byte of a character (never past a lead byte: UTF-8 continuation bytes are
  // 10xxxxxx).
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text;
}

std::string StageToken(const std::string& stage) {
  // FNV-1a, 64 bits: two ids of one map (64 at most) share a token with odds of about 1e-16.
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : stage) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) out[static_cast<std::size_t>(i)] = kHex[hash & 0xF];
  return out;
}

std::string ReachKey(const std::set<std::string>& stages) {
  std::vector<std::string> tokens;
  tokens.reserve(stages.size());
  for (const auto& stage : stages) tokens.push_back(StageToken(stage));
  std::sort(tokens.begin(), tokens.end());
  std::string out;
  for (const auto& t : tokens) out += (out.empty() ? "" : ",") + t;
  return out;
}

std::map<std::string, std::string> StageTokens(const std::vector<std::string>& stage_ids) {
  std::map<std::string, std::string> out;
  for (const auto& id : stage_ids) out.emplace(StageToken(id), id);
  return out;
}

std::set<std::string> ReachStages(const std::string& key,
                                  const std::map<std::string, std::string>& tokens) {
  std::set<std::string> out;
  for (std::size_t start = 0; start < key.size();) {
    std::size_t end = key.find(',', start);
    if (end == std::string::npos) end = key.size();
    auto it = tokens.find(key.substr(start, end - start));
    if (it != tokens.end()) out.insert(it->second);
    start = end + 1;
  }
  return out;
}

const std::vector<std::string>& CreditDimensions() {
  static const std::vector<std::string> kDimensions = {"channel",  "source",  "medium",
                                                       "campaign", "landing", "device"};
  return kDimensions;
}

std::vector<std::string> CreditSegmentValues(const JourneyFacts& f) {
  return {f.channel, f.source, f.medium, f.campaign, f.landing, f.device};
}

std::vector<std::string> CreditSegmentValues(const Acquisition& a) {
  return {a.channel, a.source, a.medium, a.campaign, a.landing, a.device};
}

JourneyFacts FactsFromEngine(const Engine& engine, std::int64_t first_seen,
                             std::int64_t map_version, std::int64_t mismatches, TimeMs until,
                             const Acquisition& acquisition,
                             const std::vector<std::string>& conversion_stages,
                             const Exposures& exposures) {
  JourneyFacts f;
  f.first_seen = first_seen;
  f.stage = engine.stage();
  f.map_version = map_version;
  f.identified = !engine.user_id().empty();
  f.mismatches = mismatches;
  f.channel = acquisition.channel;
  f.campaign = acquisition.campaign;
  f.source = acquisition.source;
  f.medium = acquisition.medium;
  f.landing = acquisition.landing;
  f.device = acquisition.device;
  auto is_conversion = [&](const std::string& stage) {
    return std::find(conversion_stages.begin(), conversion_stages.end(), stage) !=
           conversion_stages.end();
  };
  f.converted = is_conversion(f.stage);
  for (const auto& t : engine.transitions()) {
    f.transitions.push_back({t.from, t.to, t.rule});
    f.converted = f.converted || is_conversion(t.to);
  }
  for (const auto& [stage, t] : engine.StageTimes(until)) {
    if (t.visits > 0) f.stage_times.push_back({stage, t.total, t.visits});
  }
  // Whether it went further than each stage it was shown content in: the highest main-path rank
  // among the stages it entered or sits in, against that stage's (the map of its version).
  const JourneyMap& map = engine.map();
  auto rank_of = [&](const std::string& id) {
    const Stage* stage = map.FindStage(id);
    return stage != nullptr ? stage->rank : -1;
  };
  int top = rank_of(f.stage);
  for (const auto& t : f.transitions) top = std::max(top, rank_of(t.to));
  for (const auto& [key, shown] : exposures) {
    const auto& [stage, slot, variant] = key;
    const int rank = rank_of(stage);
    f.exposures.push_back({stage, slot, variant, shown, rank >= 0 && top > rank});
  }
  return f;
}

StoredPath PathOfTransitions(const std::vector<JourneyFacts::Transition>& transitions) {
  StoredPath path;
  for (const auto& t : transitions) {
    if (!path.stages.empty() && path.stages.back() == t.to) continue;
    if (path.stages.size() == kStoredPathStages) {
      path.truncated = true;
      break;
    }
    path.stages.push_back(t.to);
  }
  return path;
}

void RollupDelta::AddVersionProfiles(std::int64_t map_version, int sign) {
  versions_[map_version] += sign;
}

void RollupDelta::AddJourney(const JourneyFacts& f, int sign) {
  const Day day = DayOf(f.first_seen);
  const Version v = f.map_version;
  versions_[v] += sign;
  auto& cohort = cohorts_[{v, day}];
  cohort[0] += sign;
  cohort[1] += f.identified ? sign : 0;
  cohort[2] += sign * f.mismatches;

  // reached: every stage entered, and the current one (see ReachedByStage in stats.cpp).
  std::set<std::string> reached{f.stage};
  std::set<std::pair<std::string, std::string>> edges_seen;
  for (const auto& t : f.transitions) {
    reached.insert(t.to);
    if (t.from != t.to) stages_[{v, day, t.from}][2] += sign;  // an exit
    auto& edge = edges_[{v, day, t.from, t.to}];
    edge[0] += sign;
    if (edges_seen.emplace(t.from, t.to).second) edge[1] += sign;  // distinct profiles on it
    edge_rules_[{v, day, t.from, t.to, t.rule}] += sign;
  }
  for (const auto& stage : reached) stages_[{v, day, stage}][0] += sign;
  stages_[{v, day, f.stage}][1] += sign;
  for (const auto& t : f.stage_times) {
    auto& row = stages_[{v, day, t.stage}];
    row[3] += sign;
    row[4] += sign * t.visits;
    row[5] += sign * t.total_ms;
    row[6 + static_cast<std::size_t>(TimeBucket(t.total_ms))] += sign;
  }
  const StoredPath path = PathOfTransitions(f.transitions);
  const std::string path_key = PathKey(path.stages);
  const std::string reach_key = ReachKey(reached);
  paths_[{v, day, path_key, path.truncated ? 1 : 0}] += sign;
  reach_[{v, day, reach_key}] += sign;
  auto add_exposure = [sign](std::array<std::int64_t, 3>& row, const JourneyFacts::Exposure& e) {
    row[0] += sign;
    row[1] += e.onward ? sign : 0;
    row[2] += sign * e.shown;
  };
  for (const auto& e : f.exposures)
    add_exposure(exposure_[{v, day, e.stage, e.slot, e.variant}], e);
  const auto& dimensions = SegmentDimensions();
  const auto values = SegmentValues(f);
  for (std::size_t i = 0; i < dimensions.size(); ++i) {
    const std::string value = KeyText(values[i]);
    segment_reach_[{v, day, dimensions[i], value, reach_key}] += sign;
    segment_paths_[{v, day, dimensions[i], value, path_key, path.truncated ? 1 : 0}] += sign;
    for (const auto& e : f.exposures) {
      add_exposure(segment_exposure_[{v, day, dimensions[i], value, e.stage, e.slot, e.variant}],
                   e);
    }
  }
  auto& acquired = acquisition_[{v, day, f.channel, KeyText(f.campaign)}];
  acquired[0] += sign;
  acquired[1] += f.converted ? sign : 0;
}

void RollupDelta::AddEvent(const std::string& project, std::int64_t time_ms,
                           const std::string& name, std::int64_t n) {
  events_[{project, DayOf(time_ms), name}] += n;
  event_hours_[{project, HourOf(time_ms)}] += n;
}

void RollupDelta::AddContentShown(std::int64_t map_version, std::int64_t time_ms,
                                  const std::string& stage, const std::string& slot,
                                  const std::string& variant, std::int64_t n) {
  content_[{map_version, DayOf(time_ms), stage, slot, variant}] += n;
}

void RollupDelta::AddConversion(std::int64_t map_version, std::int64_t at_ms,
                                const std::string& stage, int sign,
                                const std::vector<std::string>& segment,
                                const std::string& triggers) {
  const Day day = DayOf(at_ms);
  conversions_[{map_version, day, stage}] += sign;
  const auto& dimensions = CreditDimensions();
  for (std::size_t i = 0; i < dimensions.size() && i < segment.size(); ++i) {
    conversion_segments_[{map_version, day, stage, dimensions[i], KeyText(segment[i])}] += sign;
  }
  for (const auto& trigger : TriggerIds(triggers)) {
    conversion_triggers_[{map_version, day, trigger}] += sign;
  }
}

void RollupDelta::AddCredit(std::int64_t map_version, std::int64_t at_ms, const std::string& stage,
                            const std::string& model, const std::string& channel, double credit,
                            const std::string& touches, int sign,
                            const std::vector<std::string>& segment, const std::string& triggers) {
  const Day day = DayOf(at_ms);
  credits_[{map_version, day, stage, model, channel}] += sign * CreditMicros(credit);
  for (const auto& trigger : TriggerIds(triggers)) {
    credit_triggers_[{map_version, day, trigger, model, channel}] += sign * CreditMicros(credit);
  }
  const auto& dimensions = CreditDimensions();
  for (std::size_t i = 0; i < dimensions.size() && i < segment.size(); ++i) {
    credit_segments_[{map_version, day, stage, model, dimensions[i], KeyText(segment[i]),
                      channel}] += sign * CreditMicros(credit);
  }
  for (const CreditPart& part : CreditParts(touches, credit)) {
    credit_sources_[{map_version, day, stage, model, channel, KeyText(part.source),
                     KeyText(part.campaign)}] += sign * CreditMicros(part.credit);
  }
}

std::string TriggerIdsJson(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids.empty() ? std::string() : DumpJson(json(ids));
}

std::vector<std::string> TriggerIds(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const json& id : parsed) {
    if (id.is_string()) out.push_back(id.get<std::string>());
  }
  return out;
}

std::string CreditPartsJson(const std::vector<CreditPart>& parts) {
  json out = json::array();
  for (const CreditPart& p : parts) out.push_back(json::array({p.source, p.campaign, p.credit}));
  return DumpJson(out);
}

std::vector<CreditPart> CreditParts(const std::string& touches, double credit) {
  std::vector<CreditPart> out;
  json parsed = json::parse(touches, nullptr, false);
  if (parsed.is_array()) {
    for (const json& p : parsed) {
      if (p.is_array() && p.size() == 3 && p[0].is_string() && p[1].is_string() &&
          p[2].is_number()) {
        out.push_back({p[0].get<std::string>(), p[1].get<std::string>(), p[2].get<double>()});
      }
    }
  }
  if (out.empty()) out.push_back({"", "", credit});
  return out;
}

bool RollupDelta::empty() const {
  return events_.empty() && event_hours_.empty() && versions_.empty() && cohorts_.empty() &&
         stages_.empty() && edges_.empty() && edge_rules_.empty() && paths_.empty() &&
         reach_.empty() && segment_reach_.empty() && segment_paths_.empty() && exposure_.empty() &&
         segment_exposure_.empty() && acquisition_.empty() && content_.empty() &&
         conversions_.empty() && credits_.empty() && credit_sources_.empty() &&
         conversion_segments_.empty() && credit_segments_.empty() && conversion_triggers_.empty() &&
         credit_triggers_.empty();
}

void RollupDelta::Clear() { *this = RollupDelta(); }

namespace {
// Rows per statement of a batched upsert (PostgreSQL): a flush of a recount holds thousands.
constexpr std::size_t kBatchRows = 500;

bool IsZero(std::int64_t v) { return v == 0; }
template <std::size_t N>
bool IsZero(const std::array<std::int64_t, N>& values) {
  return AllZero(values);
}
template <typename Fn>
void ForEachValue(std::int64_t v, Fn&& fn) {
  fn(v);
}
template <std::size_t N, typename Fn>
void ForEachValue(const std::array<std::int64_t, N>& values, Fn&& fn) {
  for (std::int64_t v : values) fn(v);
}

// One rollup table's adding upsert. SQLite: a statement per row (a call in the process costs
// little). PostgreSQL: the rows of a flush in statements of up to kBatchRows rows, one round trip
// each instead of one per row; json_populate_recordset types them by the table's own columns.
// Rows go in the delta's key order either way (several collectors lock rows in one order).
class TableUpsert {
 public:
  TableUpsert(Database& db, std::string table, std::vector<std::string> keys,
              std::vector<std::string> values)
      : table_(std::move(table)),
        keys_(std::move(keys)),
        values_(std::move(values)),
        batched_(db.dialect() == Dialect::kPostgres),
        stmt_(db.Prepare(batched_ ? BatchSql() : AddingUpsert(table_, keys_, values_))) {}

  // Adds every non-zero row of `rows` (a RollupDelta map: tuple key -> count or counts).
  template <typename Rows>
  std::optional<std::string> Write(const Rows& rows) {
    json batch = json::array();
    for (const auto& [key, value] : rows) {
      if (IsZero(value)) continue;
      if (!batched_) {
        int i = 0;
        std::apply([&](const auto&... part) { (stmt_.Bind(++i, part), ...); }, key);
        ForEachValue(value, [&](std::int64_t v) { stmt_.Bind(++i, v); });
        if (auto err = Run()) return err;
        continue;
      }
      json row = json::object();
      std::size_t i = 0;
      std::apply([&](const auto&... part) { ((row[keys_[i++]] = part), ...); }, key);
      i = 0;
      ForEachValue(value, [&](std::int64_t v) { row[values_[i++]] = v; });
      batch.push_back(std::move(row));
      if (batch.size() == kBatchRows) {
        if (auto err = RunBatch(batch)) return err;
      }
    }
    if (!batch.empty()) return RunBatch(batch);
    return std::nullopt;
  }

 private:
  std::string BatchSql() const {
    std::string cols;
    std::string read;
    for (const auto* list : {&keys_, &values_}) {
      for (const auto& c : *list) {
        cols += (cols.empty() ? "" : ", ") + c;
        read += (read.empty() ? "r." : ", r.") + c;
      }
    }
    // The row-by-row upsert's conflict clause, on rows read from one JSON array in its order
    // (ORDER BY its ordinality: the order rows are locked in is the delta's on every collector).
    const std::string single = AddingUpsert(table_, keys_, values_);
    return "INSERT INTO " + table_ + " (" + cols + ") SELECT " + read +
           " FROM json_populate_recordset(NULL::" + table_ +
           ", CAST(?1 AS json)) WITH ORDINALITY AS r ORDER BY r.ordinality " +
           single.substr(single.find("ON CONFLICT"));
  }
  std::optional<std::string> RunBatch(json& batch) {
    stmt_.Bind(1, DumpJson(batch));
    batch = json::array();
    return Run();
  }
  std::optional<std::string> Run() {
    if (!stmt_.ok() || !stmt_.Run()) return "rollups (" + table_ + "): " + stmt_.error();
    return std::nullopt;
  }

  std::string table_;
  std::vector<std::string> keys_, values_;
  bool batched_;
  Statement stmt_;
};
}  // namespace

struct RollupWriter::Statements {
  explicit Statements(Database& db)
      : events(db.Prepare(
            AddingUpsert("rollup_events", {"project_id", "day", "name", "shard"}, {"events"}))),
        event_hours(db.Prepare(
            AddingUpsert("rollup_event_hours", {"project_id", "hour", "shard"}, {"events"}))),
        versions(db.Prepare(AddingUpsert("rollup_versions", {"map_version"}, {"profiles"}))),
        cohorts(db, "rollup_cohorts", {"map_version", "day"},
                {"profiles", "identified", "mismatches"}),
        stages(db, "rollup_stages", {"map_version", "day", "stage"}, StageValueColumns()),
        edges(db, "rollup_edges", {"map_version", "day", "from_stage", "to_stage"},
              {"transitions", "profiles"}),
        edge_rules(db, "rollup_edge_rules",
                   {"map_version", "day", "from_stage", "to_stage", "rule"}, {"transitions"}),
        reach(db, "rollup_reach", {"map_version", "day", "stages"}, {"profiles"}),
        paths(db, "rollup_paths", {"map_version", "day", "path", "truncated"}, {"visitors"}),
        segment_reach(db, "rollup_segment_reach",
                      {"map_version", "day", "dimension", "value", "stages"}, {"profiles"}),
        segment_paths(db, "rollup_segment_paths",
                      {"map_version", "day", "dimension", "value", "path", "truncated"},
                      {"visitors"}),
        exposure(db, "rollup_exposure", {"map_version", "day", "stage", "slot", "variant"},
                 {"profiles", "onward", "shown"}),
        segment_exposure(db, "rollup_segment_exposure",
                         {"map_version", "day", "dimension", "value", "stage", "slot", "variant"},
                         {"profiles", "onward", "shown"}),
        acquisition(db, "rollup_acquisition", {"map_version", "day", "channel", "campaign"},
                    {"visitors", "converted"}),
        content(db, "rollup_content", {"map_version", "day", "stage", "slot", "variant"},
                {"shown"}),
        conversions(db, "rollup_conversions", {"map_version", "day", "stage"}, {"conversions"}),
        credits(db, "rollup_credits", {"map_version", "day", "stage", "model", "channel"},
                {"credit_micros"}),
        credit_sources(db, "rollup_credit_sources",
                       {"map_version", "day", "stage", "model", "channel", "source", "campaign"},
                       {"credit_micros"}),
        conversion_segments(db, "rollup_conversion_segments",
                            {"map_version", "day", "stage", "dimension", "value"}, {"conversions"}),
        credit_segments(db, "rollup_credit_segments",
                        {"map_version", "day", "stage", "model", "dimension", "value", "channel"},
                        {"credit_micros"}),
        conversion_triggers(db, "rollup_conversion_triggers", {"map_version", "day", "trigger_id"},
                            {"conversions"}),
        credit_triggers(db, "rollup_credit_triggers",
                        {"map_version", "day", "trigger_id", "model", "channel"},
                        {"credit_micros"}) {}

  // Event counts and versions: a few rows per flush, written with the writer's shard.
  Statement events, event_hours, versions;
  TableUpsert cohorts, stages, edges, edge_rules, reach, paths, segment_reach, segment_paths,
      exposure, segment_exposure, acquisition, content, conversions, credits, credit_sources,
      conversion_segments, credit_segments, conversion_triggers, credit_triggers;
};

RollupWriter::RollupWriter(Database& db, int shard) : db_(db), shard_(shard) {}
RollupWriter::~RollupWriter() = default;

std::optional<std::string> RollupWriter::Flush(RollupDelta& d) {
  if (d.empty()) return std::nullopt;
  if (!st_) st_ = std::make_unique<Statements>(db_);
  std::optional<std::string> failure;
  auto run = [&](Statement& s, const char* what) {
    if (failure) return;
    if (!s.ok() || !s.Run()) {
      failure = std::string("rollups (") + what + "): " + s.error();
    }
  };
  for (const auto& [k, n] : d.events_) {
    if (failure || n == 0) continue;
    st_->events.Bind(1, std::get<0>(k)).Bind(2, std::get<1>(k)).Bind(3, std::get<2>(k));
    st_->events.Bind(4, shard_).Bind(5, n);
    run(st_->events, "events");
  }
  for (const auto& [k, n] : d.event_hours_) {
    if (failure || n == 0) continue;
    st_->event_hours.Bind(1, k.first).Bind(2, k.second).Bind(3, shard_).Bind(4, n);
    run(st_->event_hours, "event hours");
  }
  for (const auto& [version, n] : d.versions_) {
    if (failure || n == 0) continue;
    st_->versions.Bind(1, version).Bind(2, n);
    run(st_->versions, "versions");
  }
  auto write = [&](TableUpsert& table, const auto& rows) {
    if (!failure) failure = table.Write(rows);
  };
  write(st_->cohorts, d.cohorts_);
  write(st_->stages, d.stages_);
  write(st_->edges, d.edges_);
  write(st_->edge_rules, d.edge_rules_);
  write(st_->reach, d.reach_);
  write(st_->paths, d.paths_);
  write(st_->segment_reach, d.segment_reach_);
  write(st_->segment_paths, d.segment_paths_);
  write(st_->exposure, d.exposure_);
  write(st_->segment_exposure, d.segment_exposure_);
  write(st_->acquisition, d.acquisition_);
  write(st_->content, d.content_);
  write(st_->conversions, d.conversions_);
  write(st_->credits, d.credits_);
  write(st_->credit_sources, d.credit_sources_);
  write(st_->conversion_segments, d.conversion_segments_);
  write(st_->credit_segments, d.credit_segments_);
  write(st_->conversion_triggers, d.conversion_triggers_);
  write(st_->credit_triggers, d.credit_triggers_);
  d.Clear();
  if (failure) st_.reset();  // prepared again next time (the database may be back)
  return failure;
}

struct StoredFactsReader::Statements {
  explicit Statements(Database& db)
      : profile(db.Prepare(
            "SELECT first_seen, stage, map_version, user_id, stage_mismatches, channel, campaign, "
            "converted, source, medium, landing, device, content_seen FROM profiles "
            "WHERE project_id = ? AND profile_id = ?")),
        transitions(db.Prepare("SELECT from_stage, to_stage, rule FROM transitions "
                               "WHERE project_id = ? AND profile_id = ? ORDER BY position")),
        times(db.Prepare("SELECT stage, total_ms, visits FROM stage_times "
                         "WHERE project_id = ? AND profile_id = ? AND visits > 0 ORDER BY stage")),
        conversions(db.Prepare("SELECT stage, at, model, channel, credit, touches, triggers FROM "
                               "conversions "
                               "WHERE project_id = ? AND profile_id = ? ORDER BY stage, at")) {}
  Statement profile, transitions, times, conversions;
};

StoredFactsReader::StoredFactsReader(Database& db) : st_(std::make_unique<Statements>(db)) {}
StoredFactsReader::~StoredFactsReader() = default;

namespace {
// Runs `stmt` bound to a project's profile, calling row per result; resets it. False on failure.
template <typename RowFn>
bool RunFor(Statement& stmt, const ProfileKey& profile, std::string* error, RowFn&& row) {
  if (stmt.ok()) stmt.Bind(1, profile.project).Bind(2, profile.id);
  const bool ok = ForEachRow(stmt, error, row);
  if (stmt.ok()) stmt.Reset();
  return ok;
}
}  // namespace

std::optional<JourneyFacts> StoredFactsReader::Journey(const ProfileKey& profile_id,
                                                       std::string* error) {
  JourneyFacts f;
  bool found = false;
  if (!RunFor(st_->profile, profile_id, error, [&](Statement& s) {
        found = true;
        f.first_seen = s.IsNull(0) ? 0 : s.Int(0);
        f.stage = s.Text(1);
        f.map_version = s.Int(2);
        f.identified = !s.IsNull(3) && !s.Text(3).empty();
        f.mismatches = s.Int(4);
        f.channel = s.Text(5);
        f.campaign = s.Text(6);
        f.converted = s.Int(7) != 0;
        f.source = s.Text(8);
        f.medium = s.Text(9);
        f.landing = s.Text(10);
        f.device = s.Text(11);
        f.exposures = ParseExposures(s.Text(12));
      })) {
    return std::nullopt;
  }
  if (!found) return std::nullopt;
  if (!RunFor(st_->transitions, profile_id, error, [&](Statement& s) {
        f.transitions.push_back({s.Text(0), s.Text(1), s.Text(2)});
      })) {
    return std::nullopt;
  }
  if (!RunFor(st_->times, profile_id, error, [&](Statement& s) {
        f.stage_times.push_back({s.Text(0), s.Int(1), s.Int(2)});
      })) {
    return std::nullopt;
  }
  return f;
}

bool StoredFactsReader::SubtractConversions(const ProfileKey& profile_id, std::int64_t map_version,
                                            const JourneyFacts& journey, RollupDelta* delta,
                                            std::string* error) {
  const std::vector<std::string> segment = CreditSegmentValues(journey);
  std::set<std::pair<std::string, std::int64_t>> seen;  // one conversion per (stage, at)
  return RunFor(st_->conversions, profile_id, error, [&](Statement& s) {
    const std::string stage = s.Text(0);
    const std::int64_t at = s.Int(1);
    if (seen.emplace(stage, at).second) {
      delta->AddConversion(map_version, at, stage, -1, segment, s.Text(6));
    }
    delta->AddCredit(map_version, at, stage, s.Text(2), s.Text(3), s.Double(4), s.Text(5), -1,
                     segment, s.Text(6));
  });
}

namespace {
std::optional<std::string> LockRollups(Database& db) {
  if (db.dialect() != Dialect::kPostgres) return std::nullopt;  // BEGIN IMMEDIATE already is
  // Writers of the rollups wait until this transaction ends, and with them the commits of what
  // the rollups count: a recount sees the stored rows hold still.
  std::string tables;
  for (const RollupTableInfo& t : kRollupTables)
    tables += (tables.empty() ? "" : ", ") + std::string(t.name);
  if (auto err = db.Exec("LOCK TABLE " + tables + " IN EXCLUSIVE MODE")) return "rollups: " + *err;
  return std::nullopt;
}
}  // namespace

std::optional<std::string> RebuildRollups(Database& db) {
  if (auto err = LockRollups(db)) return err;
  for (const RollupTableInfo& table : kRollupTables) {
    if (auto err = db.Exec(std::string("DELETE FROM ") + table.name)) return "rollups: " + *err;
  }
  RollupWriter writer(db);
  RollupDelta delta;
  std::string error;
  auto flush_every = [&](std::size_t n, std::size_t every) -> std::optional<std::string> {
    if (n % every != 0) return std::nullopt;
    return writer.Flush(delta);
  };

  std::size_t n = 0;
  // Counted by the database, per hour and name (stored times are after 2000: integer division
  // is the floor), so a recount of millions of events moves a few thousand rows.
  Statement events = db.Prepare(
      "SELECT project_id, corrected_time / 3600000 AS hour, name, COUNT(*) FROM events "
      "GROUP BY project_id, hour, name");
  std::optional<std::string> failure;
  ForEachRow(events, &error, [&](Statement& s) {
    delta.AddEvent(s.Text(0), s.Int(1) * kMsPerHour, s.Text(2), s.Int(3));
    if (!failure) failure = flush_every(++n, 50000);
  });
  // Under the version of the journey they belong to (an event whose journey stored no profile,
  // every event of it refused, counts nowhere); slot and variant as ShownContent reads them.
  const std::string slot = JsonStringSql(db.dialect(), "e.body", {"properties", "slot"});
  const std::string variant = JsonStringSql(db.dialect(), "e.body", {"properties", "variant"});
  Statement shown = db.Prepare(
      "SELECT p.map_version, e.corrected_time / 86400000 AS day, e.server_stage, " + slot +
      " AS slot, COALESCE(" + variant +
      ", '') AS variant, COUNT(*) FROM events e JOIN profiles p ON p.project_id = e.project_id AND "
      "p.profile_id = e.profile_id "
      "WHERE e.name = 'content_shown' AND e.server_stage IS NOT NULL AND "
      "e.body NOT LIKE '%\\u0000%' ESCAPE '!' AND " +
      slot + " IS NOT NULL AND length(" + slot + ") <= " + std::to_string(kMaxShownNameChars) +
      " AND length(COALESCE(" + variant + ", '')) <= " + std::to_string(kMaxShownNameChars) +
      " GROUP BY p.map_version, day, e.server_stage, " + slot + ", COALESCE(" + variant + ", '')");
  ForEachRow(shown, &error, [&](Statement& s) {
    delta.AddContentShown(s.Int(0), s.Int(1) * kMsPerDay, s.Text(2), s.Text(3), s.Text(4),
                          s.Int(5));
  });
  if (!error.empty()) return "rollups: " + error;
  if (failure) return failure;

  std::vector<ProfileKey> ids;
  Statement profiles =
      db.Prepare("SELECT project_id, profile_id FROM profiles ORDER BY project_id, profile_id");
  ForEachRow(profiles, &error, [&](Statement& s) { ids.push_back({s.Text(0), s.Text(1)}); });
  if (!error.empty()) return "rollups: " + error;
  StoredFactsReader reader(db);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto facts = reader.Journey(ids[i], &error);
    if (!error.empty()) return "rollups: " + error;
    if (facts) delta.AddJourney(*facts, +1);
    if (auto err = flush_every(i + 1, 5000)) return err;
  }

  Statement conversions = db.Prepare(
      "SELECT c.project_id || ' ' || c.profile_id, c.stage, c.at, c.model, c.channel, c.credit, "
      "p.map_version, c.touches, p.channel, p.source, p.medium, p.campaign, p.landing, p.device, "
      "c.triggers "
      "FROM conversions c JOIN profiles p ON p.project_id = c.project_id AND "
      "p.profile_id = c.profile_id");
  std::set<std::tuple<std::string, std::string, std::int64_t>> seen;
  ForEachRow(conversions, &error, [&](Statement& s) {
    const std::string stage = s.Text(1);
    const std::int64_t at = s.Int(2);
    const std::int64_t version = s.Int(6);
    // As CreditSegmentValues orders them.
    const std::vector<std::string> segment = {s.Text(8),  s.Text(9),  s.Text(10),
                                              s.Text(11), s.Text(12), s.Text(13)};
    if (seen.emplace(s.Text(0), stage, at).second) {
      delta.AddConversion(version, at, stage, +1, segment, s.Text(14));
    }
    delta.AddCredit(version, at, stage, s.Text(3), s.Text(4), s.Double(5), s.Text(7), +1, segment,
                    s.Text(14));
  });
  if (!error.empty()) return "rollups: " + error;
  return writer.Flush(delta);
}

std::optional<std::pair<std::string, std::int64_t>> RunningReprojection(Database& db,
                                                                        std::string* error) {
  std::optional<std::pair<std::string, std::int64_t>> out;
  auto held = db.Prepare(
      "SELECT project_id, reports_version FROM projects WHERE reports_version IS NOT NULL "
      "ORDER BY project_id LIMIT 1");
  ForEachRow(held, error, [&](Statement& s) { out.emplace(s.Text(0), s.Int(1)); });
  return out;
}

std::optional<std::string> VerifyRollups(Database& db, std::vector<std::string>* differences) {
  std::string error;
  const auto running = RunningReprojection(db, &error);
  if (!error.empty()) return "rollups: " + error;
  if (running) {
    return "rollups: a re-projection of project " + running->first +
           " is still running (its reports show map version " + std::to_string(running->second) +
           "); verify once it is done";
  }
  if (auto err = db.BeginWrite()) return "rollups: " + *err;
  if (auto err = LockRollups(db)) {
    db.Exec("ROLLBACK");
    return err;
  }
  std::map<std::string, std::string> kept;
  std::map<std::string, std::string> recounted;
  std::optional<std::string> err = Snapshot(db, &kept);
  if (!err) err = RebuildRollups(db);
  if (!err) err = Snapshot(db, &recounted);
  db.Exec("ROLLBACK");  // a verification changes nothing
  if (err) return err;
  for (const auto& [key, value] : kept) {
    auto it = recounted.find(key);
    const std::string other = it == recounted.end() ? "absent" : it->second;
    if (other != value) differences->push_back(key + ": kept " + value + ", recounted " + other);
  }
  for (const auto& [key, value] : recounted) {
    if (kept.count(key) == 0) differences->push_back(key + ": kept absent, recounted " + value);
  }
  return std::nullopt;
}

std::vector<std::string> RollupTableNames() {
  std::vector<std::string> out;
  for (const RollupTableInfo& t : kRollupTables) out.emplace_back(t.name);
  return out;
}

std::int64_t ReportsVersion(Database& db, const std::string& project, std::int64_t current,
                            std::string* error) {
  std::int64_t out = current;
  auto q = db.Prepare("SELECT reports_version FROM projects WHERE project_id = ?");
  q.Bind(1, project);
  ForEachRow(q, error, [&](Statement& s) {
    if (!s.IsNull(0)) out = s.Int(0);
  });
  return out;
}

std::optional<std::string> HoldReportsVersion(Database& db, const std::string& project,
                                              std::int64_t previous) {
  auto hold = db.Prepare(
      "UPDATE projects SET reports_version = ? WHERE project_id = ? AND reports_version IS NULL");
  hold.Bind(1, previous).Bind(2, project);
  if (!hold.Run()) return "reports version: " + hold.error();
  return std::nullopt;
}

namespace {
// The map versions of a project other than ?1, ?2 the project: the rows the switch drops.
constexpr const char* kOtherVersionsOfProject =
    "map_version <> ? AND map_version IN (SELECT version FROM maps WHERE project_id = ?)";
}  // namespace

struct ReprojectionFinisher::Statements {
  explicit Statements(Database& db)
      : newest(db.Prepare("SELECT MAX(version) FROM maps WHERE project_id = ?")),
        shown(db.Prepare("SELECT reports_version FROM projects WHERE project_id = ?")),
        other(db.Prepare(std::string("SELECT 1 FROM rollup_cohorts WHERE ") +
                         kOtherVersionsOfProject + " LIMIT 1")),
        elsewhere(db.Prepare(
            std::string("SELECT COALESCE(SUM(profiles), 0) FROM rollup_versions WHERE ") +
            kOtherVersionsOfProject)) {}
  Statement newest, shown, other, elsewhere;
};

ReprojectionFinisher::ReprojectionFinisher(Database& db) : db_(db) {}
ReprojectionFinisher::~ReprojectionFinisher() = default;

std::optional<std::string> ReprojectionFinisher::Finish(const std::string& project,
                                                        std::int64_t version, bool* switched) {
  *switched = false;
  if (!st_) st_ = std::make_unique<Statements>(db_);
  std::string error;
  // Runs a prepared check, resetting it after; the statements are prepared again after a failure
  // (the database may be back).
  auto check = [&](Statement& stmt, auto&& row) {
    if (!error.empty()) return;
    ForEachRow(stmt, &error, row);
    if (stmt.ok()) stmt.Reset();
  };
  auto bind_other = [&](Statement& stmt) {
    if (stmt.ok()) stmt.Bind(1, version).Bind(2, project);
  };
  // A collector behind the stored map (several collectors) decides nothing about versions.
  std::int64_t newest = version;
  if (st_->newest.ok()) st_->newest.Bind(1, project);
  check(st_->newest, [&](Statement& s) {
    if (!s.IsNull(0)) newest = s.Int(0);
  });
  std::int64_t shown = version;
  if (st_->shown.ok()) st_->shown.Bind(1, project);
  check(st_->shown, [&](Statement& s) {
    if (!s.IsNull(0)) shown = s.Int(0);
  });
  if (!error.empty()) {
    st_.reset();
    return "reports version: " + error;
  }
  if (newest > version) return std::nullopt;
  if (shown == version) {
    // Nothing held; rows of another version can still be left (a database recounted during a
    // re-projection): dropped below once no profile is on it.
    bool other = false;
    bind_other(st_->other);
    check(st_->other, [&](Statement&) { other = true; });
    if (!error.empty()) {
      st_.reset();
      return "reports version: " + error;
    }
    if (!other) return std::nullopt;
  }
  std::int64_t elsewhere = 0;
  bind_other(st_->elsewhere);
  check(st_->elsewhere, [&](Statement& s) { elsewhere = s.Int(0); });
  if (!error.empty()) {
    st_.reset();
    return "reports version: " + error;
  }
  if (elsewhere != 0) return std::nullopt;
  // The switch itself is rare: its statements are prepared when it happens.
  for (const RollupTableInfo& t : kRollupTables) {
    if (!t.versioned) continue;
    auto drop =
        db_.Prepare(std::string("DELETE FROM ") + t.name + " WHERE " + kOtherVersionsOfProject);
    drop.Bind(1, version).Bind(2, project);
    if (!drop.Run()) return "reports version: " + drop.error();
  }
  auto done = db_.Prepare("UPDATE projects SET reports_version = NULL WHERE project_id = ?");
  done.Bind(1, project);
  if (!done.Run()) return "reports version: " + done.error();
  *switched = shown != version;
  return std::nullopt;
}

std::optional<std::string> FinishReprojection(Database& db, const std::string& project,
                                              std::int64_t version, bool* switched) {
  return ReprojectionFinisher(db).Finish(project, version, switched);
}

std::int64_t NewestMapVersion(Database& db, const std::string& project, std::int64_t fallback,
                              std::string* error) {
  std::int64_t out = fallback;
  auto q = db.Prepare(project.empty() ? "SELECT MAX(version) FROM maps"
                                      : "SELECT MAX(version) FROM maps WHERE project_id = ?");
  if (!project.empty()) q.Bind(1, project);
  ForEachRow(q, error, [&](Statement& s) {
    if (!s.IsNull(0)) out = s.Int(0);
  });
  return out;
}

}  // namespace waymark::collector
