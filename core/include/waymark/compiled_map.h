// The compiled journey map: a parsed JourneyMap as compact, versioned, checksummed bytes. The
// core compiles a JSON map once (ParseJourneyMap keeps its path-precise errors); the collector
// serves the bytes and browsers load them without a JSON parser. Compile and load are the same
// code natively and in wasm; tests/core/compiled_map_test.cpp checks both builds produce the same
// bytes for every shared vector's map.
//
// Layout: "WMAP", u8 format version, u64 FNV-1a of the payload, payload. Payload numbers are
// LEB128 (signed ones zigzagged), doubles 8 bytes little-endian, strings a length then UTF-8.
// The document text (JourneyMap::source) is not part of it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "waymark/journey_map.h"
#include "waymark/result.h"

namespace waymark {

/// The format version written by CompileMap; LoadCompiledMap refuses any other.
constexpr std::uint8_t kCompiledMapVersion = 1;

/// The map as compiled bytes.
std::string CompileMap(const JourneyMap& map);

/// Whether `bytes` start like a compiled map (they may still be damaged).
bool LooksCompiled(std::string_view bytes);

/// Loads compiled bytes. Errors: `map_corrupt` (bad magic, checksum, truncation, or references
/// that do not hold: the message says which), `map_version` (another format version).
Result<std::shared_ptr<const JourneyMap>> LoadCompiledMap(std::string_view bytes);

/// FNV-1a 64 of `bytes` (the payload checksum; tests name compiled maps by it).
std::uint64_t Fnv1a64(std::string_view bytes);

}  // namespace waymark
