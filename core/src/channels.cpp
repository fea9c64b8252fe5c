#include "waymark/channels.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "ga4_sources.h"
#include "waymark/json_util.h"

// The GA4 definitions are written as regular expressions, but every one of them is a literal
// list, a prefix/suffix/substring test or one character class, so they are checked by hand here:
// std::regex adds hundreds of kilobytes to the wasm module, is slow on every landing, and reports
// bad patterns by throwing, which this core (built with -fno-exceptions) cannot do.

namespace waymark {

namespace {

// Source category lists. A row is a site name of one or more labels; it matches a utm_source
// equal to it, or a host containing it on label boundaries followed only by a public suffix
// ("google" matches "www.google.co.uk", "l.facebook.com" matches "facebook"). Adding a site is
// adding a row. Shopping is checked before search, so "shopping.google" wins over "google".
constexpr std::string_view kShoppingSites[] = {
    "amazon",     "ebay",           "etsy",      "shopping.google", "google shopping",
    "igshopping", "shopping.yahoo", "walmart",   "aliexpress",      "alibaba",
    "shopify",    "bestbuy",        "target",    "mercadolibre",    "mercadolivre",
    "rakuten",    "shopee",         "zalando",   "wayfair",         "temu",
    "flipkart",   "allegro",        "newegg",    "costco",          "homedepot",
    "idealo",     "kelkoo",         "shopzilla", "pricerunner",     "wish",
};

constexpr std::string_view kSearchSites[] = {
    "google",
    "bing",
    "duckduckgo",
    "yahoo",
    "baidu",
    "yandex",
    "ya.ru",
    "ecosia",
    "ask",
    "aol",
    "naver",
    "seznam",
    "qwant",
    "startpage",
    "search.brave",
    "kagi",
    "sogou",
    "so.com",
    "daum",
    "msn",
    "goo.ne.jp",
    "rambler",
    "mail.ru",
    "lycos",
    "dogpile",
    "mojeek",
    "swisscows",
    "petalsearch",
    "coccoc",
    "you.com",
    "com.google.android.googlequicksearchbox",
};

// Hosts under a search engine's domain that are not search: a link clicked in Gmail or a Google
// Doc is a referral, not Organic Search.
constexpr std::string_view kNotSearchSites[] = {
    "mail.google",     "docs.google", "drive.google",     "sites.google", "groups.google",
    "calendar.google", "meet.google", "classroom.google", "play.google",  "accounts.google",
    "support.google",  "mail.yahoo",  "mail.yandex",      "disk.yandex",
};

constexpr std::string_view kSocialSites[] = {
    "facebook",
    "fb",
    "fb.me",
    "m.me",
    "messenger",
    "instagram",
    "ig",
    "linkedin",
    "lnkd.in",
    "twitter",
    "t.co",
    "x.com",
    "reddit",
    "redd.it",
    "pinterest",
    "pin.it",
    "tiktok",
    "snapchat",
    "tumblr",
    "quora",
    "threads.net",
    "bsky.app",
    "mastodon.social",
    "discord",
    "whatsapp",
    "wa.me",
    "telegram",
    "t.me",
    "vk",
    "ok.ru",
    "weibo",
    "wechat",
    "line.me",
    "xing",
    "meetup",
    "nextdoor",
    "medium",
    "slack",
    "flickr",
    "goodreads",
};

constexpr std::string_view kVideoSites[] = {
    "youtube", "youtu.be",  "vimeo",      "twitch",     "dailymotion", "wistia", "vidyard",
    "netflix", "hulu",      "disneyplus", "primevideo", "bilibili",    "rumble", "iqiyi",
    "youku",   "nicovideo", "crackle",    "ted",        "veoh",        "tubi",
};

// Second-level labels under which ccTLDs sell names ("co.uk", "com.au", "ne.jp"); anything else
// followed by more labels is treated as a subdomain of someone else's site.
constexpr std::string_view kSecondLevelLabels[] = {
    "co", "com", "net", "org", "ac", "edu", "gov", "gob", "go", "ne", "or", "nic", "ltd", "plc",
};

// Click ids the ad networks append to paid clicks, checked in this order when there is no utm.
// fbclid is deliberately absent: Facebook adds it to organic links too (handled after referrers).
struct ClickId {
  std::string_view param;
  std::string_view source;
  std::string_view medium;
};
constexpr ClickId kPaidClickIds[] = {
    {"gclid", "google", "cpc"},    {"gbraid", "google", "cpc"},   {"wbraid", "google", "cpc"},
    {"msclkid", "bing", "cpc"},    {"yclid", "yandex", "cpc"},    {"dclid", "dv360", "cpm"},
    {"ttclid", "tiktok", "paid"},  {"twclid", "twitter", "paid"}, {"li_fat_id", "linkedin", "paid"},
    {"epik", "pinterest", "paid"}, {"sccid", "snapchat", "paid"}, {"rdt_cid", "reddit", "paid"},
    {"qclid", "quora", "paid"},
};

constexpr std::string_view kDisplayMedia[] = {"display", "banner", "expandable", "interstitial",
                                              "cpm"};
constexpr std::string_view kSocialMedia[] = {"social", "social-network", "social-media",
                                             "sm",     "social network", "social media"};
constexpr std::string_view kReferralMedia[] = {"referral", "app", "link"};
constexpr std::string_view kEmailNames[] = {"email", "e-mail", "e_mail", "e mail"};

// Real host names are at most 253 bytes; refusing longer input keeps a 10 KB referrer from
// becoming a source string.
constexpr std::size_t kMaxHostLength = 253;

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// ASCII-only on purpose: locale-dependent lowering would make classification depend on the
// machine, and non-ASCII bytes never occur in the names the rules compare against.
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerAscii(c);
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

template <std::size_t N>
bool OneOf(std::string_view s, const std::string_view (&list)[N]) {
  for (std::string_view item : list) {
    if (s == item) return true;
  }
  return false;
}

bool IsScheme(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return false;
  for (char c : s) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// Lowercases and validates a host without port; "" when it is not a plausible host name.
std::string NormalizeHost(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // FQDN form "example.com."
  if (host.empty() || host.size() > kMaxHostLength) return "";
  std::string out = Lower(host);
  if (out.front() == '[') {
    // IPv6 literal: kept as written, only its characters are checked.
    if (out.back() != ']' || out.size() < 3) return "";
    for (std::size_t i = 1; i + 1 < out.size(); ++i) {
      char c = out[i];
      if (!IsDigit(c) && !(c >= 'a' && c <= 'f') && c != ':' && c != '.') return "";
    }
    return out;
  }
  bool non_ascii = false;
  char previous = '.';
  for (char c : out) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      non_ascii = true;
    } else if (c == '.') {
      if (previous == '.') return "";  // empty label
    } else if (!IsAlpha(c) && !IsDigit(c) && c != '-' && c != '_') {
      return "";
    }
    previous = c;
  }
  // Internationalized names may arrive as UTF-8; anything else with high bytes is garbage.
  if (non_ascii && !IsValidUtf8(out)) return "";
  if (StartsWith(out, "www.") && out.size() > 4) out.erase(0, 4);
  return out;
}

// Host of "host[:port]"; "" when the port is not numeric ("javascript:alert(1)").
std::string HostFromAuthority(std::string_view authority) {
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "";
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return "";
    authority = after;
  } else {
    std::size_t colon = authority.find(':');
    if (colon == std::string_view::npos) return NormalizeHost(host);
    host = authority.substr(0, colon);
    authority = authority.substr(colon);
  }
  if (!authority.empty()) {
    for (char c : authority.substr(1)) {
      if (!IsDigit(c)) return "";
    }
  }
  return NormalizeHost(host);
}

