// Rollups: what the reports read instead of scanning events. Each rollup row is a sum, per UTC
// day, of what stored rows contribute, kept current in the same transaction as those rows:
//
// - per event, by the day it happened (corrected time): rollup_events (day, name) and
//   rollup_event_hours (hour), written at ingest (an event's name and time never change);
//   rollup_content (day, stage, slot, variant) for `content_shown`, written when the projection
//   sets the event's server stage;
// - per profile, by its *cohort day* (the day of its first event): rollup_cohorts, rollup_stages,
//   rollup_edges, rollup_edge_rules and rollup_paths. A profile lives in one
//   cohort day, so a count of distinct profiles over a date range is a plain sum. The projection
//   subtracts what the profile's stored journey contributed before and adds what it contributes
//   after (JourneyFacts), so a full replay or a merge never counts a journey twice;
// - per conversion, by the day it happened: rollup_conversions and rollup_credits (integer
//   millionths of a credit, so adding and subtracting is exact).
//
// Journey rollups (all but the event counts) are kept per map version. The reports read the
// version whose history is complete (ReportsVersion): after a publish, profiles replayed under
// the new version count in its rows while the old version's rows stay as they were (a replay
// that switches version does not take the old contribution out), so the reports show the old
// map's complete picture until FinishReprojection switches them and drops the old rows.
//
// RebuildRollups recomputes every table from the stored rows (a migration of a database made
// before rollups, and the tests' proof that the kept rollups equal a recount).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "storage/database.h"
#include "storage/profile_key.h"
#include "waymark/engine.h"
#include "waymark/json_util.h"

