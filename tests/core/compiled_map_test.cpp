// The compiled journey map (waymark/compiled_map.h): loading gives back the map that was compiled,
// the bytes are the same natively and in wasm (this suite runs in both builds against one list of
// digests), and damaged or crafted bytes are refused with an error, never a crash. The shared
// vectors themselves run on compiled maps (vectors_test.cpp).
#include "waymark/compiled_map.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "waymark/default_map.h"

namespace waymark {
namespace {

using testing_util::DefaultMap;
using testing_util::kT0;
using testing_util::MakeEvent;
using testing_util::ReadFile;

// name -> map text: the default map and every vector's own map.
std::map<std::string, std::string> Maps() {
  std::map<std::string, std::string> out{{"default", std::string(DefaultMapJson())}};
  DIR* dir = opendir(WAYMARK_VECTORS_DIR);
  if (dir == nullptr) return out;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() <= 5 || name.substr(name.size() - 5) != ".json") continue;
    auto v = ParseJson(ReadFile(std::string(WAYMARK_VECTORS_DIR) + "/" + name), 1 << 22, 64);
    if (v.ok() && v.value().contains("map") && v.value()["map"].is_object() &&
        !v.value().contains("map_error")) {
      out[name] = v.value()["map"].dump();
    }
  }
  closedir(dir);
  return out;
}

std::string Hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

TEST(CompiledMap, LoadingGivesBackTheMapThatWasCompiled) {
  const auto maps = Maps();
  ASSERT_GE(maps.size(), 10u);
  for (const auto& [name, text] : maps) {
    auto parsed = ParseJourneyMap(text);
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error().message;
    const std::string bytes = CompileMap(*parsed.value());
    auto loaded = LoadCompiledMap(bytes);
    ASSERT_TRUE(loaded.ok()) << name << ": " << loaded.error().message;
    EXPECT_EQ(CompileMap(*loaded.value()), bytes) << name;
    EXPECT_EQ(loaded.value()->property_reads, parsed.value()->property_reads) << name;
    EXPECT_EQ(loaded.value()->transition_order, parsed.value()->transition_order) << name;
  }
}

// One digest per map, checked in: the native and the wasm run of this suite must both match, so
// the two builds compile every map to the same bytes. A deliberate format change rewrites the
// list (the failure prints the new lines) and bumps kCompiledMapVersion.
TEST(CompiledMap, SameBytesInEveryBuild) {
  std::map<std::string, std::string> want;
  std::istringstream in(
      ReadFile(WAYMARK_SOURCE_DIR "/tests/core/fixtures/compiled-map-digests.txt"));
  for (std::string name, digest; in >> name >> digest;) want[name] = digest;
  ASSERT_FALSE(want.empty()) << "tests/core/fixtures/compiled-map-digests.txt is missing";
  std::string got_list;
  std::map<std::string, std::string> got;
  for (const auto& [name, text] : Maps()) {
    got[name] = Hex(Fnv1a64(CompileMap(*ParseJourneyMap(text).value())));
    got_list += name + " " + got[name] + "\n";
  }
  EXPECT_EQ(got, want) << "compiled bytes changed; if on purpose, the new list is:\n" << got_list;
}

TEST(CompiledMap, TheEngineRunsTheSameOnEitherForm) {
  auto parsed = DefaultMap();
  auto compiled = LoadCompiledMap(CompileMap(*parsed)).value();
  Engine a(parsed);
  Engine b(compiled);
  const char* names[] = {"page_viewed",   "pricing_viewed", "generate_lead",
                         "Trial Started", "feature_used",   "order_completed"};
  TimeMs t = kT0;
  for (const char* name : names) {
    TrackOutcome x = a.Track(MakeEvent(name, name, t));
    TrackOutcome y = b.Track(MakeEvent(name, name, t));
    EXPECT_EQ(x.status, y.status) << name;
    EXPECT_EQ(x.transitions.size(), y.transitions.size()) << name;
    EXPECT_EQ(x.outbound, y.outbound) << name;
    t += kHour;
  }
  EXPECT_EQ(a.StateJson(t + 90 * kDay), b.StateJson(t + 90 * kDay));
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
}

