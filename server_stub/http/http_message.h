// The request and response values the collector's routes work on. They know nothing of the HTTP
// library underneath (http_server.cpp is the only file that does), so the server can change
// without touching a handler.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace waymark::collector {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// Why a request reached its handler without a complete body (or without a usable head): the
/// server layer found it, the handler answers it (so that, for example, a 413 to an allowed
/// Origin still carries the CORS headers a browser needs to read it).
struct RequestProblem {
  int status = 0;  ///< 0: none; else 400, 408, 413, 431, ...
  std::string code;
  std::string message;
};

struct HttpRequest {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< as sent: path and query
  std::string path;    ///< percent-decoded path, without the query
  std::vector<std::pair<std::string, std::string>> params;  ///< decoded query parameters
  HeaderList headers;
  std::string body;
  std::string remote_addr;
  std::vector<std::string> matches;  ///< the route pattern's capture groups
  RequestProblem problem;

  /// The first header of that name (case-insensitive), or "".
  const std::string& Header(std::string_view name) const;
  bool HasParam(std::string_view name) const;
  /// The first query parameter of that name, or "".
  const std::string& Param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HeaderList headers;
  std::string body;
  bool close = false;  ///< close the connection after this answer

  void SetHeader(std::string name, std::string value);
  bool HasHeader(std::string_view name) const;
  const std::string& Header(std::string_view name) const;
  void SetContent(std::string content, std::string content_type);
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

/// Percent-decodes `text`; with `plus_is_space` (query strings) '+' becomes ' '. Invalid escapes
/// are kept as they are.
std::string PercentDecode(std::string_view text, bool plus_is_space);

/// Splits a request target into its decoded path and query parameters.
void ParseTarget(std::string_view target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* params);

}  // namespace waymark::collector
