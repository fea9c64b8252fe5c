#include "storage/wal_checkpointer.h"

#include <sqlite3.h>

#include <chrono>

namespace waymark::collector {

namespace {

// Often enough that the log stays small (a few MB at full ingest speed), rarely enough to cost
// nothing when idle.
constexpr auto kInterval = std::chrono::milliseconds(200);

}  // namespace

WalCheckpointer::WalCheckpointer(std::string database_path)
    : database_path_(std::move(database_path)) {}

WalCheckpointer::~WalCheckpointer() { Stop(); }

std::optional<std::string> WalCheckpointer::Start() {
  // synchronous=FULL: the checkpoint syncs the database file before the log may be reused.
  if (auto err = db_.Open(database_path_, /*synchronous_full=*/true, /*cache_kib=*/2048)) {
    return err;
  }
  thread_ = std::thread([this] { Loop(); });
  return std::nullopt;
}

void WalCheckpointer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WalCheckpointer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const bool stopping = cv_.wait_for(lock, kInterval, [this] { return stopping_; });
    lock.unlock();
    Checkpoint();
    lock.lock();
    if (stopping) return;
  }
}

void WalCheckpointer::Checkpoint() {
  int log_frames = 0;
  int copied = 0;
  // PASSIVE copies what it can without waiting for any lock: a busy writer is never held up.
  // A failure (a full disk, a deleted file) is retried on the next pass; the writer and /readyz
  // report those conditions themselves.
  if (sqlite3_wal_checkpoint_v2(db_.sqlite_handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                &log_frames, &copied) == SQLITE_OK) {
    pending_frames_ = log_frames >= copied ? log_frames - copied : 0;
  }
}

}  // namespace waymark::collector
