#include "http/http_server.h"

#include <sys/resource.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

namespace waymark::collector {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// How long a closing connection keeps reading (and discarding) what the client still sends, so
// that our answer is not destroyed by a TCP reset before the client reads it (nginx's
// lingering close). A client that sent a too-large body is still writing it.
constexpr int kLingerMs = 2000;
// After Stop(), connections still busy get this long before the I/O threads stop regardless.
constexpr int kStopGraceMs = 10000;
// A deadline cancels the read; if the read is between two of its small reads it is cancelled
// again this much later, this many times, before the connection is closed outright.
constexpr int kCancelRetryMs = 100;
constexpr int kCancelAttempts = 5;

std::string ErrorJson(const std::string& code, const std::string& message) {
  // Codes and messages made here are plain ASCII without quotes or backslashes.
  return "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}}";
}

// Raise the open-file limit to what the system allows: every connection is a descriptor, and
// the default soft limit (often 1024) would refuse the 1025th browser.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

class Session;

struct HttpServer::Impl {
  Impl(HttpServerOptions o, Handler h)
      : options(std::move(o)),
        handler(std::move(h)),
        ioc(std::max(1, options.io_threads)),
        accept_strand(net::make_strand(ioc)),
        acceptor(accept_strand),
        accept_retry(accept_strand),
        stop_deadline(accept_strand),
        workers(static_cast<std::size_t>(std::max(1, options.worker_threads))) {}

  void Accept();
  /// Registers a new connection; false when every slot is taken by a busy connection.
  bool Admit(const std::shared_ptr<Session>& session);
  void Unregister(Session* session);
  void MarkIdle(const std::shared_ptr<Session>& session);
  void MarkBusy(Session* session);
  void StopOnIoThread();
  bool ChargeBody(std::size_t bytes);
  void ReleaseBody(std::size_t bytes);

  HttpServerOptions options;
  Handler handler;
  int port = 0;

  // The registry outlives the I/O context (declared before it): sessions that die while the
  // context is destroyed still unregister.
  std::mutex mu;
  std::list<std::weak_ptr<Session>> all;
  std::list<std::weak_ptr<Session>> idle;  // oldest idle first
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> queued{0};
  std::atomic<std::uint64_t> evicted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::size_t> body_bytes_held{0};

  net::io_context ioc;
  // The acceptor, its retry timer and the stop sequence share one strand.
  net::strand<net::io_context::executor_type> accept_strand;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  net::steady_timer stop_deadline;
  net::thread_pool workers;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(server->options.header_bytes + 8192) {
    error_code ec;
    auto endpoint = socket_.remote_endpoint(ec);
    if (!ec) remote_addr_ = endpoint.address().to_string();
  }
  ~Session() { server_->Unregister(this); }

  net::any_io_executor executor() { return socket_.get_executor(); }

  void Start(bool refuse) {
    net::dispatch(executor(), [self = shared_from_this(), refuse] {
      if (refuse) {
        self->keep_alive_ = false;
        self->WriteCanned(503, "server_busy", "every connection slot is in use; retry shortly");
        return;
      }
      self->WaitForRequest(/*first=*/true);
    });
  }

  // The registry's bookkeeping, guarded by the server's mutex.
  std::list<std::weak_ptr<Session>>::iterator all_it;
  std::list<std::weak_ptr<Session>>::iterator idle_it;
  bool registered = false;
  bool in_idle = false;

  /// Eviction: close if still idle (it may have become busy since it was chosen).
  void CloseIfIdle() {
    if (phase_ == Phase::kIdle) Close();
  }
  void OnServerStop() {
    // Nothing received yet, or only part of a head: nothing to answer. A body being read and a
    // request being handled finish (bounded by their deadlines) and close.
    if (phase_ == Phase::kIdle || phase_ == Phase::kHead) Close();
  }

 private:
  enum class Phase { kIdle, kHead, kBody, kContinue, kHandler, kWrite, kLinger, kClosed };

