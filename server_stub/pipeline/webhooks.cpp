#include "pipeline/webhooks.h"

#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "digest.h"

namespace waymark::collector {

namespace {

// One pass handles at most this many rows, so Stop() and newly due rows are looked at between
// batches even when the backlog is large.
constexpr int kBatchSize = 50;
// We never need the receiver's response body; a cap keeps a misbehaving receiver from holding
// the sender (or its memory) with an endless body.
constexpr std::size_t kMaxResponseBytes = 64 * 1024;
constexpr std::size_t kDeliveryIdLength = 32;

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

}  // namespace

std::string SignPayload(const std::string& secret, std::int64_t timestamp_seconds,
                        const std::string& body) {
  std::string message = std::to_string(timestamp_seconds);
  message += '.';
  message += body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  // A non-null key pointer even for an empty secret: some OpenSSL 3.0 releases fail HMAC() on a
  // null key.
  static const unsigned char kEmpty = 0;
  const void* key =
      secret.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(secret.data());
  if (HMAC(EVP_sha256(), key, static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &mac_size) == nullptr) {
    return std::string();
  }
  return "v1=" + HexBytes(mac, mac_size);
}

bool VerifySignature(const std::string& secret, const std::string& header_value,
                     std::int64_t timestamp, const std::string& body, std::int64_t now_seconds,
                     std::int64_t tolerance_seconds) {
  // Both directions: a timestamp far in the future is as suspicious as a replayed old one.
  std::int64_t skew = now_seconds - timestamp;
  if (skew > tolerance_seconds || skew < -tolerance_seconds) return false;
  std::string expected = SignPayload(secret, timestamp, body);
  if (expected.empty() || header_value.size() != expected.size()) return false;
  // The length and the "v1=" prefix are public; only the MAC bytes need a constant-time compare.
  return CRYPTO_memcmp(header_value.data(), expected.data(), expected.size()) == 0;
}

std::string WebhookDeliveryId(const std::string& dedupe_key) {
  return Sha256Hex(dedupe_key).substr(0, kDeliveryIdLength);
}

std::optional<WebhookUrl> ParseWebhookUrl(const std::string& url, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<WebhookUrl> {
    if (error != nullptr) *error = "invalid webhook URL \"" + url + "\": " + why;
    return std::nullopt;
  };
  // The path ends up in the request line: control characters or spaces could split it.
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return fail("contains a space or control character");
  }
  std::size_t sep = url.find("://");
  if (sep == std::string::npos) return fail("missing scheme");
  WebhookUrl out;
  out.scheme = Lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") return fail("scheme must be http or https");
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
  if (out.scheme == "https") return fail("https needs a build with OpenSSL");
#endif
  std::size_t authority_start = sep + 3;
  std::size_t authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string::npos) authority_end = url.size();
  std::string authority = url.substr(authority_start, authority_end - authority_start);
  if (authority.find('@') != std::string::npos) {
    return fail("user info is not supported (use the endpoint secret)");
  }
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string::npos) return fail("unclosed IPv6 bracket");
    out.host = authority.substr(1, close - 1);
    std::string rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return fail("unexpected text after IPv6 address");
      port_text = rest.substr(1);
      if (port_text.empty()) return fail("empty port");
    }
  } else {
    std::size_t colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return fail("empty port");
    }
  }
  if (out.host.empty()) return fail("missing host");
  if (port_text.empty()) {
    out.port = out.scheme == "https" ? 443 : 80;
  } else {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(),
                                             [](char c) { return c >= '0' && c <= '9'; })) {
      return fail("bad port");
    }
    out.port = std::stoi(port_text);
    if (out.port < 1 || out.port > 65535) return fail("port out of range");
  }
  std::string path = url.substr(authority_end);
  path = path.substr(0, path.find('#'));  // fragments are never sent
  if (path.empty() || path[0] == '?') path = "/" + path;
  out.path = path;
  return out;
}

std::int64_t WebhookRetryDelayMs(int attempts, std::chrono::milliseconds base,
                                 std::chrono::milliseconds cap, double jitter) {
  int exponent = std::max(attempts, 1) - 1;
  // In double: 2^exponent overflows an integer long before the cap stops mattering.
  double delay = static_cast<double>(base.count()) * std::pow(2.0, std::min(exponent, 60));
  delay = std::min(delay, static_cast<double>(cap.count()));
  delay *= 1.0 + 0.2 * std::clamp(jitter, -1.0, 1.0);
  return static_cast<std::int64_t>(std::llround(std::max(delay, 0.0)));
}

