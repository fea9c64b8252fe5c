// The Embind surface of the production module (build/wasm/wasm/waymark.{js,wasm}, shipped as
// dist/waymark.wasm): exactly the calls the SDK makes (js/src/engine.js). The adapter behind them
// is wasm/adapter.h; test-only calls are bound in wasm/test_bindings.cpp, linked into the test
// build alone. tests/js/exports.test.mjs fails on any export here that js/src does not call.
#include <emscripten/bind.h>

#include "wasm/adapter.h"

EMSCRIPTEN_BINDINGS(waymark) {
  using waymark::wasm::WasmEngine;
  emscripten::class_<WasmEngine>("Engine")
      .constructor<bool>()
      .function("_inputBuffer", &WasmEngine::inputBuffer)
      .function("_trackRecords", &WasmEngine::trackRecords)
      .function("_output", &WasmEngine::output)
      .function("_mapInfo", &WasmEngine::mapInfo)
      .function("_advance", &WasmEngine::advance)
      .function("_identify", &WasmEngine::identify)
      .function("_state", &WasmEngine::state)
      .function("_score", &WasmEngine::score)
      .function("_decide", &WasmEngine::decide)
      .function("_snapshot", &WasmEngine::snapshot)
      .function("_restore", &WasmEngine::restore)
      .function("_loadMap", &WasmEngine::loadMap)
      .function("_setLocalOnly", &WasmEngine::setLocalOnly)
      .function("_stage", &WasmEngine::stage);
}
