#include "collector_server.h"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "journey_context.h"
#include "map_preview.h"
#include "profile_view.h"
#include "recent_events.h"
#include "schema.h"
#include "http/static_files.h"
#include "stats.h"
#include "waymark/default_map.h"
#include "waymark/identity.h"
#include "waymark/json_util.h"

namespace waymark::collector {

namespace {

using httplib::Request;
using httplib::Response;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr TimeMs kEarliestDeviceTime = 946684800000;   // 2000-01-01: earlier values are seconds
constexpr TimeMs kSentAtTolerance = 366LL * 86400000;  // a sent time further off is garbage

void SendJson(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

void SendError(Response& res, int status, const std::string& code, const std::string& message) {
  SendJson(res, status, json{{"error", {{"code", code}, {"message", message}}}});
}

// Bounded label values for metrics: one route pattern per handler, never the raw path.
std::string RouteOf(const std::string& path) {
  static const char* kPrefixes[] = {"/v1/profiles/", "/v1/stats/", "/v1/map/versions/"};
  for (const char* p : kPrefixes) {
    std::string prefix = p;
    if (path.compare(0, prefix.size(), prefix) == 0) {
      if (prefix == "/v1/profiles/") {
        return path.size() > 8 && path.compare(path.size() - 8, 8, "/context") == 0
                   ? "/v1/profiles/{id}/context"
                   : "/v1/profiles/{id}";
      }
      if (prefix == "/v1/stats/") return path.size() < 40 ? path : "/v1/stats/other";
      return "/v1/map/versions/{n}";
    }
  }
  for (const char* known : {"/v1/batch", "/v1/map", "/v1/map/versions", "/v1/map/preview",
                            "/v1/events/recent", "/healthz", "/readyz", "/metrics"}) {
    if (path == known) return path;
  }
  return "other";
}

thread_local std::chrono::steady_clock::time_point t_request_start;

// A decimal query parameter from `min` to `max`, digits only; *out is left alone when the
// parameter is absent. False for anything else (empty, a sign, spaces, too many digits).
bool IntParam(const Request& req, const char* name, std::int64_t min, std::int64_t max,
              std::int64_t* out) {
  if (!req.has_param(name)) return true;
  const std::string text = req.get_param_value(name);
  if (text.empty() || text.size() > 18) return false;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<std::int64_t>(seconds * 1000000) / 1000.0;
}

std::string Etag(std::int64_t version, const std::string& body) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "\"v%lld-%08llx\"", static_cast<long long>(version),
                static_cast<unsigned long long>(h & 0xffffffffULL));
  return buf;
}

}  // namespace

CollectorServer::CollectorServer(Config config) : config_(std::move(config)) {}

CollectorServer::~CollectorServer() { Shutdown(); }

Database& CollectorServer::ReadDb() {
  // One read connection per worker thread: WAL readers never block the writer.
  thread_local Database db;
  thread_local std::string opened;
  if (opened != config_.database) {
    db = Database();
    db.Open(config_.database, config_.synchronous_full, /*cache_kib=*/8192);
    opened = config_.database;
  }
  return db;
}

