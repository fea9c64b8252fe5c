// Collector benchmark: the real waymark-collector under load, against two baselines measured in
// the same run on the same machine and disk. It measures the three collector aims of issue 10.
//
//   waymark_collector_bench [COLLECTOR] [--collector PATH] [--clients 8] [--duration 10]
//                           [--batch 50] [--visitors 1000] [--hello-seconds 3]
//                           [--half-rate-seconds 10] [--browsers 2000] [--browser-interval 10]
//                           [--browser-batch 3] [--browser-seconds 30] [--dir DIR]
//                           [--out bench/results/collector.json] [--keep]
//
// 1. Starts COLLECTOR (default build/native/bin/waymark-collector) on a fresh database in a temp
//    folder, with --port 0 --quiet --sync full and rate limits far above the load
//    (--rate-limit 1000000, and --client-rate-limit 1000000 when its --help lists that flag), and
//    reads its URL from the JSON line on stdout.
// 2. Throughput, closed loop: N keep-alive clients (httplib::Client, TCP_NODELAY) post batches of
//    SDK-like envelopes back to back for --duration seconds per phase: 0 % duplicates, then 30 %
//    duplicates (events re-sent from the client's earlier batches). Accepted events/s counts
//    events answered accepted or duplicate. Its p99 (under saturation) is kept for context.
// 3. p99 at half the maximum rate, open loop: half the requests/s of the 0 % phase, sent at
//    evenly spaced scheduled times over N connections (request k on connection k mod N; a request
//    whose connection is still busy waits), the same 50-event bodies; latency runs from the
//    scheduled send time to the whole answer (no coordinated omission).
// 4. Many browsers, open loop: --browsers simulated browsers, each with its own keep-alive
//    connection (opened at its first send) and its own anonymous id, each posting a small batch
//    (--browser-batch events) every --browser-interval seconds from a start time drawn uniformly
//    over the first interval (independent browsers: 2 000 every 10 s offer 200 requests/s, with
//    random gaps between them) for --browser-seconds; the collector's threads and memory
//    (/proc/PID/status) and its connection gauges (/metrics) are sampled every second. Then the
//    same schedule and the same kind of bodies over only N connections (request k of the schedule
//    on connection k mod N). Both are driven by one epoll thread of this process.
// 5. Baseline A, raw SQLite: the rows the collector stored (its events table's own DDL and rows,
//    read back from its database) inserted into a fresh file in the same folder, WAL,
//    synchronous=FULL, in transactions of the collector's average commit size (from GET /metrics,
//    waymark_commit_events _sum/_count), and of 1 and 1000 rows for context.
// 6. Baseline B, the latency floor: an in-process cpp-httplib server (TCP_NODELAY, backlog 1024,
//    32 worker threads, keep-alive) answering a tiny JSON: closed loop as in 2 (context), and
//    open loop at the rate of 3 with the same schedule and bodies.
// 7. Prints a table, writes JSON with the machine, the figures and the ratios against their aims:
//    collector events/s / raw rows/s >= 0.5 in both phases; p99 at half rate / hello-world p99 at
//    that rate <= 3; every browser request answered 200 and p99 over the browsers' own
//    connections <= 3 x p99 over N connections.
//
// Client and server share the machine's cores (2 on the project's machines): the figures are
// reported, never asserted, and are only comparable with runs on the same kind of machine.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef WAYMARK_COLLECTOR_DEFAULT_PATH
#define WAYMARK_COLLECTOR_DEFAULT_PATH "build/native/bin/waymark-collector"
#endif

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kAimThroughputRatio = 0.5;  // collector events/s / raw SQLite rows/s, at least
constexpr double kAimLatencyRatio = 3.0;   // collector p99 / hello-world p99 at half rate, at most
constexpr double kAimBrowsersRatio = 3.0;  // p99 over own connections / over N, at most
constexpr int kServerThreads = 32;         // the collector's default worker_threads
constexpr const char* kSiteKey = "benchkey";

// ----------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string collector = WAYMARK_COLLECTOR_DEFAULT_PATH;
  int clients = 8;
  double duration = 10;  // seconds per collector phase
  double warmup = 1;
  int batch = 50;
  int visitors = 1000;
  int visitor_run = 1;  // consecutive events of one visitor in a batch (1: every event picks anew)
  double dup_fraction = 0.3;
  double hello_seconds = 3;
  double sqlite_seconds = 8;  // cap for the matched-size baseline (the others get less)
  double half_rate_seconds = 10;
  double half_rate_fraction = 0.5;  // of the 0 % phase's requests/s
  int browsers = 2000;
  double browser_interval = 10;  // seconds between one browser's batches
  int browser_batch = 3;         // events per browser batch
  double browser_seconds = 30;   // each of the two browser phases
  double request_timeout = 30;   // open loop: an answer later than this counts as unanswered
  std::string dir;               // parent of the temp folder; default: next to the build's bin/
  std::string out = "bench/results/collector.json";
  std::string sync = "full";
  bool keep = false;
};

void Usage(FILE* f) {
  std::fprintf(
      f,
      "usage: waymark_collector_bench [COLLECTOR] [--collector PATH] [--clients N]\n"
      "         [--duration SECONDS] [--warmup SECONDS] [--batch EVENTS]\n"
      "         [--visitors N] [--visitor-run K] [--duplicates FRACTION]\n"
      "         [--hello-seconds SECONDS] [--sqlite-seconds SECONDS]\n"
      "         [--half-rate-seconds SECONDS] [--half-rate-fraction F]\n"
      "         [--browsers N] [--browser-interval SECONDS] [--browser-batch EVENTS]\n"
      "         [--browser-seconds SECONDS] [--request-timeout SECONDS]\n"
      "         [--sync full|normal] [--dir DIR] [--out FILE] [--keep]\n"
      "defaults: %s,\n"
      "8 clients, 10 s per closed-loop phase (0 %% and 30 %% duplicates),\n"
      "batches of 50 events over 1000 visitors (each event's visitor drawn anew;\n"
      "--visitor-run K gives runs of K events of one visitor), hello-world 3 s; open loop:\n"
      "half (--half-rate-fraction 0.5) of the 0 %% phase's requests/s for 10 s over the 8\n"
      "clients' connections, against the collector and the hello-world; 2000 browsers, each\n"
      "on its own connection, 3 events every 10 s, for 30 s, then the same schedule over\n"
      "8 connections; answers later than 30 s count as unanswered. --sync full, JSON to\n"
      "bench/results/collector.json; the databases go to a temp folder in --dir\n"
      "(default: the folder above the collector's bin/) and are deleted unless --keep.\n",
      WAYMARK_COLLECTOR_DEFAULT_PATH);
}

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](std::string* v) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "collector_bench: %s needs a value\n", a.c_str());
        return false;
      }
      *v = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      Usage(stdout);
      std::exit(0);
    } else if (a == "--keep") {
      o->keep = true;
    } else if (a.rfind("--", 0) != 0) {
      o->collector = a;
    } else if (!next(&v)) {
      return false;
    } else if (a == "--collector") {
      o->collector = v;
    } else if (a == "--clients") {
      o->clients = std::atoi(v.c_str());
    } else if (a == "--duration") {
      o->duration = std::atof(v.c_str());
    } else if (a == "--warmup") {
      o->warmup = std::atof(v.c_str());
    } else if (a == "--batch") {
      o->batch = std::atoi(v.c_str());
    } else if (a == "--visitors") {
      o->visitors = std::atoi(v.c_str());
    } else if (a == "--visitor-run") {
      o->visitor_run = std::atoi(v.c_str());
    } else if (a == "--duplicates") {
      o->dup_fraction = std::atof(v.c_str());
    } else if (a == "--hello-seconds") {
      o->hello_seconds = std::atof(v.c_str());
    } else if (a == "--sqlite-seconds") {
      o->sqlite_seconds = std::atof(v.c_str());
    } else if (a == "--half-rate-seconds") {
      o->half_rate_seconds = std::atof(v.c_str());
    } else if (a == "--half-rate-fraction") {
      o->half_rate_fraction = std::atof(v.c_str());
    } else if (a == "--browsers") {
      o->browsers = std::atoi(v.c_str());
    } else if (a == "--browser-interval") {
      o->browser_interval = std::atof(v.c_str());
    } else if (a == "--browser-batch") {
      o->browser_batch = std::atoi(v.c_str());
    } else if (a == "--browser-seconds") {
      o->browser_seconds = std::atof(v.c_str());
    } else if (a == "--request-timeout") {
      o->request_timeout = std::atof(v.c_str());
    } else if (a == "--sync") {
      o->sync = v;
    } else if (a == "--dir") {
      o->dir = v;
    } else if (a == "--out") {
      o->out = v;
    } else {
      std::fprintf(stderr, "collector_bench: unknown flag %s\n", a.c_str());
      Usage(stderr);
      return false;
    }
  }
  if (o->clients < 1 || o->clients > 256 || o->batch < 1 || o->batch > 500 || o->visitors < 1 ||
      o->visitor_run < 1 || o->duration <= 0 || o->dup_fraction < 0 || o->dup_fraction >= 1 ||
      (o->sync != "full" && o->sync != "normal") || o->half_rate_seconds <= 0 ||
      o->half_rate_fraction <= 0 || o->half_rate_fraction > 1 || o->browsers < 1 ||
      o->browsers > 60000 || o->browser_interval <= 0 || o->browser_batch < 1 ||
      o->browser_batch > 500 || o->browser_seconds <= 0 || o->request_timeout <= 0) {
    std::fprintf(stderr, "collector_bench: an option is out of range\n");
    return false;
  }
  if (o->visitors < o->clients) o->visitors = o->clients;
  return true;
}

// ----------------------------------------------------------------------------------------------
// Small helpers

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank.
  std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  if (rank < 1) rank = 1;
  return sorted[std::min(rank, sorted.size()) - 1];
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string Num(double v, int decimals = 3) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string FsType(const std::string& path) {
  struct statfs s {};
  if (statfs(path.c_str(), &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53UL:
      return "ext4";
    case 0x01021994UL:
      return "tmpfs";
    case 0x58465342UL:
      return "xfs";
    case 0x9123683EUL:
      return "btrfs";
    case 0x794c7630UL:
      return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "0x%lx", static_cast<unsigned long>(s.f_type));
      return buf;
    }
  }
}

std::string Dirname(const std::string& p) {
  auto slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

void RemoveTree(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string p = dir + "/" + n;
      struct stat st {};
      if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        RemoveTree(p);
      } else {
        unlink(p.c_str());
      }
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

void RemoveDb(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) unlink((path + suffix).c_str());
}

// CPU ticks (user + system) of a process or one of its threads, from /proc.
long long ProcTicks(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
  for (int f = 3; f <= 15 && rest >> field; ++f) {
    if (f == 14) utime = std::atoll(field.c_str());
    if (f == 15) stime = std::atoll(field.c_str());
  }
  return utime + stime;
}

std::map<int, long long> ThreadTicks(pid_t pid) {
  std::map<int, long long> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      out[std::atoi(e->d_name)] = ProcTicks(dir + "/" + e->d_name + "/stat");
    }
    closedir(d);
  }
  return out;
}

// The whole machine's busy and total ticks (every process), from the first line of /proc/stat.
void MachineTicks(long long* busy, long long* total) {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  long long v = 0, sum = 0, idle = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {
    sum += v;
    if (i == 3 || i == 4) idle += v;  // idle, iowait
  }
  *busy = sum - idle;
  *total = sum;
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one = -1;
  in >> one;
  return one;
}

struct CpuSample {
  long long machine_busy = 0, machine_total = 0;
  long long process = 0;
  std::map<int, long long> threads;
  double self_seconds = 0;  // this benchmark process (the load clients)
  Clock::time_point at;
};

