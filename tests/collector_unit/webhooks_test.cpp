#include "pipeline/webhooks.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/database.h"
#include "storage/schema.h"

namespace waymark::collector {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Computed outside this code: printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
constexpr const char* kKnownSignature =
    "v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686";
// printf '%s' 'order-1:crm' | sha256sum, first 32 hex chars.
constexpr const char* kKnownDeliveryId = "ae9c5eb206604e418b564f7ce88a2004";

constexpr const char* kSecret = "whsec_test";

// ---------------------------------------------------------------------------------------------
// Signing

TEST(WebhookSignatureTest, MatchesAnIndependentlyComputedHmac) {
  EXPECT_EQ(SignPayload("secret", 1700000000, "{\"a\":1}"), kKnownSignature);
}

TEST(WebhookSignatureTest, DeliveryIdIsTheTruncatedSha256OfTheDedupeKey) {
  EXPECT_EQ(WebhookDeliveryId("order-1:crm"), kKnownDeliveryId);
}

TEST(WebhookSignatureTest, AcceptsTheRightSignatureWithinTolerance) {
  const std::string body = "{\"a\":1}";
  EXPECT_TRUE(VerifySignature("secret", kKnownSignature, 1700000000, body, 1700000000));
  EXPECT_TRUE(VerifySignature("secret", kKnownSignature, 1700000000, body, 1700000300));
  EXPECT_TRUE(VerifySignature("secret", kKnownSignature, 1700000000, body, 1699999700));
}

TEST(WebhookSignatureTest, RefusesWrongSecretAlteredBodyAndStaleTimestamps) {
  const std::string body = "{\"a\":1}";
  EXPECT_FALSE(VerifySignature("Secret", kKnownSignature, 1700000000, body, 1700000000));
  EXPECT_FALSE(VerifySignature("secret", kKnownSignature, 1700000000, "{\"a\":2}", 1700000000));
  EXPECT_FALSE(VerifySignature("secret", kKnownSignature, 1700000001, body, 1700000001));
  EXPECT_FALSE(VerifySignature("secret", kKnownSignature, 1700000000, body, 1700000301));
  EXPECT_FALSE(VerifySignature("secret", kKnownSignature, 1700000000, body, 1699999699));
  EXPECT_FALSE(VerifySignature("secret", kKnownSignature, 1700000000, body, 1700000010, 5));
}

TEST(WebhookSignatureTest, RefusesMalformedHeaders) {
  const std::string body = "{\"a\":1}";
  const std::string good = kKnownSignature;
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& header :
       {std::string(), std::string("v1="), good.substr(3), "v0=" + good.substr(3), good + "0",
        good.substr(0, good.size() - 1), " " + good, upper, good + "," + good}) {
    EXPECT_FALSE(VerifySignature("secret", header, 1700000000, body, 1700000000)) << header;
  }
}

TEST(WebhookSignatureTest, EmptyBodyAndEmptySecretStillSign) {
  // printf '%s' '1700000000.' | openssl dgst -sha256 -hmac secret
  EXPECT_EQ(SignPayload("secret", 1700000000, ""),
            "v1=4bc5f74d868b97888288889c5d9d65df02526f94c1592a79fdf4fe8b26e311e5");
  std::string empty_secret = SignPayload("", 1, "x");
  EXPECT_EQ(empty_secret.size(), 67u);
}

// ---------------------------------------------------------------------------------------------
// URLs and backoff

TEST(WebhookUrlTest, ParsesHostPortAndPath) {
  auto url = ParseWebhookUrl("http://127.0.0.1:9000/hooks/waymark?x=1#frag");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->path, "/hooks/waymark?x=1");

  url = ParseWebhookUrl("HTTPS://example.com");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->path, "/");

  url = ParseWebhookUrl("http://[::1]:8080?q");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->path, "/?q");

  url = ParseWebhookUrl("http://example.com/a");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->port, 80);
}

