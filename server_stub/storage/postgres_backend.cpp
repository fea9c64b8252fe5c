// The PostgreSQL backend, through libpq (Debian's libpq-dev: the C library the server project
// keeps; libpqxx would add a C++ layer and exceptions for what this file does in 300 lines).
//
// Statements are prepared on the server once per connection (named, PQprepare) and executed
// with text parameters; `?` placeholders become $1..$n. When the connection is lost (the server
// restarted), the next execution reconnects and prepares again; the failed one reports its error
// so the caller's transaction is retried or refused as a whole.
#include <libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/backends.h"

namespace waymark::collector {
namespace {

/// SQLite's placeholders in PostgreSQL's form, outside quotes and comments: `?NNN` is $NNN and a
/// bare `?` the highest number so far plus one (SQLite's rule). *count is the highest number.
std::string NumberPlaceholders(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int& n = *count;
  n = 0;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {  // a literal or a quoted name: copied to its end
      std::size_t end = sql.find(c, i + 1);
      if (end == std::string_view::npos) end = sql.size() - 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      std::size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) end = sql.size() - 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '?') {
      std::size_t end = i + 1;
      while (end < sql.size() && digit(sql[end])) ++end;
      int number = n + 1;
      if (end > i + 1) number = std::atoi(std::string(sql.substr(i + 1, end - i - 1)).c_str());
      n = std::max(n, number);
      out += '$';
      out += std::to_string(number);
      i = end - 1;
    } else {
      out += c;
    }
  }
  return out;
}

std::string Trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? std::string("unknown PostgreSQL error") : s;
}

class PostgresConnection;

class PostgresStatement final : public StatementBackend {
 public:
  PostgresStatement(PostgresConnection* conn, std::string sql, int params, Planning planning)
      : conn_(conn),
        sql_(std::move(sql)),
        values_(static_cast<std::size_t>(params)),
        plan_each_time_(planning == Planning::kEachTime) {}
  ~PostgresStatement() override;

  void BindText(int index, std::string_view text) override {
    if (!Valid(index)) return;
    // Text parameters end at a NUL byte: refused rather than cut short (two ids that differ
    // after a NUL must never become one).
    if (text.find('\0') != std::string_view::npos) bind_error_ = "a text value holds a NUL byte";
    values_[index - 1] = std::string(text);
  }
  void BindInt(int index, std::int64_t value) override {
    if (Valid(index)) values_[index - 1] = std::to_string(value);
  }
  void BindDouble(int index, double value) override {
    if (!Valid(index)) return;
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    values_[index - 1] = buf;
  }
  void BindNull(int index) override {
    if (Valid(index)) values_[index - 1].reset();
  }

  bool Step(std::string* error) override;
  void Reset() override {
    Clear();
    for (auto& v : values_) v.reset();
    bind_error_.clear();
  }

  std::int64_t Int(int column) const override {
    const char* v = Value(column);
    if (v == nullptr) return 0;
    if (v[0] == 't' && v[1] == '\0') return 1;  // a boolean expression
    return std::strtoll(v, nullptr, 10);
  }
  double Double(int column) const override {
    const char* v = Value(column);
    return v == nullptr ? 0 : std::strtod(v, nullptr);
  }
  std::string Text(int column) const override {
    const char* v = Value(column);
    if (v == nullptr) return std::string();
    return std::string(v, static_cast<std::size_t>(PQgetlength(result_, row_, column)));
  }
  bool IsNull(int column) const override {
    return result_ == nullptr || row_ < 0 || row_ >= rows_ || column >= PQnfields(result_) ||
           PQgetisnull(result_, row_, column) != 0;
  }

  /// The connection was replaced: the server no longer knows this statement.
  void Forget() { prepared_name_.clear(); }

 private:
  bool Valid(int index) const {
    return index >= 1 && static_cast<std::size_t>(index) <= values_.size();
  }
  const char* Value(int column) const {
    if (IsNull(column)) return nullptr;
    return PQgetvalue(result_, row_, column);
  }
  void Clear() {
    if (result_ != nullptr) PQclear(result_);
    result_ = nullptr;
    row_ = -1;
    rows_ = 0;
  }

  PostgresConnection* conn_;
  std::string sql_;
  std::string prepared_name_;
  std::vector<std::optional<std::string>> values_;
  const bool plan_each_time_;
  std::string bind_error_;
  PGresult* result_ = nullptr;
  int row_ = -1;
  int rows_ = 0;

  friend class PostgresConnection;
};