CpuSample SampleCpu(pid_t pid) {
  CpuSample s;
  s.at = Clock::now();
  MachineTicks(&s.machine_busy, &s.machine_total);
  if (pid > 0) {
    s.process = ProcTicks("/proc/" + std::to_string(pid) + "/stat");
    s.threads = ThreadTicks(pid);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  s.self_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return s;
}

struct CpuUse {
  double server_cores = 0;    // collector process CPU seconds per wall second
  double busiest_thread = 0;  // its busiest thread (the single writer when writer-bound)
  double client_cores = 0;    // this process (clients, and the hello server in phase B)
  double other_cores = 0;     // every other process on the machine (other builds, tests, ...)
};

CpuUse CpuBetween(const CpuSample& a, const CpuSample& b) {
  CpuUse u;
  const double wall = Seconds(b.at - a.at);
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (wall <= 0) return u;
  u.server_cores = static_cast<double>(b.process - a.process) / hz / wall;
  long long best = 0;
  for (const auto& [tid, ticks] : b.threads) {
    auto it = a.threads.find(tid);
    long long d = ticks - (it == a.threads.end() ? 0 : it->second);
    best = std::max(best, d);
  }
  u.busiest_thread = static_cast<double>(best) / hz / wall;
  u.client_cores = (b.self_seconds - a.self_seconds) / wall;
  const double machine = static_cast<double>(b.machine_busy - a.machine_busy) / hz / wall;
  u.other_cores = std::max(0.0, machine - u.server_cores - u.client_cores);
  return u;
}

// ----------------------------------------------------------------------------------------------
// Envelopes like the SDK's

struct NameSpec {
  const char* name;
  int weight;              // per mille
  const char* properties;  // the JSON object's members, %d replaced by a small number
};

// Names from the default map's event registry, in a realistic mix (mostly views and usage).
constexpr NameSpec kNames[] = {
    {"page_viewed", 360, R"("section":"docs","scroll_depth":%d)"},
    {"feature_used", 160, R"("feature":"export_csv","plan":"pro","duration_ms":%d)"},
    {"feature_viewed", 80, R"("feature":"journeys","source":"nav")"},
    {"pricing_viewed", 80, R"("plan":"team","billing":"annual","currency":"EUR")"},
    {"content_read", 70, R"("article":"mapping-guide-%d","minutes":4)"},
    {"video_played", 50, R"("video":"product-tour","position_s":%d)"},
    {"content_shown", 40, R"("slot":"hero","variant":"hero_default")"},
    {"newsletter_subscribed", 20, R"("list":"product-updates","form":"footer")"},
    {"lead_submitted", 20, R"("form":"contact","company_size":"11-50")"},
    {"demo_requested", 10, R"("form":"demo","company_size":"51-200")"},
    {"lead_qualified", 8, R"("source":"crm","score":%d)"},
    {"signed_up", 12, R"("method":"email","plan":"trial")"},
    {"trial_started", 12, R"("plan":"team","trial_days":14)"},
    {"checkout_started", 12, R"("plan":"team","seats":%d)"},
    {"order_completed", 12, R"("plan":"team","value":%d,"currency":"EUR")"},
    {"plan_upgraded", 8, R"("from":"team","to":"business")"},
    {"subscription_renewed", 8, R"("plan":"team","period":"yearly")"},
    {"friend_invited", 20, R"("channel":"email","invites":%d)"},
    {"review_submitted", 8, R"("rating":%d,"site":"g2")"},
    {"subscription_cancelled", 10, R"("reason":"price","plan":"team")"},
};

constexpr const char* kPaths[] = {"/",
                                  "/pricing",
                                  "/features/journeys",
                                  "/features/attribution",
                                  "/docs/getting-started",
                                  "/docs/sdk/javascript",
                                  "/blog/mapping-the-customer-journey",
                                  "/blog/attribution-models-explained",
                                  "/app/dashboard",
                                  "/app/settings/billing",
                                  "/signup",
                                  "/contact"};

struct Visitor {
  std::string anonymous_id;
  std::int64_t seq = 0;
};

// One event as text around its sent_at value, so that a re-send carries a new sent_at (as the
// SDK's retry does; the collector's content hash leaves sent_at out).
struct StoredEnvelope {
  std::string head;  // ends with "sent_at":
  std::string tail;
};

class Generator {
 public:
  Generator(int client, int clients, int visitors, int visitor_run, std::uint64_t seed)
      : client_(client),
        visitor_run_(visitor_run),
        rng_(seed ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(client + 1))) {
    // Visitors are split between clients (one browser is one client), so one visitor's events
    // reach the collector in order.
    for (int v = client; v < visitors; v += clients) {
      Visitor vis;
      vis.anonymous_id = Uuid4();
      visitors_.push_back(std::move(vis));
    }
    int total = 0;
    for (const auto& n : kNames) total += n.weight;
    name_total_ = total;
  }

  /// A batch body with `dups` events re-sent from this client's earlier batches. Sets *new_events.
  std::string Body(int events, double dup_fraction, int* dup_count) {
    const std::int64_t sent_at = NowMs();
    int dups = static_cast<int>(std::lround(events * dup_fraction));
    if (static_cast<int>(history_.size()) < dups) dups = static_cast<int>(history_.size());
    std::vector<char> is_dup(static_cast<std::size_t>(events), 0);
    for (int placed = 0; placed < dups;) {
      auto i = static_cast<std::size_t>(rng_() % static_cast<std::uint64_t>(events));
      if (!is_dup[i]) {
        is_dup[i] = 1;
        ++placed;
      }
    }
    std::string body;
    body.reserve(static_cast<std::size_t>(events) * 420 + 64);
    body += "{\"sent_at\":" + std::to_string(sent_at) + ",\"events\":[";
    std::vector<StoredEnvelope> fresh;
    const std::string sent = std::to_string(sent_at);
    for (int i = 0; i < events; ++i) {
      if (i > 0) body += ',';
      if (is_dup[static_cast<std::size_t>(i)]) {
        const auto& old = history_[rng_() % history_.size()];
        body += old.head;
        body += sent;
        body += old.tail;
        continue;
      }
      StoredEnvelope e = NewEnvelope(sent_at);
      body += e.head;
      body += sent;
      body += e.tail;
      fresh.push_back(std::move(e));
    }
    body += "]}";
    // Only events of batches already sent are candidates for re-sending.
    for (auto& e : fresh) {
      history_.push_back(std::move(e));
      if (history_.size() > kHistory) history_.pop_front();
    }
    *dup_count = dups;
    return body;
  }

 private:
  static constexpr std::size_t kHistory = 4000;

  std::string Uuid4() {
    std::uint64_t a = rng_(), b = rng_();
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | (b >> 50)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
  }

  // UUIDv7-like: the millisecond time, then this client and a counter (unique within the run).
  std::string Uuid7(std::int64_t ms) {
    ++counter_;
    const std::uint64_t r = rng_();
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%08llx-%04llx-7%03x-%04x-%04x%08llx",
                  static_cast<unsigned long long>((ms >> 16) & 0xffffffffLL),
                  static_cast<unsigned long long>(ms & 0xffff), static_cast<unsigned>(r & 0xfff),
                  static_cast<unsigned>(0x8000 | ((r >> 12) & 0x3fff)),
                  static_cast<unsigned>(client_ & 0xffff),
                  static_cast<unsigned long long>(counter_ & 0xffffffffULL));
    return buf;
  }

  const NameSpec& PickName() {
    int x = static_cast<int>(rng_() % static_cast<std::uint64_t>(name_total_));
    for (const auto& n : kNames) {
      if (x < n.weight) return n;
      x -= n.weight;
    }
    return kNames[0];
  }

  StoredEnvelope NewEnvelope(std::int64_t sent_at) {
    if (run_left_ <= 0) {
      current_ = rng_() % visitors_.size();
      run_left_ = visitor_run_;
    }
    --run_left_;
    Visitor& v = visitors_[current_];
    const NameSpec& name = PickName();
    const char* path = kPaths[rng_() % (sizeof(kPaths) / sizeof(kPaths[0]))];
    char props[160];
    std::snprintf(props, sizeof(props), name.properties, static_cast<int>(rng_() % 100) + 1);
    // The event's device time is its batch's send time: with visitors split between clients and
    // each client's requests in sequence, a visitor's corrected times never go backwards, as with
    // a real browser whose batches are seconds apart (no spurious late-event replays).
    const std::int64_t time = sent_at;
    StoredEnvelope e;
    e.head.reserve(200);
    e.head += "{\"id\":\"" + Uuid7(time) + "\",\"seq\":" + std::to_string(++v.seq) +
              ",\"anonymous_id\":\"" + v.anonymous_id + "\",\"name\":\"" + name.name +
              "\",\"type\":\"track\",\"time\":" + std::to_string(time) + ",\"sent_at\":";
    e.tail.reserve(220);
    e.tail += ",\"properties\":{";
    e.tail += props;
    e.tail += "},\"context\":{\"url\":\"https://www.example.com";
    e.tail += path;
    e.tail += "\",\"path\":\"";
    e.tail += path;
    e.tail +=
        "\",\"title\":\"Example - journeys for SaaS\",\"referrer\":\"https://www.google.com/\"}}";
    return e;
  }

  int client_;
  int visitor_run_;
  int run_left_ = 0;
  std::size_t current_ = 0;
  std::mt19937_64 rng_;
  std::vector<Visitor> visitors_;
  std::deque<StoredEnvelope> history_;
  std::uint64_t counter_ = 0;
  int name_total_ = 0;
};

// ----------------------------------------------------------------------------------------------
// The collector process

struct Collector {
  pid_t pid = -1;
  int out_fd = -1;
  int port = 0;
  bool client_rate_limit = false;  // it has --client-rate-limit (and we raised it)
};

// The output of `program --help` (stdout and stderr), at most 64 KB.
std::string HelpText(const std::string& program) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "";
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[0]);
    close(pipefd[1]);
    return "";
  }
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    close(pipefd[0]);
    close(pipefd[1]);
    execl(program.c_str(), program.c_str(), "--help", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipefd[1]);
  std::string text;
  char chunk[4096];
  ssize_t n;
  while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0 && text.size() < 65536) {
    text.append(chunk, static_cast<std::size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return text;
}

std::optional<std::string> StartCollector(const Options& o, const std::string& db, Collector* c) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return std::string("pipe failed");
  // Rate limits far above the load: the benchmark measures ingestion, not the limiter. The
  // per-client limit (per anonymous id) exists since issue 10; an older binary has no such flag.
  std::vector<std::string> args = {o.collector,    "--db",        db,       "--port",     "0",
                                   "--quiet",      "--admin-key", "bench",  "--site-key", kSiteKey,
                                   "--rate-limit", "1000000",     "--sync", o.sync};
  c->client_rate_limit = HelpText(o.collector).find("--client-rate-limit") != std::string::npos;
  if (c->client_rate_limit) {
    args.emplace_back("--client-rate-limit");
    args.emplace_back("1000000");
  }
  pid_t pid = fork();
  if (pid < 0) return std::string("fork failed");
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    close(pipefd[0]);
    close(pipefd[1]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "collector_bench: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(pipefd[1]);
  c->pid = pid;
  c->out_fd = pipefd[0];
  // Read lines until the "listening" line with the URL (15 s at most).
  std::string buf;
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < deadline) {
    pollfd p{c->out_fd, POLLIN, 0};
    int r = poll(&p, 1, 200);
    if (r > 0) {
      char chunk[4096];
      ssize_t n = read(c->out_fd, chunk, sizeof(chunk));
      if (n <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(n));
      auto at = buf.find("\"url\":\"http://");
      if (at != std::string::npos) {
        auto colon = buf.find(':', at + 14);
        auto end = buf.find('"', at + 14);
        if (colon != std::string::npos && end != std::string::npos && colon < end) {
          c->port = std::atoi(buf.substr(colon + 1, end - colon - 1).c_str());
          if (c->port > 0) return std::nullopt;
        }
      }
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      c->pid = -1;
      return "the collector exited during start-up (status " + std::to_string(status) +
             "); its output: " + buf;
    }
  }
  return "no listening line from the collector within 15 s; its output: " + buf;
}

// SIGTERM (drain, commit, exit 0), then SIGKILL after 15 s.
int StopCollector(Collector* c) {
  if (c->pid <= 0) return -1;
  kill(c->pid, SIGTERM);
  int status = -1;
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  for (;;) {
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == c->pid) break;
    if (Clock::now() > deadline) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &status, 0);
      break;
    }
    // Keep its stdout drained so that it never blocks on a full pipe while stopping.
    char chunk[4096];
    pollfd p{c->out_fd, POLLIN, 0};
    if (poll(&p, 1, 20) > 0 && read(c->out_fd, chunk, sizeof(chunk)) <= 0) usleep(20000);
  }
  close(c->out_fd);
  c->pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct CommitMetrics {
  double events_sum = 0, events_count = 0, requests_sum = 0, requests_count = 0;
  double batch_latency_sum = 0, batch_latency_count = 0;  // server-side seconds, /v1/batch
  // The HTTP layer's gauges and counters (issue 10; -1 when the collector has none).
  double connections_open = -1, connections_idle = -1, requests_queued = -1;
  double evicted = -1, refused = -1, deadlines_missed = -1;
  // Work left after the answers: events queued for the writer, profiles not yet projected.
  double ingest_queue = -1, projection_backlog = -1;
  bool ok = false;
};