std::optional<std::string> CollectorServer::LoadMap() {
  // The stored current map, unless --map gives another document (then it is published).
  std::string stored_body;
  std::int64_t stored_version = 0;
  {
    auto q = ReadDb().Prepare("SELECT version, body FROM maps ORDER BY version DESC LIMIT 1");
    if (q.Step()) {
      stored_version = q.Int(0);
      stored_body = q.Text(1);
    }
  }
  std::string body = stored_body;
  if (!config_.map_path.empty()) {
    std::ifstream in(config_.map_path, std::ios::binary);
    if (!in) return "map: cannot read " + config_.map_path;
    std::stringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  } else if (body.empty()) {
    body = std::string(DefaultMapJson());
  }
  auto parsed = ParseJourneyMap(body);
  if (!parsed) return "map: " + parsed.error().message;
  auto state = std::make_shared<MapState>();
  state->map = parsed.value();
  state->body = body;
  state->version = stored_version;
  if (body != stored_body) {
    state->version = std::max(stored_version + 1, parsed.value()->version);
    state->etag = Etag(state->version, body);
    auto err = ingestor_->RunWrite([&](Database& db) -> std::optional<std::string> {
      auto ins = db.Prepare(
          "INSERT INTO maps (version, map_id, body, etag, created_at) VALUES (?,?,?,?,?)");
      ins.Bind(1, state->version).Bind(2, state->map->id).Bind(3, body).Bind(4, state->etag);
      ins.Bind(5, NowMs());
      if (!ins.Run()) return ins.error();
      return std::nullopt;
    });
    if (err) return "map: " + *err;
  } else {
    state->etag = Etag(state->version, body);
  }
  ingestor_->SetMap(state);
  return std::nullopt;
}

std::optional<std::string> CollectorServer::Start() {
  {
    Database db;
    if (auto err = db.Open(config_.database, config_.synchronous_full)) return err;
    if (auto err = MigrateSchema(db)) return err;
  }
  ingestor_ = std::make_unique<Ingestor>(config_.database, config_, &metrics_);
  // A placeholder map until LoadMap runs, so the writer never sees a null map.
  auto initial = std::make_shared<MapState>();
  initial->map = ParseJourneyMap(DefaultMapJson()).value();
  ingestor_->SetMap(initial);
  if (auto err = ingestor_->Start()) return err;
  if (auto err = LoadMap()) return err;

  webhooks_ = std::make_unique<WebhookSender>(config_.database, config_.webhooks, &metrics_);
  ingestor_->SetOutboxListener([this] { webhooks_->Wake(); });
  webhooks_->Start();

  Routes();
  const int threads = config_.limits.worker_threads;
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.set_tcp_nodelay(true);  // TOOLCHAIN.md: without it keep-alive requests wait on ACKs
  server_.set_read_timeout(config_.limits.read_timeout_seconds);
  server_.set_write_timeout(config_.limits.write_timeout_seconds);
  server_.set_keep_alive_timeout(5);
  server_.set_keep_alive_max_count(1000);
  server_.set_payload_max_length(config_.limits.body_bytes);
  // The listen backlog of 5 refuses bursts of fresh connections (TOOLCHAIN.md): bind, then
  // listen with a real backlog on the captured socket.
  auto listening = std::make_shared<int>(-1);
  server_.set_socket_options([listening](socket_t sock) {
    httplib::default_socket_options(sock);
    *listening = sock;
  });
  if (config_.port == 0) {
    port_ = server_.bind_to_any_port(config_.bind);
    if (port_ < 0) return "cannot bind " + config_.bind;
  } else {
    if (!server_.bind_to_port(config_.bind, config_.port)) {
      return "cannot bind " + config_.bind + ":" + std::to_string(config_.port);
    }
    port_ = config_.port;
  }
  if (*listening >= 0) ::listen(*listening, 1024);
  running_ = true;
  return std::nullopt;
}

void CollectorServer::Run() {
  server_.listen_after_bind();
  // Requests in flight have finished (the pool joined); commit what is queued, stop sending.
  if (ingestor_) ingestor_->Stop();
  if (webhooks_) webhooks_->Stop();
}

void CollectorServer::Shutdown() {
  if (!running_.exchange(false)) return;
  // stop() does nothing before listen_after_bind() has started: wait for it (a signal can arrive
  // right after start), but never forever.
  for (int i = 0; i < 500 && !server_.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server_.stop();
}

bool CollectorServer::RequireAdmin(const Request& req, Response& res) {
  std::string auth = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.compare(0, prefix.size(), prefix) == 0 &&
      ConstantTimeEquals(auth.substr(prefix.size()), config_.admin_key)) {
    return true;
  }
  res.set_header("WWW-Authenticate", "Bearer");
  SendError(res, 401, "unauthorized", "this endpoint needs the admin key (Authorization: Bearer)");
  return false;
}

