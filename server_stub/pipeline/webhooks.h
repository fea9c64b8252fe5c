// Webhook delivery from the outbox table: signing, and a background sender with retries.
//
// Delivery guarantee: the ingest writer inserts at most one outbox row per (transition,
// endpoint) (the unique dedupe_key), in the same transaction as the transition. The sender marks
// a row 'inflight' before it POSTs and records the result after. A crash between the POST and that
// commit can repeat a POST, with the same Waymark-Id, which receivers use to drop repeats. So
// delivery is at least once, and exactly once for a receiver that keeps the ids it has seen.
//
// Receiver recipe (docs/collector-api.md): each POST carries
//   Waymark-Id:        32 lowercase hex chars, stable across retries of one delivery
//   Waymark-Timestamp: unix seconds when this attempt was signed
//   Waymark-Signature: "v1=" + lowercase hex HMAC-SHA256(secret, "<timestamp>.<raw body>")
// Recompute the HMAC over the raw body bytes, compare in constant time, refuse timestamps more
// than 5 minutes from the receiver's clock, and drop ids already processed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "metrics.h"
#include "storage/database.h"
#include "storage/profile_key.h"

namespace httplib {
class ClientImpl;
}  // namespace httplib

namespace waymark::collector {

inline constexpr const char* kWebhookIdHeader = "Waymark-Id";
inline constexpr const char* kWebhookTimestampHeader = "Waymark-Timestamp";
inline constexpr const char* kWebhookSignatureHeader = "Waymark-Signature";
inline constexpr const char* kWebhookUserAgent = "waymark-collector";

/// "v1=" + lowercase hex HMAC-SHA256(secret, "<timestamp_seconds>.<body>"). Empty only if OpenSSL
/// fails.
std::string SignPayload(const std::string& secret, std::int64_t timestamp_seconds,
                        const std::string& body);

/// Checks a Waymark-Signature header value in constant time. False for a malformed header, a wrong
/// signature, or a timestamp more than `tolerance_seconds` away from `now_seconds` (either way).
bool VerifySignature(const std::string& secret, const std::string& header_value,
                     std::int64_t timestamp, const std::string& body, std::int64_t now_seconds,
                     std::int64_t tolerance_seconds = 300);

/// The Waymark-Id for an outbox row: the first 32 hex chars of SHA-256(dedupe_key).
std::string WebhookDeliveryId(const std::string& dedupe_key);

/// An endpoint URL split for httplib. Only http and https; no user info, no fragment.
struct WebhookUrl {
  std::string scheme;  ///< "http" or "https"
  std::string host;    ///< without brackets for IPv6 literals
  int port = 0;        ///< explicit, or 80 / 443
  std::string path;    ///< starts with '/', includes any query
};

/// Parses an endpoint URL; on failure returns nothing and sets *error (when not null). The config
/// loader can call this to refuse bad URLs at start rather than at the first delivery.
std::optional<WebhookUrl> ParseWebhookUrl(const std::string& url, std::string* error = nullptr);

/// Delay before the next attempt after `attempts` failed ones: min(base * 2^(attempts-1), cap),
/// scaled by (1 + 0.2 * jitter) with jitter in [-1, 1].
std::int64_t WebhookRetryDelayMs(int attempts, std::chrono::milliseconds base,
                                 std::chrono::milliseconds cap, double jitter);

struct WebhookSenderOptions {
  std::chrono::milliseconds poll_interval{250};
  std::chrono::milliseconds base_backoff{1000};
  std::chrono::milliseconds max_backoff{10 * 60 * 1000};
  int max_attempts = 12;  ///< after this many failed attempts a row becomes 'failed'
  std::chrono::seconds connection_timeout{2};
  std::chrono::seconds read_write_timeout{5};
};

/// Delivers outbox rows on one background thread with its own SQLite connection. Start/Stop/Wake/
/// PendingCount may be called from any thread.
class WebhookSender {
 public:
  /// `now_ms` is the clock for timestamps and retry times (milliseconds since the epoch).
  /// `metrics` may be null.
  WebhookSender(std::string database_path, std::vector<WebhookEndpoint> endpoints, Metrics* metrics,
                std::function<std::int64_t()> now_ms = SystemNowMs,
                WebhookSenderOptions options = WebhookSenderOptions());
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  /// A project's endpoints (the constructor's are project "default"'s); rows of a project with
  /// none are marked failed ("endpoint removed").
  void SetEndpoints(const std::string& project, std::vector<WebhookEndpoint> endpoints);

  /// Starts the delivery thread (no-op if already running).
  void Start();
  /// Stops promptly: interrupts a POST in progress (leaving its row 'inflight', to be re-sent with
  /// the same Waymark-Id after a restart) and joins. Safe to call twice or without Start.
  void Stop();
  /// Asks for a pass now instead of at the next poll; call after a commit that added outbox rows.
  void Wake();
  /// Outbox rows pending or in flight, read from the database; if it cannot be read, the count
  /// from the delivery thread's last pass.
  std::int64_t PendingCount();

  static std::int64_t SystemNowMs();

 private:
  struct Outcome;
  void Run();
  // Returns true if another pass should follow at once (a full batch was processed).
  bool RunPass(Database& db);
  Outcome Post(const WebhookEndpoint& endpoint, const std::string& delivery_id,
               const std::string& payload);
  httplib::ClientImpl* ClientFor(const WebhookEndpoint& endpoint, std::string* error);
  void UpdatePendingGauge(Database& db);
  void LogOnce(const std::string& message);

  const std::string database_path_;
  std::mutex endpoints_mu_;
  std::map<std::string, std::vector<WebhookEndpoint>> endpoints_;  ///< by project
  Metrics* const metrics_;
  const std::function<std::int64_t()> now_ms_;
  const WebhookSenderOptions options_;

  std::mutex lifecycle_mu_;  // serializes Start/Stop so two Stops never join the same thread
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  httplib::ClientImpl* active_client_ = nullptr;  // the client mid-POST, so Stop can cut it short
  std::thread thread_;

  // Touched only by the delivery thread.
  std::vector<std::pair<std::string, std::unique_ptr<httplib::ClientImpl>>> clients_;
  std::string last_logged_;
  std::mt19937 rng_;  // retry jitter

  std::atomic<std::int64_t> pending_{0};
  std::mutex count_mu_;
  std::unique_ptr<Database> count_db_;  // PendingCount's own read connection
};

}  // namespace waymark::collector
