#include "recent_events.h"

#include <algorithm>

namespace waymark::collector {

namespace {

// `path` comes from the stored body; the CASE guards keep a malformed body (json_type and
// json_extract raise an error on one) from failing the whole answer, and only a string is taken.
constexpr const char* kColumns =
    "SELECT rowid, id, name, anonymous_id, user_id, profile_id, corrected_time, received_at, "
    "channel, CASE WHEN json_valid(body) THEN CASE WHEN json_type(body, '$.context.path') = "
    "'text' THEN json_extract(body, '$.context.path') END END, browser_stage, server_stage "
    "FROM events ";

json NullableText(const Statement& s, int column) {
  return s.IsNull(column) ? json(nullptr) : json(s.Text(column));
}

}  // namespace

json RecentEvents(Database& db, std::optional<std::int64_t> after, std::int64_t limit,
                  std::string* error) {
  limit = std::clamp<std::int64_t>(limit, 1, kRecentEventsMaxLimit);
  Statement stmt =
      db.Prepare(std::string(kColumns) + (after ? "WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
                                                : "ORDER BY rowid DESC LIMIT ?2"));
  if (after) stmt.Bind(1, *after);
  stmt.Bind(2, limit);
  json events = json::array();
  std::int64_t cursor = after.value_or(0);
  ForEachRow(stmt, error, [&](Statement& s) {
    cursor = std::max(cursor, s.Int(0));
    events.push_back({{"cursor", s.Int(0)},
                      {"id", s.Text(1)},
                      {"name", s.Text(2)},
                      {"anonymous_id", s.Text(3)},
                      {"user_id", NullableText(s, 4)},
                      {"profile_id", s.Text(5)},
                      {"time", s.Int(6)},
                      {"received_at", s.Int(7)},
                      {"channel", NullableText(s, 8)},
                      {"path", NullableText(s, 9)},
                      {"browser_stage", NullableText(s, 10)},
                      {"server_stage", NullableText(s, 11)}});
  });
  if (!after) {
    // The latest events were read newest first; the answer is oldest first either way.
    std::reverse(events.begin(), events.end());
  }
  // Without `after`, no row means an empty table, whose largest cursor is 0.
  return {{"events", std::move(events)}, {"cursor", cursor}};
}

}  // namespace waymark::collector
