#include "waymark/journey_map.h"

#include <gtest/gtest.h>

#include <string>

#include "test_util.h"
#include "waymark/default_map.h"

namespace waymark {
namespace {

json Minimal() {
  return json::parse(R"({
    "id": "m", "version": 1,
    "stages": [ {"id": "a", "rank": 0}, {"id": "b", "rank": 1} ],
    "transitions": [ {"id": "t", "from": "a", "to": "b", "when": {"event": "x_done"}} ]
  })");
}

std::string ErrorOf(const json& doc) {
  auto r = ParseJourneyMap(doc.dump());
  return r.ok() ? std::string("(accepted)") : r.error().message;
}

TEST(JourneyMap, DefaultMapParses) {
  auto map = ParseJourneyMap(DefaultMapJson());
  ASSERT_TRUE(map.ok()) << map.error().message;
  const auto& m = *map.value();
  EXPECT_EQ(m.id, "default");
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.initial, "awareness");
  for (const char* s : {"awareness", "engaged", "lead", "qualified", "trial", "customer",
                        "retained", "advocate", "dormant", "churned"}) {
    EXPECT_NE(m.FindStage(s), nullptr) << s;
  }
  EXPECT_EQ(m.FindStage("customer")->phase, Phase::kAfter);
  EXPECT_EQ(m.CanonicalEventName("generate_lead").value(), "lead_submitted");
  EXPECT_EQ(m.CanonicalEventName("Trial Started").value(), "trial_started");
  EXPECT_EQ(m.CanonicalEventName("purchase").value(), "order_completed");
  EXPECT_EQ(m.CanonicalEventName("custom_thing").value(), "custom_thing");
  EXPECT_EQ(m.CanonicalEventName("Custom Thing").error().code, "invalid_event_name");
  EXPECT_EQ(m.attribution.conversions, std::vector<std::string>{"customer"});
  bool has_timed = false;
  for (const auto& t : m.transitions) has_timed = has_timed || t.timed;
  EXPECT_TRUE(has_timed);
}

TEST(JourneyMap, MinimalMapParses) {
  auto r = ParseJourneyMap(Minimal().dump());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value()->initial, "a");
}

TEST(JourneyMap, ErrorsNameThePathOfTheBadField) {
  json d = Minimal();
  d["transitions"].push_back({{"id", "t2"},
                              {"from", "a"},
                              {"to", "b"},
                              {"when", {{"count", {{"event", "x_done"}, {"within", "soon"}}}}}});
  EXPECT_EQ(ErrorOf(d), "transitions[1].when.count.within: expected a duration");

  d = Minimal();
  d["transitions"][0]["to"] = "nowhere";
  EXPECT_EQ(ErrorOf(d), "transitions[0].to: unknown stage \"nowhere\"");

  d = Minimal();
  d["transitions"][0]["when"] = {
      {"all", {{{"event", "x_done"}}, {{"field", "properties.n"}, {"gt", "five"}}}}};
  EXPECT_EQ(ErrorOf(d), "transitions[0].when.all[1].gt: expected a number");

  d = Minimal();
  d["stages"][1]["phase"] = "later";
  EXPECT_EQ(ErrorOf(d), "stages[1].phase: expected \"before\" or \"after\" (conversion)");

  d = Minimal();
  d["stages"][1]["id"] = "a";
  EXPECT_EQ(ErrorOf(d), "stages[1].id: duplicate stage id \"a\"");

  d = Minimal();
  d.erase("version");
  EXPECT_EQ(ErrorOf(d), "version: required");

  d = Minimal();
  d["scoring"] = {{"rules", {{{"id", "r"}, {"points", "ten"}, {"when", {{"event", "x_done"}}}}}}};
  EXPECT_EQ(ErrorOf(d), "scoring.rules[0].points: expected a number");

  d = Minimal();
  d["surprise"] = 1;
  EXPECT_EQ(ErrorOf(d), "surprise: unknown field");

  d = Minimal();
  d["transitions"][0]["when"] = {{"event", "x_done"}, {"stage", "a"}};
  EXPECT_EQ(ErrorOf(d),
            "transitions[0].when: expected exactly one of always, event, field, count, score, "
            "inactive_for, stage, all, any, not");
}