class PostgresConnection final : public ConnectionBackend {
 public:
  PostgresConnection(PGconn* conn, std::string url) : conn_(conn), url_(std::move(url)) {}
  ~PostgresConnection() override {
    // Statements outliving the connection must not touch it.
    for (PostgresStatement* s : statements_) s->conn_ = nullptr;
    PQfinish(conn_);
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  std::optional<std::string> Exec(const std::string& sql) override {
    const bool begin = sql.rfind("BEGIN", 0) == 0;
    const bool commit = sql == "COMMIT";
    const bool rollback = sql == "ROLLBACK";
    if (in_transaction_ && PQstatus(conn_) != CONNECTION_OK) {
      // The connection died inside a transaction: nothing of it was stored. COMMIT must say so;
      // ROLLBACK ends it, and the next statement reconnects.
      if (commit || rollback) in_transaction_ = false;
      if (rollback) return std::nullopt;
      return std::string("the connection to PostgreSQL was lost; the transaction was not stored");
    }
    if (!EnsureConnected()) return LastError();
    PGresult* res = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(res);
    std::optional<std::string> error;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      error = PQstatus(conn_) == CONNECTION_BAD ? Trimmed(PQerrorMessage(conn_))
                                                : Trimmed(PQresultErrorMessage(res));
    } else if (commit && std::string_view(PQcmdStatus(res)) == "ROLLBACK") {
      // PostgreSQL answers the COMMIT of a transaction that failed earlier with a rollback and
      // no error: the caller must learn that nothing was stored.
      error = "the transaction failed earlier and was rolled back";
    } else {
      changes_ = std::atoll(PQcmdTuples(res));
    }
    PQclear(res);
    if (begin && !error) in_transaction_ = true;
    if (commit || rollback) {
      in_transaction_ = false;
      DeallocateDropped();
    }
    return error;
  }

  std::unique_ptr<StatementBackend> Prepare(std::string_view sql, Planning planning,
                                            std::string* error) override {
    int params = 0;
    std::string numbered = NumberPlaceholders(sql, &params);
    auto stmt = std::make_unique<PostgresStatement>(this, std::move(numbered), params, planning);
    // Prepared now, so that a statement the server refuses is reported where it is written.
    if (auto err = PrepareOnServer(stmt.get())) {
      *error = *err;
      last_error_ = *err;
      return nullptr;
    }
    statements_.push_back(stmt.get());
    return stmt;
  }

  /// The last statement's error, else the connection's.
  std::string LastError() const override {
    return !last_error_.empty() ? last_error_ : Trimmed(PQerrorMessage(conn_));
  }
  std::int64_t Changes() const override { return changes_; }

