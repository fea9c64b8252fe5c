// --static DIR: the dashboard's files, served for GET and HEAD. The folder is looked up only for
// paths outside the API (/v1/..., /healthz, /readyz, /metrics), so no file can shadow a route;
// a path ending in "/" serves that folder's index.html. Every file is sent with a Content-Type
// from its extension, `Cache-Control: no-cache` and an ETag (size and modification time), so a
// browser revalidates each time and gets 304 when nothing changed.
//
// The folder's real path is resolved once; a file whose real path (after every symlink) leaves
// it is never served. A file with a precompressed sibling made at build time (`name.br`,
// `name.gz`) is sent as that sibling when the browser accepts the encoding, so nothing is
// compressed per request. HTML pages carry a Content-Security-Policy.
#pragma once

#include <string>

#include "http/http_message.h"

namespace waymark::collector {

/// True for the paths the API owns; the static folder is never consulted for them.
bool IsApiPath(const std::string& path);

/// The Content-Type for a file name by its extension (case-insensitive);
/// application/octet-stream for an unknown one.
std::string StaticContentType(const std::string& file_name);

/// The Content-Security-Policy sent with every HTML page of the folder: the dashboard's own
/// scripts and styles only, its API on the same origin, never framed.
extern const char kStaticPageCsp[];

class StaticFiles {
 public:
  StaticFiles() = default;
  /// `dir` empty: no folder is served. A folder that does not exist serves nothing.
  explicit StaticFiles(const std::string& dir);

  /// Serves `req` from the folder when it names a file there (or, for a path ending in "/",
  /// that folder's index.html): true when `res` holds the answer (200, 304, or a 301 that adds
  /// the missing "/" to a folder's path). False when the request is not for the folder (another
  /// method, an API path, a path with a "." or ".." segment or a hidden name, a symlink out of
  /// the folder, nothing there): the routes take it, and an unknown path gets the usual 404.
  bool Serve(const HttpRequest& req, HttpResponse& res) const;

 private:
  std::string root_;  ///< the folder's real path, no trailing '/'; empty: disabled
};

}  // namespace waymark::collector
