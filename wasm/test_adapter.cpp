// The test build's extra calls (wasm/test_adapter.h). Never linked into the production module.
#include "wasm/test_adapter.h"

#include <cstdint>
#include <map>
#include <vector>

#include "waymark/attribution.h"
#include "waymark/channels.h"
#include "waymark/duration.h"
#include "waymark/identity.h"

namespace waymark::wasm {

std::string ClassifyChannelJson(const std::string& campaign_json, const std::string& referrer,
                                const std::string& page_host) {
  std::map<std::string, std::string> campaign;
  auto parsed = ParseJson(campaign_json.empty() ? "{}" : campaign_json, 64 * 1024, 4);
  if (!parsed) return Fail(parsed.error());
  if (parsed.value().is_object()) {
    for (auto it = parsed.value().begin(); it != parsed.value().end(); ++it) {
      if (it.value().is_string()) campaign[it.key()] = it.value().get<std::string>();
    }
  }
  return Ok(json{{"channel", ClassifyChannel(campaign, referrer, page_host)}});
}

std::string AttributePathJson(const std::string& path_json, double at, const std::string& model,
                              const std::string& options_json) {
  auto path = ParseJson(path_json, 4 * 1024 * 1024, 4);
  if (!path) return Fail(path.error());
  auto m = ParseModel(model);
  if (!m) return Fail(m.error());
  std::vector<Touch> touches;
  if (path.value().is_array()) {
    for (const auto& t : path.value()) {
      std::int64_t when = 0;
      if (!t.is_array() || t.size() != 2 || !t[0].is_string() || !GetInt64(t[1], &when)) {
        return Fail(MakeError("invalid_path", "path: expected [[channel, time], ...]"));
      }
      touches.push_back(Touch{t[0].get<std::string>(), when});
    }
  }
  AttributionOptions opts;
  auto parsed = ParseJson(options_json.empty() ? "{}" : options_json, 64 * 1024, 4);
  if (parsed && parsed.value().is_object()) {
    const json& o = parsed.value();
    if (const json* v = Member(o, "lookback")) {
      if (auto d = ParseDuration(*v)) opts.lookback = d.value();
    }
    if (const json* v = Member(o, "half_life")) {
      if (auto d = ParseDuration(*v)) opts.half_life = d.value();
    }
    if (const json* v = Member(o, "collapse_repeats"); v != nullptr && v->is_boolean()) {
      opts.collapse_repeats = v->get<bool>();
    }
  }
  json out = json::array();
  for (const auto& c : Attribute(touches, ToTime(at), m.value(), opts)) {
    out.push_back({{"channel", c.channel}, {"credit", c.credit}});
  }
  return Ok(std::move(out));
}

std::string MergeLogsJson(const std::string& a_json, const std::string& b_json,
                          const std::string& blocked_json) {
  std::vector<Event> logs[2];
  const std::string* inputs[2] = {&a_json, &b_json};
  for (int i = 0; i < 2; ++i) {
    auto parsed = ParseJson(*inputs[i], 16 * 1024 * 1024, 16);
    if (!parsed) return Fail(parsed.error());
    if (!parsed.value().is_array()) return Fail(MakeError("invalid_batch", "expected an array"));
    for (const auto& e : parsed.value()) {
      auto event = EventFromJson(e);
      if (!event) return Fail(event.error());
      logs[i].push_back(std::move(event).value());
    }
  }
  std::vector<std::string> blocked;
  auto b = ParseJson(blocked_json.empty() ? "[]" : blocked_json, 64 * 1024, 4);
  if (b && b.value().is_array()) {
    for (const auto& x : b.value()) {
      if (x.is_string()) blocked.push_back(x.get<std::string>());
    }
  }
  auto merged = MergeLogs(logs[0], logs[1], blocked);
  if (!merged) return Fail(merged.error());
  json out = json::array();
  for (const auto& e : merged.value()) out.push_back(EventToJson(e));
  return Ok(std::move(out));
}

std::string EngineAttributeJson(const WasmEngine& engine, const std::string& model, double at) {
  auto m = ParseModel(model);
  if (!m) return Fail(m.error());
  json out = json::array();
  for (const auto& c : engine.engine().Attribute(m.value(), ToTime(at))) {
    out.push_back({{"channel", c.channel}, {"credit", c.credit}});
  }
  return Ok(std::move(out));
}

std::string TrackJsonBatch(WasmEngine& engine, const std::string& events_json) {
  return engine.trackJson(events_json);
}

}  // namespace waymark::wasm
