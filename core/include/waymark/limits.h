// The product's size limits, with one owner. The engine's EventLimits, the collector's default
// caps (config.h) and the SDK (js/src/limits.js, written from this file by scripts/gen-limits.mjs
// at build time and checked by tests/js/limits.test.mjs) all read these, so a browser never packs
// a batch the collector refuses by default.
//
// Keep each limit on one line as `inline constexpr std::size_t kName = <digits and *>;`:
// the generator reads that form and refuses anything else.
#pragma once

#include <cstddef>

namespace waymark {

/// Serialized size of one event envelope.
inline constexpr std::size_t kMaxEventBytes = 32 * 1024;
/// Length of an event name.
inline constexpr std::size_t kMaxNameLength = 64;
/// Length of an id (event id, anonymous id, user id).
inline constexpr std::size_t kMaxIdLength = 64;
/// Top-level keys of an event's properties (and of one identify call's traits).
inline constexpr std::size_t kMaxProperties = 64;
/// Nesting depth of properties; the properties object itself is depth 1.
inline constexpr std::size_t kMaxPropertyDepth = 4;
/// Serialized bytes of the traits one identify() call gives.
inline constexpr std::size_t kMaxTraitsBytes = 16 * 1024;
/// Bytes of one string value.
inline constexpr std::size_t kMaxStringLength = 2048;
/// Events in one batch (POST /v1/batch).
inline constexpr std::size_t kMaxBatchEvents = 500;
/// Bytes of one batch body as the SDK packs it: under the keepalive budget with room to spare.
inline constexpr std::size_t kMaxBatchBytes = 60000;
/// Bytes browsers allow in flight across all keepalive requests (fetch keepalive, sendBeacon) of
/// one page.
inline constexpr std::size_t kKeepaliveBudget = 64 * 1024;

}  // namespace waymark
