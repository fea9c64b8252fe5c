#include "config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "pipeline/webhooks.h"
#include "waymark/json_util.h"

namespace waymark::collector {

namespace {

std::optional<std::string> ReadStringList(const json& v, const std::string& path,
                                          std::vector<std::string>* out) {
  if (v.is_string()) {
    out->push_back(v.get<std::string>());
    return std::nullopt;
  }
  if (!v.is_array()) return path + ": expected a string or an array of strings";
  for (const auto& item : v) {
    if (!item.is_string()) return path + ": expected strings";
    out->push_back(item.get<std::string>());
  }
  return std::nullopt;
}

bool ParseInt(const std::string& s, long long lo, long long hi, long long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == nullptr || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// --site-key KEY or KEY=origin1,origin2
SiteKey SiteKeyFromFlag(const std::string& value) {
  SiteKey k;
  auto eq = value.find('=');
  k.key = value.substr(0, eq);
  if (eq != std::string::npos) {
    std::stringstream origins(value.substr(eq + 1));
    std::string o;
    while (std::getline(origins, o, ',')) {
      if (!o.empty()) k.origins.push_back(o);
    }
  }
  return k;
}

}  // namespace

std::string HelpText() {
  return R"(waymark-collector: the waymark collector (ingestion, journey state, webhooks, stats)

Usage: waymark-collector [options]
       waymark-collector compile-map IN.json OUT.wmap   (a map's compiled form, offline)

  --config FILE          JSON config file (see docs/collector-api.md, "Configuration");
                         flags given after it override its values
  --bind ADDRESS         address to listen on (default 127.0.0.1)
  --port N               port (default 8787; 0 picks a free port, printed on start)
  --db PATH|URL          SQLite database file, created if missing (default data/waymark.db),
                         or a PostgreSQL URL (postgres://user@host:port/dbname)
  --map FILE             journey map to publish on start if it differs from the stored one
                         (default: the stored current map, else the built-in default map)
  --admin-key KEY        project "default"'s admin key: profiles, stats, PUT /v1/map
  --server-key KEY       creates and lists projects (POST/GET /v1/projects); none: off
                         (Authorization: Bearer KEY); required
  --site-key KEY[=ORIGINS]
                         a site key for POST /v1/batch; ORIGINS is a comma-separated
                         allowlist of Origin values (none = any origin); repeatable
  --rate-limit N         requests per second per site key, all its visitors together
                         (default 1000, burst 2x)
  --server-side KEY      the site key KEY may be used without an Origin header (from a
                         server); otherwise a key with origins refuses such requests
  --client-rate-limit N  requests per second per client of a site key: its anonymous id,
                         else its reduced IP address (default 20, burst 5x)
  --webhook ID,URL,SECRET[,TRIGGER...]
                         a webhook endpoint for the map's triggers (all triggers when
                         none are listed); repeatable
  --ip-mode MODE         truncate (default: IPv4 /24, IPv6 /48), hash (daily salted
                         SHA-256) or drop
  --sync normal|full     SQLite synchronous mode (default full: fsync each commit)
  --body-limit BYTES     maximum request body as sent: its Content-Length, or a chunked
                         body's data (default 524288)
  --max-connections N    open connections; when full, the oldest idle keep-alive
                         connections are closed first (default 10000)
  --keep-alive SECONDS   idle keep-alive timeout (default 60)
  --advance-interval SECONDS
                         how often idle profiles whose timed transitions fell due
                         (dormancy, churn) are advanced to now (default 60; 0: off, time
                         then passes for a profile only with its next event)
  --map-poll-ms MS       PostgreSQL: how often to look for a map another collector
                         published (default 2000; 100 to 600000)
  --metrics-token TOKEN  GET /metrics needs Authorization: Bearer TOKEN (or the admin key);
                         without it /metrics is public (counts only, no visitor data)
  --static DIR           serve this folder at / (the dashboard)
  --trust-proxy          behind a load balancer: the client address is the last
                         X-Forwarded-For entry (never set it without a balancer in front)
  --quiet                no per-request log lines
  --help                 this text

Signals: SIGTERM/SIGINT stop accepting, drain requests in flight, commit, exit 0.
Exit codes: 0 after a clean stop, 2 for bad flags or config, 1 when the database cannot be opened.
)";
}

std::optional<std::string> ParseConfigJson(const std::string& text, Config* c) {
  auto parsed = ParseJson(text, 1 << 20, 32);
  if (!parsed) return "config: " + parsed.error().message;
  const json& j = parsed.value();
  if (!j.is_object()) return "config: expected a JSON object";
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    std::int64_t n = 0;
    if (k == "bind" && v.is_string()) {
      c->bind = v.get<std::string>();
    } else if (k == "port" && GetInt64(v, &n) && n >= 0 && n <= 65535) {
      c->port = static_cast<int>(n);
    } else if (k == "database" && v.is_string()) {
      c->database = v.get<std::string>();
    } else if (k == "map" && v.is_string()) {
      c->map_path = v.get<std::string>();
    } else if (k == "admin_key" && v.is_string()) {
      c->admin_key = v.get<std::string>();
    } else if (k == "server_key" && v.is_string()) {
      c->server_key = v.get<std::string>();
    } else if (k == "static" && v.is_string()) {
      c->static_dir = v.get<std::string>();
    } else if (k == "ip_mode" && v.is_string()) {
      std::string m = v.get<std::string>();
      if (m == "truncate") {
        c->ip_mode = IpMode::kTruncate;
      } else if (m == "hash") {
        c->ip_mode = IpMode::kHash;
      } else if (m == "drop") {
        c->ip_mode = IpMode::kDrop;
      } else {
        return "config: ip_mode: expected truncate, hash or drop";
      }
    } else if (k == "sync" && v.is_string()) {
      c->synchronous_full = v.get<std::string>() != "normal";
    } else if (k == "site_keys" && v.is_array()) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        const json& s = v[i];
        std::string path = "config: site_keys[" + std::to_string(i) + "]";
        const json* key = Member(s, "key");
        if (key == nullptr || !key->is_string() || key->get<std::string>().empty()) {
          return path + ".key: expected a non-empty string";
        }
        SiteKey sk;
        sk.key = key->get<std::string>();
        if (const json* o = Member(s, "origins")) {
          if (auto err = ReadStringList(*o, path + ".origins", &sk.origins)) return err;
        }
        if (const json* r = Member(s, "rate_per_second"); r != nullptr && r->is_number()) {
          sk.rate_per_second = r->get<double>();
          sk.burst = sk.rate_per_second * 2;
        }
        if (const json* b = Member(s, "burst"); b != nullptr && b->is_number()) {
          sk.burst = b->get<double>();
        }
        if (const json* ss = Member(s, "server_side"); ss != nullptr && ss->is_boolean()) {
          sk.server_side = ss->get<bool>();
        }
        c->site_keys.push_back(sk);
      }
    } else if (k == "webhooks" && v.is_array()) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        const json& w = v[i];
        std::string path = "config: webhooks[" + std::to_string(i) + "]";
        WebhookEndpoint e;
        const json* id = Member(w, "id");
        const json* url = Member(w, "url");
        const json* secret = Member(w, "secret");
        if (id == nullptr || !id->is_string() || url == nullptr || !url->is_string() ||
            secret == nullptr || !secret->is_string()) {
          return path + ": expected id, url and secret strings";
        }
        e.id = id->get<std::string>();
        e.url = url->get<std::string>();
        e.secret = secret->get<std::string>();
        if (const json* t = Member(w, "triggers")) {
          if (auto err = ReadStringList(*t, path + ".triggers", &e.triggers)) return err;
        }
        c->webhooks.push_back(e);
      }
    } else if (k == "limits" && v.is_object()) {
      auto size = [&](const char* name, std::size_t* out) -> std::optional<std::string> {
        const json* x = Member(v, name);
        if (x == nullptr) return std::nullopt;
        std::int64_t m = 0;
        if (!GetInt64(*x, &m) || m <= 0)
          return std::string("config: limits.") + name + ": expected a positive integer";
        *out = static_cast<std::size_t>(m);
        return std::nullopt;
      };
      if (auto e = size("body_bytes", &c->limits.body_bytes)) return e;
      if (auto e = size("decompressed_bytes", &c->limits.decompressed_bytes)) return e;
      if (auto e = size("events_per_batch", &c->limits.events_per_batch)) return e;
      if (auto e = size("max_pending_events", &c->limits.max_pending_events)) return e;
      if (auto e = size("event_bytes", &c->limits.event_bytes)) return e;
      if (auto e = size("header_bytes", &c->limits.header_bytes)) return e;
      if (auto e = size("header_count", &c->limits.header_count)) return e;
      if (auto e = size("max_connections", &c->limits.max_connections)) return e;
      if (auto e = size("body_bytes_in_flight", &c->limits.body_bytes_in_flight)) return e;
      auto count = [&](const char* name, int* out) -> std::optional<std::string> {
        std::size_t n = 0;
        if (auto e = size(name, &n)) return e;
        if (n > 86400) return std::string("config: limits.") + name + ": at most 86400";
        if (n > 0) *out = static_cast<int>(n);
        return std::nullopt;
      };
      // read_timeout_seconds: the name before the head and body deadlines were separate.
      if (auto e = count("read_timeout_seconds", &c->limits.body_timeout_seconds)) return e;
      if (auto e = count("head_timeout_seconds", &c->limits.head_timeout_seconds)) return e;
      if (auto e = count("body_timeout_seconds", &c->limits.body_timeout_seconds)) return e;
      if (auto e = count("write_timeout_seconds", &c->limits.write_timeout_seconds)) return e;
      if (auto e = count("keep_alive_seconds", &c->limits.keep_alive_seconds)) return e;
      if (const json* p = Member(v, "map_poll_ms")) {
        if (!p->is_number_integer() || p->get<std::int64_t>() < 100 ||
            p->get<std::int64_t>() > 600000) {
          return std::string("config: limits.map_poll_ms: expected 100 to 600000");
        }
        c->limits.map_poll_ms = static_cast<int>(p->get<std::int64_t>());
      }
      if (const json* a = Member(v, "advance_interval_seconds")) {
        if (!a->is_number_integer() || a->get<std::int64_t>() < 0 ||
            a->get<std::int64_t>() > 86400) {
          return std::string("config: limits.advance_interval_seconds: expected 0 to 86400");
        }
        c->limits.advance_interval_seconds = static_cast<int>(a->get<std::int64_t>());
      }
      if (auto e = count("io_threads", &c->limits.io_threads)) return e;
      if (auto e = count("worker_threads", &c->limits.worker_threads)) return e;
      for (auto [name, out] : {std::pair<const char*, double*>{"client_rate_per_second",
                                                               &c->limits.client_rate_per_second},
                               {"client_burst", &c->limits.client_burst}}) {
        const json* x = Member(v, name);
        if (x == nullptr) continue;
        if (!x->is_number() || x->get<double>() <= 0) {
          return std::string("config: limits.") + name + ": expected a positive number";
        }
        *out = x->get<double>();
      }
    } else if (k == "trust_proxy" && v.is_boolean()) {
      c->trust_proxy = v.get<bool>();
    } else if (k == "metrics_token" && v.is_string()) {
      c->metrics_token = v.get<std::string>();
    } else if (k == "quiet" && v.is_boolean()) {
      c->quiet = v.get<bool>();
    } else {
      return "config: " + k + ": unknown field or wrong type";
    }
  }
  return std::nullopt;
}

