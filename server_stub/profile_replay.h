// Recomputes one profile's journey with the core engine, inside the ingest transaction: from its
// snapshot when only later events arrived, else by replaying its whole log in corrected time order.
// Stores the authoritative state, transitions, stage times and conversions, and writes webhook
// deliveries for the triggers that fired.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "ingest.h"
#include "metrics.h"
#include "sqlite.h"

namespace waymark::collector {

std::optional<std::string> ReplayProfile(Database& db, const MapState& map, const Config& config,
                                         Metrics* metrics, const std::string& profile_id, bool full,
                                         const std::vector<std::string>& new_ids,
                                         bool* outbox_added);

/// The outbox dedupe key of a trigger delivery: the same transition always gives the same key,
/// whichever profile id it is replayed under (event ids are globally unique).
std::string DeliveryKey(const std::string& profile_id, const FiredTrigger& trigger,
                        const std::string& endpoint_id);

}  // namespace waymark::collector
