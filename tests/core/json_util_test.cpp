#include "waymark/json_util.h"

#include <gtest/gtest.h>

#include <string>

namespace waymark {
namespace {

TEST(JsonUtil, ParsesValidDocument) {
  auto r = ParseJson(R"({"a":[1,2,{"b":"c"}]})", 1024, 8);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value()["a"][2]["b"], "c");
}

TEST(JsonUtil, MalformedJsonIsAnError) {
  for (const char* text : {"", "{", "[1,2", "{\"a\":}", "nul", "{\"a\" 1}", "[1,]"}) {
    auto r = ParseJson(text, 1024, 8);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, "invalid_json") << text;
  }
}

TEST(JsonUtil, TenThousandDeepNestingIsRefusedNotCrashed) {
  std::string deep(10000, '[');
  deep += std::string(10000, ']');
  auto r = ParseJson(deep, 1 << 20, 64);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "too_deep");
  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(10000, '}');
  r = ParseJson(objects, 1 << 20, 64);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "too_deep");
}

TEST(JsonUtil, BracketsInsideStringsDoNotCountAsDepth) {
  std::string text = "{\"a\":\"" + std::string(500, '[') + "\"}";
  EXPECT_TRUE(ParseJson(text, 1 << 20, 4).ok());
}

TEST(JsonUtil, OversizeDocumentIsRefused) {
  auto r = ParseJson(std::string(2000, ' ') + "1", 1000, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "too_large");
}

TEST(JsonUtil, InvalidUtf8IsAnError) {
  std::string text = "{\"a\":\"\xC3\x28\"}";
  auto r = ParseJson(text, 1024, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_json");
  EXPECT_NE(r.error().message.find("UTF-8"), std::string::npos);
}

TEST(JsonUtil, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(JsonUtil, DumpNeverFailsOnInvalidUtf8) {
  json j = std::string("bad \xFF byte");
  std::string out = DumpJson(j);
  EXPECT_NE(out.find("bad"), std::string::npos);
  EXPECT_TRUE(IsValidUtf8(out));
}

TEST(JsonUtil, SerializedSizeIsExact) {
  const json cases[] = {json(nullptr),
                        json(true),
                        json(false),
                        json(0),
                        json(-1),
                        json(1234567890123LL),
                        json(-9223372036854775807LL - 1),
                        json(18446744073709551615ULL),
                        json(1.5),
                        json(-0.001),
                        json(""),
                        json("a\"b\\c\n\t\x01\x1f caf\xC3\xA9"),
                        json::array(),
                        json::object(),
                        json::parse(R"({"a":[1,2,{"b":null,"c":"d"}],"e":{},"f":[]})")};
  for (const auto& c : cases) EXPECT_EQ(SerializedSize(c), DumpJson(c).size()) << DumpJson(c);
}

TEST(JsonUtil, MemberIsSafeOnNonObjects) {
  EXPECT_EQ(Member(json::array(), "a"), nullptr);
  EXPECT_EQ(Member(json(5), "a"), nullptr);
  json o = {{"a", 1}};
  ASSERT_NE(Member(o, "a"), nullptr);
  EXPECT_EQ(Member(o, "b"), nullptr);
}

TEST(JsonUtil, GetInt64ChecksRange) {
  std::int64_t v = 0;
  EXPECT_TRUE(GetInt64(json(42), &v));
  EXPECT_EQ(v, 42);
  EXPECT_TRUE(GetInt64(json(3.0), &v));
  EXPECT_FALSE(GetInt64(json(3.5), &v));
  EXPECT_FALSE(GetInt64(json(18446744073709551615ULL), &v));
  EXPECT_FALSE(GetInt64(json("3"), &v));
}

}  // namespace
}  // namespace waymark
