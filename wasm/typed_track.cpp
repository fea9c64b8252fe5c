// The typed per-event boundary (wasm/typed_track.h): record decoding, outcome encoding.
#include "wasm/typed_track.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

namespace waymark::wasm {

namespace {

constexpr std::uint16_t kNoFilter = 0xFFFF;

// Reads the records; every read is bounds-checked and a short read sets `ok_` false for good, so
// a truncated or hostile buffer ends in an error, never a read past its end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  bool AtEnd() const { return pos_ == bytes_.size(); }

  std::uint32_t U8() { return Fixed<std::uint8_t>(); }
  std::uint32_t U16() { return Fixed<std::uint16_t>(); }
  std::uint32_t U32() { return Fixed<std::uint32_t>(); }
  double F64() { return Fixed<double>(); }

  std::string_view Str() {
    const std::uint32_t n = U32();
    if (!ok_ || n > bytes_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  template <typename T>
  T Fixed() {
    T v{};
    if (!ok_ || sizeof(T) > bytes_.size() - pos_) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));  // wasm and x86 are little-endian
    pos_ += sizeof(T);
    return v;
  }

  std::string_view bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void U8(std::uint32_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(std::uint32_t v) { Fixed(static_cast<std::uint16_t>(v)); }
  void F64(double v) { Fixed(v); }
  void Str(std::string_view s) {
    Fixed(static_cast<std::uint32_t>(s.size()));
    out_->append(s.data(), s.size());
  }

 private:
  template <typename T>
  void Fixed(T v) {
    char raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    out_->append(raw, sizeof(T));
  }
  std::string* out_;
};

// An integer time or counter from an f64: whole, non-negative, within int64 (else -1, which
// CheckEventFields refuses).
std::int64_t WholeNumber(double v) {
  if (!(v >= 0) || v > 9.0e15 || std::floor(v) != v) return -1;
  return static_cast<std::int64_t>(v);
}

// A JSON number as nlohmann's parser would hold it: whole values as integers, so comparisons
// and outputs match the collector's, which parsed the same envelope.
json NumberValue(double v) {
  if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 9.0e15) {
    return json(static_cast<std::int64_t>(v));
  }
  return json(v);
}

// Places `value` at the dotted `path` of `properties`, creating the objects on the way.
void PutDotted(json& properties, std::string_view path, json value) {
  json* cur = &properties;
  for (std::size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.')) {
    json& next = (*cur)[std::string(path.substr(0, dot))];
    if (!next.is_object()) next = json::object();
    cur = &next;
    path = path.substr(dot + 1);
  }
  (*cur)[std::string(path)] = std::move(value);
}

// One property value the map reads; false on a bad tag or a short buffer.
bool ReadValue(Reader& in, json* value) {
  switch (in.U8()) {
    case 0:
      *value = nullptr;
      return in.ok();
    case 1:
      *value = false;
      return in.ok();
    case 2:
      *value = true;
      return in.ok();
    case 3:
      *value = NumberValue(in.F64());
      return in.ok();
    case 4:
      *value = std::string(in.Str());
      return in.ok();
    case 5: {
      // An object or array the map compares whole (rare): parsed, with the event limits' depth.
      auto parsed = ParseJson(in.Str(), kMaxEventBytes, 8);
      if (!in.ok() || !parsed) return false;
      *value = std::move(parsed).value();
      return true;
    }
    default:
      return false;
  }
}

struct DecodedRecord {
  Event event;
  EnvelopeFacts facts;
};

// A typed record (kind 0). False when the buffer is malformed.
bool ReadTyped(Reader& in, const JourneyMap& map, DecodedRecord* rec) {
  Event& e = rec->event;
  e.id = in.Str();
  e.name = in.Str();
  e.type = in.Str();
  e.anonymous_id = in.Str();
  e.user_id = in.Str();
  e.time = WholeNumber(in.F64());
  e.sent_at = WholeNumber(in.F64());
  e.seq = WholeNumber(in.F64());
  e.context.url = in.Str();
  e.context.path = in.Str();
  e.context.title = in.Str();
  e.context.referrer = in.Str();
  e.context.channel = in.Str();
  e.context.automation = in.U8() != 0;
  for (std::uint32_t n = in.U8(); n > 0 && in.ok(); --n) {
    std::string key(in.Str());
    std::string value(in.Str());
    if (!value.empty()) e.context.campaign[std::move(key)] = std::move(value);
  }
  const double fingerprint = in.F64();
  e.fingerprint =
      fingerprint >= 1 && fingerprint < 9.1e15 ? static_cast<std::uint64_t>(fingerprint) : 0;
  rec->facts.bytes = in.U32();
  rec->facts.properties = in.U16();
  rec->facts.depth = static_cast<int>(in.U8());
  for (std::uint32_t n = in.U16(); n > 0 && in.ok(); --n) {
    const std::uint32_t index = in.U16();
    json value;
    if (!ReadValue(in, &value) || index >= map.property_reads.size()) return false;
    PutDotted(e.properties, map.property_reads[index], std::move(value));
  }
  return in.ok();
}

std::uint16_t FilterIndex(const JourneyMap& map, const SyncFilter* filter) {
  if (filter == nullptr) return kNoFilter;
  if (filter == &map.sync_default) return 0;
  std::uint16_t i = 1;
  for (const auto& entry : map.sync_stages) {
    if (&entry.second == filter) return i;
    ++i;
  }
  return kNoFilter;
}

void WriteOutcome(Writer& w, const JourneyMap& map, const TrackOutcome& out,
                  std::string_view given_name, bool user_dropped, std::string_view channel) {
  const bool rejected = out.status == TrackStatus::kRejected;
  const bool renamed = !rejected && out.name != given_name;
  const bool classified = !rejected && !channel.empty();
  w.U8(static_cast<std::uint32_t>(out.status));
  w.U8((out.send ? 1 : 0) | (renamed ? 2 : 0) | (classified ? 4 : 0) | (user_dropped ? 8 : 0));
  w.U16(out.send ? FilterIndex(map, out.filter) : kNoFilter);
  if (renamed) w.Str(out.name);
  if (classified) w.Str(channel);
  if (rejected) {
    w.Str(out.error.code);
    w.Str(out.error.message);
    return;
  }
  w.U16(out.transitions.size());
  for (const auto& t : out.transitions) {
    w.Str(t.from);
    w.Str(t.to);
    w.F64(static_cast<double>(t.at));
    w.Str(t.event_id);
    w.Str(t.rule);
    w.F64(static_cast<double>(t.map_version));
  }
  w.U16(out.triggers.size());
  for (const auto& t : out.triggers) {
    w.Str(t.trigger);
    w.Str(t.from);
    w.Str(t.to);
    w.F64(static_cast<double>(t.at));
    w.Str(t.event_id);
    w.Str(t.rule);
  }
}

TrackOutcome Rejected(Error error) {
  TrackOutcome out;
  out.status = TrackStatus::kRejected;
  out.error = std::move(error);
  return out;
}

// The channel the engine gave an accepted landing that came without one: what the envelope in
// JavaScript lacks (an accepted event is the last in the log).
std::string ClassifiedChannel(const Engine& engine, const TrackOutcome& outcome, bool had_channel) {
  if (had_channel || outcome.status != TrackStatus::kAccepted) return "";
  return engine.log().back().event.context.channel;
}

// Tracks one record and writes its outcome; false when the record is malformed.
bool TrackOne(Engine& engine, Reader& in, Writer& w) {
  const std::uint32_t kind = in.U8();
  if (!in.ok() || kind > 1) return false;
  if (kind == 1) {
    const std::string_view text = in.Str();
    if (!in.ok()) return false;
    // The limits the JSON boundary had (a batch's), so the core's own checks name the problem
    // (event_too_large, string_too_long), not the parser.
    auto parsed = ParseJson(text, 2 * 1024 * 1024, 16);
    TrackOutcome outcome = parsed ? engine.TrackJson(parsed.value()) : Rejected(parsed.error());
    std::string given;
    bool had_channel = false;
    if (parsed && parsed.value().is_object()) {
      if (const json* n = Member(parsed.value(), "name"); n != nullptr && n->is_string()) {
        given = n->get<std::string>();
      }
      const json* ctx = Member(parsed.value(), "context");
      had_channel = ctx != nullptr && ctx->is_object() && Member(*ctx, "channel") != nullptr;
    }
    WriteOutcome(w, engine.map(), outcome, given, false,
                 ClassifiedChannel(engine, outcome, had_channel));
    return true;
  }
  DecodedRecord rec;
  if (!ReadTyped(in, engine.map(), &rec)) return false;
  const std::string given = rec.event.name;
  const bool had_channel = !rec.event.context.channel.empty();
  const bool had_user = !rec.event.user_id.empty();
  TrackOutcome outcome = engine.TrackMeasured(std::move(rec.event), rec.facts);
  const bool user_dropped = had_user && outcome.status == TrackStatus::kAccepted &&
                            engine.log().back().event.user_id.empty();
  WriteOutcome(w, engine.map(), outcome, given, user_dropped,
               ClassifiedChannel(engine, outcome, had_channel));
  return true;
}

}  // namespace

