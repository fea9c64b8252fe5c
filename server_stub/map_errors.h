// Every error of an invalid journey map, not only the first. The core stops at the first error
// (ParseJourneyMap); to list the others, the field it names is set aside (removed from a copy of
// the document: the member itself, or the whole element when a required member is missing or a
// stage's id is bad) and the copy parsed again, up to a limit. Paths are reported in the
// original document's terms (array indices are mapped back past removed elements). An error
// after the first can follow from an earlier one (a stage set aside makes the transitions that
// name it unknown): the first is always exact.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace waymark::collector {

struct MapProblem {
  std::string path;     ///< "transitions[2].when", "" for the whole document
  std::string message;  ///< the core's message, without the path
};

constexpr std::size_t kMaxMapProblems = 25;

/// The problems of `text` as a journey map, the core's first error first; empty when it is a
/// valid map. A document that is not JSON (or too large, too deep) has one problem.
std::vector<MapProblem> ListMapProblems(std::string_view text, std::size_t limit = kMaxMapProblems);

}  // namespace waymark::collector
