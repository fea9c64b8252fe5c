#include "waymark/channels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace waymark {
namespace {

using Params = std::map<std::string, std::string>;

constexpr const char* kSite = "example.com";

std::string Classify(const Params& campaign, std::string_view referrer = "",
                     std::string_view page_host = kSite) {
  return ClassifyChannel(campaign, referrer, page_host);
}

bool IsKnownChannel(const std::string& channel) {
  const auto& names = ChannelNames();
  return std::find(names.begin(), names.end(), channel) != names.end();
}

// ---------------------------------------------------------------------------------------------
// HostOf

TEST(HostOf, LowercasesAndStripsPortWwwUserinfoPathAndTrailingDot) {
  EXPECT_EQ(HostOf("https://www.Example.COM:8080/path?q=1#f"), "example.com");
  EXPECT_EQ(HostOf("http://user:pw@Sub.Example.com/"), "sub.example.com");
  EXPECT_EQ(HostOf("https://example.com./"), "example.com");
  EXPECT_EQ(HostOf("https://www.google.co.uk/search?q=x"), "google.co.uk");
  EXPECT_EQ(HostOf("https://example.com?x=1"), "example.com");
  EXPECT_EQ(HostOf("https://example.com#top"), "example.com");
  EXPECT_EQ(HostOf("  https://example.com/  "), "example.com");
}

TEST(HostOf, OnlyOneLeadingWwwIsStripped) {
  EXPECT_EQ(HostOf("https://www.www.example.com/"), "www.example.com");
  EXPECT_EQ(HostOf("https://wwwexample.com/"), "wwwexample.com");
  EXPECT_EQ(HostOf("https://sub.www.example.com/"), "sub.www.example.com");
}

TEST(HostOf, AcceptsProtocolRelativeBareAndAppReferrers) {
  EXPECT_EQ(HostOf("//cdn.example.com/x.js"), "cdn.example.com");
  EXPECT_EQ(HostOf("example.com/path"), "example.com");
  EXPECT_EQ(HostOf("www.example.com"), "example.com");
  EXPECT_EQ(HostOf("android-app://com.google.android.gm/"), "com.google.android.gm");
  EXPECT_EQ(HostOf("http://localhost:3000/x"), "localhost");
  EXPECT_EQ(HostOf("http://[::1]:3000/"), "[::1]");
  EXPECT_EQ(HostOf("https://bücher.de/"), "bücher.de");
}

TEST(HostOf, NoHostIsEmpty) {
  for (const char* url :
       {"", " ", "not a url", "hello", "http://", "https:///path", "mailto:a@b.com",
        "javascript:alert(1)", "a@b.com", "http://exa mple.com/", "http://a..b/",
        "https://example.com:abc/", "http://[::1/", "http://[zz]/", "1 2://example.com",
        "data:text/html,hi", "://example.com"}) {
    EXPECT_EQ(HostOf(url), "") << url;
  }
}

TEST(HostOf, GarbageNeverCrashesAndNeverYieldsInvalidText) {
  std::string long_host = "https://" + std::string(10 * 1024, 'a') + ".com/";
  EXPECT_EQ(HostOf(long_host), "");
  EXPECT_EQ(HostOf(std::string(10 * 1024, '/')), "");
  EXPECT_EQ(HostOf(std::string(10 * 1024, ':')), "");
  EXPECT_EQ(HostOf("http://\xff\xfe.com/"), "");
  const std::string truncated_utf8 = std::string("http://ex") + "\xc3" + "ample.com/";
  EXPECT_EQ(HostOf(truncated_utf8), "");
  EXPECT_EQ(HostOf(std::string("http://exa\0mple.com/", 20)), "");
  EXPECT_EQ(HostOf("\x80\x81\x82"), "");
}

// ---------------------------------------------------------------------------------------------
// ChannelNames

TEST(ChannelNames, AreTheGa4GroupsInDisplayOrder) {
  const std::vector<std::string> expected = {
      "Direct",         "Cross-network", "Paid Shopping",
      "Paid Search",    "Paid Social",   "Paid Video",
      "Display",        "Paid Other",    "Organic Shopping",
      "Organic Social", "Organic Video", "Organic Search",
      "Referral",       "Email",         "Affiliates",
      "Audio",          "SMS",           "Mobile Push Notifications",
      "Unassigned"};
  EXPECT_EQ(ChannelNames(), expected);
  // Every classification lands on one of these names (TableCoversEveryChannel, hostile inputs).
}

// ---------------------------------------------------------------------------------------------
// One table of landings covering every channel, from utm tags, click ids and referrers.

struct Case {
  Params campaign;
  std::string referrer;
  std::string expected;
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      // Direct: nothing, an internal referrer, or an explicit (direct)/(none).
      {{}, "", "Direct"},
      {{}, "https://example.com/pricing", "Direct"},
      {{{"utm_campaign", "spring"}}, "", "Direct"},
      {{{"utm_source", "(direct)"}, {"utm_medium", "(none)"}}, "", "Direct"},
      {{{"utm_source", "(direct)"}}, "", "Direct"},  // medium (not set)
      // Cross-network: campaign name, whatever the source.
      {{{"utm_source", "google"}, {"utm_medium", "cpc"}, {"utm_campaign", "pmax_cross-network"}},
       "",
       "Cross-network"},
      {{{"gclid", "abc"}, {"utm_campaign", "Q3 Cross-Network"}}, "", "Cross-network"},
      // Paid Shopping: shopping site or shopping campaign, with a paid medium.
      {{{"utm_source", "amazon"}, {"utm_medium", "cpc"}}, "", "Paid Shopping"},
      {{{"utm_source", "google"}, {"utm_medium", "cpc"}, {"utm_campaign", "summer_shop"}},
       "",
       "Paid Shopping"},
      {{{"utm_source", "google"}, {"utm_medium", "cpc"}, {"utm_campaign", "Shopping-EU"}},
       "",
       "Paid Shopping"},
      {{{"utm_source", "google"}, {"utm_medium", "cpc"}, {"utm_campaign", "eshop"}},
       "",
       "Paid Shopping"},
      {{{"utm_source", "shopping.google.com"}, {"utm_medium", "ppc"}}, "", "Paid Shopping"},
      // Paid Search.
      {{{"utm_source", "google"}, {"utm_medium", "cpc"}}, "", "Paid Search"},
      {{{"utm_source", "google"}, {"utm_medium", "cpc"}, {"utm_campaign", "workshop"}},
       "",
       "Paid Search"},  // "shop" after a letter other than 'e' is not shopping
      {{{"utm_source", "bing"}, {"utm_medium", "ppc"}}, "", "Paid Search"},
      {{{"utm_source", "duckduckgo"}, {"utm_medium", "paidsearch"}}, "", "Paid Search"},
      {{{"utm_source", "yahoo"}, {"utm_medium", "retargeting"}}, "", "Paid Search"},
      {{{"gclid", "Cj0KCQ"}}, "", "Paid Search"},
      {{{"gbraid", "0AAAAA"}}, "", "Paid Search"},
      {{{"wbraid", "CjkKCQ"}}, "", "Paid Search"},
      {{{"msclkid", "123abc"}}, "", "Paid Search"},
      {{{"gclid", "abc"}}, "https://www.google.com/", "Paid Search"},
      // Paid Social.
      {{{"utm_source", "facebook"}, {"utm_medium", "paid_social"}}, "", "Paid Social"},
      {{{"utm_source", "fb"}, {"utm_medium", "cpc"}}, "", "Paid Social"},
      {{{"utm_source", "l.facebook.com"}, {"utm_medium", "cpm"}}, "", "Paid Social"},
      {{{"utm_source", "linkedin"}, {"utm_medium", "paid"}}, "", "Paid Social"},
      {{{"ttclid", "E.C.P"}}, "", "Paid Social"},
      {{{"twclid", "2-abc"}}, "", "Paid Social"},
      {{{"li_fat_id", "abc-123"}}, "", "Paid Social"},
      {{{"ttclid", "x"}, {"fbclid", "y"}}, "", "Paid Social"},  // a paid id beats fbclid
      // Paid Video.
      {{{"utm_source", "youtube"}, {"utm_medium", "cpv"}}, "", "Paid Video"},
      {{{"utm_source", "vimeo.com"}, {"utm_medium", "paid"}}, "", "Paid Video"},
      // Display.
      {{{"utm_source", "criteo"}, {"utm_medium", "display"}}, "", "Display"},
      {{{"utm_source", "partner"}, {"utm_medium", "banner"}}, "", "Display"},
      {{{"utm_source", "partner"}, {"utm_medium", "interstitial"}}, "", "Display"},
      {{{"utm_source", "criteo"}, {"utm_medium", "cpm"}}, "", "Display"},
      {{{"dclid", "CJ3x"}}, "", "Display"},
      // Paid Other.
      {{{"utm_source", "newsletter-partner"}, {"utm_medium", "cpc"}}, "", "Paid Other"},
      {{{"utm_medium", "paid"}}, "", "Paid Other"},
      {{{"utm_source", "newsletter"}, {"utm_medium", "paid_email"}}, "", "Paid Other"},
      // Organic Shopping: shopping site or shopping campaign, not paid.
      {{}, "https://www.amazon.com/dp/B000", "Organic Shopping"},
      {{}, "https://www.ebay.co.uk/itm/1", "Organic Shopping"},
      {{}, "https://shopping.google.com/", "Organic Shopping"},
      {{{"utm_source", "etsy"}, {"utm_medium", "referral"}}, "", "Organic Shopping"},
      {{{"utm_source", "newsletter"}, {"utm_medium", "email"}, {"utm_campaign", "shop_launch"}},
       "",
       "Organic Shopping"},
      // Organic Social: social site, social medium, or fbclid alone.
      {{}, "https://l.facebook.com/l.php?u=x", "Organic Social"},
      {{}, "https://m.facebook.com/", "Organic Social"},
      {{}, "https://t.co/abc", "Organic Social"},
      {{}, "https://x.com/someone/status/1", "Organic Social"},
      {{}, "https://www.linkedin.com/feed/", "Organic Social"},
      {{}, "https://old.reddit.com/r/cpp", "Organic Social"},
      {{}, "https://l.instagram.com/?u=x", "Organic Social"},
      {{{"utm_source", "partner"}, {"utm_medium", "social"}}, "", "Organic Social"},
      {{{"utm_source", "partner"}, {"utm_medium", "social media"}}, "", "Organic Social"},
      {{{"utm_source", "twitter"}}, "", "Organic Social"},  // medium (not set)
      {{{"fbclid", "IwAR0"}}, "", "Organic Social"},
      {{{"fbclid", "IwAR0"}}, "https://blog.example.com/", "Organic Social"},
      // Organic Video.
      {{}, "https://m.youtube.com/watch?v=1", "Organic Video"},
      {{}, "https://youtu.be/abc", "Organic Video"},
      {{}, "https://www.twitch.tv/streamer", "Organic Video"},
      {{{"utm_source", "partner"}, {"utm_medium", "video"}}, "", "Organic Video"},
      {{{"utm_source", "partner"}, {"utm_medium", "in-video-card"}}, "", "Organic Video"},
      // Organic Search.
      {{}, "https://www.google.com/", "Organic Search"},
      {{}, "https://www.google.co.uk/", "Organic Search"},
      {{}, "https://www.google.com.au/search?q=x", "Organic Search"},
      {{}, "https://news.google.com/", "Organic Search"},
      {{}, "https://www.bing.com/search?q=waymark", "Organic Search"},
      {{}, "https://duckduckgo.com/", "Organic Search"},
      {{}, "https://search.yahoo.com/search?p=x", "Organic Search"},
      {{}, "https://www.ecosia.org/", "Organic Search"},
      {{}, "https://yandex.ru/search/", "Organic Search"},
      {{}, "https://search.brave.com/search?q=x", "Organic Search"},
      {{}, "android-app://com.google.android.googlequicksearchbox/", "Organic Search"},
      {{{"utm_source", "google"}, {"utm_medium", "organic"}}, "", "Organic Search"},
      {{{"utm_source", "partner"}, {"utm_medium", "organic"}}, "", "Organic Search"},
      {{{"utm_source", "Google"}}, "", "Organic Search"},
      // Referral: any other external site, or a referral-like medium.
      {{}, "https://news.ycombinator.com/item?id=1", "Organic Social"},  // GA4 lists it as social
      {{}, "https://checkout.stripe.com/pay", "Organic Shopping"},       // GA4: shopping
      {{}, "https://www.yelp.com/biz/x", "Organic Social"},              // "www." dropped
      {{{"utm_source", "rakuten"}, {"utm_medium", "cpc"}}, "", "Paid Search"},  // GA4: search
      {{}, "https://blog.partner.org/post", "Referral"},
      {{}, "https://mail.google.com/mail/u/0/", "Referral"},
      {{}, "https://docs.google.com/document/d/x", "Referral"},
      {{}, "https://google.evil.com/", "Referral"},  // not a public suffix after "google"
      {{}, "https://notgoogle.com/", "Referral"},    // not on a label boundary
      {{}, "https://facebook.com.evil.org/", "Referral"},
      {{}, "https://notexample.com/", "Referral"},  // not our site, only ends like it
      {{{"fbclid", "IwAR0"}}, "https://blog.partner.org/", "Referral"},
      {{{"utm_source", "partnerblog"}, {"utm_medium", "referral"}}, "", "Referral"},
      {{{"utm_source", "ios"}, {"utm_medium", "app"}}, "", "Referral"},
      {{{"utm_source", "partner"}, {"utm_medium", "link"}}, "", "Referral"},
      // Email.
      {{{"utm_source", "newsletter"}, {"utm_medium", "email"}}, "", "Email"},
      {{{"utm_source", "newsletter"}, {"utm_medium", "E-Mail"}}, "", "Email"},
      {{{"utm_source", "newsletter"}, {"utm_medium", "e_mail"}}, "", "Email"},
      {{{"utm_source", "newsletter"}, {"utm_medium", "e mail"}}, "", "Email"},
      {{{"utm_source", "email"}, {"utm_medium", "newsletter"}}, "", "Email"},
      {{{"utm_source", "crm"}, {"utm_medium", "email"}, {"gclid", "abc"}}, "", "Email"},
      {{{"utm_source", "crm"}, {"utm_medium", "email"}}, "https://www.google.com/", "Email"},
      // Affiliates.
      {{{"utm_source", "awin"}, {"utm_medium", "affiliate"}}, "", "Affiliates"},
      // Audio.
      {{{"utm_source", "podcast"}, {"utm_medium", "audio"}}, "", "Audio"},
      // SMS.
      {{{"utm_source", "twilio"}, {"utm_medium", "sms"}}, "", "SMS"},
      {{{"utm_source", "sms"}, {"utm_medium", "text"}}, "", "SMS"},
      // Mobile Push Notifications.
      {{{"utm_source", "onesignal"}, {"utm_medium", "push"}}, "", "Mobile Push Notifications"},
      {{{"utm_source", "app"}, {"utm_medium", "webpush"}}, "", "Mobile Push Notifications"},
      {{{"utm_source", "app"}, {"utm_medium", "mobile"}}, "", "Mobile Push Notifications"},
      {{{"utm_source", "app"}, {"utm_medium", "in_app_notification"}},
       "",
       "Mobile Push Notifications"},
      {{{"utm_source", "firebase"}, {"utm_medium", "fcm"}}, "", "Mobile Push Notifications"},
      // Unassigned: tagged, but matching no rule.
      {{{"utm_source", "foo"}, {"utm_medium", "bar"}}, "", "Unassigned"},
      {{{"utm_medium", "newsletter"}}, "", "Unassigned"},
      {{{"utm_source", "newsletter"}}, "", "Unassigned"},
      {{{"utm_id", "42"}, {"utm_source", "qr"}, {"utm_medium", "print"}}, "", "Unassigned"},
  };
  return cases;
}