namespace waymark::collector {

constexpr std::int64_t kMsPerDay = 24 * 60 * 60 * 1000;
constexpr std::int64_t kMsPerHour = 60 * 60 * 1000;

/// UTC days since 1970-01-01 (floored, so a time before 1970 falls on a negative day).
std::int64_t DayOf(std::int64_t ms);
/// Hours since the epoch, floored.
std::int64_t HourOf(std::int64_t ms);

/// Time in stage is kept as a histogram of kTimeBuckets buckets in each rollup_stages row (one row
/// per day and stage, whatever the traffic, so a report reads the same number of rows at a
/// million events as at ten thousand). Bucket 0 holds visits under a second; bucket k >= 1 holds
/// [1 s * 2^((k-1)/3), 1 s * 2^(k/3)), each about 26 % wider than the one before; the last one is
/// open (from about 5 years). A percentile is read as its bucket's value: within 13 % of the
/// exact one.
constexpr int kTimeBuckets = 84;
int TimeBucket(std::int64_t ms);
/// What a bucket reads as: 0 for bucket 0, the geometric middle of its bounds for the others (at
/// most 12.3 % from any value in it), the lower bound for the last.
std::int64_t TimeBucketValue(int bucket);

/// A credit (0..1) in integer millionths.
std::int64_t CreditMicros(double credit);

/// A channel's credit split by source and campaign, as conversions.touches keeps it.
struct CreditPart {
  std::string source;
  std::string campaign;
  double credit = 0;
};
/// conversions.touches for these parts (a JSON array of [source, campaign, credit]).
std::string CreditPartsJson(const std::vector<CreditPart>& parts);
/// The parts conversions.touches holds; the whole `credit` under '' and '' when it holds none
/// (a row stored before schema 6, or unreadable).
std::vector<CreditPart> CreditParts(const std::string& touches, double credit);
/// conversions.triggers of these ids (sorted), and back ('' or unreadable: none).
std::string TriggerIdsJson(std::vector<std::string> ids);
std::vector<std::string> TriggerIds(const std::string& text);

/// Longest slot or variant name (characters) a `content_shown` counts under.
constexpr std::size_t kMaxShownNameChars = 200;

/// Longest text (bytes) a visitor-supplied value keeps in a rollup key: a segment's value (source,
/// medium, campaign, landing page) and a credited touch's source and campaign. The core takes
/// 2 KB strings, and two of them in one key pass PostgreSQL's index entry limit (2 704 bytes):
/// one such visitor would stall every projection. Longer values are cut at a UTF-8 boundary.
constexpr std::size_t kMaxKeyTextBytes = 200;
std::string KeyText(std::string text);

/// A reach key (rollup_reach, rollup_segment_reach): the set of stages a journey entered or sits
/// in, as StageToken of each, sorted and joined by ','. Stage ids are up to 64 bytes and a map has
/// up to 64 stages, so their names would make keys of 4 KB; tokens keep a key within 1 088 bytes
/// whatever the map. The reports place them with the map's stages (StageTokens, ReachStages).
std::string StageToken(const std::string& stage);
std::string ReachKey(const std::set<std::string>& stages);
/// Token -> stage id for a map's stages.
std::map<std::string, std::string> StageTokens(const std::vector<std::string>& stage_ids);
/// The stages of a reach key that `tokens` know (a stage of no map version read is left out).
std::set<std::string> ReachStages(const std::string& key,
                                  const std::map<std::string, std::string>& tokens);

/// The (slot, variant) a `content_shown` event's properties name; nothing without a string
/// slot, or with a slot or variant longer than kMaxShownNameChars. A variant that is not a
/// string counts as "".
std::optional<std::pair<std::string, std::string>> ShownContent(const json& properties);

/// What a profile's stored journey (its rows in profiles, transitions and stage_times) adds to
/// the per-profile rollups.
struct JourneyFacts {
  struct Transition {
    std::string from, to, rule;
  };
  struct StageTime {
    std::string stage;
    std::int64_t total_ms = 0;
    std::int64_t visits = 0;
  };
  std::int64_t first_seen = 0;
  std::string stage;
  std::int64_t map_version = 0;
  bool identified = false;
  std::int64_t mismatches = 0;
  std::string channel;   ///< of the first touch; "" when none
  std::string campaign;  ///< utm_campaign of the first touch; "" when none
  std::string source;    ///< of the first touch (FirstTouch); "" when none
  std::string medium;    ///< of the first touch (FirstTouch); "" when none
  std::string landing;   ///< the first touch's page path; "" when none
  std::string device;    ///< of the journey's first event; "" when unknown
  /// Content it was shown (rollup_exposure): per (stage, slot, variant), under the stage it was
  /// in then, how many times, and whether the journey went further than that stage (a higher
  /// rank of its map's main path; never for a side stage). Sorted by (stage, slot, variant).
  struct Exposure {
    std::string stage, slot, variant;
    std::int64_t shown = 0;
    bool onward = false;
  };
  std::vector<Exposure> exposures;
  bool converted = false;               ///< reached a conversion stage of its map
  std::vector<Transition> transitions;  ///< in position order
  std::vector<StageTime> stage_times;   ///< visited stages only (visits > 0)
};

/// Where a journey came from: its first touch (the first event the engine classified a channel
/// for), and the device of its first event.
struct Acquisition {
  std::string channel;
  std::string campaign;  ///< utm_campaign
  std::string source;    ///< utm_source, else the referrer's host, else "(direct)"
  std::string medium;    ///< utm_medium, else organic / referral / (none) as GA4 reads them
  std::string landing;   ///< the page path
  std::string device;    ///< http/device_type.h; set apart from the rest (the first event's)
};
/// The acquisition fields of a first touch's context (all but `device`).
Acquisition FirstTouch(const EventContext& context);

/// The dimensions a report can break journeys down by (rollup_segment_*), in this order.
const std::vector<std::string>& SegmentDimensions();
/// A journey's value for each of SegmentDimensions() ('' when it has none).
std::vector<std::string> SegmentValues(const JourneyFacts& facts);
/// The dimensions conversions and credits are kept by: those that do not change once a journey
/// converted (its first touch and device; not identified or stage), in this order.
const std::vector<std::string>& CreditDimensions();
std::vector<std::string> CreditSegmentValues(const JourneyFacts& facts);
std::vector<std::string> CreditSegmentValues(const Acquisition& acquisition);

/// The facts of a journey as the projection stores it from `engine` (profile_replay.cpp): its
/// transition history and StageTimes(until) for visited stages; `converted` when its stage or a
/// transition's target is one of the map's conversion stages; each exposure's `onward` from the
/// engine's map.
/// Impressions per (stage, slot, variant), as the projection counts them.
using Exposures = std::map<std::tuple<std::string, std::string, std::string>, std::int64_t>;
JourneyFacts FactsFromEngine(const Engine& engine, std::int64_t first_seen,
                             std::int64_t map_version, std::int64_t mismatches, TimeMs until,
                             const Acquisition& acquisition,
                             const std::vector<std::string>& conversion_stages,
                             const Exposures& exposures = {});
/// profiles.content_seen: a JSON array of [stage, slot, variant, shown, onward (0/1)], sorted;
/// and back ('' or unreadable: none). Stored as counted, so taking a journey out subtracts what
/// it added.
std::string ExposuresJson(const std::vector<JourneyFacts::Exposure>& exposures);
std::vector<JourneyFacts::Exposure> ParseExposures(const std::string& text);
/// The impressions of stored exposures, for a projection that goes on from them.
Exposures ExposureCounts(const std::vector<JourneyFacts::Exposure>& exposures);

/// A path as rollup_paths keeps it: the stages a journey entered in order, consecutive repeats
/// collapsed, at most kStoredPathStages (then truncated). The report puts the map's initial
/// stage in front (PathFromStored), so a stored path does not depend on the map it was made
/// under.
constexpr std::size_t kStoredPathStages = 8;
struct StoredPath {
  std::vector<std::string> stages;
  bool truncated = false;
};
StoredPath PathOfTransitions(const std::vector<JourneyFacts::Transition>& transitions);

/// Changes to the rollups, summed in memory over a commit and written by RollupWriter in key
/// order (several collectors on PostgreSQL then lock rollup rows in one order: no deadlock).
class RollupDelta {
 public:
  /// Adds (sign +1) or removes (-1) a journey's contribution, under its map version.
  void AddJourney(const JourneyFacts& facts, int sign);
  /// Only the profile count of a version (a journey leaving a version whose rows stay as they
  /// were until the switch).
  void AddVersionProfiles(std::int64_t map_version, int sign);
  /// `n` events of a project (negative: taken out), and impressions likewise.
  void AddEvent(const std::string& project, std::int64_t time_ms, const std::string& name,
                std::int64_t n);
  void AddContentShown(std::int64_t map_version, std::int64_t time_ms, const std::string& stage,
                       const std::string& slot, const std::string& variant, std::int64_t n);
  /// A conversion of a journey whose CreditSegmentValues are `segment`, with the triggers that
  /// fired on it (conversions.triggers, a JSON array of ids).
  void AddConversion(std::int64_t map_version, std::int64_t at_ms, const std::string& stage,
                     int sign, const std::vector<std::string>& segment,
                     const std::string& triggers);
  /// A channel's credit for a conversion (`sign` +1 or -1), and its parts by the source and
  /// campaign of its touches (CreditParts).
  void AddCredit(std::int64_t map_version, std::int64_t at_ms, const std::string& stage,
                 const std::string& model, const std::string& channel, double credit,
                 const std::string& touches, int sign, const std::vector<std::string>& segment,
                 const std::string& triggers);
  bool empty() const;
  void Clear();