std::optional<std::string> LoadConfigFile(const std::string& path, Config* config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "config: cannot read " + path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfigJson(ss.str(), config);
}

std::optional<std::string> ParseConfig(int argc, char** argv, Config* c, bool* help) {
  *help = false;
  double rate_override = 0;  // --rate-limit applies to every key, given before or after it
  std::vector<std::string> server_side;  // --server-side KEY, applied once every key is known
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&](std::string* out) -> bool {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    long long n = 0;
    if (flag == "--help" || flag == "-h") {
      *help = true;
      return std::nullopt;
    } else if (flag == "--quiet") {
      c->quiet = true;
    } else if (flag == "--trust-proxy") {
      c->trust_proxy = true;
    } else if (!value(&v)) {
      return flag.rfind("--", 0) == 0 ? flag + ": missing value (see --help)"
                                      : "unexpected argument " + flag + " (see --help)";
    } else if (flag == "--config") {
      if (auto err = LoadConfigFile(v, c)) return err;
    } else if (flag == "--bind") {
      c->bind = v;
    } else if (flag == "--port") {
      if (!ParseInt(v, 0, 65535, &n)) return "--port: expected 0 to 65535";
      c->port = static_cast<int>(n);
    } else if (flag == "--db") {
      c->database = v;
    } else if (flag == "--map") {
      c->map_path = v;
    } else if (flag == "--admin-key") {
      c->admin_key = v;
    } else if (flag == "--server-key") {
      c->server_key = v;
    } else if (flag == "--site-key") {
      SiteKey k = SiteKeyFromFlag(v);
      if (k.key.empty()) return "--site-key: expected KEY or KEY=ORIGIN,...";
      c->site_keys.push_back(k);
    } else if (flag == "--rate-limit") {
      if (!ParseInt(v, 1, 1000000, &n)) return "--rate-limit: expected a positive integer";
      rate_override = static_cast<double>(n);
    } else if (flag == "--server-side") {
      server_side.push_back(v);
    } else if (flag == "--client-rate-limit") {
      if (!ParseInt(v, 1, 1000000, &n)) return "--client-rate-limit: expected a positive integer";
      c->limits.client_rate_per_second = static_cast<double>(n);
      c->limits.client_burst = static_cast<double>(n) * 5;
    } else if (flag == "--max-connections") {
      if (!ParseInt(v, 16, 1000000, &n)) return "--max-connections: expected 16 to 1000000";
      c->limits.max_connections = static_cast<std::size_t>(n);
    } else if (flag == "--map-poll-ms") {
      if (!ParseInt(v, 100, 600000, &n)) return "--map-poll-ms: expected 100 to 600000";
      c->limits.map_poll_ms = static_cast<int>(n);
    } else if (flag == "--advance-interval") {
      if (!ParseInt(v, 0, 86400, &n)) return "--advance-interval: expected 0 to 86400 seconds";
      c->limits.advance_interval_seconds = static_cast<int>(n);
    } else if (flag == "--keep-alive") {
      if (!ParseInt(v, 1, 3600, &n)) return "--keep-alive: expected 1 to 3600 seconds";
      c->limits.keep_alive_seconds = static_cast<int>(n);
    } else if (flag == "--metrics-token") {
      c->metrics_token = v;
    } else if (flag == "--webhook") {
      std::vector<std::string> parts;
      std::stringstream ss(v);
      std::string p;
      while (std::getline(ss, p, ',')) parts.push_back(p);
      if (parts.size() < 3) return "--webhook: expected ID,URL,SECRET[,TRIGGER...]";
      WebhookEndpoint e{parts[0], parts[1], parts[2], {}};
      for (std::size_t k = 3; k < parts.size(); ++k) e.triggers.push_back(parts[k]);
      c->webhooks.push_back(e);
    } else if (flag == "--ip-mode") {
      if (v == "truncate") {
        c->ip_mode = IpMode::kTruncate;
      } else if (v == "hash") {
        c->ip_mode = IpMode::kHash;
      } else if (v == "drop") {
        c->ip_mode = IpMode::kDrop;
      } else {
        return "--ip-mode: expected truncate, hash or drop";
      }
    } else if (flag == "--sync") {
      if (v != "normal" && v != "full") return "--sync: expected normal or full";
      c->synchronous_full = v == "full";
    } else if (flag == "--body-limit") {
      if (!ParseInt(v, 1024, 64 << 20, &n)) return "--body-limit: expected 1024 to 67108864";
      c->limits.body_bytes = static_cast<std::size_t>(n);
    } else if (flag == "--static") {
      c->static_dir = v;
    } else {
      return "unknown flag " + flag + " (see --help)";
    }
  }
  if (rate_override > 0) {
    for (auto& k : c->site_keys) {
      k.rate_per_second = rate_override;
      k.burst = rate_override * 2;
    }
  }
  for (const auto& name : server_side) {
    bool found = false;
    for (auto& k : c->site_keys) {
      if (k.key == name) k.server_side = found = true;
    }
    if (!found) {
      return "--server-side: no site key " + name + " (no --site-key or site_keys entry has it)";
    }
  }
  if (c->admin_key.empty()) return "an admin key is required (--admin-key or admin_key)";
  if (!c->server_key.empty() && c->server_key == c->admin_key) {
    return "the server key must differ from the admin key";
  }
  for (const auto& w : c->webhooks) {
    std::string why;
    if (!ParseWebhookUrl(w.url, &why)) return "webhook " + w.id + ": url: " + why;
    if (w.secret.empty()) return "webhook " + w.id + ": an empty secret cannot sign deliveries";
    if (w.id.empty()) return "webhook: an id is required";
  }
  return std::nullopt;
}

}  // namespace waymark::collector
