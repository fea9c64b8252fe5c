#include "reports/report_csv.h"

#include <cstddef>
#include <map>
#include <utility>

namespace waymark::collector {
namespace {

using Row = std::vector<std::pair<std::string, std::string>>;  // column, cell text

// A value in a cell: text as is, numbers and booleans as JSON writes them, null empty.
std::string ScalarText(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// A list in one cell: values joined with "; ", objects as "key=value key=value".
std::string ListText(const json& list) {
  std::string out;
  for (const json& item : list) {
    if (!out.empty()) out += "; ";
    if (item.is_object()) {
      std::string fields;
      for (const auto& [k, v] : item.items()) {
        if (!fields.empty()) fields += ' ';
        fields += k + "=" + (v.is_structured() ? v.dump() : ScalarText(v));
      }
      out += fields;
    } else {
      out += item.is_structured() ? item.dump() : ScalarText(item);
    }
  }
  return out;
}

void Flatten(const json& value, const std::string& prefix, Row* row) {
  for (const auto& [key, v] : value.items()) {
    const std::string column = prefix.empty() ? key : prefix + "." + key;
    if (v.is_object()) {
      Flatten(v, column, row);
    } else if (v.is_array()) {
      row->emplace_back(column, ListText(v));
    } else {
      row->emplace_back(column, ScalarText(v));
    }
  }
}

// A member of `body`, or an empty value. (json::value with a json default hands back a reference
// to the temporary default in nlohmann/json 3.11, so it is not used here.)
const json& Member(const json& body, const char* key) {
  static const json kNothing;
  if (!body.is_object()) return kNothing;
  auto it = body.find(key);
  return it == body.end() ? kNothing : *it;
}

bool RunsAsFormula(const std::string& text) {
  if (text.empty()) return false;
  const char c = text[0];
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

std::string Cell(const std::string& text, bool is_number) {
  std::string value = !is_number && RunsAsFormula(text) ? "'" + text : text;
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

// Rows of one table of a report, each flattened.
std::vector<std::pair<Row, std::vector<bool>>> TableRows(const std::string& report,
                                                         const std::string& table,
                                                         const json& body) {
  std::vector<json> items;
  auto add_all = [&](const char* key, const json* extra = nullptr) {
    if (!body.contains(key) || !body[key].is_array()) return;
    for (const json& item : body[key]) {
      json row = extra ? *extra : json::object();
      if (item.is_object()) row.update(item);
      items.push_back(std::move(row));
    }
  };
  if (table == "breakdown") {
    // One row per value and stage (funnel, content gaps) or per value, model and channel
    // (attribution), the value's totals repeated on each.
    const json& breakdown = Member(body, "breakdown");
    const json& dimension = Member(breakdown, "dimension");
    for (const json& value : Member(breakdown, "values")) {
      json head = {{"dimension", dimension}, {"value", Member(value, "value")}};
      for (const char* total : {"total_profiles", "conversions", "gaps", "lost_in_gaps"}) {
        if (value.contains(total)) head[total] = value[total];
      }
      for (const json& stage : Member(value, "stages")) {
        json row = head;
        if (stage.is_object()) row.update(stage);
        items.push_back(std::move(row));
      }
      for (const json& model : Member(value, "models")) {
        for (const json& credit : Member(model, "values")) {
          json row = head;
          row["model"] = Member(model, "model");
          row["channel"] = Member(credit, "value");
          row["credit"] = Member(credit, "credit");
          row["share"] = Member(credit, "share");
          items.push_back(std::move(row));
        }
      }
    }
  } else if (report == "funnel") {
    const json main = {{"group", "main"}};
    const json side = {{"group", "side"}};
    add_all("stages", &main);
    add_all("side_stages", &side);
  } else if (report == "attribution") {
    // One row per model and value of what the credit is grouped by (channel, source, campaign).
    const json& by = Member(body, "by");
    const std::string key = by.is_string() ? by.get<std::string>() : "channel";
    for (const json& model : Member(body, "models")) {
      for (const json& value : Member(model, "values")) {
        json row = {{"model", Member(model, "model")}, {key, Member(value, "value")}};
        row["credit"] = Member(value, "credit");
        row["share"] = Member(value, "share");
        items.push_back(std::move(row));
      }
    }
  } else if (report == "webhooks" && table == "by_status") {
    // Every status of the outbox, 0 for those with no delivery (the JSON lists only the others).
    const json& by_status = Member(body, "by_status");
    for (const char* status : {"pending", "inflight", "delivered", "failed"}) {
      items.push_back({{"status", status}, {"deliveries", by_status.value(status, 0)}});
    }
    for (const auto& [status, count] : by_status.items()) {
      if (status != "pending" && status != "inflight" && status != "delivered" &&
          status != "failed") {
        items.push_back({{"status", status}, {"deliveries", count}});
      }
    }
  } else if (report == "overview") {
    json row = body;
    row.erase("map");
    row.erase("range");
    items.push_back(std::move(row));
  } else if (report == "paths") {
    for (const json& path : Member(body, "paths")) {
      json row = path;
      // A path reads as a sequence, not a list.
      if (row.contains("stages") && row["stages"].is_array()) {
        std::string joined;
        for (const json& s : row["stages"]) joined += (joined.empty() ? "" : " > ") + ScalarText(s);
        row["stages"] = joined;
      }
      items.push_back(std::move(row));
    }
  } else {
    add_all(table.c_str());
  }
  std::vector<std::pair<Row, std::vector<bool>>> rows;
  rows.reserve(items.size());
  for (const json& item : items) {
    Row row;
    Flatten(item, "", &row);
    std::vector<bool> numbers;
    numbers.reserve(row.size());
    for (const auto& [column, text] : row) {
      // Numbers came from JSON numbers: only those are written without the formula guard.
      const json* v = &item;
      std::size_t from = 0;
      while (v && v->is_object()) {
        const std::size_t dot = column.find('.', from);
        const std::string part = column.substr(from, dot == std::string::npos ? dot : dot - from);
        v = v->contains(part) ? &(*v)[part] : nullptr;
        if (dot == std::string::npos) break;
        from = dot + 1;
      }
      numbers.push_back(v && v->is_number());
    }
    rows.emplace_back(std::move(row), std::move(numbers));
  }
  return rows;
}

}  // namespace

std::vector<std::string> ReportTables(const std::string& report) {
  if (report == "funnel" || report == "content-gaps") return {"stages", "breakdown"};
  if (report == "time-in-stage") return {"stages"};
  if (report == "transitions") return {"edges"};
  if (report == "funnel-steps") return {"steps"};
  if (report == "attribution") return {"credits", "breakdown"};
  if (report == "channels") return {"campaigns", "channels"};
  if (report == "webhooks") return {"by_status", "recent_failures"};
  if (report == "overview") return {"totals"};
  if (report == "paths") return {"paths"};
  return {};
}

std::optional<std::string> ReportCsv(const std::string& report, const std::string& table,
                                     const json& body) {
  const auto tables = ReportTables(report);
  if (tables.empty()) return std::nullopt;
  const std::string chosen = table.empty() ? tables.front() : table;
  bool known = false;
  for (const auto& t : tables) known = known || t == chosen;
  if (!known) return std::nullopt;

  const auto rows = TableRows(report, chosen, body);
  if (rows.empty()) {
    // No row: the header alone, so that a spreadsheet (or a script) still sees the columns. Only
    // the tables that can be empty (a map always has stages); tests/collector/19-rollups checks
    // these against the header of the same table with rows.
    static const std::map<std::string, const char*> kEmptyHeaders = {
        {"transitions/edges", "from,to,count,kind,profiles,rules"},
        {"channels/campaigns", "channel,campaign,conversion_rate,converted,visitors"},
        {"channels/channels", "channel,conversion_rate,converted,visitors"},
        {"webhooks/recent_failures",
         "id,status,attempts,created_at,endpoint,last_error,last_status,next_attempt_at,trigger_"
         "id"},
        {"paths/paths", "stages,truncated,visitors"},
        {"funnel/breakdown", "dimension,value,id,name,total_profiles"},
        {"content-gaps/breakdown", "dimension,value,id,name,total_profiles,gaps,lost_in_gaps"},
        {"attribution/breakdown", "dimension,value,model,channel,conversions,credit,share"},
    };
    if (report == "attribution") {
      const json& by = Member(body, "by");
      return "model," + (by.is_string() ? by.get<std::string>() : std::string("channel")) +
             ",credit,share\r\n";
    }
    auto it = kEmptyHeaders.find(report + "/" + chosen);
    return it == kEmptyHeaders.end() ? std::string("\r\n") : std::string(it->second) + "\r\n";
  }
  // The columns that name a row first, then the rest in the order they first appear (the JSON's
  // members are in name order); rows without one leave its cell empty.
  static const char* kLeading[] = {"dimension", "value",  "project",  "group",  "model",
                                   "id",        "name",   "from",     "to",     "stage",
                                   "channel",   "source", "campaign", "status", "stages"};
  std::vector<std::string> columns;
  for (const char* lead : kLeading) {
    bool present = false;
    for (const auto& [row, numbers] : rows) {
      for (const auto& cell : row) present = present || cell.first == lead;
    }
    if (present) columns.emplace_back(lead);
  }
  for (const auto& [row, numbers] : rows) {
    for (const auto& [column, text] : row) {
      bool seen = false;
      for (const auto& c : columns) seen = seen || c == column;
      if (!seen) columns.push_back(column);
    }
  }
  std::string out;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    out += (i ? "," : "") + Cell(columns[i], false);
  }
  out += "\r\n";
  for (const auto& [row, numbers] : rows) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (i) out += ',';
      for (std::size_t j = 0; j < row.size(); ++j) {
        if (row[j].first == columns[i]) {
          out += Cell(row[j].second, numbers[j]);
          break;
        }
      }
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace waymark::collector