TEST(ClassifyChannel, TableOfLandings) {
  for (const Case& c : Cases()) {
    std::string label = "referrer=" + c.referrer;
    for (const auto& [key, value] : c.campaign) label += " " + key + "=" + value;
    EXPECT_EQ(Classify(c.campaign, c.referrer), c.expected) << label;
  }
}

TEST(ClassifyChannel, TableCoversEveryChannel) {
  std::set<std::string> covered;
  for (const Case& c : Cases()) covered.insert(c.expected);
  for (const std::string& channel : ChannelNames()) {
    EXPECT_TRUE(covered.count(channel)) << channel << " has no case";
  }
}

TEST(ClassifyChannel, KeysAndValuesAreCaseInsensitive) {
  EXPECT_EQ(Classify({{"UTM_SOURCE", "GOOGLE"}, {"Utm_Medium", "CPC"}}), "Paid Search");
  EXPECT_EQ(Classify({{"utm_source", "Facebook"}, {"utm_medium", "Paid_Social"}}), "Paid Social");
  EXPECT_EQ(Classify({{"utm_source", "Newsletter"}, {"utm_medium", "EMAIL"}}), "Email");
  EXPECT_EQ(Classify({{"GCLID", "abc"}}), "Paid Search");
  EXPECT_EQ(
      Classify(
          {{"utm_source", "google"}, {"utm_medium", "cpc"}, {"UTM_CAMPAIGN", "CROSS-NETWORK"}}),
      "Cross-network");
  EXPECT_EQ(Classify({}, "HTTPS://WWW.GOOGLE.COM/"), "Organic Search");
}

