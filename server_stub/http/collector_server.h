// The collector's HTTP server: routes, CORS, authentication, limits and request logging around
// the ingestor (writes), per-thread read connections (profiles, stats) and the webhook sender.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "config.h"
#include "http/http_message.h"
#include "http/http_server.h"
#include "http/project_keys.h"
#include "http/request_guard.h"
#include "http/router.h"
#include "http/static_files.h"
#include "metrics.h"
#include "pipeline/ingest.h"
#include "pipeline/webhooks.h"

namespace waymark::collector {

class CollectorServer {
 public:
  explicit CollectorServer(Config config);
  ~CollectorServer();

  /// Opens and migrates the database, loads or publishes the map, starts the writer and the
  /// webhook sender, binds the port. Error message on failure.
  std::optional<std::string> Start();
  /// Serves until Shutdown(); then drains the ingest queue and stops the sender.
  void Run();
  /// Stops accepting connections (safe from any thread, including a signal watcher).
  void Shutdown();
  int port() const { return port_; }

 private:
  void Routes();
  /// Every request: a problem the server found, a static file, or a route; then the log line.
  void Dispatch(HttpRequest& req, HttpResponse& res);
  void AnswerProblem(const HttpRequest& req, HttpResponse& res);
  void LogRequest(const HttpRequest& req, const HttpResponse& res, std::size_t bytes_in,
                  double seconds);
  void HandleBatch(const HttpRequest& req, HttpResponse& res);
  void HandlePutMap(const HttpRequest& req, HttpResponse& res);
  void HandlePreviewMap(const HttpRequest& req, HttpResponse& res);
  /// The project whose admin key the request carries; nothing (401 answered) without one.
  std::optional<std::string> RequireAdmin(const HttpRequest& req, HttpResponse& res);
  /// Whether the request carries the server key (projects are created with it); 401 otherwise.
  bool RequireServerKey(const HttpRequest& req, HttpResponse& res);
  void HandleCreateProject(const HttpRequest& req, HttpResponse& res);
  /// Whether the request carries `Authorization: Bearer <secret>` (compared in constant time).
  static bool HasBearer(const HttpRequest& req, const std::string& secret);
  /// Access-Control-Allow-Origin for a batch whose key allows the request's Origin.
  void AllowOrigin(const HttpRequest& req, HttpResponse& res, const SiteKey* key);
  static std::string BatchKeyFromRequest(const HttpRequest& req);
  Database& ReadDb();
  /// Every stored project's current map, keys and webhooks, at start.
  std::optional<std::string> LoadMaps();
  std::optional<std::string> LoadProjectMap(const std::string& project);
  /// A project's webhook endpoints (the config file's for project "default", else the stored
  /// ones, which the sender is given).
  std::optional<std::string> TakeProjectWebhooks(Database& db, const std::string& project,
                                                 std::vector<WebhookEndpoint>* out);
  /// A map ready to serve: compiled form and ETag for its stored version.
  static std::shared_ptr<MapState> MakeMapState(const std::string& project,
                                                std::shared_ptr<const JourneyMap> map,
                                                std::string body, std::int64_t version,
                                                std::vector<WebhookEndpoint> webhooks);
  /// Inside a write transaction: stores `map` as the project's next version (numbered after
  /// every stored one, under LockMapVersions) and makes *state ready to serve.
  static std::optional<std::string> StoreMapVersion(Database& db, const std::string& project,
                                                    std::shared_ptr<const JourneyMap> map,
                                                    const std::string& body,
                                                    std::vector<WebhookEndpoint> webhooks,
                                                    std::shared_ptr<MapState>* state);
  /// Stores `map` as the project's newest version (numbered after every stored one), marks its
  /// history for re-projection and makes it current (on the writer thread, before its next
  /// projection). An error message when not stored; else *published (when given) is the state.
  std::optional<std::string> PublishMap(const std::string& project,
                                        std::shared_ptr<const JourneyMap> map,
                                        const std::string& body,
                                        std::vector<WebhookEndpoint> webhooks,
                                        std::shared_ptr<const MapState>* published);
  /// Takes each project's newest stored map when another collector on the same database
  /// published it, and projects another collector created (PostgreSQL); true when any changed.
  bool RefreshMaps(Database& db);
  /// A stored map version, parsed once (the reports read the previous version's map until a
  /// publish's re-projection is done); null when the version is not stored.
  std::shared_ptr<const JourneyMap> StoredMap(Database& db, std::int64_t version);
  /// The map watcher's loop: RefreshMap every limits.map_poll_ms until Run() ends.
  void WatchMaps();
  void StopMapWatcher();
  /// The current map's body (or its compiled form) gzip-compressed, once per map version and
  /// form; null when zlib fails.
  std::shared_ptr<const std::string> GzippedMap(const MapState& state, bool compiled);

  Config config_;
  Metrics metrics_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<WebhookSender> webhooks_;
  RateLimiter rate_limiter_;
  Router router_;
  StaticFiles static_files_;
  std::unique_ptr<HttpServer> http_;
  int port_ = 0;
  std::atomic<bool> running_{false};
  ProjectKeys keys_{config_, [this]() -> Database& { return ReadDb(); }};
  std::mutex map_gzip_mu_;
  /// Gzipped maps by ETag and form.
  std::map<std::string, std::shared_ptr<const std::string>> map_gzip_;
  std::mutex stored_maps_mu_;
  std::map<std::int64_t, std::shared_ptr<const JourneyMap>> stored_maps_;
  std::thread map_watcher_;  ///< PostgreSQL only: maps published by other collectors
  std::mutex map_watch_mu_;
  std::condition_variable map_watch_cv_;
  bool map_watch_stop_ = false;
};

}  // namespace waymark::collector
