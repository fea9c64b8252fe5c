// POST /v1/map/preview: what a draft journey map would make of the stored history. The events of
// the most recently active profiles are replayed through the core engine under the draft, and the
// funnel of those replays is set beside the stored (live) funnel of the same profiles. Nothing is
// written: the replay runs on a read connection inside one read transaction (a consistent
// snapshot; WAL readers never block the writer), and the live map is not touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "storage/database.h"
#include "waymark/journey_map.h"
#include "waymark/json_util.h"

namespace waymark::collector {

constexpr std::int64_t kPreviewDefaultProfiles = 2000;
constexpr std::int64_t kPreviewMaxProfiles = 20000;

/// Replays the `limit` profiles of `project` with the latest activity (profiles.last_seen, then
/// profile id) under `draft` with the same engine options and event order as a full projection, and
/// answers
/// {"draft": {"map", "funnel"}, "live": {"map", "funnel"}, "profiles", "events", "truncated"}:
/// each funnel is the GET /v1/stats/funnel report over those profiles (a replay that accepts
/// none of a profile's events leaves it out of the draft funnel, as projection stores no
/// profile for it), `profiles` the number replayed, `events` the stored events read, and
/// `truncated` whether the project has more profiles. On a query failure *error gets the message.
/// `advance_to` (ms, or -1): the time each replay is advanced to afterwards, as projection
/// advances idle profiles (the collector passes now when --advance-interval is on).
/// `max_ms` (> 0): replay stops once that much time has passed (at least one profile is replayed);
/// the answer then has `time_capped: true` and `profiles` says how many made it, so a draft on a
/// large site answers within seconds.
json PreviewMap(Database& db, const std::string& project, std::shared_ptr<const JourneyMap> draft,
                const JourneyMap& live, std::size_t limit, std::int64_t advance_to,
                std::string* error, std::int64_t max_ms = 0);

/// The preview's default time cap, and the largest a request may ask for (`max_ms`).
constexpr std::int64_t kPreviewDefaultMaxMs = 5000;
constexpr std::int64_t kPreviewMaxMs = 60000;

}  // namespace waymark::collector
