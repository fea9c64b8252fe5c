// Shared by the engine's source files; not part of the public API.
#pragma once

#include <vector>

#include "waymark/engine.h"

namespace waymark {

/// What a condition is evaluated against: the current event (null outside event processing, e.g.
/// content decisions and timed transitions) and the time.
struct Engine::ConditionScope {
  const Touchpoint* tp;
  TimeMs now;
};

namespace internal {

inline const std::vector<std::size_t>& SortedTransitions(const JourneyMap& map) {
  return map.transition_order;
}

}  // namespace internal
}  // namespace waymark
