// Condition evaluation against the engine's state. Every condition type is documented in
// docs/journey-map.md ("Conditions").
#include <algorithm>
#include <string>

#include "engine_internal.h"

namespace waymark {

namespace {

bool NameListed(const Condition& c, const std::string& name) {
  return c.any_event || std::find(c.names.begin(), c.names.end(), name) != c.names.end();
}

bool Compare(const json* value, CompareOp op, const json& operand) {
  switch (op) {
    case CompareOp::kExists:
      return (value != nullptr && !value->is_null()) == operand.get<bool>();
    case CompareOp::kEquals:
      return value != nullptr && *value == operand;
    case CompareOp::kNotEquals:
      return value == nullptr || *value != operand;
    case CompareOp::kIn:
      if (value == nullptr) return false;
      for (const auto& item : operand) {
        if (*value == item) return true;
      }
      return false;
    case CompareOp::kGt:
    case CompareOp::kGte:
    case CompareOp::kLt:
    case CompareOp::kLte: {
      if (value == nullptr || !value->is_number()) return false;
      double a = value->get<double>();
      double b = operand.get<double>();
      if (op == CompareOp::kGt) return a > b;
      if (op == CompareOp::kGte) return a >= b;
      if (op == CompareOp::kLt) return a < b;
      return a <= b;
    }
    case CompareOp::kContains: {
      if (value == nullptr) return false;
      const auto& needle = operand.get_ref<const std::string&>();
      if (value->is_string()) {
        return value->get_ref<const std::string&>().find(needle) != std::string::npos;
      }
      if (value->is_array()) {
        for (const auto& item : *value) {
          if (item.is_string() && item.get_ref<const std::string&>() == needle) return true;
        }
      }
      return false;
    }
    case CompareOp::kPrefix: {
      if (value == nullptr || !value->is_string()) return false;
      const auto& s = value->get_ref<const std::string&>();
      const auto& p = operand.get_ref<const std::string&>();
      return s.compare(0, p.size(), p) == 0 && s.size() >= p.size();
    }
  }
  return false;
}

const std::string* EnvelopeString(const Event& e, const std::string& path) {
  if (path == "context.channel") return &e.context.channel;
  if (path == "context.path") return &e.context.path;
  if (path == "context.url") return &e.context.url;
  if (path == "context.referrer") return &e.context.referrer;
  if (path == "context.title") return &e.context.title;
  if (path == "name") return &e.name;
  if (path == "type") return &e.type;
  if (path == "user_id") return &e.user_id;
  return nullptr;
}

const json* TraitField(const json& traits, const std::string& path) {
  return DottedMember(traits, std::string_view(path).substr(7));  // after "traits."
}

}  // namespace

bool Engine::CountMatches(const Condition& c, const ConditionScope& scope) const {
  std::int64_t n = 0;
  // The log is in time order, so the scan stops at the window's start.
  for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
    if (it->at > scope.now) continue;
    if (c.within > 0 && scope.now - it->at >= c.within) break;
    if (!NameListed(c, it->event.name)) continue;
    if (!c.children.empty() && !Evaluate(c.children[0], ConditionScope{&*it, it->at})) continue;
    ++n;
    if (c.at_most < 0 && n >= c.at_least) return true;  // nothing more to learn
  }
  return n >= c.at_least && (c.at_most < 0 || n <= c.at_most);
}

bool Engine::Evaluate(const Condition& c, const ConditionScope& scope) const {
  switch (c.kind) {
    case ConditionKind::kAlways:
      return true;
    case ConditionKind::kEvent:
      return scope.tp != nullptr && NameListed(c, scope.tp->event.name);
    case ConditionKind::kField: {
      if (c.field.compare(0, 7, "traits.") == 0) {
        return Compare(TraitField(traits_, c.field), c.op, c.operand);
      }
      if (scope.tp == nullptr) return false;
      // Envelope string fields compared to a string need no JSON value: the common case
      // (context.channel equals "Email") stays allocation-free.
      if (c.op == CompareOp::kEquals && c.operand.is_string()) {
        if (const std::string* s = EnvelopeString(scope.tp->event, c.field)) {
          return !s->empty() && *s == c.operand.get_ref<const std::string&>();
        }
      }
      json scratch;
      return Compare(EventField(scope.tp->event, c.field, &scratch), c.op, c.operand);
    }
    case ConditionKind::kCount:
      return CountMatches(c, scope);
    case ConditionKind::kScore: {
      json value = Score(scope.now, c.field);
      return Compare(&value, c.op, c.operand);
    }
    case ConditionKind::kInactiveFor:
      return last_activity_ >= 0 && scope.now - last_activity_ >= c.duration;
    case ConditionKind::kStage:
      return std::find(c.names.begin(), c.names.end(), stage_) != c.names.end();
    case ConditionKind::kAll:
      for (const auto& child : c.children) {
        if (!Evaluate(child, scope)) return false;
      }
      return true;
    case ConditionKind::kAny:
      for (const auto& child : c.children) {
        if (Evaluate(child, scope)) return true;
      }
      return false;
    case ConditionKind::kNot:
      return !c.children.empty() && !Evaluate(c.children[0], scope);
  }
  return false;
}

}  // namespace waymark
