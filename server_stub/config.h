// The collector's configuration: a JSON config file and command-line flags (flags win).
// `waymark-collector --help` prints every option; docs/collector-api.md describes the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "waymark/limits.h"

namespace waymark::collector {

struct SiteKey {
  std::string key;
  std::vector<std::string> origins;  ///< allowed Origin values; empty = any origin ("*")
  double rate_per_second = 1000;     ///< the whole site: token bucket refill, requests/s
  double burst = 2000;               ///< the whole site: token bucket size
  /// Requests without an Origin header are refused when `origins` is set, unless the key is
  /// meant for servers (which send no Origin): a browser always sends one with a POST.
  bool server_side = false;
};

struct WebhookEndpoint {
  std::string id;   ///< stable name, part of the delivery dedupe key
  std::string url;  ///< http://host:port/path (https when the server was built with OpenSSL)
  std::string secret;
  std::vector<std::string> triggers;  ///< trigger ids to deliver; empty = all
};

struct Limits {
  std::size_t body_bytes = 512 * 1024;  ///< raw (possibly compressed) body
  std::size_t decompressed_bytes = 2 * 1024 * 1024;
  std::size_t events_per_batch = kMaxBatchEvents;  ///< the SDK packs at most this many
  std::size_t event_bytes = kMaxEventBytes;
  std::int64_t future_skew_ms =
      5 * 60 * 1000;               ///< corrected times later than now + this are clamped
  int head_timeout_seconds = 10;   ///< the whole request line and headers, from the first byte
  int body_timeout_seconds = 10;   ///< the whole body, from the end of the headers
  int write_timeout_seconds = 30;  ///< the whole answer
  int keep_alive_seconds = 60;     ///< an idle keep-alive connection is closed after this
  std::size_t header_bytes = 16 * 1024;  ///< request line and headers together (431)
  std::size_t header_count = 100;        ///< header fields (431)
  std::size_t max_connections = 10000;   ///< open connections; the oldest idle close first
  /// Request bodies in memory at once, over all connections (503 beyond it).
  std::size_t body_bytes_in_flight = 256 * 1024 * 1024;
  int io_threads = 2;       ///< threads running the event loop
  int worker_threads = 32;  ///< threads running handlers (they wait on SQLite)
  /// One client (a visitor's anonymous id, else its reduced IP address) per site key.
  double client_rate_per_second = 20;
  double client_burst = 100;
  std::size_t max_pending_events = 20000;  ///< ingest queue bound; above it requests get 503
  /// How often idle profiles whose timed transitions fell due (dormancy, churn) are advanced to
  /// the current time; 0 turns it off (then time passes for a profile only with its next event).
  int advance_interval_seconds = 60;
  /// PostgreSQL: how often a collector looks for a map another collector published.
  int map_poll_ms = 2000;
  std::int64_t outbox_ready_max = 10000;  ///< /readyz fails above this many pending deliveries
};

enum class IpMode { kTruncate, kHash, kDrop };

struct Config {
  std::string bind = "127.0.0.1";
  int port = 8787;
  std::string database = "data/waymark.db";
  std::string map_path;   ///< empty: the stored current map, else the built-in default map
  std::string admin_key;  ///< project "default"'s
  /// Creates and lists projects (POST/GET /v1/projects); empty: no project can be created.
  std::string server_key;
  std::vector<SiteKey> site_keys;
  std::vector<WebhookEndpoint> webhooks;
  Limits limits;
  IpMode ip_mode = IpMode::kTruncate;
  bool synchronous_full = true;  ///< fsync every commit (WAL + synchronous=FULL)
  std::string static_dir;        ///< optional folder served at / (the dashboard, issue 5)
  bool quiet = false;            ///< no per-request log lines
  /// Bearer token for GET /metrics (the admin key works too). Empty: /metrics is public, as
  /// Prometheus scrapers expect; it holds counts, never visitor data.
  std::string metrics_token;
  /// Behind a load balancer: the client's address is the last X-Forwarded-For entry (the one
  /// the balancer appended), not the balancer's own address. Never set it when clients reach
  /// the collector directly: they could then claim any address.
  bool trust_proxy = false;
};

/// Parses flags (and the config file named by --config). On error returns a message; on --help
/// sets *help_requested and returns nothing.
std::optional<std::string> ParseConfig(int argc, char** argv, Config* config, bool* help_requested);

/// The --help text.
std::string HelpText();

/// Loads a JSON config file into `config` (used by ParseConfig; exposed for tests).
std::optional<std::string> LoadConfigFile(const std::string& path, Config* config);
std::optional<std::string> ParseConfigJson(const std::string& text, Config* config);

}  // namespace waymark::collector
