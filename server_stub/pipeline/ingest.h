// Ingestion: one writer thread owns the write connection and commits the events of many
// concurrent requests in one transaction (group commit), with the identity links and the list of
// profiles to recompute ("dirty"). A request is answered only after that commit. Between commits
// the same thread projects dirty profiles through the core engine (profile_replay.h), writing
// their journey state and webhook deliveries together in one transaction.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "metrics.h"
#include "storage/database.h"
#include "storage/profile_key.h"
#include "storage/rollups.h"
#include "storage/wal_checkpointer.h"
#include "throttled_log.h"
#include "waymark/engine.h"

namespace waymark::collector {

class ProfileProjector;

/// One validated event of a batch, with the times the collector derived for it.
struct IncomingEvent {
  std::size_t index = 0;  ///< position in the request's batch
  Event event;            ///< canonical name; event.time is the device time
  std::string browser_stage;
  bool unfiltered = false;  ///< sent without the engine: the sync filter is applied on projection
  std::string content_hash;
  std::string body;  ///< the envelope as stored (serialized by the request thread, not the writer)
  TimeMs sent_at = 0;  ///< 0 when missing or ignored as garbage
  TimeMs received_at = 0;
  TimeMs corrected_time = 0;
  bool clamped = false;  ///< corrected_time was clamped to received_at (a far-future time)
  std::string site_key;
  std::string ip;
  std::string device;  ///< DeviceType of the request's User-Agent (http/device_type.h)
  std::string project = kDefaultProject;  ///< the project of the site key it came with
};

struct EventResult {
  std::size_t index = 0;
  std::string id;
  std::string status;  ///< accepted | duplicate | rejected
  std::string reason;  ///< error code when rejected
  std::string message;
};

/// A project's current journey map and its stored version, swapped atomically on PUT /v1/map,
/// with the project's webhook endpoints (what the projection queues deliveries for).
struct MapState {
  std::string project = kDefaultProject;
  std::vector<WebhookEndpoint> webhooks;
  std::shared_ptr<const JourneyMap> map;
  std::int64_t version = 0;
  std::string etag;
  std::string body;
  /// The map compiled (waymark/compiled_map.h): what browsers that ask for it load.
  std::string compiled;
};

/// A project's current map; null when this collector does not know the project (yet).
using MapLookup = std::function<std::shared_ptr<const MapState>(const std::string& project)>;

class Ingestor {
 public:
  Ingestor(std::string database_path, const Config& config, Metrics* metrics);
  ~Ingestor();

  /// Opens the write connection and starts the writer thread. Error message on failure.
  std::optional<std::string> Start();
  /// Finishes every job already queued (their requests get answers), then stops.
  void Stop();

  /// Queues events and waits for their commit. Empty optional: the queue is full or the server
  /// is stopping (the caller answers 503 with Retry-After).
  std::optional<std::vector<EventResult>> Submit(std::vector<IncomingEvent> events);

  /// Runs `work` on the writer thread inside its own transaction (map publication and other
  /// writes share the single writer). Returns what `work` returned, or an error message.
  std::optional<std::string> RunWrite(std::function<std::optional<std::string>(Database&)> work);

  /// Makes `map` its project's current map; with `only_if_newer`, unless the current one is of a
  /// newer version already (a refresh that read the database before a publish set it).
  void SetMap(std::shared_ptr<const MapState> map, bool only_if_newer = false);
  /// The project's current map; null for a project this collector does not know.
  std::shared_ptr<const MapState> map(const std::string& project) const;
  /// Called once the server has set every stored project's map: projection starts then.
  void MapsLoaded() { maps_loaded_ = true; }

  /// Called after a commit that added outbox rows (the webhook sender's Wake).
  void SetOutboxListener(std::function<void()> listener) { on_outbox_ = std::move(listener); }
  /// Called on the writer thread when the database holds a newer map than this collector's, or a
  /// project it does not know (several collectors on PostgreSQL): it should take them (SetMap)
  /// and say whether anything changed. Set before Start().
  void SetMapRefresher(std::function<bool()> refresh) { map_refresher_ = std::move(refresh); }

  std::size_t pending_events() const;

  /// Whether the database can take writes now: the file is still the one opened (not deleted
  /// or replaced), its filesystem has room, a probe write commits, and no batch commit failed
  /// in the last few seconds. Error message when not (for /readyz).
  std::optional<std::string> CheckWritable();
  /// Profiles whose journeys lag their stored events (the projection backlog), as of the last
  /// projection pass.
  std::int64_t projection_backlog() const { return projection_backlog_.load(); }
  /// Write-ahead log frames not yet checkpointed into the database file.
  std::int64_t wal_pending_frames() const {
    return checkpointer_ ? checkpointer_->pending_frames() : 0;
  }

  /// Brings one profile (or every profile) up to date with its stored events before a read, so
  /// an admin reading right after a write sees it (read-your-writes).
  std::optional<std::string> FlushProfile(const ProfileKey& profile);
  std::optional<std::string> FlushAll();

 private:
  struct Job {
    std::vector<IncomingEvent> events;
    std::function<std::optional<std::string>(Database&)> write;
    std::promise<std::vector<EventResult>> done;
    std::promise<std::optional<std::string>> write_done;
  };

