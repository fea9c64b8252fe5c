// The HTTP layer's pure parts, without sockets: request targets, the route table, body decoding
// with its caps, the rate limiter's two levels, origins without an Origin header, and the
// checked time correction.
#include <gtest/gtest.h>
#include <zlib.h>

#include <climits>
#include <cstdint>
#include <string>

#include "config.h"
#include "http/body_decoder.h"
#include "http/http_message.h"
#include "http/request_guard.h"
#include "http/router.h"
#include "pipeline/ingest.h"

namespace waymark::collector {
namespace {

std::string Gzip(const std::string& text) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, text.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(HttpMessage, ParsesTargetsIntoDecodedPathAndParameters) {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;
  ParseTarget("/v1/profiles/a%20b?key=k%2By&x=1+2&flag&=v&key=second", &path, &params);
  EXPECT_EQ(path, "/v1/profiles/a b");
  HttpRequest req;
  req.params = params;
  EXPECT_EQ(req.Param("key"), "k+y");  // the first of two
  EXPECT_EQ(req.Param("x"), "1 2");
  EXPECT_TRUE(req.HasParam("flag"));
  EXPECT_EQ(req.Param("flag"), "");
  EXPECT_FALSE(req.HasParam("missing"));
  ParseTarget("/%2e%2e/%zz%4", &path, &params);
  EXPECT_EQ(path, "/../%zz%4");  // decoded dots (static files refuse them); bad escapes kept
}

TEST(HttpMessage, HeadersAreCaseInsensitive) {
  HttpRequest req;
  req.headers = {{"content-encoding", "gzip"}, {"X-Waymark-Key", "k"}};
  EXPECT_EQ(req.Header("Content-Encoding"), "gzip");
  EXPECT_EQ(req.Header("x-waymark-key"), "k");
  EXPECT_EQ(req.Header("Origin"), "");
  HttpResponse res;
  res.SetHeader("Retry-After", "1");
  res.SetHeader("retry-after", "5");
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.Header("RETRY-AFTER"), "5");
}

TEST(Router, ExactAndPatternRoutesWithCapturesAndHeadFallsBackToGet) {
  Router router;
  std::string seen;
  router.Add("GET", "/healthz", [&](HttpRequest&, HttpResponse&) { seen = "health"; });
  router.Add("GET", R"(/v1/profiles/([^/]{1,300}))",
             [&](HttpRequest& req, HttpResponse&) { seen = "profile " + req.matches[1]; });
  HttpRequest req;
  HttpResponse res;
  req.method = "GET";
  req.path = "/v1/profiles/abc";
  ASSERT_TRUE(router.Route(req, res));
  EXPECT_EQ(seen, "profile abc");
  req.method = "HEAD";
  req.path = "/healthz";
  ASSERT_TRUE(router.Route(req, res));
  EXPECT_EQ(seen, "health");
  req.method = "POST";
  EXPECT_FALSE(router.Route(req, res));
  req.method = "GET";
  req.path = "/v1/profiles/a/b";
  EXPECT_FALSE(router.Route(req, res));
}

TEST(BodyDecoder, DecodesGzipAndStopsAtTheCap) {
  const std::string text(10000, 'a');
  std::string out;
  EXPECT_EQ(DecodeBody("gzip", Gzip(text), 20000, &out).status, 0);
  EXPECT_EQ(out, text);
  const RequestProblem bomb = DecodeBody("gzip", Gzip(std::string(5 << 20, '\0')), 65536, &out);
  EXPECT_EQ(bomb.status, 413);
  EXPECT_EQ(bomb.code, "payload_too_large");
  EXPECT_LE(out.size(), 65536u + 16384u);  // stopped at the cap, not after inflating 5 MB
}

TEST(BodyDecoder, TruncatedCorruptOrTrailingDataIsUnreadable) {
  const std::string gz = Gzip(std::string(5000, 'x'));
  std::string out;
  EXPECT_EQ(DecodeBody("gzip", gz.substr(0, gz.size() - 10), 1 << 20, &out).code,
            "unreadable_body");
  EXPECT_EQ(DecodeBody("gzip", "plain text, not gzip", 1 << 20, &out).code, "unreadable_body");
  EXPECT_EQ(DecodeBody("gzip", gz + "garbage", 1 << 20, &out).code, "unreadable_body");
  EXPECT_EQ(DecodeBody("br", "\xff\xff\xff", 1 << 20, &out).code, "unreadable_body");
  EXPECT_EQ(DecodeBody("", "", 1 << 20, &out).status, 0);
}

TEST(BodyDecoder, UnknownEncodingsAre415AndIdentityPassesThrough) {
  std::string out;
  EXPECT_EQ(DecodeBody("zstd", "x", 100, &out).status, 415);
  EXPECT_TRUE(IsIdentityEncoding(""));
  EXPECT_TRUE(IsIdentityEncoding(" Identity "));
  EXPECT_FALSE(IsIdentityEncoding("gzip"));
  EXPECT_EQ(DecodeBody("identity", "abc", 100, &out).status, 0);
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(DecodeBody("identity", "abcd", 3, &out).status, 413);
}

TEST(RateLimiter, OneNoisyClientIsHeldBackWhileOthersOfTheSiteAreServed) {
  SiteKey key;
  key.key = "site";
  key.rate_per_second = 1000;
  key.burst = 2000;
  RateLimiter limiter(/*client_rate_per_second=*/1, /*client_burst=*/3);
  int retry = 0;
  const std::int64_t t = 1700000000000;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(limiter.Allow(key, "a:noisy", t, &retry), RateLimit::kAllowed);
  EXPECT_EQ(limiter.Allow(key, "a:noisy", t, &retry), RateLimit::kClient);
  EXPECT_GE(retry, 1);
  EXPECT_EQ(limiter.Allow(key, "a:other", t, &retry), RateLimit::kAllowed);
  EXPECT_EQ(limiter.Allow(key, "a:noisy", t + 1000, &retry), RateLimit::kAllowed);  // refilled
}

TEST(RateLimiter, TheSiteCeilingHoldsAcrossClientsAndIdleClientsAreForgotten) {
  SiteKey key;
  key.key = "site";
  key.rate_per_second = 1;
  key.burst = 5;
  RateLimiter limiter(100, 100);
  int retry = 0;
  const std::int64_t t = 1700000000000;
  int allowed = 0;
  for (int i = 0; i < 20; ++i) {
    allowed += limiter.Allow(key, "a:" + std::to_string(i), t, &retry) == RateLimit::kAllowed;
  }
  EXPECT_EQ(allowed, 5);
  EXPECT_EQ(limiter.Allow(key, "a:new", t, &retry), RateLimit::kSite);
  EXPECT_GE(limiter.tracked_clients(), 20u);
  // Long after, the full buckets are dropped on the next sweep.
  limiter.Allow(key, "a:later", t + 60000, &retry);
  EXPECT_EQ(limiter.tracked_clients(), 1u);
}

TEST(RequestGuard, AnOriginRestrictedKeyNeedsAnOriginUnlessServerSide) {
  SiteKey key;
  key.key = "k";
  key.origins = {"https://shop.example"};
  EXPECT_TRUE(OriginAllowed(key, "https://shop.example"));
  EXPECT_FALSE(OriginAllowed(key, "https://evil.example"));
  EXPECT_FALSE(OriginAllowed(key, ""));
  key.server_side = true;
  EXPECT_TRUE(OriginAllowed(key, ""));
  EXPECT_FALSE(OriginAllowed(key, "https://evil.example"));
  SiteKey open;
  open.key = "o";
  EXPECT_TRUE(OriginAllowed(open, ""));
  EXPECT_TRUE(OriginAllowed(open, "https://any.example"));
}

TEST(CorrectTime, SkewIsCorrectedWithCheckedArithmetic) {
  const TimeMs now = 1760000000000;
  const TimeMs skew = 5 * 60 * 1000;
  // The device clock is an hour ahead: corrected to the server's clock.
  CorrectedTime c = CorrectTime(now + 3600000 - 10000, now + 3600000, now, skew);
  ASSERT_TRUE(c.valid);
  EXPECT_EQ(c.time, now - 10000);
  EXPECT_EQ(c.sent_at, now + 3600000);
  // A garbage sent time (two years off) is ignored: the device time is used.
  c = CorrectTime(now - 5000, now - 2 * kSentAtTolerance, now, skew);
  ASSERT_TRUE(c.valid);
  EXPECT_EQ(c.time, now - 5000);
  EXPECT_EQ(c.sent_at, 0);
  // Far future without a sent time: clamped to now.
  c = CorrectTime(INT64_MAX, 0, now, skew);
  ASSERT_TRUE(c.valid);
  EXPECT_TRUE(c.clamped);
  EXPECT_EQ(c.time, now);
}

TEST(CorrectTime, OverflowAndTimesBefore2000AreInvalidNeverWrapped) {
  const TimeMs now = 1760000000000;
  const TimeMs skew = 5 * 60 * 1000;
  EXPECT_FALSE(CorrectTime(INT64_MAX, now - 200LL * 86400000, now, skew).valid);
  EXPECT_FALSE(CorrectTime(INT64_MAX, now - 1, now, skew).valid);
  EXPECT_FALSE(CorrectTime(INT64_MIN, now, now, skew).valid);
  EXPECT_FALSE(CorrectTime(INT64_MIN, 0, now, skew).valid);
  EXPECT_FALSE(CorrectTime(kEarliestDeviceTime - 1, 0, now, skew).valid);
  // 2000-03-01 sent "in 200 days": corrected into 1999.
  EXPECT_FALSE(CorrectTime(951868800000, now + 200LL * 86400000, now, skew).valid);
  // Even a server clock and skew at the limit give a checked answer.
  const CorrectedTime edge = CorrectTime(now, now, INT64_MAX, INT64_MAX);
  EXPECT_TRUE(edge.valid);
  EXPECT_EQ(edge.time, now);
}

}  // namespace
}  // namespace waymark::collector
