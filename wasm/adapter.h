// The adapter between the module's exports and the core: what the production module exports
// (wasm/exports.cpp exports it and nothing else). Coarse calls; per event typed records
// (wasm/typed_track.h), otherwise JSON text; errors as data: the JS layer (js/src/engine.js) turns
// `{"ok": false, "error": {...}}` into a WaymarkError with a `code`; nothing here throws, and the
// core never aborts, so no input can kill the module.
//
// Only what the SDK (js/src) calls belongs here; helpers that only tests need live in
// wasm/test_adapter.h and reach the test build alone (tests/js/exports.test.mjs checks it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "waymark/engine.h"
#include "waymark/json_util.h"
#include "waymark/result.h"

namespace waymark::wasm {

// `{"ok": true, "value": value}` as text.
std::string Ok(json value);
// `{"ok": false, "error": {"code", "message"}}` as text.
std::string Fail(const Error& error);
// A time from JS (a double of ms): NaN, negative or absurd values become 0, never UB.
TimeMs ToTime(double ms);

// One visitor's engine. JS must call dispose() (wm_engine_delete): wasm memory is not collected.
class WasmEngine {
 public:
  // Starts on the embedded default map (core/maps/default.wmap); loadMap switches.
  explicit WasmEngine(bool local_only);

  // The typed per-event path (wasm/typed_track.h), one call per batch: JS asks for an input
  // buffer of `size` bytes (its address in wasm memory), writes the records there and calls
  // trackRecords with their length (inputBuffer answers 0 past 2 MB: JS then sends the batch in
  // halves). The answer is the size of the outcomes at output(), or,
  // negative, the size of the error written there as `{"ok": false, ...}` text.
  std::uintptr_t inputBuffer(std::size_t size);
  double trackRecords(std::size_t length);
  std::uintptr_t output() const;
  // {"reads", "filters"} of the current map (MapInfoJson), once per map.
  std::string mapInfo() const;
  // Tracks a JSON array of envelopes, one result per event: the JSON boundary the typed one
  // replaced, bound only in the test build (the JS tests compare the two; the bench times both).
  std::string trackJson(const std::string& events_json);
  std::string advance(double now);
  std::string identify(const std::string& user_id, const std::string& traits_json);
  std::string state(double now) const;
  std::string score(double now, const std::string& group) const;
  std::string decide(double now) const;
  std::string snapshot() const;
  std::string restore(const std::string& snapshot);
  // Switches to the compiled map (waymark/compiled_map.h) JS wrote to inputBuffer: the touchpoint
  // log is replayed under it. Damaged bytes change nothing (map_corrupt, map_version). Maps as
  // JSON are compiled by the separate compiler module (wasm/compiler.cpp), loaded on demand.
  std::string loadMap(std::size_t length);
  void setLocalOnly(bool on);
  std::string stage() const;

  // The plain exports' string plumbing (wasm/exports.cpp): what JS wrote to inputBuffer, and a
  // text answer kept at output() whose size is returned.
  std::string_view input(std::size_t length) const {
    return std::string_view(input_).substr(0, length);
  }
  int Reply(std::string text) {
    output_ = std::move(text);
    return static_cast<int>(output_.size());
  }

  // The engine itself, for the test build's extra calls (wasm/test_adapter.h).
  const Engine& engine() const { return *engine_; }

 private:
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  std::string input_;
  std::string output_;
};

}  // namespace waymark::wasm