TEST(JourneyMap, ContentIsSafeByConstruction) {
  json d = Minimal();
  d["content"] = json::parse(R"js({"slots": [{"id": "hero", "variants": [
      {"id": "v", "when": {"stage": "a"}, "content": {"text": "hi", "attrs": {"onclick": "x()"}}}]}]})js");
  EXPECT_EQ(ErrorOf(d),
            "content.slots[0].variants[0].content.attrs.onclick: attribute not allowed (allowed: "
            "href, src, alt, title, aria-label, placeholder, class, value)");
  d["content"]["slots"][0]["variants"][0]["content"]["attrs"] = {{"href", "javascript:alert(1)"}};
  EXPECT_EQ(
      ErrorOf(d),
      "content.slots[0].variants[0].content.attrs.href: expected an http(s) URL or a relative URL");
  d["content"]["slots"][0]["variants"][0]["content"]["attrs"] = {{"href", "//evil.example/x"}};
  EXPECT_NE(ErrorOf(d), "(accepted)");
  d["content"]["slots"][0]["variants"][0]["content"]["attrs"] = {{"href", " JavaScript:alert(1)"}};
  EXPECT_NE(ErrorOf(d), "(accepted)");
  d["content"]["slots"][0]["variants"][0]["content"]["attrs"] = {{"href", "HTTPS://ok.example/"}};
  EXPECT_EQ(ErrorOf(d), "(accepted)");
  d["content"]["slots"][0]["variants"][0]["content"]["attrs"] = {{"href", "/pricing.html?x=1"}};
  EXPECT_EQ(ErrorOf(d), "(accepted)");
}

TEST(JourneyMap, AliasesMustBeUnambiguous) {
  json d = Minimal();
  d["events"] = {{"x_done", {{"aliases", {"X Done"}}}}, {"y_done", {{"aliases", {"X Done"}}}}};
  EXPECT_EQ(ErrorOf(d), "events.y_done.aliases[0]: \"X Done\" is already an alias of \"x_done\"");
  d["events"] = {{"x_done", {{"aliases", {"X Done"}}}}};
  d["transitions"][0]["when"] = {{"event", "X Done"}};
  EXPECT_EQ(ErrorOf(d),
            "transitions[0].when: \"X Done\" is an alias; use the event name \"x_done\"");
}

TEST(JourneyMap, InactivityCannotMixWithEventTests) {
  json d = Minimal();
  d["transitions"][0]["when"] = {{"all", {{{"event", "x_done"}}, {{"inactive_for", "1d"}}}}};
  EXPECT_NE(ErrorOf(d).find("inactive_for cannot be combined"), std::string::npos);
}

TEST(JourneyMap, BadDocumentsAreErrorsNeverCrashes) {
  const std::string cases[] = {
      "",
      "null",
      "[]",
      "42",
      "\"map\"",
      "{",
      "{\"id\":",
      std::string(10000, '[') + std::string(10000, ']'),
      std::string("{\"id\":\"\xFF\"}"),
      "{\"id\":\"m\",\"version\":1,\"stages\":[{}]}",
      "{\"id\":\"m\",\"version\":1,\"stages\":[{\"id\":\"a\"}],\"transitions\":[{\"id\":\"t\","
      "\"from\":\"a\",\"to\":\"a\",\"when\":" +
          std::string(60, '{') + "}"};
  for (const auto& text : cases) {
    auto r = ParseJourneyMap(text);
    EXPECT_FALSE(r.ok()) << text.substr(0, 60);
    if (!r.ok()) EXPECT_FALSE(r.error().message.empty());
  }
  auto deep = ParseJourneyMap(std::string(10000, '[') + std::string(10000, ']'));
  EXPECT_EQ(deep.error().code, "too_deep");
}

TEST(JourneyMap, DeeplyNestedConditionsAreBounded) {
  json when = {{"event", "x_done"}};
  for (int i = 0; i < 20; ++i) when = {{"not", when}};
  json d = Minimal();
  d["transitions"][0]["when"] = when;
  EXPECT_NE(ErrorOf(d).find("nest deeper than 16"), std::string::npos);
}

TEST(JourneyMap, EveryFieldOfEveryTypeMutatedIsHandled) {
  // Replace each value of the default map, one at a time, by values of other types: each
  // result is a clean accept or a path-named error, never a crash.
  auto base = ParseJson(DefaultMapJson(), kMaxMapBytes, kMaxMapDepth).value();
  json flat = base.flatten();
  const json replacements[] = {json(nullptr), json("zzz"), json::array({json(-1.5)})};
  int refused = 0;
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    for (const auto& r : replacements) {
      json mutated = base;
      mutated[json::json_pointer(it.key())] = r;
      auto result = ParseJourneyMap(mutated.dump());
      if (!result.ok()) {
        ++refused;
        EXPECT_EQ(result.error().code, "invalid_map");
      }
    }
  }
  EXPECT_GT(refused, 500);
}

}  // namespace
}  // namespace waymark