TEST(ClassifyChannel, ExactKeyWinsOverOtherCasing) {
  // std::map orders "UTM_SOURCE" first; the exact key must still be the one used.
  EXPECT_EQ(Classify({{"UTM_SOURCE", "bing"}, {"utm_source", "facebook"}, {"utm_medium", "cpc"}}),
            "Paid Social");
}

TEST(ClassifyChannel, ValuesAreTrimmedAndEmptyValuesAreAbsent) {
  EXPECT_EQ(Classify({{"utm_source", "  google "}, {"utm_medium", "\tcpc\n"}}), "Paid Search");
  EXPECT_EQ(Classify({{"utm_source", ""}, {"utm_medium", "   "}}), "Direct");
  EXPECT_EQ(Classify({{"gclid", ""}}), "Direct");
  EXPECT_EQ(Classify({{"fbclid", ""}}), "Direct");
  EXPECT_EQ(Classify({{"utm_source", ""}, {"utm_medium", ""}}, "https://www.google.com/"),
            "Organic Search");
}

TEST(ClassifyChannel, InternalReferrerIsDirect) {
  EXPECT_EQ(Classify({}, "https://example.com/pricing", "example.com"), "Direct");
  EXPECT_EQ(Classify({}, "https://www.example.com/", "example.com"), "Direct");
  EXPECT_EQ(Classify({}, "https://example.com/", "www.example.com"), "Direct");
  EXPECT_EQ(Classify({}, "http://example.com:8080/", "example.com"), "Direct");
  // The page host may come in any shape the caller has at hand.
  EXPECT_EQ(Classify({}, "https://example.com/", "WWW.Example.COM:443"), "Direct");
  EXPECT_EQ(Classify({}, "https://example.com/", "https://www.example.com/landing?x=1"), "Direct");
  // An internal referrer never hides explicit tags.
  EXPECT_EQ(
      Classify({{"utm_source", "newsletter"}, {"utm_medium", "email"}}, "https://example.com/"),
      "Email");
}