CommitMetrics ScrapeMetrics(int port, int timeout_s = 10) {
  CommitMetrics m;
  httplib::Client cli("127.0.0.1", port);
  cli.set_tcp_nodelay(true);
  cli.set_connection_timeout(timeout_s, 0);
  cli.set_read_timeout(timeout_s, 0);
  auto res = cli.Get("/metrics");
  if (!res || res->status != 200) return m;
  std::istringstream in(res->body);
  std::string line;
  auto value = [&](const std::string& prefix, double* out) {
    if (line.compare(0, prefix.size(), prefix) == 0 && line.size() > prefix.size() &&
        line[prefix.size()] == ' ') {
      *out = std::atof(line.c_str() + prefix.size() + 1);
    }
  };
  while (std::getline(in, line)) {
    value("waymark_commit_events_sum", &m.events_sum);
    value("waymark_commit_events_count", &m.events_count);
    value("waymark_commit_requests_sum", &m.requests_sum);
    value("waymark_commit_requests_count", &m.requests_count);
    value("waymark_http_request_duration_seconds_sum{route=\"/v1/batch\"}", &m.batch_latency_sum);
    value("waymark_http_request_duration_seconds_count{route=\"/v1/batch\"}",
          &m.batch_latency_count);
    value("waymark_http_connections_open", &m.connections_open);
    value("waymark_http_connections_idle", &m.connections_idle);
    value("waymark_http_requests_queued", &m.requests_queued);
    value("waymark_http_connections_evicted_total", &m.evicted);
    value("waymark_http_connections_refused_total", &m.refused);
    value("waymark_http_deadlines_missed_total", &m.deadlines_missed);
    value("waymark_ingest_queue_events", &m.ingest_queue);
    value("waymark_projection_backlog_profiles", &m.projection_backlog);
  }
  m.ok = true;
  return m;
}

// Waits (at most `max_s`) until the collector has no queued events and no profiles left to
// project: the work a saturating phase leaves behind, done before an open-loop phase starts so that
// it measures the offered rate, not the catch-up. Returns the seconds waited.
double Settle(int port, double max_s, CommitMetrics* last) {
  const auto start = Clock::now();
  // The backlog gauge is refreshed by each projection pass (every 100 ms at least under load).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (;;) {
    *last = ScrapeMetrics(port, 5);
    // A collector without these gauges (older) is taken as settled.
    if (!last->ok || (last->ingest_queue <= 0 && last->projection_backlog <= 0)) break;
    if (Seconds(Clock::now() - start) >= max_s) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Seconds(Clock::now() - start);
}

// ----------------------------------------------------------------------------------------------
// Load

struct LoadResult {
  std::string label;
  double seconds = 0;
  std::int64_t requests = 0;
  std::int64_t ok_requests = 0;
  std::int64_t failed_requests = 0;  // no answer (connection error, timeout)
  std::int64_t non_200 = 0;
  std::int64_t events_sent = 0;
  std::int64_t dups_sent = 0;
  std::int64_t accepted = 0;
  std::int64_t duplicates = 0;
  std::int64_t rejected = 0;
  std::string first_problem;
  std::vector<double> latency_ms;  // sorted
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;

  double acked_per_second() const {
    return seconds > 0 ? static_cast<double>(accepted + duplicates) / seconds : 0;
  }
  double requests_per_second() const {
    return seconds > 0 ? static_cast<double>(ok_requests) / seconds : 0;
  }
};

std::int64_t CountAfter(const std::string& body, const char* key) {
  auto at = body.find(key);
  if (at == std::string::npos) return 0;
  return std::atoll(body.c_str() + at + std::strlen(key));
}

