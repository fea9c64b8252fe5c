// The journey map: a versioned JSON document that defines stages, transitions, scoring, content,
// sync filters, noise rules, triggers and the event registry. Documented in docs/journey-map.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "waymark/duration.h"
#include "waymark/json_util.h"
#include "waymark/result.h"

namespace waymark {

enum class Phase { kBefore, kAfter };

struct Stage {
  std::string id;
  std::string name;
  int rank = 0;
  Phase phase = Phase::kBefore;
};

enum class ConditionKind {
  kAlways,       ///< {"always": true}
  kEvent,        ///< {"event": "name" | ["a","b"] | "*"} on the current event (aliases resolved)
  kField,        ///< {"field": "properties.plan", "equals": "pro"} on the current event / traits
  kCount,        ///< {"count": {"event": ..., "where": cond, "at_least": 3, "within": "7d"}}
  kScore,        ///< {"score": {"gte": 50, "group": "engagement"}}
  kInactiveFor,  ///< {"inactive_for": "30d"}: time since the last activity
  kStage,        ///< {"stage": "trial" | [...]}: the current stage
  kAll,
  kAny,
  kNot,
};

enum class CompareOp {
  kEquals,
  kNotEquals,
  kIn,
  kGt,
  kGte,
  kLt,
  kLte,
  kExists,
  kContains,
  kPrefix
};

struct Condition {
  ConditionKind kind = ConditionKind::kAlways;
  std::vector<std::string> names;  ///< event names (kEvent, kCount) or stage ids (kStage)
  bool any_event = false;          ///< "*"
  std::string field;               ///< kField: dotted path; kScore: group ("" = total)
  CompareOp op = CompareOp::kEquals;
  json operand;                     ///< kField / kScore comparison value
  std::int64_t at_least = 1;        ///< kCount
  std::int64_t at_most = -1;        ///< kCount, -1 = unbounded
  TimeMs within = 0;                ///< kCount window, 0 = whole log
  TimeMs duration = 0;              ///< kInactiveFor
  std::vector<Condition> children;  ///< kAll, kAny, kNot (one child), kCount's where (0 or 1)
};

struct Transition {
  std::string id;
  std::vector<std::string> from;  ///< stage ids; empty means "*" (any stage)
  std::string to;                 ///< a stage id, or "$previous" (the stage held before)
  int priority = 0;
  Condition when;
  bool timed = false;  ///< its condition waits on time passing (inactive_for), see Engine::Advance
  std::size_t order = 0;          ///< declaration order, the tie-break after priority
  std::uint64_t from_mask = 0;    ///< bit i set when stage i is in `from` (maps have <= 64 stages)
  TimeMs longest_inactivity = 0;  ///< the largest inactive_for in `when` (timed transitions)
};

struct ScoringRule {
  std::string id;
  Condition when;
  double points = 0;
  bool once = false;
  std::string group;
};

struct Scoring {
  TimeMs half_life = 0;  ///< 0 = no decay
  double cap = 0;        ///< 0 = no total cap
  std::map<std::string, double> group_caps;
  std::vector<ScoringRule> rules;
};

/// What a variant puts in its slot. Text is set as text, never parsed as HTML; attributes come
/// from an allowlist and URL attributes must be http(s) or relative (validated at parse time).
struct Content {
  std::optional<std::string> text;
  std::map<std::string, std::string> attrs;
  bool hidden = false;
};

struct Variant {
  std::string id;
  int priority = 0;
  Condition when;
  Content content;
  std::size_t order = 0;
};

struct Slot {
  std::string id;
  std::vector<Variant> variants;    ///< sorted by priority (desc), then declaration order
  std::optional<Variant> fallback;  ///< the map's "default"
};

struct SyncFilter {
  bool all_events = true;
  std::set<std::string> events;
  bool all_properties = true;
  std::set<std::string> properties;
};

struct Throttle {
  std::string event;
  std::int64_t limit = 0;
  TimeMs per = 0;
};

struct Noise {
  TimeMs fold_window = 2 * kSecond;  ///< identical events closer than this are folded
  std::vector<Throttle> throttles;
  std::size_t log_cap = 500;  ///< touchpoints kept in the engine's bounded log
};

struct TriggerDef {
  std::string id;
  std::vector<std::string> from;    ///< empty = any
  std::vector<std::string> to;      ///< empty = any
  std::string rule;                 ///< a transition id, empty = any
  std::vector<std::string> events;  ///< event trigger: fires on these events instead
  std::optional<Condition> when;
};

struct AttributionSettings {
  TimeMs lookback = 30 * kDay;
  TimeMs half_life = 7 * kDay;
  double first_weight = 0.4;
  double last_weight = 0.4;
  std::vector<std::string> conversions;  ///< stage ids whose entry counts as a conversion
};

struct EventDef {
  std::string name;
  std::vector<std::string> aliases;
  std::string description;
};

struct JourneyMap {
  std::string id;
  std::int64_t version = 0;
  std::string name;
  std::vector<Stage> stages;
  std::string initial;
  std::vector<Transition> transitions;        ///< declaration order
  std::vector<std::size_t> transition_order;  ///< indices by priority (desc), then declaration
  Scoring scoring;
  std::vector<Slot> slots;
  SyncFilter sync_default;
  std::map<std::string, SyncFilter> sync_stages;
  Noise noise;
  std::vector<TriggerDef> triggers;
  AttributionSettings attribution;
  std::map<std::string, EventDef> events;
  bool reject_unknown_events = false;
  std::vector<std::string> blocked_ids;  ///< extra identity guard entries
  std::string source;                    ///< the document as given, for serving and storage
  /// The property paths (after "properties.", dotted, sorted) that any condition of the map reads,
  /// none a prefix of another. The browser hands the engine these values of an event and no
  /// other property (wasm/typed_track.h); everything else of the event stays in JavaScript.
  std::vector<std::string> property_reads;

  const Stage* FindStage(std::string_view id) const;
  /// Index of a stage in `stages`, or -1.
  int StageIndex(std::string_view id) const;
  /// The canonical event name for `name` (itself, or the event an alias points to).
  /// Error `invalid_event_name` when it is neither registered nor snake_case object_action,
  /// `unknown_event` when the map rejects unknown events.
  Result<std::string> CanonicalEventName(std::string_view name) const;
  /// The same check without a copy when `name` is already canonical (the hot path).
  Status Canonicalize(std::string* name) const;

  std::map<std::string, std::string> alias_index;  ///< alias -> canonical name
};

/// Limits for map documents.
constexpr std::size_t kMaxMapBytes = 1024 * 1024;
constexpr int kMaxMapDepth = 64;

/// Parses and validates a map. Errors carry code `invalid_map` (or `invalid_json`, `too_large`,
/// `too_deep`) and a message starting with the path of the bad field.
Result<std::shared_ptr<const JourneyMap>> ParseJourneyMap(std::string_view text);

/// Parses a condition (exposed for tests and for the collector's stats filters).
Result<Condition> ParseCondition(const json& value, const std::string& path);

}  // namespace waymark