TEST(WebhookUrlTest, RefusesBadUrls) {
  for (const char* bad :
       {"", "example.com/x", "ftp://example.com/", "http://", "http://:80/", "http://host:/",
        "http://host:0/", "http://host:65536/", "http://host:8a/", "http://user:pw@host/",
        "http://host/a b", "http://host/a\r\nX: y", "http://[::1/"}) {
    std::string error;
    EXPECT_FALSE(ParseWebhookUrl(bad, &error).has_value()) << bad;
    EXPECT_NE(error.find("invalid webhook URL"), std::string::npos) << bad;
  }
}

TEST(WebhookBackoffTest, DoublesFromTheBaseUpToTheCapWithTwentyPercentJitter) {
  const milliseconds base(1000);
  const milliseconds cap(10 * 60 * 1000);
  EXPECT_EQ(WebhookRetryDelayMs(1, base, cap, 0), 1000);
  EXPECT_EQ(WebhookRetryDelayMs(2, base, cap, 0), 2000);
  EXPECT_EQ(WebhookRetryDelayMs(10, base, cap, 0), 512000);
  EXPECT_EQ(WebhookRetryDelayMs(11, base, cap, 0), 600000);
  EXPECT_EQ(WebhookRetryDelayMs(1000, base, cap, 0), 600000);
  EXPECT_EQ(WebhookRetryDelayMs(1, base, cap, -1), 800);
  EXPECT_EQ(WebhookRetryDelayMs(1, base, cap, 1), 1200);
  EXPECT_EQ(WebhookRetryDelayMs(11, base, cap, 1), 720000);
  EXPECT_EQ(WebhookRetryDelayMs(1, base, cap, 5), 1200);  // jitter is clamped
}

// ---------------------------------------------------------------------------------------------
// The sender, end to end on loopback

class TempDatabase {
 public:
  TempDatabase() {
    char dir[] = "/tmp/waymark_webhooks_XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/collector.db";
    EXPECT_FALSE(db_.Open(path_, false).has_value());
    EXPECT_FALSE(MigrateSchema(db_).has_value());
  }
  ~TempDatabase() {
    db_ = Database();
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::remove((path_ + suffix).c_str());
    }
    rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  Database& db() { return db_; }

  void Insert(const std::string& dedupe_key, const std::string& endpoint,
              const std::string& payload, std::int64_t next_attempt_at = 0,
              const std::string& status = "pending", std::int64_t attempts = 0) {
    Statement s = db_.Prepare(
        "INSERT INTO outbox (dedupe_key, endpoint, trigger_id, profile_id, payload, created_at, "
        "status, attempts, next_attempt_at) VALUES (?, ?, 'trigger', 'u:1', ?, 0, ?, ?, ?)");
    s.Bind(1, dedupe_key).Bind(2, endpoint).Bind(3, payload).Bind(4, status).Bind(5, attempts);
    s.Bind(6, next_attempt_at);
    ASSERT_TRUE(s.Run()) << s.error();
  }

  struct Row {
    std::string status;
    std::int64_t attempts = 0;
    std::string last_error;
    std::int64_t last_status = 0;  // 0 when NULL
    std::int64_t delivered_at = 0;
    std::int64_t next_attempt_at = 0;
  };
  Row Get(const std::string& dedupe_key) {
    Statement s = db_.Prepare(
        "SELECT status, attempts, last_error, last_status, delivered_at, next_attempt_at "
        "FROM outbox WHERE dedupe_key = ?");
    s.Bind(1, dedupe_key);
    Row row;
    if (s.Step()) {
      row = {s.Text(0), s.Int(1), s.Text(2), s.Int(3), s.Int(4), s.Int(5)};
    }
    return row;
  }

 private:
  std::string dir_;
  std::string path_;
  Database db_;
};

struct Received {
  std::string path;
  std::string body;
  std::string id;
  std::string timestamp;
  std::string signature;
  std::string user_agent;
  std::string content_type;
  bool signature_ok = false;
};

