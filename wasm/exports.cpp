// The production module's exports (build/wasm/wasm/waymark.wasm, shipped as dist/waymark.wasm):
// plain C functions over the adapter (wasm/adapter.h), exactly the calls the SDK makes
// (js/src/wasm-module.js wraps them; tests/js/exports.test.mjs fails on any export js/src does not
// call). No Embind: the module is a standalone wasm whose loader is a few lines of JS, where
// Embind's glue cost about 9 KB gzip of the SDK's script (wasm/CMakeLists.txt has the figures).
//
// Strings cross through the engine's buffers: JS writes UTF-8 to wm_input's address and passes
// lengths; a call that answers text leaves it at wm_output and returns its size (wm_track returns
// it negative for an error, whose text is then `{"ok": false, ...}`).
#include <cstdint>
#include <string>

#include "wasm/adapter.h"

using waymark::wasm::WasmEngine;

namespace {

std::string Text(const WasmEngine* e, std::uint32_t from, std::uint32_t length) {
  return std::string(e->input(from + length).substr(from));
}

}  // namespace

extern "C" {

WasmEngine* wm_engine_new(int local_only) { return new WasmEngine(local_only != 0); }

void wm_engine_delete(WasmEngine* e) { delete e; }

std::uintptr_t wm_input(WasmEngine* e, std::uint32_t size) { return e->inputBuffer(size); }

std::uintptr_t wm_output(WasmEngine* e) { return e->output(); }

double wm_track(WasmEngine* e, std::uint32_t length) { return e->trackRecords(length); }

int wm_load_map(WasmEngine* e, std::uint32_t length) { return e->Reply(e->loadMap(length)); }

int wm_map_info(WasmEngine* e) { return e->Reply(e->mapInfo()); }

int wm_advance(WasmEngine* e, double now) { return e->Reply(e->advance(now)); }

// The input holds the user id, then the traits' JSON text ("" for none).
int wm_identify(WasmEngine* e, std::uint32_t user_length, std::uint32_t traits_length) {
  return e->Reply(e->identify(Text(e, 0, user_length), Text(e, user_length, traits_length)));
}

int wm_state(WasmEngine* e, double now) { return e->Reply(e->state(now)); }

int wm_score(WasmEngine* e, double now, std::uint32_t group_length) {
  return e->Reply(e->score(now, Text(e, 0, group_length)));
}

int wm_decide(WasmEngine* e, double now) { return e->Reply(e->decide(now)); }

int wm_snapshot(WasmEngine* e) { return e->Reply(e->snapshot()); }

int wm_restore(WasmEngine* e, std::uint32_t length) {
  return e->Reply(e->restore(Text(e, 0, length)));
}

void wm_set_local_only(WasmEngine* e, int on) { e->setLocalOnly(on != 0); }

int wm_stage(WasmEngine* e) { return e->Reply(e->stage()); }

}  // extern "C"
