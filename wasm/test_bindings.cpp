// The test build's extra Embind exports (build/wasm/wasm/waymark_test.{js,wasm}): the production
// surface (wasm/bindings.cpp, linked too) plus calls only the tests make (wasm/test_adapter.h).
// tests/js/extra-tools.mjs gives them their JS names. Never part of dist/.
#include <emscripten/bind.h>

#include "wasm/test_adapter.h"

EMSCRIPTEN_BINDINGS(waymark_test) {
  emscripten::function("_classifyChannel", &waymark::wasm::ClassifyChannelJson);
  emscripten::function("_buildBatches", &waymark::wasm::BuildBatchesJson);
  emscripten::function("_attributePath", &waymark::wasm::AttributePathJson);
  emscripten::function("_mergeLogs", &waymark::wasm::MergeLogsJson);
  emscripten::function("_engineAttribute", &waymark::wasm::EngineAttributeJson);
  emscripten::function("_trackJson", &waymark::wasm::TrackJsonBatch);
}
