#include "http/static_files.h"

#include <sys/stat.h>

#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "http/answer_coding.h"

namespace waymark::collector {

namespace {

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Decoded paths may hold anything: refuse what could leave the folder or reach hidden files
// (".", "..", ".git", ".env"), backslashes and control characters.
bool SafePath(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string segment = path.substr(start, end - start);
    if (!segment.empty() && segment[0] == '.') return false;
    start = end + 1;
  }
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  }
  return true;
}

}  // namespace

bool IsApiPath(const std::string& path) {
  return path == "/v1" || StartsWith(path, "/v1/") || path == "/healthz" || path == "/readyz" ||
         path == "/metrics";
}

std::string StaticContentType(const std::string& file_name) {
  const std::size_t dot = file_name.rfind('.');
  const std::size_t slash = file_name.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string ext = file_name.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, const char*> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"wasm", "application/wasm"},
      {"txt", "text/plain; charset=utf-8"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
  };
  for (const auto& [e, type] : kTypes) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

const char kStaticPageCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

StaticFiles::StaticFiles(const std::string& dir) {
  if (dir.empty()) return;
  char resolved[PATH_MAX];
  if (::realpath(dir.c_str(), resolved) != nullptr) root_ = resolved;
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

namespace {

// `path` is the real path of a file: true when it lies inside `root`.
bool Inside(const std::string& root, const std::string& path) {
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
         (root == "/" || path[root.size()] == '/');
}

}  // namespace

bool StaticFiles::Serve(const HttpRequest& req, HttpResponse& res) const {
  if (root_.empty() || (req.method != "GET" && req.method != "HEAD")) return false;
  const std::string& path = req.path;
  // "//host/x" in a Location header would send the browser to another site.
  if (IsApiPath(path) || !SafePath(path) || path.rfind("//", 0) == 0) return false;
  std::string file = root_ + path;
  if (file.back() == '/') file += "index.html";

  // Every symlink resolved: a link that leads out of the folder is as if absent.
  char resolved[PATH_MAX];
  if (::realpath(file.c_str(), resolved) == nullptr || !Inside(root_, resolved)) return false;
  struct stat st {};
  if (::stat(resolved, &st) != 0) return false;
  if (S_ISDIR(st.st_mode)) {
    // "/app" is a folder: its relative links only resolve from "/app/".
    struct stat index {};
    if (::stat((std::string(resolved) + "/index.html").c_str(), &index) != 0) return false;
    std::string location = req.target;
    const std::size_t query = location.find('?');
    location.insert(query == std::string::npos ? location.size() : query, "/");
    res.status = 301;
    res.SetHeader("Location", location);
    return true;
  }
  if (!S_ISREG(st.st_mode)) return false;

  // A sibling compressed at build time, when the browser takes it and it is newer than the file.
  std::string sent = resolved;
  const char* encoding = nullptr;
  const std::string& accept = req.Header("Accept-Encoding");
  for (const auto& [coding, suffix] : {std::pair<const char*, const char*>{"br", ".br"},
                                       std::pair<const char*, const char*>{"gzip", ".gz"}}) {
    if (!AcceptsCoding(accept, coding)) continue;
    const std::string candidate = std::string(resolved) + suffix;
    char real_candidate[PATH_MAX];
    struct stat cst {};
    if (::realpath(candidate.c_str(), real_candidate) != nullptr && Inside(root_, real_candidate) &&
        ::stat(real_candidate, &cst) == 0 && S_ISREG(cst.st_mode) && cst.st_mtime >= st.st_mtime) {
      sent = real_candidate;
      st = cst;
      encoding = coding;
      break;
    }
  }

  char etag[80];
  std::snprintf(etag, sizeof(etag), "\"%llx-%llx%s%s\"",
                static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ULL +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec),
                encoding ? "-" : "", encoding ? encoding : "");
  const bool unchanged = req.Header("If-None-Match") == etag;
  std::string body;
  if (!unchanged) {
    std::ifstream in(sent, std::ios::binary);
    if (!in) return false;  // unreadable: as if absent
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  res.SetHeader("Cache-Control", "no-cache");
  res.SetHeader("ETag", etag);
  res.SetHeader("Vary", "Accept-Encoding");
  const std::string type = StaticContentType(file);
  if (type.rfind("text/html", 0) == 0) res.SetHeader("Content-Security-Policy", kStaticPageCsp);
  if (unchanged) {
    res.status = 304;
    return true;
  }
  res.status = 200;
  if (encoding) res.SetHeader("Content-Encoding", encoding);
  res.SetContent(std::move(body), type);
  return true;
}

}  // namespace waymark::collector
