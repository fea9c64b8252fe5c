// The map compiler module (build/wasm/wasm/waymark-compiler.wasm, shipped as
// dist/waymark-compiler.wasm): JSON journey maps in, compiled maps (waymark/compiled_map.h) out,
// with the core's path-precise errors. The engine module holds no JSON map parser; the SDK loads
// this one only when a page hands it a map as JSON (init({ map }), setMap), so sites that never do
// never download it. Plain C exports and no Emscripten glue: js/src/compiler.js instantiates it
// with a few lines.
//
// Calls: wm_buffer(n) gives the address of an n-byte input buffer (0 past 1 MB); JS writes the
// map's UTF-8 text there; wm_compile(n) compiles it and answers the size of the output at
// wm_output(): the compiled bytes, or, negative, the error as {"ok": false, "error": {...}} text.
// wm_default_map() puts the default map's JSON text in the output and answers its size.
#include <cstdint>
#include <string>

#include "waymark/compiled_map.h"
#include "waymark/default_map.h"
#include "waymark/journey_map.h"

namespace {

std::string input;
std::string output;

int Answer(bool ok) {
  const int size = static_cast<int>(output.size());
  return ok ? size : -size;
}

}  // namespace

extern "C" {

std::uintptr_t wm_buffer(std::uint32_t size) {
  if (size > waymark::kMaxMapBytes) return 0;
  input.resize(size);
  return reinterpret_cast<std::uintptr_t>(input.data());
}

int wm_compile(std::uint32_t length) {
  auto map = waymark::ParseJourneyMap(std::string_view(input).substr(0, length));
  if (!map) {
    output = waymark::DumpJson(waymark::json{
        {"ok", false}, {"error", {{"code", map.error().code}, {"message", map.error().message}}}});
    return Answer(false);
  }
  output = waymark::CompileMap(*map.value());
  return Answer(true);
}

std::uintptr_t wm_output() { return reinterpret_cast<std::uintptr_t>(output.data()); }

int wm_default_map() {
  output = std::string(waymark::DefaultMapJson());
  return Answer(true);
}

}  // extern "C"