  void ArmTimer(int ms) {
    const std::uint64_t generation = ++timer_generation_;
    timer_.expires_after(std::chrono::milliseconds(ms));
    timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
      if (ec || generation != self->timer_generation_) return;
      self->OnDeadline();
    });
  }
  void DisarmTimer() {
    ++timer_generation_;
    timer_.cancel();
  }

  void OnDeadline() {
    switch (phase_) {
      case Phase::kHead:
      case Phase::kBody: {
        // Cancel the read; its handler answers 408 (a retryable status) and closes. Beast's
        // read is made of many small reads: a cancel that lands between two of them cancels
        // nothing, so cancel again shortly, and close if the read still has not stopped.
        if (!timed_out_) server_->timed_out.fetch_add(1);
        timed_out_ = true;
        if (++cancel_attempts_ > kCancelAttempts) {
          Close();
          break;
        }
        error_code ec;
        socket_.cancel(ec);
        ArmTimer(kCancelRetryMs);
        break;
      }
      case Phase::kWrite:
      case Phase::kContinue:
        server_->timed_out.fetch_add(1);
        Close();
        break;
      case Phase::kIdle:
      case Phase::kLinger:
        Close();
        break;
      case Phase::kHandler:
      case Phase::kClosed:
        break;
    }
  }

  // Waits until the client sends something, without holding a parser or a read buffer: an idle
  // keep-alive connection costs a socket and a timer.
  void WaitForRequest(bool first) {
    if (server_->stopping.load()) {
      Close();
      return;
    }
    if (buffer_.size() > 0) {  // the next request is already here (pipelined)
      ReadHead();
      return;
    }
    buffer_.shrink_to_fit();
    phase_ = Phase::kIdle;
    server_->MarkIdle(shared_from_this());
    // A new connection that sends nothing is held to the head deadline, not the idle one.
    ArmTimer(first ? server_->options.head_timeout_ms : server_->options.idle_timeout_ms);
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      self->server_->MarkBusy(self.get());
      if (ec || self->phase_ != Phase::kIdle) {
        self->Close();
        return;
      }
      self->ReadHead();
    });
  }

  void ReadHead() {
    phase_ = Phase::kHead;
    timed_out_ = false;
    cancel_attempts_ = 0;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.header_bytes));
    parser_->body_limit(server_->options.body_bytes);
    ArmTimer(server_->options.head_timeout_ms);
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->OnHead(ec); });
  }

  void OnHead(error_code ec) {
    if (phase_ == Phase::kClosed) return;
    if (timed_out_) {
      Refuse(408, "timeout",
             "request head not received within " +
                 std::to_string(server_->options.head_timeout_ms / 1000) + " s",
             /*with_head=*/false);
      return;
    }
    if (ec == http::error::body_limit) {
      RefuseBodyTooLarge();
      return;
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      // No line end at all within the limit: the request line itself is too long.
      const auto data = buffer_.data();
      const std::string_view seen(static_cast<const char*>(data.data()), data.size());
      if (seen.find("\r\n") == std::string_view::npos) {
        Refuse(
            414, "uri_too_long",
            "request line: more than " + std::to_string(server_->options.header_bytes) + " bytes",
            false);
      } else {
        Refuse(431, "headers_too_large",
               "headers: more than " + std::to_string(server_->options.header_bytes) + " bytes",
               false);
      }
      return;
    }
    if (ec) {
      if (IsDisconnect(ec)) {
        Close();
      } else {
        Refuse(400, "bad_request", "malformed HTTP request", false);
      }
      return;
    }
    const auto& head = parser_->get();
    header_fields_ = static_cast<std::size_t>(std::distance(head.begin(), head.end()));
    if (header_fields_ > server_->options.header_count) {
      Refuse(431, "too_many_headers",
             "headers: more than " + std::to_string(server_->options.header_count), false);
      return;
    }
    // Beast ignores a Transfer-Encoding that does not end in chunked and reads no body; the
    // body's bytes would then be taken for the next request (request smuggling).
    if (head.count(http::field::transfer_encoding) != 0 && !parser_->chunked()) {
      Refuse(400, "bad_request", "Transfer-Encoding: only chunked is supported", false);
      return;
    }
    if (parser_->is_done()) {
      Dispatch({});
      return;
    }
    // Bodies in memory are budgeted across connections: the whole Content-Length (a chunked
    // body: the cap), released once its answer is written.
    const std::size_t charge =
        static_cast<std::size_t>(parser_->content_length().value_or(server_->options.body_bytes));
    if (!server_->ChargeBody(charge)) {
      Refuse(503, "overloaded", "too many request bodies in flight; retry shortly", true);
      return;
    }
    body_charge_ = charge;
    if (head.version() >= 11 && beast::iequals(head[http::field::expect], "100-continue")) {
      phase_ = Phase::kContinue;
      ArmTimer(server_->options.write_timeout_ms);
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(socket_, net::buffer(kContinue, sizeof(kContinue) - 1),
                       [self = shared_from_this()](error_code ec, std::size_t) {
                         if (ec || self->phase_ == Phase::kClosed) {
                           self->Close();
                           return;
                         }
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    phase_ = Phase::kBody;
    ArmTimer(server_->options.body_timeout_ms);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) { self->OnBody(ec); });
  }

  void OnBody(error_code ec) {
    if (phase_ == Phase::kClosed) return;
    if (timed_out_) {
      Refuse(408, "timeout",
             "body: not received within " +
                 std::to_string(server_->options.body_timeout_ms / 1000) + " s",
             true);
      return;
    }
    if (ec == http::error::body_limit) {
      RefuseBodyTooLarge();
      return;
    }
    if (ec) {
      if (IsDisconnect(ec)) {
        Close();
      } else {
        Refuse(400, "bad_request", "malformed request body framing", true);
      }
      return;
    }
    Dispatch({});
  }

  // Over body_bytes: a Content-Length found at the head, or a chunked body while it is read.
  void RefuseBodyTooLarge() {
    Refuse(413, "payload_too_large",
           "body: more than " + std::to_string(server_->options.body_bytes) + " bytes",
           /*with_head=*/true);
  }

  static bool IsDisconnect(error_code ec) {
    return ec == http::error::end_of_stream || ec == http::error::partial_message ||
           ec == net::error::eof || ec == net::error::connection_reset ||
           ec == net::error::operation_aborted || ec == net::error::broken_pipe;
  }

  // A problem found by the server: the handler still answers (it logs, counts and adds CORS
  // headers); the connection closes afterwards, since the rest of the request may be unread.
  void Refuse(int status, std::string code, std::string message, bool with_head) {
    RequestProblem problem{status, std::move(code), std::move(message)};
    if (!with_head || !parser_) {
      parser_.emplace();  // no trustworthy head: an empty request
      header_fields_ = 0;
    }
    keep_alive_ = false;
    Dispatch(std::move(problem));
  }

  void Dispatch(RequestProblem problem) {
    DisarmTimer();
    phase_ = Phase::kHandler;
    auto request = std::make_shared<HttpRequest>();
    auto message = parser_->release();
    parser_.reset();
    request->method = std::string(message.method_string());
    request->target = std::string(message.target());
    ParseTarget(request->target, &request->path, &request->params);
    request->headers.reserve(header_fields_);
    std::size_t fields = 0;
    for (const auto& field : message) {
      if (fields++ == header_fields_) break;  // the rest are a chunked body's trailer fields
      request->headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request->remote_addr = remote_addr_;
    version_ = message.version() == 10 ? 10 : 11;
    if (problem.status == 0) {
      request->body = std::move(message.body());
      keep_alive_ = message.keep_alive();
    }
    request->problem = std::move(problem);
    head_request_ = request->method == "HEAD";

    if (server_->queued.load() >= server_->options.max_queued_requests) {
      keep_alive_ = false;
      WriteCanned(503, "overloaded", "too many requests are waiting; retry shortly");
      return;
    }
    server_->queued.fetch_add(1);
    // The work guard keeps the I/O threads running until this answer is posted back.
    auto work = net::make_work_guard(server_->ioc);
    net::post(server_->workers, [self = shared_from_this(), request, work]() mutable {
      self->server_->queued.fetch_sub(1);
      HttpResponse response;
      try {
        self->server_->handler(*request, response);
      } catch (...) {
        response = HttpResponse{};
        response.status = 500;
        response.SetContent(ErrorJson("internal", "internal error"), "application/json");
      }
      net::post(self->executor(), [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
      work.reset();
    });
  }

  void WriteCanned(int status, const std::string& code, const std::string& message) {
    HttpResponse response;
    response.status = status;
    response.SetHeader("Retry-After", "1");
    response.SetContent(ErrorJson(code, message), "application/json");
    Write(std::move(response));
  }

  void Write(HttpResponse in) {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kWrite;
    if (in.close || server_->stopping.load()) keep_alive_ = false;
    auto out = std::make_shared<http::response<http::string_body>>();
    out->version(version_);
    out->result(static_cast<unsigned>(in.status));
    for (auto& [name, value] : in.headers) out->insert(name, value);
    out->set("X-Content-Type-Options", "nosniff");
    const bool bodiless = in.status == 204 || in.status == 304 || in.status < 200;
    if (bodiless) {
      // No body and no length for these statuses.
    } else if (head_request_) {
      out->content_length(in.body.size());
    } else {
      out->body() = std::move(in.body);
      out->content_length(out->body().size());
    }
    out->keep_alive(keep_alive_);
    response_ = out;
    ArmTimer(server_->options.write_timeout_ms);
    http::async_write(socket_, *response_, [self = shared_from_this()](error_code ec, std::size_t) {
      self->response_.reset();
      self->ReleaseBody();
      if (self->phase_ == Phase::kClosed) return;
      if (ec) {
        self->Close();
      } else if (!self->keep_alive_) {
        self->Linger();
      } else {
        self->DisarmTimer();
        self->WaitForRequest(false);
      }
    });
  }

  void Linger() {
    phase_ = Phase::kLinger;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      Close();
      return;
    }
    linger_buffer_.reset(new char[4096]);
    ArmTimer(kLingerMs);
    DrainUntilClosed();
  }

  void DrainUntilClosed() {
    socket_.async_read_some(net::buffer(linger_buffer_.get(), 4096),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (ec || self->phase_ != Phase::kLinger) {
                                self->Close();
                                return;
                              }
                              self->DrainUntilClosed();
                            });
  }

  void ReleaseBody() {
    server_->ReleaseBody(body_charge_);
    body_charge_ = 0;
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    ReleaseBody();
    DisarmTimer();
    error_code ec;
    socket_.close(ec);
    server_->Unregister(this);
  }

  HttpServer::Impl* server_;
  tcp::socket socket_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  std::unique_ptr<char[]> linger_buffer_;
  std::string remote_addr_;
  Phase phase_ = Phase::kIdle;
  std::uint64_t timer_generation_ = 0;
  bool timed_out_ = false;
  int cancel_attempts_ = 0;
  std::size_t header_fields_ = 0;  // fields of the head: what follows a chunked body is a trailer
  std::size_t body_charge_ = 0;    // bytes charged to the server's body budget
  bool keep_alive_ = true;
  bool head_request_ = false;
  unsigned version_ = 11;
};

// ---------------------------------------------------------------------------------------------
// The connection registry: open connections and the idle ones, oldest first.

bool HttpServer::Impl::Admit(const std::shared_ptr<Session>& session) {
  std::shared_ptr<Session> victim;
  bool admitted = true;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (all.size() >= options.max_connections) {
      // The oldest idle one still alive; one being destroyed unregisters itself.
      for (auto it = idle.begin(); it != idle.end(); ++it) {
        if (auto oldest = it->lock()) {
          oldest->in_idle = false;
          idle.erase(it);
          victim = std::move(oldest);
          break;
        }
      }
    }
    if (all.size() >= options.max_connections && !victim) admitted = false;
    all.push_back(session);
    session->all_it = std::prev(all.end());
    session->registered = true;
  }
  if (victim) {
    evicted.fetch_add(1);
    net::post(victim->executor(), [victim] { victim->CloseIfIdle(); });
  }
  if (!admitted) refused.fetch_add(1);
  return admitted;
}

