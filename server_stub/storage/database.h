// A thin RAII layer over SQLite's C API: a connection and prepared statements with bound
// parameters only (no SQL is ever built from request data).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace waymark::collector {

class Statement;

class Database {
 public:
  Database() = default;
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;

  /// Opens (creating) a database file in WAL mode with a page cache of `cache_kib` KiB.
  /// Returns an error message on failure.
  std::optional<std::string> Open(const std::string& path, bool synchronous_full,
                                  int cache_kib = 65536);
  /// Runs one or more statements without parameters (schema, pragmas). Error message on failure.
  std::optional<std::string> Exec(const std::string& sql);
  Statement Prepare(std::string_view sql);
  sqlite3* handle() const { return db_; }
  std::string LastError() const;
  std::int64_t Changes() const;

 private:
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;

  bool ok() const { return stmt_ != nullptr; }
  const std::string& error() const { return error_; }

  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& BindNull(int index);

  /// Steps once: true while a row is available. Check done()/failed() after false.
  bool Step();
  bool failed() const { return failed_; }
  /// Runs a statement that returns no rows; false on error (see error()).
  bool Run();
  void Reset();

  std::int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string error_;
  bool failed_ = false;
};

/// Records the first query failure in *error (later queries of one report usually fail for the
/// same reason).
inline void Fail(std::string* error, const Statement& stmt) {
  if (error != nullptr && error->empty()) {
    *error = stmt.error().empty() ? "query failed" : stmt.error();
  }
}

/// Calls `row(stmt)` for each result row; false (and *error set) when the query fails.
template <typename RowFn>
bool ForEachRow(Statement& stmt, std::string* error, RowFn&& row) {
  if (!stmt.ok()) {
    Fail(error, stmt);
    return false;
  }
  while (stmt.Step()) row(stmt);
  if (stmt.failed()) {
    Fail(error, stmt);
    return false;
  }
  return true;
}

}  // namespace waymark::collector