TEST(CompiledMap, DamageIsRefusedWithAnError) {
  const std::string bytes = CompileMap(*DefaultMap());
  EXPECT_EQ(LoadCompiledMap("").error().code, "map_corrupt");
  EXPECT_EQ(LoadCompiledMap("{\"id\": \"m\"}").error().code, "map_corrupt");
  std::string other_version = bytes;
  other_version[4] = 9;
  EXPECT_EQ(LoadCompiledMap(other_version).error().code, "map_version");
  // Every truncation and every single flipped byte of the payload is caught by the checksum.
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    EXPECT_FALSE(LoadCompiledMap(bytes.substr(0, n)).ok()) << "truncated at " << n;
  }
  for (std::size_t i = 13; i < bytes.size(); i += 5) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    auto loaded = LoadCompiledMap(flipped);
    ASSERT_FALSE(loaded.ok()) << "byte " << i;
    EXPECT_EQ(loaded.error().message, "compiled map: checksum mismatch");
  }
}

// Crafted bytes with a correct checksum: the payload is read with bounds and the references the
// engine relies on are checked, so junk and lying counts end in map_corrupt.
TEST(CompiledMap, CraftedPayloadsWithAGoodChecksumAreRefused) {
  auto with_payload = [](const std::string& payload) {
    std::string out = "WMAP";
    out.push_back(static_cast<char>(kCompiledMapVersion));
    const std::uint64_t sum = Fnv1a64(payload);
    out.append(reinterpret_cast<const char*>(&sum), 8);
    return out + payload;
  };
  std::uint32_t seed = 7;
  int refused = 0;
  for (int n = 0; n < 300; ++n) {
    std::string payload;
    for (int i = 0; i < 1 + (n * 13) % 400; ++i) {
      seed = seed * 1103515245u + 12345u;
      payload.push_back(static_cast<char>(seed >> 16));
    }
    auto loaded = LoadCompiledMap(with_payload(payload));
    if (!loaded.ok()) {
      EXPECT_EQ(loaded.error().code, "map_corrupt");
      ++refused;
    }
  }
  EXPECT_EQ(refused, 300);
  // A real map whose transition order points past the transitions.
  JourneyMap map = *DefaultMap();
  map.transition_order.back() = map.transitions.size() + 3;
  auto loaded = LoadCompiledMap(CompileMap(map));
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message, "compiled map: transition order is not a permutation");
  map = *DefaultMap();
  map.scoring.half_life = TimeMs{1} << 62;  // would overflow time arithmetic
  EXPECT_EQ(LoadCompiledMap(CompileMap(map)).error().message,
            "compiled map: a duration is negative or longer than 100 years");
  map = *DefaultMap();
  map.transitions.front().when.within = -5;
  EXPECT_FALSE(LoadCompiledMap(CompileMap(map)).ok());
  map = *DefaultMap();
  map.initial = "nowhere";
  EXPECT_EQ(LoadCompiledMap(CompileMap(map)).error().message,
            "compiled map: the initial stage is not a stage");
}

// core/maps/default.wmap is checked in (the browser engine embeds it); it must be the JSON's.
TEST(CompiledMap, TheEmbeddedDefaultIsTheDefaultMapCompiled) {
  EXPECT_EQ(DefaultMapCompiled(), CompileMap(*DefaultMap()))
      << "core/maps/default.wmap is stale: run build/native/bin/waymark-collector compile-map "
         "core/maps/default.json core/maps/default.wmap";
  auto loaded = LoadCompiledMap(DefaultMapCompiled());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.value()->id, "default");
}

TEST(CompiledMap, SmallerThanTheDocument) {
  auto parsed = DefaultMap();
  const std::string minified = ParseJson(DefaultMapJson(), 1 << 20, 64).value().dump();
  EXPECT_LT(CompileMap(*parsed).size(), minified.size());
}

}  // namespace
}  // namespace waymark
