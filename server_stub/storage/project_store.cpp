#include "storage/project_store.h"

#include <openssl/rand.h>

#include "digest.h"
#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

std::vector<std::string> StringArray(const std::string& text) {
  std::vector<std::string> out;
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const json& item : parsed) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

StoredKey KeyFromRow(Statement& q) {
  return StoredKey{q.Text(0), q.Text(1), q.Text(2) == "admin" ? KeyKind::kAdmin : KeyKind::kSite,
                   StringArray(q.Text(3)), q.Int(4) != 0};
}

constexpr const char* kKeyColumns =
    "SELECT key_hash, project_id, kind, origins, server_side FROM project_keys";

}  // namespace

std::string KeyHash(const std::string& key) { return Sha256Hex(key); }

std::string NewKey(const std::string& prefix) {
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return "";
  return prefix + HexBytes(bytes, sizeof(bytes));
}

bool ValidProjectId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '-'))) return false;
  }
  return true;
}

std::optional<std::string> InsertProject(Database& db, const NewProject& p,
                                         const std::string& site_key, const std::string& admin_key,
                                         std::int64_t now_ms, bool* exists) {
  *exists = false;
  auto project = db.Prepare(
      "INSERT INTO projects (project_id, name, created_at) VALUES (?,?,?) "
      "ON CONFLICT (project_id) DO NOTHING");
  project.Bind(1, p.id).Bind(2, p.name).Bind(3, now_ms);
  if (!project.Run()) return "project: " + project.error();
  if (db.Changes() == 0) {
    *exists = true;
    return std::nullopt;
  }
  auto key = db.Prepare(
      "INSERT INTO project_keys (key_hash, project_id, kind, origins, server_side, created_at) "
      "VALUES (?,?,?,?,?,?)");
  key.Bind(1, KeyHash(site_key)).Bind(2, p.id).Bind(3, "site").Bind(4, DumpJson(json(p.origins)));
  key.Bind(5, static_cast<std::int64_t>(p.server_side ? 1 : 0)).Bind(6, now_ms);
  if (!key.Run()) return "project key: " + key.error();
  key.Bind(1, KeyHash(admin_key)).Bind(2, p.id).Bind(3, "admin").Bind(4, "[]");
  key.Bind(5, static_cast<std::int64_t>(0)).Bind(6, now_ms);
  if (!key.Run()) return "project key: " + key.error();
  auto hook = db.Prepare(
      "INSERT INTO project_webhooks (project_id, endpoint_id, url, secret, triggers) "
      "VALUES (?,?,?,?,?)");
  for (const WebhookEndpoint& w : p.webhooks) {
    hook.Bind(1, p.id).Bind(2, w.id).Bind(3, w.url).Bind(4, w.secret);
    hook.Bind(5, DumpJson(json(w.triggers)));
    if (!hook.Run()) return "project webhook: " + hook.error();
  }
  return std::nullopt;
}

std::vector<StoredKey> LoadStoredKeys(Database& db, std::string* error) {
  std::vector<StoredKey> out;
  auto q = db.Prepare(kKeyColumns);
  ForEachRow(q, error, [&](Statement& row) { out.push_back(KeyFromRow(row)); });
  return out;
}

std::optional<StoredKey> FindStoredKey(Database& db, const std::string& hash, std::string* error) {
  std::optional<StoredKey> out;
  auto q = db.Prepare(std::string(kKeyColumns) + " WHERE key_hash = ?");
  if (q.ok()) q.Bind(1, hash);
  ForEachRow(q, error, [&](Statement& row) { out = KeyFromRow(row); });
  return out;
}

std::vector<WebhookEndpoint> LoadProjectWebhooks(Database& db, const std::string& project,
                                                 std::string* error) {
  std::vector<WebhookEndpoint> out;
  auto q = db.Prepare(
      "SELECT endpoint_id, url, secret, triggers FROM project_webhooks WHERE project_id = ? "
      "ORDER BY endpoint_id");
  if (q.ok()) q.Bind(1, project);
  ForEachRow(q, error, [&](Statement& row) {
    out.push_back(WebhookEndpoint{row.Text(0), row.Text(1), row.Text(2), StringArray(row.Text(3))});
  });
  return out;
}

std::vector<ProjectSummary> ListProjects(Database& db, std::string* error) {
  std::vector<ProjectSummary> out;
  auto q = db.Prepare(
      "SELECT p.project_id, p.name, p.created_at, (SELECT MAX(version) FROM maps m WHERE "
      "m.project_id = p.project_id) FROM projects p ORDER BY p.project_id");
  ForEachRow(q, error, [&](Statement& row) {
    out.push_back({row.Text(0), row.Text(1), row.Int(2), row.IsNull(3) ? 0 : row.Int(3)});
  });
  return out;
}

}  // namespace waymark::collector
