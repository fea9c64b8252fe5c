// GET /v1/stats/<report>?format=csv: a report's table as CSV, the same numbers as its JSON, for a
// spreadsheet. Each report names the list that is its table (ReportTables); a row's nested
// objects become dotted columns ("shown.total"), lists of values one cell joined with "; ".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "waymark/json_util.h"

namespace waymark::collector {

/// The tables a report can be exported as, its default first (the `table` parameter picks one).
/// Empty for a name that is no report.
std::vector<std::string> ReportTables(const std::string& report);

/// `table` (one of ReportTables(report), or "" for the default) of `body` (the report's JSON) as
/// RFC 4180 CSV: a header row, then one row per item, CRLF line ends. Text that a spreadsheet
/// would run as a formula (starting with =, +, -, @, tab or CR) is prefixed with an apostrophe:
/// event names, campaigns and pages come from visitors. Nothing when `table` is not one of the
/// report's.
std::optional<std::string> ReportCsv(const std::string& report, const std::string& table,
                                     const json& body);

}  // namespace waymark::collector
