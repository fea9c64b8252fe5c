// The journey context: a compact document saying where one visitor is in their journey, for
// automations and AI workflows that run stateless (a webhook consumer, a prompt) and need the
// gist of a profile within a fixed size rather than the whole history.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "storage/database.h"
#include "waymark/journey_map.h"
#include "waymark/json_util.h"

namespace waymark::collector {

constexpr std::size_t kContextMinBudget = 256;
constexpr std::size_t kContextMaxBudget = 65536;
constexpr std::size_t kContextDefaultBudget = 2048;

/// The journey context of `profile_id` in `project` (read from that project's rows only), or a
/// JSON null when the project has no such profile.
///
/// Parts, highest priority first: `profile_id`, `user_id`, `stage` (id, name, phase,
/// entered_at, time_in_stage_ms), `score` (total and top contributing rules, decayed to
/// `now_ms`), `next_stages` (where transitions leaving the stage lead, with their rules and the
/// events or inactivity that fire them), `content_shown` (latest variant per slot),
/// `touchpoints` (newest first: first the events the stage's outgoing transitions test, then the
/// rest), `channels` (first and last landing channel). To fit the budget, parts are given up
/// from the bottom: from `score` down, once a part or a list item does not fit, it and
/// everything below it are left out (lists keep their leading items); `profile_id`, `user_id`
/// and `stage` are each kept when they fit (`stage` shrinks to its id first). A part left out
/// is absent; an empty list means there was nothing to list. `truncated` says whether
/// anything was left out for lack of room; `budget` is the effective budget (clamped to
/// [kContextMinBudget, kContextMaxBudget]) and `bytes` the exact size of the document as
/// DumpJson writes it, which never exceeds `budget`.
///
/// Deterministic for the same rows and `now_ms`. On a database error `error` (if given) gets
/// the message and the context holds what could be read.
json BuildJourneyContext(Database& db, const std::string& project, const JourneyMap& map,
                         const std::string& profile_id, std::size_t budget_bytes,
                         std::int64_t now_ms, std::string* error = nullptr);

}  // namespace waymark::collector
