#include "http/request_guard.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace waymark::collector {

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

const SiteKey* FindSiteKey(const Config& config, const std::string& key) {
  const SiteKey* found = nullptr;
  for (const auto& k : config.site_keys) {
    if (ConstantTimeEquals(k.key, key)) found = &k;  // no early exit: same time for every key
  }
  return found;
}

bool OriginAllowed(const SiteKey& key, const std::string& origin) {
  if (origin.empty() || key.origins.empty()) return true;
  for (const auto& o : key.origins) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

bool AnyKeyAllowsOrigin(const Config& config, const std::string& origin) {
  for (const auto& k : config.site_keys) {
    if (OriginAllowed(k, origin)) return true;
  }
  return false;
}

std::string ReduceIp(const std::string& ip, IpMode mode, std::int64_t now_ms) {
  if (ip.empty() || mode == IpMode::kDrop) return "";
  if (mode == IpMode::kHash) {
    // The salt changes every UTC day and never leaves memory, so yesterday's hashes cannot be
    // recomputed from an address; within a day the same address gives the same hash.
    static std::mutex mu;
    static std::int64_t salt_day = -1;
    static unsigned char salt[32];
    std::int64_t day = now_ms / 86400000;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    {
      std::lock_guard<std::mutex> lock(mu);
      if (day != salt_day) {
        if (RAND_bytes(salt, sizeof(salt)) != 1) return "";
        salt_day = day;
      }
      std::string input(reinterpret_cast<const char*>(salt), sizeof(salt));
      input += ip;
      SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    }
    char hex[33];
    for (int i = 0; i < 16; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return std::string("h:") + hex;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    auto* b = reinterpret_cast<unsigned char*>(&v4);
    b[3] = 0;
    char out[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &v4, out, sizeof(out));
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    for (int i = 6; i < 16; ++i) v6.s6_addr[i] = 0;
    char out[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &v6, out, sizeof(out));
    return out;
  }
  return "";
}

bool RateLimiter::Allow(const SiteKey& key, std::int64_t now_ms, int* retry_after_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& b = buckets_[key.key];
  if (b.tokens < 0) {
    b.tokens = key.burst;
    b.updated_ms = now_ms;
  }
  double elapsed = std::max<std::int64_t>(0, now_ms - b.updated_ms) / 1000.0;
  b.tokens = std::min(key.burst, b.tokens + elapsed * key.rate_per_second);
  b.updated_ms = now_ms;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  double wait = (1 - b.tokens) / std::max(key.rate_per_second, 1e-6);
  *retry_after_seconds = std::max(1, static_cast<int>(std::ceil(wait)));
  return false;
}

}  // namespace waymark::collector
