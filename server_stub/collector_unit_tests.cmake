# Unit tests of the collector's metrics and webhook sender. Included from server_stub/CMakeLists.txt
# after it defines waymark_collector_lib (every server_stub/*.cpp except main.cpp), whose PUBLIC
# links (httplib, OpenSSL, SQLite, threads) the tests use too. The tests start their own loopback
# receivers and temporary SQLite files, so no running collector is needed.
if(NOT WAYMARK_BUILD_TESTS)
  return()
endif()

find_package(GTest REQUIRED)
# The root calls enable_testing() after add_subdirectory(server_stub); without this call here the
# add_test below would be dropped (ctest: "No tests were found").
enable_testing()

set(WAYMARK_WEBHOOK_METRICS_TEST_SOURCES
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/metrics_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/webhooks_test.cpp"
  "${CMAKE_CURRENT_LIST_DIR}/../tests/collector_unit/throttled_log_test.cpp")

# Another fragment may have created the target first; then these sources join it, so the
# collector keeps one unit-test binary whichever fragment comes first.
if(TARGET waymark_collector_unit_tests)
  target_sources(waymark_collector_unit_tests PRIVATE ${WAYMARK_WEBHOOK_METRICS_TEST_SOURCES})
else()
  add_executable(waymark_collector_unit_tests
    ${WAYMARK_WEBHOOK_METRICS_TEST_SOURCES} ${WAYMARK_COLLECTOR_UNIT_TEST_SOURCES})
  target_link_libraries(waymark_collector_unit_tests PRIVATE waymark_collector_lib
    GTest::gtest_main)
  add_test(NAME waymark_collector_unit_tests COMMAND waymark_collector_unit_tests)
endif()
