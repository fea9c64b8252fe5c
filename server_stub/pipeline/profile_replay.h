// Projection: recomputes profiles' journeys with the core engine from their stored events, after
// the events themselves are committed (so acknowledging a batch never waits on replays). A
// profile continues from its snapshot when only later events arrived, else its whole log is
// replayed in corrected time order. The authoritative state, transitions, stage times,
// conversions and webhook deliveries are written in one transaction per projection pass.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "metrics.h"
#include "pipeline/ingest.h"
#include "storage/database.h"
#include "storage/rollups.h"

namespace waymark::collector {

/// One stored event as a replay reads it: the parsed envelope, with `event.time` set to the
/// corrected time, and the stage the browser reported ("" when none).
struct StoredEvent {
  Event event;
  std::string browser_stage;
  bool unfiltered = false;  ///< sent without the browser's engine: the sync filter is still due
  /// The stage a projection stored for it (what the rollups counted it under); nothing before
  /// its first projection.
  std::optional<std::string> server_stage;
  std::string device;  ///< DeviceType of the request that brought it; "" for older events
};

/// A profile's stored events, ?1 the project and ?2 the profile id, roughly as the core orders a
/// journey (by time); LoadStoredEvents puts them in JourneyOrder, which decides. Its columns are
/// what LoadStoredEvents reads.
inline constexpr const char* kProfileEventsSql =
    "SELECT id, body, corrected_time, browser_stage, unfiltered, server_stage, device FROM events "
    "WHERE project_id = ? AND profile_id = ? ORDER BY corrected_time, anonymous_id, seq, id";

/// Runs `query` (kProfileEventsSql, or another query with its columns) for `profile` and
/// appends the events to *out (a body that no longer parses is skipped: stored bodies were
/// validated on the way in), then resets the statement. The query's error message on failure.
std::optional<std::string> LoadStoredEvents(Statement& query, const ProfileKey& profile,
                                            std::vector<StoredEvent>* out);

/// Marks in dirty_profiles.full_replay: bit 1 replays the whole journey, bit 2 says the mark is
/// only the background re-projection of a new map version (FlushAll leaves those to the
/// projector's slices). Two marks of one profile combine: full if either is, background only if
/// both are.
constexpr int kReplayFull = 1;
constexpr int kReplayInBackground = 2;
/// The SQL that combines an existing mark with a new one in an upsert (ON CONFLICT ... DO UPDATE).
constexpr const char* kCombineDirtyMarks =
    "full_replay = ((dirty_profiles.full_replay | excluded.full_replay) & 1) | "
    "((dirty_profiles.full_replay & excluded.full_replay) & 2)";

/// After a project publishes a new map version: every profile of it computed under another
/// version is marked for a full replay in the background. Inside the publish's transaction.
std::optional<std::string> MarkForReprojection(Database& db, const std::string& project,
                                               std::int64_t map_version);

class ProfileProjector {
 public:
  ProfileProjector(Database& db, const Config& config, Metrics* metrics);
  ~ProfileProjector();

  /// Projects up to `max_profiles` dirty profiles (all when 0) inside the caller's transaction,
  /// those with new events first, stopping early after any profile for which `stop_early` (when
  /// given) says true. Sets *remaining when more are left. `urgent_only`: leave the profiles
  /// marked only for a background re-projection.
  /// On PostgreSQL a collector learns of a map another one published by polling: when a newer
  /// version is stored than `map`, nothing is projected (replaying those journeys under the old
  /// map would undo the re-projection), *stale_map is set (when given) and *remaining too.
  /// Each dirty profile is projected under its project's map from `maps` (one this collector
  /// does not know yet is left dirty, with *remaining set).
  std::optional<std::string> ProjectDirty(const MapLookup& maps, std::size_t max_profiles,
                                          bool* outbox_added, bool* remaining,
                                          const std::function<bool()>& stop_early = nullptr,
                                          bool urgent_only = false, bool* stale_map = nullptr);
  /// Projects one profile now if it is dirty (read-your-writes for profile reads).
  std::optional<std::string> ProjectIfDirty(const MapState& map, const ProfileKey& profile,
                                            bool* outbox_added);

 private:
  struct Statements;
  std::optional<std::string> Project(const MapState& map, const ProfileKey& profile, bool full,
                                     bool* outbox_added);
  /// Whether a newer map version of the project than `map` is stored (another collector
  /// published it).
  std::optional<std::string> BehindTheStoredMap(const std::string& project, const MapState& map,
                                                bool* behind);
  /// Stores what the sync filter keeps of `event`; *properties gets the stored properties.
  std::optional<std::string> ApplySyncFilter(const std::string& project, const Engine& engine,
                                             const Event& event, bool rejected, json* properties);

  Database& db_;
  const Config& config_;
  Metrics* metrics_;
  std::unique_ptr<Statements> st_;
};

/// The outbox dedupe key of a trigger delivery: one per (trigger, causing event, endpoint), so a
/// replay that reaches the same moment by another edge or under a merged profile id sends nothing
/// again (event ids are globally unique).
std::string DeliveryKey(const std::string& profile_id, const FiredTrigger& trigger,
                        const std::string& endpoint_id);

}  // namespace waymark::collector