// A webhook receiver on 127.0.0.1 that checks signatures like a real one would and answers with
// the status `respond` picks for the n-th request (0-based).
class Receiver {
 public:
  explicit Receiver(
      std::function<int(int)> respond = [](int) { return 200; }, int port = 0,
      std::function<std::int64_t()> now_seconds = nullptr)
      : respond_(std::move(respond)), now_seconds_(std::move(now_seconds)) {
    server_.set_tcp_nodelay(true);
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      Received r;
      r.path = req.path;
      r.body = req.body;
      r.id = req.get_header_value("Waymark-Id");
      r.timestamp = req.get_header_value("Waymark-Timestamp");
      r.signature = req.get_header_value("Waymark-Signature");
      r.user_agent = req.get_header_value("User-Agent");
      r.content_type = req.get_header_value("Content-Type");
      std::int64_t now = now_seconds_ ? now_seconds_() : std::time(nullptr);
      r.signature_ok = !r.timestamp.empty() &&
                       VerifySignature(kSecret, r.signature, std::stoll(r.timestamp), r.body, now);
      int n;
      {
        std::lock_guard<std::mutex> lock(mu_);
        n = static_cast<int>(received_.size());
        received_.push_back(r);
      }
      cv_.notify_all();
      if (on_request_) on_request_(n, res);
      res.status = respond_(n);
      if (res.body.empty()) res.set_content("ok", "text/plain");
    });
    if (port == 0) {
      port_ = server_.bind_to_any_port("127.0.0.1");
    } else {
      port_ = server_.bind_to_port("127.0.0.1", port) ? port : -1;
    }
    EXPECT_GT(port_, 0);
    // bind_to_*port already listens, so requests queue until the accept loop runs.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }

  // Runs inside the handler before the status is chosen (for slow or large responses).
  void OnRequest(std::function<void(int, httplib::Response&)> f) { on_request_ = std::move(f); }

  int port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Received> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  bool WaitForCount(std::size_t n, milliseconds timeout = milliseconds(5000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return received_.size() >= n; });
  }

 private:
  httplib::Server server_;
  std::function<int(int)> respond_;
  std::function<std::int64_t()> now_seconds_;
  std::function<void(int, httplib::Response&)> on_request_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> received_;
};

WebhookEndpoint Endpoint(const std::string& id, const std::string& url) {
  WebhookEndpoint e;
  e.id = id;
  e.url = url;
  e.secret = kSecret;
  return e;
}

WebhookSenderOptions FastOptions() {
  WebhookSenderOptions o;
  o.poll_interval = milliseconds(20);
  o.base_backoff = milliseconds(20);
  return o;
}

bool WaitUntil(const std::function<bool()>& done, milliseconds timeout = milliseconds(5000)) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// A port nothing listens on: bound by the kernel's choice, then released.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(WebhookSenderTest, DeliversSignedPostsAndMarksRowsDelivered) {
  TempDatabase tmp;
  Receiver receiver;
  Metrics metrics;
  tmp.Insert("order-1:crm", "crm", "{\"stage\":\"customer\"}");
  tmp.Insert("order-2:crm", "crm", "{\"stage\":\"lead\"}");
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url("/in?src=waymark"))}, &metrics,
                       WebhookSender::SystemNowMs, FastOptions());
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("order-2:crm").status == "delivered"; }));
  sender.Stop();

  std::vector<Received> got = receiver.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].path, "/in");
  EXPECT_EQ(got[0].body, "{\"stage\":\"customer\"}");
  EXPECT_EQ(got[0].id, kKnownDeliveryId);
  EXPECT_EQ(got[0].user_agent, "waymark-collector");
  EXPECT_EQ(got[0].content_type, "application/json");
  EXPECT_TRUE(got[0].signature_ok);
  EXPECT_TRUE(got[1].signature_ok);
  EXPECT_EQ(got[1].id, WebhookDeliveryId("order-2:crm"));
  std::int64_t ts = std::stoll(got[0].timestamp);
  EXPECT_LE(std::abs(ts - static_cast<std::int64_t>(std::time(nullptr))), 5);

  TempDatabase::Row row = tmp.Get("order-1:crm");
  EXPECT_EQ(row.status, "delivered");
  EXPECT_EQ(row.attempts, 1);
  EXPECT_EQ(row.last_status, 200);
  EXPECT_GT(row.delivered_at, 0);
  EXPECT_EQ(sender.PendingCount(), 0);
  std::string out = metrics.Render();
  EXPECT_TRUE(
      HasLine(out, "waymark_webhook_deliveries_total{endpoint=\"crm\",result=\"delivered\"} 2"))
      << out;
  EXPECT_TRUE(HasLine(out, "waymark_webhook_outbox_pending 0")) << out;
}