TEST(ClassifyChannel, SubdomainOfThePageIsInternalButParentAndLookalikesAreNot) {
  EXPECT_EQ(Classify({}, "https://blog.example.com/post", "example.com"), "Direct");
  EXPECT_EQ(Classify({}, "https://a.b.example.com/", "example.com"), "Direct");
  EXPECT_EQ(Classify({}, "https://example.com/", "app.example.com"), "Referral");
  EXPECT_EQ(Classify({}, "https://evilexample.com/", "example.com"), "Referral");
  EXPECT_EQ(Classify({}, "https://example.com.evil.org/", "example.com"), "Referral");
}

TEST(ClassifyChannel, WithoutPageHostEveryReferrerIsExternal) {
  EXPECT_EQ(Classify({}, "https://example.com/", ""), "Referral");
  EXPECT_EQ(Classify({}, "https://www.google.com/", ""), "Organic Search");
  EXPECT_EQ(Classify({}, "https://example.com/", "not a host"), "Referral");
}

TEST(ClassifyChannel, SiteListsMatchOnLabelBoundariesWithPublicSuffixes) {
  EXPECT_EQ(Classify({}, "https://www.youtube.com/"), "Organic Video");
  EXPECT_EQ(Classify({}, "https://www.facebook.com/"), "Organic Social");
  EXPECT_EQ(Classify({}, "https://www.amazon.co.jp/"), "Organic Shopping");
  EXPECT_EQ(Classify({}, "https://google.de/"), "Organic Search");
  EXPECT_EQ(Classify({}, "https://youtube.partner.org/"), "Referral");
  EXPECT_EQ(Classify({}, "https://myyoutube.com/"), "Referral");
  EXPECT_EQ(Classify({}, "https://t.co.partner.org/"), "Referral");
  EXPECT_EQ(Classify({{"utm_source", "facebook_group"}, {"utm_medium", "cpc"}}), "Paid Other");
}

