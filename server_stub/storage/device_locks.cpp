#include "storage/device_locks.h"

#include <algorithm>

#include "waymark/json_util.h"

namespace waymark::collector {

std::optional<std::string> LockDevices(Database& db, std::vector<std::string> anonymous_ids) {
  if (db.dialect() != Dialect::kPostgres || anonymous_ids.empty()) return std::nullopt;
  std::sort(anonymous_ids.begin(), anonymous_ids.end());
  anonymous_ids.erase(std::unique(anonymous_ids.begin(), anonymous_ids.end()), anonymous_ids.end());
  // One round trip for the whole group commit; the keys are locked in ascending order. Devices
  // share kDeviceLockBuckets locks (a lock per device would fill PostgreSQL's shared lock table,
  // max_locks_per_transaction x max_connections, with one busy commit): unrelated devices in one
  // bucket only wait for each other.
  Statement lock = db.Prepare(
      "SELECT pg_advisory_xact_lock(7411000 + k) FROM (SELECT DISTINCT "
      "(hashtextextended(a, 7411) & " +
      std::to_string(kDeviceLockBuckets - 1) +
      ") AS k FROM json_array_elements_text(CAST(? AS json)) AS a ORDER BY k) AS keys");
  lock.Bind(1, DumpJson(json(anonymous_ids)));
  while (lock.Step()) {
  }
  if (lock.failed()) return "device locks: " + lock.error();
  return std::nullopt;
}

bool TryLockDevice(Database& db, const std::string& anonymous_id) {
  if (db.dialect() != Dialect::kPostgres) return true;
  Statement lock =
      db.Prepare("SELECT pg_try_advisory_xact_lock(7411000 + (hashtextextended(?, 7411) & " +
                 std::to_string(kDeviceLockBuckets - 1) + "))");
  lock.Bind(1, anonymous_id);
  return lock.Step() && lock.Int(0) == 1;
}

}  // namespace waymark::collector
