#include "compile_map_command.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "waymark/compiled_map.h"
#include "waymark/journey_map.h"

namespace waymark::collector {

int RunCompileMap(int argc, char** argv) {
  if (argc != 4) {
    std::fputs("usage: waymark-collector compile-map IN.json OUT.wmap\n", stderr);
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "compile-map: cannot read %s\n", argv[2]);
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto map = ParseJourneyMap(text.str());
  if (!map) {
    std::fprintf(stderr, "compile-map: %s: %s\n", argv[2], map.error().message.c_str());
    return 1;
  }
  const std::string bytes = CompileMap(*map.value());
  std::ofstream out(argv[3], std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) {
    std::fprintf(stderr, "compile-map: cannot write %s\n", argv[3]);
    return 1;
  }
  std::printf("compile-map: %s -> %s (%zu bytes, map %s version %lld)\n", argv[2], argv[3],
              bytes.size(), map.value()->id.c_str(), static_cast<long long>(map.value()->version));
  return 0;
}

}  // namespace waymark::collector
