// GET /v1/events/recent: the live stream of incoming events for the dashboard. Events are read
// by the events table's rowid, which grows with every stored event (events are never deleted),
// so a client polls with the last cursor it got and sees each event once, in arrival order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "storage/database.h"
#include "waymark/json_util.h"

namespace waymark::collector {

constexpr std::int64_t kRecentEventsDefaultLimit = 50;
constexpr std::int64_t kRecentEventsMaxLimit = 200;

/// The events of `project` only. Without `after`: its latest `limit` events. With `after`: its
/// first `limit` events stored after that cursor (cursors are shared by every project's events,
/// so a project's cursors have gaps). Either way in ascending cursor order:
/// {"events": [{"cursor", "id", "name", "anonymous_id", "user_id", "profile_id", "time",
/// "received_at", "channel", "path", "browser_stage", "server_stage"}], "cursor"}, where the
/// top-level cursor is the last event's, or when there is none `after` (or 0 when the project
/// has no event). On a query failure *error gets the message.
json RecentEvents(Database& db, const std::string& project, std::optional<std::int64_t> after,
                  std::int64_t limit, std::string* error = nullptr);

}  // namespace waymark::collector
