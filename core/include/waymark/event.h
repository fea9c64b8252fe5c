// The event envelope: one touchpoint, as produced by the SDK and stored by the collector.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "waymark/duration.h"
#include "waymark/json_util.h"
#include "waymark/limits.h"
#include "waymark/result.h"

namespace waymark {

/// Where the event happened and how the visitor arrived.
struct EventContext {
  std::string url;
  std::string path;
  std::string title;
  std::string referrer;
  /// utm_source, utm_medium, utm_campaign, utm_term, utm_content, utm_id and click ids
  /// (gclid, gbraid, wbraid, dclid, msclkid, fbclid, ttclid, twclid, li_fat_id, ...).
  std::map<std::string, std::string> campaign;
  /// The channel the campaign/referrer classify to (see channels.h); set on landing events only.
  std::string channel;
  /// Set by the SDK when the browser is driven by automation (navigator.webdriver, a headless
  /// user agent). Flagged, never dropped: the site decides what to do with bot traffic.
  bool automation = false;
};

struct Event {
  std::string id;              ///< unique per event (UUIDv7 from the SDK); the idempotency key
  std::int64_t seq = 0;        ///< per-device sequence number, breaks ties in time order
  std::string anonymous_id;    ///< first-party device id
  std::string user_id;         ///< known user id, empty until identify()
  std::string name;            ///< canonical snake_case object_action after alias resolution
  std::string type = "track";  ///< track | page | identify | alias | screen
  TimeMs time = 0;             ///< device time the event happened (ms since epoch)
  TimeMs sent_at = 0;          ///< device time the batch was sent, 0 when unknown
  json properties = json::object();
  EventContext context;
  /// A hash of all the event's properties, set by the browser's typed path (wasm/typed_track.h),
  /// where `properties` holds only the values the map reads; 0 when unknown. The fold check
  /// compares it instead of the properties (SameProperties).
  std::uint64_t fingerprint = 0;
  /// Traits an identify() call gave, carried by its `user_identified` event so that the collector
  /// merges the same traits into the journey as the browser did (null when none). The engine
  /// merges them on Track (before the event's conditions); a replay merges them again.
  json traits;
};

/// Limits every event is checked against. Defaults are the documented product limits.
struct EventLimits {
  std::size_t max_name_length = kMaxNameLength;
  std::size_t max_id_length = kMaxIdLength;
  std::size_t max_properties = kMaxProperties;
  int max_property_depth = static_cast<int>(kMaxPropertyDepth);  ///< properties itself is depth 1
  std::size_t max_string_length = kMaxStringLength;
  std::size_t max_event_bytes = kMaxEventBytes;
};

/// What the sender measured of an envelope it did not hand over whole (the browser's typed path):
/// checked against EventLimits by CheckEnvelopeFacts with the same errors as EventFromJson.
struct EnvelopeFacts {
  std::size_t bytes = 0;       ///< compactly serialized size of the whole envelope
  std::size_t properties = 0;  ///< top-level property count
  int depth = 1;               ///< nesting depth of properties (the object itself is 1)
};

/// `event_too_large`, `too_many_properties` or `too_deep` when the facts break the limits.
Status CheckEnvelopeFacts(const EnvelopeFacts& facts, const EventLimits& limits);

/// `invalid_traits` unless `traits` is null or an object of at most max_properties keys, depth
/// max_property_depth and 16 KB serialized: what one identify() call (or its event) may carry.
Status CheckTraits(const json& traits, const EventLimits& limits);

/// Checks the fields of an event built from typed data, with EventFromJson's errors: id and name
/// required, lengths, type, UTF-8. Properties are checked by the sender's facts instead.
Status CheckEventFields(const Event& event, const EventLimits& limits);

/// Whether two events carry the same properties: by fingerprint when either has one (an event
/// with one holds only some of its properties, so it never equals one without), else by value.
bool SameProperties(const Event& a, const Event& b);

/// True for snake_case `object_action` names: lowercase ASCII letters and digits, starting with
/// a letter, at least two words joined by single underscores (`pricing_viewed`).
bool IsConventionalEventName(std::string_view name);

/// Validates and converts a JSON envelope. Accepts `time` and `sent_at` in ms. The raw name is
/// kept; canonicalization against the map's registry happens in EventRegistry. Error codes:
/// `invalid_event` (shape or type, the message names the field), `event_too_large`,
/// `too_many_properties`, `too_deep`, `string_too_long`, `invalid_utf8`.
Result<Event> EventFromJson(const json& value, const EventLimits& limits = EventLimits());

/// Parses and validates an envelope from text (size and depth checked before parsing).
Result<Event> ParseEvent(std::string_view text, const EventLimits& limits = EventLimits());

/// The envelope as JSON; empty optional fields are omitted.
json EventToJson(const Event& event);

/// Reads a dotted field path from an event: `name`, `type`, `properties.a.b`, `context.path`,
/// `context.url`, `context.title`, `context.referrer`, `context.channel`,
/// `context.campaign.utm_source`. Returns nullptr when absent.
const json* EventField(const Event& event, std::string_view path, json* scratch);

}  // namespace waymark