// The host a page_host argument names; callers may pass a bare host, "host:port" or a URL.
std::string PageHost(std::string_view page_host) {
  page_host = Trim(page_host);
  if (Contains(page_host, "://") || StartsWith(page_host, "//")) return HostOf(page_host);
  return HostFromAuthority(page_host.substr(0, page_host.find_first_of("/?#")));
}

// True for what may follow a site name in a host: nothing, a TLD ("com", "de") or a
// second-level registration under a ccTLD ("co.uk", "com.au"). A full public suffix list would
// be exact but is far too large to ship to the browser; this errs towards not matching.
bool IsPublicSuffixLike(std::string_view rest) {
  auto is_tld = [](std::string_view label, std::size_t min_size, std::size_t max_size) {
    if (label.size() < min_size || label.size() > max_size) return false;
    for (char c : label) {
      if (!IsAlpha(c)) return false;
    }
    return true;
  };
  std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return is_tld(rest, 2, 6);
  std::string_view second_level = rest.substr(0, dot);
  std::string_view tld = rest.substr(dot + 1);
  return OneOf(second_level, kSecondLevelLabels) && is_tld(tld, 2, 2);
}

bool MatchesSite(std::string_view source, std::string_view site) {
  for (std::size_t pos = source.find(site); pos != std::string_view::npos;
       pos = source.find(site, pos + 1)) {
    if (pos > 0 && source[pos - 1] != '.') continue;
    std::string_view rest = source.substr(pos + site.size());
    if (rest.empty()) return true;
    if (rest.front() == '.' && IsPublicSuffixLike(rest.substr(1))) return true;
  }
  return false;
}