void CollectorServer::Routes() {
  server_.set_pre_routing_handler([this](const Request& req, Response& res) {
    t_request_start = std::chrono::steady_clock::now();
    // The dashboard's files (--static). Not a mount point: httplib looks mount points up before
    // the routes, so a file named "healthz" or "v1/map" would shadow them; ServeStatic never
    // looks at API paths, and a path with no file falls through to the routes (404).
    if (ServeStatic(config_.static_dir, req, res)) return httplib::Server::HandlerResponse::Handled;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_.set_logger([this](const Request& req, const Response& res) {
    double seconds = 0;
    if (t_request_start.time_since_epoch().count() != 0) {
      seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_request_start).count();
      t_request_start = {};
    }
    const std::string route = RouteOf(req.path);
    metrics_.Add(
        "waymark_http_requests_total",
        {{"route", route}, {"method", req.method}, {"status", std::to_string(res.status)}});
    metrics_.ObserveLatency(route, seconds);
    if (config_.quiet) return;
    json line = {{"ts", NowMs()},
                 {"method", req.method},
                 {"route", route},
                 {"status", res.status},
                 {"ms", static_cast<std::int64_t>(seconds * 1000000) / 1000.0},
                 {"bytes_in", req.body.size()},
                 {"bytes_out", res.body.size()},
                 {"ip", ReduceIp(req.remote_addr, config_.ip_mode, NowMs())}};
    std::string text = DumpJson(line) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  server_.set_error_handler([](const Request&, Response& res) {
    if (!res.body.empty()) return;
    std::string code = res.status == 404   ? "not_found"
                       : res.status == 413 ? "payload_too_large"
                       : res.status == 408 ? "timeout"
                       : res.status == 415 ? "unsupported_encoding"
                                           : "bad_request";
    SendError(res, res.status, code, "HTTP " + std::to_string(res.status));
  });
  server_.set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
    SendError(res, 500, "internal", "internal error");
  });

  server_.Get("/healthz", [](const Request&, Response& res) {
    SendJson(res, 200, json{{"status", "ok"}});
  });
  server_.Get("/readyz", [this](const Request&, Response& res) {
    auto err = ingestor_->RunWrite([](Database& db) -> std::optional<std::string> {
      auto q = db.Prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('ready_check', ?)");
      q.Bind(1, std::to_string(NowMs()));
      if (!q.Run()) return q.error();
      return std::nullopt;
    });
    std::int64_t pending = webhooks_->PendingCount();
    bool ok = !err && pending <= config_.limits.outbox_ready_max;
    json body = {{"status", ok ? "ready" : "not_ready"},
                 {"database", err ? *err : "writable"},
                 {"outbox_pending", pending},
                 {"ingest_queue", ingestor_->pending_events()},
                 {"projection_backlog", ingestor_->projection_backlog()}};
    if (!ok) res.set_header("Retry-After", "5");
    SendJson(res, ok ? 200 : 503, body);
  });
  server_.Get("/metrics", [this](const Request&, Response& res) {
    metrics_.Set("waymark_projection_backlog_profiles", {},
                 static_cast<double>(ingestor_->projection_backlog()));
    metrics_.Set("waymark_ingest_queue_events", {},
                 static_cast<double>(ingestor_->pending_events()));
    res.set_content(metrics_.Render(), "text/plain; version=0.0.4");
  });

  server_.Options("/v1/batch", [this](const Request& req, Response& res) {
    std::string origin = req.get_header_value("Origin");
    if (origin.empty() || !AnyKeyAllowsOrigin(config_, origin)) {
      SendError(res, 403, "origin_not_allowed", "this origin is not allowed by any site key");
      return;
    }
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Access-Control-Allow-Methods", "POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "Content-Type, Content-Encoding, X-Waymark-Key");
    res.set_header("Access-Control-Max-Age", "600");
    res.set_header("Vary", "Origin");
    res.status = 204;
  });
  server_.Post("/v1/batch",
               [this](const Request& req, Response& res, const httplib::ContentReader& reader) {
                 HandleBatch(req, res, reader);
               });

  // The SDK revalidates its cached map with If-None-Match, which is not a CORS-safelisted header:
  // browsers ask first. The map is public, so any origin may.
  server_.Options("/v1/map", [](const Request&, Response& res) {
    res.set_header("Access-Control-Allow-Origin", "*");
    res.set_header("Access-Control-Allow-Methods", "GET, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "If-None-Match");
    res.set_header("Access-Control-Max-Age", "600");
    res.status = 204;
  });
  server_.Get("/v1/map", [this](const Request& req, Response& res) {
    auto state = ingestor_->map();
    res.set_header("ETag", state->etag);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("Access-Control-Allow-Origin", "*");
    res.set_header("Access-Control-Expose-Headers", "ETag");
    if (req.get_header_value("If-None-Match") == state->etag) {
      res.status = 304;
      return;
    }
    res.status = 200;
    res.set_content(state->body, "application/json");
  });
  server_.Put("/v1/map", [this](const Request& req, Response& res) { HandlePutMap(req, res); });
  server_.Post("/v1/map/preview",
               [this](const Request& req, Response& res) { HandlePreviewMap(req, res); });
  server_.Get("/v1/map/versions", [this](const Request& req, Response& res) {
    if (!RequireAdmin(req, res)) return;
    json list = json::array();
    auto q = ReadDb().Prepare(
        "SELECT version, map_id, etag, created_at FROM maps ORDER BY version DESC");
    while (q.Step()) {
      list.push_back({{"version", q.Int(0)},
                      {"map_id", q.Text(1)},
                      {"etag", q.Text(2)},
                      {"created_at", q.Int(3)}});
    }
    SendJson(res, 200, json{{"versions", list}});
  });
  server_.Get(R"(/v1/map/versions/(\d{1,18}))", [this](const Request& req, Response& res) {
    if (!RequireAdmin(req, res)) return;
    auto q = ReadDb().Prepare("SELECT body FROM maps WHERE version = ?");
    q.Bind(1, static_cast<std::int64_t>(std::stoll(req.matches[1].str())));
    if (!q.Step()) {
      SendError(res, 404, "not_found", "no such map version");
      return;
    }
    res.set_content(q.Text(0), "application/json");
  });

  server_.Get(R"(/v1/profiles/([^/]{1,300}))", [this](const Request& req, Response& res) {
    if (!RequireAdmin(req, res)) return;
    std::string profile_id = ResolveProfileId(ReadDb(), req.matches[1].str());
    if (!profile_id.empty()) ingestor_->FlushProfile(profile_id);
    json profile = profile_id.empty()
                       ? json(nullptr)
                       : ProfileJson(ReadDb(), ingestor_->map()->map, profile_id, NowMs());
    if (profile.is_null()) {
      SendError(res, 404, "not_found", "no profile for this id");
      return;
    }
    SendJson(res, 200, profile);
  });
  server_.Get(R"(/v1/profiles/([^/]{1,300})/context)", [this](const Request& req, Response& res) {
    if (!RequireAdmin(req, res)) return;
    std::size_t budget = 2048;
    if (req.has_param("budget")) {
      std::string b = req.get_param_value("budget");
      char* end = nullptr;
      long long v = std::strtoll(b.c_str(), &end, 10);
      if (b.empty() || end == nullptr || *end != '\0' || v < 256 || v > 65536) {
        SendError(res, 400, "invalid_budget", "budget: expected bytes from 256 to 65536");
        return;
      }
      budget = static_cast<std::size_t>(v);
    }
    std::string profile_id = ResolveProfileId(ReadDb(), req.matches[1].str());
    if (!profile_id.empty()) ingestor_->FlushProfile(profile_id);
    json context = profile_id.empty() ? json(nullptr)
                                      : BuildJourneyContext(ReadDb(), *ingestor_->map()->map,
                                                            profile_id, budget, NowMs());
    if (context.is_null()) {
      SendError(res, 404, "not_found", "no profile for this id");
      return;
    }
    SendJson(res, 200, context);
  });

  server_.Get("/v1/events/recent", [this](const Request& req, Response& res) {
    if (!RequireAdmin(req, res)) return;
    std::int64_t after = -1;
    if (!IntParam(req, "after", 0, INT64_MAX, &after)) {
      SendError(res, 400, "invalid_cursor",
                "after: expected a cursor from a previous answer (an integer >= 0)");
      return;
    }
    std::int64_t limit = kRecentEventsDefaultLimit;
    if (!IntParam(req, "limit", 1, kRecentEventsMaxLimit, &limit)) {
      SendError(res, 400, "invalid_limit",
                "limit: expected an integer from 1 to " + std::to_string(kRecentEventsMaxLimit));
      return;
    }
    ingestor_->FlushAll();  // so that the events' server_stage and channel are filled in
    std::string error;
    json body = RecentEvents(
        ReadDb(), after >= 0 ? std::optional<std::int64_t>(after) : std::nullopt, limit, &error);
    if (!error.empty()) {
      res.set_header("Retry-After", "1");
      SendError(res, 503, "storage_unavailable", "events: " + error);
      return;
    }
    SendJson(res, 200, body);
  });

  server_.Get(R"(/v1/stats/([a-z-]{1,32}))", [this](const Request& req, Response& res) {
    if (!RequireAdmin(req, res)) return;
    const std::string which = req.matches[1].str();
    std::int64_t path_limit = 20;
    if (which == "paths" && !IntParam(req, "limit", 1, 100, &path_limit)) {
      SendError(res, 400, "invalid_limit", "limit: expected an integer from 1 to 100");
      return;
    }
    ingestor_->FlushAll();  // stats include every event acknowledged so far
    Database& db = ReadDb();
    // Held for the whole report: a concurrent PUT /v1/map may swap the current map meanwhile.
    const auto map_state = ingestor_->map();
    const JourneyMap& map = *map_state->map;
    const std::int64_t now = NowMs();
    json body;
    std::string error;
    if (which == "funnel") {
      body = FunnelStats(db, map, now, &error);
    } else if (which == "transitions") {
      body = TransitionStats(db, map, now, &error);
    } else if (which == "time-in-stage") {
      body = TimeInStageStats(db, map, now, &error);
    } else if (which == "attribution") {
      std::string stage = req.has_param("stage") ? req.get_param_value("stage") : "";
      body = AttributionStats(db, map, now, stage, &error);
    } else if (which == "content-gaps") {
      body = ContentGapStats(db, map, now, &error);
    } else if (which == "webhooks") {
      body = WebhookStats(db, map, now, &error);
    } else if (which == "overview") {
      body = OverviewStats(db, map, now, &error);
    } else if (which == "paths") {
      body = PathStats(db, map, now, static_cast<std::size_t>(path_limit), &error);
    } else {
      SendError(res, 404, "not_found",
                "stats: funnel, transitions, time-in-stage, attribution, content-gaps, "
                "webhooks, overview or paths");
      return;
    }
    if (!error.empty()) {
      res.set_header("Retry-After", "1");
      SendError(res, 503, "storage_unavailable", "stats: " + error);
      return;
    }
    SendJson(res, 200, body);
  });
}

void CollectorServer::HandlePutMap(const Request& req, Response& res) {
  if (!RequireAdmin(req, res)) return;
  auto parsed = ParseJourneyMap(req.body);
  if (!parsed) {
    SendError(res, 400, parsed.error().code, parsed.error().message);
    return;
  }
  auto current = ingestor_->map();
  if (parsed.value()->version <= current->map->version && current->version > 0) {
    SendError(res, 409, "version_conflict",
              "version: must be greater than the current map's version " +
                  std::to_string(current->map->version));
    return;
  }
  auto state = std::make_shared<MapState>();
  state->map = parsed.value();
  state->body = req.body;
  state->version = std::max(current->version + 1, parsed.value()->version);
  state->etag = Etag(state->version, req.body);
  auto err = ingestor_->RunWrite([&](Database& db) -> std::optional<std::string> {
    auto ins =
        db.Prepare("INSERT INTO maps (version, map_id, body, etag, created_at) VALUES (?,?,?,?,?)");
    ins.Bind(1, state->version).Bind(2, state->map->id).Bind(3, req.body).Bind(4, state->etag);
    ins.Bind(5, NowMs());
    if (!ins.Run()) return ins.error();
    return std::nullopt;
  });
  if (err) {
    res.set_header("Retry-After", "1");
    SendError(res, 503, "storage_unavailable", *err);
    return;
  }
  ingestor_->SetMap(state);
  res.set_header("ETag", state->etag);
  SendJson(res, 200,
           json{{"version", state->version}, {"map_id", state->map->id}, {"etag", state->etag}});
}

void CollectorServer::HandlePreviewMap(const Request& req, Response& res) {
  if (!RequireAdmin(req, res)) return;
  std::int64_t limit = kPreviewDefaultProfiles;
  if (!IntParam(req, "limit", 1, kPreviewMaxProfiles, &limit)) {
    SendError(res, 400, "invalid_limit",
              "limit: expected an integer from 1 to " + std::to_string(kPreviewMaxProfiles));
    return;
  }
  // The same validation as PUT /v1/map: the core's code and path-precise message.
  auto parsed = ParseJourneyMap(req.body);
  if (!parsed) {
    SendError(res, 400, parsed.error().code, parsed.error().message);
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  ingestor_->FlushAll();  // the live side includes every event acknowledged so far
  // Replayed here, on this worker's read connection: the writer keeps ingesting meanwhile.
  auto live = ingestor_->map();
  std::string error;
  json body =
      PreviewMap(ReadDb(), parsed.value(), *live->map, static_cast<std::size_t>(limit), &error);
  if (!error.empty()) {
    res.set_header("Retry-After", "1");
    SendError(res, 503, "storage_unavailable", "preview: " + error);
    return;
  }
  body["ms"] = MillisecondsSince(started);
  SendJson(res, 200, body);
}

void CollectorServer::HandleBatch(const Request& req, Response& res,
                                  const httplib::ContentReader& reader) {
  const std::int64_t received = NowMs();
  const std::string origin = req.get_header_value("Origin");
  auto allow_origin = [&](const SiteKey* key) {
    if (!origin.empty() && key != nullptr && OriginAllowed(*key, origin) &&
        !res.has_header("Access-Control-Allow-Origin")) {
      res.set_header("Access-Control-Allow-Origin", origin);
      // The SDK waits as long as a 429/503 tells it to; a browser hides the header otherwise.
      res.set_header("Access-Control-Expose-Headers", "Retry-After");
      res.set_header("Vary", "Origin");
    }
  };

  // CORS first, so that a browser can read even an early error: the key from the header or the
  // query (a sendBeacon body key needs no CORS: beacons do not read answers).
  std::string key_text = req.get_header_value("X-Waymark-Key");
  if (key_text.empty() && req.has_param("key")) key_text = req.get_param_value("key");
  if (!key_text.empty()) allow_origin(FindSiteKey(config_, key_text));

  // The body, decompressed by httplib when Content-Encoding says gzip: the cap applies to what
  // comes out, so a gzip bomb stops at the limit instead of filling memory.
  std::string body;
  std::size_t raw_bytes = 0;
  bool too_large = false;
  bool read_ok = reader([&](const char* data, std::size_t n) {
    raw_bytes += n;
    if (body.size() + n > config_.limits.decompressed_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (!read_ok || too_large) {
    // The rest of the body is still on the wire: this connection cannot carry another request.
    res.set_header("Connection", "close");
  }
  if (too_large || res.status == 413) {
    SendError(res, 413, "payload_too_large",
              too_large
                  ? "body: more than " + std::to_string(config_.limits.decompressed_bytes) +
                        " bytes after decompression"
                  : "body: more than " + std::to_string(config_.limits.body_bytes) + " bytes");
    metrics_.Add("waymark_batches_refused_total", {{"reason", "payload_too_large"}});
    return;
  }
  if (!read_ok) {
    // A plain body that stopped short of its Content-Length timed out (retryable); anything else
    // could not be decoded (final).
    const std::string length = req.get_header_value("Content-Length");
    const bool encoded = !req.get_header_value("Content-Encoding").empty();
    if (!encoded && !length.empty() && raw_bytes < std::strtoull(length.c_str(), nullptr, 10)) {
      SendError(res, 408, "timeout", "body: not received within the read timeout");
    } else {
      SendError(res, 400, "unreadable_body", "body: could not be read or decompressed");
    }
    return;
  }
  if (body.empty()) {
    SendError(res, 400, "invalid_batch", "body: empty; expected {\"events\": [...]}");
    return;
  }

  auto parsed = ParseJson(body, config_.limits.decompressed_bytes, 64);
  if (!parsed) {
    SendError(res, 400, parsed.error().code == "too_deep" ? "too_deep" : "invalid_json",
              "body: " + parsed.error().message);
    metrics_.Add("waymark_batches_refused_total", {{"reason", "invalid_json"}});
    return;
  }
  const json& batch = parsed.value();

  if (key_text.empty()) {
    if (const json* k = Member(batch, "site_key"); k != nullptr && k->is_string()) {
      key_text = k->get<std::string>();
    }
  }
  if (key_text.empty()) {
    SendError(res, 401, "missing_site_key",
              "site key: send it in the X-Waymark-Key header, the key query parameter or the "
              "body's site_key");
    return;
  }
  const SiteKey* key = FindSiteKey(config_, key_text);
  if (key == nullptr) {
    SendError(res, 401, "unknown_site_key", "site key: not known to this collector");
    return;
  }
  if (!OriginAllowed(*key, origin)) {
    SendError(res, 403, "origin_not_allowed", "origin: not allowed for this site key");
    return;
  }
  allow_origin(key);
  int retry_after = 1;
  if (!rate_limiter_.Allow(*key, received, &retry_after)) {
    res.set_header("Retry-After", std::to_string(retry_after));
    SendError(res, 429, "rate_limited", "too many requests for this site key; retry later");
    return;
  }

  if (!batch.is_object()) {
    SendError(res, 400, "invalid_batch",
              "body: expected an object {\"events\": [...]}, got " + TypeName(batch));
    return;
  }
  const json* events = Member(batch, "events");
  if (events == nullptr || !events->is_array()) {
    SendError(res, 400, "invalid_batch", "events: expected an array");
    return;
  }
  if (events->size() > config_.limits.events_per_batch) {
    SendError(res, 413, "too_many_events",
              "events: " + std::to_string(events->size()) + " events, the limit is " +
                  std::to_string(config_.limits.events_per_batch) + " per batch");
    return;
  }
  TimeMs batch_sent = 0;
  if (const json* s = Member(batch, "sent_at")) GetInt64(*s, &batch_sent);

  auto map_state = ingestor_->map();
  const JourneyMap& map = *map_state->map;
  EventLimits limits;
  limits.max_event_bytes = config_.limits.event_bytes;
  const std::string ip = ReduceIp(req.remote_addr, config_.ip_mode, received);

  std::vector<EventResult> results;
  std::vector<IncomingEvent> valid;
  for (std::size_t i = 0; i < events->size(); ++i) {
    const json& raw = (*events)[i];
    auto reject = [&](const std::string& code, const std::string& message) {
      std::string id;
      if (const json* v = Member(raw, "id"); v != nullptr && v->is_string()) {
        id = v->get<std::string>().substr(0, 64);
      }
      results.push_back(EventResult{i, id, "rejected", code, message});
    };
    if (SerializedSize(raw) > limits.max_event_bytes) {
      reject("event_too_large",
             "event: more than " + std::to_string(limits.max_event_bytes) + " bytes");
      continue;
    }
    auto event = EventFromJson(raw, limits);
    if (!event) {
      reject(event.error().code, event.error().message);
      continue;
    }
    IncomingEvent in;
    in.index = i;
    in.event = std::move(event).value();
    if (Status s = map.Canonicalize(&in.event.name); !s) {
      reject(s.error().code, s.error().message);
      continue;
    }
    if (IsBlockedId(in.event.anonymous_id, map.blocked_ids)) {
      reject("invalid_anonymous_id",
             "anonymous_id: required, and not a placeholder such as \"null\" or \"anonymous\"");
      continue;
    }
    if (in.event.time < kEarliestDeviceTime) {
      reject("invalid_time", "time: " + std::to_string(in.event.time) +
                                 " is before 2000-01-01; send milliseconds since the epoch, not "
                                 "seconds");
      continue;
    }
    if (const json* st = Member(raw, "stage"); st != nullptr && !st->is_null()) {
      if (!st->is_string() || st->get_ref<const std::string&>().size() > 64) {
        reject("invalid_event", "stage: expected a stage id");
        continue;
      }
      in.browser_stage = st->get<std::string>();
    }
    // Clock skew: received + (device - sent), when the sent time is plausible.
    TimeMs sent = in.event.sent_at > 0 ? in.event.sent_at : batch_sent;
    if (sent > 0 && sent > received - kSentAtTolerance && sent < received + kSentAtTolerance) {
      in.sent_at = sent;
      in.corrected_time = received + (in.event.time - sent);
    } else {
      in.corrected_time = in.event.time;  // a garbage sent time is ignored
    }
    if (in.corrected_time > received + config_.limits.future_skew_ms) {
      in.corrected_time = received;  // far-future timestamps are clamped
      metrics_.Add("waymark_events_clamped_total", {});
    }
    in.received_at = received;
    in.site_key = key->key;
    in.ip = ip;
    in.content_hash = ContentHash(in.event, in.browser_stage);
    in.body = DumpJson(EventToJson(in.event));
    valid.push_back(std::move(in));
  }

  bool storage_failed = false;
  if (!valid.empty()) {
    auto stored = ingestor_->Submit(std::move(valid));
    if (!stored) {
      res.set_header("Retry-After", "1");
      SendError(res, 503, "overloaded", "the collector is busy or stopping; retry the whole batch");
      return;
    }
    for (auto& r : *stored) {
      storage_failed = storage_failed || r.reason == "storage_unavailable";
      results.push_back(std::move(r));
    }
  }
  std::sort(results.begin(), results.end(),
            [](const EventResult& a, const EventResult& b) { return a.index < b.index; });
  std::int64_t accepted = 0, duplicates = 0, rejected = 0;
  json list = json::array();
  for (const auto& r : results) {
    json item = {{"index", r.index}, {"id", r.id}, {"status", r.status}};
    if (r.status == "rejected") {
      item["reason"] = r.reason;
      item["message"] = r.message;
      ++rejected;
      metrics_.Add("waymark_events_total", {{"result", "rejected"}, {"reason", r.reason}});
    } else {
      ++(r.status == "accepted" ? accepted : duplicates);
      metrics_.Add("waymark_events_total", {{"result", r.status}});
    }
    list.push_back(std::move(item));
  }
  if (storage_failed) res.set_header("Retry-After", "1");
  SendJson(res, storage_failed ? 503 : 200,
           json{{"accepted", accepted},
                {"duplicates", duplicates},
                {"rejected", rejected},
                {"results", std::move(list)}});
}

}  // namespace waymark::collector
