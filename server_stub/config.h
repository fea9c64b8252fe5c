// The collector's configuration: a JSON config file and command-line flags (flags win).
// `waymark-collector --help` prints every option; docs/collector-api.md describes the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace waymark::collector {

struct SiteKey {
  std::string key;
  std::vector<std::string> origins;  ///< allowed Origin values; empty = any origin ("*")
  double rate_per_second = 100;      ///< token bucket refill, requests per second
  double burst = 200;                ///< token bucket size
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
  std::size_t events_per_batch = 500;
  std::size_t event_bytes = 32 * 1024;
  std::int64_t future_skew_ms =
      5 * 60 * 1000;  ///< corrected times later than now + this are clamped
  int read_timeout_seconds = 5;
  int write_timeout_seconds = 5;
  int worker_threads = 32;
  std::size_t max_pending_events = 20000;  ///< ingest queue bound; above it requests get 503
  std::int64_t outbox_ready_max = 10000;   ///< /readyz fails above this many pending deliveries
};

enum class IpMode { kTruncate, kHash, kDrop };

struct Config {
  std::string bind = "127.0.0.1";
  int port = 8787;
  std::string database = "data/waymark.db";
  std::string map_path;  ///< empty: the stored current map, else the built-in default map
  std::string admin_key;
  std::vector<SiteKey> site_keys;
  std::vector<WebhookEndpoint> webhooks;
  Limits limits;
  IpMode ip_mode = IpMode::kTruncate;
  bool synchronous_full = true;  ///< fsync every commit (WAL + synchronous=FULL)
  std::string static_dir;        ///< optional folder served at / (the dashboard, issue 5)
  bool quiet = false;            ///< no per-request log lines
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