// Every client posts batches back to back for `seconds`. `collector`: parse the per-event answer.
LoadResult RunLoad(const std::string& label, int port, std::vector<Generator>& gens,
                   const Options& o, double seconds, double dup_fraction, bool collector) {
  const int n = static_cast<int>(gens.size());
  struct PerClient {
    LoadResult r;
  };
  std::vector<PerClient> per(static_cast<std::size_t>(n));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point start, stop;
  std::vector<Clock::time_point> ends(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int c = 0; c < n; ++c) {
    threads.emplace_back([&, c] {
      LoadResult& r = per[static_cast<std::size_t>(c)].r;
      httplib::Client cli("127.0.0.1", port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);  // TOOLCHAIN.md: Nagle plus delayed ACKs otherwise
      cli.set_connection_timeout(5, 0);
      cli.set_read_timeout(30, 0);
      cli.set_write_timeout(30, 0);
      httplib::Headers headers = {{"X-Waymark-Key", kSiteKey}};
      r.latency_ms.reserve(100000);
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      while (Clock::now() < stop) {
        int dups = 0;
        std::string body = gens[static_cast<std::size_t>(c)].Body(o.batch, dup_fraction, &dups);
        const auto t0 = Clock::now();
        auto res = cli.Post("/v1/batch", headers, body, "application/json");
        const auto t1 = Clock::now();
        ++r.requests;
        r.events_sent += o.batch;
        r.dups_sent += dups;
        if (!res) {
          ++r.failed_requests;
          if (r.first_problem.empty()) {
            r.first_problem = "request failed: " + httplib::to_string(res.error());
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        r.latency_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        if (res->status != 200) {
          ++r.non_200;
          if (r.first_problem.empty()) {
            r.first_problem =
                "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 400);
          }
          continue;
        }
        ++r.ok_requests;
        if (collector) {
          std::int64_t acc = CountAfter(res->body, "\"accepted\":");
          std::int64_t dup = CountAfter(res->body, "\"duplicates\":");
          std::int64_t rej = CountAfter(res->body, "\"rejected\":");
          r.accepted += acc;
          r.duplicates += dup;
          r.rejected += rej;
          if (rej > 0 && r.first_problem.empty()) {
            auto at = res->body.find("\"status\":\"rejected\"");
            r.first_problem =
                "rejected events: " +
                res->body.substr(at == std::string::npos ? 0 : (at > 300 ? at - 300 : 0), 600);
          }
        } else {
          r.accepted += o.batch;  // the hello-world server stores nothing; counted for req/s only
        }
      }
      ends[static_cast<std::size_t>(c)] = Clock::now();
    });
  }
  while (ready.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  start = Clock::now();
  stop =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  go.store(true);
  for (auto& t : threads) t.join();

  LoadResult total;
  total.label = label;
  Clock::time_point last = start;
  for (int c = 0; c < n; ++c) {
    const LoadResult& r = per[static_cast<std::size_t>(c)].r;
    total.requests += r.requests;
    total.ok_requests += r.ok_requests;
    total.failed_requests += r.failed_requests;
    total.non_200 += r.non_200;
    total.events_sent += r.events_sent;
    total.dups_sent += r.dups_sent;
    total.accepted += r.accepted;
    total.duplicates += r.duplicates;
    total.rejected += r.rejected;
    if (total.first_problem.empty()) total.first_problem = r.first_problem;
    total.latency_ms.insert(total.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
    last = std::max(last, ends[static_cast<std::size_t>(c)]);
  }
  total.seconds = Seconds(last - start);
  std::sort(total.latency_ms.begin(), total.latency_ms.end());
  total.p50 = Percentile(total.latency_ms, 0.50);
  total.p90 = Percentile(total.latency_ms, 0.90);
  total.p99 = Percentile(total.latency_ms, 0.99);
  total.max = total.latency_ms.empty() ? 0 : total.latency_ms.back();
  double sum = 0;
  for (double v : total.latency_ms) sum += v;
  total.mean = total.latency_ms.empty() ? 0 : sum / static_cast<double>(total.latency_ms.size());
  total.latency_ms.clear();
  total.latency_ms.shrink_to_fit();
  return total;
}

// ----------------------------------------------------------------------------------------------
// Open-loop load: each request is sent at its scheduled time by one epoll thread (non-blocking
// sockets, one request at a time per connection, no pipelining). Its latency runs from the
// scheduled time to the last byte of its answer, so a slow answer cannot hide the requests that
// queue behind it (no coordinated omission).

struct Planned {
  double at_s = 0;     // scheduled send, seconds after the phase's start
  int connection = 0;  // the connection that carries it
  int source = 0;      // the generator that writes its body (a browser, or a client)
};

struct Stats {
  std::size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};

Stats Summarize(std::vector<double>* v) {
  Stats s;
  std::sort(v->begin(), v->end());
  s.count = v->size();
  if (v->empty()) return s;
  s.p50 = Percentile(*v, 0.50);
  s.p90 = Percentile(*v, 0.90);
  s.p99 = Percentile(*v, 0.99);
  s.p999 = Percentile(*v, 0.999);
  s.max = v->back();
  double sum = 0;
  for (double x : *v) sum += x;
  s.mean = sum / static_cast<double>(v->size());
  return s;
}

struct ProcStatus {
  long threads = -1, vm_rss_kb = -1, vm_hwm_kb = -1;
};

ProcStatus ReadProcStatus(pid_t pid) {
  ProcStatus p;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  auto field = [&line](const char* name, long* out) {
    const std::size_t n = std::strlen(name);
    if (line.compare(0, n, name) == 0) *out = std::atol(line.c_str() + n);
  };
  while (std::getline(in, line)) {
    field("Threads:", &p.threads);
    field("VmRSS:", &p.vm_rss_kb);
    field("VmHWM:", &p.vm_hwm_kb);
  }
  return p;
}

struct ServerSample {
  double at_s = 0;      // seconds after the phase's start
  int client_open = 0;  // connections this benchmark had open
  ProcStatus proc;
  CommitMetrics metrics;  // the collector's gauges: connections open and idle, requests queued
};

struct OpenLoopResult {
  std::string label;
  int connections = 0;
  double span_s = 0;  // first to last scheduled send
  double offered_per_second = 0;
  std::int64_t scheduled = 0, answered = 0, ok = 0, non_200 = 0;
  std::int64_t connection_errors = 0;  // refused or reset connections, answers cut short
  std::int64_t unanswered = 0;         // no answer within the request timeout
  std::int64_t connects = 0, closed_idle_by_server = 0;
  int max_open = 0;
  std::int64_t events_sent = 0, accepted = 0, duplicates = 0, rejected = 0;
  std::string first_problem;
  Stats latency;  // scheduled send -> whole answer: the aims' figure
  Stats service;  // actual send -> whole answer
  Stats wait;     // scheduled send -> actual send (its connection was busy or connecting)
  double dispatch_lag_max_ms = 0;  // how late this client's own loop handed a request out
  double drain_s = 0;              // last scheduled send -> last answer
  std::vector<ServerSample> samples;
  ProcStatus before;    // the collector before the phase
  double settle_s = 0;  // waited before the phase for the collector's backlog to clear
  CommitMetrics metrics_before, metrics_after;
  CpuUse cpu;
  std::int64_t failed() const { return non_200 + connection_errors + unanswered; }
  // The sample with the most connections open (the last of equals: the steady state).
  const ServerSample* peak() const {
    const ServerSample* best = nullptr;
    for (const auto& s : samples) {
      if (best == nullptr || s.client_open >= best->client_open) best = &s;
    }
    return best;
  }
};

struct ParsedAnswer {
  bool complete = false;
  bool bad = false;
  bool close = false;
  int status = 0;
  std::string body;
  std::size_t consumed = 0;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One HTTP/1.1 answer at the start of `in` (Content-Length, chunked, or delimited by the close).
ParsedAnswer ParseAnswer(const std::string& in, bool eof) {
  ParsedAnswer p;
  const std::size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return p;
  if (in.compare(0, 5, "HTTP/") != 0) {
    p.bad = true;
    return p;
  }
  const std::size_t sp = in.find(' ');
  p.status = sp < head_end ? std::atoi(in.c_str() + sp + 1) : 0;
  long long length = -1;
  bool chunked = false;
  for (std::size_t pos = in.find("\r\n") + 2; pos < head_end;) {
    const std::size_t eol = in.find("\r\n", pos);
    const std::string line = in.substr(pos, eol - pos);
    pos = eol + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string name = Lower(line.substr(0, colon));
    const std::string value = Lower(line.substr(colon + 1));
    if (name == "content-length") {
      length = std::atoll(value.c_str());
    } else if (name == "transfer-encoding") {
      chunked = value.find("chunked") != std::string::npos;
    } else if (name == "connection") {
      p.close = value.find("close") != std::string::npos;
    }
  }
  std::size_t at = head_end + 4;
  if (p.status == 204 || p.status == 304) {
    length = 0;
    chunked = false;
  }
  if (chunked) {
    std::string body;
    for (;;) {
      const std::size_t eol = in.find("\r\n", at);
      if (eol == std::string::npos) return p;
      const std::size_t size = std::strtoul(in.c_str() + at, nullptr, 16);
      at = eol + 2;
      if (size == 0) {
        for (;;) {  // trailers, then the empty line
          const std::size_t e = in.find("\r\n", at);
          if (e == std::string::npos) return p;
          const bool last = e == at;
          at = e + 2;
          if (last) break;
        }
        break;
      }
      if (in.size() < at + size + 2) return p;
      body.append(in, at, size);
      at += size + 2;
    }
    p.body = std::move(body);
    p.consumed = at;
    p.complete = true;
    return p;
  }
  if (length >= 0) {
    if (in.size() < at + static_cast<std::size_t>(length)) return p;
    p.body = in.substr(at, static_cast<std::size_t>(length));
    p.consumed = at + static_cast<std::size_t>(length);
    p.complete = true;
    return p;
  }
  if (eof) {
    p.body = in.substr(at);
    p.consumed = in.size();
    p.complete = true;
    p.close = true;
  }
  return p;
}

class OpenLoop {
 public:
  /// Bodies come from `gens` (Planned::source), `batch` events each, 0 % duplicates.
  OpenLoop(int port, std::vector<Generator>* gens, int batch, bool collector)
      : port_(port), gens_(gens), batch_(batch), collector_(collector) {}

  /// Runs `plan` (sorted by time) over `connections` connections. Requests with no answer
  /// `timeout_s` after their scheduled time count as unanswered. `sample_pid` > 0: its threads and
  /// memory (and, for the collector, its /metrics gauges) are sampled every second.
  OpenLoopResult Run(const std::string& label, int connections, const std::vector<Planned>& plan,
                     double timeout_s, pid_t sample_pid);

 private:
  static constexpr std::uint64_t kTimerTag = ~0ULL;
  enum class State { kClosed, kConnecting, kIdle, kBusy };
  struct Conn {
    int fd = -1;
    State state = State::kClosed;
    std::deque<std::size_t> queue;  // its requests not yet answered; the front one is in flight
    std::string out;
    std::size_t out_off = 0;
    std::string in;
    bool watch_out = false;
  };
  struct Request {
    Clock::time_point scheduled, sent;
    std::string bytes;
  };

  void Problem(const std::string& what) {
    if (r_.first_problem.empty()) r_.first_problem = what;
  }
  void Watch(Conn& c, bool out, std::size_t index, int op) {
    epoll_event ev{};
    ev.events = EPOLLIN | (out ? static_cast<std::uint32_t>(EPOLLOUT) : 0U);
    ev.data.u64 = index;
    epoll_ctl(ep_, op, c.fd, &ev);
    c.watch_out = out;
  }
  void Close(std::size_t ci);
  void Finish(std::size_t ci, bool unanswered, const std::string& why);
  void Kick(std::size_t ci);
  bool Connect(std::size_t ci);
  void Connected(std::size_t ci);
  void Flush(std::size_t ci);
  void Read(std::size_t ci);
  void Answered(std::size_t ci, const ParsedAnswer& a);

  int port_;
  std::vector<Generator>* gens_;
  int batch_;
  bool collector_;
  int ep_ = -1;
  OpenLoopResult r_;
  std::vector<Conn> conns_;
  std::vector<Request> reqs_;
  std::size_t done_ = 0;
  std::atomic<int> open_{0};
  Clock::time_point last_answer_;
  std::vector<double> latency_, service_, wait_;
};

void OpenLoop::Close(std::size_t ci) {
  Conn& c = conns_[ci];
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    if (c.state == State::kIdle || c.state == State::kBusy) open_.fetch_sub(1);
  }
  c.fd = -1;
  c.state = State::kClosed;
  c.out.clear();
  c.out_off = 0;
  c.in.clear();
  c.watch_out = false;
}

// The connection's front request failed: counted, dropped, the connection closed.
void OpenLoop::Finish(std::size_t ci, bool unanswered, const std::string& why) {
  Conn& c = conns_[ci];
  if (!c.queue.empty()) {
    reqs_[c.queue.front()].bytes.clear();
    c.queue.pop_front();
    ++done_;
    ++(unanswered ? r_.unanswered : r_.connection_errors);
    Problem(why);
  }
  Close(ci);
}

void OpenLoop::Kick(std::size_t ci) {
  Conn& c = conns_[ci];
  while (!c.queue.empty()) {
    if (c.state == State::kClosed && !Connect(ci)) continue;  // its front request failed
    if (c.state == State::kIdle) {
      Request& q = reqs_[c.queue.front()];
      c.out = std::move(q.bytes);
      c.out_off = 0;
      c.in.clear();
      q.sent = Clock::now();
      c.state = State::kBusy;
      Flush(ci);
    }
    return;
  }
}

bool OpenLoop::Connect(std::size_t ci) {
  Conn& c = conns_[ci];
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    Finish(ci, false, std::string("socket: ") + std::strerror(errno));
    return false;
  }
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // as browsers do
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (rc != 0 && errno != EINPROGRESS) {
    Finish(ci, false, std::string("connect: ") + std::strerror(errno));
    return false;
  }
  c.state = State::kConnecting;
  Watch(c, true, ci, EPOLL_CTL_ADD);
  if (rc == 0) Connected(ci);
  return true;
}

void OpenLoop::Connected(std::size_t ci) {
  Conn& c = conns_[ci];
  ++r_.connects;
  r_.max_open = std::max(r_.max_open, open_.fetch_add(1) + 1);
  c.state = State::kIdle;
  Watch(c, false, ci, EPOLL_CTL_MOD);
}

void OpenLoop::Flush(std::size_t ci) {
  Conn& c = conns_[ci];
  while (c.out_off < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c.watch_out) Watch(c, true, ci, EPOLL_CTL_MOD);
      return;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      Finish(ci, false, std::string("send: ") + std::strerror(errno));
      Kick(ci);
      return;
    }
  }
  c.out.clear();
  if (c.watch_out) Watch(c, false, ci, EPOLL_CTL_MOD);
}

void OpenLoop::Answered(std::size_t ci, const ParsedAnswer& a) {
  Conn& c = conns_[ci];
  const Request& q = reqs_[c.queue.front()];
  c.queue.pop_front();
  ++done_;
  const auto now = Clock::now();
  last_answer_ = now;
  latency_.push_back(std::chrono::duration<double, std::milli>(now - q.scheduled).count());
  service_.push_back(std::chrono::duration<double, std::milli>(now - q.sent).count());
  wait_.push_back(std::chrono::duration<double, std::milli>(q.sent - q.scheduled).count());
  ++r_.answered;
  c.state = State::kIdle;
  if (a.status != 200) {
    ++r_.non_200;
    Problem("HTTP " + std::to_string(a.status) + ": " + a.body.substr(0, 300));
    return;
  }
  ++r_.ok;
  if (collector_) {
    r_.accepted += CountAfter(a.body, "\"accepted\":");
    r_.duplicates += CountAfter(a.body, "\"duplicates\":");
    const std::int64_t rejected = CountAfter(a.body, "\"rejected\":");
    r_.rejected += rejected;
    if (rejected > 0) Problem("rejected events: " + a.body.substr(0, 600));
  }
}

void OpenLoop::Read(std::size_t ci) {
  Conn& c = conns_[ci];
  bool eof = false;
  int error = 0;
  char buf[16384];
  for (;;) {
    const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
    if (n > 0) {
      c.in.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        eof = true;
        error = n < 0 ? errno : 0;
      }
      break;
    }
  }
  if (c.state == State::kBusy && c.out_off >= c.out.size() && !c.in.empty()) {
    const ParsedAnswer a = ParseAnswer(c.in, eof);
    if (a.bad) {
      Finish(ci, false, "not an HTTP answer: " + c.in.substr(0, 100));
      Kick(ci);
      return;
    }
    if (a.complete) {
      c.in.erase(0, a.consumed);
      Answered(ci, a);
      if (a.close || eof || !c.in.empty()) Close(ci);
      Kick(ci);
      return;
    }
  }
  if (!eof) return;
  if (c.state == State::kBusy) {
    Finish(ci, false,
           error != 0
               ? std::string("connection error before the whole answer: ") + std::strerror(error)
               : std::string("connection closed by the server before the whole answer"));
    Kick(ci);
  } else {
    ++r_.closed_idle_by_server;  // a keep-alive connection closed while idle: reopened when needed
    Close(ci);
    Kick(ci);
  }
}

