#include "storage/database.h"

#include <utility>

#include "storage/backends.h"

namespace waymark::collector {

Database::Database() = default;
Database::~Database() = default;
Database::Database(Database&& other) noexcept = default;
Database& Database::operator=(Database&& other) noexcept = default;

bool Database::IsPostgresLocation(std::string_view location) {
  return location.rfind("postgres://", 0) == 0 || location.rfind("postgresql://", 0) == 0;
}

std::string Database::Loggable(std::string_view location) {
  std::string out(location);
  if (!IsPostgresLocation(out)) return out;
  // postgres://user:password@host/...: the password is between the first ':' after the scheme
  // and the '@' that ends the user part.
  const std::size_t start = out.find("://") + 3;
  const std::size_t at = out.find('@', start);
  const std::size_t colon = out.find(':', start);
  if (at != std::string::npos && colon != std::string::npos && colon < at) {
    out.replace(colon + 1, at - colon - 1, "***");
  }
  // ...?password=...&: a password given as a parameter.
  for (std::size_t p = out.find("password="); p != std::string::npos;
       p = out.find("password=", p + 1)) {
    const std::size_t value = p + 9;
    const std::size_t end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
  }
  return out;
}

std::optional<std::string> Database::Open(const std::string& location, bool synchronous_full,
                                          int cache_kib) {
  conn_.reset();
  std::string error;
  conn_ = IsPostgresLocation(location) ? OpenPostgres(location, &error)
                                       : OpenSqlite(location, synchronous_full, cache_kib, &error);
  if (conn_ == nullptr) return error.empty() ? std::string("cannot open the database") : error;
  return std::nullopt;
}

Dialect Database::dialect() const { return conn_ ? conn_->dialect() : Dialect::kSqlite; }

std::optional<std::string> Database::Exec(const std::string& sql) {
  if (!conn_) return std::string("the database is not open");
  return conn_->Exec(sql);
}

std::optional<std::string> Database::BeginWrite() {
  return Exec(dialect() == Dialect::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN");
}

std::optional<std::string> Database::BeginRead() {
  return Exec(dialect() == Dialect::kSqlite ? "BEGIN"
                                            : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

Statement Database::Prepare(std::string_view sql, Planning planning) {
  if (!conn_) return Statement(nullptr, "the database is not open");
  std::string error;
  std::unique_ptr<StatementBackend> stmt = conn_->Prepare(sql, planning, &error);
  return Statement(std::move(stmt), std::move(error));
}

sqlite3* Database::sqlite_handle() const { return conn_ ? conn_->sqlite_handle() : nullptr; }

std::string Database::LastError() const { return conn_ ? conn_->LastError() : "closed"; }

std::int64_t Database::Changes() const { return conn_ ? conn_->Changes() : 0; }

Statement::Statement(std::unique_ptr<StatementBackend> backend, std::string error)
    : backend_(std::move(backend)), error_(std::move(error)) {}

Statement::~Statement() = default;

Statement::Statement(Statement&& other) noexcept
    : backend_(std::move(other.backend_)),
      error_(std::move(other.error_)),
      failed_(other.failed_) {}

Statement& Statement::Bind(int index, std::string_view text) {
  if (backend_) backend_->BindText(index, text);
  return *this;
}

Statement& Statement::Bind(int index, std::int64_t value) {
  if (backend_) backend_->BindInt(index, value);
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  if (backend_) backend_->BindDouble(index, value);
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (backend_) backend_->BindNull(index);
  return *this;
}

bool Statement::Step() {
  if (!backend_) {
    failed_ = true;
    return false;
  }
  std::string error;
  if (backend_->Step(&error)) return true;
  if (!error.empty()) {
    failed_ = true;
    error_ = std::move(error);
  }
  return false;
}

bool Statement::Run() {
  Step();
  bool ok = !failed_;
  Reset();
  return ok;
}

void Statement::Reset() {
  if (backend_) backend_->Reset();
  failed_ = false;
}

std::int64_t Statement::Int(int column) const { return backend_ ? backend_->Int(column) : 0; }
double Statement::Double(int column) const { return backend_ ? backend_->Double(column) : 0; }
std::string Statement::Text(int column) const {
  return backend_ ? backend_->Text(column) : std::string();
}
bool Statement::IsNull(int column) const { return backend_ ? backend_->IsNull(column) : true; }

}  // namespace waymark::collector
