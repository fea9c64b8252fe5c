// Reports behind GET /v1/stats/...: the funnel, the transition graph, time in stage, attribution,
// content gaps, webhook deliveries and an overview. They read only the tables ingest keeps
// current (profiles, transitions, stage_times, conversions, events, outbox), so a report never
// replays the engine and costs a handful of grouped queries whatever the number of profiles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sqlite.h"
#include "waymark/journey_map.h"
#include "waymark/json_util.h"

namespace waymark::collector {

/// Nearest-rank percentile of ascending `sorted` values: the value at 1-based rank
/// ceil(percent / 100 * n), so the result is always one of the observed values (the median of an
/// even count is the lower middle value). 0 for an empty input. `percent` is clamped to 1..100.
std::int64_t NearestRankPercentile(const std::vector<std::int64_t>& sorted, int percent);

// Every report takes `error`: when a query fails, the first failure's message is stored there
// (if given) and the report holds what could be read. The JSON itself never carries the error,
// so a handler answers 503 instead of serving a half-empty report as if it were complete.

/// The map's stages with rank >= 0 in rank order (ties in map order), each with `reached`,
/// `current`, `conversion_from_previous`, `drop_off` and `median_time_in_stage_ms`; side stages
/// (rank < 0) separately with `reached` and `current`; and `total_profiles`.
json FunnelStats(Database& db, const JourneyMap& map, std::int64_t now_ms,
                 std::string* error = nullptr);

/// Every (from, to) edge in the stored histories with `count`, distinct `profiles`, the `rules`
/// that produced it and its `kind` (forward, backward, loop; unknown for stages not in the map).
json TransitionStats(Database& db, const JourneyMap& map, std::int64_t now_ms,
                     std::string* error = nullptr);

/// Per stage (map order): profiles that spent time in it and the median, p75, p90 and mean of
/// their total time, and their mean number of visits.
json TimeInStageStats(Database& db, const JourneyMap& map, std::int64_t now_ms,
                      std::string* error = nullptr);

/// Credit per channel for every attribution model (AllModels order), channels by credit
/// descending, and the number of distinct conversions. `conversion_stage` empty: all stages.
json AttributionStats(Database& db, const JourneyMap& map, std::int64_t now_ms,
                      const std::string& conversion_stage = "", std::string* error = nullptr);

/// Per stage: visitors, current, exits, median time, whether a content variant targets it
/// (and which), content_shown counts, and `gap` (traffic that leaves, with no content for it).
/// Gaps come first.
json ContentGapStats(Database& db, const JourneyMap& map, std::int64_t now_ms,
                     std::string* error = nullptr);

/// Outbox deliveries by status, how many are due, and the 20 most recent failing deliveries.
json WebhookStats(Database& db, const JourneyMap& map, std::int64_t now_ms,
                  std::string* error = nullptr);

/// Totals: events, events received in the last 24 hours, profiles, identified profiles and
/// stage mismatches between browser and collector.
json OverviewStats(Database& db, const JourneyMap& map, std::int64_t now_ms,
                   std::string* error = nullptr);

}  // namespace waymark::collector
