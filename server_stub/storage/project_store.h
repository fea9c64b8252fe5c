// Projects as stored: their keys (as SHA-256 hashes), webhook endpoints and list. Project
// "default" is the config file's: its keys and endpoints are never stored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "storage/database.h"
#include "storage/profile_key.h"

namespace waymark::collector {

enum class KeyKind { kSite, kAdmin };

/// A stored key: what a request's key (hashed) resolves to.
struct StoredKey {
  std::string hash;  ///< lowercase hex SHA-256 of the key
  std::string project;
  KeyKind kind = KeyKind::kSite;
  std::vector<std::string> origins;  ///< site keys: allowed Origins, empty for any
  bool server_side = false;
};

/// Lowercase hex SHA-256 of a key: what is stored and looked up.
std::string KeyHash(const std::string& key);

/// A new random key: `prefix` + 40 hex digits (160 bits from the OS's generator); empty when
/// the generator fails.
std::string NewKey(const std::string& prefix);

/// Whether `id` can name a project: 1 to 64 of [a-z0-9_-], starting with a letter or digit.
bool ValidProjectId(const std::string& id);

struct NewProject {
  std::string id;
  std::string name;
  std::vector<std::string> origins;  ///< of its site key
  bool server_side = false;          ///< its site key may be used without an Origin
  std::vector<WebhookEndpoint> webhooks;
};

/// Stores a project, its two keys (by hash) and its webhooks, inside the caller's transaction.
/// *exists when a project of that id is stored already (nothing is written then).
std::optional<std::string> InsertProject(Database& db, const NewProject& project,
                                         const std::string& site_key, const std::string& admin_key,
                                         std::int64_t now_ms, bool* exists);

/// Every stored key. *error on a failed query.
std::vector<StoredKey> LoadStoredKeys(Database& db, std::string* error);
/// One stored key by its hash; nothing when unknown (or on a failed query, with *error).
std::optional<StoredKey> FindStoredKey(Database& db, const std::string& hash, std::string* error);

/// A project's stored webhook endpoints.
std::vector<WebhookEndpoint> LoadProjectWebhooks(Database& db, const std::string& project,
                                                 std::string* error);

struct ProjectSummary {
  std::string id;
  std::string name;
  std::int64_t created_at = 0;
  std::int64_t map_version = 0;  ///< its newest; 0 when none
};
std::vector<ProjectSummary> ListProjects(Database& db, std::string* error);

}  // namespace waymark::collector
