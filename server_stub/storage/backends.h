// The two storage backends behind Database (storage/database.h).
#pragma once

#include <memory>
#include <string>

#include "storage/database.h"

namespace waymark::collector {

/// Opens (creating) a SQLite file in WAL mode. nullptr with *error set on failure.
std::unique_ptr<ConnectionBackend> OpenSqlite(const std::string& path, bool synchronous_full,
                                              int cache_kib, std::string* error);

/// Connects to PostgreSQL (a libpq URL). nullptr with *error set on failure.
std::unique_ptr<ConnectionBackend> OpenPostgres(const std::string& url, std::string* error);

}  // namespace waymark::collector
