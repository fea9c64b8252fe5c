// Runs the shared test vectors (tests/vectors/*.json, format in tests/vectors/README.md). The same
// files are run by the native and the wasm build of this suite, and later by the JS SDK and the
// collector tests: agreeing on them is how we know every engine is the same engine.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "waymark/attribution.h"
#include "waymark/channels.h"
#include "waymark/compiled_map.h"
#include "waymark/default_map.h"
#include "waymark/engine.h"
#include "waymark/identity.h"

namespace waymark {
namespace {

using testing_util::ReadFile;

constexpr double kTolerance = 1e-6;

std::vector<std::string> VectorFiles() {
  std::vector<std::string> files;
  DIR* dir = opendir(WAYMARK_VECTORS_DIR);
  if (dir == nullptr) return files;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() > 5 && name.substr(name.size() - 5) == ".json") files.push_back(name);
  }
  closedir(dir);
  std::sort(files.begin(), files.end());
  return files;
}

// Fills the envelope defaults the vector format allows to omit.
json WithDefaults(json envelope, std::size_t index) {
  if (!envelope.contains("id")) envelope["id"] = "v" + std::to_string(index);
  if (!envelope.contains("anonymous_id")) envelope["anonymous_id"] = "anon-1";
  return envelope;
}

std::vector<Event> Events(const json& list, std::size_t* counter) {
  std::vector<Event> out;
  for (const auto& item : list) {
    auto e = EventFromJson(WithDefaults(item, (*counter)++));
    EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().message);
    if (e.ok()) out.push_back(e.value());
  }
  return out;
}

void ExpectCredits(const std::vector<Credit>& got, const json& want, const std::string& what) {
  double sum = 0;
  for (const auto& c : got) sum += c.credit;
  EXPECT_EQ(got.size(), want.size()) << what << ": number of credited channels";
  for (auto it = want.begin(); it != want.end(); ++it) {
    auto found = std::find_if(got.begin(), got.end(),
                              [&](const Credit& c) { return c.channel == it.key(); });
    ASSERT_NE(found, got.end()) << what << ": no credit for " << it.key();
    EXPECT_NEAR(found->credit, it.value().get<double>(), kTolerance) << what << ": " << it.key();
  }
  if (!got.empty()) EXPECT_NEAR(sum, 1.0, kTolerance) << what << ": credits sum to 1";
}

void ExpectTransitions(const std::vector<TransitionRecord>& got, const json& want,
                       const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what << ": number of transitions";
  for (std::size_t i = 0; i < got.size(); ++i) {
    const json& w = want[i];
    EXPECT_EQ(got[i].from, w[0].get<std::string>()) << what << "[" << i << "].from";
    EXPECT_EQ(got[i].to, w[1].get<std::string>()) << what << "[" << i << "].to";
    EXPECT_EQ(got[i].rule, w[2].get<std::string>()) << what << "[" << i << "].rule";
    if (w.size() > 3) EXPECT_EQ(got[i].at, w[3].get<TimeMs>()) << what << "[" << i << "].at";
  }
}

