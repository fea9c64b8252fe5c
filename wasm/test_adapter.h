// What only the test build of the module exports (wasm/test_bindings.cpp binds it): calls the
// shared vectors and the JS tests need (channel classification, attribution over an explicit
// path, log merging, an engine's attribution, the JSON boundary) but the SDK does not make. They
// stay out of the production waymark.wasm; tests/js/exports.test.mjs checks that every export of
// the production module is one the SDK calls.
#pragma once

#include <string>

#include "wasm/adapter.h"

namespace waymark::wasm {

// The channel of a landing: campaign as a JSON object of strings, the referrer, the page's host.
std::string ClassifyChannelJson(const std::string& campaign_json, const std::string& referrer,
                                const std::string& page_host);
// Attribution over an explicit path [[channel, at], ...] (the shared vectors' attribute step).
std::string AttributePathJson(const std::string& path_json, double at, const std::string& model,
                              const std::string& options_json);
// Merges two visitors' logs (arrays of envelopes) as the collector does; the result is the
// merged envelopes in order, to replay through a new engine.
std::string MergeLogsJson(const std::string& a_json, const std::string& b_json,
                          const std::string& blocked_json);
// The JSON boundary the typed one replaced (WasmEngine::trackJson): the JS tests check the two
// agree, the bench times both in one run.
std::string TrackJsonBatch(WasmEngine& engine, const std::string& events_json);
// An engine's attribution under a model at a time: [{channel, credit}, ...].
std::string EngineAttributeJson(const WasmEngine& engine, const std::string& model, double at);

}  // namespace waymark::wasm
