// GET /v1/stats/funnel-steps: a funnel of steps the user chooses (entering a stage, or an event
// by name), in order, each within a conversion window of the first, over the visitors who arrived
// in the range. Unlike the other reports it cannot come from rollups (any steps, any window): it
// reads the ids of the range's visitors (one scan of the project's profiles, no events) and the
// stored journeys of at most kAdhocMaxProfiles of them (beyond that a deterministic sample spread
// over the ids, said in the answer): their transitions and, for event steps, those events only
// (at most 10 000 per visitor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reports/stats.h"
#include "storage/database.h"
#include "waymark/journey_map.h"
#include "waymark/json_util.h"

namespace waymark::collector {

constexpr std::size_t kAdhocMaxSteps = 10;
constexpr std::size_t kAdhocMaxProfiles = 20000;
/// Visitors listed per step among those who dropped there (to open their timelines).
constexpr std::size_t kAdhocDroppedListed = 25;
constexpr std::int64_t kAdhocDefaultWindowMs = 30LL * 24 * 60 * 60 * 1000;
constexpr std::int64_t kAdhocMaxWindowMs = 366LL * 24 * 60 * 60 * 1000;

struct FunnelStep {
  enum class Kind { kStage, kEvent };
  Kind kind = Kind::kStage;
  std::string name;
};

/// "stage:lead,event:demo_requested,stage:customer": 2 to kAdhocMaxSteps steps, stages of `map`,
/// event names of at most 128 bytes without NUL. An error naming the step otherwise.
std::optional<std::string> ParseFunnelSteps(const std::string& text, const JourneyMap& map,
                                            std::vector<FunnelStep>* out);

/// The funnel of `steps` over the range's visitors (cohort day in range): per step `entered`
/// (visitors who did it after the previous step, within `window_ms` of their first step),
/// conversion from the previous and the first step, `drop_off`, the median time from the
/// previous step, and `dropped` (up to kAdhocDroppedListed profile ids of those who did the
/// previous step but not this one); `time_to_convert` from the first step to the last (median,
/// p90 and a histogram); `profiles` examined, `arrived` in the range and `sampled`. Each
/// visitor's earliest first step is taken, then the earliest of each next step at or after it
/// (at the same time: arrival, then an event, then the transition it caused).
json AdhocFunnel(Database& db, const JourneyMap& map, const ReportRange& range,
                 const std::vector<FunnelStep>& steps, std::int64_t window_ms,
                 std::string* error = nullptr);

}  // namespace waymark::collector
