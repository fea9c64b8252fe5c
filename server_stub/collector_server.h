// The collector's HTTP server: routes, CORS, authentication, limits and request logging around
// the ingestor (writes), per-thread read connections (profiles, stats) and the webhook sender.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "config.h"
#include "ingest.h"
#include "metrics.h"
#include "http/request_guard.h"
#include "webhooks.h"

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
  void HandleBatch(const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader);
  void HandlePutMap(const httplib::Request& req, httplib::Response& res);
  void HandlePreviewMap(const httplib::Request& req, httplib::Response& res);
  bool RequireAdmin(const httplib::Request& req, httplib::Response& res);
  Database& ReadDb();
  std::optional<std::string> LoadMap();

  Config config_;
  Metrics metrics_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<WebhookSender> webhooks_;
  RateLimiter rate_limiter_;
  httplib::Server server_;
  int port_ = 0;
  std::atomic<bool> running_{false};
};

}  // namespace waymark::collector
