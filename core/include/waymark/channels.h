// Marketing channel classification of a landing, modelled on GA4's default channel group so the
// numbers waymark reports can be compared with what marketers already see in Google Analytics.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace waymark {

/// Host of a URL, lowercased, without port and without a leading "www." ("" when none).
/// Accepts `scheme://host/...`, protocol-relative `//host/...` and a bare `host.tld/...`; userinfo
/// and a trailing dot are dropped. Returns "" for anything that is not a plausible host (spaces,
/// control bytes, invalid UTF-8, empty labels), so garbage never becomes a traffic source.
std::string HostOf(std::string_view url);

/// Where a landing came from within its channel, for reports: its utm_source, else its
/// referrer's host (HostOf), else "(direct)". `campaign` as in ClassifyChannel.
std::string TouchSource(const std::map<std::string, std::string>& campaign,
                        std::string_view referrer);

/// Classifies a landing to a GA4-style default channel group.
/// campaign: utm_source, utm_medium, utm_campaign, utm_term, utm_content, utm_id and click ids
/// (gclid, gbraid, wbraid, dclid, msclkid, fbclid, ttclid, twclid, li_fat_id, ...), as in the
/// landing URL (already percent-decoded; keys and values are matched case-insensitively, empty
/// values count as absent).
/// referrer: full referrer URL or "". page_host: host of the page itself (a referrer on the same
/// site, or a subdomain of it, is internal navigation, i.e. no referrer).
///
/// Source and medium are derived in this order: utm_source/utm_medium when either is present
/// (a missing one is "(not set)"); else a paid click id (gclid, gbraid, wbraid, msclkid, dclid,
/// ttclid, twclid, li_fat_id, ...); else an external referrer (medium "organic" for a known search
/// engine, "referral" otherwise); else fbclid (organic Facebook); else "(direct)" / "(none)".
/// GA4's ordered rules are then applied to source, medium and utm_campaign.
std::string ClassifyChannel(const std::map<std::string, std::string>& campaign,
                            std::string_view referrer, std::string_view page_host);

/// The channel of a landing, or "" when the page view is no landing: a landing carries campaign
/// parameters or an external referrer (one outside the page's site, see ClassifyChannel); internal
/// navigation and a visit without either are not touches. The one owner of that test: the engine
/// (browser and collector) and the stats call it.
std::string LandingChannel(const std::map<std::string, std::string>& campaign,
                           std::string_view referrer, std::string_view page_url);

/// All channel names the classifier can return, in display order.
const std::vector<std::string>& ChannelNames();

/// GA4's published source categories (core/data/ga4-source-categories.csv, compiled in).
enum class SourceCategory { kNone, kSearch, kSocial, kShopping, kVideo };

/// The category GA4 lists `source` under, compared case-insensitively and exactly (a source is a
/// utm_source value or a referrer host without "www."); kNone when the list does not name it.
SourceCategory Ga4SourceCategory(std::string_view source);

}  // namespace waymark
