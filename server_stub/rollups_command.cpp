#include "rollups_command.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/rollups.h"
#include "storage/schema.h"

namespace waymark::collector {

namespace {
constexpr const char* kUsage =
    "usage: waymark-collector rollups verify|rebuild [--db data/waymark.db | postgres://...]\n";
constexpr std::size_t kShownDifferences = 20;
}  // namespace

int RunRollups(int argc, char** argv) {
  std::string location = "data/waymark.db";
  if (argc < 3) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string action = argv[2];
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
      location = argv[++i];
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (action != "verify" && action != "rebuild") {
    std::fputs(kUsage, stderr);
    return 2;
  }
  Database db;
  if (auto err = db.Open(location, true)) {
    std::fprintf(stderr, "rollups: %s: %s\n", Database::Loggable(location).c_str(), err->c_str());
    return 1;
  }
  if (auto err = MigrateSchema(db)) {
    std::fprintf(stderr, "rollups: %s\n", err->c_str());
    return 1;
  }
  if (action == "rebuild") {
    // Not while a re-projection runs: the version the reports hold would be recounted from the
    // journeys not replayed yet, a part of its picture.
    std::string error;
    const auto running = RunningReprojection(db, &error);
    if (!error.empty()) {
      std::fprintf(stderr, "rollups: %s\n", error.c_str());
      return 1;
    }
    if (running) {
      std::fprintf(stderr,
                   "rollups: the re-projection of project %s's new map is still running; "
                   "rebuild once it is done\n",
                   running->first.c_str());
      return 1;
    }
    std::optional<std::string> err = db.BeginWrite();
    if (!err) err = RebuildRollups(db);
    if (!err) err = db.Exec("COMMIT");
    if (err) {
      db.Exec("ROLLBACK");
      std::fprintf(stderr, "rollups: %s\n", err->c_str());
      return 1;
    }
    std::printf("rollups: recounted\n");
    return 0;
  }
  std::vector<std::string> differences;
  if (auto err = VerifyRollups(db, &differences)) {
    std::fprintf(stderr, "rollups: %s\n", err->c_str());
    return 1;
  }
  if (differences.empty()) {
    std::printf("rollups: agree with a recount\n");
    return 0;
  }
  std::printf("rollups: %zu rows differ from a recount\n", differences.size());
  for (std::size_t i = 0; i < differences.size() && i < kShownDifferences; ++i) {
    std::printf("  %s\n", differences[i].c_str());
  }
  return 1;
}

}  // namespace waymark::collector