void CheckState(const Engine& engine, const json& c, const std::string& where) {
  TimeMs at = c.value("at", engine.last_activity());
  if (c.contains("stage")) EXPECT_EQ(engine.stage(), c["stage"].get<std::string>()) << where;
  if (c.contains("score"))
    EXPECT_NEAR(engine.Score(at), c["score"].get<double>(), kTolerance) << where;
  if (c.contains("score_groups")) {
    for (auto it = c["score_groups"].begin(); it != c["score_groups"].end(); ++it) {
      EXPECT_NEAR(engine.Score(at, it.key()), it.value().get<double>(), kTolerance)
          << where << ": group " << it.key();
    }
  }
  if (c.contains("transitions")) {
    std::vector<TransitionRecord> all(engine.transitions().begin(), engine.transitions().end());
    ExpectTransitions(all, c["transitions"], where + ": history");
  }
  if (c.contains("decisions")) {
    auto decisions = engine.Decide(at);
    for (auto it = c["decisions"].begin(); it != c["decisions"].end(); ++it) {
      auto d = std::find_if(decisions.begin(), decisions.end(),
                            [&](const Decision& x) { return x.slot == it.key(); });
      ASSERT_NE(d, decisions.end()) << where << ": slot " << it.key();
      EXPECT_EQ(d->variant, it.value().get<std::string>()) << where << ": slot " << it.key();
    }
  }
  if (c.contains("attribution")) {
    for (auto it = c["attribution"].begin(); it != c["attribution"].end(); ++it) {
      auto model = ParseModel(it.key());
      ASSERT_TRUE(model.ok()) << where << ": model " << it.key();
      ExpectCredits(engine.Attribute(model.value(), at), it.value(), where + ": " + it.key());
    }
  }
  if (c.contains("stage_times")) {
    auto times = engine.StageTimes(at);
    for (auto it = c["stage_times"].begin(); it != c["stage_times"].end(); ++it) {
      EXPECT_EQ(times[it.key()].total, it.value().get<TimeMs>())
          << where << ": time in " << it.key();
    }
  }
  if (c.contains("counters")) {
    const auto& k = engine.counters();
    const json& w = c["counters"];
    if (w.contains("accepted")) EXPECT_EQ(k.accepted, w["accepted"].get<std::int64_t>()) << where;
    if (w.contains("folded")) EXPECT_EQ(k.folded, w["folded"].get<std::int64_t>()) << where;
    if (w.contains("throttled"))
      EXPECT_EQ(k.throttled, w["throttled"].get<std::int64_t>()) << where;
    if (w.contains("rejected")) EXPECT_EQ(k.rejected, w["rejected"].get<std::int64_t>()) << where;
    if (w.contains("evicted")) EXPECT_EQ(k.evicted, w["evicted"].get<std::int64_t>()) << where;
  }
  if (c.contains("log_size"))
    EXPECT_EQ(engine.log().size(), c["log_size"].get<std::size_t>()) << where;
  if (c.contains("user_id")) EXPECT_EQ(engine.user_id(), c["user_id"].get<std::string>()) << where;
}

void CheckTriggers(const std::vector<FiredTrigger>& got, const json& want,
                   const std::string& where) {
  std::vector<std::string> ids;
  for (const auto& t : got) ids.push_back(t.trigger);
  std::vector<std::string> expected = want.get<std::vector<std::string>>();
  EXPECT_EQ(ids, expected) << where << ": triggers";
}

