#include "waymark/event.h"

#include <gtest/gtest.h>

#include <string>

namespace waymark {
namespace {

json Valid() {
  return json{{"id", "0190a5b2-0000-7000-8000-000000000001"},
              {"seq", 1},
              {"anonymous_id", "anon-1"},
              {"name", "pricing_viewed"},
              {"time", 1700000000000},
              {"properties", {{"plan", "pro"}}},
              {"context",
               {{"url", "https://example.com/pricing?utm_source=news"},
                {"path", "/pricing"},
                {"referrer", "https://news.example.org/"},
                {"campaign", {{"utm_source", "news"}, {"utm_medium", "email"}}}}}};
}

TEST(EventName, Convention) {
  EXPECT_TRUE(IsConventionalEventName("pricing_viewed"));
  EXPECT_TRUE(IsConventionalEventName("step2_completed"));
  EXPECT_TRUE(IsConventionalEventName("a_b_c"));
  EXPECT_FALSE(IsConventionalEventName("pricing"));          // no action
  EXPECT_FALSE(IsConventionalEventName("Pricing_viewed"));   // uppercase
  EXPECT_FALSE(IsConventionalEventName("pricing__viewed"));  // double underscore
  EXPECT_FALSE(IsConventionalEventName("_pricing_viewed"));
  EXPECT_FALSE(IsConventionalEventName("pricing_viewed_"));
  EXPECT_FALSE(IsConventionalEventName("2fa_enabled"));
  EXPECT_FALSE(IsConventionalEventName("Trial Started"));
  EXPECT_FALSE(IsConventionalEventName("pricing-viewed"));
  EXPECT_FALSE(IsConventionalEventName(""));
}

TEST(EventParse, ValidEnvelopeRoundTrips) {
  auto e = EventFromJson(Valid());
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e.value().name, "pricing_viewed");
  EXPECT_EQ(e.value().context.campaign.at("utm_medium"), "email");
  auto again = EventFromJson(EventToJson(e.value()));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(EventToJson(again.value()), EventToJson(e.value()));
}

TEST(EventParse, AutomationFlagIsKeptAndTypeChecked) {
  json j = Valid();
  j["context"]["automation"] = true;
  auto e = EventFromJson(j);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e.value().context.automation);
  EXPECT_EQ(EventToJson(e.value())["context"]["automation"], true);
  EXPECT_FALSE(EventToJson(EventFromJson(Valid()).value())["context"].contains("automation"));
  j["context"]["automation"] = "yes";
  EXPECT_EQ(EventFromJson(j).error().message,
            "context.automation: expected a boolean, got a string");
}

TEST(EventParse, MissingFieldsNameTheField) {
  json j = Valid();
  j.erase("time");
  auto e = EventFromJson(j);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, "invalid_event");
  EXPECT_EQ(e.error().message, "time: required (milliseconds since the epoch)");
  j = Valid();
  j.erase("id");
  EXPECT_EQ(EventFromJson(j).error().message, "id: required");
}

TEST(EventParse, WrongTypesAreErrorsNotCrashes) {
  const char* fields[] = {"id", "name", "time", "seq", "properties", "context", "user_id", "type"};
  json bad_values[] = {json(nullptr), json(true),       json(1.5),
                       json("x"),     json::array({1}), json::object({{"a", 1}}),
                       json(-5)};
  for (const char* f : fields) {
    for (const auto& bad : bad_values) {
      json j = Valid();
      j[f] = bad;
      auto e = EventFromJson(j);  // must not crash; most combinations are errors
      if (!e.ok()) EXPECT_FALSE(e.error().code.empty());
    }
  }
  EXPECT_EQ(EventFromJson(json::array()).error().code, "invalid_event");
  EXPECT_EQ(EventFromJson(json("text")).error().code, "invalid_event");
  json j = Valid();
  j["context"]["campaign"] = "utm_source=x";
  EXPECT_EQ(EventFromJson(j).error().message, "context.campaign: expected an object, got a string");
  j = Valid();
  j["type"] = "bogus";
  EXPECT_EQ(EventFromJson(j).error().code, "invalid_event");
}