struct WebhookSender::Outcome {
  bool delivered = false;
  bool interrupted = false;      // cut short by Stop(): not an attempt, the row stays 'inflight'
  bool transport_error = false;  // no HTTP response at all (refused, timeout, TLS)
  int status = 0;                // HTTP status, 0 without a response
  std::string error;
};

WebhookSender::WebhookSender(std::string database_path, std::vector<WebhookEndpoint> endpoints,
                             Metrics* metrics, std::function<std::int64_t()> now_ms,
                             WebhookSenderOptions options)
    : database_path_(std::move(database_path)),
      metrics_(metrics),
      now_ms_(now_ms ? std::move(now_ms) : std::function<std::int64_t()>(SystemNowMs)),
      options_(options) {
  endpoints_[kDefaultProject] = std::move(endpoints);
}

WebhookSender::~WebhookSender() { Stop(); }

void WebhookSender::SetEndpoints(const std::string& project,
                                 std::vector<WebhookEndpoint> endpoints) {
  std::lock_guard<std::mutex> lock(endpoints_mu_);
  endpoints_[project] = std::move(endpoints);
}

std::int64_t WebhookSender::SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void WebhookSender::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
    woken_ = false;
  }
  thread_ = std::thread([this] {
    try {
      Run();
    } catch (...) {
      // Run catches per pass; this only guards the waits, so the process never terminates here.
      std::fprintf(stderr,
                   "{\"level\":\"error\",\"msg\":\"webhooks\",\"error\":\"delivery thread stopped "
                   "by an exception\"}\n");
    }
  });
}

void WebhookSender::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // httplib's stop() shuts the socket down under a POST in progress, so the POST fails at once
    // instead of running out its read timeout. A POST still connecting is bounded by the
    // connection timeout.
    if (active_client_ != nullptr) active_client_->stop();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Closing the kept-alive connections here, not in the destructor, frees the receivers' worker
  // threads as soon as we stop. The thread is gone, so nothing else touches clients_.
  clients_.clear();
}

void WebhookSender::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

std::int64_t WebhookSender::PendingCount() {
  std::lock_guard<std::mutex> lock(count_mu_);
  try {
    if (count_db_ == nullptr) {
      auto db = std::make_unique<Database>();
      if (db->Open(database_path_, false)) return pending_.load();
      count_db_ = std::move(db);
    }
    Statement count =
        count_db_->Prepare("SELECT COUNT(*) FROM outbox WHERE status IN ('pending','inflight')");
    if (count.Step()) return count.Int(0);
  } catch (...) {
    // Fall through to the delivery thread's last count.
  }
  return pending_.load();
}

void WebhookSender::LogOnce(const std::string& message) {
  // The same database error would otherwise repeat every poll.
  if (message == last_logged_) return;
  last_logged_ = message;
  // One JSON object per line, like the collector's other logs; the message can hold SQLite or
  // URL text, so it is escaped.
  std::string escaped;
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      escaped += '\\';
      escaped += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      escaped += buf;
    } else {
      escaped += c;
    }
  }
  std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"webhooks\",\"error\":\"%s\"}\n",
               escaped.c_str());
}

void WebhookSender::Run() {
  try {
    rng_.seed(std::random_device()());
  } catch (...) {
    // No entropy source: jitter only spreads retries, a clock seed does that well enough.
    rng_.seed(static_cast<std::mt19937::result_type>(SystemNowMs()));
  }
  Database db;
  bool open = false;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    bool more = false;
    try {
      if (!open) {
        // A fresh handle per try: a failed Open can leave a half-open one behind.
        Database fresh;
        if (auto err = fresh.Open(database_path_, true)) {
          LogOnce(*err);
        } else {
          db = std::move(fresh);
          open = true;
        }
      }
      if (open) {
        more = RunPass(db);
        UpdatePendingGauge(db);
      }
    } catch (const std::exception& e) {
      LogOnce(std::string("delivery pass failed: ") + e.what());
    } catch (...) {
      LogOnce("delivery pass failed: unknown exception");
    }
    if (more) continue;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_ || woken_; });
    woken_ = false;
  }
}

