#include "http/request_guard.h"

#include <arpa/inet.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "digest.h"

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
  if (key.origins.empty()) return true;
  for (const auto& o : key.origins) {
    if (o == "*" || (!origin.empty() && o == origin)) return true;
  }
  // Browsers send an Origin with every POST; none means a server or a script, which may use
  // the key only if it is marked for server-side use.
  return origin.empty() && key.server_side;
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
    std::string input;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (day != salt_day) {
        if (RAND_bytes(salt, sizeof(salt)) != 1) return "";
        salt_day = day;
      }
      input.assign(reinterpret_cast<const char*>(salt), sizeof(salt));
    }
    input += ip;
    return "h:" + Sha256Hex(input).substr(0, 32);  // the first 16 bytes
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

namespace {

// Refills `bucket` to `now_ms`; true (and one token taken) when it had one.
bool Take(double rate, double burst, std::int64_t now_ms, double* tokens, std::int64_t* updated_ms,
          int* retry_after_seconds) {
  if (*tokens < 0) {
    *tokens = burst;
    *updated_ms = now_ms;
  }
  const double elapsed = std::max<std::int64_t>(0, now_ms - *updated_ms) / 1000.0;
  *tokens = std::min(burst, *tokens + elapsed * rate);
  *updated_ms = now_ms;
  if (*tokens >= 1) return true;
  const double wait = (1 - *tokens) / std::max(rate, 1e-6);
  *retry_after_seconds = std::max(1, static_cast<int>(std::ceil(wait)));
  return false;
}

constexpr std::int64_t kSweepEveryMs = 10000;

}  // namespace

RateLimiter::RateLimiter(double client_rate_per_second, double client_burst)
    : client_rate_(client_rate_per_second), client_burst_(client_burst) {}

RateLimit RateLimiter::Allow(const SiteKey& key, const std::string& client, std::int64_t now_ms,
                             int* retry_after_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  SweepClients(now_ms);
  Bucket& site = sites_[key.key];
  Bucket& one = clients_[key.key + '\n' + client];
  // Both buckets are refilled first and a token is taken only when both have one, so a client
  // refused by its own limit does not spend the site's tokens (and the other way round).
  if (!Take(client_rate_, client_burst_, now_ms, &one.tokens, &one.updated_ms,
            retry_after_seconds)) {
    return RateLimit::kClient;
  }
  if (!Take(key.rate_per_second, key.burst, now_ms, &site.tokens, &site.updated_ms,
            retry_after_seconds)) {
    return RateLimit::kSite;
  }
  one.tokens -= 1;
  site.tokens -= 1;
  return RateLimit::kAllowed;
}

std::size_t RateLimiter::tracked_clients() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clients_.size();
}

void RateLimiter::SweepClients(std::int64_t now_ms) {
  // A bucket untouched for longer than it takes to refill is full again: forgetting it changes
  // nothing, and keeps memory bounded by the clients of the last few seconds.
  if (now_ms - last_sweep_ms_ < kSweepEveryMs) return;
  last_sweep_ms_ = now_ms;
  const auto refill_ms =
      static_cast<std::int64_t>(std::ceil(client_burst_ / std::max(client_rate_, 1e-6) * 1000));
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (now_ms - it->second.updated_ms >= refill_ms) {
      it = clients_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace waymark::collector