  void Loop();
  /// The database file is still the one opened at Start (same device and inode): SQLite keeps
  /// writing to a deleted file's inode, and every such "commit" would vanish on restart.
  std::optional<std::string> CheckFileIdentity() const;
  /// Projects up to `max_profiles` dirty profiles in one transaction; with `yield_to_requests`
  /// it stops after the profile during which a request arrived. True when dirty ones remain.
  bool ProjectSlice(std::size_t max_profiles, bool yield_to_requests);
  // Marks profiles whose next timed transition fell due dirty (Loop, every advance interval).
  bool MarkDueProfiles();
  bool RequestsWaiting() const;
  void CommitGroup(std::vector<std::unique_ptr<Job>>& jobs);
  /// An event of a group commit: jobs[job]->events[index].
  struct EventSlot {
    std::size_t job;
    std::size_t index;
  };
  /// Stores one project's events of a group commit (inside its transaction).
  std::optional<std::string> ProcessProject(const std::string& project,
                                            std::vector<std::unique_ptr<Job>>& jobs,
                                            const std::vector<EventSlot>& slots,
                                            std::vector<std::vector<EventResult>>* results,
                                            RollupDelta* rollups);
  /// Once, after the first commit: statistics for a PostgreSQL database nothing analyzed yet.
  void AnalyzeNewDatabase();
  /// Switches the reports of projects whose re-projection is done (ReprojectionFinisher).
  std::optional<std::string> FinishReprojections(bool* switched);
  std::optional<std::string> TakeOutOfRollups(const ProfileKey& profile_id,
                                              std::int64_t current_version, RollupDelta* delta);
  std::optional<std::string> ProcessEvents(std::vector<std::unique_ptr<Job>>& jobs,
                                           std::vector<std::vector<EventResult>>* results,
                                           bool* outbox_added);

  std::string database_path_;
  const Config& config_;
  Metrics* metrics_;
  Database db_;
  std::unique_ptr<WalCheckpointer> checkpointer_;
  std::uint64_t file_device_ = 0;
  std::uint64_t file_inode_ = 0;
  bool database_is_file_ = false;  ///< SQLite: the file must stay the one opened
  std::atomic<std::int64_t> last_commit_failure_ms_{0};  ///< steady-clock ms, 0: none
  std::unique_ptr<ProfileProjector> projector_;
  struct Statements;
  std::unique_ptr<Statements> statements_;  ///< the group commit's, on db_
  std::atomic<std::int64_t> projection_backlog_{0};
  std::chrono::steady_clock::time_point last_backlog_count_{};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::size_t queued_events_ = 0;
  bool stopping_ = false;
  std::thread thread_;

  mutable std::mutex map_mu_;
  std::map<std::string, std::shared_ptr<const MapState>> maps_;  ///< by project
  std::atomic<bool> maps_loaded_{false};
  bool finished_once_ = false;                ///< FinishReprojections looked at every project once
  std::unique_ptr<Statement> held_projects_;  ///< projects whose reports wait for a re-projection
  bool statistics_checked_ = false;           ///< AnalyzeNewDatabase ran
  std::function<void()> on_outbox_;
  std::function<bool()> map_refresher_;
  ThrottledLog log_;  ///< a database that is down fails every pass: one line per 5 s
  std::unique_ptr<ReprojectionFinisher> finisher_;  ///< on the writer's connection
};

/// Device times before 2000-01-01 are seconds sent as milliseconds, or garbage.
inline constexpr TimeMs kEarliestDeviceTime = 946684800000;
/// A sent time further than this from the server's clock is garbage and ignored.
inline constexpr TimeMs kSentAtTolerance = 366LL * 86400000;

struct CorrectedTime {
  bool valid = false;  ///< false: no usable time (overflow, or before kEarliestDeviceTime)
  TimeMs time = 0;     ///< on the server's clock
  TimeMs sent_at = 0;  ///< the sent time used, 0 when missing or ignored as garbage
  bool clamped = false;
};

/// A device's clock offset differs between its batches by their time on the network (and by any
/// real change of the device's clock); up to this much is taken as the network's, and the offset
/// the device's first batch gave is kept.
inline constexpr TimeMs kClockChangeMs = 60 * 1000;

/// The offset (server time minus device time) to shift a device's events by: the stored one
/// while a batch's own offset stays within kClockChangeMs of it, else the batch's (the device's
/// clock was changed). So a device's events keep their order and spacing across batches.
TimeMs StableClockOffset(std::optional<TimeMs> stored, TimeMs batch_offset);

/// An event's time on the server's clock: received + (device - sent) when the sent time is
/// plausible (within kSentAtTolerance of `received`), else the device time; a result later than
/// received + max_future_ms is clamped to `received`. Every step is checked: whatever the client
/// sends (INT64_MAX, INT64_MIN), the result is a time from 2000-01-01 on, or not valid.
CorrectedTime CorrectTime(TimeMs device, TimeMs sent, TimeMs received, TimeMs max_future_ms);

/// FNV-1a 64 of the event's content (everything but sent_at), as 16 hex digits: a replay of the
/// same event is a duplicate, the same id with other content is a conflict.
std::string ContentHash(const Event& event, const std::string& browser_stage);

}  // namespace waymark::collector
