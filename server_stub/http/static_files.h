// --static DIR: the dashboard's files, served for GET and HEAD. The folder is looked up only for
// paths outside the API (/v1/..., /healthz, /readyz, /metrics), so no file can shadow a route;
// a path ending in "/" serves that folder's index.html. Every file is sent with a Content-Type
// from its extension, `Cache-Control: no-cache` and an ETag (size and modification time), so a
// browser revalidates each time and gets 304 when nothing changed.
#pragma once

#include <httplib.h>

#include <string>

namespace waymark::collector {

/// True for the paths the API owns; the static folder is never consulted for them.
bool IsApiPath(const std::string& path);

/// The Content-Type for a file name by its extension (case-insensitive);
/// application/octet-stream for an unknown one.
std::string StaticContentType(const std::string& file_name);

/// Serves `req` from `dir` when it names a file there (or, for a path ending in "/", that
/// folder's index.html): true when `res` holds the answer (200, 304, or a 301 that adds the
/// missing "/" to a folder's path). False when the request is not for the folder (another
/// method, an API path, a path with a "." or ".." segment or a hidden name, nothing there): the
/// routes take it, and an unknown path gets the usual 404.
bool ServeStatic(const std::string& dir, const httplib::Request& req, httplib::Response& res);

}  // namespace waymark::collector