TEST(WebhookSenderTest, RetriesAfterServerErrorsWithTheSameId) {
  TempDatabase tmp;
  Receiver receiver([](int n) { return n < 2 ? 500 : 200; });
  Metrics metrics;
  tmp.Insert("k1", "crm", "{}");
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, &metrics,
                       WebhookSender::SystemNowMs, FastOptions());
  auto start = Clock::now();
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").status == "delivered"; }));
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  sender.Stop();

  std::vector<Received> got = receiver.received();
  ASSERT_EQ(got.size(), 3u);
  for (const Received& r : got) {
    EXPECT_EQ(r.id, WebhookDeliveryId("k1"));
    EXPECT_TRUE(r.signature_ok);
  }
  TempDatabase::Row row = tmp.Get("k1");
  EXPECT_EQ(row.attempts, 3);
  EXPECT_EQ(row.last_status, 200);
  EXPECT_EQ(row.last_error, "");
  std::string out = metrics.Render();
  EXPECT_TRUE(
      HasLine(out, "waymark_webhook_deliveries_total{endpoint=\"crm\",result=\"retry\"} 2"));
  EXPECT_TRUE(
      HasLine(out, "waymark_webhook_deliveries_total{endpoint=\"crm\",result=\"delivered\"} 1"));
}

TEST(WebhookSenderTest, EndpointDownThenUpIsDeliveredExactlyOnce) {
  TempDatabase tmp;
  int port = ClosedPort();
  tmp.Insert("k1", "crm", "{\"n\":1}");
  WebhookSender sender(tmp.path(),
                       {Endpoint("crm", "http://127.0.0.1:" + std::to_string(port) + "/hook")},
                       nullptr, WebhookSender::SystemNowMs, FastOptions());
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").attempts >= 2; }));
  TempDatabase::Row down = tmp.Get("k1");
  EXPECT_EQ(down.status, "pending");
  EXPECT_EQ(down.last_status, 0);  // no HTTP response: NULL
  EXPECT_FALSE(down.last_error.empty());

  Receiver receiver([](int) { return 204; }, port);
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").status == "delivered"; }));
  std::this_thread::sleep_for(milliseconds(200));  // several polls: nothing more may arrive
  sender.Stop();
  std::vector<Received> got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].signature_ok);
  EXPECT_EQ(tmp.Get("k1").last_status, 204);
}

TEST(WebhookSenderTest, GivesUpAfterMaxAttempts) {
  TempDatabase tmp;
  Receiver receiver([](int) { return 503; });
  Metrics metrics;
  tmp.Insert("k1", "crm", "{}");
  WebhookSenderOptions options = FastOptions();
  options.max_attempts = 3;
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, &metrics,
                       WebhookSender::SystemNowMs, options);
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").status == "failed"; }));
  std::this_thread::sleep_for(milliseconds(100));
  sender.Stop();
  EXPECT_EQ(receiver.received().size(), 3u);
  TempDatabase::Row row = tmp.Get("k1");
  EXPECT_EQ(row.attempts, 3);
  EXPECT_EQ(row.last_status, 503);
  EXPECT_EQ(row.last_error, "HTTP 503");
  std::string out = metrics.Render();
  EXPECT_TRUE(
      HasLine(out, "waymark_webhook_deliveries_total{endpoint=\"crm\",result=\"retry\"} 2"));
  EXPECT_TRUE(
      HasLine(out, "waymark_webhook_deliveries_total{endpoint=\"crm\",result=\"failed\"} 1"));
  EXPECT_TRUE(HasLine(out, "waymark_webhook_failures_total{endpoint=\"crm\"} 1"));
}

