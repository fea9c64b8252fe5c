// The production adapter (wasm/adapter.h): the engine and the map calls the SDK makes.
#include "wasm/adapter.h"

#include <utility>
#include <vector>

#include "wasm/typed_track.h"
#include "waymark/compiled_map.h"
#include "waymark/default_map.h"

namespace waymark::wasm {

namespace {

constexpr std::size_t kMaxBatchBytes = 2 * 1024 * 1024;

json TransitionsJson(const std::vector<TransitionRecord>& records) {
  json out = json::array();
  for (const auto& r : records) out.push_back(TransitionToJson(r));
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

std::string Ok(json value) {
  json out = {{"ok", true}, {"value", std::move(value)}};
  return DumpJson(out);
}

std::string Fail(const Error& error) {
  return DumpJson(
      json{{"ok", false}, {"error", {{"code", error.code}, {"message", error.message}}}});
}

TimeMs ToTime(double ms) {
  if (!(ms >= 0) || ms > 9.0e15) return 0;
  return static_cast<TimeMs>(ms);
}

WasmEngine::WasmEngine(bool local_only) {
  options_.local_only = local_only;
  options_.build_outbound = false;  // the envelope is in JavaScript, which filters it
  // The embedded default map loads by construction (tests/core/compiled_map_test.cpp).
  engine_ = std::make_unique<Engine>(LoadCompiledMap(DefaultMapCompiled()).value(), options_);
}

std::uintptr_t WasmEngine::inputBuffer(std::size_t size) {
  if (size > kMaxBatchBytes) return 0;  // JS splits the batch (js/src/engine.js)
  input_.resize(size);
  return reinterpret_cast<std::uintptr_t>(input_.data());
}

double WasmEngine::trackRecords(std::size_t length) {
  const std::string_view records = std::string_view(input_).substr(0, length);
  if (Status s = TrackRecords(*engine_, records, &output_); !s) {
    output_ = Fail(s.error());
    return -static_cast<double>(output_.size());
  }
  return static_cast<double>(output_.size());
}

std::uintptr_t WasmEngine::output() const {
  return reinterpret_cast<std::uintptr_t>(output_.data());
}

std::string WasmEngine::mapInfo() const { return MapInfoJson(engine_->map()); }

std::string WasmEngine::trackJson(const std::string& events_json) {
  auto parsed = ParseJson(events_json, kMaxBatchBytes, 16);
  if (!parsed) return Fail(parsed.error());
  const json& events = parsed.value();
  if (!events.is_array()) return Fail(MakeError("invalid_batch", "events: expected an array"));
  engine_->set_build_outbound(true);
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
  engine_->set_build_outbound(false);
  return Ok(std::move(results));
}

std::string WasmEngine::advance(double now) {
  AdvanceOutcome out = engine_->Advance(ToTime(now));
  return Ok(json{{"transitions", TransitionsJson(out.transitions)},
                 {"triggers", TriggersJson(out.triggers)},
                 {"stage", engine_->stage()}});
}

std::string WasmEngine::identify(const std::string& user_id, const std::string& traits_json) {
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

std::string WasmEngine::state(double now) const { return Ok(engine_->StateJson(ToTime(now))); }

std::string WasmEngine::score(double now, const std::string& group) const {
  return Ok(json{{"score", engine_->Score(ToTime(now), group)}});
}

std::string WasmEngine::decide(double now) const {
  return Ok(DecisionsJson(engine_->Decide(ToTime(now))));
}

std::string WasmEngine::snapshot() const { return engine_->Snapshot(); }

std::string WasmEngine::restore(const std::string& snapshot) {
  Status s = engine_->Restore(snapshot);
  if (!s) return Fail(s.error());
  return Ok(json{{"stage", engine_->stage()}});
}

std::string WasmEngine::loadMap(std::size_t length) {
  auto map = LoadCompiledMap(std::string_view(input_).substr(0, length));
  if (!map) return Fail(map.error());
  engine_ = std::make_unique<Engine>(engine_->SwitchedTo(map.value()));
  return Ok(json{{"stage", engine_->stage()}, {"version", engine_->map().version}});
}

void WasmEngine::setLocalOnly(bool on) {
  options_.local_only = on;
  engine_->set_local_only(on);
}

std::string WasmEngine::stage() const { return engine_->stage(); }

}  // namespace waymark::wasm
