// The browser's per-event boundary (issue 12): events cross into the engine as typed records in
// wasm memory and outcomes cross back the same way, with no JSON text per event. js/src/record.js
// writes the records and reads the outcomes; this file is the other side. The engine sees an
// event's ids, name, type, times and context, and of its properties only the values the map's
// conditions read (JourneyMap::property_reads) plus a fingerprint of all of them for the fold
// check; the envelope itself stays in JavaScript, which applies the core's sync decision to it.
//
// All numbers little-endian; str = u32 byte length, then UTF-8 bytes.
//
// Records (JS -> wasm): u32 count, then per event u8 kind:
//   kind 0, typed: str id, str name, str type, str anonymous_id, str user_id,
//     f64 time, f64 sent_at, f64 seq, str url, str path, str title, str referrer, str channel,
//     u8 automation, u8 campaign count + (str key, str value) each,
//     f64 fingerprint (an integer below 2^53, 0 = none), u32 envelope bytes (compact JSON),
//     u16 property count, u8 property depth,
//     u16 read count + (u16 index into property_reads, u8 tag, value) each; tags: 0 null,
//     1 false, 2 true, 3 f64 number, 4 str string, 5 str JSON text (an object or array).
//   kind 1, envelope as JSON text: str. The encoder sends this for what it cannot type (a field
//     of the wrong type, a size near a limit), so the core's JSON validation answers as before.
//
// Outcomes (wasm -> JS): str stage before the batch, then per event:
//   u8 status (0 accepted, 1 folded, 2 throttled, 3 rejected), u8 flags (1 send, 2 name follows:
//   the canonical name differs from the given one, 4 channel follows: the engine classified the
//   landing, 8 user_id dropped: a placeholder id), u16 sync filter (index into MapInfoJson's
//   filters; 0xFFFF when not sent), [str name], [str channel],
//   rejected: str code, str message; otherwise
//   u16 transitions + (str from, str to, f64 at, str event_id, str rule, f64 map_version) each,
//   u16 triggers + (str trigger, str from, str to, f64 at, str event_id, str rule) each.
#pragma once

#include <string>
#include <string_view>

#include "waymark/engine.h"
#include "waymark/result.h"

namespace waymark::wasm {

/// Tracks a batch of records through `engine` and writes the outcomes to `out`. A malformed
/// batch (truncated, a bad tag) is an `invalid_batch` error and tracks nothing after the bad
/// record; each event's own problems are its outcome (`rejected` with the core's error).
Status TrackRecords(Engine& engine, std::string_view records, std::string* out);

/// What the SDK needs of a map, as JSON (once per map, not per event): {"id", "version", "names":
/// the registry's event names and aliases, "reads": [property paths], "filters": [null |
/// [property names], ...]}; filter 0 is the map's default, then the stages' filters in stage id
/// order; null = all properties.
std::string MapInfoJson(const JourneyMap& map);

}  // namespace waymark::wasm