TEST(WebhookSenderTest, RowForARemovedEndpointFails) {
  TempDatabase tmp;
  Receiver receiver;
  Metrics metrics;
  tmp.Insert("k-old", "old-crm", "{}");
  tmp.Insert("k-new", "crm", "{}");
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, &metrics,
                       WebhookSender::SystemNowMs, FastOptions());
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k-old").status == "failed"; }));
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k-new").status == "delivered"; }));
  sender.Stop();
  EXPECT_EQ(tmp.Get("k-old").last_error, "endpoint removed");
  EXPECT_EQ(receiver.received().size(), 1u);
  EXPECT_TRUE(HasLine(metrics.Render(), "waymark_webhook_failures_total{endpoint=\"old-crm\"} 1"));
}

TEST(WebhookSenderTest, InvalidUrlIsARecordedFailureNotACrash) {
  TempDatabase tmp;
  tmp.Insert("k1", "bad", "{}");
  WebhookSenderOptions options = FastOptions();
  options.max_attempts = 2;
  WebhookSender sender(tmp.path(), {Endpoint("bad", "gopher://example.com/")}, nullptr,
                       WebhookSender::SystemNowMs, options);
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").status == "failed"; }));
  sender.Stop();
  EXPECT_NE(tmp.Get("k1").last_error.find("invalid webhook URL"), std::string::npos);
}

TEST(WebhookSenderTest, RowLeftInflightByACrashIsResentWithTheSameId) {
  TempDatabase tmp;
  Receiver receiver;
  tmp.Insert("order-1:crm", "crm", "{}", /*next_attempt_at=*/5, "inflight", /*attempts=*/1);
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, nullptr,
                       WebhookSender::SystemNowMs, FastOptions());
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("order-1:crm").status == "delivered"; }));
  sender.Stop();
  ASSERT_EQ(receiver.received().size(), 1u);
  EXPECT_EQ(receiver.received()[0].id, kKnownDeliveryId);
  EXPECT_EQ(tmp.Get("order-1:crm").attempts, 2);
}

TEST(WebhookSenderTest, InjectedClockDrivesTimestampsAndRetryTimes) {
  TempDatabase tmp;
  std::atomic<std::int64_t> now_ms{1700000000000};
  Receiver receiver([](int n) { return n == 0 ? 500 : 200; }, 0,
                    [&] { return now_ms.load() / 1000; });
  tmp.Insert("k1", "crm", "{}", 1700000000000);
  WebhookSenderOptions options;
  options.poll_interval = milliseconds(20);  // default 1 s base backoff, in fake time
  WebhookSender sender(
      tmp.path(), {Endpoint("crm", receiver.url())}, nullptr, [&] { return now_ms.load(); },
      options);
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").attempts == 1; }));
  TempDatabase::Row row = tmp.Get("k1");
  EXPECT_EQ(row.status, "pending");
  EXPECT_GE(row.next_attempt_at, 1700000000000 + 800);
  EXPECT_LE(row.next_attempt_at, 1700000000000 + 1200);
  std::this_thread::sleep_for(milliseconds(100));  // the fake clock has not moved: no retry yet
  EXPECT_EQ(receiver.received().size(), 1u);

  now_ms += 1300;
  sender.Wake();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").status == "delivered"; }));
  sender.Stop();
  std::vector<Received> got = receiver.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].timestamp, "1700000000");
  EXPECT_EQ(got[1].timestamp, "1700000001");
  EXPECT_TRUE(got[1].signature_ok);
  EXPECT_EQ(tmp.Get("k1").delivered_at, 1700000001300);
}

TEST(WebhookSenderTest, WakeDeliversWithoutWaitingForThePoll) {
  TempDatabase tmp;
  Receiver receiver;
  WebhookSenderOptions options;
  options.poll_interval = milliseconds(30000);
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, nullptr,
                       WebhookSender::SystemNowMs, options);
  sender.Start();
  std::this_thread::sleep_for(milliseconds(100));  // the first pass has found nothing
  tmp.Insert("k1", "crm", "{}");
  sender.Wake();
  ASSERT_TRUE(receiver.WaitForCount(1, milliseconds(2000)));
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").status == "delivered"; }, milliseconds(2000)));
  auto start = Clock::now();
  sender.Stop();  // waiting on a 30 s poll must not delay Stop
  EXPECT_LT(Clock::now() - start, milliseconds(500));
}

