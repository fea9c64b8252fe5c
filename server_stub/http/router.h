// The route table: a method and a path pattern to a handler. A pattern is an exact path, or a
// regular expression (matched against the whole decoded path) when it holds a '('; its capture
// groups land in HttpRequest::matches (matches[0] is the whole path). HEAD is served by the GET
// routes (the server sends the headers without the body).
#pragma once

#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "http/http_message.h"

namespace waymark::collector {

class Router {
 public:
  using Handler = std::function<void(HttpRequest& request, HttpResponse& response)>;

  void Add(std::string method, const std::string& pattern, Handler handler);
  /// Runs the first matching route; false when none matches (the caller answers 404).
  bool Route(HttpRequest& request, HttpResponse& response) const;

 private:
  struct Route_ {
    std::string method;
    std::string exact;  ///< empty when `pattern` is used
    std::regex pattern;
    Handler handler;
  };
  std::vector<Route_> routes_;
};

}  // namespace waymark::collector
