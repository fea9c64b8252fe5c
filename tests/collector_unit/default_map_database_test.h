// A test fixture with an in-memory collector database (migrated) and the default journey map:
// what the tests of stored journeys (projection, reports, journey context) start from.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "storage/database.h"
#include "storage/schema.h"
#include "waymark/default_map.h"
#include "waymark/journey_map.h"

namespace waymark::collector {

class DefaultMapDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(db_.Open(":memory:", false).has_value());
    ASSERT_FALSE(MigrateSchema(db_).has_value());
    auto parsed = ParseJourneyMap(DefaultMapJson());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    map_ = parsed.value();
  }

  Database db_;
  std::shared_ptr<const JourneyMap> map_;
};

}  // namespace waymark::collector
