#include "http/project_keys.h"

#include "http/request_guard.h"

namespace waymark::collector {

std::optional<StoredKey> ProjectKeys::Stored(const std::string& key, const char* prefix,
                                             bool ask_database) {
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string hash = KeyHash(key);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = stored_.find(hash);
    if (it != stored_.end()) return it->second;
  }
  if (!ask_database || !read_db_) return std::nullopt;
  std::string error;
  auto found = FindStoredKey(read_db_(), hash, &error);
  if (found) Add(*found);
  return found;
}

std::optional<SiteKeyMatch> ProjectKeys::Site(const std::string& key, bool ask_database) {
  if (const SiteKey* configured = FindSiteKey(config_, key)) {
    return SiteKeyMatch{kDefaultProject, *configured};
  }
  auto stored = Stored(key, kSiteKeyPrefix, ask_database);
  if (!stored || stored->kind != KeyKind::kSite) return std::nullopt;
  SiteKey site;
  site.key = key;
  site.origins = stored->origins;
  site.server_side = stored->server_side;
  return SiteKeyMatch{stored->project, site};
}

std::optional<std::string> ProjectKeys::AdminProject(const std::string& key) {
  if (key.empty()) return std::nullopt;
  if (!config_.admin_key.empty() && ConstantTimeEquals(config_.admin_key, key)) {
    return std::string(kDefaultProject);
  }
  auto stored = Stored(key, kAdminKeyPrefix, true);
  if (!stored || stored->kind != KeyKind::kAdmin) return std::nullopt;
  return stored->project;
}

bool ProjectKeys::AnyAllowsOrigin(const std::string& origin) const {
  if (AnyKeyAllowsOrigin(config_, origin)) return true;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [hash, key] : stored_) {
    if (key.kind != KeyKind::kSite) continue;
    SiteKey site;
    site.origins = key.origins;
    site.server_side = key.server_side;
    if (OriginAllowed(site, origin)) return true;
  }
  return false;
}

void ProjectKeys::Replace(const std::vector<StoredKey>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  stored_.clear();
  for (const StoredKey& k : keys) stored_[k.hash] = k;
}

void ProjectKeys::Add(const StoredKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  stored_[key.hash] = key;
}

std::size_t ProjectKeys::stored_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stored_.size();
}

}  // namespace waymark::collector
