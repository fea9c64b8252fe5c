// The collector's SQL layer: a connection (Database) and prepared statements with bound
// parameters only (no SQL is ever built from request data), over one of two backends chosen by
// the location given to Open: a SQLite file (the embedded default) or a PostgreSQL URL
// (`postgres://...`, many collectors on one database).
//
// The SQL text is shared: `?` placeholders (the PostgreSQL backend numbers them) and the subset
// of SQL both engines run the same way (INSERT ... ON CONFLICT, CASE instead of the scalar
// MAX/MIN, BIGINT columns, ...). Where the dialects differ, the caller asks dialect(). A
// connection is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;

namespace waymark::collector {

enum class Dialect { kSqlite, kPostgres };

/// How PostgreSQL plans a prepared statement: once per connection (its generic plan after a few
/// executions), or for the values bound at each execution. The second is for a lookup whose best
/// plan depends on them, such as a key list bound as one array: a generic plan made while a table
/// was nearly empty can scan a whole project's rows for it, and stays cached as the table grows.
/// SQLite plans once either way.
enum class Planning { kOnce, kEachTime };

/// A backend's prepared statement (storage/sqlite_backend.cpp, storage/postgres_backend.cpp).
class StatementBackend {
 public:
  virtual ~StatementBackend() = default;
  virtual void BindText(int index, std::string_view text) = 0;
  virtual void BindInt(int index, std::int64_t value) = 0;
  virtual void BindDouble(int index, double value) = 0;
  virtual void BindNull(int index) = 0;
  /// Executes on the first call after a Reset, then moves row by row: true while a row is there.
  /// On failure: false, with *error set.
  virtual bool Step(std::string* error) = 0;
  /// Ends the current execution and clears the bindings.
  virtual void Reset() = 0;
  virtual std::int64_t Int(int column) const = 0;
  virtual double Double(int column) const = 0;
  virtual std::string Text(int column) const = 0;
  virtual bool IsNull(int column) const = 0;
};

/// A backend's connection.
class ConnectionBackend {
 public:
  virtual ~ConnectionBackend() = default;
  virtual Dialect dialect() const = 0;
  virtual std::optional<std::string> Exec(const std::string& sql) = 0;
  /// A prepared statement, or nullptr with *error set.
  virtual std::unique_ptr<StatementBackend> Prepare(std::string_view sql, Planning planning,
                                                    std::string* error) = 0;
  virtual std::string LastError() const = 0;
  /// Rows changed by the last statement that ran on this connection.
  virtual std::int64_t Changes() const = 0;
  virtual sqlite3* sqlite_handle() const { return nullptr; }
};

class Statement;

class Database {
 public:
  Database();
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;

  /// True for a location Open gives to PostgreSQL (`postgres://` or `postgresql://`).
  static bool IsPostgresLocation(std::string_view location);
  /// The location as it may be logged: a PostgreSQL URL's password replaced by `***`.
  static std::string Loggable(std::string_view location);

  /// Opens a SQLite file (created in WAL mode, with a page cache of `cache_kib` KiB) or connects
  /// to PostgreSQL. `synchronous_full`: every commit is flushed (SQLite synchronous=FULL; on
  /// PostgreSQL synchronous_commit is on either way). Returns an error message on failure.
  std::optional<std::string> Open(const std::string& location, bool synchronous_full,
                                  int cache_kib = 65536);
  bool is_open() const { return conn_ != nullptr; }
  Dialect dialect() const;
  /// Runs one or more statements without parameters (schema, pragmas). Error message on failure.
  std::optional<std::string> Exec(const std::string& sql);
  /// Starts a write transaction: SQLite takes the write lock at once (BEGIN IMMEDIATE), so it
  /// never fails half-way on a busy lock; PostgreSQL locks rows as they are written.
  std::optional<std::string> BeginWrite();
  /// Starts a read-only transaction whose statements all see one snapshot (SQLite's WAL reader;
  /// PostgreSQL's REPEATABLE READ).
  std::optional<std::string> BeginRead();
  Statement Prepare(std::string_view sql, Planning planning = Planning::kOnce);
  /// The SQLite connection (the WAL checkpointer), or nullptr on PostgreSQL.
  sqlite3* sqlite_handle() const;
  std::string LastError() const;
  std::int64_t Changes() const;

 private:
  std::unique_ptr<ConnectionBackend> conn_;
};

class Statement {
 public:
  Statement(std::unique_ptr<StatementBackend> backend, std::string error);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;

  bool ok() const { return backend_ != nullptr; }
  const std::string& error() const { return error_; }

  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, const std::string& text) {
    return Bind(index, std::string_view(text));
  }
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& BindNull(int index);

  /// Steps once: true while a row is available. Check failed() after false.
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
  std::unique_ptr<StatementBackend> backend_;
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

/// A read transaction for the life of the object (Database::BeginRead): every statement in between
/// sees one snapshot, so a report made of several queries never mixes two states of the data.
/// Always ended, whatever happens in between.
class ReadTransaction {
 public:
  explicit ReadTransaction(Database& db) : db_(db), error_(db.BeginRead()) {}
  ~ReadTransaction() {
    if (!error_) db_.Exec("COMMIT");
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  const std::optional<std::string>& error() const { return error_; }

 private:
  Database& db_;
  std::optional<std::string> error_;
};

}  // namespace waymark::collector
