# The collector benchmark (bench/collector_bench.cpp): the real waymark-collector under load
# (closed-loop throughput, open-loop p99 at half that rate, 2 000 browsers on their own
# connections) against raw SQLite and a hello-world cpp-httplib server. Included from
# bench/CMakeLists.txt:
#
#   include(${CMAKE_CURRENT_LIST_DIR}/collector_bench.cmake)
#
# scripts/bench.sh runs it after the core benchmark; figures are reported, not asserted.
find_package(PkgConfig REQUIRED)
# Debian builds cpp-httplib as a shared library with no CMake package (TOOLCHAIN.md). Imported
# targets are local to a directory, so this directory asks for its own PkgConfig::HTTPLIB; its
# compile flags (OpenSSL, zlib, brotli) make the header match the library.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_package(SQLite3 REQUIRED)
find_package(Threads REQUIRED)

add_executable(waymark_collector_bench "${CMAKE_CURRENT_LIST_DIR}/collector_bench.cpp")
target_link_libraries(waymark_collector_bench PRIVATE PkgConfig::HTTPLIB SQLite::SQLite3
  Threads::Threads)
target_compile_options(waymark_collector_bench PRIVATE -Wall -Wextra)
if(TARGET waymark-collector)
  # The benchmark runs the collector binary: build it too, and default to its real location.
  add_dependencies(waymark_collector_bench waymark-collector)
  target_compile_definitions(waymark_collector_bench PRIVATE
    "WAYMARK_COLLECTOR_DEFAULT_PATH=\"$<TARGET_FILE:waymark-collector>\"")
endif()
