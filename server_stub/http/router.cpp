#include "http/router.h"

namespace waymark::collector {

void Router::Add(std::string method, const std::string& pattern, Handler handler) {
  Route_ route;
  route.method = std::move(method);
  if (pattern.find('(') == std::string::npos) {
    route.exact = pattern;
  } else {
    route.pattern = std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
  }
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

bool Router::Route(HttpRequest& request, HttpResponse& response) const {
  const std::string& method = request.method == "HEAD" ? std::string("GET") : request.method;
  for (const auto& route : routes_) {
    if (route.method != method) continue;
    if (!route.exact.empty()) {
      if (route.exact != request.path) continue;
      request.matches = {request.path};
    } else {
      std::smatch m;
      if (!std::regex_match(request.path, m, route.pattern)) continue;
      request.matches.clear();
      for (const auto& group : m) request.matches.push_back(group.str());
    }
    route.handler(request, response);
    return true;
  }
  return false;
}

}  // namespace waymark::collector
