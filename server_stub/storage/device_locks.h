// Locks per device (anonymous id) for several collectors on one PostgreSQL. Linking a device to a
// user moves its anonymous journey into the user's; an event of that device stored at the same
// moment by another collector must land on the right side of the move, and a projection of the
// anonymous journey must not write it back after the move deleted it. Transaction-scoped advisory
// locks on the anonymous id order these. SQLite has one writer: there the calls do nothing.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/database.h"

namespace waymark::collector {

/// Devices are locked in this many buckets (a power of two); see LockAll.
constexpr int kDeviceLockBuckets = 256;

/// The lock statements of one connection, prepared once (they run once per group commit and
/// once per anonymous journey projected).
class DeviceLocks {
 public:
  explicit DeviceLocks(Database& db);

  /// Waits for the locks of these devices, taken in one fixed order (so two ingest transactions
  /// never deadlock), held until the transaction ends. An error message on failure.
  std::optional<std::string> LockAll(const std::vector<std::string>& anonymous_ids);

  /// Takes one device's lock if no other transaction holds it (never waits, so a projection that
  /// visits profiles in any order cannot deadlock with ingestion); false when it is busy.
  bool TryLock(const std::string& anonymous_id);

 private:
  bool active_;  ///< PostgreSQL
  Statement lock_all_;
  Statement try_lock_;
};

}  // namespace waymark::collector