void HttpServer::Impl::Unregister(Session* session) {
  bool drained = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (session->in_idle) {
      idle.erase(session->idle_it);
      session->in_idle = false;
    }
    if (session->registered) {
      all.erase(session->all_it);
      session->registered = false;
      drained = stopping.load() && all.empty();
    }
  }
  // Stopping and nothing left open: nothing is pending that matters (a request in flight keeps
  // its session registered), so the I/O threads may end now. io_context::stop is thread-safe.
  if (drained) ioc.stop();
}

void HttpServer::Impl::MarkIdle(const std::shared_ptr<Session>& session) {
  std::lock_guard<std::mutex> lock(mu);
  if (session->in_idle || !session->registered) return;
  idle.push_back(session);
  session->idle_it = std::prev(idle.end());
  session->in_idle = true;
}

void HttpServer::Impl::MarkBusy(Session* session) {
  std::lock_guard<std::mutex> lock(mu);
  if (!session->in_idle) return;
  idle.erase(session->idle_it);
  session->in_idle = false;
}

bool HttpServer::Impl::ChargeBody(std::size_t bytes) {
  std::size_t held = body_bytes_held.load();
  do {
    if (held + bytes > options.body_bytes_in_flight) return false;
  } while (!body_bytes_held.compare_exchange_weak(held, held + bytes));
  return true;
}

