#include "waymark/attribution.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>

#include "waymark/det_math.h"
#include "waymark/json_util.h"

namespace waymark {

namespace {

struct ModelEntry {
  AttributionModel model;
  const char* name;
};

// One table so ModelName, ParseModel and AllModels cannot disagree.
constexpr ModelEntry kModels[] = {
    {AttributionModel::kFirstTouch, "first_touch"},
    {AttributionModel::kLastTouch, "last_touch"},
    {AttributionModel::kLastNonDirect, "last_non_direct"},
    {AttributionModel::kLinear, "linear"},
    {AttributionModel::kTimeDecay, "time_decay"},
    {AttributionModel::kPositionBased, "position_based"},
};

constexpr double kDefaultFirstWeight = 0.4;
constexpr double kDefaultLastWeight = 0.4;

// A model name is echoed back in the error only when it is short, valid text: the message may
// be shown in a UI or serialized, and a 10 KB or binary "name" helps nobody there.
constexpr std::size_t kMaxEchoedName = 64;

std::vector<double> OneHot(std::size_t n, std::size_t index) {
  std::vector<double> weights(n, 0.0);
  weights[index] = 1.0;
  return weights;
}

std::vector<double> Linear(std::size_t n) {
  return std::vector<double>(n, 1.0 / static_cast<double>(n));
}

std::vector<double> TimeDecay(const std::vector<Touch>& touches, TimeMs half_life) {
  if (half_life <= 0) return Linear(touches.size());
  // Ages are measured from the newest touch rather than from the conversion: the common factor
  // cancels in the normalization, and it keeps the newest weight at 1 so a path far older than
  // the half-life cannot underflow every weight to 0 and divide by zero.
  TimeMs newest = touches.front().at;
  for (const Touch& t : touches) newest = std::max(newest, t.at);
  std::vector<double> weights;
  weights.reserve(touches.size());
  double sum = 0;
  for (const Touch& t : touches) {
    // In double: the difference of two arbitrary int64 times can overflow int64.
    double age = static_cast<double>(newest) - static_cast<double>(t.at);
    double w = Exp2(-age / static_cast<double>(half_life));  // det_math.h: same bits everywhere
    weights.push_back(w);
    sum += w;
  }
  for (double& w : weights) w /= sum;
  return weights;
}

std::vector<double> PositionBased(std::size_t n, double first, double last) {
  bool valid =
      std::isfinite(first) && std::isfinite(last) && first >= 0 && last >= 0 && first + last <= 1.0;
  if (!valid) {
    first = kDefaultFirstWeight;
    last = kDefaultLastWeight;
  }
  std::vector<double> weights(n, 0.0);
  if (n == 1) {
    weights[0] = 1.0;
  } else if (n == 2) {
    double total = first + last;
    weights[0] = total > 0 ? first / total : 0.5;
    weights[1] = total > 0 ? last / total : 0.5;
  } else {
    double middle = (1.0 - first - last) / static_cast<double>(n - 2);
    for (double& w : weights) w = middle;
    weights.front() = first;
    weights.back() = last;
  }
  return weights;
}

std::vector<double> Weights(const std::vector<Touch>& touches, AttributionModel model,
                            const AttributionOptions& options) {
  std::size_t n = touches.size();
  switch (model) {
    case AttributionModel::kFirstTouch:
      return OneHot(n, 0);
    case AttributionModel::kLastTouch:
      return OneHot(n, n - 1);
    case AttributionModel::kLastNonDirect:
      for (std::size_t i = n; i-- > 0;) {
        if (touches[i].channel != "Direct") return OneHot(n, i);
      }
      return OneHot(n, n - 1);
    case AttributionModel::kLinear:
      return Linear(n);
    case AttributionModel::kTimeDecay:
      return TimeDecay(touches, options.half_life);
    case AttributionModel::kPositionBased:
      return PositionBased(n, options.first_weight, options.last_weight);
  }
  // An out-of-range enum value (a cast from a bad integer across the wasm boundary) must not
  // crash; last touch is the conventional default.
  return OneHot(n, n - 1);
}

}  // namespace

std::vector<Touch> DenoisePath(const std::vector<Touch>& path) {
  std::vector<Touch> out;
  for (const Touch& touch : path) {
    if (!out.empty() && out.back().channel == touch.channel) {
      out.back().at = std::max(out.back().at, touch.at);
      continue;
    }
    out.push_back(touch);
  }
  return out;
}

std::vector<Touch> PathInWindow(const std::vector<Touch>& path, TimeMs conversion_at,
                                TimeMs lookback) {
  std::vector<Touch> out;
  if (lookback < 0) return out;
  // Saturate instead of overflowing when the window reaches past the earliest representable time.
  constexpr TimeMs kMin = std::numeric_limits<TimeMs>::min();
  TimeMs start = conversion_at < kMin + lookback ? kMin : conversion_at - lookback;
  for (const Touch& touch : path) {
    if (touch.at <= conversion_at && touch.at >= start) out.push_back(touch);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Touch& a, const Touch& b) { return a.at < b.at; });
  return out;
}

