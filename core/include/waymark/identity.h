// Identity: guards against placeholder ids and deterministic merging of two visitors' logs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "waymark/event.h"
#include "waymark/result.h"

namespace waymark {

/// True when `id` must never be used as an identity: empty, whitespace, too long (> 256 bytes),
/// or a placeholder such as "null", "undefined", "0", "anonymous", "guest", "[object Object]",
/// the nil UUID (compared case-insensitively, trimmed), or one of `extra` (the map's list).
bool IsBlockedId(std::string_view id, const std::vector<std::string>& extra = {});

/// What an event's user id does to the device (anonymous id) that sent it, given the known user
/// the device is linked to ("" for none): kNoUser (no id, or a placeholder: the device stays as
/// it is), kSameUser, kLink (the device's first known user: link it), kConflict (another known
/// user than the device's: never merged; the device keeps its first user). The collector's
/// identity graph and MergeLogs apply this one rule.
enum class UserLink { kNoUser, kSameUser, kLink, kConflict };
UserLink LinkUser(std::string_view linked_user, std::string_view event_user,
                  const std::vector<std::string>& blocked = {});

/// Merges two visitors' event logs into one, in JourneyOrder, with duplicate event ids dropped.
/// Deterministic whatever the argument order. Error `identity_conflict` when the logs carry two
/// different known user ids: two known users are never merged. Ids in `blocked` (the map's
/// identity.blocked_ids) count as no identity, like the built-in placeholders.
Result<std::vector<Event>> MergeLogs(const std::vector<Event>& a, const std::vector<Event>& b,
                                     const std::vector<std::string>& blocked = {});

/// The order a journey's events are replayed in, as indices into `events`: each device's (anonymous
/// id's) events in the order the device made them (sequence number, then time, then id), and the
/// devices interleaved by time (the device whose next event is the earliest goes first, ties by
/// anonymous id). So a device's event that arrives late with an earlier clock stays after what the
/// device made before it, as in the browser. MergeLogs and the collector's replays use it.
std::vector<std::size_t> JourneyOrder(const std::vector<const Event*>& events);

}  // namespace waymark
