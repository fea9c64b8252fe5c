// Checkpoints the SQLite write-ahead log from a thread of its own. SQLite's automatic checkpoint
// runs inside the commit that crosses its threshold, on the committing connection: measured
// under load, about a tenth of the ingest writer's time, and its slowest commits (every request
// in that group waits for the copy). The writer switches it off and this thread copies the log
// into the database file beside it, in PASSIVE mode, which never blocks the writer or readers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "storage/database.h"

namespace waymark::collector {

class WalCheckpointer {
 public:
  explicit WalCheckpointer(std::string database_path);
  ~WalCheckpointer();

  /// Opens its own connection and starts the thread. Error message on failure.
  std::optional<std::string> Start();
  /// Stops the thread after one last checkpoint.
  void Stop();
  /// Log frames written but not yet copied, as of the last checkpoint (a gauge).
  std::int64_t pending_frames() const { return pending_frames_.load(); }

 private:
  void Loop();
  void Checkpoint();

  std::string database_path_;
  Database db_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<std::int64_t> pending_frames_{0};
};

}  // namespace waymark::collector