void HttpServer::Impl::ReleaseBody(std::size_t bytes) {
  if (bytes != 0) body_bytes_held.fetch_sub(bytes);
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    if (!acceptor.is_open() || stopping.load()) return;
    if (ec) {
      // Out of descriptors or a transient error: pause instead of spinning on it.
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session = std::make_shared<Session>(std::move(socket), this);
    session->Start(!Admit(session));
    Accept();
  });
}

void HttpServer::Impl::StopOnIoThread() {
  error_code ec;
  acceptor.close(ec);
  accept_retry.cancel();
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& weak : all) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  if (open.empty()) return;
  for (auto& s : open) net::post(s->executor(), [s] { s->OnServerStop(); });
  stop_deadline.expires_after(std::chrono::milliseconds(kStopGraceMs));
  stop_deadline.async_wait([this](error_code wait_ec) {
    if (!wait_ec) ioc.stop();
  });
}

// ---------------------------------------------------------------------------------------------

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  Stop();
  impl_->ioc.stop();
  impl_->workers.join();
}

std::optional<std::string> HttpServer::Bind() {
  RaiseFileLimit();
  error_code ec;
  const auto address = net::ip::make_address(impl_->options.bind, ec);
  if (ec) return "cannot bind " + impl_->options.bind + ": not an IP address";
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->options.port));
  auto& acceptor = impl_->acceptor;
  const std::string where = impl_->options.bind + ":" + std::to_string(impl_->options.port);
  if (acceptor.open(endpoint.protocol(), ec)) return "cannot bind " + where + ": " + ec.message();
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec)) return "cannot bind " + where + ": " + ec.message();
  if (acceptor.listen(1024, ec)) return "cannot listen on " + where + ": " + ec.message();
  impl_->port = acceptor.local_endpoint(ec).port();
  impl_->Accept();
  return std::nullopt;
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Run() {
  std::vector<std::thread> threads;
  for (int i = 1; i < std::max(1, impl_->options.io_threads); ++i) {
    threads.emplace_back([this] { impl_->ioc.run(); });
  }
  impl_->ioc.run();
  for (auto& t : threads) t.join();
  impl_->workers.join();
}

void HttpServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  net::post(impl_->accept_strand, [impl = impl_.get()] { impl->StopOnIoThread(); });
}

HttpServerStats HttpServer::stats() const {
  HttpServerStats s;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    s.open_connections = impl_->all.size();
    s.idle_connections = impl_->idle.size();
  }
  s.queued_requests = impl_->queued.load();
  s.evicted_idle = impl_->evicted.load();
  s.refused_full = impl_->refused.load();
  s.timed_out = impl_->timed_out.load();
  s.body_bytes_held = impl_->body_bytes_held.load();
  return s;
}

}  // namespace waymark::collector
