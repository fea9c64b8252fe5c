// The journey engine: one visitor's state under one journey map. Pure and deterministic: time,
// ids and events are inputs; the same inputs in the same order give the same state everywhere
// (browser wasm and collector native).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "waymark/attribution.h"
#include "waymark/event.h"
#include "waymark/journey_map.h"
#include "waymark/result.h"

namespace waymark {

/// One entry of the bounded touchpoint log.
struct Touchpoint {
  Touchpoint() = default;
  Touchpoint(Event e, TimeMs t) : event(std::move(e)), at(t) {}
  Event event;
  TimeMs at = 0;            ///< effective (monotonic) time used by the engine
  std::int64_t folded = 0;  ///< identical events folded into this one
};

/// A recorded stage change.
struct TransitionRecord {
  std::string from;
  std::string to;
  TimeMs at = 0;
  std::string event_id;  ///< the event that caused it; empty for timed transitions
  std::string rule;      ///< the transition id
  std::int64_t map_version = 0;
};

/// {"from", "to", "at", "event_id", "rule", "map_version"}: how a transition reads in JSON
/// (Engine::StateJson, the wasm binding's outcomes).
json TransitionToJson(const TransitionRecord& record);

struct StageTime {
  TimeMs first_entered = -1;
  TimeMs last_entered = -1;
  TimeMs last_exited = -1;
  TimeMs total = 0;  ///< closed visits only; the current visit is added at read time
  std::int64_t visits = 0;
};

struct FiredTrigger {
  std::string trigger;
  std::string from;  ///< empty for event triggers
  std::string to;
  TimeMs at = 0;
  std::string event_id;
  std::string rule;
};

enum class TrackStatus { kAccepted, kFolded, kThrottled, kRejected };
const char* TrackStatusName(TrackStatus status);

struct TrackOutcome {
  TrackStatus status = TrackStatus::kAccepted;
  Error error;  ///< when rejected
  std::string event_id;
  std::string name;                           ///< canonical name
  std::vector<TransitionRecord> transitions;  ///< timed ones first, then the event's own
  std::vector<FiredTrigger> triggers;
  /// The envelope to send to the collector, filtered by the stage's sync filter; absent in
  /// local-only mode, when the filter drops the event, when the event was not accepted, or when
  /// EngineOptions::build_outbound is off.
  std::optional<json> outbound;
  bool send = false;  ///< whether the event may leave the device (set even without `outbound`)
  /// The sync filter that lets it leave (the map's default or a stage's); null when `send` is off.
  /// The browser applies it to the envelope it holds (wasm/typed_track.h).
  const SyncFilter* filter = nullptr;
};

struct AdvanceOutcome {
  std::vector<TransitionRecord> transitions;
  std::vector<FiredTrigger> triggers;
};

struct Decision {
  std::string slot;
  std::string variant;  ///< empty when no variant matched and the slot has no default
  bool is_default = false;
  Content content;
};

struct ScoreBreakdownItem {
  std::string rule;
  std::string group;
  double points = 0;  ///< decayed to `now`
};

struct Counters {
  std::int64_t accepted = 0;
  std::int64_t folded = 0;
  std::int64_t throttled = 0;
  std::int64_t rejected = 0;
  std::int64_t evicted = 0;  ///< touchpoints dropped from the bounded log
};

struct EngineOptions {
  bool local_only = false;  ///< consent denied / Global Privacy Control: nothing is sent
  /// Build TrackOutcome::outbound. The collector and replays, which send nothing, turn it off.
  bool build_outbound = true;
  EventLimits limits;
  std::size_t transition_cap = 256;  ///< transition records kept (oldest dropped)
  /// Whether an event's context.channel is taken as sent. The browser trusts its own SDK; the
  /// collector does not: it keeps only "Direct" on an event that is no landing and classifies
  /// every landing from its stored context (Engine::Track).
  bool trust_channel = true;
};

class Engine {
 public:
  explicit Engine(std::shared_ptr<const JourneyMap> map, EngineOptions options = EngineOptions());

  /// Records one event. Aliases are resolved; an invalid event is rejected with its error and
  /// changes nothing. Before the event, timed transitions due by its time are applied.
  TrackOutcome Track(Event event);
  /// Parses a JSON envelope, then Track.
  TrackOutcome TrackJson(const json& envelope);
  /// Track for an event built from typed data (the browser's boundary, wasm/typed_track.h): its
  /// fields are checked with EventFromJson's errors, its properties by what the sender measured.
  TrackOutcome TrackMeasured(Event event, const EnvelopeFacts& facts);

  /// Applies timed transitions (inactivity) due at or before `now`, at the time they fell due.
  AdvanceOutcome Advance(TimeMs now);
  /// The earliest time after `after` at which a timed transition from the current stage falls
  /// due (its inactivity elapsed since the last activity, and not before the stage was entered),
  /// or -1 when none will without a new event. One due at or before `after` was already judged by
  /// Advance(after) and, held back by the rest of its condition, stays held until an event comes
  /// (a condition is evaluated at its fixed due time). The collector advances idle visitors then.
  TimeMs NextTimedDue(TimeMs after = -1) const;

  /// Ties the visitor to a known user. Errors: `invalid_user_id` (guard list),
  /// `identity_conflict` (already identified as a different user; call Reset first).
  Status Identify(const std::string& user_id, const json& traits);
  /// Records another anonymous id of the same visitor (e.g. from another device after login).
  Status Alias(const std::string& anonymous_id);
  void SetAnonymousId(const std::string& anonymous_id) { anonymous_id_ = anonymous_id; }

