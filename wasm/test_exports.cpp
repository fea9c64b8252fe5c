// The test build's extra exports (build/wasm/wasm/waymark_test.wasm): the production exports
// (wasm/exports.cpp, linked too) plus calls only tests make (wasm/test_adapter.h), named wm_test_*.
// tests/js/extra-tools.mjs gives them their JS names. Never part of dist/.
//
// Calls without an engine read their strings from one scratch buffer (wm_test_input), written back
// to back, and answer at wm_test_output; calls on an engine use its buffers, as wasm/exports.cpp.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "wasm/test_adapter.h"

using waymark::wasm::WasmEngine;

namespace {

std::string scratch_in;
std::string scratch_out;

// The next `length` bytes of `buffer` from `*at`, which moves past them.
std::string Next(std::string_view buffer, std::uint32_t* at, std::uint32_t length) {
  std::string s(buffer.substr(std::min<std::size_t>(*at, buffer.size()), length));
  *at += length;
  return s;
}

int Answer(std::string text) {
  scratch_out = std::move(text);
  return static_cast<int>(scratch_out.size());
}

}  // namespace

extern "C" {

std::uintptr_t wm_test_input(std::uint32_t size) {
  scratch_in.resize(size);
  return reinterpret_cast<std::uintptr_t>(scratch_in.data());
}

std::uintptr_t wm_test_output() { return reinterpret_cast<std::uintptr_t>(scratch_out.data()); }

int wm_test_classify_channel(std::uint32_t campaign, std::uint32_t referrer, std::uint32_t host) {
  std::uint32_t at = 0;
  std::string a = Next(scratch_in, &at, campaign);
  std::string b = Next(scratch_in, &at, referrer);
  std::string c = Next(scratch_in, &at, host);
  return Answer(waymark::wasm::ClassifyChannelJson(a, b, c));
}

int wm_test_attribute_path(std::uint32_t path, double at_ms, std::uint32_t model,
                           std::uint32_t options) {
  std::uint32_t at = 0;
  std::string a = Next(scratch_in, &at, path);
  std::string b = Next(scratch_in, &at, model);
  std::string c = Next(scratch_in, &at, options);
  return Answer(waymark::wasm::AttributePathJson(a, at_ms, b, c));
}

int wm_test_merge_logs(std::uint32_t a_length, std::uint32_t b_length, std::uint32_t blocked) {
  std::uint32_t at = 0;
  std::string a = Next(scratch_in, &at, a_length);
  std::string b = Next(scratch_in, &at, b_length);
  std::string c = Next(scratch_in, &at, blocked);
  return Answer(waymark::wasm::MergeLogsJson(a, b, c));
}

// On an engine: the model is in the engine's input buffer.
int wm_test_engine_attribute(WasmEngine* e, std::uint32_t model, double at_ms) {
  return e->Reply(waymark::wasm::EngineAttributeJson(*e, std::string(e->input(model)), at_ms));
}

// The JSON boundary the typed one replaced: the envelopes' JSON text is in the engine's input.
int wm_test_track_json(WasmEngine* e, std::uint32_t length) {
  return e->Reply(waymark::wasm::TrackJsonBatch(*e, std::string(e->input(length))));
}

}  // extern "C"
