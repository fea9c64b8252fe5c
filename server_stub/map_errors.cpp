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
  // Every field set aside, by its original path: a later error there is what its removal left
  // (a member now missing), not a new problem.
  std::vector<std::string> set_aside;
  while (out.size() < limit) {
    auto [path, what] = Split(message);
    // The longest part of the path that exists: all of it, or the object a missing member
    // belongs to (its tail is member names, kept as written).
    std::optional<std::vector<Step>> steps = Resolve(doc, path);
    std::string tail;
    std::string prefix = path;
    while (!steps && !prefix.empty()) {
      const std::size_t cut = prefix.find_last_of(".[");
      if (cut == std::string::npos) break;
      tail = prefix.substr(cut) + tail;
      prefix = prefix.substr(0, cut);
      steps = Resolve(doc, prefix);
    }
    if (!steps) break;  // not a path of this document: nothing more can be set aside
    const std::string original = Render(ToOriginal(*steps, removed)) + tail;
    bool known = false;
    for (const auto& p : set_aside) known = known || p == original;
    if (!known) out.push_back({original, what});
    if (steps->empty()) break;
    // A bad required member (a stage's id), a member missing, or one set aside before that is
    // still wrong: the closest array element on the path goes whole, instead of leaving it half
    // made.
    if (known || !tail.empty() || what == "required" ||
        (steps->back().key == "id" && steps->size() >= 2)) {
      while (!steps->empty() && !steps->back().index) steps->pop_back();
      if (steps->empty()) break;
    }
    set_aside.push_back(Render(ToOriginal(*steps, removed)));
    // Remove the node.
    json* parent = &doc;
    for (std::size_t k = 0; k + 1 < steps->size(); ++k) {
      const Step& st = (*steps)[k];
      parent = st.index ? &(*parent)[st.at] : &(*parent)[st.key];
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
    if (again.error().message == message && known) break;  // nothing moved: stop, never loop
    message = again.error().message;
  }
  return out;
}

}  // namespace waymark::collector
