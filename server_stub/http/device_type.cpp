#include "http/device_type.h"

#include <algorithm>
#include <cctype>

namespace waymark::collector {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, char b) {
                       return std::tolower(static_cast<unsigned char>(a)) ==
                              std::tolower(static_cast<unsigned char>(b));
                     }) != haystack.end();
}

}  // namespace

std::string DeviceType(std::string_view ua) {
  // Only the head of a header is looked at: a megabyte of User-Agent costs no more.
  if (ua.size() > 512) ua = ua.substr(0, 512);
  if (ua.empty()) return "other";
  for (std::string_view bot : {"bot", "crawler", "spider", "headless", "lighthouse", "slurp"}) {
    if (Contains(ua, bot)) return "bot";
  }
  // Tablets first: an iPad or an Android tablet (Android without "Mobile") also reads as mobile
  // below.
  if (Contains(ua, "ipad") || Contains(ua, "tablet") ||
      (Contains(ua, "android") && !Contains(ua, "mobile"))) {
    return "tablet";
  }
  if (Contains(ua, "mobi") || Contains(ua, "iphone") || Contains(ua, "ipod") ||
      Contains(ua, "android")) {
    return "mobile";
  }
  if (Contains(ua, "windows nt") || Contains(ua, "macintosh") || Contains(ua, "x11") ||
      Contains(ua, " cros ") || Contains(ua, "linux")) {
    return "desktop";
  }
  return "other";
}

}  // namespace waymark::collector