  std::optional<std::string> PrepareOnServer(PostgresStatement* s) {
    if (!EnsureConnected()) return LastError();
    std::string name = "w" + std::to_string(++statement_counter_);
    PGresult* res = PQprepare(conn_, name.c_str(), s->sql_.c_str(), 0, nullptr);
    std::optional<std::string> error;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      error = Trimmed(PQresultErrorMessage(res));
    } else {
      s->prepared_name_ = std::move(name);
    }
    PQclear(res);
    return error;
  }

  /// Runs a prepared statement; the result (or nullptr and *error).
  PGresult* Execute(PostgresStatement* s, std::string* error) {
    if (s->plan_each_time_ && !EnsureConnected()) {
      *error = LastError();
      return nullptr;
    }
    if (!s->plan_each_time_ && s->prepared_name_.empty()) {
      if (auto err = PrepareOnServer(s)) {
        *error = *err;
        return nullptr;
      }
    }
    std::vector<const char*> values(s->values_.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      values[i] = s->values_[i] ? s->values_[i]->c_str() : nullptr;
    }
    // Planned for these values (an unnamed statement): see Planning in storage/database.h.
    PGresult* res =
        s->plan_each_time_
            ? PQexecParams(conn_, s->sql_.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0)
            : PQexecPrepared(conn_, s->prepared_name_.c_str(), static_cast<int>(values.size()),
                             values.data(), nullptr, nullptr, 0);
    const ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      *error = PQstatus(conn_) == CONNECTION_BAD ? Trimmed(PQerrorMessage(conn_))
                                                 : Trimmed(PQresultErrorMessage(res));
      last_error_ = *error;
      PQclear(res);
      return nullptr;
    }
    changes_ = std::atoll(PQcmdTuples(res));
    return res;
  }

  void Deallocate(PostgresStatement* s) {
    for (auto it = statements_.begin(); it != statements_.end(); ++it) {
      if (*it == s) {
        statements_.erase(it);
        break;
      }
    }
    if (s->prepared_name_.empty() || PQstatus(conn_) != CONNECTION_OK) return;
    // Inside a failed transaction DEALLOCATE fails too: done once the transaction has ended.
    if (PQtransactionStatus(conn_) == PQTRANS_INERROR) {
      dropped_.push_back(s->prepared_name_);
      return;
    }
    PGresult* res = PQexec(conn_, ("DEALLOCATE " + s->prepared_name_).c_str());
    PQclear(res);
  }

  /// Session settings, on a new connection and again after a reconnect (the server forgets
  /// them with the session).
  std::optional<std::string> SetUpSession() {
    PGresult* res = PQexec(conn_,
                           "SET client_encoding = 'UTF8'; SET synchronous_commit = on; "
                           "SET client_min_messages = warning");
    std::optional<std::string> error;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) error = Trimmed(PQresultErrorMessage(res));
    PQclear(res);
    return error;
  }

 private:
  /// Reconnects a lost connection, never inside a transaction: what runs after a reconnect would
  /// run outside it, and its COMMIT would report a success it never had.
  bool EnsureConnected() {
    if (PQstatus(conn_) == CONNECTION_OK && !needs_session_) return true;
    if (PQstatus(conn_) != CONNECTION_OK) {
      if (in_transaction_) {
        last_error_ = "the connection to PostgreSQL was lost inside a transaction";
        return false;
      }
      PQreset(conn_);
      if (PQstatus(conn_) != CONNECTION_OK) return false;
      for (PostgresStatement* s : statements_) s->Forget();
      dropped_.clear();  // the old session's statements went with it
      needs_session_ = true;
    }
    if (auto err = SetUpSession()) {
      last_error_ = "PostgreSQL session: " + *err;
      return false;
    }
    needs_session_ = false;
    return true;
  }

  void DeallocateDropped() {
    if (dropped_.empty() || PQstatus(conn_) != CONNECTION_OK) return;
    for (const std::string& name : dropped_) {
      PGresult* res = PQexec(conn_, ("DEALLOCATE " + name).c_str());
      PQclear(res);
    }
    dropped_.clear();
  }

  PGconn* conn_;
  std::string url_;
  std::vector<PostgresStatement*> statements_;
  std::uint64_t statement_counter_ = 0;
  std::int64_t changes_ = 0;
  std::string last_error_;
  bool in_transaction_ = false;       ///< between a BEGIN that succeeded and its COMMIT or ROLLBACK
  bool needs_session_ = false;        ///< reconnected, session settings not yet applied
  std::vector<std::string> dropped_;  ///< statements to DEALLOCATE once the transaction ends
};

PostgresStatement::~PostgresStatement() {
  Clear();
  if (conn_ != nullptr) conn_->Deallocate(this);
}

bool PostgresStatement::Step(std::string* error) {
  if (result_ == nullptr) {
    if (conn_ == nullptr) {
      *error = "the connection is closed";
      return false;
    }
    if (!bind_error_.empty()) {
      *error = bind_error_;
      return false;
    }
    result_ = conn_->Execute(this, error);
    if (result_ == nullptr) return false;
    rows_ = PQntuples(result_);
    row_ = -1;
  }
  ++row_;
  return row_ < rows_;
}

}  // namespace

std::unique_ptr<ConnectionBackend> OpenPostgres(const std::string& url, std::string* error) {
  // A connect that hangs (a server that drops packets) must not hang a writer or a request
  // thread: 5 s unless the URL says otherwise; TCP keepalives find a dead peer.
  std::string location = url;
  if (location.find("connect_timeout=") == std::string::npos) {
    location += location.find('?') == std::string::npos ? "?" : "&";
    location += "connect_timeout=5&keepalives=1&keepalives_idle=30";
  }
  PGconn* conn = PQconnectdb(location.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    *error = "cannot connect to PostgreSQL: " +
             (conn != nullptr ? Trimmed(PQerrorMessage(conn)) : std::string("out of memory"));
    PQfinish(conn);
    return nullptr;
  }
  auto backend = std::make_unique<PostgresConnection>(conn, url);
  // Text in UTF-8; every commit durable (synchronous_commit on, whatever the server's default).
  if (auto err = backend->SetUpSession()) {
    *error = "PostgreSQL session: " + *err;
    return nullptr;
  }
  return backend;
}

}  // namespace waymark::collector
