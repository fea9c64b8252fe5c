// Helpers shared by the core tests.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "waymark/default_map.h"
#include "waymark/engine.h"
#include "waymark/journey_map.h"

namespace waymark::testing_util {

constexpr TimeMs kT0 = 1700000000000;

/// The whole file, or "" when it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::shared_ptr<const JourneyMap> DefaultMap() {
  auto map = ParseJourneyMap(DefaultMapJson());
  return map.ok() ? map.value() : nullptr;
}

inline std::shared_ptr<const JourneyMap> MapOrNull(const std::string& text) {
  auto map = ParseJourneyMap(text);
  return map.ok() ? map.value() : nullptr;
}

inline Event MakeEvent(const std::string& id, const std::string& name, TimeMs time,
                       json properties = json::object()) {
  Event e;
  e.id = id;
  e.anonymous_id = "anon-1";
  e.name = name;
  e.time = time;
  e.properties = std::move(properties);
  return e;
}

}  // namespace waymark::testing_util