void RunVector(const std::string& file) {
  auto parsed = ParseJson(ReadFile(std::string(WAYMARK_VECTORS_DIR) + "/" + file), 1 << 22, 64);
  ASSERT_TRUE(parsed.ok()) << file << ": " << parsed.error().message;
  const json& v = parsed.value();
  std::string map_text(DefaultMapJson());
  if (v.contains("map") && v["map"].is_object()) map_text = v["map"].dump();
  auto map = ParseJourneyMap(map_text);
  if (v.contains("map_error")) {
    ASSERT_FALSE(map.ok()) << file << ": the map should be refused";
    EXPECT_EQ(map.error().message, v["map_error"].get<std::string>()) << file;
    return;
  }
  ASSERT_TRUE(map.ok()) << file << ": " << map.error().message;
  // The engine runs on the compiled form, as browsers do (waymark/compiled_map.h).
  auto compiled = LoadCompiledMap(CompileMap(*map.value()));
  ASSERT_TRUE(compiled.ok()) << file << ": " << compiled.error().message;
  EngineOptions options;
  options.local_only = v.value("local_only", false);
  Engine engine(compiled.value(), options);
  std::size_t counter = 0;
  const json& steps = v["steps"];
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const json& step = steps[i];
    std::string where = file + " step " + std::to_string(i);
    json expect = step.value("expect", json::object());
    if (step.contains("track")) {
      TrackOutcome out = engine.TrackJson(WithDefaults(step["track"], counter++));
      std::string status = expect.value("status", "accepted");
      EXPECT_EQ(TrackStatusName(out.status), status) << where << ": " << out.error.message;
      if (expect.contains("error"))
        EXPECT_EQ(out.error.code, expect["error"].get<std::string>()) << where;
      if (expect.contains("transitions"))
        ExpectTransitions(out.transitions, expect["transitions"], where);
      if (expect.contains("triggers")) CheckTriggers(out.triggers, expect["triggers"], where);
      if (expect.contains("outbound")) {
        EXPECT_EQ(out.outbound.has_value(), !expect["outbound"].is_null()) << where << ": outbound";
        if (out.outbound && expect["outbound"].is_object()) {
          for (auto it = expect["outbound"].begin(); it != expect["outbound"].end(); ++it) {
            EXPECT_EQ((*out.outbound).value(it.key(), json()), it.value())
                << where << ": outbound." << it.key();
          }
        }
      }
    } else if (step.contains("advance")) {
      AdvanceOutcome out = engine.Advance(step["advance"].get<TimeMs>());
      if (expect.contains("transitions"))
        ExpectTransitions(out.transitions, expect["transitions"], where);
      if (expect.contains("triggers")) CheckTriggers(out.triggers, expect["triggers"], where);
    } else if (step.contains("identify")) {
      Status s = engine.Identify(step["identify"].get<std::string>(), step.value("traits", json()));
      EXPECT_EQ(s.ok() ? std::string() : s.error().code, expect.value("error", std::string()))
          << where;
    } else if (step.contains("classify")) {
      const json& c = step["classify"];
      std::map<std::string, std::string> campaign =
          c.value("campaign", json::object()).get<std::map<std::string, std::string>>();
      EXPECT_EQ(ClassifyChannel(campaign, c.value("referrer", ""), c.value("page_host", "")),
                expect["channel"].get<std::string>())
          << where;
    } else if (step.contains("attribute")) {
      const json& a = step["attribute"];
      std::vector<Touch> path;
      for (const auto& t : a["path"])
        path.push_back(Touch{t[0].get<std::string>(), t[1].get<TimeMs>()});
      AttributionOptions opts;
      if (a.contains("lookback")) opts.lookback = ParseDuration(a["lookback"]).value();
      if (a.contains("half_life")) opts.half_life = ParseDuration(a["half_life"]).value();
      opts.collapse_repeats = a.value("collapse_repeats", true);
      auto model = ParseModel(a["model"].get<std::string>());
      ASSERT_TRUE(model.ok()) << where;
      ExpectCredits(Attribute(path, a["at"].get<TimeMs>(), model.value(), opts), expect["credits"],
                    where);
    } else if (step.contains("merge")) {
      auto a = Events(step["merge"]["a"], &counter);
      auto b = Events(step["merge"]["b"], &counter);
      auto merged = MergeLogs(a, b, map.value()->blocked_ids);
      if (expect.contains("error")) {
        ASSERT_FALSE(merged.ok()) << where;
        EXPECT_EQ(merged.error().code, expect["error"].get<std::string>()) << where;
        continue;
      }
      ASSERT_TRUE(merged.ok()) << where << ": " << merged.error().message;
      std::vector<std::string> ids;
      for (const auto& e : merged.value()) ids.push_back(e.id);
      if (expect.contains("order"))
        EXPECT_EQ(ids, expect["order"].get<std::vector<std::string>>()) << where;
      Engine replayed = Engine::Replay(map.value(), merged.value(), options);
      engine = std::move(replayed);
    } else if (step.contains("snapshot_roundtrip")) {
      Engine restored(map.value(), options);
      Status s = restored.Restore(engine.Snapshot());
      ASSERT_TRUE(s.ok()) << where << ": " << s.error().message;
      EXPECT_EQ(restored.Snapshot(), engine.Snapshot()) << where;
      engine = std::move(restored);
    } else if (!step.contains("check")) {
      ADD_FAILURE() << where << ": unknown step " << step.dump();
    }
    if (step.contains("check")) CheckState(engine, step["check"], where);
  }
}

TEST(Vectors, AtLeastThirtySharedVectors) { EXPECT_GE(VectorFiles().size(), 30u); }

TEST(Vectors, EveryVectorPasses) {
  for (const auto& file : VectorFiles()) {
    SCOPED_TRACE(file);
    RunVector(file);
  }
}

}  // namespace
}  // namespace waymark
