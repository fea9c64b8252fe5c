// Content codings of answers: whether a client takes one, and gzip for answers worth compressing
// (request bodies are decoded in body_decoder.h; static files come with precompressed siblings).
#pragma once

#include <optional>
#include <string>

namespace waymark::collector {

/// Whether `accept_encoding` (an Accept-Encoding value) takes `coding` ("gzip", "br"); q=0 is no.
bool AcceptsCoding(const std::string& accept_encoding, const char* coding);

/// `text` gzip-compressed (best compression: done once per document, served many times);
/// nullopt when zlib fails.
std::optional<std::string> GzipEncode(const std::string& text);

}  // namespace waymark::collector