TEST(EventParse, PropertyLimits) {
  json j = Valid();
  for (int i = 0; i < 65; ++i) j["properties"]["p" + std::to_string(i)] = i;
  EXPECT_EQ(EventFromJson(j).error().code, "too_many_properties");

  j = Valid();
  j["properties"] = {{"a", {{"b", {{"c", {{"d", 1}}}}}}}};  // depth 5 with properties at 1
  EXPECT_EQ(EventFromJson(j).error().code, "too_deep");
  j["properties"] = {{"a", {{"b", {{"c", 1}}}}}};
  EXPECT_TRUE(EventFromJson(j).ok());

  j = Valid();
  j["properties"]["long"] = std::string(2049, 'x');
  auto e = EventFromJson(j);
  EXPECT_EQ(e.error().code, "string_too_long");
  EXPECT_EQ(e.error().message, "properties.long: string of 2049 bytes, the limit is 2048");

  j = Valid();
  j["name"] = std::string(65, 'a');
  EXPECT_EQ(EventFromJson(j).error().code, "string_too_long");
}

TEST(EventParse, ThirtyTwoKilobyteCap) {
  json j = Valid();
  for (int i = 0; i < 20; ++i) j["properties"]["p" + std::to_string(i)] = std::string(2000, 'x');
  auto e = EventFromJson(j);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, "event_too_large");
  auto text = ParseEvent(std::string(100000, ' '));
  EXPECT_EQ(text.error().code, "event_too_large");
}

TEST(EventParse, InvalidUtf8IsRefused) {
  json j = Valid();
  j["properties"]["bad"] = std::string("\xC3\x28");
  EXPECT_EQ(EventFromJson(j).error().code, "invalid_utf8");
  j = Valid();
  j["name"] = std::string("page\xFF_viewed");
  EXPECT_EQ(EventFromJson(j).error().code, "invalid_utf8");
  std::string raw = "{\"id\":\"a\",\"name\":\"x\xFF_y\",\"time\":1}";
  EXPECT_EQ(ParseEvent(raw).error().code, "invalid_json");
}

// A NUL in an id or the page context is refused by name (PostgreSQL's text cannot store one, so
// letting it through would fail the whole group commit it joined); property values keep theirs.
TEST(EventParse, NulInIdsAndContextIsRefusedNotInProperties) {
  for (const char* field : {"id", "anonymous_id", "user_id"}) {
    json j = Valid();
    j[field] = std::string("a\0b", 3);
    auto e = EventFromJson(j);
    ASSERT_FALSE(e.ok()) << field;
    EXPECT_EQ(e.error().code, "invalid_event") << field;
    EXPECT_NE(e.error().message.find("NUL"), std::string::npos) << e.error().message;
  }
  json j = Valid();
  j["context"]["title"] = std::string("x\0", 2);
  EXPECT_EQ(EventFromJson(j).error().code, "invalid_event");
  j = Valid();
  j["properties"]["note"] = std::string("x\0y", 3);
  EXPECT_TRUE(EventFromJson(j).ok());
}

TEST(EventParse, DeepNestingInTextIsRefusedEarly) {
  std::string text = "{\"id\":\"a\",\"name\":\"a_b\",\"time\":1,\"properties\":{\"x\":";
  text += std::string(10000, '[') + std::string(10000, ']') + "}}";
  auto e = ParseEvent(text);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, "too_deep");
}

TEST(EventParse, NonFiniteNumbersAreRefused) {
  json j = Valid();
  j["properties"]["x"] = std::numeric_limits<double>::infinity();
  EXPECT_EQ(EventFromJson(j).error().code, "invalid_event");
}

TEST(EventField, ReadsPropertiesAndContext) {
  auto e = EventFromJson(Valid()).value();
  json scratch;
  const json* v = EventField(e, "properties.plan", &scratch);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, "pro");
  v = EventField(e, "context.campaign.utm_source", &scratch);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, "news");
  EXPECT_EQ(EventField(e, "properties.missing", &scratch), nullptr);
  EXPECT_EQ(EventField(e, "properties.plan.deeper", &scratch), nullptr);
  EXPECT_EQ(EventField(e, "nonsense", &scratch), nullptr);
}

}  // namespace
}  // namespace waymark
