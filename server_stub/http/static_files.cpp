#include "http/static_files.h"

#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <iterator>

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

bool ServeStatic(const std::string& dir, const httplib::Request& req, httplib::Response& res) {
  if (dir.empty() || (req.method != "GET" && req.method != "HEAD")) return false;
  const std::string& path = req.path;
  if (IsApiPath(path) || !SafePath(path)) return false;
  std::string file = dir + path;
  if (file.back() == '/') file += "index.html";

  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return false;
  if (S_ISDIR(st.st_mode)) {
    // "/app" is a folder: its relative links only resolve from "/app/".
    struct stat index {};
    if (::stat((file + "/index.html").c_str(), &index) != 0) return false;
    std::string location = req.target;
    const std::size_t query = location.find('?');
    location.insert(query == std::string::npos ? location.size() : query, "/");
    res.status = 301;
    res.set_header("Location", location);
    return true;
  }
  if (!S_ISREG(st.st_mode)) return false;

  char etag[64];
  std::snprintf(etag, sizeof(etag), "\"%llx-%llx\"", static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ULL +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec));
  const bool unchanged = req.get_header_value("If-None-Match") == etag;
  std::string body;
  if (!unchanged) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return false;  // unreadable: as if absent
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("ETag", etag);
  res.set_header("X-Content-Type-Options", "nosniff");
  if (unchanged) {
    res.status = 304;
    return true;
  }
  res.status = 200;
  res.set_content(body, StaticContentType(file));
  return true;
}

}  // namespace waymark::collector