 private:
  friend class RollupWriter;
  using Day = std::int64_t;
  using Version = std::int64_t;
  std::map<std::tuple<std::string, Day, std::string>, std::int64_t> events_;
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> event_hours_;
  std::map<Version, std::int64_t> versions_;
  std::map<std::pair<Version, Day>, std::array<std::int64_t, 3>> cohorts_;
  /// reached, current, exits, timed profiles, visits, total ms, then the time buckets.
  static constexpr std::size_t kStageValues = 6 + kTimeBuckets;
  std::map<std::tuple<Version, Day, std::string>, std::array<std::int64_t, kStageValues>> stages_;
  std::map<std::tuple<Version, Day, std::string, std::string>, std::array<std::int64_t, 2>> edges_;
  std::map<std::tuple<Version, Day, std::string, std::string, std::string>, std::int64_t>
      edge_rules_;
  std::map<std::tuple<Version, Day, std::string, int>, std::int64_t> paths_;
  /// The ReachKey of the stages a journey entered or sits in (rollup_reach).
  std::map<std::tuple<Version, Day, std::string>, std::int64_t> reach_;
  /// The same and the paths per segment: (dimension, value) before the set or path.
  std::map<std::tuple<Version, Day, std::string, std::string, std::string>, std::int64_t>
      segment_reach_;
  std::map<std::tuple<Version, Day, std::string, std::string, std::string, int>, std::int64_t>
      segment_paths_;
  /// Per (stage, slot, variant) shown: journeys, of them onward, impressions (rollup_exposure);
  /// and per segment, (dimension, value) first (rollup_segment_exposure).
  std::map<std::tuple<Version, Day, std::string, std::string, std::string>,
           std::array<std::int64_t, 3>>
      exposure_;
  std::map<
      std::tuple<Version, Day, std::string, std::string, std::string, std::string, std::string>,
      std::array<std::int64_t, 3>>
      segment_exposure_;
  std::map<std::tuple<Version, Day, std::string, std::string>, std::array<std::int64_t, 2>>
      acquisition_;
  std::map<std::tuple<Version, Day, std::string, std::string, std::string>, std::int64_t> content_;
  std::map<std::tuple<Version, Day, std::string>, std::int64_t> conversions_;
  std::map<std::tuple<Version, Day, std::string, std::string, std::string>, std::int64_t> credits_;
  std::map<
      std::tuple<Version, Day, std::string, std::string, std::string, std::string, std::string>,
      std::int64_t>
      credit_sources_;
  std::map<std::tuple<Version, Day, std::string, std::string, std::string>, std::int64_t>
      conversion_segments_;
  std::map<
      std::tuple<Version, Day, std::string, std::string, std::string, std::string, std::string>,
      std::int64_t>
      credit_segments_;
  std::map<std::tuple<Version, Day, std::string>, std::int64_t> conversion_triggers_;
  std::map<std::tuple<Version, Day, std::string, std::string, std::string>, std::int64_t>
      credit_triggers_;
};

/// Writes deltas with statements prepared once per connection. Event counts go to the writer's
/// `shard` (kEventShards of them; reads sum them): the ingest of each collector writes its own.
constexpr int kEventShards = 16;
class RollupWriter {
 public:
  explicit RollupWriter(Database& db, int shard = 0);
  ~RollupWriter();
  /// Adds `delta` to the tables (inside the caller's transaction) and clears it.
  std::optional<std::string> Flush(RollupDelta& delta);

