#include "storage/device_locks.h"

#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

// A device's bucket: its anonymous id hashed by PostgreSQL, kDeviceLockBuckets of them, offset
// into a key range of their own.
std::string BucketSql(const std::string& text) {
  return "7411000 + (hashtextextended(" + text + ", 7411) & " +
         std::to_string(kDeviceLockBuckets - 1) + ")";
}

}  // namespace

DeviceLocks::DeviceLocks(Database& db)
    : active_(db.dialect() == Dialect::kPostgres),
      // One round trip for a whole group commit, the buckets locked in ascending order. Devices
      // share kDeviceLockBuckets locks: a lock per device would fill PostgreSQL's shared lock
      // table (max_locks_per_transaction x max_connections) with one busy commit, and unrelated
      // devices in one bucket only wait for each other.
      lock_all_(active_ ? db.Prepare("SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT " +
                                     BucketSql("a") +
                                     " AS k FROM json_array_elements_text(CAST(? AS json)) AS a "
                                     "ORDER BY k) AS keys")
                        : Statement(nullptr, "")),
      try_lock_(active_ ? db.Prepare("SELECT pg_try_advisory_xact_lock(" + BucketSql("?") + ")")
                        : Statement(nullptr, "")) {}

std::optional<std::string> DeviceLocks::LockAll(const std::vector<std::string>& anonymous_ids) {
  if (!active_ || anonymous_ids.empty()) return std::nullopt;
  if (!lock_all_.ok()) return "device locks: " + lock_all_.error();
  lock_all_.Bind(1, DumpJson(json(anonymous_ids)));
  while (lock_all_.Step()) {
  }
  const bool failed = lock_all_.failed();
  std::string error = lock_all_.error();
  lock_all_.Reset();
  if (failed) return "device locks: " + error;
  return std::nullopt;
}

bool DeviceLocks::TryLock(const std::string& anonymous_id) {
  if (!active_) return true;
  if (!try_lock_.ok()) return false;
  try_lock_.Bind(1, anonymous_id);
  const bool locked = try_lock_.Step() && try_lock_.Int(0) == 1;
  try_lock_.Reset();
  return locked;
}

}  // namespace waymark::collector
