// The Embind surface of the journey engine: coarse calls, JSON strings in and out, errors as
// data. The JS layer (js/) turns `{"ok": false, "error": {...}}` into a WaymarkError with a
// `code`; nothing here throws, and the core never aborts, so no input can kill the module.
#include <emscripten/bind.h>

#include <memory>
#include <string>

#include "waymark/attribution.h"
#include "waymark/channels.h"
#include "waymark/default_map.h"
#include "waymark/engine.h"
#include "waymark/identity.h"
#include "waymark/outbound.h"

namespace waymark::wasm {

namespace {

constexpr std::size_t kMaxBatchBytes = 2 * 1024 * 1024;

std::string Ok(json value) {
  json out = {{"ok", true}, {"value", std::move(value)}};
  return DumpJson(out);
}

std::string Fail(const Error& error) {
  return DumpJson(
      json{{"ok", false}, {"error", {{"code", error.code}, {"message", error.message}}}});
}

TimeMs ToTime(double ms) {
  if (!(ms >= 0) || ms > 9.0e15) return 0;  // NaN, negative or absurd: the epoch, never UB
  return static_cast<TimeMs>(ms);
}

json TransitionsJson(const std::vector<TransitionRecord>& records) {
  json out = json::array();
  for (const auto& r : records) {
    out.push_back({{"from", r.from},
                   {"to", r.to},
                   {"at", r.at},
                   {"event_id", r.event_id},
                   {"rule", r.rule},
                   {"map_version", r.map_version}});
  }
  return out;
}

json TriggersJson(const std::vector<FiredTrigger>& triggers) {
  json out = json::array();
  for (const auto& t : triggers) {
    out.push_back({{"trigger", t.trigger},
                   {"from", t.from},
                   {"to", t.to},
                   {"at", t.at},
                   {"event_id", t.event_id},
                   {"rule", t.rule}});
  }
  return out;
}

json DecisionsJson(const std::vector<Decision>& decisions) {
  json out = json::array();
  for (const auto& d : decisions) {
    json content = json::object();
    if (d.content.text) content["text"] = *d.content.text;
    if (!d.content.attrs.empty()) content["attrs"] = d.content.attrs;
    content["hidden"] = d.content.hidden;
    out.push_back({{"slot", d.slot},
                   {"variant", d.variant},
                   {"default", d.is_default},
                   {"content", std::move(content)}});
  }
  return out;
}

}  // namespace

/// One visitor's engine. Created with a journey map; JS must call dispose() (Embind's delete).
class WasmEngine {
 public:
  WasmEngine(const std::string& map_json, bool local_only) {
    options_.local_only = local_only;
    auto map = ParseJourneyMap(map_json.empty() ? std::string(DefaultMapJson()) : map_json);
    if (!map) {
      error_ = map.error();
      map = ParseJourneyMap(DefaultMapJson());  // a usable engine even after a bad map
    }
    engine_ = std::make_unique<Engine>(map.value(), options_);
  }

  /// The map error from construction, or "" when the map was good.
  std::string mapError() const { return error_.code.empty() ? "" : Fail(error_); }

  /// Tracks a JSON array of envelopes (one call per batch). One result per event.
  std::string track(const std::string& events_json) {
    auto parsed = ParseJson(events_json, kMaxBatchBytes, 16);
    if (!parsed) return Fail(parsed.error());
    const json& events = parsed.value();
    if (!events.is_array()) return Fail(MakeError("invalid_batch", "events: expected an array"));
    json results = json::array();
    for (const auto& envelope : events) {
      TrackOutcome out = engine_->TrackJson(envelope);
      json r = {{"id", out.event_id}, {"status", TrackStatusName(out.status)}};
      if (out.status == TrackStatus::kRejected) {
        r["error"] = {{"code", out.error.code}, {"message", out.error.message}};
      } else {
        r["name"] = out.name;
        r["transitions"] = TransitionsJson(out.transitions);
        r["triggers"] = TriggersJson(out.triggers);
        r["send"] = out.send;
        if (out.outbound) r["outbound"] = std::move(*out.outbound);
      }
      r["stage"] = engine_->stage();
      results.push_back(std::move(r));
    }
    return Ok(std::move(results));
  }

  std::string advance(double now) {
    AdvanceOutcome out = engine_->Advance(ToTime(now));
    return Ok(json{{"transitions", TransitionsJson(out.transitions)},
                   {"triggers", TriggersJson(out.triggers)},
                   {"stage", engine_->stage()}});
  }

  std::string identify(const std::string& user_id, const std::string& traits_json) {
    json traits;
    if (!traits_json.empty()) {
      auto parsed = ParseJson(traits_json, 64 * 1024, 8);
      if (!parsed) return Fail(parsed.error());
      traits = parsed.value();
    }
    Status s = engine_->Identify(user_id, traits);
    if (!s) return Fail(s.error());
    return Ok(json{{"user_id", engine_->user_id()}});
  }

