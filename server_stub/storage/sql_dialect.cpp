#include "storage/sql_dialect.h"

namespace waymark::collector {

std::string JsonStringSql(Dialect dialect, std::string_view column,
                          std::initializer_list<std::string_view> path) {
  std::string col(column);
  if (dialect == Dialect::kPostgres) {
    std::string out = "waymark_json_string(" + col;
    for (std::string_view key : path) out += ", '" + std::string(key) + "'";
    return out + ")";
  }
  std::string json_path = "'$";
  for (std::string_view key : path) json_path += "." + std::string(key);
  json_path += "'";
  return "CASE WHEN json_valid(" + col + ") THEN CASE WHEN json_type(" + col + ", " + json_path +
         ") = 'text' THEN json_extract(" + col + ", " + json_path + ") END END";
}

std::string ProjectRowsByKeysSql(Dialect dialect, std::string_view columns, std::string_view table,
                                 std::string_view column, int keys, int project) {
  const std::string k = "?" + std::to_string(keys);
  const std::string source = dialect == Dialect::kPostgres
                                 ? "json_array_elements_text(CAST(" + k + " AS json)) AS k(value)"
                                 : "json_each(" + k + ") AS k";
  // SQLite keeps a CROSS JOIN's order: the keys outside, the table's primary key probed for each
  // (without statistics it would rather scan the project's rows through another index).
  const char* join = dialect == Dialect::kPostgres ? " JOIN " : " CROSS JOIN ";
  return "SELECT " + std::string(columns) + " FROM " + source + join + std::string(table) +
         " t ON t.project_id = ?" + std::to_string(project) + " AND t." + std::string(column) +
         " = k.value";
}

std::string JsonArrayTextsSql(Dialect dialect, int param) {
  const std::string p = "?" + std::to_string(param);
  return dialect == Dialect::kPostgres ? "SELECT json_array_elements_text(CAST(" + p + " AS json))"
                                       : "SELECT value FROM json_each(" + p + ")";
}

}  // namespace waymark::collector
