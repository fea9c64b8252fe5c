// Request-level protections: key checks in constant time, per-key rate limits, and the IP
// address reduction applied before anything is stored.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "config.h"

namespace waymark::collector {

/// Compares secrets without leaking their common prefix length through timing.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

/// The site key entry matching `key`, or nullptr.
const SiteKey* FindSiteKey(const Config& config, const std::string& key);

/// Whether `origin` may use `key` (no Origin header, an empty allowlist or "*" allow it).
bool OriginAllowed(const SiteKey& key, const std::string& origin);

/// Whether any site key allows `origin` (CORS preflight carries no key).
bool AnyKeyAllowsOrigin(const Config& config, const std::string& origin);

/// Reduces an address before storage: IPv4 to its /24 ("203.0.113.0"), IPv6 to its /48,
/// or a salted SHA-256 (salt rotated daily, kept in memory only), or nothing.
std::string ReduceIp(const std::string& ip, IpMode mode, std::int64_t now_ms);

/// Token buckets per site key.
class RateLimiter {
 public:
  /// True when a request may pass; otherwise *retry_after_seconds says when to come back.
  bool Allow(const SiteKey& key, std::int64_t now_ms, int* retry_after_seconds);

 private:
  struct Bucket {
    double tokens = -1;
    std::int64_t updated_ms = 0;
  };
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace waymark::collector