OpenLoopResult OpenLoop::Run(const std::string& label, int connections,
                             const std::vector<Planned>& plan, double timeout_s, pid_t sample_pid) {
  r_ = OpenLoopResult{};
  r_.label = label;
  r_.connections = connections;
  r_.scheduled = static_cast<std::int64_t>(plan.size());
  conns_.assign(static_cast<std::size_t>(connections), Conn{});
  reqs_.assign(plan.size(), Request{});
  latency_.clear();
  service_.clear();
  wait_.clear();
  done_ = 0;
  open_ = 0;
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  const int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, timer, &ev);
  }
  auto after = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(200);
  const Clock::time_point last_scheduled = start + after(plan.empty() ? 0 : plan.back().at_s);
  last_answer_ = start;
  const auto timeout = after(timeout_s);

  std::atomic<bool> stop{false};
  std::mutex samples_mu;
  std::thread sampler;
  if (sample_pid > 0) {
    sampler = std::thread([&] {
      while (!stop.load()) {
        ServerSample s;
        s.at_s = Seconds(Clock::now() - start);
        s.client_open = open_.load();
        s.proc = ReadProcStatus(sample_pid);
        if (collector_) s.metrics = ScrapeMetrics(port_, 2);
        {
          std::lock_guard<std::mutex> lock(samples_mu);
          r_.samples.push_back(s);
        }
        for (int i = 0; i < 20 && !stop.load(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }

  std::vector<epoll_event> events(512);
  std::size_t next = 0;
  Clock::time_point armed{};
  Clock::time_point next_check = start;
  while (done_ < plan.size()) {
    const auto now = Clock::now();
    // Hand out every request whose time has come, whatever became of the earlier ones.
    while (next < plan.size() && start + after(plan[next].at_s) <= now) {
      const Planned& p = plan[next];
      Request& q = reqs_[next];
      q.scheduled = start + after(p.at_s);
      r_.dispatch_lag_max_ms =
          std::max(r_.dispatch_lag_max_ms,
                   std::chrono::duration<double, std::milli>(now - q.scheduled).count());
      int dups = 0;
      const std::string body = (*gens_)[static_cast<std::size_t>(p.source)].Body(batch_, 0, &dups);
      q.bytes =
          "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
          "\r\nX-Waymark-Key: " + kSiteKey +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n\r\n" + body;
      r_.events_sent += batch_;
      const auto ci = static_cast<std::size_t>(p.connection);
      conns_[ci].queue.push_back(next);
      ++next;
      Kick(ci);
    }
    // Requests past their timeout: unanswered (their connection is closed and reopened).
    if (now >= next_check) {
      next_check = now + std::chrono::milliseconds(50);
      for (std::size_t ci = 0; ci < conns_.size(); ++ci) {
        Conn& c = conns_[ci];
        bool expired = false;
        while (!c.queue.empty() && reqs_[c.queue.front()].scheduled + timeout <= now) {
          char why[96];
          std::snprintf(why, sizeof(why), "no answer within %.0f s of the scheduled send",
                        timeout_s);
          Finish(ci, true, why);
          expired = true;
        }
        if (expired) Kick(ci);
      }
    }
    if (done_ >= plan.size()) break;
    Clock::time_point wake = now + std::chrono::milliseconds(50);
    if (next < plan.size()) wake = std::min(wake, start + after(plan[next].at_s));
    if (wake != armed) {
      const auto ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(wake.time_since_epoch()).count();
      itimerspec its{};
      its.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
      its.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
      timerfd_settime(timer, TFD_TIMER_ABSTIME, &its, nullptr);
      armed = wake;
    }
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
      const std::uint32_t what = events[static_cast<std::size_t>(i)].events;
      if (tag == kTimerTag) {
        std::uint64_t expirations = 0;
        if (read(timer, &expirations, sizeof(expirations)) < 0) armed = Clock::time_point{};
        continue;
      }
      const auto ci = static_cast<std::size_t>(tag);
      Conn& c = conns_[ci];
      if (c.fd < 0) continue;  // closed earlier in this round
      if (c.state == State::kConnecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          Finish(ci, false, std::string("connect: ") + std::strerror(err));
        } else if ((what & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
          Connected(ci);
        }
        Kick(ci);
        continue;
      }
      if ((what & EPOLLOUT) != 0 && c.state == State::kBusy && c.out_off < c.out.size()) {
        Flush(ci);
      }
      if (c.fd >= 0 && (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) Read(ci);
    }
  }
  stop.store(true);
  if (sampler.joinable()) sampler.join();
  for (std::size_t ci = 0; ci < conns_.size(); ++ci) Close(ci);
  close(timer);
  close(ep_);
  ep_ = -1;

  r_.span_s = plan.empty() ? 0 : plan.back().at_s - plan.front().at_s;
  r_.offered_per_second = r_.span_s > 0 ? static_cast<double>(plan.size() - 1) / r_.span_s : 0;
  r_.drain_s = std::max(0.0, Seconds(last_answer_ - last_scheduled));
  r_.latency = Summarize(&latency_);
  r_.service = Summarize(&service_);
  r_.wait = Summarize(&wait_);
  latency_ = service_ = wait_ = {};
  reqs_.clear();
  conns_.clear();
  return std::move(r_);
}

// Browsers: each posts every `interval` seconds from an offset drawn uniformly over the first
// interval (the same draw in every call: both browser phases get one schedule), on its own
// connection (`own_connections`) or on connection k mod `connections`. Independent browsers do
// not arrive evenly spaced: the gaps between their requests vary as a real site's would.
std::vector<Planned> BrowserPlan(const Options& o, bool own_connections) {
  std::vector<Planned> plan;
  std::mt19937_64 rng(20261);
  std::uniform_real_distribution<double> start(0, o.browser_interval);
  for (int b = 0; b < o.browsers; ++b) {
    const double offset = start(rng);
    for (int k = 0;; ++k) {
      const double t = offset + k * o.browser_interval;
      if (t >= o.browser_seconds) break;
      plan.push_back({t, b, b});
    }
  }
  std::stable_sort(plan.begin(), plan.end(),
                   [](const Planned& a, const Planned& b) { return a.at_s < b.at_s; });
  if (!own_connections) {
    for (std::size_t k = 0; k < plan.size(); ++k) {
      plan[k].connection = static_cast<int>(k % static_cast<std::size_t>(o.clients));
    }
  }
  return plan;
}

// Evenly spaced requests at `rate` per second; request k on connection k mod `connections`, its
// body from that client's generator (so each generator's requests stay in order).
std::vector<Planned> RatePlan(double rate, double seconds, int connections) {
  std::vector<Planned> plan;
  const auto n = static_cast<std::size_t>(std::max(2.0, std::floor(rate * seconds)));
  for (std::size_t k = 0; k < n; ++k) {
    const int c = static_cast<int>(k % static_cast<std::size_t>(connections));
    plan.push_back({static_cast<double>(k) / rate, c, c});
  }
  return plan;
}

// ----------------------------------------------------------------------------------------------
// Baseline B: hello-world server with the collector's socket options

struct HelloServer {
  httplib::Server server;
  std::thread thread;
  int port = -1;

  bool Start() {
    server.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
    server.set_tcp_nodelay(true);
    server.set_read_timeout(5);
    server.set_write_timeout(5);
    server.set_keep_alive_timeout(5);
    server.set_keep_alive_max_count(1000);
    server.set_payload_max_length(512 * 1024);
    auto listening = std::make_shared<int>(-1);
    server.set_socket_options([listening](socket_t sock) {
      httplib::default_socket_options(sock);
      *listening = sock;
    });
    server.Post("/v1/batch", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"accepted\":50,\"duplicates\":0,\"rejected\":0}", "application/json");
    });
    port = server.bind_to_any_port("127.0.0.1");
    if (port < 0) return false;
    if (*listening >= 0) ::listen(*listening, 1024);
    thread = std::thread([this] { server.listen_after_bind(); });
    for (int i = 0; i < 200 && !server.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return server.is_running();
  }
  void Stop() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
};

// ----------------------------------------------------------------------------------------------
// Baseline A: raw SQLite with the collector's own rows

struct Cell {
  int type = SQLITE_NULL;
  std::int64_t i = 0;
  double d = 0;
  std::size_t offset = 0, size = 0;  // text/blob bytes in the arena
};

struct RowSet {
  std::vector<std::string> ddl;  // the events table and its indexes, as the collector made them
  int columns = 0;
  std::vector<Cell> cells;  // rows * columns
  std::string arena;
  std::size_t rows = 0;
  double avg_row_bytes = 0;
};

std::optional<std::string> LoadRows(const std::string& db_path, std::size_t max_rows, RowSet* out) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string e = db != nullptr ? sqlite3_errmsg(db) : "open failed";
    sqlite3_close(db);
    return "cannot open the collector's database: " + e;
  }
  auto fail = [&](const std::string& what) {
    std::string e = what + ": " + sqlite3_errmsg(db);
    sqlite3_close(db);
    return e;
  };
  sqlite3_stmt* st = nullptr;
  // The table first, then its explicit indexes (automatic ones have no SQL).
  if (sqlite3_prepare_v2(db,
                         "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT "
                         "NULL ORDER BY type = 'index', name",
                         -1, &st, nullptr) != SQLITE_OK) {
    return fail("schema");
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    out->ddl.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  if (out->ddl.empty()) {
    sqlite3_close(db);
    return std::string("the collector's database has no events table");
  }
  if (sqlite3_prepare_v2(db, "SELECT * FROM events ORDER BY rowid", -1, &st, nullptr) !=
      SQLITE_OK) {
    return fail("select");
  }
  out->columns = sqlite3_column_count(st);
  std::size_t bytes = 0;
  while (out->rows < max_rows && sqlite3_step(st) == SQLITE_ROW) {
    for (int c = 0; c < out->columns; ++c) {
      Cell cell;
      cell.type = sqlite3_column_type(st, c);
      if (cell.type == SQLITE_INTEGER) {
        cell.i = sqlite3_column_int64(st, c);
        bytes += 8;
      } else if (cell.type == SQLITE_FLOAT) {
        cell.d = sqlite3_column_double(st, c);
        bytes += 8;
      } else if (cell.type == SQLITE_TEXT || cell.type == SQLITE_BLOB) {
        const void* p = cell.type == SQLITE_TEXT
                            ? static_cast<const void*>(sqlite3_column_text(st, c))
                            : sqlite3_column_blob(st, c);
        cell.size = static_cast<std::size_t>(sqlite3_column_bytes(st, c));
        cell.offset = out->arena.size();
        out->arena.append(static_cast<const char*>(p), cell.size);
        bytes += cell.size;
      }
      out->cells.push_back(cell);
    }
    ++out->rows;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  out->avg_row_bytes =
      out->rows > 0 ? static_cast<double>(bytes) / static_cast<double>(out->rows) : 0;
  return std::nullopt;
}

struct SqliteResult {
  int rows_per_tx = 0;
  std::size_t rows = 0;
  std::size_t commits = 0;
  double seconds = 0;
  double rows_per_second = 0;
  std::string error;
};

// Inserts the rows into a fresh file, WAL, `rows_per_tx` rows per BEGIN IMMEDIATE ... COMMIT (as
// the collector's writer does), until the rows run out or `max_seconds` have passed.
SqliteResult RawInsert(const RowSet& rows, const std::string& path, const std::string& sync,
                       int rows_per_tx, double max_seconds) {
  SqliteResult r;
  r.rows_per_tx = rows_per_tx;
  RemoveDb(path);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    r.error = "open failed";
    sqlite3_close(db);
    return r;
  }
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=" +
                        std::string(sync == "full" ? "FULL" : "NORMAL") + ";";
  for (const auto& ddl : rows.ddl) pragmas += ddl + ";";
  char* err = nullptr;
  if (sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    r.error = err != nullptr ? err : "schema failed";
    sqlite3_free(err);
    sqlite3_close(db);
    return r;
  }
  std::string sql = "INSERT INTO events VALUES (";
  for (int c = 0; c < rows.columns; ++c) sql += c == 0 ? "?" : ",?";
  sql += ")";
  sqlite3_stmt* ins = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &ins, nullptr) != SQLITE_OK) {
    r.error = sqlite3_errmsg(db);
    sqlite3_close(db);
    return r;
  }
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(max_seconds));
  std::size_t row = 0;
  while (row < rows.rows && Clock::now() < deadline && r.error.empty()) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (int k = 0; k < rows_per_tx && row < rows.rows; ++k, ++row) {
      const Cell* cells = &rows.cells[row * static_cast<std::size_t>(rows.columns)];
      for (int c = 0; c < rows.columns; ++c) {
        const Cell& cell = cells[c];
        switch (cell.type) {
          case SQLITE_INTEGER:
            sqlite3_bind_int64(ins, c + 1, cell.i);
            break;
          case SQLITE_FLOAT:
            sqlite3_bind_double(ins, c + 1, cell.d);
            break;
          case SQLITE_TEXT:
            sqlite3_bind_text(ins, c + 1, rows.arena.data() + cell.offset,
                              static_cast<int>(cell.size), SQLITE_STATIC);
            break;
          case SQLITE_BLOB:
            sqlite3_bind_blob(ins, c + 1, rows.arena.data() + cell.offset,
                              static_cast<int>(cell.size), SQLITE_STATIC);
            break;
          default:
            sqlite3_bind_null(ins, c + 1);
        }
      }
      if (sqlite3_step(ins) != SQLITE_DONE) {
        r.error = sqlite3_errmsg(db);
        break;
      }
      sqlite3_reset(ins);
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK && r.error.empty()) {
      r.error = sqlite3_errmsg(db);
    }
    ++r.commits;
  }
  r.seconds = Seconds(Clock::now() - start);
  r.rows = row;
  r.rows_per_second = r.seconds > 0 ? static_cast<double>(row) / r.seconds : 0;
  sqlite3_finalize(ins);
  sqlite3_close(db);
  RemoveDb(path);
  return r;
}

// ----------------------------------------------------------------------------------------------
// Report

struct Phase {
  LoadResult load;
  CommitMetrics before, after;
  CpuUse cpu;
  double commit_events() const {
    double c = after.events_count - before.events_count;
    return c > 0 ? (after.events_sum - before.events_sum) / c : 0;
  }
  double commit_requests() const {
    double c = after.requests_count - before.requests_count;
    return c > 0 ? (after.requests_sum - before.requests_sum) / c : 0;
  }
  double commits_per_second() const {
    return load.seconds > 0 ? (after.events_count - before.events_count) / load.seconds : 0;
  }
  double server_mean_ms() const {
    double c = after.batch_latency_count - before.batch_latency_count;
    return c > 0 ? 1000 * (after.batch_latency_sum - before.batch_latency_sum) / c : 0;
  }
};

