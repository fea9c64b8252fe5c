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

/// "`column` is one of the texts in the JSON array bound as `?<param>`", in a form each database
/// answers with its index on `column`. (PostgreSQL plans `IN (SELECT json_array_elements_text
/// ...)` as a join that scans the whole table: `= ANY (ARRAY(...))` probes the index.)
std::string InJsonArraySql(Dialect dialect, std::string_view column, int param);

}  // namespace waymark::collector
