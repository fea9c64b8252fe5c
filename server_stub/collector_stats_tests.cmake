# Unit tests of the stats reports and their rollups, the journey context and the dashboard endpoints, included from
# server_stub/CMakeLists.txt. They need only SQLite (in-memory databases) and the core, both
# reached through waymark_collector_lib.
if(NOT WAYMARK_BUILD_TESTS)
  return()
endif()

set(WAYMARK_STATS_TEST_SOURCES
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/stats_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/journey_context_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/dashboard_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/report_csv_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/segments_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/map_errors_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/rollups_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/http_layer_test.cpp")

list(APPEND WAYMARK_COLLECTOR_UNIT_TEST_SOURCES ${WAYMARK_STATS_TEST_SOURCES})
# The list is read when the unit-test target is created; a fragment included before this one may
# already have created it, so join the target directly in that case (one binary either way).
if(TARGET waymark_collector_unit_tests)
  target_sources(waymark_collector_unit_tests PRIVATE ${WAYMARK_STATS_TEST_SOURCES})
endif()
