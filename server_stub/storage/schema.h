// The collector's SQLite schema. Every table is created by MigrateSchema on start; the schema
// version is kept in `meta` so later versions can migrate in place.
#pragma once

#include <optional>
#include <string>

#include "storage/database.h"

namespace waymark::collector {

// 2: events.unfiltered; 3: profiles.next_due; 4: device_clocks; 5: projects (project_id first
// in every key); 6: the first touch's source, medium, landing page and device (breakdowns);
// 7: profiles.content_seen (content gaps per segment)
constexpr int kSchemaVersion = 7;

/// Creates or upgrades the schema. Returns an error message on failure.
std::optional<std::string> MigrateSchema(Database& db);

/// A warning when a PostgreSQL database does not order text bytewise (collation C) as SQLite does:
/// ties in reports and the order of a profile's anonymous ids would differ. nullopt when it does.
std::optional<std::string> CollationWarning(Database& db);

}  // namespace waymark::collector
