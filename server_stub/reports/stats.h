// Reports behind GET /v1/stats/...: the funnel, the transition graph, time in stage, attribution,
// content gaps, webhook deliveries, top paths and an overview, over a range of UTC days. They
// read the rollups (storage/rollups.h), never the events: a report sums a few rows per day of
// its range, so it costs the same at a million events as at ten thousand. Journeys count on their
// cohort day (the day of the profile's first event): "the visitors who arrived in the range, and
// how far they got"; events, content impressions and conversions count on the day they happened.
// The funnel can also be computed from journeys held in memory (a map preview replays stored
// events under a draft map): both paths meet in FunnelCounts and FunnelReport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/profile_key.h"
#include "waymark/engine.h"
#include "waymark/journey_map.h"
#include "waymark/json_util.h"

namespace waymark::collector {

/// The project a report is about, the days it covers (UTC days since 1970-01-01, both ends
/// included) and the time it is made at.
struct ReportRange {
  std::int64_t now_ms = 0;
  std::int64_t first_day = 0;
  std::int64_t last_day = 0;
  /// The map version whose journey rollups are read (storage/rollups.h, ReportsVersion): one of
  /// `project`'s. < 0: every version of `project` (maps.project_id; a database whose profiles
  /// are all on one version reads the same).
  std::int64_t map_version = -1;
  /// Whose data is read: every report counts this project's rows only. AllTime and
  /// ParseReportRange leave it at the default; the caller sets it.
  std::string project = kDefaultProject;
  /// A segment the reports are narrowed to (rollup_segment_*, storage/rollups.h): one of
  /// SegmentDimensions() and its value ('' is the journeys without one). None when the
  /// dimension is empty.
  std::string segment_dimension;
  std::string segment_value;
};
/// Every day there is.
ReportRange AllTime(std::int64_t now_ms);
/// Default of the API: the last 30 days up to today.
constexpr std::int64_t kDefaultRangeDays = 30;
/// Longest range the API takes, in days (about 20 years).
constexpr std::int64_t kMaxRangeDays = 7320;
/// Parses the API's `from` and `to` ("YYYY-MM-DD", UTC, both included; nullptr when absent:
/// `to` defaults to today, `from` to kDefaultRangeDays days ending at `to`). An error message
/// naming the parameter when one is not a valid date or the range is reversed or too long.
std::optional<std::string> ParseReportRange(const std::string* from, const std::string* to,
                                            std::int64_t now_ms, ReportRange* out);
/// "YYYY-MM-DD" of a UTC day number.
std::string DayToDate(std::int64_t day);
/// {"from", "to", "days"} of a range, as every report carries it.
json RangeJson(const ReportRange& range);

/// Values with how many profiles had each, ascending by value.
using TimeHistogram = std::vector<std::pair<std::int64_t, std::int64_t>>;
/// Nearest-rank percentile over a histogram (see NearestRankPercentile); 0 when empty.
std::int64_t HistogramPercentile(const TimeHistogram& histogram, int percent);

/// One profile's journey as the funnel counts it, whether read from the tables or taken from an
/// engine: the stage it is in, the stage each recorded transition entered (in order), and its
/// total time per stage for the stages it visited (the stage_times rows).
struct JourneySummary {
  std::string stage;
  std::vector<std::string> entered;
  std::map<std::string, std::int64_t> time_in_stage_ms;
};

/// What the funnel report is computed from, over some set of profiles.
struct FunnelCounts {
  std::int64_t total_profiles = 0;
  /// Profiles that entered the stage or sit in it now; the map's initial stage counts everyone.
  std::map<std::string, std::int64_t> reached;
  std::map<std::string, std::int64_t> current;
  /// Profiles by the furthest stage of the map's main path (rank >= 0) they entered or sit in
  /// (the initial stage for those that went nowhere on it): the funnel's ordered progress.
  std::map<std::string, std::int64_t> furthest;
  /// Per stage, the visiting profiles' total times in it, bucketed as the rollups keep them
  /// (TimeBucket, TimeBucketValue).
  std::map<std::string, TimeHistogram> time_in_stage_ms;
};

/// The counts over the range's project's profiles whose cohort day is in the range (from the
/// rollups).
FunnelCounts FunnelCountsFromTables(Database& db, const JourneyMap& map, const ReportRange& range,
                                    std::string* error = nullptr);
/// The same counts over the given journeys, so that a funnel of replayed or selected profiles
/// agrees with the stored one by construction.
FunnelCounts FunnelCountsFromJourneys(const JourneyMap& map,
                                      const std::vector<JourneySummary>& journeys);
/// The funnel report (see FunnelStats) of `counts` under `map`.
json FunnelReport(const JourneyMap& map, const FunnelCounts& counts);

/// What projection would store for this engine's journey: its stage, its transitions' targets
/// and StageTimes(last activity) for visited stages.
JourneySummary SummarizeJourney(const Engine& engine);

/// Reads stored journeys one profile at a time with statements prepared once.
class StoredJourneyReader {
 public:
  explicit StoredJourneyReader(Database& db);
  /// The stored journey of `profile` (of its project); nothing when the profile has no row or a
  /// query failed (then *error holds the first failure).
  std::optional<JourneySummary> Read(const ProfileKey& profile, std::string* error);

