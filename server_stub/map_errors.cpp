#include "map_errors.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "waymark/journey_map.h"
#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

// One step of a path: a member name or an array index.
struct Step {
  bool index = false;
  std::string key;
  std::size_t at = 0;
};

// "a.b[3].c" against `doc`: member names may hold dots (a property name), so a name is the
// longest run of dot-joined parts that the object has.
std::optional<std::vector<Step>> Resolve(const json& doc, const std::string& path) {
  std::vector<Step> out;
  const json* node = &doc;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      const std::size_t close = path.find(']', i);
      if (close == std::string::npos || !node->is_array()) return std::nullopt;
      std::size_t at = 0;
      for (std::size_t k = i + 1; k < close; ++k) {
        if (path[k] < '0' || path[k] > '9') return std::nullopt;
        at = at * 10 + static_cast<std::size_t>(path[k] - '0');
      }
      if (at >= node->size()) return std::nullopt;
      out.push_back({true, "", at});
      node = &(*node)[at];
      i = close + 1;
      continue;
    }
    if (!node->is_object()) return std::nullopt;
    // The longest candidate name first.
    std::size_t end = path.find('[', i);
    if (end == std::string::npos) end = path.size();
    std::optional<std::string> found;
    for (std::size_t stop = end; stop > i; --stop) {
      if (stop != end && path[stop] != '.') continue;
      const std::string key = path.substr(i, stop - i);
      if (node->contains(key)) {
        found = key;
        i = stop;
        break;
      }
    }
    if (!found) return std::nullopt;
    out.push_back({false, *found, 0});
    node = &(*node)[*found];
  }
  return out;
}

std::string Render(const std::vector<Step>& steps) {
  std::string out;
  for (const Step& s : steps) {
    if (s.index) {
      out += "[" + std::to_string(s.at) + "]";
    } else {
      out += (out.empty() ? "" : ".") + s.key;
    }
  }
  return out;
}

// Removed array elements, by the original path of their array, as original indices.
using Removed = std::map<std::string, std::vector<std::size_t>>;

// The original index of the `at`-th remaining element of an array.
std::size_t OriginalIndex(const std::vector<std::size_t>& removed, std::size_t at) {
  std::size_t original = 0;
  std::size_t seen = 0;
  for (;; ++original) {
    if (std::binary_search(removed.begin(), removed.end(), original)) continue;
    if (seen == at) return original;
    ++seen;
  }
}

std::vector<Step> ToOriginal(const std::vector<Step>& steps, const Removed& removed) {
  std::vector<Step> out;
  for (const Step& s : steps) {
    Step o = s;
    if (s.index) {
      auto it = removed.find(Render(out));
      if (it != removed.end()) o.at = OriginalIndex(it->second, s.at);
    }
    out.push_back(o);
  }
  return out;
}

// "path: what" of a core map error, split.
std::pair<std::string, std::string> Split(const std::string& message) {
  const std::size_t colon = message.find(": ");
  if (colon == std::string::npos) return {"", message};
  std::string path = message.substr(0, colon);
  if (path == "map") path.clear();
  return {path, message.substr(colon + 2)};
}

}  // namespace

std::vector<MapProblem> ListMapProblems(std::string_view text, std::size_t limit) {
  std::vector<MapProblem> out;
  auto first = ParseJourneyMap(text);
  if (first) return out;
  if (first.error().code != "invalid_map") {
    out.push_back({"", first.error().message});
    return out;
  }
  auto parsed = ParseJson(text, kMaxMapBytes, kMaxMapDepth);
  if (!parsed) {
    out.push_back({"", first.error().message});
    return out;
  }
  json doc = std::move(parsed).value();
  Removed removed;
  std::string message = first.error().message;
  while (out.size() < limit) {
    auto [path, what] = Split(message);
    auto steps = Resolve(doc, path);
    // A missing member is named by its own path: its parent is what is set aside.
    if (!steps && what == "required") {
      const std::size_t cut = path.find_last_of(".[");
      if (cut != std::string::npos) steps = Resolve(doc, path.substr(0, cut));
    }
    const std::string original = steps ? Render(ToOriginal(*steps, removed)) : path;
    // The same field again (its removal left it missing): not a new problem; its element goes.
    const bool again_here = !out.empty() && out.back().path == original;
    if (!again_here) out.push_back({original, what});
    if (!steps || steps->empty()) break;
    // A bad or missing required member (a stage's id) takes its element with it: set aside the
    // closest array element on the path instead of leaving the element half made.
    if (again_here || what == "required" || (steps->back().key == "id" && steps->size() >= 2)) {
      while (!steps->empty() && !steps->back().index) steps->pop_back();
      if (steps->empty()) break;
    }
    // Remove the node.
    json* parent = &doc;
    for (std::size_t k = 0; k + 1 < steps->size(); ++k) {
      const Step& s = (*steps)[k];
      parent = s.index ? &(*parent)[s.at] : &(*parent)[s.key];
    }
    const Step& last = steps->back();
    if (last.index) {
      std::vector<Step> array_path(steps->begin(), steps->end() - 1);
      const std::vector<Step> original_array = ToOriginal(array_path, removed);
      auto& list = removed[Render(original_array)];
      const std::size_t at = OriginalIndex(list, last.at);
      list.insert(std::upper_bound(list.begin(), list.end(), at), at);
      parent->erase(last.at);
    } else {
      parent->erase(last.key);
    }
    auto again = ParseJourneyMap(doc.dump());
    if (again) break;
    if (again.error().message == message) break;  // nothing moved: stop rather than loop
    message = again.error().message;
  }
  return out;
}

}  // namespace waymark::collector