TEST(ClassifyChannel, UnparseableReferrerIsNoReferrer) {
  EXPECT_EQ(Classify({}, "not a url"), "Direct");
  EXPECT_EQ(Classify({}, "about:blank"), "Direct");
  EXPECT_EQ(Classify({}, "javascript:void(0)"), "Direct");
  EXPECT_EQ(Classify({{"fbclid", "x"}}, "not a url"), "Organic Social");
}

TEST(ClassifyChannel, GarbageNeverCrashesAndYieldsAKnownChannel) {
  const std::string big(10 * 1024, 'x');
  const std::string big_cp = "cp" + big;
  const std::string invalid_utf8 = "\xff\xfe\xc3\x28\xa0\xa1\xed\xa0\x80";
  const std::string with_nul("goo\0gle", 7);
  const std::vector<std::string> referrers = {"",
                                              "not a url",
                                              big,
                                              "https://" + big,
                                              "https://" + big + ".com/",
                                              invalid_utf8,
                                              "https://" + invalid_utf8 + "/",
                                              with_nul,
                                              "://",
                                              "http://[",
                                              "http://@/",
                                              std::string(10 * 1024, '.'),
                                              "https://www.google.com/" + big};
  const std::vector<Params> campaigns = {
      {},
      {{"utm_source", big}, {"utm_medium", big_cp}},
      {{"utm_source", invalid_utf8}, {"utm_medium", invalid_utf8}},
      {{"utm_campaign", big + "shop"}, {"utm_medium", "cpc"}},
      {{big, big}, {invalid_utf8, invalid_utf8}, {"", ""}},
      {{"gclid", big}},
      {{"utm_source", with_nul}, {"utm_medium", with_nul}},
      {{"utm_source", std::string(10 * 1024, '.')}, {"utm_medium", "referral"}},
  };
  for (const Params& campaign : campaigns) {
    for (const std::string& referrer : referrers) {
      for (const std::string& page : {std::string(kSite), big, invalid_utf8, std::string()}) {
        EXPECT_TRUE(IsKnownChannel(ClassifyChannel(campaign, referrer, page)));
      }
    }
  }
  EXPECT_EQ(Classify({{"utm_source", big}, {"utm_medium", big_cp}}), "Paid Other");
  EXPECT_EQ(Classify({}, "https://" + invalid_utf8 + "/"), "Direct");
}