 private:
  struct Statements;
  Database& db_;
  int shard_;
  std::unique_ptr<Statements> st_;
};

/// Reads a profile's stored journey facts and conversions, statements prepared once.
class StoredFactsReader {
 public:
  explicit StoredFactsReader(Database& db);
  ~StoredFactsReader();
  /// The facts of the stored profile; nothing when it has no row. *error on a failed query.
  std::optional<JourneyFacts> Journey(const ProfileKey& profile, std::string* error);
  /// Subtracts the profile's stored conversions and credits (counted under `map_version`) from
  /// `delta`, before they are deleted. False with *error on a failed query.
  bool SubtractConversions(const ProfileKey& profile, std::int64_t map_version,
                           const JourneyFacts& journey, RollupDelta* delta, std::string* error);

 private:
  struct Statements;
  std::unique_ptr<Statements> st_;
};

/// Empties every rollup table and recounts it from the stored rows, inside the caller's
/// transaction.
std::optional<std::string> RebuildRollups(Database& db);

/// A project whose publish's re-projection is still running (the first by id) and the map version
/// its reports hold; nothing when none. *error on a failed query.
std::optional<std::pair<std::string, std::int64_t>> RunningReprojection(Database& db,
                                                                        std::string* error);

/// Recounts the rollups in a transaction it rolls back, and lists where the kept ones differ
/// ("table key: kept K, recounted R"; rows of zeros count as absent). An error message when a
/// query fails or a re-projection is still running (the old version's rows are then kept on
/// purpose: a recount cannot know them).
std::optional<std::string> VerifyRollups(Database& db, std::vector<std::string>* differences);

/// Every rollup table's name.
std::vector<std::string> RollupTableNames();

/// The newest stored map version of `project` (of any project when ""); `fallback` when none is
/// stored. *error on a failed query.
std::int64_t NewestMapVersion(Database& db, const std::string& project, std::int64_t fallback,
                              std::string* error);

/// The map version a project's reports read: the last one whose re-projection finished;
/// `current` when no publish is pending. *error on a failed query.
std::int64_t ReportsVersion(Database& db, const std::string& project, std::int64_t current,
                            std::string* error);

/// After a project publishes a new version: records the version its reports read until the
/// re-projection is done (unless one is already recorded). Inside the publish's transaction.
std::optional<std::string> HoldReportsVersion(Database& db, const std::string& project,
                                              std::int64_t previous);

/// When every profile is on `version`: the reports switch to it and the rollup rows of other
/// versions are dropped (*switched). Nothing while a profile is still on another version. Inside
/// the caller's transaction. Its checks are prepared once (it runs after every projection pass
/// that leaves nothing to replay).
class ReprojectionFinisher {
 public:
  explicit ReprojectionFinisher(Database& db);
  ~ReprojectionFinisher();
  std::optional<std::string> Finish(const std::string& project, std::int64_t version,
                                    bool* switched);

 private:
  struct Statements;
  Database& db_;
  std::unique_ptr<Statements> st_;
};

/// ReprojectionFinisher::Finish with statements prepared for this call.
std::optional<std::string> FinishReprojection(Database& db, const std::string& project,
                                              std::int64_t version, bool* switched);

}  // namespace waymark::collector