  // Reads. `now` is passed in so the results are deterministic.
  const std::string& stage() const { return stage_; }
  TimeMs stage_entered_at() const { return stage_entered_; }
  double Score(TimeMs now, const std::string& group = "") const;
  std::vector<ScoreBreakdownItem> ScoreBreakdown(TimeMs now) const;
  std::vector<Decision> Decide(TimeMs now) const;
  /// Time spent in each stage up to `now` (the current visit included).
  std::map<std::string, StageTime> StageTimes(TimeMs now) const;
  const std::deque<Touchpoint>& log() const { return log_; }
  const std::deque<TransitionRecord>& transitions() const { return transitions_; }
  const Counters& counters() const { return counters_; }
  const std::string& anonymous_id() const { return anonymous_id_; }
  const std::string& user_id() const { return user_id_; }
  const std::vector<std::string>& aliases() const { return aliases_; }
  const json& traits() const { return traits_; }
  TimeMs last_activity() const { return last_activity_; }
  const JourneyMap& map() const { return *map_; }
  std::shared_ptr<const JourneyMap> map_ptr() const { return map_; }
  bool local_only() const { return options_.local_only; }
  void set_local_only(bool on) { options_.local_only = on; }
  /// Whether Track builds TrackOutcome::outbound (the typed boundary leaves it to JavaScript).
  void set_build_outbound(bool on) { options_.build_outbound = on; }

  /// The channel path (landing touches) for attribution, oldest first.
  std::vector<Touch> ChannelPath() const;
  /// Credits for the current journey, converting at `at`.
  std::vector<Credit> Attribute(AttributionModel model, TimeMs at) const;
  /// The same credits per touch (with its source and campaign), as AttributeTouches gives them.
  std::vector<TouchCredit> AttributeTouches(AttributionModel model, TimeMs at) const;

  /// The whole state as a compact, versioned, checksummed string.
  std::string Snapshot() const;
  /// Replaces the state with a snapshot. Errors: `snapshot_corrupt`, `snapshot_version`,
  /// `snapshot_map_mismatch` (taken under another map id). On error the state is fresh.
  Status Restore(const std::string& snapshot);

  /// A state summary for callers (stage, score, times, transitions, counters) as JSON.
  json StateJson(TimeMs now) const;

  /// Replays `events` in order through a fresh engine under `map` ("what if"); the engine this
  /// is called on is untouched.
  static Engine Replay(std::shared_ptr<const JourneyMap> map, const std::vector<Event>& events,
                       EngineOptions options = EngineOptions());

  /// This visitor under another map: the touchpoint log replayed under `map`, the identity kept
  /// (anonymous id, user id and traits, aliases). The one way a map switch happens in the browser
  /// (its log is bounded by noise.log_cap); the collector replays every stored event of the
  /// profile instead, so past log_cap events the two histories differ (docs/journey-map.md).
  Engine SwitchedTo(std::shared_ptr<const JourneyMap> map) const;

  /// Forgets everything (a new visitor on this device keeps nothing of the old one).
  void Reset();

  /// What the current stage's sync filter lets leave the device of `event`: the filtered envelope,
  /// or nullopt when the filter keeps the event back (or in local-only mode). Track() applies it
  /// in the browser; the collector applies it to events a browser sent without its engine.
  std::optional<json> SyncedEnvelope(const Event& event) const;

 private:
  struct RuleScore {
    double value = 0;  ///< decayed to score_ref_
    bool awarded = false;
    bool once_fired = false;
  };
  struct ConditionScope;

  /// Merges an identify() call's traits (CheckTraits, at most twice max_properties keys in all);
  /// refused traits change nothing.
  Status MergeTraits(const json& traits);
  bool Evaluate(const Condition& c, const ConditionScope& scope) const;
  bool CountMatches(const Condition& c, const ConditionScope& scope) const;
  double DecayFactor(TimeMs now) const;
  void MoveScoreTo(TimeMs at);
  void ApplyScoring(const Touchpoint& tp);
  void Enter(const std::string& to, const Transition& rule, TimeMs at, const std::string& event_id,
             std::vector<TransitionRecord>* records, std::vector<FiredTrigger>* triggers);
  void FireTriggers(const TransitionRecord& rec, std::vector<FiredTrigger>* out) const;
  void FireEventTriggers(const Touchpoint& tp, std::vector<FiredTrigger>* out) const;
  bool Throttled(const Event& e, TimeMs at) const;
  const SyncFilter* SendFilter(const Event& e) const;
  json Outbound(const Event& e, const SyncFilter& filter) const;
  bool AllowedFrom(const Transition& t) const;

  std::shared_ptr<const JourneyMap> map_;
  EngineOptions options_;

  std::string anonymous_id_;
  std::string user_id_;
  std::vector<std::string> aliases_;
  json traits_ = json::object();

  std::string stage_;
  int stage_index_ = -1;  ///< index of stage_ in the map, for the from-masks
  std::string previous_stage_;
  TimeMs stage_entered_ = -1;
  TimeMs last_activity_ = -1;
  std::deque<Touchpoint> log_;
  std::deque<TransitionRecord> transitions_;
  std::map<std::string, StageTime> stage_times_;
  std::vector<RuleScore> rule_scores_;  ///< parallel to map_->scoring.rules
  TimeMs score_ref_ = 0;                ///< the time every rule value is decayed to
  Counters counters_;
};

}  // namespace waymark