std::string LoadJson(const LoadResult& r) {
  std::ostringstream j;
  j << "{\"seconds\":" << Num(r.seconds) << ",\"requests\":" << r.requests
    << ",\"ok_requests\":" << r.ok_requests << ",\"failed_requests\":" << r.failed_requests
    << ",\"non_200\":" << r.non_200 << ",\"events_sent\":" << r.events_sent
    << ",\"duplicates_sent\":" << r.dups_sent << ",\"accepted\":" << r.accepted
    << ",\"duplicates\":" << r.duplicates << ",\"rejected\":" << r.rejected
    << ",\"acknowledged_events_per_second\":" << Num(r.acked_per_second(), 1)
    << ",\"requests_per_second\":" << Num(r.requests_per_second(), 1)
    << ",\"latency_ms\":{\"mean\":" << Num(r.mean) << ",\"p50\":" << Num(r.p50)
    << ",\"p90\":" << Num(r.p90) << ",\"p99\":" << Num(r.p99) << ",\"max\":" << Num(r.max) << "}";
  if (!r.first_problem.empty()) j << ",\"first_problem\":\"" << JsonEscape(r.first_problem) << "\"";
  j << "}";
  return j.str();
}

std::string PhaseJson(const Phase& p, double dup_fraction) {
  std::ostringstream j;
  std::string load = LoadJson(p.load);
  load.pop_back();  // reopen the object
  j << load << ",\"duplicate_fraction\":" << Num(dup_fraction, 2)
    << ",\"avg_commit_events\":" << Num(p.commit_events(), 1)
    << ",\"avg_commit_requests\":" << Num(p.commit_requests(), 2)
    << ",\"commits_per_second\":" << Num(p.commits_per_second(), 1)
    << ",\"server_mean_ms\":" << Num(p.server_mean_ms())
    << ",\"cpu\":{\"collector_cores\":" << Num(p.cpu.server_cores, 2)
    << ",\"collector_busiest_thread\":" << Num(p.cpu.busiest_thread, 2)
    << ",\"bench_clients_cores\":" << Num(p.cpu.client_cores, 2)
    << ",\"other_processes_cores\":" << Num(p.cpu.other_cores, 2) << "}}";
  return j.str();
}

std::string SqliteJson(const SqliteResult& s) {
  std::ostringstream j;
  j << "{\"rows_per_transaction\":" << s.rows_per_tx << ",\"rows\":" << s.rows
    << ",\"commits\":" << s.commits << ",\"seconds\":" << Num(s.seconds)
    << ",\"rows_per_second\":" << Num(s.rows_per_second, 1);
  if (!s.error.empty()) j << ",\"error\":\"" << JsonEscape(s.error) << "\"";
  j << "}";
  return j.str();
}

std::string StatsJson(const Stats& s) {
  std::ostringstream j;
  j << "{\"count\":" << s.count << ",\"mean\":" << Num(s.mean) << ",\"p50\":" << Num(s.p50)
    << ",\"p90\":" << Num(s.p90) << ",\"p99\":" << Num(s.p99) << ",\"p999\":" << Num(s.p999)
    << ",\"max\":" << Num(s.max) << "}";
  return j.str();
}

std::string ProcJson(const ProcStatus& p) {
  std::ostringstream j;
  j << "{\"threads\":" << p.threads << ",\"vm_rss_kb\":" << p.vm_rss_kb
    << ",\"vm_hwm_kb\":" << p.vm_hwm_kb << "}";
  return j.str();
}

std::string SampleJson(const ServerSample& s) {
  std::ostringstream j;
  std::string proc = ProcJson(s.proc);
  proc.pop_back();
  j << "{\"at_seconds\":" << Num(s.at_s, 2) << ",\"client_connections\":" << s.client_open << ","
    << proc.substr(1) << ",\"server_connections_open\":" << Num(s.metrics.connections_open, 0)
    << ",\"server_connections_idle\":" << Num(s.metrics.connections_idle, 0)
    << ",\"server_requests_queued\":" << Num(s.metrics.requests_queued, 0) << "}";
  return j.str();
}

