// Keeps docs/journey-map.schema.json and docs/journey-map.md in step with the parser: the schema is
// valid JSON naming exactly the top-level fields the parser accepts, the default map points at it,
// and the error messages quoted in the reference are the ones the parser gives.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "test_util.h"
#include "waymark/default_map.h"
#include "waymark/journey_map.h"

namespace waymark {
namespace {

using testing_util::ReadFile;

json LoadSchema() {
  auto parsed =
      ParseJson(ReadFile(WAYMARK_SOURCE_DIR "/docs/journey-map.schema.json"), 1 << 20, 64);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.ok() ? parsed.value() : json::object();
}

json DefaultMap() { return ParseJson(DefaultMapJson(), kMaxMapBytes, kMaxMapDepth).value(); }

std::string MapError(const json& map) {
  auto r = ParseJourneyMap(DumpJson(map));
  return r.ok() ? std::string("(accepted)") : r.error().message;
}

TEST(JourneyMapSchema, IsDraft2020WithTheParsersTopLevelFields) {
  json schema = LoadSchema();
  ASSERT_TRUE(schema.is_object());
  EXPECT_EQ(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(schema["additionalProperties"], false);
  EXPECT_EQ(schema["required"], json({"id", "version", "stages"}));

  const json minimal = {{"id", "t"}, {"version", 1}, {"stages", {{{"id", "a"}}}}};
  std::set<std::string> in_schema;
  for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it) {
    in_schema.insert(it.key());
    // The parser knows the field: whatever it says about this value, it is not "unknown field".
    json map = minimal;
    map[it.key()] = json::object({{"zz_probe", 1}});
    EXPECT_NE(MapError(map), it.key() + ": unknown field") << it.key();
  }
  const std::set<std::string> parser_fields = {
      "$schema",        "id",     "version",  "name",        "description", "events",
      "unknown_events", "stages", "initial",  "transitions", "scoring",     "content",
      "sync",           "noise",  "triggers", "attribution", "identity"};
  EXPECT_EQ(in_schema, parser_fields);
  json map = minimal;
  map["zz_probe"] = 1;
  EXPECT_EQ(MapError(map), "zz_probe: unknown field");
  for (const char* key : {"id", "version", "stages"}) {
    json m = minimal;
    m.erase(key);
    EXPECT_EQ(MapError(m), std::string(key) + ": required");
  }
}

TEST(JourneyMapSchema, DefaultMapPointsAtTheSchema) {
  json map = DefaultMap();
  EXPECT_EQ(map["$schema"], "../../docs/journey-map.schema.json");
  // Relative to core/maps/default.json.
  EXPECT_FALSE(
      ReadFile(WAYMARK_SOURCE_DIR "/core/maps/../../docs/journey-map.schema.json").empty());
}

TEST(JourneyMapSchema, ErrorExamplesInTheReferenceAreReal) {
  json m = DefaultMap();
  m["transitions"][0]["when"]["any"][1]["count"]["within"] = "1 day";
  EXPECT_EQ(MapError(m), "transitions[0].when.any[1].count.within: expected a duration");

  m = DefaultMap();
  m["content"]["slots"][1]["variants"][0]["content"]["attrs"]["href"] = "javascript:alert(1)";
  EXPECT_EQ(MapError(m),
            "content.slots[1].variants[0].content.attrs.href: expected an http(s) URL or a "
            "relative URL");

  m = DefaultMap();
  m["transitions"][1]["when"] = {{"event", "generate_lead"}};
  EXPECT_EQ(MapError(m),
            "transitions[1].when: \"generate_lead\" is an alias; use the event name "
            "\"lead_submitted\"");

  m = DefaultMap();
  m["stages"][1]["phase"] = "during";
  EXPECT_EQ(MapError(m), "stages[1].phase: expected \"before\" or \"after\" (conversion)");

  m = DefaultMap();
  m["transitions"][2]["when"] = {{"score", {{"equals", 50}}}};
  EXPECT_EQ(MapError(m),
            "transitions[2].when.score.equals: a score is compared with gt, gte, lt or lte");

  m = DefaultMap();
  m.erase("version");
  EXPECT_EQ(MapError(m), "version: required");

  m = DefaultMap();
  m["triggers"][0]["on"] = {{"rule", "nope"}};
  EXPECT_EQ(MapError(m), "triggers[0].on.rule: unknown transition \"nope\"");

  m = DefaultMap();
  m["events"]["pricing_viewed"]["aliases"].push_back("page_view");
  EXPECT_EQ(
      MapError(m),
      "events.pricing_viewed.aliases[2]: \"page_view\" is already an alias of \"page_viewed\"");
}

}  // namespace
}  // namespace waymark
