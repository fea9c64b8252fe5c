#include "reports/recent_events.h"

#include <algorithm>

#include "storage/sql_dialect.h"

namespace waymark::collector {

namespace {

// `path` comes from the stored body: only a string, and a malformed body never fails the whole
// answer (JsonStringSql). `rowid`: SQLite's own, a column of that name on PostgreSQL.
std::string Columns(Dialect dialect) {
  return "SELECT rowid, id, name, anonymous_id, user_id, profile_id, corrected_time, "
         "received_at, channel, " +
         JsonStringSql(dialect, "body", {"context", "path"}) +
         ", browser_stage, server_stage FROM events ";
}

json NullableText(const Statement& s, int column) {
  return s.IsNull(column) ? json(nullptr) : json(s.Text(column));
}

}  // namespace

json RecentEvents(Database& db, const std::string& project, std::optional<std::int64_t> after,
                  std::int64_t limit, std::string* error) {
  limit = std::clamp<std::int64_t>(limit, 1, kRecentEventsMaxLimit);
  // ?1 limit, ?2 project, ?3 cursor: the cursor, only in one form, is numbered last so that the
  // other leaves no gap in the numbers PostgreSQL infers types for.
  Statement stmt =
      db.Prepare(Columns(db.dialect()) +
                 (after ? "WHERE project_id = ?2 AND rowid > ?3 ORDER BY rowid LIMIT ?1"
                        : "WHERE project_id = ?2 ORDER BY rowid DESC LIMIT ?1"));
  stmt.Bind(1, limit).Bind(2, project);
  if (after) stmt.Bind(3, *after);
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
  // Without `after`, no row means the project has no event: 0.
  return {{"events", std::move(events)}, {"cursor", cursor}};
}

}  // namespace waymark::collector