std::string OpenLoopJson(const OpenLoopResult& r) {
  std::ostringstream j;
  j << "{\"label\":\"" << JsonEscape(r.label) << "\",\"connections\":" << r.connections
    << ",\"span_seconds\":" << Num(r.span_s)
    << ",\"offered_per_second\":" << Num(r.offered_per_second, 1)
    << ",\"scheduled\":" << r.scheduled << ",\"answered\":" << r.answered << ",\"ok\":" << r.ok
    << ",\"non_200\":" << r.non_200 << ",\"connection_errors\":" << r.connection_errors
    << ",\"unanswered\":" << r.unanswered << ",\"failed\":" << r.failed()
    << ",\"connects\":" << r.connects << ",\"closed_idle_by_server\":" << r.closed_idle_by_server
    << ",\"max_open_connections\":" << r.max_open << ",\"events_sent\":" << r.events_sent
    << ",\"accepted\":" << r.accepted << ",\"duplicates\":" << r.duplicates
    << ",\"rejected\":" << r.rejected << ",\n      \"latency_ms\":" << StatsJson(r.latency)
    << ",\n      \"send_to_answer_ms\":" << StatsJson(r.service)
    << ",\n      \"wait_for_connection_ms\":" << StatsJson(r.wait)
    << ",\n      \"client_dispatch_lag_max_ms\":" << Num(r.dispatch_lag_max_ms)
    << ",\"drain_seconds\":" << Num(r.drain_s)
    << ",\"settle_seconds_before\":" << Num(r.settle_s, 2);
  if (r.before.threads >= 0) j << ",\n      \"collector_before\":" << ProcJson(r.before);
  if (r.metrics_after.ok) {
    j << ",\"collector_backlog_after\":{\"ingest_queue_events\":"
      << Num(r.metrics_after.ingest_queue, 0)
      << ",\"projection_backlog_profiles\":" << Num(r.metrics_after.projection_backlog, 0) << "}";
  }
  if (const ServerSample* peak = r.peak()) {
    long max_threads = -1, max_rss = -1;
    for (const auto& s : r.samples) {
      max_threads = std::max(max_threads, s.proc.threads);
      max_rss = std::max(max_rss, s.proc.vm_rss_kb);
    }
    double max_queued = -1;
    for (const auto& s : r.samples) max_queued = std::max(max_queued, s.metrics.requests_queued);
    j << ",\n      \"collector_at_most_connections\":" << SampleJson(*peak)
      << ",\n      \"collector_max\":{\"threads\":" << max_threads << ",\"vm_rss_kb\":" << max_rss
      << ",\"requests_queued\":" << Num(max_queued, 0) << ",\"samples\":" << r.samples.size()
      << "}";
  }
  if (r.metrics_before.ok) {  // the collector (the hello-world has no /metrics)
    auto delta = [](double a, double b) { return a >= 0 && b >= 0 ? b - a : NAN; };
    j << ",\n      \"collector_http_counters\":{\"evicted_idle\":"
      << Num(delta(r.metrics_before.evicted, r.metrics_after.evicted), 0)
      << ",\"refused_full\":" << Num(delta(r.metrics_before.refused, r.metrics_after.refused), 0)
      << ",\"deadlines_missed\":"
      << Num(delta(r.metrics_before.deadlines_missed, r.metrics_after.deadlines_missed), 0) << "}"
      << ",\n      \"cpu\":{\"collector_cores\":" << Num(r.cpu.server_cores, 2)
      << ",\"collector_busiest_thread\":" << Num(r.cpu.busiest_thread, 2)
      << ",\"bench_cores\":" << Num(r.cpu.client_cores, 2)
      << ",\"other_processes_cores\":" << Num(r.cpu.other_cores, 2) << "}";
  }
  if (!r.first_problem.empty()) j << ",\"first_problem\":\"" << JsonEscape(r.first_problem) << "\"";
  j << "}";
  return j.str();
}

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::string dir = Dirname(path);
  if (!dir.empty() && dir != ".") {
    std::string acc;
    std::stringstream ss(dir);
    std::string part;
    if (dir[0] == '/') acc = "/";
    while (std::getline(ss, part, '/')) {
      if (part.empty()) continue;
      acc += part + "/";
      mkdir(acc.c_str(), 0755);
    }
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, &o)) return 2;
  std::signal(SIGPIPE, SIG_IGN);
  // One descriptor per browser: raise the soft limit to the hard one (often 1024 soft).
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY &&
      files.rlim_cur < static_cast<rlim_t>(o.browsers) + 100) {
    std::fprintf(stderr,
                 "collector_bench: ERROR: %d browsers need %d file descriptors, the limit is %llu "
                 "(ulimit -n)\n",
                 o.browsers, o.browsers + 100, static_cast<unsigned long long>(files.rlim_cur));
    return 1;
  }
  if (access(o.collector.c_str(), X_OK) != 0) {
    std::fprintf(stderr,
                 "collector_bench: ERROR: no collector binary at %s (build the waymark-collector "
                 "target, or pass its path)\n",
                 o.collector.c_str());
    return 1;
  }
  const unsigned cores = std::thread::hardware_concurrency();
  utsname un{};
  uname(&un);
  const std::string uname_text =
      std::string(un.sysname) + " " + un.release + " " + un.version + " " + un.machine;
  const std::string date = UtcNow();
  const double load_before = LoadAverage();

  // A fresh folder on the project's disk: the collector's database and the raw baseline's file
  // live side by side, so both pay the same fsync.
  std::string parent = o.dir;
  if (parent.empty()) parent = Dirname(Dirname(o.collector));
  if (char* real = realpath(parent.c_str(), nullptr)) {
    parent = real;
    std::free(real);
  }
  std::string tmpl = parent + "/collector-bench-XXXXXX";
  std::vector<char> tmpl_buf(tmpl.begin(), tmpl.end());
  tmpl_buf.push_back('\0');
  if (mkdtemp(tmpl_buf.data()) == nullptr) {
    std::fprintf(stderr, "collector_bench: cannot create a folder in %s: %s\n", parent.c_str(),
                 std::strerror(errno));
    return 1;
  }
  const std::string work(tmpl_buf.data());
  const std::string fs = FsType(work);
  const std::string collector_db = work + "/collector.db";

  std::printf("waymark collector benchmark, %s\n", date.c_str());
  std::printf(
      "machine: %u CPU cores (shared by the %d load clients, the collector and the\n"
      "         baselines: every figure includes the clients' own CPU use), %s\n",
      cores, o.clients, uname_text.c_str());
  std::printf("load average before the run: %.2f%s\n", load_before,
              load_before > 0.5 ? "  WARNING: other work is running; figures will be lower" : "");
  std::printf("work folder: %s (%s)%s\n", work.c_str(), fs.c_str(),
              fs == "tmpfs" ? "  WARNING: tmpfs, fsync costs nothing here" : "");
  std::printf(
      "collector: %s --sync %s, %d clients, batches of %d events, %d visitors (runs of "
      "%d), %.0f s per phase\n\n",
      o.collector.c_str(), o.sync.c_str(), o.clients, o.batch, o.visitors, o.visitor_run,
      o.duration);
  std::fflush(stdout);

  const auto run_start = Clock::now();
  std::uint64_t seed = static_cast<std::uint64_t>(NowMs());
  std::vector<Generator> gens;
  for (int c = 0; c < o.clients; ++c)
    gens.emplace_back(c, o.clients, o.visitors, o.visitor_run, seed);

  // 1-2: the collector under load.
  Collector col;
  if (auto err = StartCollector(o, collector_db, &col)) {
    std::fprintf(stderr, "collector_bench: ERROR: %s\n", err->c_str());
    if (col.pid > 0) StopCollector(&col);
    if (!o.keep) RemoveTree(work);
    return 1;
  }
  std::printf("collector started on port %d (pid %d)%s\n", col.port, static_cast<int>(col.pid),
              col.client_rate_limit ? "" : "; it has no --client-rate-limit flag");
  std::fflush(stdout);
  if (o.warmup > 0) RunLoad("warm-up", col.port, gens, o, o.warmup, 0, true);

  Phase phases[2];
  const double dup_fractions[2] = {0, o.dup_fraction};
  for (int p = 0; p < 2; ++p) {
    char label[64];
    std::snprintf(label, sizeof(label), "collector, %.0f %% duplicates", dup_fractions[p] * 100);
    phases[p].before = ScrapeMetrics(col.port);
    CpuSample c0 = SampleCpu(col.pid);
    phases[p].load = RunLoad(label, col.port, gens, o, o.duration, dup_fractions[p], true);
    CpuSample c1 = SampleCpu(col.pid);
    phases[p].after = ScrapeMetrics(col.port);
    phases[p].cpu = CpuBetween(c0, c1);
    const LoadResult& r = phases[p].load;
    std::printf("  %-28s %9.0f events/s  p50 %7.2f ms  p99 %7.2f ms  commit %6.1f events\n", label,
                r.acked_per_second(), r.p50, r.p99, phases[p].commit_events());
    if (!r.first_problem.empty()) std::printf("    first problem: %s\n", r.first_problem.c_str());
    std::fflush(stdout);
  }

  // 3: p99 at half the maximum rate, open loop, the same --batch bodies (0 % duplicates).
  const double max_rate = phases[0].load.requests_per_second();
  const double half_rate = std::max(1.0, o.half_rate_fraction * max_rate);
  const std::vector<Planned> rate_plan = RatePlan(half_rate, o.half_rate_seconds, o.clients);
  auto print_open = [](const OpenLoopResult& r) {
    std::printf(
        "  %-28s %6.1f req/s offered, %lld of %lld answered 200, %lld failed; from the schedule "
        "p50 %.2f p99 %.2f max %.2f ms (send to answer p99 %.2f ms)\n",
        r.label.c_str(), r.offered_per_second, static_cast<long long>(r.ok),
        static_cast<long long>(r.scheduled), static_cast<long long>(r.failed()), r.latency.p50,
        r.latency.p99, r.latency.max, r.service.p99);
    if (!r.first_problem.empty()) std::printf("    first problem: %s\n", r.first_problem.c_str());
    std::fflush(stdout);
  };
  // Each open-loop phase starts once the collector has caught up (Settle), and records the
  // collector's CPU, memory and HTTP counters around it. `sample`: threads, memory and gauges
  // every second during it (one /metrics request a second: left out of the half-rate phase, whose
  // hello-world counterpart has none).
  auto run_open = [&](OpenLoop* loop, const std::string& label, int connections,
                      const std::vector<Planned>& plan, bool sample) {
    CommitMetrics m0;
    const double settle_s = Settle(col.port, 60, &m0);
    const ProcStatus before = ReadProcStatus(col.pid);
    const CpuSample c0 = SampleCpu(col.pid);
    OpenLoopResult r =
        loop->Run(label, connections, plan, o.request_timeout, sample ? col.pid : -1);
    r.cpu = CpuBetween(c0, SampleCpu(col.pid));
    r.settle_s = settle_s;
    r.before = before;
    r.metrics_before = m0;
    r.metrics_after = ScrapeMetrics(col.port);
    if (settle_s >= 1) {
      std::printf("  (waited %.1f s for the collector's backlog to clear before: %s)\n", settle_s,
                  label.c_str());
    }
    print_open(r);
    return r;
  };
  OpenLoopResult half_collector;
  {
    OpenLoop loop(col.port, &gens, o.batch, true);
    half_collector = run_open(&loop, "collector, half rate", o.clients, rate_plan, false);
  }

  // 4: many browsers, each on its own connection, then the same schedule over N connections.
  std::vector<Generator> browser_gens;
  browser_gens.reserve(static_cast<std::size_t>(o.browsers));
  for (int b = 0; b < o.browsers; ++b)
    browser_gens.emplace_back(b, o.browsers, o.browsers, 1, seed + 2);
  OpenLoopResult browsers[2];
  for (int own = 1; own >= 0; --own) {
    char label[64];
    std::snprintf(label, sizeof(label), "%d browsers, %d connections", o.browsers,
                  own ? o.browsers : o.clients);
    OpenLoop loop(col.port, &browser_gens, o.browser_batch, true);
    OpenLoopResult r =
        run_open(&loop, label, own ? o.browsers : o.clients, BrowserPlan(o, own != 0), true);
    const ProcStatus& before = r.before;
    if (const ServerSample* peak = r.peak()) {
      std::printf(
          "    collector with %d connections open: %ld threads, VmRSS %.1f MB, VmHWM %.1f MB "
          "(before: %ld threads, VmRSS %.1f MB)\n",
          peak->client_open, peak->proc.threads, peak->proc.vm_rss_kb / 1024.0,
          peak->proc.vm_hwm_kb / 1024.0, before.threads, before.vm_rss_kb / 1024.0);
    }
    browsers[own ? 0 : 1] = std::move(r);
  }
  const OpenLoopResult& browsers_own = browsers[0];
  const OpenLoopResult& browsers_pooled = browsers[1];

  const int exit_code = StopCollector(&col);
  if (exit_code != 0) std::printf("  note: the collector exited with status %d\n", exit_code);

  // 6: the latency floor, closed loop (context) and open loop at the rate of 3.
  LoadResult hello;
  OpenLoopResult half_hello;
  CpuUse hello_cpu, sqlite_cpu;
  {
    HelloServer hs;
    if (!hs.Start()) {
      std::fprintf(stderr, "collector_bench: ERROR: the hello-world server did not start\n");
    } else {
      std::vector<Generator> hello_gens;
      for (int c = 0; c < o.clients; ++c)
        hello_gens.emplace_back(c, o.clients, o.visitors, o.visitor_run, seed + 1);
      RunLoad("warm-up", hs.port, hello_gens, o, 0.3, 0, false);
      const CpuSample h0 = SampleCpu(-1);
      hello = RunLoad("hello-world httplib", hs.port, hello_gens, o, o.hello_seconds, 0, false);
      hello_cpu = CpuBetween(h0, SampleCpu(-1));
      std::printf("  %-28s %9.0f req/s     p50 %7.2f ms  p99 %7.2f ms\n", "hello-world (floor)",
                  hello.requests_per_second(), hello.p50, hello.p99);
      std::fflush(stdout);
      OpenLoop loop(hs.port, &hello_gens, o.batch, false);
      half_hello = loop.Run("hello-world, half rate", o.clients, rate_plan, o.request_timeout, -1);
      print_open(half_hello);
      hs.Stop();
    }
  }

  // Storage per event (issue 14's figure): the collector's database file and its WAL, over the
  // events it holds, projections included.
  auto file_bytes = [](const std::string& path) -> std::int64_t {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
  };
  const std::int64_t storage_bytes = file_bytes(collector_db) + file_bytes(collector_db + "-wal");

  // 5: raw SQLite with the collector's rows, after the collector has stopped (its disk is idle).
  RowSet rows;
  SqliteResult matched, one, thousand;
  const double commit_size = phases[0].commit_events();
  const int matched_tx = std::max(1, static_cast<int>(std::lround(commit_size)));
  if (auto err = LoadRows(collector_db, 3000000, &rows)) {
    std::fprintf(stderr, "collector_bench: ERROR: raw SQLite baseline: %s\n", err->c_str());
  } else if (rows.rows == 0) {
    std::fprintf(stderr, "collector_bench: ERROR: the collector stored no events\n");
  } else {
    const std::string raw = work + "/raw.db";
    const CpuSample s0 = SampleCpu(-1);
    matched = RawInsert(rows, raw, o.sync, matched_tx, o.sqlite_seconds);
    one = RawInsert(rows, raw, o.sync, 1, std::min(3.0, o.sqlite_seconds));
    thousand = RawInsert(rows, raw, o.sync, 1000, std::min(5.0, o.sqlite_seconds));
    sqlite_cpu = CpuBetween(s0, SampleCpu(-1));
    std::printf(
        "  raw SQLite (%zu rows of %.0f bytes, %s): %.0f rows/s at %d rows/tx, %.0f at 1, "
        "%.0f at 1000\n",
        rows.rows, rows.avg_row_bytes, o.sync.c_str(), matched.rows_per_second, matched_tx,
        one.rows_per_second, thousand.rows_per_second);
    for (const auto* s : {&matched, &one, &thousand}) {
      if (!s->error.empty())
        std::printf("    error at %d rows/tx: %s\n", s->rows_per_tx, s->error.c_str());
    }
  }
  const double total_seconds = Seconds(Clock::now() - run_start);

  // 7: ratios and the report.
  const double eps0 = phases[0].load.acked_per_second();
  const double eps1 = phases[1].load.acked_per_second();
  const double tput_ratio = matched.rows_per_second > 0 ? eps0 / matched.rows_per_second : NAN;
  const double tput_ratio_dups = matched.rows_per_second > 0 ? eps1 / matched.rows_per_second : NAN;
  // Saturated (closed loop) p99s: context only since issue 10.
  const double lat_ratio = hello.p99 > 0 ? phases[0].load.p99 / hello.p99 : NAN;
  const double lat_ratio_dups = hello.p99 > 0 ? phases[1].load.p99 / hello.p99 : NAN;
  const bool tput_met = std::isfinite(tput_ratio) && tput_ratio >= kAimThroughputRatio &&
                        tput_ratio_dups >= kAimThroughputRatio;
  const double half_ratio = half_hello.latency.count > 0 && half_hello.latency.p99 > 0
                                ? half_collector.latency.p99 / half_hello.latency.p99
                                : NAN;
  const bool half_met = std::isfinite(half_ratio) && half_ratio <= kAimLatencyRatio &&
                        half_collector.failed() == 0 &&
                        half_collector.ok == half_collector.scheduled;
  const double browsers_ratio = browsers_pooled.latency.count > 0 && browsers_pooled.latency.p99 > 0
                                    ? browsers_own.latency.p99 / browsers_pooled.latency.p99
                                    : NAN;
  const bool browsers_all_ok =
      browsers_own.scheduled > 0 && browsers_own.ok == browsers_own.scheduled;
  const bool browsers_met =
      browsers_all_ok && std::isfinite(browsers_ratio) && browsers_ratio <= kAimBrowsersRatio;

  // Where the writer's time goes, estimated from the raw baselines: each commit costs about
  // (1/rate at 1 row/tx - 1/rate at 1000 rows/tx) seconds over the rows themselves (mostly the
  // fsync), each row about 1/rate at 1000 rows/tx.
  double per_commit_s = NAN, per_row_s = NAN, commit_share = NAN, insert_share = NAN;
  if (one.rows_per_second > 0 && thousand.rows_per_second > 0) {
    per_row_s = 1 / thousand.rows_per_second;
    per_commit_s = std::max(0.0, 1 / one.rows_per_second - per_row_s);
    const double new_rows_per_s = phases[0].load.accepted / std::max(1e-9, phases[0].load.seconds);
    commit_share = phases[0].commits_per_second() * per_commit_s;
    insert_share = new_rows_per_s * per_row_s;
  }

  // A first reading of what limits the collector, from CPU use and the raw baselines. A profile of
  // the writer (perf record -g -p PID during a run) gives the detail.
  std::string diagnosis;
  {
    const CpuUse& cpu = phases[0].cpu;
    char buf[512];
    if (cpu.busiest_thread >= 0.75 && (!std::isfinite(commit_share) || commit_share < 0.25)) {
      std::snprintf(buf, sizeof(buf),
                    "writer-bound: one collector thread (the single ingest writer) used %.2f "
                    "cores; commit overhead (fsync) is ~%.0f %% of its time and plain row inserts "
                    "~%.0f %%, so its other per-event work (validation, identity lookups, profile "
                    "replay and profile writes) dominates",
                    cpu.busiest_thread, 100 * commit_share, 100 * insert_share);
    } else if (std::isfinite(commit_share) && commit_share >= 0.5) {
      std::snprintf(buf, sizeof(buf),
                    "commit-bound: %.0f commits/s x %.3f ms per commit is ~%.0f %% of the writer's "
                    "time (fsync per commit); larger group commits would help",
                    phases[0].commits_per_second(), 1000 * per_commit_s, 100 * commit_share);
    } else if (cpu.other_cores >= 0.3) {
      std::snprintf(buf, sizeof(buf),
                    "machine shared: other processes used %.2f of the %u cores during the run "
                    "(collector %.2f, its busiest thread %.2f); rerun on a quiet machine",
                    cpu.other_cores, cores, cpu.server_cores, cpu.busiest_thread);
    } else if (cpu.server_cores + cpu.client_cores >= 0.9 * cores) {
      std::snprintf(buf, sizeof(buf), "CPU-saturated: collector %.2f + clients %.2f cores of %u",
                    cpu.server_cores, cpu.client_cores, cores);
    } else {
      std::snprintf(buf, sizeof(buf),
                    "neither CPU- nor fsync-bound by these measures (collector %.2f cores, busiest "
                    "thread %.2f): time goes to waiting (queueing, locks, I/O)",
                    cpu.server_cores, cpu.busiest_thread);
    }
    diagnosis = buf;
  }

  std::printf("\n%-32s %12s %10s %9s %9s %9s %10s %9s\n", "", "events/s", "req/s", "p50 ms",
              "p99 ms", "max ms", "commit ev", "cpu");
  auto row = [&](const char* name, const LoadResult& r, double events, const std::string& commit,
                 const std::string& cpu) {
    std::printf("%-32s %12s %10.0f %9.2f %9.2f %9.2f %10s %9s\n", name,
                events > 0 ? Num(events, 0).c_str() : "-", r.requests_per_second(), r.p50, r.p99,
                r.max, commit.c_str(), cpu.c_str());
  };
  for (int p = 0; p < 2; ++p) {
    char cpu[32];
    std::snprintf(cpu, sizeof(cpu), "%.2f+%.2f", phases[p].cpu.server_cores,
                  phases[p].cpu.client_cores);
    row(phases[p].load.label.c_str(), phases[p].load, phases[p].load.acked_per_second(),
        Num(phases[p].commit_events(), 1), cpu);
  }
  row("hello-world httplib (floor)", hello, 0, "-", "-");
  std::printf("%-32s %12s\n", "raw SQLite, 1 row/tx", Num(one.rows_per_second, 0).c_str());
  char label[64];
  std::snprintf(label, sizeof(label), "raw SQLite, %d rows/tx (matched)", matched_tx);
  std::printf("%-32s %12s\n", label, Num(matched.rows_per_second, 0).c_str());
  std::printf("%-32s %12s\n", "raw SQLite, 1000 rows/tx", Num(thousand.rows_per_second, 0).c_str());
  std::printf(
      "(cpu: collector cores + benchmark-process cores, of %u; the collector's busiest "
      "thread used %.2f and %.2f cores; other processes %.2f and %.2f cores)\n",
      cores, phases[0].cpu.busiest_thread, phases[1].cpu.busiest_thread, phases[0].cpu.other_cores,
      phases[1].cpu.other_cores);
  std::printf(
      "\nthroughput: collector / raw SQLite at the same commit size = %s (0 %% dups), %s "
      "(%.0f %% dups); aim >= %.1f: %s\n",
      Num(tput_ratio, 2).c_str(), Num(tput_ratio_dups, 2).c_str(), o.dup_fraction * 100,
      kAimThroughputRatio, tput_met ? "MET" : "MISSED");
  std::printf(
      "saturated:  collector p99 / hello-world p99, closed loop = %s (0 %% dups), %s (%.0f %% "
      "dups); context, not an aim\n",
      Num(lat_ratio, 2).c_str(), Num(lat_ratio_dups, 2).c_str(), o.dup_fraction * 100);
  std::printf(
      "half rate:  at %.1f req/s open loop (%.0f %% of %.1f), collector p99 %.2f ms / "
      "hello-world p99 %.2f ms = %s, %lld failed; aim <= %.0f and none failed: %s\n",
      half_rate, 100 * o.half_rate_fraction, max_rate, half_collector.latency.p99,
      half_hello.latency.p99, Num(half_ratio, 2).c_str(),
      static_cast<long long>(half_collector.failed()), kAimLatencyRatio,
      half_met ? "MET" : "MISSED");
  std::printf(
      "browsers:   %d browsers on their own connections: %lld of %lld answered 200, p99 %.2f ms; "
      "over %d connections p99 %.2f ms; ratio %s; aim: all answered, ratio <= %.0f: %s\n",
      o.browsers, static_cast<long long>(browsers_own.ok),
      static_cast<long long>(browsers_own.scheduled), browsers_own.latency.p99, o.clients,
      browsers_pooled.latency.p99, Num(browsers_ratio, 2).c_str(), kAimBrowsersRatio,
      browsers_met ? "MET" : "MISSED");
  if (std::isfinite(commit_share)) {
    std::printf(
        "writer time estimate (0 %% dups): commit overhead (fsync) %.0f %% (%.0f commits/s "
        "x %.3f ms), row inserts %.0f %%, the rest (parsing, identity, profile replay and "
        "writes) ~%.0f %% if the writer is the bottleneck (busiest thread %.2f cores)\n",
        100 * commit_share, phases[0].commits_per_second(), 1000 * per_commit_s, 100 * insert_share,
        100 * std::max(0.0, 1 - commit_share - insert_share), phases[0].cpu.busiest_thread);
  }
  const double other_max = std::max({phases[0].cpu.other_cores, phases[1].cpu.other_cores,
                                     hello_cpu.other_cores, sqlite_cpu.other_cores});
  if (other_max >= 0.2) {
    std::printf(
        "WARNING: other processes used up to %.2f cores during the measurements (collector "
        "%.2f/%.2f, hello-world %.2f, raw SQLite %.2f): the figures are perturbed\n",
        other_max, phases[0].cpu.other_cores, phases[1].cpu.other_cores, hello_cpu.other_cores,
        sqlite_cpu.other_cores);
  }
  std::printf("reading: %s\n", diagnosis.c_str());
  std::printf("total run time %.1f s\n", total_seconds);

  std::ostringstream j;
  j << "{\n  \"benchmark\": \"waymark_collector_bench\",\n  \"date\": \"" << date << "\",\n"
    << "  \"machine\": {\"nproc\": " << cores << ", \"uname\": \"" << JsonEscape(uname_text)
    << "\", \"load_average_before\": " << Num(load_before, 2) << ", \"work_folder\": \""
    << JsonEscape(work) << "\", \"filesystem\": \"" << fs << "\", \"sqlite\": \""
    << sqlite3_libversion() << "\", \"cpp_httplib\": \"" << CPPHTTPLIB_VERSION
    << "\", \"note\": \"client threads, the collector and the baselines share these cores\"},\n"
    << "  \"config\": {\"collector\": \"" << JsonEscape(o.collector) << "\", \"sync\": \"" << o.sync
    << "\", \"clients\": " << o.clients << ", \"batch_events\": " << o.batch
    << ", \"visitors\": " << o.visitors << ", \"visitor_run\": " << o.visitor_run
    << ", \"phase_seconds\": " << Num(o.duration, 1)
    << ", \"hello_seconds\": " << Num(o.hello_seconds, 1)
    << ", \"server_threads\": " << kServerThreads
    << ", \"client_rate_limit_raised\": " << (col.client_rate_limit ? "true" : "false")
    << ", \"request_timeout_seconds\": " << Num(o.request_timeout, 1) << "},\n"
    << "  \"collector\": {\n    \"no_duplicates\": " << PhaseJson(phases[0], 0)
    << ",\n    \"with_duplicates\": " << PhaseJson(phases[1], o.dup_fraction)
    << ",\n    \"exit_status\": " << exit_code << "\n  },\n"
    << "  \"hello_world\": " << LoadJson(hello) << ",\n"
    << "  \"half_rate\": {\"fraction\": " << Num(o.half_rate_fraction, 2)
    << ", \"max_rate_per_s\": " << Num(max_rate, 1) << ", \"rate_per_s\": " << Num(half_rate, 1)
    << ", \"connections\": " << o.clients << ", \"batch_events\": " << o.batch
    << ",\n    \"collector\": " << OpenLoopJson(half_collector)
    << ",\n    \"hello_world\": " << OpenLoopJson(half_hello) << "},\n"
    << "  \"many_browsers\": {\"browsers\": " << o.browsers
    << ", \"interval_seconds\": " << Num(o.browser_interval, 1)
    << ", \"batch_events\": " << o.browser_batch
    << ", \"phase_seconds\": " << Num(o.browser_seconds, 1)
    << ",\n    \"own_connections\": " << OpenLoopJson(browsers_own)
    << ",\n    \"pooled\": " << OpenLoopJson(browsers_pooled) << "},\n"
    << "  \"other_processes_cores\": {\"collector_no_duplicates\": "
    << Num(phases[0].cpu.other_cores, 2)
    << ", \"collector_with_duplicates\": " << Num(phases[1].cpu.other_cores, 2)
    << ", \"hello_world\": " << Num(hello_cpu.other_cores, 2)
    << ", \"raw_sqlite\": " << Num(sqlite_cpu.other_cores, 2) << "},\n"
    << "  \"storage\": {\"bytes\": " << storage_bytes << ", \"events\": " << rows.rows
    << ", \"bytes_per_event\": "
    << Num(rows.rows > 0 ? static_cast<double>(storage_bytes) / static_cast<double>(rows.rows) : 0,
           1)
    << "},\n"
    << "  \"raw_sqlite\": {\"rows_available\": " << rows.rows
    << ", \"avg_row_bytes\": " << Num(rows.avg_row_bytes, 1)
    << ", \"matched\": " << SqliteJson(matched) << ", \"one_row\": " << SqliteJson(one)
    << ", \"thousand_rows\": " << SqliteJson(thousand) << "},\n"
    << "  \"writer_time_estimate\": {\"per_commit_ms\": " << Num(per_commit_s * 1000, 4)
    << ", \"per_row_ms\": " << Num(per_row_s * 1000, 5)
    << ", \"commit_share\": " << Num(commit_share, 3)
    << ", \"insert_share\": " << Num(insert_share, 3) << ", \"reading\": \""
    << JsonEscape(diagnosis) << "\"},\n"
    << "  \"ratios\": {\n"
    << "    \"throughput\": {\"collector_events_per_s\": " << Num(eps0, 1)
    << ", \"collector_events_per_s_with_duplicates\": " << Num(eps1, 1)
    << ", \"raw_sqlite_rows_per_s\": " << Num(matched.rows_per_second, 1)
    << ", \"ratio\": " << Num(tput_ratio, 3)
    << ", \"ratio_with_duplicates\": " << Num(tput_ratio_dups, 3)
    << ", \"aim\": \">= " << kAimThroughputRatio << "\", \"met\": " << (tput_met ? "true" : "false")
    << "},\n"
    << "    \"latency_p99_saturated\": {\"collector_p99_ms\": " << Num(phases[0].load.p99)
    << ", \"collector_p99_ms_with_duplicates\": " << Num(phases[1].load.p99)
    << ", \"hello_world_p99_ms\": " << Num(hello.p99) << ", \"ratio\": " << Num(lat_ratio, 3)
    << ", \"ratio_with_duplicates\": " << Num(lat_ratio_dups, 3)
    << ", \"note\": \"closed loop, clients back to back: context, not an aim\"},\n"
    << "    \"latency_p99_half_rate\": {\"rate_per_s\": " << Num(half_rate, 1)
    << ", \"max_rate_per_s\": " << Num(max_rate, 1)
    << ", \"collector_p99_ms\": " << Num(half_collector.latency.p99)
    << ", \"hello_world_p99_ms\": " << Num(half_hello.latency.p99)
    << ", \"collector_failed\": " << half_collector.failed()
    << ", \"ratio\": " << Num(half_ratio, 3) << ", \"aim\": \"<= " << kAimLatencyRatio
    << ", none failed\", \"met\": " << (half_met ? "true" : "false") << "},\n"
    << "    \"many_browsers\": {\"browsers\": " << o.browsers
    << ", \"requests\": " << browsers_own.scheduled << ", \"ok\": " << browsers_own.ok
    << ", \"failed\": " << browsers_own.failed()
    << ", \"p99_ms_own_connections\": " << Num(browsers_own.latency.p99)
    << ", \"p99_ms_pooled\": " << Num(browsers_pooled.latency.p99)
    << ", \"pooled_connections\": " << o.clients << ", \"ratio\": " << Num(browsers_ratio, 3)
    << ", \"aim\": \"every request answered 200, ratio <= " << kAimBrowsersRatio
    << "\", \"met\": " << (browsers_met ? "true" : "false") << "}\n  },\n"
    << "  \"total_seconds\": " << Num(total_seconds, 1) << "\n}\n";
  if (!WriteFile(o.out, j.str())) {
    std::fprintf(stderr, "collector_bench: cannot write %s\n", o.out.c_str());
  } else {
    std::printf("results written to %s\n", o.out.c_str());
  }
  if (o.keep) {
    std::printf("kept %s\n", work.c_str());
  } else {
    RemoveTree(work);
  }
  const bool complete = phases[0].load.ok_requests > 0 && hello.ok_requests > 0 &&
                        matched.rows_per_second > 0 && half_collector.answered > 0 &&
                        half_hello.answered > 0 && browsers_own.answered > 0 &&
                        browsers_pooled.answered > 0;
  return complete ? 0 : 1;
}