void WebhookSender::UpdatePendingGauge(Database& db) {
  Statement count =
      db.Prepare("SELECT COUNT(*) FROM outbox WHERE status IN ('pending','inflight')");
  if (!count.Step()) return;  // busy or closed: keep the last value until the next pass
  pending_.store(count.Int(0));
  if (metrics_ != nullptr) {
    metrics_->Set("waymark_webhook_outbox_pending", {}, static_cast<double>(count.Int(0)));
  }
}

httplib::ClientImpl* WebhookSender::ClientFor(const WebhookEndpoint& endpoint, std::string* error) {
  for (auto& [url, client] : clients_) {
    if (url == endpoint.url) return client.get();
  }
  std::optional<WebhookUrl> url = ParseWebhookUrl(endpoint.url, error);
  if (!url) return nullptr;
  std::unique_ptr<httplib::ClientImpl> client;
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  if (url->scheme == "https") {
    auto ssl = std::make_unique<httplib::SSLClient>(url->host, url->port);
    ssl->enable_server_certificate_verification(true);
    client = std::move(ssl);
  }
#endif
  if (client == nullptr) client = std::make_unique<httplib::ClientImpl>(url->host, url->port);
  if (!client->is_valid()) {
    *error = "cannot create an HTTP client for " + endpoint.url;
    return nullptr;
  }
  // Nagle plus delayed ACKs costs tens of milliseconds per request on a kept-alive connection
  // (TOOLCHAIN.md).
  client->set_tcp_nodelay(true);
  client->set_connection_timeout(options_.connection_timeout);
  client->set_read_timeout(options_.read_write_timeout);
  client->set_write_timeout(options_.read_write_timeout);
  client->set_keep_alive(true);
  // A redirect is answered as a failed attempt: following it would send the signed payload to a
  // host the operator did not configure.
  client->set_follow_location(false);
  client->set_decompress(false);
  clients_.emplace_back(endpoint.url, std::move(client));
  return clients_.back().second.get();
}

WebhookSender::Outcome WebhookSender::Post(const WebhookEndpoint& endpoint,
                                           const std::string& delivery_id,
                                           const std::string& payload) {
  Outcome outcome;
  std::string error;
  httplib::ClientImpl* client = ClientFor(endpoint, &error);
  if (client == nullptr) {
    outcome.transport_error = true;
    outcome.error = error;
    return outcome;
  }
  std::int64_t timestamp = now_ms_() / 1000;
  std::string signature = SignPayload(endpoint.secret, timestamp, payload);
  if (signature.empty()) {
    outcome.error = "signing failed";
    return outcome;
  }
  WebhookUrl url = *ParseWebhookUrl(endpoint.url);
  httplib::Request request;
  request.method = "POST";
  request.path = url.path;
  request.headers = {
      {"Content-Type", "application/json"}, {"User-Agent", kWebhookUserAgent},
      {kWebhookIdHeader, delivery_id},      {kWebhookTimestampHeader, std::to_string(timestamp)},
      {kWebhookSignatureHeader, signature},
  };
  request.body = payload;
  // The status arrives before the body; kept so that a 2xx whose body we cut off still counts.
  int status_seen = 0;
  request.response_handler = [&status_seen](const httplib::Response& response) {
    status_seen = response.status;
    return true;
  };
  std::size_t received = 0;
  request.content_receiver = [&received](const char*, std::size_t size, std::uint64_t,
                                         std::uint64_t) {
    received += size;
    return received <= kMaxResponseBytes;
  };

  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      outcome.interrupted = true;
      return outcome;
    }
    active_client_ = client;
  }
  httplib::Result result(nullptr, httplib::Error::Unknown);
  try {
    result = client->send(request);
  } catch (const std::exception& e) {
    outcome.error = std::string("exception: ") + e.what();
  } catch (...) {
    outcome.error = "exception";
  }
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_client_ = nullptr;
    stopping = stopping_;
  }

  if (result) {
    outcome.status = result->status;
    outcome.delivered = result->status >= 200 && result->status <= 299;
    if (!outcome.delivered) outcome.error = "HTTP " + std::to_string(result->status);
  } else {
    if (received > kMaxResponseBytes) {
      outcome.status = status_seen;
      outcome.delivered = status_seen >= 200 && status_seen <= 299;
      if (!outcome.delivered) {
        outcome.error = "HTTP " + std::to_string(status_seen) + " with a response body over " +
                        std::to_string(kMaxResponseBytes) + " bytes";
      }
    } else {
      outcome.transport_error = true;
      if (outcome.error.empty()) outcome.error = httplib::to_string(result.error());
    }
  }
  // Stop() cut this POST short: the receiver may or may not have it, which is the crash case, so
  // the row is left 'inflight' for a restart to re-send rather than counted as a failed attempt.
  if (!outcome.delivered && stopping) outcome.interrupted = true;
  return outcome;
}