template <std::size_t N>
bool MatchesAnySite(std::string_view source, const std::string_view (&sites)[N]) {
  if (source.empty()) return false;
  for (std::string_view site : sites) {
    if (MatchesSite(source, site)) return true;
  }
  return false;
}

bool IsSearchSite(std::string_view source) {
  return MatchesAnySite(source, kSearchSites) && !MatchesAnySite(source, kNotSearchSites);
}

// GA4's list first: a source it names is in exactly that category ("rakuten" is search there);
// only sources it does not name fall back to the site-name rules above, which also catch hosts
// the list spells otherwise ("www.google.co.uk", "l.instagram.com").
struct SiteCategories {
  bool shopping = false;
  bool search = false;
  bool social = false;
  bool video = false;
};

SiteCategories CategoriesOf(std::string_view source) {
  SiteCategories c;
  switch (Ga4SourceCategory(source)) {
    case SourceCategory::kSearch:
      c.search = true;
      return c;
    case SourceCategory::kSocial:
      c.social = true;
      return c;
    case SourceCategory::kShopping:
      c.shopping = true;
      return c;
    case SourceCategory::kVideo:
      c.video = true;
      return c;
    case SourceCategory::kNone:
      break;
  }
  c.shopping = MatchesAnySite(source, kShoppingSites);
  c.search = IsSearchSite(source);
  c.social = MatchesAnySite(source, kSocialSites);
  c.video = MatchesAnySite(source, kVideoSites);
  return c;
}

// Landing URLs are hand-tagged, so "UTM_Source" and "utm_source" both occur; an exact key wins
// so the result does not depend on map order when both are present.
std::string_view Param(const std::map<std::string, std::string>& campaign, std::string_view key) {
  auto exact = campaign.find(std::string(key));
  if (exact != campaign.end() && !Trim(exact->second).empty()) return Trim(exact->second);
  for (const auto& [name, value] : campaign) {
    if (name.size() != key.size() || Trim(value).empty()) continue;
    bool same = true;
    for (std::size_t i = 0; i < key.size() && same; ++i) same = LowerAscii(name[i]) == key[i];
    if (same) return Trim(value);
  }
  return {};
}

// Source, medium and campaign as GA4 would record them, lowercased, plus the source's category
// memberships, computed once so the rule predicates stay one-liners.
struct Traffic {
  std::string source;
  std::string medium;
  std::string campaign;
  bool shopping_site = false;
  bool search_site = false;
  bool social_site = false;
  bool video_site = false;
  bool paid = false;
  bool shopping_campaign = false;
};

// GA4: ^(.*cp.*|ppc|retargeting|paid.*)$
bool IsPaidMedium(std::string_view medium) {
  return Contains(medium, "cp") || medium == "ppc" || medium == "retargeting" ||
         StartsWith(medium, "paid");
}

// GA4: ^(.*(([^a-df-z]|^)shop|shopping).*)$ -- "shop" at the start or after anything but a
// letter other than 'e' ("eshop", "e-shop", "summer_shop"), so "workshop" is not shopping.
bool IsShoppingCampaign(std::string_view campaign) {
  if (Contains(campaign, "shopping")) return true;
  for (std::size_t pos = campaign.find("shop"); pos != std::string_view::npos;
       pos = campaign.find("shop", pos + 1)) {
    if (pos == 0) return true;
    char before = campaign[pos - 1];
    bool excluded = (before >= 'a' && before <= 'd') || (before >= 'f' && before <= 'z');
    if (!excluded) return true;
  }
  return false;
}

