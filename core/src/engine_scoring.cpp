// Scoring: points per rule, once or repeatable, capped per group and in total, decaying with a
// half-life. All rule values are kept decayed to one common time (score_ref_): exponential decay
// composes by multiplication, so moving that time forward costs one pow() and a multiply per
// rule, caps become plain sums, and a read costs one pow() whatever the number of rules. The power
// is waymark::Exp2 (det_math.h), not the platform's pow(): native and wasm get the same bits.
#include "engine_internal.h"
#include "waymark/det_math.h"

namespace waymark {

double Engine::DecayFactor(TimeMs now) const {
  const TimeMs half_life = map_->scoring.half_life;
  if (half_life <= 0 || now <= score_ref_) return 1.0;  // reads in the past never grow a score
  return Exp2(-static_cast<double>(now - score_ref_) / static_cast<double>(half_life));
}

double Engine::Score(TimeMs now, const std::string& group) const {
  double total = 0;
  const auto& rules = map_->scoring.rules;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (!rule_scores_[i].awarded || (!group.empty() && rules[i].group != group)) continue;
    total += rule_scores_[i].value;
  }
  return total * DecayFactor(now);
}

std::vector<ScoreBreakdownItem> Engine::ScoreBreakdown(TimeMs now) const {
  std::vector<ScoreBreakdownItem> out;
  const auto& rules = map_->scoring.rules;
  const double factor = DecayFactor(now);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (!rule_scores_[i].awarded) continue;
    out.push_back(ScoreBreakdownItem{rules[i].id, rules[i].group, rule_scores_[i].value * factor});
  }
  return out;
}

void Engine::MoveScoreTo(TimeMs at) {
  if (at <= score_ref_) return;
  const double factor = DecayFactor(at);
  if (factor != 1.0) {
    for (auto& rs : rule_scores_) rs.value *= factor;
  }
  score_ref_ = at;
}

void Engine::ApplyScoring(const Touchpoint& tp) {
  const Scoring& scoring = map_->scoring;
  ConditionScope scope{&tp, tp.at};
  for (std::size_t i = 0; i < scoring.rules.size(); ++i) {
    const ScoringRule& rule = scoring.rules[i];
    if (rule.once && rule_scores_[i].once_fired) continue;
    if (!Evaluate(rule.when, scope)) continue;
    MoveScoreTo(tp.at);
    double points = rule.points;
    // Caps bound the score as it stands (decayed) when the points arrive.
    double group_cap = 0;
    if (points > 0 && !rule.group.empty()) {
      auto cap = scoring.group_caps.find(rule.group);
      if (cap != scoring.group_caps.end()) group_cap = cap->second;
    }
    if (points > 0 && (group_cap > 0 || scoring.cap > 0)) {
      double group_score = 0;
      double total_score = 0;
      for (std::size_t k = 0; k < scoring.rules.size(); ++k) {
        if (!rule_scores_[k].awarded) continue;
        total_score += rule_scores_[k].value;
        if (scoring.rules[k].group == rule.group) group_score += rule_scores_[k].value;
      }
      if (group_cap > 0) points = std::min(points, group_cap - group_score);
      if (scoring.cap > 0) points = std::min(points, scoring.cap - total_score);
    }
    if (rule.points > 0 && points < 0) points = 0;
    RuleScore& rs = rule_scores_[i];
    rs.value += points;
    rs.awarded = true;
    if (rule.once) rs.once_fired = true;
  }
}

}  // namespace waymark