Status TrackRecords(Engine& engine, std::string_view records, std::string* out) {
  Reader in(records);
  Writer w(out);
  out->clear();
  w.Str(engine.stage());
  const std::uint32_t count = in.U32();
  if (!in.ok()) return MakeError("invalid_batch", "records: no event count");
  for (std::uint32_t i = 0; i < count; ++i) {
    if (!TrackOne(engine, in, w)) {
      return MakeError("invalid_batch",
                       "records: event " + std::to_string(i) + " is truncated or malformed");
    }
  }
  if (!in.AtEnd()) return MakeError("invalid_batch", "records: bytes after the last event");
  return {};
}

std::string MapInfoJson(const JourneyMap& map) {
  auto filter_json = [](const SyncFilter& f) {
    return f.all_properties ? json(nullptr) : json(f.properties);
  };
  json filters = json::array({filter_json(map.sync_default)});
  for (const auto& entry : map.sync_stages) filters.push_back(filter_json(entry.second));
  json names = json::array();
  for (const auto& [name, def] : map.events) {
    names.push_back(name);
    for (const auto& alias : def.aliases) names.push_back(alias);
  }
  return DumpJson(json{{"id", map.id},
                       {"version", map.version},
                       {"names", std::move(names)},
                       {"reads", map.property_reads},
                       {"filters", std::move(filters)}});
}

}  // namespace waymark::wasm
