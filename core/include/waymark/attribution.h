// Multi-touch attribution: how much of one conversion each marketing channel earned, given the
// channels of the visitor's earlier landings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "waymark/duration.h"
#include "waymark/result.h"

namespace waymark {

enum class AttributionModel {
  kFirstTouch,
  kLastTouch,
  kLastNonDirect,
  kLinear,
  kTimeDecay,
  kPositionBased
};

/// One landing on the path to a conversion: its channel (see channels.h) and when it happened;
/// where it came from within the channel (its utm_source, else the referrer's host, else
/// "(direct)"; and its utm_campaign), for reports. The models look at channel and time only.
struct Touch {
  std::string channel;
  TimeMs at = 0;
  std::string source;
  std::string campaign;
};

/// The share of one conversion credited to one touch of the (windowed, de-noised) path.
struct TouchCredit {
  Touch touch;
  double credit = 0;
};

/// The share of one conversion credited to a channel.
struct Credit {
  std::string channel;
  double credit = 0;
};

struct AttributionOptions {
  /// Touches older than conversion_at - lookback are ignored; a negative lookback keeps nothing.
  TimeMs lookback = 30 * kDay;
  /// Time-decay: weight = 2^(-(conversion_at - at) / half_life); 0 or less means linear.
  TimeMs half_life = 7 * kDay;
  /// Position-based shares of the first and last touch. Values that are negative, not finite or
  /// that sum above 1 fall back to the defaults 0.4 / 0.4, so credits always sum to 1.
  double first_weight = 0.4;
  double last_weight = 0.4;
  /// De-noise the path (DenoisePath) before applying the model.
  bool collapse_repeats = true;
};

/// Collapses consecutive touches of the same channel into one, keeping the most recent touch's
/// time.
std::vector<Touch> DenoisePath(const std::vector<Touch>& path);

/// Touches inside the lookback window (at <= conversion_at && at >= conversion_at - lookback),
/// in time order (stable: touches at the same time keep their input order).
std::vector<Touch> PathInWindow(const std::vector<Touch>& path, TimeMs conversion_at,
                                TimeMs lookback);

/// Credits per channel summing to 1 (empty when no touch in the window), ordered by each
/// channel's first appearance in the (windowed, de-noised) path. Only credited channels are
/// listed: a channel the model gives nothing (first touch's later touches) has no entry, so a
/// result reads the same as a channel -> credit map. The window is applied first,
/// then de-noising (when collapse_repeats), then the model; credits of touches sharing a channel
/// are summed.
/// - first_touch / last_touch: everything to the first / last touch.
/// - last_non_direct: the last touch whose channel is not "Direct"; the last touch if all are.
/// - linear: 1/n each.
/// - time_decay: 2^(-age / half_life) per touch, normalized.
/// - position_based: one touch gets 1; two split first_weight : last_weight; with three or more
///   the first and last get first_weight and last_weight and the middle share the rest evenly.
std::vector<Credit> Attribute(const std::vector<Touch>& path, TimeMs conversion_at,
                              AttributionModel model, const AttributionOptions& options = {});

/// The same credits as Attribute, per touch instead of per channel, in path order; touches the
/// model gives nothing are left out. A run of one channel (collapsed by de-noising) passes its
/// credit to the landing the model looks at: its first for first touch, its last for last touch
/// and last non-direct, shared evenly by its landings otherwise. Summed per channel they are
/// Attribute's credits.
std::vector<TouchCredit> AttributeTouches(const std::vector<Touch>& path, TimeMs conversion_at,
                                          AttributionModel model,
                                          const AttributionOptions& options = {});

/// "first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based".
const char* ModelName(AttributionModel model);

/// Inverse of ModelName (exact, lowercase). Error code "invalid_model".
Result<AttributionModel> ParseModel(std::string_view name);

/// Every model, in declaration order.
const std::vector<AttributionModel>& AllModels();

}  // namespace waymark
