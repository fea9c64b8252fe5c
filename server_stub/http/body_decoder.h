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

/// The one coding a request body is decoded with, from its `Content-Encoding` header and, where
/// the route takes it (`has_param`: POST /v1/batch), the `encoding` query parameter, which
/// stands in for the header because a browser cannot set Content-Encoding on a fetch without a
/// CORS preflight. An empty value or "identity" on either side counts as absent. One side
/// present: its coding. Both present: they must name the same coding ("gzip" and "x-gzip" are
/// one), and the body is decoded once with it (the parameter is never a second layer); codings
/// that differ, or an unknown coding on either side, are 415 unsupported_encoding. Sets
/// *encoding to the chosen coding ("" for none) and returns no problem otherwise.
RequestProblem ChooseEncoding(std::string_view content_encoding, bool has_param,
                              std::string_view param, std::string* encoding);

/// Decodes `raw` as `content_encoding` says ("" or "identity": as sent) into *out, stopping at
/// `max_bytes`. On failure returns the problem to answer: 413 payload_too_large (over the cap),
/// 400 unreadable_body (corrupt or truncated data), 415 unsupported_encoding.
RequestProblem DecodeBody(std::string_view content_encoding, std::string_view raw,
                          std::size_t max_bytes, std::string* out);

}  // namespace waymark::collector