bool WebhookSender::RunPass(Database& db) {
  struct Row {
    std::int64_t id;
    std::string endpoint;
    std::string payload;
    std::int64_t attempts;
    std::string dedupe_key;
    std::string project;
  };
  std::vector<Row> rows;
  {
    // Rows left 'inflight' by a crash match too once their claim's lease has ended (below), so
    // they are re-sent after a restart. The outbox holds at most one delivery row per (transition,
    // endpoint); a crash between POST and commit can repeat a POST, with the same Waymark-Id,
    // which receivers use to drop repeats.
    Statement select = db.Prepare(
        "SELECT id, endpoint, payload, attempts, dedupe_key, project_id FROM outbox "
        "WHERE status IN ('pending','inflight') AND next_attempt_at <= ? ORDER BY id LIMIT ?");
    select.Bind(1, now_ms_()).Bind(2, kBatchSize);
    while (select.Step()) {
      rows.push_back({select.Int(0), select.Text(1), select.Text(2), select.Int(3), select.Text(4),
                      select.Text(5)});
    }
    if (select.failed()) {
      // Most likely SQLITE_BUSY from the ingest writer; the next poll tries again.
      LogOnce("reading the outbox: " + select.error());
      return false;
    }
  }

  // The claim: one statement moves a due row to 'inflight' with a lease (next_attempt_at in the
  // future), so of several collectors on one database exactly one gets it; the others find it not
  // due. On PostgreSQL a row another collector is claiming right now is skipped, not waited for
  // (FOR UPDATE SKIP LOCKED). A collector that dies mid-POST leaves the row to be claimed again
  // once its lease ends.
  const bool postgres = db.dialect() == Dialect::kPostgres;
  Statement mark_inflight = db.Prepare(
      std::string("UPDATE outbox SET status = 'inflight', next_attempt_at = ?1 WHERE id = "
                  "(SELECT id FROM outbox WHERE id = ?2 AND status IN ('pending','inflight') "
                  "AND next_attempt_at <= ?3") +
      (postgres ? " FOR UPDATE SKIP LOCKED)" : ")"));
  const std::int64_t lease_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    options_.connection_timeout + 2 * options_.read_write_timeout)
                                    .count() +
                                5000;
  // The outcome of a POST is written only while this sender still holds the claim (its lease
  // end is the token): a POST slower than the lease may have been claimed and delivered by
  // another collector meanwhile, and must not turn that 'delivered' back into 'pending'.
  Statement mark_delivered = db.Prepare(
      "UPDATE outbox SET status = 'delivered', delivered_at = ?, attempts = ?, last_status = ?, "
      "last_error = NULL WHERE id = ? AND status = 'inflight' AND next_attempt_at = ?");
  Statement mark_retry = db.Prepare(
      "UPDATE outbox SET status = 'pending', attempts = ?, next_attempt_at = ?, last_error = ?, "
      "last_status = ? WHERE id = ? AND status = 'inflight' AND next_attempt_at = ?");
  // Token 0: a row this sender never claimed (its endpoint is gone from the configuration).
  Statement mark_failed = db.Prepare(
      "UPDATE outbox SET status = 'failed', attempts = ?1, last_error = ?2, last_status = ?3 "
      "WHERE id = ?4 AND (CAST(?5 AS BIGINT) = 0 OR (status = 'inflight' AND "
      "next_attempt_at = ?5))");
  for (Statement* s : {&mark_inflight, &mark_delivered, &mark_retry, &mark_failed}) {
    if (!s->ok()) {
      LogOnce("preparing outbox updates: " + s->error());
      return false;
    }
  }

  auto count = [this](const std::string& endpoint, const char* result) {
    if (metrics_ == nullptr) return;
    metrics_->Add("waymark_webhook_deliveries_total", {{"endpoint", endpoint}, {"result", result}});
    if (std::string(result) == "failed") {
      metrics_->Add("waymark_webhook_failures_total", {{"endpoint", endpoint}});
    }
  };
  auto finish_failed = [&](const Row& row, std::int64_t attempts, const std::string& error,
                           int status, std::int64_t token) {
    mark_failed.Bind(1, attempts).Bind(2, error);
    if (status > 0) {
      mark_failed.Bind(3, status);
    } else {
      mark_failed.BindNull(3);
    }
    mark_failed.Bind(4, row.id).Bind(5, token);
    if (!mark_failed.Run()) {
      LogOnce("recording a failed delivery: " + mark_failed.error());
      return false;
    }
    count(row.endpoint, "failed");
    return true;
  };

  std::uniform_real_distribution<double> jitter(-1.0, 1.0);
  std::map<std::string, std::vector<WebhookEndpoint>> endpoints;  // by project, for this pass
  {
    std::lock_guard<std::mutex> lock(endpoints_mu_);
    endpoints = endpoints_;
  }
  // Endpoints that gave no HTTP response in this pass: their other rows wait for the next pass,
  // so one dead or black-holed receiver costs one connection timeout per pass, not one per row.
  std::set<std::string> unreachable;
  bool skipped = false;
  bool interrupted = false;

  for (const Row& row : rows) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        interrupted = true;
        break;
      }
    }
    const WebhookEndpoint* endpoint = nullptr;
    for (const WebhookEndpoint& e : endpoints[row.project]) {
      if (e.id == row.endpoint) endpoint = &e;
    }
    if (endpoint == nullptr) {
      // Several collectors on one database may be configured apart for a while (a rolling
      // deploy): a row for an endpoint this one does not know is left to one that does.
      if (db.dialect() == Dialect::kPostgres) {
        skipped = true;
        continue;
      }
      // Kept, not deleted: the row is the record of a delivery that never happened.
      if (!finish_failed(row, row.attempts, "endpoint removed", 0, 0)) return false;
      continue;
    }
    if (unreachable.count(endpoint->url) > 0) {
      skipped = true;
      continue;
    }

    // Committed before the POST so that a crash mid-POST leaves evidence in the table.
    const std::int64_t claimed_at = now_ms_();
    const std::int64_t token = claimed_at + lease_ms;
    mark_inflight.Bind(1, token).Bind(2, row.id).Bind(3, claimed_at);
    if (!mark_inflight.Run()) {
      LogOnce("marking a delivery in flight: " + mark_inflight.error());
      return false;
    }
    if (db.Changes() == 0)
      continue;  // delivered, or claimed by another collector, since the SELECT

    // Two projects can reach the same moment key (their own event ids): the id names the project.
    const std::string delivery_key =
        row.project == kDefaultProject ? row.dedupe_key : row.project + "|" + row.dedupe_key;
    Outcome outcome = Post(*endpoint, WebhookDeliveryId(delivery_key), row.payload);
    if (outcome.interrupted) {
      interrupted = true;
      break;
    }
    std::int64_t attempts = row.attempts + 1;
    if (outcome.delivered) {
      mark_delivered.Bind(1, now_ms_()).Bind(2, attempts).Bind(3, outcome.status).Bind(4, row.id);
      mark_delivered.Bind(5, token);
      if (!mark_delivered.Run()) {
        // The row stays 'inflight' and is POSTed again next pass with the same Waymark-Id.
        LogOnce("recording a delivery: " + mark_delivered.error());
        return false;
      }
      count(row.endpoint, "delivered");
      continue;
    }
    if (outcome.transport_error) unreachable.insert(endpoint->url);
    if (attempts >= options_.max_attempts) {
      if (!finish_failed(row, attempts, outcome.error, outcome.status, token)) return false;
      continue;
    }
    std::int64_t delay = WebhookRetryDelayMs(static_cast<int>(attempts), options_.base_backoff,
                                             options_.max_backoff, jitter(rng_));
    mark_retry.Bind(1, attempts).Bind(2, now_ms_() + delay).Bind(3, outcome.error);
    if (outcome.status > 0) {
      mark_retry.Bind(4, outcome.status);
    } else {
      mark_retry.BindNull(4);
    }
    mark_retry.Bind(5, row.id).Bind(6, token);
    if (!mark_retry.Run()) {
      LogOnce("recording a retry: " + mark_retry.error());
      return false;
    }
    count(row.endpoint, "retry");
  }
  return !interrupted && !skipped && static_cast<int>(rows.size()) == kBatchSize;
}

}  // namespace waymark::collector
