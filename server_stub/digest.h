// Hex digests: key hashes (storage/project_store.h), webhook delivery ids and hashed addresses.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace waymark::collector {

/// Lowercase hex of `size` bytes.
std::string HexBytes(const unsigned char* data, std::size_t size);

/// Lowercase hex SHA-256 of `text` (64 digits).
std::string Sha256Hex(std::string_view text);

}  // namespace waymark::collector
