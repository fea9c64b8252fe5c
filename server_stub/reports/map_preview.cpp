#include "reports/map_preview.h"

#include <chrono>
#include <utility>
#include <vector>

#include "pipeline/profile_replay.h"
#include "reports/stats.h"
#include "waymark/engine.h"

namespace waymark::collector {

json PreviewMap(Database& db, const std::string& project, std::shared_ptr<const JourneyMap> draft,
                const JourneyMap& live, std::size_t limit, std::int64_t advance_to,
                std::string* error, std::int64_t max_ms) {
  const auto started = std::chrono::steady_clock::now();
  bool time_capped = false;
  auto fail = [&](const std::string& message) {
    if (error != nullptr && error->empty()) *error = message;
  };
  ReadTransaction transaction(db);
  if (transaction.error()) {
    fail(*transaction.error());
    return nullptr;
  }

  // Only the project's profiles: a draft is one project's map, replayed over its own history.
  std::int64_t total = 0;
  Statement count = db.Prepare("SELECT COUNT(*) FROM profiles WHERE project_id = ?");
  count.Bind(1, project);
  ForEachRow(count, error, [&](Statement& s) { total = s.Int(0); });
  std::vector<ProfileKey> profiles;
  Statement recent = db.Prepare(
      "SELECT profile_id FROM profiles WHERE project_id = ? "
      "ORDER BY last_seen DESC NULLS LAST, profile_id LIMIT ?");
  recent.Bind(1, project).Bind(2, static_cast<std::int64_t>(limit));
  ForEachRow(recent, error, [&](Statement& s) { profiles.push_back({project, s.Text(0)}); });
  if (error != nullptr && !error->empty()) return nullptr;

  // Projection's options (profile_replay.cpp): nothing is sent on, so no outbound envelopes.
  EngineOptions options;
  options.build_outbound = false;
  options.trust_channel = false;  // channels come from the stored context, not the sender
  Statement events_stmt = db.Prepare(kProfileEventsSql);
  StoredJourneyReader stored(db);
  std::vector<JourneySummary> draft_journeys;
  std::vector<JourneySummary> live_journeys;
  draft_journeys.reserve(profiles.size());
  live_journeys.reserve(profiles.size());
  std::int64_t events_read = 0;
  std::vector<StoredEvent> loaded;
  std::vector<Event> events;
  std::size_t replayed = 0;
  for (const ProfileKey& profile : profiles) {
    if (max_ms > 0 && replayed > 0 &&
        std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(max_ms)) {
      time_capped = true;
      break;
    }
    ++replayed;
    loaded.clear();
    if (auto err = LoadStoredEvents(events_stmt, profile, &loaded)) {
      fail(*err);
      return nullptr;
    }
    events.clear();
    for (StoredEvent& s : loaded) events.push_back(std::move(s.event));
    events_read += static_cast<std::int64_t>(events.size());
    Engine engine = Engine::Replay(draft, events, options);
    if (advance_to >= 0) engine.Advance(advance_to);
    if (engine.last_activity() >= 0) draft_journeys.push_back(SummarizeJourney(engine));

    std::string read_error;
    if (auto journey = stored.Read(profile, &read_error)) {
      live_journeys.push_back(std::move(*journey));
    } else if (!read_error.empty()) {
      fail(read_error);
      return nullptr;
    }
  }

  auto ref = [](const JourneyMap& map) { return json{{"id", map.id}, {"version", map.version}}; };
  return {{"draft",
           {{"map", ref(*draft)},
            {"funnel", FunnelReport(*draft, FunnelCountsFromJourneys(*draft, draft_journeys))}}},
          {"live",
           {{"map", ref(live)},
            {"funnel", FunnelReport(live, FunnelCountsFromJourneys(live, live_journeys))}}},
          {"profiles", static_cast<std::int64_t>(replayed)},
          {"events", events_read},
          {"truncated", total > static_cast<std::int64_t>(replayed)},
          {"time_capped", time_capped}};
}

}  // namespace waymark::collector
