// Request-level protections: key checks in constant time, per-key rate limits, and the IP
// address reduction applied before anything is stored.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config.h"

namespace waymark::collector {

/// Compares secrets without leaking their common prefix length through timing.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

/// The site key entry matching `key`, or nullptr.
const SiteKey* FindSiteKey(const Config& config, const std::string& key);

/// Whether `origin` may use `key`: an empty allowlist or "*" allow any (and none); otherwise the
/// Origin must be listed, and a request without one passes only for a `server_side` key.
bool OriginAllowed(const SiteKey& key, const std::string& origin);

/// Whether any site key allows `origin` (CORS preflight carries no key).
bool AnyKeyAllowsOrigin(const Config& config, const std::string& origin);

/// Reduces an address before storage: IPv4 to its /24 ("203.0.113.0"), IPv6 to its /48,
/// or a salted SHA-256 (salt rotated daily, kept in memory only), or nothing.
std::string ReduceIp(const std::string& ip, IpMode mode, std::int64_t now_ms);

enum class RateLimit { kAllowed, kClient, kSite };

/// Token buckets per site key (all its visitors together) and per client of a site key (one
/// visitor: the anonymous id, else the reduced IP address), so that one noisy client is held
/// back long before the site as a whole.
class RateLimiter {
 public:
  RateLimiter(double client_rate_per_second, double client_burst);

  /// Whether a request may pass; otherwise which limit refused it, and *retry_after_seconds
  /// says when to come back.
  RateLimit Allow(const SiteKey& key, const std::string& client, std::int64_t now_ms,
                  int* retry_after_seconds);
  std::size_t tracked_clients() const;

 private:
  struct Bucket {
    double tokens = -1;
    std::int64_t updated_ms = 0;
  };
  void SweepClients(std::int64_t now_ms);

  const double client_rate_;
  const double client_burst_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> sites_;
  std::unordered_map<std::string, Bucket> clients_;
  std::int64_t last_sweep_ms_ = 0;
};

}  // namespace waymark::collector
