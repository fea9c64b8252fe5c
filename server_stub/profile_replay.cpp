#include "profile_replay.h"

#include <algorithm>
#include <chrono>

#include "waymark/attribution.h"
#include "waymark/identity.h"

namespace waymark::collector {

namespace {

struct StoredEvent {
  Event event;  // time = corrected time
  std::string browser_stage;
  bool is_new = false;
};

std::optional<std::string> LoadEvents(Database& db, const std::string& sql, const std::string& key,
                                      std::vector<StoredEvent>* out) {
  auto q = db.Prepare(sql);
  if (!q.ok()) return "replay: " + q.error();
  q.Bind(1, key);
  while (q.Step()) {
    auto parsed = ParseEvent(q.Text(1));
    if (!parsed) continue;  // stored bodies were validated on the way in
    StoredEvent s;
    s.event = std::move(parsed).value();
    s.event.time = q.Int(2);
    s.browser_stage = q.IsNull(3) ? "" : q.Text(3);
    out->push_back(std::move(s));
  }
  if (q.failed()) return "replay: " + q.error();
  return std::nullopt;
}

bool TriggerWanted(const WebhookEndpoint& endpoint, const std::string& trigger) {
  return endpoint.triggers.empty() || std::find(endpoint.triggers.begin(), endpoint.triggers.end(),
                                                trigger) != endpoint.triggers.end();
}

}  // namespace

std::string DeliveryKey(const std::string& profile_id, const FiredTrigger& t,
                        const std::string& endpoint_id) {
  // Timed transitions have no event; their profile and time identify them.
  std::string who = t.event_id.empty() ? profile_id + "@" + std::to_string(t.at) : t.event_id;
  return t.trigger + "|" + who + "|" + t.from + ">" + t.to + "|" + t.rule + "|" + endpoint_id;
}

std::optional<std::string> ReplayProfile(Database& db, const MapState& map, const Config& config,
                                         Metrics* metrics, const std::string& profile_id, bool full,
                                         const std::vector<std::string>& new_ids,
                                         bool* outbox_added) {
  EngineOptions options;
  options.build_outbound = false;  // the collector sends nothing on
  Engine engine(map.map, options);
  std::int64_t mismatches = 0;
  std::int64_t first_seen = -1;

  if (!full) {
    auto q = db.Prepare(
        "SELECT snapshot, map_version, stage_mismatches, first_seen FROM profiles WHERE "
        "profile_id = ?");
    q.Bind(1, profile_id);
    if (q.Step()) {
      // A profile computed under another map version is recomputed under the current one.
      if (q.Int(1) != map.version || !engine.Restore(q.Text(0)).ok()) {
        full = true;
        engine = Engine(map.map, options);
      } else {
        mismatches = q.Int(2);
        first_seen = q.IsNull(3) ? -1 : q.Int(3);
      }
    }
    if (q.failed()) return "profile load: " + q.error();
  }

  std::vector<StoredEvent> events;
  if (full) {
    if (auto err = LoadEvents(db,
                              "SELECT id, body, corrected_time, browser_stage FROM events WHERE "
                              "profile_id = ? ORDER BY corrected_time, anonymous_id, seq, id",
                              profile_id, &events)) {
      return err;
    }
    for (auto& s : events) {
      s.is_new = std::find(new_ids.begin(), new_ids.end(), s.event.id) != new_ids.end();
    }
  } else {
    for (const auto& id : new_ids) {
      if (auto err = LoadEvents(db,
                                "SELECT id, body, corrected_time, browser_stage FROM events "
                                "WHERE id = ?",
                                id, &events)) {
        return err;
      }
    }
    for (auto& s : events) s.is_new = true;
    std::stable_sort(events.begin(), events.end(), [](const StoredEvent& a, const StoredEvent& b) {
      return EventOrderLess(a.event, b.event);
    });
  }
  if (events.empty() && !full) return std::nullopt;

  auto mark = db.Prepare("UPDATE events SET server_stage = ?, channel = ? WHERE id = ?");
  auto outbox = db.Prepare(
      "INSERT OR IGNORE INTO outbox (dedupe_key, endpoint, trigger_id, profile_id, payload, "
      "created_at, next_attempt_at) VALUES (?,?,?,?,?,?,?)");
  auto conversion = db.Prepare(
      "INSERT OR REPLACE INTO conversions (profile_id, stage, at, model, channel, credit) VALUES "
      "(?,?,?,?,?,?)");
  if (!mark.ok() || !outbox.ok() || !conversion.ok()) return "replay: prepare failed";
  if (full) {
    auto del = db.Prepare("DELETE FROM conversions WHERE profile_id = ?");
    del.Bind(1, profile_id);
    if (!del.Run()) return "replay: " + del.error();
  }

  const TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  if (full) mismatches = 0;
  for (auto& s : events) {
    const std::string id = s.event.id;
    TrackOutcome out = engine.Track(std::move(s.event));
    if (out.status == TrackStatus::kRejected) continue;
    if (!s.browser_stage.empty() && s.browser_stage != engine.stage()) {
      ++mismatches;
      if (s.is_new && metrics != nullptr) metrics->Add("waymark_stage_mismatches_total", {});
    }
    std::string channel;
    if (out.status == TrackStatus::kAccepted && !engine.log().empty() &&
        engine.log().back().event.id == id) {
      channel = engine.log().back().event.context.channel;
    }
    mark.Bind(1, engine.stage());
    if (channel.empty()) {
      mark.BindNull(2);
    } else {
      mark.Bind(2, channel);
    }
    mark.Bind(3, id);
    if (!mark.Run()) return "replay: " + mark.error();

    for (const auto& t : out.transitions) {
      if (std::find(map.map->attribution.conversions.begin(),
                    map.map->attribution.conversions.end(),
                    t.to) == map.map->attribution.conversions.end()) {
        continue;
      }
      for (AttributionModel model : AllModels()) {
        for (const auto& credit : engine.Attribute(model, t.at)) {
          conversion.Bind(1, profile_id).Bind(2, t.to).Bind(3, t.at).Bind(4, ModelName(model));
          conversion.Bind(5, credit.channel).Bind(6, credit.credit);
          if (!conversion.Run()) return "replay: " + conversion.error();
        }
      }
    }
    for (const auto& trig : out.triggers) {
      for (const auto& endpoint : config.webhooks) {
        if (!TriggerWanted(endpoint, trig.trigger)) continue;
        json payload = {{"type", "trigger"},
                        {"trigger", trig.trigger},
                        {"profile_id", profile_id},
                        {"user_id", engine.user_id()},
                        {"anonymous_id", engine.anonymous_id()},
                        {"from", trig.from},
                        {"to", trig.to},
                        {"rule", trig.rule},
                        {"at", trig.at},
                        {"event_id", trig.event_id},
                        {"map_version", map.version}};
        outbox.Bind(1, DeliveryKey(profile_id, trig, endpoint.id)).Bind(2, endpoint.id);
        outbox.Bind(3, trig.trigger).Bind(4, profile_id).Bind(5, DumpJson(payload));
        outbox.Bind(6, now).Bind(7, now);
        if (!outbox.Run()) return "outbox: " + outbox.error();
        if (db.Changes() > 0) *outbox_added = true;
      }
    }
  }

  // The authoritative state, read at the profile's last activity.
  const TimeMs last = engine.last_activity();
  if (last < 0) return std::nullopt;  // nothing was accepted
  if (first_seen < 0 || full) {
    first_seen = engine.log().empty() ? last : engine.log().front().at;
    if (!engine.transitions().empty()) {
      first_seen = std::min(first_seen, engine.transitions().front().at);
    }
  }
  auto save = db.Prepare(
      "INSERT OR REPLACE INTO profiles (profile_id, user_id, stage, stage_entered_at, score, "
      "first_seen, last_seen, event_count, stage_mismatches, map_version, snapshot, state, "
      "updated_at) VALUES (?,?,?,?,?,?,?,(SELECT COUNT(*) FROM events WHERE profile_id = "
      "?),?,?,?,?,?)");
  save.Bind(1, profile_id);
  if (engine.user_id().empty()) {
    save.BindNull(2);
  } else {
    save.Bind(2, engine.user_id());
  }
  save.Bind(3, engine.stage()).Bind(4, engine.stage_entered_at()).Bind(5, engine.Score(last));
  save.Bind(6, first_seen).Bind(7, last).Bind(8, profile_id).Bind(9, mismatches);
  save.Bind(10, map.version).Bind(11, engine.Snapshot()).Bind(12, DumpJson(engine.StateJson(last)));
  save.Bind(13, now);
  if (!save.Run()) return "profile save: " + save.error();

  for (const char* sql : {"DELETE FROM transitions WHERE profile_id = ?",
                          "DELETE FROM stage_times WHERE profile_id = ?"}) {
    auto del = db.Prepare(sql);
    del.Bind(1, profile_id);
    if (!del.Run()) return "replay: " + del.error();
  }
  auto tr = db.Prepare(
      "INSERT INTO transitions (profile_id, position, from_stage, to_stage, at, event_id, rule, "
      "map_version) VALUES (?,?,?,?,?,?,?,?)");
  std::int64_t position = 0;
  for (const auto& t : engine.transitions()) {
    tr.Bind(1, profile_id).Bind(2, position++).Bind(3, t.from).Bind(4, t.to).Bind(5, t.at);
    tr.Bind(6, t.event_id).Bind(7, t.rule).Bind(8, t.map_version);
    if (!tr.Run()) return "transitions: " + tr.error();
  }
  auto st =
      db.Prepare("INSERT INTO stage_times (profile_id, stage, total_ms, visits) VALUES (?,?,?,?)");
  for (const auto& [stage, t] : engine.StageTimes(last)) {
    if (t.visits <= 0) continue;
    st.Bind(1, profile_id).Bind(2, stage).Bind(3, t.total).Bind(4, t.visits);
    if (!st.Run()) return "stage times: " + st.error();
  }
  return std::nullopt;
}

}  // namespace waymark::collector
