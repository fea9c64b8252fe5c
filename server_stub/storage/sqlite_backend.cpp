// The embedded backend: one SQLite file in WAL mode.
#include <sqlite3.h>

#include <utility>

#include "storage/backends.h"

namespace waymark::collector {
namespace {

class SqliteStatement final : public StatementBackend {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }

  void BindText(int index, std::string_view text) override {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void BindInt(int index, std::int64_t value) override { sqlite3_bind_int64(stmt_, index, value); }
  void BindDouble(int index, double value) override { sqlite3_bind_double(stmt_, index, value); }
  void BindNull(int index) override { sqlite3_bind_null(stmt_, index); }

  bool Step(std::string* error) override {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) *error = sqlite3_errmsg(db_);
    return false;
  }
  void Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t Int(int column) const override { return sqlite3_column_int64(stmt_, column); }
  double Double(int column) const override { return sqlite3_column_double(stmt_, column); }
  std::string Text(int column) const override {
    const unsigned char* t = sqlite3_column_text(stmt_, column);
    if (t == nullptr) return std::string();
    return std::string(reinterpret_cast<const char*>(t),
                       static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  bool IsNull(int column) const override {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteConnection final : public ConnectionBackend {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override { sqlite3_close_v2(db_); }

  Dialect dialect() const override { return Dialect::kSqlite; }

  std::optional<std::string> Exec(const std::string& sql) override {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : "unknown error";
      sqlite3_free(err);
      return msg;
    }
    return std::nullopt;
  }

  std::unique_ptr<StatementBackend> Prepare(std::string_view sql, Planning /*planning*/,
                                            std::string* error) override {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
        SQLITE_OK) {
      *error = sqlite3_errmsg(db_);
      sqlite3_finalize(stmt);
      return nullptr;
    }
    return std::make_unique<SqliteStatement>(db_, stmt);
  }

  std::string LastError() const override { return sqlite3_errmsg(db_); }
  std::int64_t Changes() const override { return sqlite3_changes(db_); }
  sqlite3* sqlite_handle() const override { return db_; }

 private:
  sqlite3* db_;
};

}  // namespace

std::unique_ptr<ConnectionBackend> OpenSqlite(const std::string& path, bool synchronous_full,
                                              int cache_kib, std::string* error) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    *error = "cannot open database " + path + ": " +
             (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return nullptr;
  }
  auto conn = std::make_unique<SqliteConnection>(db);
  sqlite3_busy_timeout(db, 5000);
  // A large page cache for the writer and memory-mapped reads: random event ids make inserts
  // touch pages all over the primary-key index, and the default 2 MB cache turned that into reads
  // from disk. Read connections (one per worker thread) take a smaller cache.
  std::string pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-" +
      std::to_string(cache_kib > 0 ? cache_kib : 2048) +
      "; PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY; PRAGMA synchronous=";
  pragmas += synchronous_full ? "FULL;" : "NORMAL;";
  if (auto err = conn->Exec(pragmas)) {
    *error = *err;
    return nullptr;
  }
  return conn;
}

}  // namespace waymark::collector
