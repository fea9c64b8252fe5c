// Core benchmark: events per second through the default map, snapshot and restore, and memory per
// visitor. Memory is measured by counting live heap bytes (global operator new/delete below), so
// it is the engine's own footprint, independent of the allocator's page reuse.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "wasm/adapter.h"
#include "waymark/default_map.h"
#include "waymark/engine.h"
#include "waymark/json_util.h"

namespace {
// Counting is switched on only while the memory benchmark runs, so the speed benchmarks use the
// allocator untouched. malloc_usable_size counts what the allocator really holds.
bool g_counting = false;
long long g_live_bytes = 0;
}  // namespace

void* operator new(std::size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  if (g_counting) g_live_bytes += static_cast<long long>(malloc_usable_size(p));
  return p;
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  if (g_counting) g_live_bytes -= static_cast<long long>(malloc_usable_size(p));
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

namespace waymark {
namespace {

constexpr TimeMs kT0 = 1700000000000;

std::shared_ptr<const JourneyMap> MapWithLogCap(std::size_t cap) {
  json doc = json::parse(std::string(DefaultMapJson()), nullptr, false);
  doc["noise"]["log_cap"] = cap;
  return ParseJourneyMap(doc.dump()).value();
}

// A realistic mix: mostly page views and feature use, some intent events, rare conversions.
std::vector<Event> Stream(std::size_t n) {
  static const char* kNames[] = {
      "page_viewed",  "page_viewed",     "page_viewed",    "feature_viewed",
      "content_read", "pricing_viewed",  "feature_used",   "feature_used",
      "video_played", "page_viewed",     "lead_submitted", "trial_started",
      "feature_used", "order_completed", "feature_used",   "friend_invited"};
  std::vector<Event> events;
  events.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Event e;
    e.id = "0190a5b2-0000-7000-8000-" + std::to_string(100000000000 + i);
    e.seq = static_cast<std::int64_t>(i);
    e.anonymous_id = "anon-bench";
    e.name = kNames[i % 16];
    e.time = kT0 + static_cast<TimeMs>(i) * 7 * kSecond;
    e.context.path = "/p/" + std::to_string(i % 37);
    e.properties =
        json{{"section", "s" + std::to_string(i % 5)}, {"value", static_cast<int>(i % 100)}};
    events.push_back(std::move(e));
  }
  return events;
}

// Arg 0: the collector's path (no outbound envelope built); arg 1: the browser's path (the
// filtered envelope to send is built for every accepted event).
void BM_TrackDefaultMap(benchmark::State& state) {
  auto map = MapWithLogCap(500);
  auto events = Stream(20000);
  EngineOptions options;
  options.build_outbound = state.range(0) == 1;
  std::size_t processed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<Engine> engine(std::in_place, map, options);
    auto batch = events;  // Track takes events by value, as the SDK and collector hand them over
    state.ResumeTiming();
    for (auto& e : batch) benchmark::DoNotOptimize(engine->Track(std::move(e)));
    state.PauseTiming();
    processed += batch.size();
    batch.clear();
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(processed));
}
BENCHMARK(BM_TrackDefaultMap)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_TrackJsonDefaultMap(benchmark::State& state) {
  auto map = MapWithLogCap(500);
  std::vector<json> envelopes;
  for (const auto& e : Stream(20000)) envelopes.push_back(EventToJson(e));
  std::size_t processed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Engine engine(map);
    state.ResumeTiming();
    for (const auto& j : envelopes) benchmark::DoNotOptimize(engine.TrackJson(j));
    processed += envelopes.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(processed));
}
BENCHMARK(BM_TrackJsonDefaultMap)->Unit(benchmark::kMillisecond);

// The browser's former engine call, natively: WasmEngine::trackJson (wasm/adapter.cpp, bound in the
// test build only since the typed boundary replaced it) takes a JSON array of envelopes as text,
// tracks each (TrackJson, outbound built) and answers a JSON text with one result per event. Arg:
// events per call. bench/core_wasm.mjs runs the same stream through it and through the SDK's typed
// call under Node and in Chromium; the wasm/native ratio compares the JSON call on both sides
// (wall time, as the wasm side measures). The default map, whose log cap is 500 as elsewhere.
void BM_TrackJsonBatchDefaultMap(benchmark::State& state) {
  const auto per_call = static_cast<std::size_t>(state.range(0));
  std::vector<std::string> batches;
  json batch = json::array();
  for (const auto& e : Stream(20000)) {
    batch.push_back(EventToJson(e));
    if (batch.size() == per_call) {
      batches.push_back(DumpJson(batch));
      batch = json::array();
    }
  }
  if (!batch.empty()) batches.push_back(DumpJson(batch));
  std::size_t processed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<wasm::WasmEngine> engine(std::in_place, false);
    state.ResumeTiming();
    for (const auto& b : batches) benchmark::DoNotOptimize(engine->trackJson(b));
    state.PauseTiming();
    engine.reset();
    state.ResumeTiming();
    processed += 20000;
  }
  state.SetItemsProcessed(static_cast<int64_t>(processed));
}
BENCHMARK(BM_TrackJsonBatchDefaultMap)->Arg(100)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Snapshot(benchmark::State& state) {
  auto map = MapWithLogCap(static_cast<std::size_t>(state.range(0)));
  Engine engine(map);
  for (auto& e : Stream(static_cast<std::size_t>(state.range(0)))) engine.Track(std::move(e));
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string s = engine.Snapshot();
    bytes = s.size();
    benchmark::DoNotOptimize(s);
  }
  state.counters["snapshot_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Snapshot)->Arg(500)->Arg(1000)->Unit(benchmark::kMicrosecond);

void BM_Restore(benchmark::State& state) {
  auto map = MapWithLogCap(static_cast<std::size_t>(state.range(0)));
  Engine engine(map);
  for (auto& e : Stream(static_cast<std::size_t>(state.range(0)))) engine.Track(std::move(e));
  std::string snapshot = engine.Snapshot();
  for (auto _ : state) {
    Engine restored(map);
    benchmark::DoNotOptimize(restored.Restore(snapshot));
  }
}
BENCHMARK(BM_Restore)->Arg(500)->Arg(1000)->Unit(benchmark::kMicrosecond);

// Live heap bytes held by one visitor's engine with `range(0)` touchpoints in its log.
void BM_MemoryPerVisitor(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto map = MapWithLogCap(n);
  auto events = Stream(n);
  long long held = 0;
  for (auto _ : state) {
    g_live_bytes = 0;
    g_counting = true;
    {
      Engine engine(map);
      for (const auto& e : events) engine.Track(e);
      held = g_live_bytes;
      g_counting = false;
      benchmark::DoNotOptimize(engine);
    }
  }
  state.counters["bytes_per_visitor"] = static_cast<double>(held);
  state.counters["bytes_per_touchpoint"] = static_cast<double>(held) / static_cast<double>(n);
}
BENCHMARK(BM_MemoryPerVisitor)->Arg(1000)->Arg(10000)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace waymark

BENCHMARK_MAIN();