 private:
  Statement profile_;
  Statement transitions_;
  Statement times_;
};

/// Nearest-rank percentile of ascending `sorted` values: the value at 1-based rank
/// ceil(percent / 100 * n), so the result is always one of the observed values (the median of an
/// even count is the lower middle value). 0 for an empty input. `percent` is clamped to 1..100.
std::int64_t NearestRankPercentile(const std::vector<std::int64_t>& sorted, int percent);

// Every report takes `error`: when a query fails, the first failure's message is stored there
// (if given) and the report holds what could be read. The JSON itself never carries the error,
// so a handler answers 503 instead of serving a half-empty report as if it were complete. Every
// report reads the rows of its range's project only (ReportRange::project).

/// The map's stages with rank >= 0 in rank order (ties in map order), each with `reached`,
/// `current`, `conversion_from_previous`, `drop_off` and `median_time_in_stage_ms`; side stages
/// (rank < 0) separately with `reached` and `current`; and `total_profiles`.
json FunnelStats(Database& db, const JourneyMap& map, const ReportRange& range,
                 std::string* error = nullptr);

/// Values a breakdown lists (the biggest first); the rest are summed as `other`.
constexpr std::size_t kBreakdownDefaultValues = 10;
constexpr std::size_t kBreakdownMaxValues = 50;

/// The funnel per value of `dimension` (one of SegmentDimensions()) over the range's journeys:
/// {"dimension", "distinct_values", "values": [{"value", "total_profiles", "stages": [{"id",
/// "name", "reached", "progressed", "progress_from_previous", "progress_drop_off"}]}], "other":
/// the same for the values past `limit` summed, or null}. Values by profiles, then value.
json FunnelBreakdown(Database& db, const JourneyMap& map, const ReportRange& range,
                     const std::string& dimension, std::size_t limit, std::string* error = nullptr);

/// Most stages a path keeps (GET /v1/stats/paths); longer journeys are cut and flagged.
constexpr std::size_t kPathMaxStages = 8;

/// Top journeys through the stages: per profile the initial stage followed by the target of each
/// transition in order, consecutive repeats collapsed, cut to kPathMaxStages (`truncated`).
/// `paths` groups identical sequences (visitors descending, then stages lexicographically; the
/// first `limit`), `distinct_paths` counts them all; `nodes` ("<step>:<stage>") and `links`
/// (source, target, value) cover every profile's sequence, acyclic by construction (each link
/// goes from step i to step i + 1), for a Sankey diagram.
json PathStats(Database& db, const JourneyMap& map, const ReportRange& range, std::size_t limit,
               std::string* error = nullptr);

/// Adds to each of `paths`' listed paths (a PathStats answer) `by_value`: its visitors per value
/// of `dimension`, the `limit` biggest ({"value", "visitors"}), and `breakdown` {"dimension"}.
void AddPathBreakdown(Database& db, const JourneyMap& map, const ReportRange& range,
                      const std::string& dimension, std::size_t limit, json* paths,
                      std::string* error = nullptr);

/// Every (from, to) edge in the stored histories with `count`, distinct `profiles`, the `rules`
/// that produced it and its `kind` (forward, backward, loop; unknown for stages not in the map).
json TransitionStats(Database& db, const JourneyMap& map, const ReportRange& range,
                     std::string* error = nullptr);

/// Per stage (map order): profiles that spent time in it and the median, p75, p90 and mean of
/// their total time, and their mean number of visits.
json TimeInStageStats(Database& db, const JourneyMap& map, const ReportRange& range,
                      std::string* error = nullptr);

/// The attribution (by channel) per value of `dimension` (one of CreditDimensions()) among the
/// converting journeys: {"dimension", "distinct_values", "values": [{"value", "conversions",
/// "models"}]}, the `limit` values with the most conversions.
json AttributionBreakdown(Database& db, const JourneyMap& map, const ReportRange& range,
                          const std::string& conversion_stage, const std::string& dimension,
                          std::size_t limit, std::string* error = nullptr);

/// What attribution credit is grouped by: the channel of the touches, or where they came from
/// within it (utm_source, else the referrer's host, else "(direct)"), or their utm_campaign.
enum class AttributionBy { kChannel, kSource, kCampaign };

/// Credit for every attribution model (AllModels order) per value of `by` (`values`: value,
/// credit, share; by channel also `channels` as before), by credit descending, and the number of
/// distinct conversions. `conversion_stage` empty: all conversion stages.
/// With `trigger` (a trigger id of the map): the conversions that trigger fired on, by channel.
json AttributionStats(Database& db, const JourneyMap& map, const ReportRange& range,
                      const std::string& conversion_stage = "", std::string* error = nullptr,
                      AttributionBy by = AttributionBy::kChannel, const std::string& trigger = "");

/// A stage whose visitors were shown fewer impressions of stage content (variants other than
/// their slot's default) than this per visitor has "little or no content".
constexpr double kGapContentPerVisitor = 0.5;

/// Per stage: `visitors` (entered it), `current`, `lost` (visitors who went no further: on the
/// main path those whose furthest stage it is, except the last rank; for a side stage those in
/// it now), `exits` (transitions out of it, any direction), median time, which content variants
/// target it, the impressions shown there by slot and variant (`shown`, with `stage_content`:
/// impressions of variants other than the slot's default) and `stage_content_per_visitor`; `gap`
/// when it lost visitors and showed them little or no stage content (under
/// kGapContentPerVisitor). Gaps first, ranked by lost visitors; `lost_in_gaps` sums them.
/// Per main-path stage below the last rank, `onward` (visitors who went further) and, per
/// variant shown there, the visitors shown it and how many went further, with and without it.
/// In a segment (range.segment_dimension): its journeys only; impressions are those of its
/// journeys (by cohort day, not by the day shown); `current`, `exits`, the median time and a side
/// stage's `lost` are not kept per segment and read null (a side stage is then never a gap).
json ContentGapStats(Database& db, const JourneyMap& map, const ReportRange& range,
                     std::string* error = nullptr);

/// Content gaps per value of `dimension` (one of SegmentDimensions()), the `limit` values with
/// the most journeys: {"dimension", "distinct_values", "values": [{"value", "total_profiles",
/// "gaps", "lost_in_gaps", "stages": [{"id", "name", "visitors", "lost",
/// "stage_content_per_visitor", "onward_rate", "gap"}]}]} (stages as ContentGapStats orders them).
json ContentGapBreakdown(Database& db, const JourneyMap& map, const ReportRange& range,
                         const std::string& dimension, std::size_t limit,
                         std::string* error = nullptr);

/// Where the visitors who arrived in the range came from: per channel and utm_campaign of their
/// first touch ("" when none), `visitors`, `converted` (reached a conversion stage) and
/// `conversion_rate`; by visitors, then channel and campaign. `channels` sums them per channel.
json ChannelStats(Database& db, const JourneyMap& map, const ReportRange& range,
                  std::string* error = nullptr);

/// The project's outbox deliveries created in the range by status; how many are due now, the oldest
/// waiting and the 20 most recent failing deliveries (whatever their day: they need attention now).
json WebhookStats(Database& db, const JourneyMap& map, const ReportRange& range,
                  std::string* error = nullptr);

/// The project's totals: events in the range and ever, events of the last 24 hours (by event time,
/// in whole hours), profiles first seen in the range, of them identified, and their stage
/// mismatches between browser and collector. `map_version` is the stored version of the project's
/// current map (MapState::version): the `reprojection` member says how many profiles are computed
/// under it and how many wait for the background re-projection that publishing it started.
json OverviewStats(Database& db, const JourneyMap& map, std::int64_t map_version,
                   const ReportRange& range, std::string* error = nullptr);

/// How far the re-projection of `project` under its current `map_version` got: {map_version,
/// profiles (the project's, over its versions), profiles_on_this_version, waiting,
/// reports_version (the version the reports read until the re-projection is done), done}.
json ReprojectionProgress(Database& db, const std::string& project, std::int64_t map_version,
                          std::string* error = nullptr);

}  // namespace waymark::collector
