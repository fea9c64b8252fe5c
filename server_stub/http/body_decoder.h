// Request body decoding (Content-Encoding gzip, deflate, br) with a cap on what comes out, so a
// compression bomb stops at the cap instead of filling memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/http_message.h"

namespace waymark::collector {

/// True for no Content-Encoding or "identity": the body is used as sent.
bool IsIdentityEncoding(std::string_view content_encoding);

/// Decodes `raw` as `content_encoding` says ("" or "identity": as sent) into *out, stopping at
/// `max_bytes`. On failure returns the problem to answer: 413 payload_too_large (over the cap),
/// 400 unreadable_body (corrupt or truncated data), 415 unsupported_encoding.
RequestProblem DecodeBody(std::string_view content_encoding, std::string_view raw,
                          std::size_t max_bytes, std::string* out);

}  // namespace waymark::collector
