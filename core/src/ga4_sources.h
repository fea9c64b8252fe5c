// GA4's source categories as a table (generated from core/data/ga4-source-categories.csv by
// core/CMakeLists.txt into the build folder's ga4_sources.cpp); channels.cpp looks sources up.
#pragma once

#include <cstddef>

namespace waymark::internal {

struct Ga4Source {
  const char* source;  ///< as Google lists it (may have capitals: "Google Shopping")
  char category;       ///< 'E' search, 'O' social, 'H' shopping, 'V' video
};

extern const Ga4Source kGa4Sources[];
extern const std::size_t kGa4SourceCount;

}  // namespace waymark::internal
