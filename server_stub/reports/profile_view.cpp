#include "reports/profile_view.h"

#include "waymark/engine.h"

namespace waymark::collector {

namespace {
// A profile of `project` exists once projected, or while its first events wait for projection.
bool ProfileExists(Database& db, const std::string& project, const std::string& profile_id) {
  auto q = db.Prepare(
      "SELECT 1 FROM profiles WHERE project_id = ?1 AND profile_id = ?2 UNION ALL "
      "SELECT 1 FROM dirty_profiles WHERE project_id = ?1 AND profile_id = ?2 LIMIT 1");
  q.Bind(1, project).Bind(2, profile_id);
  return q.Step();
}
}  // namespace

std::string ResolveProfileId(Database& db, const std::string& project, const std::string& id) {
  if (id.empty()) return "";
  if (ProfileExists(db, project, id)) return id;
  if (ProfileExists(db, project, "u:" + id)) return "u:" + id;
  auto link =
      db.Prepare("SELECT user_id FROM identities WHERE project_id = ? AND anonymous_id = ?");
  link.Bind(1, project).Bind(2, id);
  if (link.Step() && ProfileExists(db, project, "u:" + link.Text(0))) return "u:" + link.Text(0);
  if (ProfileExists(db, project, "a:" + id)) return "a:" + id;
  return "";
}

json ProfileJson(Database& db, const std::string& project,
                 std::shared_ptr<const JourneyMap> map_ptr, const std::string& id,
                 std::int64_t now_ms) {
  const JourneyMap& map = *map_ptr;
  const std::string profile_id = ResolveProfileId(db, project, id);
  if (profile_id.empty()) return nullptr;
  // Every read below is of this project's rows: ?1 the project, ?2 the profile.
  auto q = db.Prepare(
      "SELECT user_id, stage, stage_entered_at, score, first_seen, last_seen, event_count, "
      "stage_mismatches, map_version, snapshot, state FROM profiles "
      "WHERE project_id = ? AND profile_id = ?");
  q.Bind(1, project).Bind(2, profile_id);
  if (!q.Step()) return nullptr;
  json out = json::object();
  out["profile_id"] = profile_id;
  out["user_id"] = q.IsNull(0) ? json(nullptr) : json(q.Text(0));
  out["stage"] = q.Text(1);
  const Stage* stage = map.FindStage(q.Text(1));
  out["stage_name"] = stage != nullptr ? stage->name : q.Text(1);
  out["stage_entered_at"] = q.Int(2);
  out["score_at_last_activity"] = q.Double(3);
  out["first_seen"] = q.Int(4);
  out["last_seen"] = q.Int(5);
  out["event_count"] = q.Int(6);
  out["stage_mismatches"] = q.Int(7);
  out["map_version"] = q.Int(8);
  // The score decays with time: read it now from the stored snapshot.
  Engine engine(map_ptr);
  if (engine.Restore(q.Text(9)).ok()) {
    out["score"] = engine.Score(now_ms);
    json breakdown = json::array();
    for (const auto& item : engine.ScoreBreakdown(now_ms)) {
      breakdown.push_back({{"rule", item.rule}, {"group", item.group}, {"points", item.points}});
    }
    out["score_breakdown"] = std::move(breakdown);
  } else {
    out["score"] = q.Double(3);
  }
  auto state = ParseJson(q.Text(10), 1 << 24, 64);
  out["state"] = state ? state.value() : json(nullptr);

  json transitions = json::array();
  auto t = db.Prepare(
      "SELECT from_stage, to_stage, at, event_id, rule, map_version FROM transitions WHERE "
      "project_id = ? AND profile_id = ? ORDER BY position");
  t.Bind(1, project).Bind(2, profile_id);
  while (t.Step()) {
    transitions.push_back({{"from", t.Text(0)},
                           {"to", t.Text(1)},
                           {"at", t.Int(2)},
                           {"event_id", t.Text(3)},
                           {"rule", t.Text(4)},
                           {"map_version", t.Int(5)}});
  }
  out["transitions"] = std::move(transitions);

  json touchpoints = json::array();
  auto e = db.Prepare(
      "SELECT id, name, corrected_time, device_time, received_at, channel, browser_stage, "
      "server_stage, body FROM events WHERE project_id = ? AND profile_id = ? "
      "ORDER BY corrected_time DESC, anonymous_id DESC, seq DESC LIMIT 200");
  e.Bind(1, project).Bind(2, profile_id);
  while (e.Step()) {
    json tp = {{"id", e.Text(0)},
               {"name", e.Text(1)},
               {"at", e.Int(2)},
               {"device_time", e.Int(3)},
               {"received_at", e.Int(4)},
               {"channel", e.IsNull(5) ? json(nullptr) : json(e.Text(5))},
               {"browser_stage", e.IsNull(6) ? json(nullptr) : json(e.Text(6))},
               {"server_stage", e.IsNull(7) ? json(nullptr) : json(e.Text(7))}};
    auto body = ParseJson(e.Text(8), 1 << 20, 16);
    if (body) {
      if (const json* ctx = Member(body.value(), "context")) {
        if (const json* path = Member(*ctx, "path")) tp["path"] = *path;
      }
      if (const json* props = Member(body.value(), "properties")) tp["properties"] = *props;
    }
    touchpoints.push_back(std::move(tp));
  }
  out["touchpoints"] = std::move(touchpoints);

  json anonymous_ids = json::array();
  auto a = db.Prepare(
      "SELECT DISTINCT anonymous_id FROM events WHERE project_id = ? AND profile_id = ? "
      "ORDER BY 1");
  a.Bind(1, project).Bind(2, profile_id);
  while (a.Step()) anonymous_ids.push_back(a.Text(0));
  out["anonymous_ids"] = std::move(anonymous_ids);
  return out;
}

}  // namespace waymark::collector
