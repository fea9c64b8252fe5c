// `waymark-collector compile-map IN.json OUT.wmap`: compiles a journey map offline (the form the
// collector serves browsers, waymark/compiled_map.h), with the core's path-precise errors. The
// project uses it for core/maps/default.wmap, the default map the browser engine embeds.
#pragma once

namespace waymark::collector {

/// Runs the command on argv[2..]; returns the process exit code (0, 1 refused map, 2 usage).
int RunCompileMap(int argc, char** argv);

}  // namespace waymark::collector
