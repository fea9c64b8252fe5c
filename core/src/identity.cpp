#include "waymark/identity.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <tuple>

namespace waymark {

namespace {
// Values that SDKs and forms produce when the real id is missing; merging on them would join
// unrelated visitors into one journey.
constexpr const char* kPlaceholders[] = {"null",
                                         "undefined",
                                         "nil",
                                         "none",
                                         "nan",
                                         "0",
                                         "-1",
                                         "anonymous",
                                         "anon",
                                         "guest",
                                         "unknown",
                                         "[object object]",
                                         "true",
                                         "false",
                                         "n/a",
                                         "na",
                                         "not set",
                                         "(not set)",
                                         "not_set",
                                         "user_id",
                                         "userid",
                                         "{{user_id}}",
                                         "00000000-0000-0000-0000-000000000000",
                                         "-",
                                         "''",
                                         "\"\""};
}  // namespace

bool IsBlockedId(std::string_view id, const std::vector<std::string>& extra) {
  if (id.size() > 256) return true;
  std::size_t b = 0, e = id.size();
  while (b < e && std::isspace(static_cast<unsigned char>(id[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(id[e - 1]))) --e;
  if (b == e) return true;
  std::string lower;
  for (std::size_t i = b; i < e; ++i) {
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(id[i])));
  }
  for (const char* p : kPlaceholders) {
    if (lower == p) return true;
  }
  for (const auto& x : extra) {
    std::size_t xb = 0, xe = x.size();
    while (xb < xe && std::isspace(static_cast<unsigned char>(x[xb]))) ++xb;
    while (xe > xb && std::isspace(static_cast<unsigned char>(x[xe - 1]))) --xe;
    std::string lx;
    for (std::size_t i = xb; i < xe; ++i) {
      lx += static_cast<char>(std::tolower(static_cast<unsigned char>(x[i])));
    }
    if (lower == lx) return true;
  }
  return false;
}

UserLink LinkUser(std::string_view linked_user, std::string_view event_user,
                  const std::vector<std::string>& blocked) {
  if (event_user.empty() || IsBlockedId(event_user, blocked)) return UserLink::kNoUser;
  if (linked_user.empty()) return UserLink::kLink;
  return linked_user == event_user ? UserLink::kSameUser : UserLink::kConflict;
}

std::vector<std::size_t> JourneyOrder(const std::vector<const Event*>& events) {
  // Each device's events in the order it made them.
  std::map<std::string_view, std::vector<std::size_t>> devices;
  for (std::size_t i = 0; i < events.size(); ++i) devices[events[i]->anonymous_id].push_back(i);
  std::vector<std::vector<std::size_t>*> queues;
  for (auto& [device, list] : devices) {
    std::stable_sort(list.begin(), list.end(), [&](std::size_t x, std::size_t y) {
      const Event& a = *events[x];
      const Event& b = *events[y];
      if (a.seq != b.seq) return a.seq < b.seq;
      if (a.time != b.time) return a.time < b.time;
      return a.id < b.id;
    });
    queues.push_back(&list);
  }
  // The devices interleaved: the earliest next event first (queues are in anonymous id order, so
  // a tie goes to the smaller id). A heap of (time, queue, position).
  using Head = std::tuple<TimeMs, std::size_t, std::size_t>;
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heads;
  for (std::size_t q = 0; q < queues.size(); ++q)
    heads.emplace(events[(*queues[q])[0]]->time, q, 0);
  std::vector<std::size_t> order;
  order.reserve(events.size());
  while (!heads.empty()) {
    auto [time, q, pos] = heads.top();
    heads.pop();
    order.push_back((*queues[q])[pos]);
    if (pos + 1 < queues[q]->size()) heads.emplace(events[(*queues[q])[pos + 1]]->time, q, pos + 1);
  }
  return order;
}

Result<std::vector<Event>> MergeLogs(const std::vector<Event>& a, const std::vector<Event>& b,
                                     const std::vector<std::string>& blocked) {
  std::string user;  // the first known user met
  for (const auto* log : {&a, &b}) {
    for (const auto& e : *log) {
      switch (LinkUser(user, e.user_id, blocked)) {
        case UserLink::kLink:
          user = e.user_id;
          break;
        case UserLink::kConflict: {
          const auto [first, second] = std::minmax(user, e.user_id);
          return MakeError("identity_conflict", "the logs belong to different known users (\"" +
                                                    first + "\" and \"" + second +
                                                    "\"); known users are never merged");
        }
        case UserLink::kNoUser:
        case UserLink::kSameUser:
          break;
      }
    }
  }
  std::vector<const Event*> all;
  all.reserve(a.size() + b.size());
  for (const auto* log : {&a, &b}) {
    for (const auto& e : *log) all.push_back(&e);
  }
  std::set<std::string> seen;
  std::vector<Event> out;
  out.reserve(all.size());
  for (std::size_t i : JourneyOrder(all)) {
    if (seen.insert(all[i]->id).second) out.push_back(*all[i]);
  }
  return out;
}

}  // namespace waymark
