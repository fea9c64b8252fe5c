#include "http/collector_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "http/answer_coding.h"
#include "http/body_decoder.h"
#include "http/device_type.h"
#include "http/project_request.h"
#include "http/static_files.h"
#include "map_errors.h"
#include "pipeline/profile_replay.h"
#include "reports/adhoc_funnel.h"
#include "reports/journey_context.h"
#include "reports/map_preview.h"
#include "reports/profile_view.h"
#include "reports/recent_events.h"
#include "reports/report_csv.h"
#include "reports/stats.h"
#include "storage/project_store.h"
#include "storage/schema.h"
#include "waymark/compiled_map.h"
#include "waymark/default_map.h"
#include "waymark/identity.h"
#include "waymark/json_util.h"
#include "waymark/limits.h"

namespace waymark::collector {

namespace {

using Request = HttpRequest;
using Response = HttpResponse;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SendJson(Response& res, int status, const json& body) {
  res.status = status;
  res.SetContent(DumpJson(body), "application/json");
}

void SendError(Response& res, int status, const std::string& code, const std::string& message) {
  SendJson(res, status, json{{"error", {{"code", code}, {"message", message}}}});
}

// `breakdown` and `filter` of a stats request, checked; a filter is set on `range`. An error
// message naming the parameter otherwise.
std::optional<std::string> ParseSegmentParams(const std::string& report, bool has_breakdown,
                                              const std::string& breakdown, bool has_filter,
                                              const std::string& filter, ReportRange* range) {
  if (!has_breakdown && !has_filter) return std::nullopt;
  const char* which = has_breakdown ? "breakdown" : "filter";
  // Attribution keeps its credits per segment of the converting journeys' first touch and
  // device only (what does not change once a journey converted).
  const bool attribution = report == "attribution";
  if (report != "funnel" && report != "paths" && report != "content-gaps" && !attribution) {
    return std::string(which) +
           ": the funnel, paths, attribution and content-gaps reports take one, not " + report;
  }
  if (has_breakdown && has_filter) {
    return std::string(
        "breakdown and filter: one at a time (segments are kept per dimension, not per pair)");
  }
  const auto& dimensions = attribution ? CreditDimensions() : SegmentDimensions();
  std::string names;
  for (const auto& d : dimensions) names += (names.empty() ? "" : ", ") + d;
  auto known = [&](const std::string& d) {
    return std::find(dimensions.begin(), dimensions.end(), d) != dimensions.end();
  };
  if (has_breakdown) {
    if (!known(breakdown)) return "breakdown: expected one of " + names;
    return std::nullopt;
  }
  const std::size_t colon = filter.find(':');
  const std::string dimension = filter.substr(0, colon);
  if (colon == std::string::npos || !known(dimension)) {
    return "filter: expected dimension:value with a dimension among " + names;
  }
  const std::string value = filter.substr(colon + 1);
  // As long as any value the core takes (a campaign, a landing page): cut as the rollups cut it.
  if (value.size() > kMaxStringLength || !IsValidUtf8(value) ||
      value.find('\0') != std::string::npos) {
    return "filter: the value must be valid UTF-8 without NUL, at most " +
           std::to_string(kMaxStringLength) + " bytes";
  }
  range->segment_dimension = dimension;
  // As the rollups key it: a value cut there matches whole (storage/rollups.h).
  range->segment_value = KeyText(value);
  return std::nullopt;
}

// A map the core refused: its first error as every error answer has it, and `errors`, every
// problem found (map_errors.h), each with its path.
void SendMapError(Response& res, const Error& first, const std::string& text) {
  json problems = json::array();
  for (const MapProblem& p : ListMapProblems(text)) {
    problems.push_back({{"path", p.path}, {"message", p.message}});
  }
  SendJson(res, 400,
           json{{"error", {{"code", first.code}, {"message", first.message}}},
                {"errors", std::move(problems)}});
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
  for (const char* known :
       {"/v1/batch", "/v1/map", "/v1/map/versions", "/v1/map/preview", "/v1/projects",
        "/v1/events/recent", "/healthz", "/readyz", "/metrics"}) {
    if (path == known) return path;
  }
  return "other";
}

// A decimal query parameter from `min` to `max`, digits only; *out is left alone when the
// parameter is absent. False for anything else (empty, a sign, spaces, too many digits).
bool IntParam(const Request& req, const char* name, std::int64_t min, std::int64_t max,
              std::int64_t* out) {
  if (!req.HasParam(name)) return true;
  const std::string text = req.Param(name);
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

constexpr const char* kCompiledMapType = "application/vnd.waymark.map";

// Whether an Accept header asks for the compiled form this collector writes: the media type with
// no `v` parameter, or with v equal to kCompiledMapVersion (an SDK that reads another format
// version gets the JSON document, which it can compile itself).
bool WantsCompiledMap(const std::string& accept) {
  const std::size_t at = accept.find(kCompiledMapType);
  if (at == std::string::npos) return false;
  const std::string range = accept.substr(at, accept.find(',', at) - at);
  const std::size_t v = range.find("v=");
  if (v == std::string::npos) return true;
  return std::atoi(range.c_str() + v + 2) == kCompiledMapVersion;
}

// The compiled form's ETag: the document's with "-c" inside the quotes.
std::string CompiledEtag(const std::string& etag) {
  return etag.size() >= 2 ? etag.substr(0, etag.size() - 1) + "-c\"" : etag;
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

// Map versions are numbered across projects (MAX + 1): collectors on one PostgreSQL publishing
// for different projects at once take turns for the number instead of colliding on the key.
// Held until the transaction ends; SQLite has one writer.
std::optional<std::string> LockMapVersions(Database& db) {
  if (db.dialect() != Dialect::kPostgres) return std::nullopt;
  // A two-number key: apart from the device locks' single-number keys (storage/schema.cpp).
  return db.Exec("SELECT pg_advisory_xact_lock(7411, 2)");
}

}  // namespace

CollectorServer::CollectorServer(Config config)
    : config_(std::move(config)),
      rate_limiter_(config_.limits.client_rate_per_second, config_.limits.client_burst),
      static_files_(config_.static_dir) {}

CollectorServer::~CollectorServer() {
  Shutdown();
  StopMapWatcher();
}

void CollectorServer::StopMapWatcher() {
  if (!map_watcher_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(map_watch_mu_);
    map_watch_stop_ = true;
  }
  map_watch_cv_.notify_all();
  map_watcher_.join();
}

Database& CollectorServer::ReadDb() {
  // One read connection per worker thread: WAL readers never block the writer.
  // A connection that could not be opened (PostgreSQL down for a moment) is tried again, at most
  // once a second per thread; until then the routes answer 503 from the failed statement.
  thread_local Database db;
  thread_local std::string opened;
  thread_local std::int64_t last_try_ms = 0;
  if (opened != config_.database || (!db.is_open() && NowMs() - last_try_ms >= 1000)) {
    db = Database();
    db.Open(config_.database, config_.synchronous_full, /*cache_kib=*/8192);
    opened = config_.database;
    last_try_ms = NowMs();
  }
  return db;
}

std::optional<std::string> CollectorServer::LoadMaps() {
  std::string error;
  const std::vector<ProjectSummary> projects = ListProjects(ReadDb(), &error);
  if (!error.empty()) return "projects: " + error;
  keys_.Replace(LoadStoredKeys(ReadDb(), &error));
  if (!error.empty()) return "project keys: " + error;
  for (const ProjectSummary& project : projects) {
    if (auto err = LoadProjectMap(project.id)) return err;
  }
  ingestor_->MapsLoaded();
  return std::nullopt;
}

std::optional<std::string> CollectorServer::TakeProjectWebhooks(Database& db,
                                                                const std::string& project,
                                                                std::vector<WebhookEndpoint>* out) {
  if (project == kDefaultProject) {
    *out = config_.webhooks;  // the sender has them from the start
    return std::nullopt;
  }
  std::string error;
  *out = LoadProjectWebhooks(db, project, &error);
  if (!error.empty()) return "project webhooks: " + error;
  webhooks_->SetEndpoints(project, *out);
  return std::nullopt;
}

std::optional<std::string> CollectorServer::LoadProjectMap(const std::string& project) {
  // The stored current map, unless --map gives another document for project "default" (then it
  // is published).
  std::string stored_body;
  std::int64_t stored_version = 0;
  {
    auto q = ReadDb().Prepare(
        "SELECT version, body FROM maps WHERE project_id = ? ORDER BY version DESC LIMIT 1");
    q.Bind(1, project);
    if (q.Step()) {
      stored_version = q.Int(0);
      stored_body = q.Text(1);
    }
    if (q.failed()) return "map: " + q.error();
  }
  std::vector<WebhookEndpoint> webhooks;
  if (auto err = TakeProjectWebhooks(ReadDb(), project, &webhooks)) return err;
  std::string body = stored_body;
  if (project == kDefaultProject && !config_.map_path.empty()) {
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
  if (body == stored_body) {
    ingestor_->SetMap(
        MakeMapState(project, parsed.value(), body, stored_version, std::move(webhooks)));
    return std::nullopt;
  }
  if (auto err = PublishMap(project, parsed.value(), body, std::move(webhooks), nullptr)) {
    return "map: " + *err;
  }
  return std::nullopt;
}

std::shared_ptr<MapState> CollectorServer::MakeMapState(const std::string& project,
                                                        std::shared_ptr<const JourneyMap> map,
                                                        std::string body, std::int64_t version,
                                                        std::vector<WebhookEndpoint> webhooks) {
  auto state = std::make_shared<MapState>();
  state->project = project;
  state->webhooks = std::move(webhooks);
  state->map = std::move(map);
  state->body = std::move(body);
  state->compiled = CompileMap(*state->map);
  state->version = version;
  state->etag = Etag(version, state->body);
  return state;
}

std::optional<std::string> CollectorServer::StoreMapVersion(Database& db,
                                                            const std::string& project,
                                                            std::shared_ptr<const JourneyMap> map,
                                                            const std::string& body,
                                                            std::vector<WebhookEndpoint> webhooks,
                                                            std::shared_ptr<MapState>* state) {
  // Versions are numbered across projects (storage/schema.cpp): the next one after every stored
  // map, or the document's own when that is higher.
  if (auto locked = LockMapVersions(db)) return locked;
  std::string error;
  const std::int64_t newest = NewestMapVersion(db, "", 0, &error);
  if (!error.empty()) return error;
  const std::int64_t version = std::max(newest + 1, map->version);
  *state = MakeMapState(project, std::move(map), body, version, std::move(webhooks));
  auto ins = db.Prepare(
      "INSERT INTO maps (version, map_id, body, etag, created_at, project_id) "
      "VALUES (?,?,?,?,?,?)");
  ins.Bind(1, (*state)->version).Bind(2, (*state)->map->id).Bind(3, (*state)->body);
  ins.Bind(4, (*state)->etag).Bind(5, NowMs()).Bind(6, project);
  if (!ins.Run()) return ins.error();
  return std::nullopt;
}

std::optional<std::string> CollectorServer::PublishMap(const std::string& project,
                                                       std::shared_ptr<const JourneyMap> map,
                                                       const std::string& body,
                                                       std::vector<WebhookEndpoint> webhooks,
                                                       std::shared_ptr<const MapState>* published) {
  const auto previous = ingestor_->map(project);
  std::shared_ptr<MapState> state;
  auto err = ingestor_->RunWrite([&](Database& db) -> std::optional<std::string> {
    // The version the reports read until this one's re-projection is done: the project's newest
    // stored (not this collector's map, which may lag other collectors).
    std::string error;
    const std::int64_t stored = NewestMapVersion(db, project, 0, &error);
    if (!error.empty()) return error;
    if (auto e = StoreMapVersion(db, project, map, body, webhooks, &state)) return e;
    // History is recomputed under the new version in the background (stats overview shows how
    // far it got), not only when each visitor's next event arrives. The reports keep reading
    // the previous version until it is done.
    if (stored > 0) {
      if (auto held = HoldReportsVersion(db, project, stored)) return held;
    }
    if (auto marked = MarkForReprojection(db, project, state->version)) return marked;
    // Current from here on the writer thread: its next projection must use the new map.
    ingestor_->SetMap(state);
    return std::nullopt;
  });
  // The commit failed: the stored map is still current.
  if (err && previous) ingestor_->SetMap(previous);
  if (!err && published != nullptr) *published = state;
  return err;
}

std::optional<std::string> CollectorServer::Start() {
  {
    Database db;
    if (auto err = db.Open(config_.database, config_.synchronous_full)) return err;
    if (auto err = MigrateSchema(db)) return err;
    if (auto warning = CollationWarning(db)) {
      std::fprintf(
          stderr, "%s\n",
          DumpJson({{"level", "warn"}, {"msg", "collation"}, {"detail", *warning}}).c_str());
    }
  }
  ingestor_ = std::make_unique<Ingestor>(config_.database, config_, &metrics_);
  webhooks_ = std::make_unique<WebhookSender>(config_.database, config_.webhooks, &metrics_);
  // Several collectors: the writer takes a map (or a project) another one published as soon as
  // it meets it.
  ingestor_->SetMapRefresher([this] { return RefreshMaps(ReadDb()); });
  if (auto err = ingestor_->Start()) return err;
  if (auto err = LoadMaps()) return err;

  ingestor_->SetOutboxListener([this] { webhooks_->Wake(); });
  webhooks_->Start();

  Routes();
  HttpServerOptions http;
  http.bind = config_.bind;
  http.port = config_.port;
  http.io_threads = config_.limits.io_threads;
  http.worker_threads = config_.limits.worker_threads;
  http.max_connections = config_.limits.max_connections;
  http.head_timeout_ms = config_.limits.head_timeout_seconds * 1000;
  http.body_timeout_ms = config_.limits.body_timeout_seconds * 1000;
  http.idle_timeout_ms = config_.limits.keep_alive_seconds * 1000;
  http.write_timeout_ms = config_.limits.write_timeout_seconds * 1000;
  http.header_bytes = config_.limits.header_bytes;
  http.header_count = config_.limits.header_count;
  http.body_bytes = config_.limits.body_bytes;
  http.body_bytes_in_flight = config_.limits.body_bytes_in_flight;
  http_ = std::make_unique<HttpServer>(http,
                                       [this](Request& req, Response& res) { Dispatch(req, res); });
  if (auto err = http_->Bind()) return err;
  port_ = http_->port();
  // Last: a Start() that fails returns before any thread the destructor would have to join.
  if (Database::IsPostgresLocation(config_.database)) {
    map_watcher_ = std::thread([this] { WatchMaps(); });
  }
  running_ = true;
  return std::nullopt;
}

void CollectorServer::Run() {
  if (http_) http_->Run();
  StopMapWatcher();
  // Requests in flight have been answered; commit what is queued, stop sending.
  if (ingestor_) ingestor_->Stop();
  if (webhooks_) webhooks_->Stop();
}

void CollectorServer::Shutdown() {
  if (!running_.exchange(false)) return;
  if (http_) http_->Stop();
}

void CollectorServer::Dispatch(Request& req, Response& res) {
  const auto started = std::chrono::steady_clock::now();
  if (config_.trust_proxy) {
    // The balancer appends the address it saw: the last entry is the one it vouches for. A
    // balancer may add a header line of its own rather than extend the client's: all lines
    // together, in order.
    std::string forwarded;
    for (const auto& [name, value] : req.headers) {
      if (EqualsIgnoreCase(name, "X-Forwarded-For"))
        forwarded += (forwarded.empty() ? "" : ",") + value;
    }
    const std::size_t comma = forwarded.rfind(',');
    std::string last = forwarded.substr(comma == std::string::npos ? 0 : comma + 1);
    last.erase(0, last.find_first_not_of(" \t"));
    last.erase(last.find_last_not_of(" \t") + 1);
    in6_addr parsed{};
    if (inet_pton(AF_INET, last.c_str(), &parsed) == 1 ||
        inet_pton(AF_INET6, last.c_str(), &parsed) == 1) {
      req.remote_addr = last;
    }
  }
  const std::size_t bytes_in = req.body.size();  // as received, before any decoding
  try {
    if (req.problem.status == 0) {
      // Every route reads the decoded body; the cap applies to what comes out, so a gzip bomb
      // stops at the limit instead of filling memory (a plain body is held to it as sent).
      // POST /v1/batch also takes the coding as `?encoding=gzip`: a browser's fetch cannot set
      // Content-Encoding without a CORS preflight. Header and parameter together must agree and
      // the body is decoded once (ChooseEncoding). Only that route: a GET that happens to carry
      // an `encoding` parameter has no body to decode.
      const bool batch = req.method == "POST" && req.path == "/v1/batch";
      std::string encoding;
      req.problem =
          ChooseEncoding(req.Header("Content-Encoding"), batch && req.HasParam("encoding"),
                         req.Param("encoding"), &encoding);
      if (req.problem.status != 0) {
        // 415: answered below
      } else if (!encoding.empty()) {
        std::string decoded;
        req.problem = DecodeBody(encoding, req.body, config_.limits.decompressed_bytes, &decoded);
        if (req.problem.status == 0) req.body = std::move(decoded);
      } else if (req.body.size() > config_.limits.decompressed_bytes) {
        req.problem = {
            413, "payload_too_large",
            "body: more than " + std::to_string(config_.limits.decompressed_bytes) + " bytes"};
      }
    }
    if (req.problem.status != 0) {
      AnswerProblem(req, res);
    } else if (static_files_.Serve(req, res)) {
      // The dashboard's files (--static). Looked up before the routes, but never for an API
      // path, so no file can shadow a route; a path with no file falls through to the routes.
    } else if (!router_.Route(req, res)) {
      SendError(res, 404, "not_found", "HTTP 404");
    }
  } catch (const std::exception&) {
    res = Response{};
    SendError(res, 500, "internal", "internal error");
  }
  LogRequest(req, res, bytes_in,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

std::shared_ptr<const std::string> CollectorServer::GzippedMap(const MapState& state,
                                                               bool compiled) {
  std::lock_guard<std::mutex> lock(map_gzip_mu_);
  // One entry per project's current map and form; the ETag names the version (unique across
  // projects). Old versions are dropped wholesale now and then.
  const std::string key = state.etag + (compiled ? "c" : "j");
  auto it = map_gzip_.find(key);
  if (it != map_gzip_.end()) return it->second;
  if (map_gzip_.size() >= 256) map_gzip_.clear();
  auto gz = GzipEncode(compiled ? state.compiled : state.body);
  auto out = gz ? std::make_shared<const std::string>(std::move(*gz)) : nullptr;
  map_gzip_[key] = out;
  return out;
}

void CollectorServer::AnswerProblem(const Request& req, Response& res) {
  // The HTTP layer closes the connection after a problem it found itself (the rest of the
  // request may be unread); a body that was read whole but could not be decoded leaves the
  // connection usable.
  const RequestProblem& problem = req.problem;
  if (req.method == "POST" && req.path == "/v1/batch") {
    // A browser must be able to read even this answer to know whether to retry.
    auto key = keys_.Site(BatchKeyFromRequest(req), /*ask_database=*/false);
    AllowOrigin(req, res, key ? &key->key : nullptr);
    if (problem.status == 413) {
      metrics_.Add("waymark_batches_refused_total", {{"reason", "payload_too_large"}});
    }
  }
  if (problem.status == 408 || problem.status == 503) res.SetHeader("Retry-After", "1");
  SendError(res, problem.status, problem.code, problem.message);
}

void CollectorServer::LogRequest(const Request& req, const Response& res, std::size_t bytes_in,
                                 double seconds) {
  const std::string route = RouteOf(req.path);
  metrics_.Add("waymark_http_requests_total",
               {{"route", route}, {"method", req.method}, {"status", std::to_string(res.status)}});
  metrics_.ObserveLatency(route, seconds);
  if (bytes_in > 0) {
    metrics_.Add("waymark_http_request_body_bytes_total", {{"route", route}},
                 static_cast<double>(bytes_in));
  }
  if (config_.quiet) return;
  json line = {{"ts", NowMs()},
               {"method", req.method},
               {"route", route},
               {"status", res.status},
               {"ms", static_cast<std::int64_t>(seconds * 1000000) / 1000.0},
               {"bytes_in", bytes_in},
               {"bytes_out", res.body.size()},
               {"ip", ReduceIp(req.remote_addr, config_.ip_mode, NowMs())}};
  std::string text = DumpJson(line) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

bool CollectorServer::HasBearer(const Request& req, const std::string& secret) {
  const std::string& auth = req.Header("Authorization");
  const std::string prefix = "Bearer ";
  return !secret.empty() && auth.compare(0, prefix.size(), prefix) == 0 &&
         ConstantTimeEquals(auth.substr(prefix.size()), secret);
}

std::optional<std::string> CollectorServer::RequireAdmin(const Request& req, Response& res) {
  const std::string& auth = req.Header("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.compare(0, prefix.size(), prefix) == 0) {
    auto project = keys_.AdminProject(auth.substr(prefix.size()));
    // A project another collector created is known once its map is (RefreshMaps).
    if (project && !ingestor_->map(*project)) RefreshMaps(ReadDb());
    if (project && ingestor_->map(*project)) return project;
  }
  res.SetHeader("WWW-Authenticate", "Bearer");
  SendError(res, 401, "unauthorized",
            "this endpoint needs a project's admin key (Authorization: Bearer)");
  return std::nullopt;
}

bool CollectorServer::RequireServerKey(const Request& req, Response& res) {
  if (HasBearer(req, config_.server_key)) return true;
  res.SetHeader("WWW-Authenticate", "Bearer");
  SendError(res, 401, "unauthorized",
            config_.server_key.empty()
                ? "projects are created with the server key, and none is set (--server-key)"
                : "this endpoint needs the server key (Authorization: Bearer)");
  return false;
}

void CollectorServer::Routes() {
  router_.Add("GET", "/healthz", [](Request&, Response& res) {
    SendJson(res, 200, json{{"status", "ok"}});
  });
  router_.Add("GET", "/readyz", [this](Request&, Response& res) {
    auto err = ingestor_->CheckWritable();
    std::int64_t pending = webhooks_->PendingCount();
    bool ok = !err && pending <= config_.limits.outbox_ready_max;
    json body = {{"status", ok ? "ready" : "not_ready"},
                 {"database", err ? *err : "writable"},
                 {"outbox_pending", pending},
                 {"ingest_queue", ingestor_->pending_events()},
                 {"projection_backlog", ingestor_->projection_backlog()}};
    if (!ok) res.SetHeader("Retry-After", "5");
    SendJson(res, ok ? 200 : 503, body);
  });
  router_.Add("GET", "/metrics", [this](Request& req, Response& res) {
    if (!config_.metrics_token.empty() && !HasBearer(req, config_.metrics_token) &&
        !HasBearer(req, config_.admin_key)) {
      res.SetHeader("WWW-Authenticate", "Bearer");
      SendError(res, 401, "unauthorized",
                "this endpoint needs the metrics token or the admin key (Authorization: Bearer)");
      return;
    }
    const HttpServerStats http = http_->stats();
    metrics_.Set("waymark_http_connections_open", {}, static_cast<double>(http.open_connections));
    metrics_.Set("waymark_http_connections_idle", {}, static_cast<double>(http.idle_connections));
    metrics_.Set("waymark_http_requests_queued", {}, static_cast<double>(http.queued_requests));
    metrics_.Set("waymark_http_body_bytes_held", {}, static_cast<double>(http.body_bytes_held));
    metrics_.SetCounter("waymark_http_connections_evicted_total", {},
                        static_cast<double>(http.evicted_idle));
    metrics_.SetCounter("waymark_http_connections_refused_total", {},
                        static_cast<double>(http.refused_full));
    metrics_.SetCounter("waymark_http_deadlines_missed_total", {},
                        static_cast<double>(http.timed_out));
    metrics_.Set("waymark_rate_limited_clients", {},
                 static_cast<double>(rate_limiter_.tracked_clients()));
    metrics_.Set("waymark_projection_backlog_profiles", {},
                 static_cast<double>(ingestor_->projection_backlog()));
    metrics_.Set("waymark_wal_pending_frames", {},
                 static_cast<double>(ingestor_->wal_pending_frames()));
    metrics_.Set("waymark_ingest_queue_events", {},
                 static_cast<double>(ingestor_->pending_events()));
    res.SetContent(metrics_.Render(), "text/plain; version=0.0.4");
  });

  router_.Add("OPTIONS", "/v1/batch", [this](Request& req, Response& res) {
    std::string origin = req.Header("Origin");
    if (origin.empty() || !keys_.AnyAllowsOrigin(origin)) {
      SendError(res, 403, "origin_not_allowed", "this origin is not allowed by any site key");
      return;
    }
    res.SetHeader("Access-Control-Allow-Origin", origin);
    res.SetHeader("Access-Control-Allow-Methods", "POST, OPTIONS");
    res.SetHeader("Access-Control-Allow-Headers", "Content-Type, Content-Encoding, X-Waymark-Key");
    res.SetHeader("Access-Control-Max-Age", "600");
    res.SetHeader("Vary", "Origin");
    res.status = 204;
  });
  router_.Add("POST", "/v1/batch", [this](Request& req, Response& res) { HandleBatch(req, res); });

  router_.Add("POST", "/v1/projects",
              [this](Request& req, Response& res) { HandleCreateProject(req, res); });
  router_.Add("GET", "/v1/projects", [this](Request& req, Response& res) {
    if (!RequireServerKey(req, res)) return;
    std::string error;
    json list = json::array();
    for (const ProjectSummary& p : ListProjects(ReadDb(), &error)) {
      list.push_back({{"id", p.id},
                      {"name", p.name},
                      {"created_at", p.created_at},
                      {"map_version", p.map_version}});
    }
    if (!error.empty()) {
      res.SetHeader("Retry-After", "1");
      SendError(res, 503, "storage_unavailable", "projects: " + error);
      return;
    }
    SendJson(res, 200, json{{"projects", list}});
  });

  // The SDK revalidates its cached map with If-None-Match, which is not a CORS-safelisted header:
  // browsers ask first. The map is public, so any origin may.
  router_.Add("OPTIONS", "/v1/map", [](Request&, Response& res) {
    res.SetHeader("Access-Control-Allow-Origin", "*");
    res.SetHeader("Access-Control-Allow-Methods", "GET, OPTIONS");
    res.SetHeader("Access-Control-Allow-Headers", "If-None-Match");
    res.SetHeader("Access-Control-Max-Age", "600");
    res.status = 204;
  });
  // Two forms of one map: the JSON document, and, for `Accept: application/vnd.waymark.map` (the
  // browser SDK), the compiled bytes its engine loads without a JSON parser. Each has its own ETag.
  router_.Add("GET", "/v1/map", [this](Request& req, Response& res) {
    // The map of the site key's project (header or `key` parameter: the SDK sends the
    // parameter, which needs no CORS preflight), or of an admin key's (the dashboard); project
    // "default"'s without a key.
    std::string project = kDefaultProject;
    const std::string key_text = BatchKeyFromRequest(req);
    if (key_text.empty() && req.Header("Authorization").rfind("Bearer ", 0) == 0) {
      auto admin = RequireAdmin(req, res);
      if (!admin) return;
      project = *admin;
    } else if (!key_text.empty()) {
      auto key = keys_.Site(key_text);
      if (!key) {
        res.SetHeader("Access-Control-Allow-Origin", "*");
        SendError(res, 401, "unknown_site_key", "site key: not known to this collector");
        return;
      }
      project = key->project;
    }
    auto state = ingestor_->map(project);
    if (!state) {
      RefreshMaps(ReadDb());  // another thread may have taken it meanwhile: read it again anyway
      state = ingestor_->map(project);
    }
    if (!state) {
      res.SetHeader("Retry-After", "1");
      SendError(res, 503, "storage_unavailable", "the project's map is not loaded yet");
      return;
    }
    const bool compiled = WantsCompiledMap(req.Header("Accept"));
    const std::string etag = compiled ? CompiledEtag(state->etag) : state->etag;
    res.SetHeader("ETag", etag);
    res.SetHeader("Cache-Control", "no-cache");
    res.SetHeader("Access-Control-Allow-Origin", "*");
    res.SetHeader("Access-Control-Expose-Headers", "ETag");
    res.SetHeader("Vary", "Accept, Accept-Encoding");
    if (req.Header("If-None-Match") == etag) {
      res.status = 304;
      return;
    }
    res.status = 200;
    const char* type = compiled ? kCompiledMapType : "application/json";
    if (AcceptsCoding(req.Header("Accept-Encoding"), "gzip")) {
      if (auto gz = GzippedMap(*state, compiled)) {
        res.SetHeader("Content-Encoding", "gzip");
        res.SetContent(*gz, type);
        return;
      }
    }
    res.SetContent(compiled ? state->compiled : state->body, type);
  });
  router_.Add("PUT", "/v1/map", [this](Request& req, Response& res) { HandlePutMap(req, res); });
  router_.Add("POST", "/v1/map/preview",
              [this](Request& req, Response& res) { HandlePreviewMap(req, res); });
  router_.Add("GET", "/v1/map/versions", [this](Request& req, Response& res) {
    auto project = RequireAdmin(req, res);
    if (!project) return;
    json list = json::array();
    auto q = ReadDb().Prepare(
        "SELECT version, map_id, etag, created_at FROM maps WHERE project_id = ? "
        "ORDER BY version DESC");
    q.Bind(1, *project);
    while (q.Step()) {
      list.push_back({{"version", q.Int(0)},
                      {"map_id", q.Text(1)},
                      {"etag", q.Text(2)},
                      {"created_at", q.Int(3)}});
    }
    SendJson(res, 200, json{{"versions", list}});
  });
  router_.Add("GET", R"(/v1/map/versions/(\d{1,18}))", [this](Request& req, Response& res) {
    auto project = RequireAdmin(req, res);
    if (!project) return;
    auto q = ReadDb().Prepare("SELECT body FROM maps WHERE version = ? AND project_id = ?");
    q.Bind(1, static_cast<std::int64_t>(std::stoll(req.matches[1]))).Bind(2, *project);
    if (!q.Step()) {
      SendError(res, 404, "not_found", "no such map version");
      return;
    }
    res.SetContent(q.Text(0), "application/json");
  });

  router_.Add("GET", R"(/v1/profiles/([^/]{1,300}))", [this](Request& req, Response& res) {
    auto project = RequireAdmin(req, res);
    if (!project) return;
    std::string profile_id = ResolveProfileId(ReadDb(), *project, req.matches[1]);
    if (!profile_id.empty()) ingestor_->FlushProfile({*project, profile_id});
    json profile =
        profile_id.empty()
            ? json(nullptr)
            : ProfileJson(ReadDb(), *project, ingestor_->map(*project)->map, profile_id, NowMs());
    if (profile.is_null()) {
      SendError(res, 404, "not_found", "no profile for this id");
      return;
    }
    SendJson(res, 200, profile);
  });
  router_.Add("GET", R"(/v1/profiles/([^/]{1,300})/context)", [this](Request& req, Response& res) {
    auto project = RequireAdmin(req, res);
    if (!project) return;
    std::size_t budget = 2048;
    if (req.HasParam("budget")) {
      std::string b = req.Param("budget");
      char* end = nullptr;
      long long v = std::strtoll(b.c_str(), &end, 10);
      if (b.empty() || end == nullptr || *end != '\0' || v < 256 || v > 65536) {
        SendError(res, 400, "invalid_budget", "budget: expected bytes from 256 to 65536");
        return;
      }
      budget = static_cast<std::size_t>(v);
    }
    std::string profile_id = ResolveProfileId(ReadDb(), *project, req.matches[1]);
    if (!profile_id.empty()) ingestor_->FlushProfile({*project, profile_id});
    json context = profile_id.empty()
                       ? json(nullptr)
                       : BuildJourneyContext(ReadDb(), *project, *ingestor_->map(*project)->map,
                                             profile_id, budget, NowMs());
    if (context.is_null()) {
      SendError(res, 404, "not_found", "no profile for this id");
      return;
    }
    SendJson(res, 200, context);
  });

  router_.Add("GET", "/v1/events/recent", [this](Request& req, Response& res) {
    auto project = RequireAdmin(req, res);
    if (!project) return;
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
    json body =
        RecentEvents(ReadDb(), *project,
                     after >= 0 ? std::optional<std::int64_t>(after) : std::nullopt, limit, &error);
    if (!error.empty()) {
      res.SetHeader("Retry-After", "1");
      SendError(res, 503, "storage_unavailable", "events: " + error);
      return;
    }
    SendJson(res, 200, body);
  });

  router_.Add("GET", R"(/v1/stats/([a-z-]{1,32}))", [this](Request& req, Response& res) {
    auto project = RequireAdmin(req, res);
    if (!project) return;
    const std::string which = req.matches[1];
    const std::string format = req.HasParam("format") ? req.Param("format") : "json";
    if (format != "json" && format != "csv") {
      SendError(res, 400, "invalid_format", "format: expected json or csv");
      return;
    }
    const std::string table = req.HasParam("table") ? req.Param("table") : "";
    if (format == "csv" && !table.empty()) {
      const auto tables = ReportTables(which);
      if (!tables.empty() && std::find(tables.begin(), tables.end(), table) == tables.end()) {
        std::string names;
        for (const auto& t : tables) names += (names.empty() ? "" : ", ") + t;
        SendError(res, 400, "invalid_table", "table: this report's tables are " + names);
        return;
      }
      if (table == "breakdown" && !req.HasParam("breakdown")) {
        SendError(res, 400, "invalid_table", "table: breakdown needs a breakdown=<dimension>");
        return;
      }
    }
    std::int64_t path_limit = 20;
    if (which == "paths" && !IntParam(req, "limit", 1, 100, &path_limit)) {
      SendError(res, 400, "invalid_limit", "limit: expected an integer from 1 to 100");
      return;
    }
    const std::string from = req.HasParam("from") ? req.Param("from") : "";
    const std::string to = req.HasParam("to") ? req.Param("to") : "";
    ReportRange range;
    if (auto err = ParseReportRange(req.HasParam("from") ? &from : nullptr,
                                    req.HasParam("to") ? &to : nullptr, NowMs(), &range)) {
      SendError(res, 400, "invalid_range", *err);
      return;
    }
    range.project = *project;
    // Segments (storage/rollups.h): the funnel, paths, attribution and content gaps can be
    // narrowed to one value of a
    // dimension (filter=dimension:value) or broken down by a dimension (breakdown=dimension).
    const std::string breakdown = req.HasParam("breakdown") ? req.Param("breakdown") : "";
    const std::string filter = req.HasParam("filter") ? req.Param("filter") : "";
    std::int64_t breakdown_values = static_cast<std::int64_t>(kBreakdownDefaultValues);
    if (auto err = ParseSegmentParams(which, req.HasParam("breakdown"), breakdown,
                                      req.HasParam("filter"), filter, &range)) {
      SendError(res, 400, "invalid_segment", *err);
      return;
    }
    if (!breakdown.empty() &&
        !IntParam(req, "values", 1, static_cast<std::int64_t>(kBreakdownMaxValues),
                  &breakdown_values)) {
      SendError(res, 400, "invalid_segment",
                "values: expected an integer from 1 to " + std::to_string(kBreakdownMaxValues));
      return;
    }
    ingestor_->FlushAll();  // stats include every event acknowledged so far
    Database& db = ReadDb();
    // One snapshot for the report's queries: the switch to a new map version (or any commit)
    // never shows half-way.
    ReadTransaction snapshot(db);
    if (snapshot.error()) {
      res.SetHeader("Retry-After", "1");
      SendError(res, 503, "storage_unavailable", "stats: " + *snapshot.error());
      return;
    }
    // Held for the whole report: a concurrent PUT /v1/map may swap the current map meanwhile.
    const auto map_state = ingestor_->map(*project);
    // Until a publish's re-projection is done, the journey reports are the previous version's,
    // under that version's map (storage/rollups.h).
    // Absent a hold, the newest stored version (this collector's map may lag another's publish).
    std::string version_error;
    const std::int64_t newest = NewestMapVersion(db, *project, map_state->version, &version_error);
    range.map_version = ReportsVersion(db, *project, newest, &version_error);
    const auto shown_map =
        range.map_version == map_state->version ? map_state->map : StoredMap(db, range.map_version);
    const JourneyMap& map = shown_map ? *shown_map : *map_state->map;
    json body;
    std::string error;
    if (which == "funnel") {
      body = FunnelStats(db, map, range, &error);
      if (!breakdown.empty()) {
        body["breakdown"] = FunnelBreakdown(db, map, range, breakdown,
                                            static_cast<std::size_t>(breakdown_values), &error);
      }
    } else if (which == "transitions") {
      body = TransitionStats(db, map, range, &error);
    } else if (which == "time-in-stage") {
      body = TimeInStageStats(db, map, range, &error);
    } else if (which == "attribution") {
      std::string stage = req.HasParam("stage") ? req.Param("stage") : "";
      AttributionBy by = AttributionBy::kChannel;
      const std::string by_name = req.HasParam("by") ? req.Param("by") : "channel";
      if (by_name == "source") {
        by = AttributionBy::kSource;
      } else if (by_name == "campaign") {
        by = AttributionBy::kCampaign;
      } else if (by_name != "channel") {
        SendError(res, 400, "invalid_by", "by: expected channel, source or campaign");
        return;
      }
      std::string trigger;
      if (req.HasParam("trigger")) {
        trigger = req.Param("trigger");
        bool known = false;
        for (const TriggerDef& t : map.triggers) known = known || t.id == trigger;
        if (!known) {
          SendError(res, 400, "invalid_trigger",
                    "trigger: no trigger \"" + trigger.substr(0, 64) + "\" in the map");
          return;
        }
        if (!stage.empty() || !range.segment_dimension.empty() || by != AttributionBy::kChannel) {
          SendError(res, 400, "invalid_trigger",
                    "trigger: by channel only, without stage or filter (credits are kept per "
                    "trigger by channel)");
          return;
        }
      }
      if ((!range.segment_dimension.empty() || !breakdown.empty()) &&
          (by != AttributionBy::kChannel || !trigger.empty())) {
        SendError(res, 400, "invalid_segment",
                  std::string(breakdown.empty() ? "filter" : "breakdown") +
                      ": attribution by source, campaign or trigger is not kept per segment "
                      "(by=channel)");
        return;
      }
      body = AttributionStats(db, map, range, stage, &error, by, trigger);
      if (!breakdown.empty()) {
        body["breakdown"] = AttributionBreakdown(
            db, map, range, stage, breakdown, static_cast<std::size_t>(breakdown_values), &error);
      }
    } else if (which == "content-gaps") {
      body = ContentGapStats(db, map, range, &error);
      if (!breakdown.empty()) {
        body["breakdown"] = ContentGapBreakdown(db, map, range, breakdown,
                                                static_cast<std::size_t>(breakdown_values), &error);
      }
    } else if (which == "channels") {
      body = ChannelStats(db, map, range, &error);
    } else if (which == "webhooks") {
      body = WebhookStats(db, map, range, &error);
    } else if (which == "overview") {
      body = OverviewStats(db, map, map_state->version, range, &error);
    } else if (which == "funnel-steps") {
      std::vector<FunnelStep> steps;
      if (auto err =
              ParseFunnelSteps(req.HasParam("steps") ? req.Param("steps") : "", map, &steps)) {
        SendError(res, 400, "invalid_steps", *err);
        return;
      }
      std::int64_t window = kAdhocDefaultWindowMs;
      if (req.HasParam("window")) {
        auto parsed = ParseDuration(json(req.Param("window")));
        if (!parsed || parsed.value() <= 0 || parsed.value() > kAdhocMaxWindowMs) {
          SendError(res, 400, "invalid_window",
                    "window: expected a duration from 1ms to 366d (30m, 12h, 7d...)");
          return;
        }
        window = parsed.value();
      }
      body = AdhocFunnel(db, map, range, steps, window, &error);
    } else if (which == "paths") {
      body = PathStats(db, map, range, static_cast<std::size_t>(path_limit), &error);
      if (!breakdown.empty()) {
        AddPathBreakdown(db, map, range, breakdown, static_cast<std::size_t>(breakdown_values),
                         &body, &error);
      }
    } else {
      SendError(res, 404, "not_found",
                "stats: funnel, funnel-steps, transitions, time-in-stage, attribution, "
                "content-gaps, channels, webhooks, overview or paths");
      return;
    }
    if (error.empty()) error = version_error;
    if (!error.empty()) {
      res.SetHeader("Retry-After", "1");
      SendError(res, 503, "storage_unavailable", "stats: " + error);
      return;
    }
    if (format == "csv") {
      auto csv = ReportCsv(which, table, body);
      if (!csv) {  // checked above; kept so that a new report without a table fails clearly
        SendError(res, 400, "invalid_table", "table: this report has no table");
        return;
      }
      res.status = 200;
      res.SetHeader("Content-Disposition", "attachment; filename=\"waymark-" + *project + "-" +
                                               which + (table.empty() ? "" : "-" + table) + "-" +
                                               DayToDate(range.first_day) + "-to-" +
                                               DayToDate(range.last_day) + ".csv\"");
      res.SetContent(*csv, "text/csv; charset=utf-8");
      return;
    }
    SendJson(res, 200, body);
  });
}

std::shared_ptr<const JourneyMap> CollectorServer::StoredMap(Database& db, std::int64_t version) {
  {
    std::lock_guard<std::mutex> lock(stored_maps_mu_);
    auto it = stored_maps_.find(version);
    if (it != stored_maps_.end()) return it->second;
  }
  auto q = db.Prepare("SELECT body FROM maps WHERE version = ?");
  q.Bind(1, version);
  if (!q.Step()) return nullptr;
  auto parsed = ParseJourneyMap(q.Text(0));
  q.Reset();
  if (!parsed) return nullptr;
  std::lock_guard<std::mutex> lock(stored_maps_mu_);
  // Stored versions never change; a few are ever read (the one before the current).
  if (stored_maps_.size() >= 8) stored_maps_.clear();
  stored_maps_[version] = parsed.value();
  return parsed.value();
}

bool CollectorServer::RefreshMaps(Database& db) {
  // Each project's newest version (one row per project, by the maps_by_project index).
  auto q = db.Prepare(
      "SELECT m.project_id, m.version, m.body FROM maps m JOIN (SELECT project_id, MAX(version) "
      "AS newest FROM maps GROUP BY project_id) n ON m.project_id = n.project_id AND "
      "m.version = n.newest");
  bool changed = false;
  while (q.Step()) {
    const std::string project = q.Text(0);
    const std::int64_t version = q.Int(1);
    auto current = ingestor_->map(project);
    if (current && version <= current->version) continue;
    std::string body = q.Text(2);
    auto parsed = ParseJourneyMap(body);
    if (!parsed) continue;  // stored by a collector that validated it; not expected
    std::vector<WebhookEndpoint> webhooks;
    if (current) {
      webhooks = current->webhooks;
    } else {
      // A project another collector created: its endpoints and keys too.
      if (TakeProjectWebhooks(db, project, &webhooks)) continue;
      // Added to what is known (keys are never removed): a key this collector just created
      // stays even if the snapshot predates it.
      std::string error;
      for (const StoredKey& key : LoadStoredKeys(db, &error)) keys_.Add(key);
    }
    ingestor_->SetMap(
        MakeMapState(project, parsed.value(), std::move(body), version, std::move(webhooks)),
        /*only_if_newer=*/true);
    changed = true;
  }
  return changed;
}

void CollectorServer::WatchMaps() {
  // Polling one indexed row is cheap and needs no listener connection that a restart of the
  // database would silently drop (LISTEN/NOTIFY would); browsers see a new map within
  // map_poll_ms plus their own refresh interval.
  Database db;
  std::unique_lock<std::mutex> lock(map_watch_mu_);
  while (!map_watch_stop_) {
    lock.unlock();
    if (!db.is_open()) db.Open(config_.database, config_.synchronous_full);
    if (db.is_open()) RefreshMaps(db);
    lock.lock();
    map_watch_cv_.wait_for(lock, std::chrono::milliseconds(config_.limits.map_poll_ms),
                           [this] { return map_watch_stop_; });
  }
}

void CollectorServer::HandleCreateProject(const Request& req, Response& res) {
  if (!RequireServerKey(req, res)) return;
  NewProject project;
  if (auto err = ParseNewProject(req.body, config_.limits.decompressed_bytes, &project)) {
    SendError(res, 400, "invalid_project", *err);
    return;
  }
  const std::string site_key = NewKey(kSiteKeyPrefix);
  const std::string admin_key = NewKey(kAdminKeyPrefix);
  if (site_key.empty() || admin_key.empty()) {
    SendError(res, 500, "internal", "the random number generator failed");
    return;
  }
  // The project, its keys and its first map (the built-in default) in one transaction: a project
  // is never stored without a map.
  auto map = ParseJourneyMap(DefaultMapJson()).value();
  const std::string body(DefaultMapJson());
  bool exists = false;
  std::shared_ptr<MapState> state;
  auto err = ingestor_->RunWrite([&](Database& db) -> std::optional<std::string> {
    if (auto e = InsertProject(db, project, site_key, admin_key, NowMs(), &exists)) return e;
    if (exists) return std::nullopt;
    if (auto e = StoreMapVersion(db, project.id, map, body, project.webhooks, &state)) {
      return "map: " + *e;
    }
    return std::nullopt;
  });
  if (err) {
    res.SetHeader("Retry-After", "1");
    SendError(res, 503, "storage_unavailable", "project: " + *err);
    return;
  }
  if (exists) {
    SendError(res, 409, "project_exists", "id: a project " + project.id + " exists already");
    return;
  }
  keys_.Add({KeyHash(site_key), project.id, KeyKind::kSite, project.origins, project.server_side});
  keys_.Add({KeyHash(admin_key), project.id, KeyKind::kAdmin, {}, false});
  webhooks_->SetEndpoints(project.id, project.webhooks);
  ingestor_->SetMap(state);
  // The keys are shown once: only their hashes are stored.
  SendJson(res, 201,
           json{{"id", project.id},
                {"name", project.name},
                {"site_key", site_key},
                {"admin_key", admin_key},
                {"map_version", state->version}});
}

void CollectorServer::HandlePutMap(const Request& req, Response& res) {
  auto project = RequireAdmin(req, res);
  if (!project) return;
  auto parsed = ParseJourneyMap(req.body);
  if (!parsed) {
    SendMapError(res, parsed.error(), req.body);
    return;
  }
  // Another collector may have published since the last poll: the version check is against the
  // newest stored map.
  if (map_watcher_.joinable()) RefreshMaps(ReadDb());
  auto current = ingestor_->map(*project);
  if (parsed.value()->version <= current->map->version && current->version > 0) {
    SendError(res, 409, "version_conflict",
              "version: must be greater than the current map's version " +
                  std::to_string(current->map->version));
    return;
  }
  std::shared_ptr<const MapState> state;
  if (auto err = PublishMap(*project, parsed.value(), req.body, current->webhooks, &state)) {
    res.SetHeader("Retry-After", "1");
    SendError(res, 503, "storage_unavailable", *err);
    return;
  }
  res.SetHeader("ETag", state->etag);
  SendJson(res, 200,
           json{{"version", state->version}, {"map_id", state->map->id}, {"etag", state->etag}});
}

void CollectorServer::HandlePreviewMap(const Request& req, Response& res) {
  auto project = RequireAdmin(req, res);
  if (!project) return;
  std::int64_t limit = kPreviewDefaultProfiles;
  if (!IntParam(req, "limit", 1, kPreviewMaxProfiles, &limit)) {
    SendError(res, 400, "invalid_limit",
              "limit: expected an integer from 1 to " + std::to_string(kPreviewMaxProfiles));
    return;
  }
  std::int64_t max_ms = kPreviewDefaultMaxMs;
  if (!IntParam(req, "max_ms", 1, kPreviewMaxMs, &max_ms)) {
    SendError(res, 400, "invalid_max_ms",
              "max_ms: expected an integer from 1 to " + std::to_string(kPreviewMaxMs));
    return;
  }
  // The same validation as PUT /v1/map: the core's code and path-precise message.
  auto parsed = ParseJourneyMap(req.body);
  if (!parsed) {
    SendMapError(res, parsed.error(), req.body);
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  ingestor_->FlushAll();  // the live side includes every event acknowledged so far
  // Replayed here, on this worker's read connection: the writer keeps ingesting meanwhile.
  auto live = ingestor_->map(*project);
  std::string error;
  // Advanced to now like the live profiles are, when time passes on this collector.
  const std::int64_t advance_to = config_.limits.advance_interval_seconds > 0 ? NowMs() : -1;
  json body = PreviewMap(ReadDb(), *project, parsed.value(), *live->map,
                         static_cast<std::size_t>(limit), advance_to, &error, max_ms);
  if (!error.empty()) {
    res.SetHeader("Retry-After", "1");
    SendError(res, 503, "storage_unavailable", "preview: " + error);
    return;
  }
  body["ms"] = MillisecondsSince(started);
  SendJson(res, 200, body);
}

void CollectorServer::AllowOrigin(const Request& req, Response& res, const SiteKey* key) {
  const std::string& origin = req.Header("Origin");
  if (!origin.empty() && key != nullptr && OriginAllowed(*key, origin) &&
      !res.HasHeader("Access-Control-Allow-Origin")) {
    res.SetHeader("Access-Control-Allow-Origin", origin);
    // The SDK waits as long as a 429/503 tells it to; a browser hides the header otherwise.
    res.SetHeader("Access-Control-Expose-Headers", "Retry-After");
    res.SetHeader("Vary", "Origin");
  }
}

std::string CollectorServer::BatchKeyFromRequest(const Request& req) {
  const std::string& header = req.Header("X-Waymark-Key");
  return header.empty() ? req.Param("key") : header;
}

void CollectorServer::HandleBatch(const Request& req, Response& res) {
  const std::int64_t received = NowMs();
  const std::string& origin = req.Header("Origin");

  // CORS first, so that a browser can read even an early error: the key from the header or the
  // query (a sendBeacon body key needs no CORS: beacons do not read answers).
  std::string key_text = BatchKeyFromRequest(req);
  if (!key_text.empty()) {
    auto early = keys_.Site(key_text, /*ask_database=*/false);
    AllowOrigin(req, res, early ? &early->key : nullptr);
  }

  // Decoded and held to the decompressed cap by Dispatch.
  const std::string& body = req.body;
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
  const auto match = keys_.Site(key_text);
  const SiteKey* key = match ? &match->key : nullptr;
  if (key == nullptr) {
    SendError(res, 401, "unknown_site_key", "site key: not known to this collector");
    return;
  }
  if (!OriginAllowed(*key, origin)) {
    SendError(res, 403, "origin_not_allowed", "origin: not allowed for this site key");
    return;
  }
  AllowOrigin(req, res, key);
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
  // The client for its own rate limit: the visitor's anonymous id, else the address's prefix
  // (kept in memory only, whatever --ip-mode says about storage).
  std::string client;
  if (!events->empty()) {
    const json* a = Member((*events)[0], "anonymous_id");
    if (a == nullptr) {  // the SDK sends a batch's shared anonymous id once, in `common`
      if (const json* c = Member(batch, "common"); c != nullptr && c->is_object()) {
        a = Member(*c, "anonymous_id");
      }
    }
    if (a != nullptr && a->is_string()) {
      client = "a:" + a->get_ref<const std::string&>().substr(0, 128);
    }
  }
  if (client.empty()) client = "ip:" + ReduceIp(req.remote_addr, IpMode::kTruncate, received);
  int retry_after = 1;
  const RateLimit limit = rate_limiter_.Allow(*key, client, received, &retry_after);
  if (limit != RateLimit::kAllowed) {
    res.SetHeader("Retry-After", std::to_string(retry_after));
    metrics_.Add(
        "waymark_batches_refused_total",
        {{"reason", limit == RateLimit::kClient ? "rate_limited_client" : "rate_limited"}});
    SendError(res, 429, "rate_limited",
              limit == RateLimit::kClient
                  ? "too many requests from this client for this site key; retry later"
                  : "too many requests for this site key; retry later");
    return;
  }

  TimeMs batch_sent = 0;
  if (const json* s = Member(batch, "sent_at")) GetInt64(*s, &batch_sent);

  auto map_state = ingestor_->map(match->project);
  if (!map_state) {
    RefreshMaps(ReadDb());  // another thread may have taken it meanwhile: read it again anyway
    map_state = ingestor_->map(match->project);
  }
  if (!map_state) {  // a project another collector created a moment ago
    res.SetHeader("Retry-After", "1");
    SendError(res, 503, "storage_unavailable", "the project's map is not loaded yet; retry");
    return;
  }
  const JourneyMap& map = *map_state->map;
  EventLimits limits;
  limits.max_event_bytes = config_.limits.event_bytes;
  const std::string ip = ReduceIp(req.remote_addr, config_.ip_mode, received);
  const std::string device = DeviceType(req.Header("User-Agent"));

  // Fields most events of the batch share (anonymous id, page context, stage, ...) may be sent
  // once, in `common`: each event without a value of its own gets it. The SDK does so to fit
  // more events into the 64 KB a page may send while it unloads.
  const json* common = Member(batch, "common");
  if (common != nullptr && !common->is_null() && !common->is_object()) {
    SendError(res, 400, "invalid_batch",
              "common: expected an object of fields shared by every event");
    return;
  }
  if (common != nullptr && !common->is_object()) common = nullptr;

  std::vector<EventResult> results;
  std::vector<IncomingEvent> valid;
  for (std::size_t i = 0; i < events->size(); ++i) {
    json merged;
    if (common != nullptr && (*events)[i].is_object()) {
      merged = *common;
      for (auto f = (*events)[i].begin(); f != (*events)[i].end(); ++f) merged[f.key()] = f.value();
    }
    const json& raw = common != nullptr && (*events)[i].is_object() ? merged : (*events)[i];
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
      if (!st->is_string() || st->get_ref<const std::string&>().size() > 64 ||
          !IsValidUtf8(st->get_ref<const std::string&>()) ||
          st->get_ref<const std::string&>().find('\0') != std::string::npos) {
        reject("invalid_event", "stage: expected a stage id");
        continue;
      }
      in.browser_stage = st->get<std::string>();
    }
    // Sent without the browser's engine (it could not load, or the page was unloading): the
    // stage's sync filter is applied here, when the profile's journey reaches the event.
    if (const json* u = Member(raw, "unfiltered"); u != nullptr && !u->is_null()) {
      if (!u->is_boolean()) {
        reject("invalid_event", "unfiltered: expected true or false");
        continue;
      }
      in.unfiltered = u->get<bool>();
    }
    // Clock skew: received + (device - sent), in checked arithmetic (ingest.h).
    const CorrectedTime corrected =
        CorrectTime(in.event.time, in.event.sent_at > 0 ? in.event.sent_at : batch_sent, received,
                    config_.limits.future_skew_ms);
    if (!corrected.valid) {
      reject("invalid_time",
             "time: " + std::to_string(in.event.time) +
                 " gives no usable time on the server's clock (sent_at " +
                 std::to_string(in.event.sent_at > 0 ? in.event.sent_at : batch_sent) +
                 "); send milliseconds since the epoch");
      continue;
    }
    in.sent_at = corrected.sent_at;
    in.corrected_time = corrected.time;
    in.clamped = corrected.clamped;
    if (corrected.clamped) metrics_.Add("waymark_events_clamped_total", {});
    in.received_at = received;
    in.site_key = key->key;
    in.ip = ip;
    in.device = device;
    in.project = match->project;
    in.content_hash = ContentHash(in.event, in.browser_stage);
    in.body = DumpJson(EventToJson(in.event));
    valid.push_back(std::move(in));
  }

  bool storage_failed = false;
  if (!valid.empty()) {
    auto stored = ingestor_->Submit(std::move(valid));
    if (!stored) {
      res.SetHeader("Retry-After", "1");
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
  if (storage_failed) res.SetHeader("Retry-After", "1");
  SendJson(res, storage_failed ? 503 : 200,
           json{{"accepted", accepted},
                {"duplicates", duplicates},
                {"rejected", rejected},
                {"results", std::move(list)}});
}

}  // namespace waymark::collector
