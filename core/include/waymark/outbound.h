// Outbound batching: packing queued envelopes into request bodies under a byte cap, so a batch
// always fits the browser's 64 KB keepalive budget (fetch keepalive and sendBeacon).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "waymark/duration.h"

namespace waymark {

constexpr std::size_t kKeepaliveBudget = 64 * 1024;

struct Batches {
  std::vector<std::string> bodies;    ///< `{"sent_at":...,"events":[...]}` each <= max_bytes
  std::vector<std::size_t> counts;    ///< envelopes in each body, in queue order
  std::vector<std::size_t> oversize;  ///< indices of envelopes that cannot fit in any body
};

/// Packs `envelopes` (each a serialized JSON object) in order. `site_key`, when given, is put in
/// the body because sendBeacon cannot set headers. Every envelope ends up in exactly one body or
/// in `oversize`: nothing is dropped silently.
Batches BuildBatches(const std::vector<std::string>& envelopes, std::size_t max_bytes,
                     TimeMs sent_at, const std::string& site_key = "");

}  // namespace waymark