TEST(WebhookSenderTest, StopInterruptsASlowReceiverAndLeavesTheRowInflight) {
  TempDatabase tmp;
  Receiver receiver;
  std::mutex release_mu;
  std::condition_variable release_cv;
  bool released = false;
  receiver.OnRequest([&](int, httplib::Response&) {
    std::unique_lock<std::mutex> lock(release_mu);
    release_cv.wait_for(lock, milliseconds(10000), [&] { return released; });
  });
  tmp.Insert("k1", "crm", "{}");
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, nullptr,
                       WebhookSender::SystemNowMs, FastOptions());
  sender.Start();
  ASSERT_TRUE(receiver.WaitForCount(1));
  auto start = Clock::now();
  sender.Stop();
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  sender.Stop();  // twice is fine
  {
    std::lock_guard<std::mutex> lock(release_mu);
    released = true;
  }
  release_cv.notify_all();
  TempDatabase::Row row = tmp.Get("k1");
  EXPECT_EQ(row.status, "inflight");
  EXPECT_EQ(row.attempts, 0);  // an interrupted POST is not a failed attempt
}

TEST(WebhookSenderTest, StopWithoutStartAndRestartWork) {
  TempDatabase tmp;
  Receiver receiver;
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, nullptr,
                       WebhookSender::SystemNowMs, FastOptions());
  sender.Stop();
  sender.Start();
  sender.Stop();
  tmp.Insert("k1", "crm", "{}");
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").status == "delivered"; }));
}

TEST(WebhookSenderTest, TwoHundredWithAHugeBodyStillCountsAsDelivered) {
  TempDatabase tmp;
  Receiver receiver;
  receiver.OnRequest([](int, httplib::Response& res) {
    res.set_content(std::string(1 << 20, 'x'), "text/plain");
  });
  tmp.Insert("k1", "crm", "{}");
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, nullptr,
                       WebhookSender::SystemNowMs, FastOptions());
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return tmp.Get("k1").status == "delivered"; }));
  sender.Stop();
  EXPECT_EQ(receiver.received().size(), 1u);
}

TEST(WebhookSenderTest, PendingCountReadsTheOutbox) {
  TempDatabase tmp;
  tmp.Insert("later-1", "crm", "{}", /*next_attempt_at=*/std::int64_t{1} << 50);
  tmp.Insert("later-2", "crm", "{}", std::int64_t{1} << 50, "inflight");
  tmp.Insert("done", "crm", "{}", 0, "delivered");
  Metrics metrics;
  WebhookSender sender(tmp.path(), {Endpoint("crm", "http://127.0.0.1:9/")}, &metrics,
                       WebhookSender::SystemNowMs, FastOptions());
  EXPECT_EQ(sender.PendingCount(), 2);
  sender.Start();
  ASSERT_TRUE(
      WaitUntil([&] { return HasLine(metrics.Render(), "waymark_webhook_outbox_pending 2"); }));
  sender.Stop();
}

TEST(WebhookSenderTest, ManyRowsAcrossBatchesAllDeliverOnce) {
  TempDatabase tmp;
  Receiver receiver;
  ASSERT_FALSE(tmp.db().Exec("BEGIN").has_value());
  for (int i = 0; i < 120; ++i) tmp.Insert("k" + std::to_string(i), "crm", "{}");
  ASSERT_FALSE(tmp.db().Exec("COMMIT").has_value());
  WebhookSender sender(tmp.path(), {Endpoint("crm", receiver.url())}, nullptr,
                       WebhookSender::SystemNowMs, FastOptions());
  sender.Start();
  ASSERT_TRUE(WaitUntil([&] { return sender.PendingCount() == 0; }, milliseconds(10000)));
  sender.Stop();
  std::vector<Received> got = receiver.received();
  ASSERT_EQ(got.size(), 120u);
  std::set<std::string> ids;
  for (const Received& r : got) ids.insert(r.id);
  EXPECT_EQ(ids.size(), 120u);
}

}  // namespace
}  // namespace waymark::collector
