// Which project a request's key belongs to. The config file's site keys and admin key are
// project "default"'s; the keys of projects created through the API are stored as hashes
// (storage/project_store.h) and kept here in memory, looked up by the hash of the key a request
// carries. A key created on another collector (several on one PostgreSQL) is found in the
// database on its first use.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "storage/database.h"
#include "storage/project_store.h"

namespace waymark::collector {

/// Generated keys start with these; only such keys are looked up in the database on a miss.
inline constexpr const char* kSiteKeyPrefix = "wm_site_";
inline constexpr const char* kAdminKeyPrefix = "wm_admin_";

struct SiteKeyMatch {
  std::string project;
  SiteKey key;
};

class ProjectKeys {
 public:
  /// `read_db`: the calling thread's read connection, opened only when a key of the generated
  /// form is not known in memory.
  ProjectKeys(const Config& config, std::function<Database&()> read_db)
      : config_(config), read_db_(std::move(read_db)) {}

  /// The site key and its project; nothing when unknown. With `ask_database`, a key not known in
  /// memory is looked up in the database.
  std::optional<SiteKeyMatch> Site(const std::string& key, bool ask_database = true);
  /// The project an admin key administers; nothing when unknown.
  std::optional<std::string> AdminProject(const std::string& key);
  /// Whether any site key allows `origin` (CORS preflight carries no key).
  bool AnyAllowsOrigin(const std::string& origin) const;

  /// Replaces the stored keys known in memory (at start, and when another collector added some).
  void Replace(const std::vector<StoredKey>& keys);
  void Add(const StoredKey& key);
  std::size_t stored_count() const;

 private:
  std::optional<StoredKey> Stored(const std::string& key, const char* prefix, bool ask_database);

  const Config& config_;
  std::function<Database&()> read_db_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, StoredKey> stored_;  ///< by hash
};

}  // namespace waymark::collector