std::vector<Credit> Attribute(const std::vector<Touch>& path, TimeMs conversion_at,
                              AttributionModel model, const AttributionOptions& options) {
  std::vector<Touch> touches = PathInWindow(path, conversion_at, options.lookback);
  if (options.collapse_repeats) touches = DenoisePath(touches);
  std::vector<Credit> credits;
  if (touches.empty()) return credits;
  std::vector<double> weights = Weights(touches, model, options);
  std::map<std::string, std::size_t> index;  // channel -> position in credits
  for (std::size_t i = 0; i < touches.size(); ++i) {
    auto [it, inserted] = index.emplace(touches[i].channel, credits.size());
    if (inserted) credits.push_back(Credit{touches[i].channel, 0.0});
    credits[it->second].credit += weights[i];
  }
  credits.erase(std::remove_if(credits.begin(), credits.end(),
                               [](const Credit& c) { return !(c.credit > 0); }),
                credits.end());
  return credits;
}

std::vector<TouchCredit> AttributeTouches(const std::vector<Touch>& path, TimeMs conversion_at,
                                          AttributionModel model,
                                          const AttributionOptions& options) {
  std::vector<Touch> window = PathInWindow(path, conversion_at, options.lookback);
  // Runs of one channel, as DenoisePath collapses them (each its own run without de-noising).
  std::vector<std::vector<std::size_t>> runs;
  std::vector<Touch> touches;
  for (std::size_t i = 0; i < window.size(); ++i) {
    if (options.collapse_repeats && !touches.empty() &&
        touches.back().channel == window[i].channel) {
      touches.back().at = std::max(touches.back().at, window[i].at);
      runs.back().push_back(i);
      continue;
    }
    touches.push_back(window[i]);
    runs.push_back({i});
  }
  std::vector<TouchCredit> out;
  if (touches.empty()) return out;
  std::vector<double> weights = Weights(touches, model, options);
  // A run's credit goes to the landing the model looks at: its first for first touch, its last
  // for last touch and last non-direct, shared evenly by its landings for the others.
  for (std::size_t r = 0; r < runs.size(); ++r) {
    if (!(weights[r] > 0)) continue;
    const auto& run = runs[r];
    if (model == AttributionModel::kFirstTouch) {
      out.push_back(TouchCredit{window[run.front()], weights[r]});
    } else if (model == AttributionModel::kLastTouch || model == AttributionModel::kLastNonDirect) {
      out.push_back(TouchCredit{window[run.back()], weights[r]});
    } else {
      const double share = weights[r] / static_cast<double>(run.size());
      for (std::size_t i : run) out.push_back(TouchCredit{window[i], share});
    }
  }
  return out;
}

const char* ModelName(AttributionModel model) {
  for (const ModelEntry& entry : kModels) {
    if (entry.model == model) return entry.name;
  }
  return "";
}

Result<AttributionModel> ParseModel(std::string_view name) {
  std::string expected;
  for (const ModelEntry& entry : kModels) {
    if (name == entry.name) return entry.model;
    expected += expected.empty() ? "" : ", ";
    expected += entry.name;
  }
  std::string message = "unknown attribution model";
  if (name.size() <= kMaxEchoedName && IsValidUtf8(name)) {
    message += " \"" + std::string(name) + "\"";
  }
  return MakeError("invalid_model", message + "; expected one of " + expected);
}

const std::vector<AttributionModel>& AllModels() {
  static const std::vector<AttributionModel> models = [] {
    std::vector<AttributionModel> out;
    for (const ModelEntry& entry : kModels) out.push_back(entry.model);
    return out;
  }();
  return models;
}

}  // namespace waymark
