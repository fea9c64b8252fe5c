// Read side of profiles: resolving any id a caller may hold (profile, user or anonymous id) and
// the profile document served at GET /v1/profiles/{id}.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/database.h"
#include "waymark/journey_map.h"

namespace waymark::collector {

/// The stored profile id, in `project`, for a profile id ("u:..." / "a:..."), a user id or an
/// anonymous id; empty when none of that project's profiles, identities or events matches (the
/// same id in another project is another visitor).
std::string ResolveProfileId(Database& db, const std::string& project, const std::string& id);

/// Stage, score (decayed to now), transitions, touchpoints, identities of the profile `id`
/// resolves to in `project` (ResolveProfileId); null when unknown.
json ProfileJson(Database& db, const std::string& project, std::shared_ptr<const JourneyMap> map,
                 const std::string& id, std::int64_t now_ms);

}  // namespace waymark::collector
