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

std::string InJsonArraySql(Dialect dialect, std::string_view column, int param) {
  const std::string col(column);
  if (dialect == Dialect::kPostgres) {
    return col + " = ANY (ARRAY(" + JsonArrayTextsSql(dialect, param) + "))";
  }
  return col + " IN (" + JsonArrayTextsSql(dialect, param) + ")";
}

std::string JsonArrayTextsSql(Dialect dialect, int param) {
  const std::string p = "?" + std::to_string(param);
  return dialect == Dialect::kPostgres ? "SELECT json_array_elements_text(CAST(" + p + " AS json))"
                                       : "SELECT value FROM json_each(" + p + ")";
}

}  // namespace waymark::collector