// Parameters the rules do not read change nothing: a page's own query parameters (a `ref`, an
// `x_medium` that merely looks like utm_medium) never move a landing to another channel.
TEST(ClassifyChannel, ParametersItDoesNotReadChangeNothing) {
  for (const Case& c : Cases()) {
    auto noisy = c.campaign;
    noisy["x_medium"] = "cpc";
    noisy["ref"] = "newsletter";
    noisy["utm_whatever"] = "email";
    EXPECT_EQ(Classify(noisy, c.referrer), Classify(c.campaign, c.referrer))
        << (c.campaign.empty() ? c.referrer : c.campaign.begin()->second);
  }
}

}  // namespace
}  // namespace waymark

namespace waymark {
namespace {

// Every source of GA4's published list (core/data/ga4-source-categories.csv), tagged as a paid
// click (utm_medium=cpc) and as an untagged-medium visit, lands where GA4's default channel group
// puts it: Paid/Organic Search, Social, Shopping or Video. The aim is at least 99 %; this build
// agrees on every row, so any disagreement fails (docs/journey-map.md lists the deliberate
// deviations, none of which concerns these rows).
TEST(ClassifyChannel, AgreesWithGa4PublishedSourceCategories) {
  std::istringstream csv(
      testing_util::ReadFile(WAYMARK_SOURCE_DIR "/core/data/ga4-source-categories.csv"));
  std::string line;
  std::getline(csv, line);  // header
  int rows = 0;
  std::vector<std::string> disagreements;
  while (std::getline(csv, line)) {
    const std::size_t comma = line.find(',');
    ASSERT_NE(comma, std::string::npos) << line;
    const std::string source = line.substr(0, comma);
    const std::string category = line.substr(comma + 1);
    const std::string kind = category == "SOURCE_CATEGORY_SEARCH"     ? "Search"
                             : category == "SOURCE_CATEGORY_SOCIAL"   ? "Social"
                             : category == "SOURCE_CATEGORY_SHOPPING" ? "Shopping"
                                                                      : "Video";
    ++rows;
    const std::string paid = Classify({{"utm_source", source}, {"utm_medium", "cpc"}});
    const std::string organic = Classify({{"utm_source", source}});
    if (paid != "Paid " + kind) disagreements.push_back(source + "/cpc: " + paid);
    if (organic != "Organic " + kind) disagreements.push_back(source + ": " + organic);
    EXPECT_NE(Ga4SourceCategory(source), SourceCategory::kNone) << source;
  }
  EXPECT_EQ(rows, 819);
  std::string shown;
  for (std::size_t i = 0; i < disagreements.size() && i < 20; ++i) shown += disagreements[i] + "; ";
  EXPECT_TRUE(disagreements.empty())
      << disagreements.size() << " of " << 2 * rows << " disagree: " << shown;
  EXPECT_EQ(Ga4SourceCategory("not-a-listed-source.example"), SourceCategory::kNone);
  EXPECT_EQ(Ga4SourceCategory(" Google Shopping "), SourceCategory::kShopping);
}

}  // namespace
}  // namespace waymark
