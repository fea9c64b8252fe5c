// `waymark-collector rollups verify|rebuild [--db LOCATION]`: checks the rollups the reports read
// against a recount of the stored rows (verify changes nothing), or recounts them (rebuild). An
// operator's tool after a restore from backup or a manual edit of the journey tables, and the
// collector tests' proof that ingestion and projection keep the rollups exact.
#pragma once

namespace waymark::collector {

/// Runs the command on argv[2..]; returns the process exit code (0 agree or rebuilt, 1 differ or
/// failed, 2 usage).
int RunRollups(int argc, char** argv);

}  // namespace waymark::collector
