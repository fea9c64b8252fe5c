// The few SQL expressions SQLite and PostgreSQL spell differently, for statements that are
// otherwise written once (storage/database.h). They are built from constant names only, never
// from request data.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "storage/database.h"

namespace waymark::collector {

/// "The string at `path` in the JSON text of `column`, else NULL": NULL for a number, an object, a
/// missing key, and a body the database cannot read (so one malformed body never fails a report).
/// SQLite: json_valid/json_type/json_extract; PostgreSQL: waymark_json_string (storage/schema.cpp).
std::string JsonStringSql(Dialect dialect, std::string_view column,
                          std::initializer_list<std::string_view> path);

/// A subquery giving the text values of a JSON array bound as parameter `?<param>`.
std::string JsonArrayTextsSql(Dialect dialect, int param);

/// The rows of a project's `table` whose `column` is one of the texts in the JSON array bound as
/// `?<keys>`, the project bound as `?<project>`: "SELECT <columns> FROM ..." with the table
/// aliased `t`. A join with the keys, so that whatever PostgreSQL's estimates it never tests every
/// row against every key (an `= ANY` filter over a sequential scan did: 7 ms for 300 devices of
/// 2 000); prepare it with Planning::kEachTime. SQLite probes the primary key for each key.
std::string ProjectRowsByKeysSql(Dialect dialect, std::string_view columns, std::string_view table,
                                 std::string_view column, int keys, int project);

}  // namespace waymark::collector
