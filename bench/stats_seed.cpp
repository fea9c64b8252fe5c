// waymark_stats_seed: loads a collector database with N events of realistic journeys through the
// collector's own ingestion path (Ingestor::Submit: group commits, identity, rollups) and its
// projection (FlushAll), without HTTP, so that bench/stats_bench.mjs can time the dashboard's
// reports at 10 k and at 1 M events. Visitors arrive over the last 29 days (the reports' default
// range is 30), each with a landing from a channel, page views, content impressions and, for some,
// a lead, a demo, a trial and an order.
//
//   waymark_stats_seed --db data.db|postgres://... --events 1000000 [--seed 1]
//   waymark_stats_seed --db data.db|postgres://... --reproject
//
// The database must exist with its map stored (start and stop the collector on it once first).
// Prints one JSON line: events, visitors, seconds, events_per_second.
//
// --reproject measures a map publish on the loaded database instead (issue 14's aim): the stored
// map again as the next version, every profile marked, and the collector's background
// re-projection timed until none is left; against the same events replayed by Engine::Track in
// this process (what the replay costs without storage). Prints replayed events, seconds and both
// rates.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "pipeline/ingest.h"
#include "pipeline/profile_replay.h"
#include "storage/database.h"
#include "waymark/json_util.h"

using namespace waymark;
using namespace waymark::collector;

namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Visitor {
  std::vector<json> events;
};

// One visitor's journey: a landing, browsing, and a few going further.
Visitor MakeVisitor(std::mt19937_64& rng, std::int64_t id, std::int64_t now) {
  auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  auto chance = [&](int percent) { return uniform(1, 100) <= percent; };
  const std::string anon = "bench-" + std::to_string(id);
  std::int64_t t = now - uniform(2 * 3600 * 1000LL, 29LL * 24 * 3600 * 1000);
  std::int64_t seq = 0;
  Visitor v;
  auto add = [&](const std::string& name, json properties, json context) {
    json e = {{"id", anon + "-" + std::to_string(seq)},
              {"seq", seq},
              {"anonymous_id", anon},
              {"name", name},
              {"type", "track"},
              {"time", t},
              {"properties", std::move(properties)}};
    if (!context.is_null()) e["context"] = std::move(context);
    v.events.push_back(std::move(e));
    ++seq;
    // Never in the future: an event after now would fall outside the reports' default range (the
    // last 30 days up to today) when the bench runs shortly before midnight UTC.
    t = std::min(t + uniform(5000, 40 * 60 * 1000), now - 60 * 1000);
  };
  static const char* kReferrers[] = {"https://www.google.com/", "https://news.example.org/",
                                     "https://www.facebook.com/", ""};
  static const char* kPaths[] = {"/", "/blog/journeys", "/features", "/docs", "/customers"};
  static const char* kVariants[] = {"hero_default", "hero_engaged", "hero_lead", "hero_trial"};
  json landing = {{"url", "https://shop.example/"}, {"path", "/"}};
  const char* referrer = kReferrers[uniform(0, 3)];
  if (*referrer != '\0') landing["referrer"] = referrer;
  if (chance(15)) landing["campaign"] = {{"utm_source", "newsletter"}, {"utm_medium", "email"}};
  add("page_viewed", json::object(), landing);
  const std::int64_t views = uniform(3, 25);
  for (std::int64_t i = 0; i < views; ++i) {
    const std::int64_t kind = uniform(1, 10);
    if (kind <= 5) {
      add("page_viewed", json::object(), {{"path", kPaths[uniform(0, 4)]}});
    } else if (kind <= 8) {
      add("content_shown", {{"slot", "hero"}, {"variant", kVariants[uniform(0, 3)]}}, nullptr);
    } else {
      add("pricing_viewed", json::object(), {{"path", "/pricing"}});
    }
  }
  if (chance(30)) add("lead_submitted", json::object(), nullptr);
  if (chance(12)) add("demo_requested", json::object(), nullptr);
  if (chance(10)) add("trial_started", json::object(), nullptr);
  if (chance(5)) add("order_completed", {{"value", 49}}, nullptr);
  if (chance(2)) add("subscription_renewed", json::object(), nullptr);
  return v;
}

}  // namespace

// Every stored journey's events, read as the projection reads them.
std::vector<std::vector<Event>> LoadJourneys(Database& db) {
  std::vector<std::string> ids;
  auto list = db.Prepare("SELECT profile_id FROM profiles ORDER BY profile_id");
  while (list.Step()) ids.push_back(list.Text(0));
  list.Reset();
  auto query = db.Prepare(kProfileEventsSql);
  std::vector<std::vector<Event>> out;
  for (const auto& id : ids) {
    std::vector<StoredEvent> loaded;
    if (LoadStoredEvents(query, {kDefaultProject, id}, &loaded)) continue;
    std::vector<Event> events;
    for (auto& s : loaded) events.push_back(std::move(s.event));
    out.push_back(std::move(events));
  }
  return out;
}

std::int64_t CountDirty(Database& db) {
  auto q = db.Prepare("SELECT COUNT(*) FROM dirty_profiles");
  return q.Step() ? q.Int(0) : -1;
}