  std::string alias(const std::string& anonymous_id) {
    Status s = engine_->Alias(anonymous_id);
    if (!s) return Fail(s.error());
    return Ok(json(nullptr));
  }

  std::string state(double now) const { return Ok(engine_->StateJson(ToTime(now))); }

  std::string score(double now, const std::string& group) const {
    return Ok(json{{"score", engine_->Score(ToTime(now), group)}});
  }

  std::string decide(double now) const { return Ok(DecisionsJson(engine_->Decide(ToTime(now)))); }

  std::string attribute(const std::string& model, double at) const {
    auto m = ParseModel(model);
    if (!m) return Fail(m.error());
    json out = json::array();
    for (const auto& c : engine_->Attribute(m.value(), ToTime(at))) {
      out.push_back({{"channel", c.channel}, {"credit", c.credit}});
    }
    return Ok(std::move(out));
  }

  std::string snapshot() const { return engine_->Snapshot(); }

  std::string restore(const std::string& snapshot) {
    Status s = engine_->Restore(snapshot);
    if (!s) return Fail(s.error());
    return Ok(json{{"stage", engine_->stage()}});
  }

  /// Switches to another map: the touchpoint log is replayed under it. A bad map changes nothing.
  std::string setMap(const std::string& map_json) {
    auto map = ParseJourneyMap(map_json);
    if (!map) return Fail(map.error());
    std::vector<Event> log;
    for (const auto& tp : engine_->log()) log.push_back(tp.event);
    std::string anonymous_id = engine_->anonymous_id();
    std::string user_id = engine_->user_id();
    json traits = engine_->traits();
    auto next = std::make_unique<Engine>(Engine::Replay(map.value(), log, options_));
    if (!user_id.empty()) next->Identify(user_id, traits);
    if (!anonymous_id.empty()) next->SetAnonymousId(anonymous_id);
    engine_ = std::move(next);
    return Ok(json{{"stage", engine_->stage()}, {"version", engine_->map().version}});
  }

  void setLocalOnly(bool on) {
    options_.local_only = on;
    engine_->set_local_only(on);
  }

  std::string stage() const { return engine_->stage(); }

 private:
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  Error error_;
};

std::string ValidateMap(const std::string& map_json) {
  auto map = ParseJourneyMap(map_json);
  if (!map) return Fail(map.error());
  return Ok(json{{"id", map.value()->id}, {"version", map.value()->version}});
}

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

std::string BuildBatchesJson(const std::string& envelopes_json, double max_bytes, double sent_at,
                             const std::string& site_key) {
  auto parsed = ParseJson(envelopes_json, 16 * 1024 * 1024, 16);
  if (!parsed) return Fail(parsed.error());
  if (!parsed.value().is_array()) return Fail(MakeError("invalid_batch", "expected an array"));
  std::vector<std::string> envelopes;
  for (const auto& e : parsed.value()) envelopes.push_back(DumpJson(e));
  std::size_t cap = max_bytes >= 256 && max_bytes <= 16e6 ? static_cast<std::size_t>(max_bytes)
                                                          : kKeepaliveBudget;
  Batches b = BuildBatches(envelopes, cap, ToTime(sent_at), site_key);
  return Ok(json{{"bodies", b.bodies}, {"counts", b.counts}, {"oversize", b.oversize}});
}

std::string DefaultMap() { return std::string(DefaultMapJson()); }

/// Attribution over an explicit path [[channel, at], ...] (the shared vectors' attribute step).
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

/// Merges two visitors' logs (arrays of envelopes) as the collector does; the result is the
/// merged envelopes in order, to replay through a new engine.
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

}  // namespace waymark::wasm

EMSCRIPTEN_BINDINGS(waymark) {
  using waymark::wasm::WasmEngine;
  emscripten::class_<WasmEngine>("Engine")
      .constructor<const std::string&, bool>()
      .function("_mapError", &WasmEngine::mapError)
      .function("_track", &WasmEngine::track)
      .function("_advance", &WasmEngine::advance)
      .function("_identify", &WasmEngine::identify)
      .function("_alias", &WasmEngine::alias)
      .function("_state", &WasmEngine::state)
      .function("_score", &WasmEngine::score)
      .function("_decide", &WasmEngine::decide)
      .function("_attribute", &WasmEngine::attribute)
      .function("_snapshot", &WasmEngine::snapshot)
      .function("_restore", &WasmEngine::restore)
      .function("_setMap", &WasmEngine::setMap)
      .function("_setLocalOnly", &WasmEngine::setLocalOnly)
      .function("_stage", &WasmEngine::stage);
  emscripten::function("_validateMap", &waymark::wasm::ValidateMap);
  emscripten::function("_classifyChannel", &waymark::wasm::ClassifyChannelJson);
  emscripten::function("_buildBatches", &waymark::wasm::BuildBatchesJson);
  emscripten::function("_defaultMap", &waymark::wasm::DefaultMap);
  emscripten::function("_attributePath", &waymark::wasm::AttributePathJson);
  emscripten::function("_mergeLogs", &waymark::wasm::MergeLogsJson);
}