bool IsDirect(const Traffic& t) {
  return t.source == "(direct)" && (t.medium == "(none)" || t.medium == "(not set)");
}
bool IsCrossNetwork(const Traffic& t) { return Contains(t.campaign, "cross-network"); }
bool IsPaidShopping(const Traffic& t) { return (t.shopping_site || t.shopping_campaign) && t.paid; }
bool IsPaidSearch(const Traffic& t) { return t.search_site && t.paid; }
bool IsPaidSocial(const Traffic& t) { return t.social_site && t.paid; }
bool IsPaidVideo(const Traffic& t) { return t.video_site && t.paid; }
bool IsDisplay(const Traffic& t) { return OneOf(t.medium, kDisplayMedia); }
bool IsPaidOther(const Traffic& t) { return t.paid; }
bool IsOrganicShopping(const Traffic& t) { return t.shopping_site || t.shopping_campaign; }
bool IsOrganicSocial(const Traffic& t) { return t.social_site || OneOf(t.medium, kSocialMedia); }
bool IsOrganicVideo(const Traffic& t) { return t.video_site || Contains(t.medium, "video"); }
bool IsOrganicSearch(const Traffic& t) { return t.search_site || t.medium == "organic"; }
bool IsReferral(const Traffic& t) { return OneOf(t.medium, kReferralMedia); }
bool IsEmail(const Traffic& t) {
  return OneOf(t.source, kEmailNames) || OneOf(t.medium, kEmailNames);
}
bool IsAffiliate(const Traffic& t) { return t.medium == "affiliate"; }
bool IsAudio(const Traffic& t) { return t.medium == "audio"; }
bool IsSms(const Traffic& t) { return t.source == "sms" || t.medium == "sms"; }
bool IsMobilePush(const Traffic& t) {
  return EndsWith(t.medium, "push") || Contains(t.medium, "mobile") ||
         Contains(t.medium, "notification") || t.source == "firebase";
}

struct Rule {
  const char* channel;
  bool (*matches)(const Traffic&);
};

// GA4's evaluation order: the first matching rule names the channel.
constexpr Rule kRules[] = {
    {"Direct", IsDirect},
    {"Cross-network", IsCrossNetwork},
    {"Paid Shopping", IsPaidShopping},
    {"Paid Search", IsPaidSearch},
    {"Paid Social", IsPaidSocial},
    {"Paid Video", IsPaidVideo},
    {"Display", IsDisplay},
    {"Paid Other", IsPaidOther},
    {"Organic Shopping", IsOrganicShopping},
    {"Organic Social", IsOrganicSocial},
    {"Organic Video", IsOrganicVideo},
    {"Organic Search", IsOrganicSearch},
    {"Referral", IsReferral},
    {"Email", IsEmail},
    {"Affiliates", IsAffiliate},
    {"Audio", IsAudio},
    {"SMS", IsSms},
    {"Mobile Push Notifications", IsMobilePush},
};
constexpr const char* kUnassigned = "Unassigned";

// The referrer's host when it is another site; "" for none, garbage, or our own site.
std::string ExternalReferrerHost(std::string_view referrer, std::string_view page_host) {
  std::string host = HostOf(referrer);
  if (host.empty()) return "";
  std::string page = PageHost(page_host);
  if (!page.empty() && (host == page || EndsWith(host, "." + page))) return "";
  return host;
}

}  // namespace

std::string TouchSource(const std::map<std::string, std::string>& campaign,
                        std::string_view referrer) {
  auto utm = campaign.find("utm_source");
  if (utm != campaign.end() && !utm->second.empty()) return utm->second;
  std::string host = HostOf(referrer);
  return host.empty() ? "(direct)" : host;
}

