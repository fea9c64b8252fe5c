// The collector's HTTP/1.1 server: event-driven (Boost.Asio + Boost.Beast), so a few I/O threads
// carry any number of open connections, and idle or slow clients hold a socket, never a thread.
// Handlers run on a separate worker pool, because they may wait on the database (a batch is
// answered only after its group commit); the I/O threads never block.
//
// Every limit is enforced here, whatever the client claims: a deadline for the whole request
// head and one for the whole body (not per byte, so trickling bytes does not extend them), the
// header count and total header bytes, the body bytes on the wire whatever the framing (chunked
// included), an idle keep-alive timeout, and a cap on open connections where the oldest idle
// keep-alive connections are closed first so that new clients are still served.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "http/http_message.h"

namespace waymark::collector {

struct HttpServerOptions {
  std::string bind = "127.0.0.1";
  int port = 0;  ///< 0 picks a free port
  int io_threads = 2;
  int worker_threads = 16;
  std::size_t max_connections = 10000;     ///< open connections; the oldest idle go first
  std::size_t max_queued_requests = 4096;  ///< requests waiting for a worker; above: 503
  int head_timeout_ms = 10000;             ///< the whole request head, from its first byte
  int body_timeout_ms = 30000;             ///< the whole body, from the end of the head
  int idle_timeout_ms = 60000;             ///< a keep-alive connection with no request
  int write_timeout_ms = 30000;            ///< the whole answer
  std::size_t header_bytes = 16 * 1024;    ///< request line and headers together
  std::size_t header_count = 100;
  std::size_t body_bytes = 512 * 1024;  ///< one body, before any Content-Encoding
  /// All bodies being read or handled at once (each counted at its Content-Length, a chunked
  /// one at body_bytes); a request beyond it gets 503 and retries.
  std::size_t body_bytes_in_flight = 256 * 1024 * 1024;
};

/// Counters the collector exports as metrics and reports in its benchmark.
struct HttpServerStats {
  std::size_t open_connections = 0;
  std::size_t idle_connections = 0;
  std::size_t queued_requests = 0;
  std::uint64_t evicted_idle = 0;   ///< idle connections closed to make room
  std::uint64_t refused_full = 0;   ///< connections answered 503 because all were busy
  std::uint64_t timed_out = 0;      ///< head, body or write deadlines missed
  std::size_t body_bytes_held = 0;  ///< charged to the body budget now
};

class HttpServer {
 public:
  /// Runs on a worker thread for every request, including those the server found a problem
  /// with (`request.problem.status != 0`: the handler answers them, so it can log and decorate).
  using Handler = std::function<void(HttpRequest& request, HttpResponse& response)>;

  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and listens (backlog 1024). Error message on failure.
  std::optional<std::string> Bind();
  int port() const;
  /// Serves until Stop(), then waits for the requests in flight (bounded by the write timeout).
  void Run();
  /// Stops accepting, closes idle connections, lets requests in flight finish with
  /// `Connection: close`. Safe from any thread.
  void Stop();

  HttpServerStats stats() const;

  struct Impl;  ///< the event loop, the workers and the connection registry (http_server.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace waymark::collector