int Reproject(Ingestor& ingestor, Database& db, std::shared_ptr<MapState> state) {
  // The baseline first: the same journeys through the engine alone, as a full replay runs them.
  const auto journeys = LoadJourneys(db);
  std::int64_t events = 0;
  for (const auto& j : journeys) events += static_cast<std::int64_t>(j.size());
  EngineOptions options;
  options.trust_channel = false;
  options.build_outbound = false;
  const auto engine_started = std::chrono::steady_clock::now();
  std::size_t stages = 0;
  for (const auto& j : journeys) {
    Engine engine(state->map, options);
    for (const auto& e : j) engine.Track(e);
    stages += engine.stage().size();  // keeps the work observable
  }
  const double engine_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - engine_started).count();

  auto next = std::make_shared<MapState>(*state);
  next->version = state->version + 1;
  next->etag = "\"v" + std::to_string(next->version) + "-bench\"";
  const auto started = std::chrono::steady_clock::now();
  auto err = ingestor.RunWrite([&](Database& w) -> std::optional<std::string> {
    auto ins =
        w.Prepare("INSERT INTO maps (version, map_id, body, etag, created_at) VALUES (?,?,?,?,?)");
    ins.Bind(1, next->version).Bind(2, next->map->id).Bind(3, next->body);
    ins.Bind(4, next->etag).Bind(5, NowMs());
    if (!ins.Run()) return ins.error();
    if (auto marked = MarkForReprojection(w, kDefaultProject, next->version)) return marked;
    ingestor.SetMap(next);
    return std::nullopt;
  });
  if (err) {
    std::fprintf(stderr, "seed: publish: %s\n", err->c_str());
    return 1;
  }
  for (;;) {
    const std::int64_t left = CountDirty(db);
    if (left < 0) {
      std::fputs("seed: counting dirty profiles failed\n", stderr);
      return 1;
    }
    if (left == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "{\"profiles\":%zu,\"events\":%lld,\"seconds\":%.2f,\"events_per_second\":%.0f,"
      "\"engine_seconds\":%.2f,\"engine_events_per_second\":%.0f,\"ratio\":%.3f,"
      "\"checksum\":%zu}\n",
      journeys.size(), static_cast<long long>(events), seconds,
      static_cast<double>(events) / seconds, engine_seconds,
      static_cast<double>(events) / engine_seconds, engine_seconds / seconds, stages);
  return 0;
}

int main(int argc, char** argv) {
  std::string location;
  std::int64_t target = 10000;
  std::uint64_t seed = 1;
  bool reproject = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reproject") == 0) {
      reproject = true;
      continue;
    }
    if (i + 1 >= argc) break;
    if (std::strcmp(argv[i], "--db") == 0) {
      location = argv[i + 1];
    } else if (std::strcmp(argv[i], "--events") == 0) {
      target = std::stoll(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--seed") == 0) {
      seed = std::stoull(argv[i + 1]);
    }
    ++i;
  }
  if (location.empty() || target <= 0) {
    std::fputs("usage: waymark_stats_seed --db LOCATION --events N [--seed S]\n", stderr);
    return 2;
  }

  Config config;
  config.database = location;
  config.synchronous_full = false;  // a load, not a durability test
  config.limits.advance_interval_seconds = 0;
  Database db;
  if (auto err = db.Open(location, false)) {
    std::fprintf(stderr, "seed: %s\n", err->c_str());
    return 1;
  }
  auto stored = db.Prepare("SELECT version, body, etag FROM maps ORDER BY version DESC LIMIT 1");
  if (!stored.Step()) {
    std::fputs("seed: no stored map: start the collector on this database once first\n", stderr);
    return 1;
  }
  auto state = std::make_shared<MapState>();
  state->version = stored.Int(0);
  auto parsed = ParseJourneyMap(stored.Text(1));
  if (!parsed) {
    std::fprintf(stderr, "seed: stored map: %s\n", parsed.error().message.c_str());
    return 1;
  }
  state->map = parsed.value();
  state->body = stored.Text(1);
  state->etag = stored.Text(2);
  stored.Reset();

  Ingestor ingestor(location, config, nullptr);
  ingestor.SetMap(state);
  ingestor.MapsLoaded();
  if (auto err = ingestor.Start()) {
    std::fprintf(stderr, "seed: %s\n", err->c_str());
    return 1;
  }
  if (reproject) {
    const int code = Reproject(ingestor, db, state);
    ingestor.Stop();
    return code;
  }
  std::mt19937_64 rng(seed);
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t now = NowMs();
  std::int64_t events = 0;
  std::int64_t visitors = 0;
  std::vector<IncomingEvent> batch;
  auto submit = [&]() -> bool {
    if (batch.empty()) return true;
    auto results = ingestor.Submit(std::move(batch));
    batch.clear();
    if (!results) return false;
    for (const auto& r : *results) {
      if (r.status != "accepted") {
        std::fprintf(stderr, "seed: event %s %s: %s\n", r.id.c_str(), r.status.c_str(),
                     r.message.c_str());
        return false;
      }
    }
    return true;
  };
  while (events < target) {
    Visitor v = MakeVisitor(rng, visitors++, now);
    for (json& raw : v.events) {
      if (events >= target) break;
      auto event = EventFromJson(raw);
      if (!event || !state->map->Canonicalize(&event.value().name)) {
        std::fprintf(stderr, "seed: a generated event is invalid: %s\n", DumpJson(raw).c_str());
        return 1;
      }
      IncomingEvent in;
      in.index = batch.size();
      in.event = std::move(event).value();
      in.sent_at = now;
      in.received_at = now;
      in.corrected_time = in.event.time;
      in.site_key = "bench";
      in.content_hash = ContentHash(in.event, "");
      in.body = DumpJson(EventToJson(in.event));
      batch.push_back(std::move(in));
      ++events;
    }
    if (batch.size() >= 2000 && !submit()) return 1;
  }
  if (!submit()) return 1;
  if (auto err = ingestor.FlushAll()) {
    std::fprintf(stderr, "seed: projection: %s\n", err->c_str());
    return 1;
  }
  ingestor.Stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("{\"events\":%lld,\"visitors\":%lld,\"seconds\":%.2f,\"events_per_second\":%.0f}\n",
              static_cast<long long>(events), static_cast<long long>(visitors), seconds,
              static_cast<double>(events) / seconds);
  return 0;
}