std::string HostOf(std::string_view url) {
  url = Trim(url);
  std::string_view rest;
  bool bare = false;
  std::size_t scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos && IsScheme(url.substr(0, scheme_end))) {
    rest = url.substr(scheme_end + 3);
  } else if (StartsWith(url, "//")) {
    rest = url.substr(2);
  } else if (scheme_end == std::string_view::npos) {
    rest = url;
    bare = true;
  } else {
    return "";
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#\\"));
  std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    // "user@host" without a scheme is an email address or a mailto: target, not a page.
    if (bare) return "";
    authority = authority.substr(at + 1);
  }
  std::string host = HostFromAuthority(authority);
  // Without a scheme only something shaped like a domain counts ("example.com/x", not "hello").
  if (bare && !Contains(host, ".")) return "";
  return host;
}

std::string LandingChannel(const std::map<std::string, std::string>& campaign,
                           std::string_view referrer, std::string_view page_url) {
  const std::string page_host = HostOf(page_url);
  bool tagged = false;
  for (const auto& [key, value] : campaign) tagged = tagged || !Trim(value).empty();
  if (!tagged && ExternalReferrerHost(referrer, page_host).empty()) return "";
  return ClassifyChannel(campaign, referrer, page_host);
}

std::string ClassifyChannel(const std::map<std::string, std::string>& campaign,
                            std::string_view referrer, std::string_view page_host) {
  Traffic t;
  t.campaign = Lower(Param(campaign, "utm_campaign"));
  std::string_view utm_source = Param(campaign, "utm_source");
  std::string_view utm_medium = Param(campaign, "utm_medium");
  const ClickId* click = nullptr;
  for (const ClickId& id : kPaidClickIds) {
    if (!Param(campaign, id.param).empty()) {
      click = &id;
      break;
    }
  }
  if (!utm_source.empty() || !utm_medium.empty()) {
    // Explicit tagging wins over click ids, as with GA4's manual-tagging override.
    t.source = utm_source.empty() ? "(not set)" : Lower(utm_source);
    t.medium = utm_medium.empty() ? "(not set)" : Lower(utm_medium);
  } else if (click != nullptr) {
    t.source = std::string(click->source);
    t.medium = std::string(click->medium);
  } else if (std::string host = ExternalReferrerHost(referrer, page_host); !host.empty()) {
    t.medium = CategoriesOf(host).search ? "organic" : "referral";
    t.source = std::move(host);
  } else if (!Param(campaign, "fbclid").empty()) {
    // After the referrer: when the browser sent one (l.instagram.com, a blog) it says more about
    // where the click happened than an id Facebook stamps on every outbound link.
    t.source = "facebook";
    t.medium = "referral";
  } else {
    t.source = "(direct)";
    t.medium = "(none)";
  }
  const SiteCategories sites = CategoriesOf(t.source);
  t.shopping_site = sites.shopping;
  t.search_site = sites.search;
  t.social_site = sites.social;
  t.video_site = sites.video;
  t.paid = IsPaidMedium(t.medium);
  t.shopping_campaign = IsShoppingCampaign(t.campaign);
  for (const Rule& rule : kRules) {
    if (rule.matches(t)) return rule.channel;
  }
  return kUnassigned;
}

SourceCategory Ga4SourceCategory(std::string_view source) {
  // The table sorted once by lowercased source; a lookup is a binary search.
  struct Entry {
    std::string source;
    SourceCategory category;
  };
  static const std::vector<Entry> sorted = [] {
    std::vector<Entry> out;
    out.reserve(internal::kGa4SourceCount);
    for (std::size_t i = 0; i < internal::kGa4SourceCount; ++i) {
      const auto& row = internal::kGa4Sources[i];
      const char c = row.category;
      out.push_back({Lower(row.source), c == 'E'   ? SourceCategory::kSearch
                                        : c == 'O' ? SourceCategory::kSocial
                                        : c == 'H' ? SourceCategory::kShopping
                                                   : SourceCategory::kVideo});
    }
    std::sort(out.begin(), out.end(),
              [](const Entry& a, const Entry& b) { return a.source < b.source; });
    return out;
  }();
  const std::string key = Lower(Trim(source));
  auto it = std::lower_bound(sorted.begin(), sorted.end(), key,
                             [](const Entry& e, const std::string& k) { return e.source < k; });
  return it != sorted.end() && it->source == key ? it->category : SourceCategory::kNone;
}

const std::vector<std::string>& ChannelNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Rule& rule : kRules) out.emplace_back(rule.channel);
    out.emplace_back(kUnassigned);
    return out;
  }();
  return names;
}

}  // namespace waymark
