// Segments of journeys (breakdowns and filters of the reports): the device a request's
// User-Agent names, the first touch's source and medium, and the funnel and paths per segment
// from the rollups.
#include <gtest/gtest.h>

#include <string>

#include "http/device_type.h"
#include "storage/rollups.h"

namespace waymark::collector {
namespace {

TEST(DeviceTypeTest, ReadsTheKindOfDeviceFromTheUserAgent) {
  EXPECT_EQ(DeviceType("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"),
            "mobile");
  EXPECT_EQ(DeviceType("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537"),
            "mobile");
  EXPECT_EQ(DeviceType("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Safari/604.1"), "tablet");
  EXPECT_EQ(DeviceType("Mozilla/5.0 (Linux; Android 13; SM-X700) Chrome/120.0 Safari/537.36"),
            "tablet");
  EXPECT_EQ(DeviceType("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"),
            "desktop");
  EXPECT_EQ(DeviceType("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"), "desktop");
  EXPECT_EQ(DeviceType("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0"), "bot");
  EXPECT_EQ(DeviceType("Googlebot/2.1 (+http://www.google.com/bot.html)"), "bot");
  EXPECT_EQ(DeviceType(""), "other");
  EXPECT_EQ(DeviceType("curl/8.5.0"), "other");
  EXPECT_EQ(DeviceType("Microsoft-CryptoAPI/10.0"), "other");
  EXPECT_EQ(DeviceType("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/120.0"), "desktop");
  // Only the head is read: a huge header costs no more, and what it says late is ignored.
  EXPECT_EQ(DeviceType(std::string(1 << 20, 'x') + "iPhone"), "other");
}

TEST(FirstTouchTest, SourceAndMediumAsGa4ReadsThem) {
  EventContext tagged;
  tagged.channel = "Email";
  tagged.path = "/pricing";
  tagged.referrer = "https://mail.example.com/inbox";
  tagged.campaign = {
      {"utm_source", "newsletter"}, {"utm_medium", "email"}, {"utm_campaign", "spring"}};
  Acquisition a = FirstTouch(tagged);
  EXPECT_EQ(a.channel, "Email");
  EXPECT_EQ(a.source, "newsletter");
  EXPECT_EQ(a.medium, "email");
  EXPECT_EQ(a.campaign, "spring");
  EXPECT_EQ(a.landing, "/pricing");

  EventContext search;
  search.channel = "Organic Search";
  search.referrer = "https://www.google.com:443/search?q=x";
  a = FirstTouch(search);
  EXPECT_EQ(a.source, "google.com");
  EXPECT_EQ(a.medium, "organic");
  EXPECT_EQ(a.campaign, "");

  EventContext referral;
  referral.channel = "Referral";
  referral.referrer = "http://news.example.org/story#top";
  a = FirstTouch(referral);
  EXPECT_EQ(a.source, "news.example.org");
  EXPECT_EQ(a.medium, "referral");

  EventContext direct;
  direct.channel = "Direct";
  direct.path = "/";
  a = FirstTouch(direct);
  EXPECT_EQ(a.source, "(direct)");
  EXPECT_EQ(a.medium, "(none)");
  EXPECT_EQ(a.landing, "/");
}

TEST(SegmentValuesTest, OneValuePerDimension) {
  JourneyFacts f;
  f.channel = "Email";
  f.source = "newsletter";
  f.medium = "email";
  f.campaign = "spring";
  f.landing = "/pricing";
  f.device = "mobile";
  f.identified = true;
  f.stage = "lead";
  EXPECT_EQ(SegmentDimensions(),
            (std::vector<std::string>{"channel", "source", "medium", "campaign", "landing",
                                      "device", "identified", "stage"}));
  EXPECT_EQ(SegmentValues(f),
            (std::vector<std::string>{"Email", "newsletter", "email", "spring", "/pricing",
                                      "mobile", "identified", "lead"}));
  f.identified = false;
  EXPECT_EQ(SegmentValues(f)[6], "anonymous");
}

}  // namespace
}  // namespace waymark::collector
