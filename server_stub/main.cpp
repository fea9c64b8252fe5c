// waymark-collector: parses its configuration, serves until SIGTERM/SIGINT, then drains what is
// in flight, commits and exits 0.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "compile_map_command.h"
#include "config.h"
#include "http/collector_server.h"
#include "rollups_command.h"
#include "storage/database.h"

int main(int argc, char** argv) {
  using waymark::collector::CollectorServer;
  using waymark::collector::Config;
  using waymark::collector::Database;
  if (argc > 1 && std::strcmp(argv[1], "compile-map") == 0) {
    return waymark::collector::RunCompileMap(argc, argv);
  }
  if (argc > 1 && std::strcmp(argv[1], "rollups") == 0) {
    return waymark::collector::RunRollups(argc, argv);
  }
  Config config;
  bool help = false;
  if (auto err = waymark::collector::ParseConfig(argc, argv, &config, &help)) {
    std::fprintf(stderr, "waymark-collector: %s\n", err->c_str());
    return 2;
  }
  if (help) {
    std::fputs(waymark::collector::HelpText().c_str(), stdout);
    return 0;
  }
  // Signals are taken by one thread with sigwait, so no handler runs inside a worker.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  CollectorServer server(config);
  if (auto err = server.Start()) {
    std::fprintf(stderr, "waymark-collector: %s\n", err->c_str());
    return 1;
  }
  std::printf("{\"level\":\"info\",\"msg\":\"listening\",\"url\":\"http://%s:%d\",\"db\":\"%s\"}\n",
              config.bind.c_str(), server.port(), Database::Loggable(config.database).c_str());
  std::fflush(stdout);
  std::thread watcher([&server, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::printf("{\"level\":\"info\",\"msg\":\"stopping\",\"signal\":%d}\n", sig);
    std::fflush(stdout);
    server.Shutdown();
  });
  server.Run();
  // Run returned: everything queued is committed. Wake the watcher if the stop came elsewhere.
  if (watcher.joinable()) {
    pthread_kill(watcher.native_handle(), SIGTERM);
    watcher.join();
  }
  std::printf("{\"level\":\"info\",\"msg\":\"stopped\"}\n");
  return 0;
}
