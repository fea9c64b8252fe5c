// The stage machine: event intake, noise control, transitions, triggers, outbound filtering.
#include "waymark/engine.h"

#include <algorithm>
#include <string_view>

#include "engine_internal.h"
#include "waymark/channels.h"
#include "waymark/identity.h"

namespace waymark {

namespace {

// The query of a URL ("?a=1", without the fragment), or "" when it has none.
std::string_view QueryOf(std::string_view url) {
  const std::size_t q = url.find('?');
  if (q == std::string_view::npos) return {};
  const std::size_t hash = url.find('#', q);
  return url.substr(q, hash == std::string_view::npos ? std::string_view::npos : hash - q);
}

}  // namespace

const char* TrackStatusName(TrackStatus status) {
  switch (status) {
    case TrackStatus::kAccepted:
      return "accepted";
    case TrackStatus::kFolded:
      return "folded";
    case TrackStatus::kThrottled:
      return "throttled";
    case TrackStatus::kRejected:
      return "rejected";
  }
  return "rejected";
}

Engine::Engine(std::shared_ptr<const JourneyMap> map, EngineOptions options)
    : map_(std::move(map)), options_(options) {
  stage_ = map_->initial;
  stage_index_ = map_->StageIndex(stage_);
  rule_scores_.resize(map_->scoring.rules.size());
}

void Engine::Reset() {
  Engine fresh(map_, options_);
  *this = std::move(fresh);
}

bool Engine::AllowedFrom(const Transition& t) const {
  if (!t.from.empty()) return stage_index_ >= 0 && ((t.from_mask >> stage_index_) & 1) != 0;
  // A wildcard edge never demotes and never loops: demotion needs an edge that names the stage.
  const std::string& target = t.to == "$previous" ? previous_stage_ : t.to;
  if (target.empty() || target == stage_) return false;
  const Stage* cur = map_->FindStage(stage_);
  const Stage* dst = map_->FindStage(target);
  return cur != nullptr && dst != nullptr && dst->rank >= cur->rank;
}

void Engine::Enter(const std::string& to, const Transition& rule, TimeMs at,
                   const std::string& event_id, std::vector<TransitionRecord>* records,
                   std::vector<FiredTrigger>* triggers) {
  TransitionRecord rec{stage_, to, at, event_id, rule.id, map_->version};
  StageTime& old_time = stage_times_[stage_];
  if (old_time.last_entered >= 0) old_time.total += at - old_time.last_entered;
  old_time.last_exited = at;
  if (to != stage_) previous_stage_ = stage_;  // a self-loop keeps the real previous stage
  stage_ = to;
  stage_index_ = map_->StageIndex(to);
  stage_entered_ = at;
  StageTime& new_time = stage_times_[to];
  new_time.visits += 1;
  new_time.last_entered = at;
  if (new_time.first_entered < 0) new_time.first_entered = at;
  transitions_.push_back(rec);
  while (transitions_.size() > options_.transition_cap) transitions_.pop_front();
  FireTriggers(rec, triggers);
  records->push_back(std::move(rec));
}

void Engine::FireTriggers(const TransitionRecord& rec, std::vector<FiredTrigger>* out) const {
  auto listed = [](const std::vector<std::string>& list, const std::string& v) {
    return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
  };
  for (const auto& t : map_->triggers) {
    if (!t.events.empty()) continue;
    if (!listed(t.from, rec.from) || !listed(t.to, rec.to)) continue;
    if (!t.rule.empty() && t.rule != rec.rule) continue;
    if (t.when && !Evaluate(*t.when, ConditionScope{nullptr, rec.at})) continue;
    out->push_back(FiredTrigger{t.id, rec.from, rec.to, rec.at, rec.event_id, rec.rule});
  }
}

void Engine::FireEventTriggers(const Touchpoint& tp, std::vector<FiredTrigger>* out) const {
  for (const auto& t : map_->triggers) {
    if (t.events.empty()) continue;
    if (std::find(t.events.begin(), t.events.end(), tp.event.name) == t.events.end()) continue;
    if (t.when && !Evaluate(*t.when, ConditionScope{&tp, tp.at})) continue;
    out->push_back(FiredTrigger{t.id, "", "", tp.at, tp.event.id, ""});
  }
}

bool Engine::Throttled(const Event& e, TimeMs at) const {
  for (const auto& t : map_->noise.throttles) {
    if (t.event != e.name) continue;
    std::int64_t seen = 0;
    for (auto it = log_.rbegin(); it != log_.rend() && at - it->at < t.per; ++it) {
      if (it->event.name == e.name) ++seen;
    }
    if (seen >= t.limit) return true;
  }
  return false;
}

const SyncFilter* Engine::SendFilter(const Event& e) const {
  if (options_.local_only) return nullptr;
  auto it = map_->sync_stages.find(stage_);
  const SyncFilter& f = it != map_->sync_stages.end() ? it->second : map_->sync_default;
  if (!f.all_events && f.events.count(e.name) == 0) return nullptr;
  return &f;
}

json Engine::Outbound(const Event& e, const SyncFilter& f) const {
  json out = EventToJson(e);
  if (!f.all_properties) {
    auto props = out.find("properties");
    if (props != out.end()) {
      json kept = json::object();
      for (auto p = props->begin(); p != props->end(); ++p) {
        if (f.properties.count(p.key()) != 0) kept[p.key()] = p.value();
      }
      if (kept.empty()) {
        out.erase("properties");
      } else {
        *props = std::move(kept);
      }
    }
  }
  return out;
}

json TransitionToJson(const TransitionRecord& r) {
  return {{"from", r.from},         {"to", r.to},     {"at", r.at},
          {"event_id", r.event_id}, {"rule", r.rule}, {"map_version", r.map_version}};
}

std::optional<json> Engine::SyncedEnvelope(const Event& event) const {
  const SyncFilter* filter = SendFilter(event);
  if (filter == nullptr) return std::nullopt;
  return Outbound(event, *filter);
}

TimeMs Engine::NextTimedDue(TimeMs after) const {
  if (last_activity_ < 0) return -1;
  TimeMs next = -1;
  for (const auto& t : map_->transitions) {
    if (!t.timed || !AllowedFrom(t)) continue;
    const std::string& target = t.to == "$previous" ? previous_stage_ : t.to;
    if (target.empty() || target == stage_) continue;
    const TimeMs due = std::max(last_activity_ + t.longest_inactivity, stage_entered_);
    if (due <= after) continue;
    if (next < 0 || due < next) next = due;
  }
  return next;
}

AdvanceOutcome Engine::Advance(TimeMs now) {
  AdvanceOutcome out;
  if (last_activity_ < 0) return out;
  // Each pass may move the visitor on (dormant after 30 d, churned after 90 d, ...); a timed
  // transition never targets the current stage, and the pass count is bounded regardless.
  for (int pass = 0; pass < 16; ++pass) {
    const Transition* chosen = nullptr;
    TimeMs chosen_at = 0;
    for (std::size_t idx : internal::SortedTransitions(*map_)) {
      const Transition& t = map_->transitions[idx];
      if (!t.timed || !AllowedFrom(t)) continue;
      const std::string& target = t.to == "$previous" ? previous_stage_ : t.to;
      if (target.empty() || target == stage_) continue;
      TimeMs due = std::max(last_activity_ + t.longest_inactivity, stage_entered_);
      if (due > now) continue;
      if (!Evaluate(t.when, ConditionScope{nullptr, due})) continue;
      chosen = &t;
      chosen_at = due;
      break;
    }
    if (chosen == nullptr) break;
    const std::string target = chosen->to == "$previous" ? previous_stage_ : chosen->to;
    Enter(target, *chosen, chosen_at, "", &out.transitions, &out.triggers);
  }
  return out;
}

TrackOutcome Engine::TrackJson(const json& envelope) {
  auto parsed = EventFromJson(envelope, options_.limits);
  if (!parsed) {
    TrackOutcome out;
    out.status = TrackStatus::kRejected;
    out.error = parsed.error();
    if (const json* id = Member(envelope, "id"); id != nullptr && id->is_string()) {
      out.event_id = id->get<std::string>().substr(0, 64);
    }
    ++counters_.rejected;
    return out;
  }
  return Track(std::move(parsed).value());
}

TrackOutcome Engine::TrackMeasured(Event event, const EnvelopeFacts& facts) {
  Status valid = CheckEventFields(event, options_.limits);
  if (valid) valid = CheckEnvelopeFacts(facts, options_.limits);
  if (valid) return Track(std::move(event));
  TrackOutcome out;
  out.status = TrackStatus::kRejected;
  out.error = valid.error();
  out.event_id = event.id.substr(0, 64);
  ++counters_.rejected;
  return out;
}

TrackOutcome Engine::Track(Event event) {
  TrackOutcome out;
  out.event_id = event.id;
  auto reject = [&](Error err) {
    out.status = TrackStatus::kRejected;
    out.error = std::move(err);
    ++counters_.rejected;
    return out;
  };
  if (event.id.empty()) return reject(MakeError("invalid_event", "id: required"));
  if (event.time < 0) return reject(MakeError("invalid_event", "time: must not be negative"));
  if (Status named = map_->Canonicalize(&event.name); !named) return reject(named.error());
  out.name = event.name;
  if (!event.user_id.empty()) {
    if (IsBlockedId(event.user_id, map_->blocked_ids)) {
      event.user_id.clear();  // a placeholder is no identity; the event itself is still good
    } else if (!user_id_.empty() && user_id_ != event.user_id) {
      return reject(
          MakeError("identity_conflict", "user_id: the journey belongs to another known user"));
    }
  }
  // An identify() call's traits ride on its event: merged here, before this event's conditions,
  // as the browser merged them in Identify (a repeat merge changes nothing).
  if (!event.traits.is_null()) {
    if (Status merged = MergeTraits(event.traits); !merged) return reject(merged.error());
  }
  if (!event.user_id.empty() && user_id_.empty()) user_id_ = event.user_id;
  if (anonymous_id_.empty()) anonymous_id_ = event.anonymous_id;
  // A landing that carries a campaign or an external referrer is a touch: classify it here so
  // the browser and the collector derive the same channel. Internal navigation is no touch; the
  // SDK marks direct session starts itself with channel "Direct". A sender that is not trusted
  // (the collector's view of a browser) keeps only that "Direct" on an event that is no landing:
  // any other claim is replaced by what the context itself classifies to, so a page holding a
  // site key cannot steer attribution.
  // A trusted claim is kept without classifying anything (the browser's own events, replays).
  const bool claimed = !event.context.channel.empty();
  if (!claimed || !options_.trust_channel) {
    if (!event.context.campaign.empty() || !event.context.referrer.empty()) {
      std::string landing =
          LandingChannel(event.context.campaign, event.context.referrer, event.context.url);
      if (!claimed || !landing.empty() || event.context.channel != "Direct") {
        event.context.channel = std::move(landing);
      }
    } else if (claimed && event.context.channel != "Direct") {
      event.context.channel.clear();  // an untrusted claim on an event that is no landing
    }
  }

  // The engine's clock never runs backwards: a late event is placed at the last activity time.
  const TimeMs at = last_activity_ >= 0 ? std::max(event.time, last_activity_) : event.time;
  if (stage_entered_ < 0) {
    stage_entered_ = at;
    StageTime& st = stage_times_[stage_];
    st.first_entered = st.last_entered = at;
    st.visits = 1;
  }
  AdvanceOutcome timed = Advance(at);
  out.transitions = std::move(timed.transitions);
  out.triggers = std::move(timed.triggers);

  // Noise control: fold identical repeats, then per-name throttles. A repeat is the same name and
  // properties on the same page (path *and* query) as the latest logged event of that name within
  // the fold window: a single-page app's views of /list?page=1, ?page=2 and back to ?page=1 are
  // three views, not one (the SDK's own deduplication tells them apart the same way).
  for (auto it = log_.rbegin(); it != log_.rend() && at - it->at < map_->noise.fold_window; ++it) {
    if (it->event.name != event.name) continue;
    if (it->event.context.path != event.context.path ||
        QueryOf(it->event.context.url) != QueryOf(event.context.url) ||
        !SameProperties(it->event, event)) {
      break;  // something else of that name came in between: not a repeat
    }
    ++it->folded;
    ++counters_.folded;
    last_activity_ = at;
    out.status = TrackStatus::kFolded;
    return out;
  }
  if (Throttled(event, at)) {
    ++counters_.throttled;
    last_activity_ = at;
    out.status = TrackStatus::kThrottled;
    return out;
  }

  log_.emplace_back(std::move(event), at);
  while (log_.size() > map_->noise.log_cap) {
    log_.pop_front();
    ++counters_.evicted;
  }
  const Touchpoint& tp = log_.back();
  ++counters_.accepted;
  ApplyScoring(tp);
  last_activity_ = at;

  ConditionScope scope{&tp, at};
  for (std::size_t idx : internal::SortedTransitions(*map_)) {
    const Transition& t = map_->transitions[idx];
    if (t.timed || !AllowedFrom(t)) continue;
    std::string target = t.to == "$previous" ? previous_stage_ : t.to;
    if (target.empty()) continue;
    if (!Evaluate(t.when, scope)) continue;
    Enter(target, t, at, tp.event.id, &out.transitions, &out.triggers);
    break;  // one transition per event: predictable, and the map author controls skips
  }
  FireEventTriggers(tp, &out.triggers);
  if (const SyncFilter* filter = SendFilter(tp.event)) {
    out.send = true;
    out.filter = filter;
    if (options_.build_outbound) out.outbound = Outbound(tp.event, *filter);
  }
  return out;
}

Status Engine::Identify(const std::string& user_id, const json& traits) {
  if (IsBlockedId(user_id, map_->blocked_ids)) {
    return MakeError("invalid_user_id", "user_id: \"" + user_id.substr(0, 64) +
                                            "\" is a placeholder, not an identity");
  }
  if (user_id.size() > options_.limits.max_id_length) {
    return MakeError(
        "invalid_user_id",
        "user_id: longer than " + std::to_string(options_.limits.max_id_length) + " bytes");
  }
  if (!user_id_.empty() && user_id_ != user_id) {
    return MakeError("identity_conflict", "already identified as another user; reset first");
  }
  if (Status merged = MergeTraits(traits); !merged) return merged;
  user_id_ = user_id;
  return {};
}

Status Engine::MergeTraits(const json& traits) {
  if (Status valid = CheckTraits(traits, options_.limits); !valid) return valid;
  if (!traits.is_object()) return {};
  // Check the merged size first: a refused call changes nothing.
  std::size_t added = 0;
  for (auto it = traits.begin(); it != traits.end(); ++it) {
    if (!traits_.contains(it.key())) ++added;
  }
  if (traits_.size() + added > options_.limits.max_properties * 2) {
    return MakeError("invalid_traits", "traits: more than " +
                                           std::to_string(options_.limits.max_properties * 2) +
                                           " keys in total");
  }
  for (auto it = traits.begin(); it != traits.end(); ++it) traits_[it.key()] = it.value();
  return {};
}

Status Engine::Alias(const std::string& anonymous_id) {
  if (IsBlockedId(anonymous_id, map_->blocked_ids) || anonymous_id.size() > 64) {
    return MakeError("invalid_anonymous_id", "anonymous_id: not a usable id");
  }
  if (anonymous_id == anonymous_id_) return {};
  if (std::find(aliases_.begin(), aliases_.end(), anonymous_id) == aliases_.end()) {
    if (aliases_.size() >= 64) return MakeError("too_many_aliases", "at most 64 aliases");
    aliases_.push_back(anonymous_id);
  }
  return {};
}

std::vector<Decision> Engine::Decide(TimeMs now) const {
  std::vector<Decision> out;
  ConditionScope scope{nullptr, now};
  for (const auto& slot : map_->slots) {
    Decision d;
    d.slot = slot.id;
    const Variant* chosen = nullptr;
    for (const auto& v : slot.variants) {
      if (Evaluate(v.when, scope)) {
        chosen = &v;
        break;
      }
    }
    if (chosen == nullptr && slot.fallback) {
      chosen = &*slot.fallback;
      d.is_default = true;
    }
    if (chosen != nullptr) {
      d.variant = chosen->id;
      d.content = chosen->content;
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::map<std::string, StageTime> Engine::StageTimes(TimeMs now) const {
  auto out = stage_times_;
  auto it = out.find(stage_);
  if (it != out.end() && it->second.last_entered >= 0 && now > it->second.last_entered) {
    it->second.total += now - it->second.last_entered;
  }
  return out;
}

std::vector<Touch> Engine::ChannelPath() const {
  std::vector<Touch> path;
  for (const auto& tp : log_) {
    const EventContext& context = tp.event.context;
    if (context.channel.empty()) continue;
    auto campaign = context.campaign.find("utm_campaign");
    path.push_back(Touch{context.channel, tp.at, TouchSource(context.campaign, context.referrer),
                         campaign == context.campaign.end() ? std::string() : campaign->second});
  }
  return path;
}

namespace {
AttributionOptions OptionsOf(const JourneyMap& map) {
  AttributionOptions opts;
  opts.lookback = map.attribution.lookback;
  opts.half_life = map.attribution.half_life;
  opts.first_weight = map.attribution.first_weight;
  opts.last_weight = map.attribution.last_weight;
  return opts;
}
}  // namespace

std::vector<Credit> Engine::Attribute(AttributionModel model, TimeMs at) const {
  return waymark::Attribute(ChannelPath(), at, model, OptionsOf(*map_));
}

std::vector<TouchCredit> Engine::AttributeTouches(AttributionModel model, TimeMs at) const {
  return waymark::AttributeTouches(ChannelPath(), at, model, OptionsOf(*map_));
}

Engine Engine::Replay(std::shared_ptr<const JourneyMap> map, const std::vector<Event>& events,
                      EngineOptions options) {
  Engine engine(std::move(map), options);
  for (const auto& e : events) engine.Track(e);
  return engine;
}

Engine Engine::SwitchedTo(std::shared_ptr<const JourneyMap> map) const {
  std::vector<Event> events;
  events.reserve(log_.size());
  for (const auto& tp : log_) events.push_back(tp.event);
  Engine next = Replay(std::move(map), events, options_);
  if (!user_id_.empty()) next.Identify(user_id_, traits_);
  if (!anonymous_id_.empty()) next.SetAnonymousId(anonymous_id_);
  for (const auto& alias : aliases_) next.Alias(alias);
  return next;
}

json Engine::StateJson(TimeMs now) const {
  json out = json::object();
  out["map"] = {{"id", map_->id}, {"version", map_->version}};
  out["anonymous_id"] = anonymous_id_;
  out["user_id"] = user_id_.empty() ? json(nullptr) : json(user_id_);
  out["traits"] = traits_;
  out["stage"] = stage_;
  const Stage* st = map_->FindStage(stage_);
  out["stage_name"] = st != nullptr ? st->name : stage_;
  out["stage_entered_at"] = stage_entered_ >= 0 ? json(stage_entered_) : json(nullptr);
  out["time_in_stage"] = stage_entered_ >= 0 && now > stage_entered_ ? now - stage_entered_ : 0;
  out["score"] = Score(now);
  json breakdown = json::array();
  for (const auto& item : ScoreBreakdown(now)) {
    breakdown.push_back({{"rule", item.rule}, {"group", item.group}, {"points", item.points}});
  }
  out["score_breakdown"] = std::move(breakdown);
  json times = json::object();
  for (const auto& [id, t] : StageTimes(now)) {
    times[id] = {{"total", t.total}, {"visits", t.visits}, {"first_entered", t.first_entered}};
  }
  out["stage_times"] = std::move(times);
  json trs = json::array();
  for (const auto& r : transitions_) trs.push_back(TransitionToJson(r));
  out["transitions"] = std::move(trs);
  out["counters"] = {{"accepted", counters_.accepted},
                     {"folded", counters_.folded},
                     {"throttled", counters_.throttled},
                     {"rejected", counters_.rejected},
                     {"evicted", counters_.evicted}};
  out["log_size"] = log_.size();
  out["last_activity"] = last_activity_ >= 0 ? json(last_activity_) : json(nullptr);
  out["local_only"] = options_.local_only;
  return out;
}

}  // namespace waymark
