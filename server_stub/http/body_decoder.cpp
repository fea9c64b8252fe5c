#include "http/body_decoder.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <cctype>
#include <memory>

namespace waymark::collector {

namespace {

RequestProblem TooLarge(std::size_t max_bytes) {
  return {413, "payload_too_large",
          "body: more than " + std::to_string(max_bytes) + " bytes after decompression"};
}

RequestProblem Unreadable(const std::string& encoding) {
  return {400, "unreadable_body",
          "body: not valid " + encoding + " data (corrupt or truncated); nothing was stored"};
}

// gzip and zlib ("deflate" in HTTP) both: windowBits 15 + 32 detects the header.
RequestProblem Inflate(std::string_view raw, std::size_t max_bytes, const std::string& encoding,
                       std::string* out) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return {500, "internal", "zlib: cannot initialise"};
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  char chunk[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) return Unreadable(encoding);
    const std::size_t n = sizeof(chunk) - zs.avail_out;
    if (out->size() + n > max_bytes) return TooLarge(max_bytes);
    out->append(chunk, n);
    // Input used up without the end marker: truncated (inflate would only ask for more).
    if (rc == Z_OK && zs.avail_in == 0 && n == 0) return Unreadable(encoding);
  }
  if (zs.avail_in != 0) return Unreadable(encoding);  // bytes after the end of the stream
  return {};
}

RequestProblem Unbrotli(std::string_view raw, std::size_t max_bytes, std::string* out) {
  std::unique_ptr<BrotliDecoderState, void (*)(BrotliDecoderState*)> state(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), BrotliDecoderDestroyInstance);
  if (!state) return {500, "internal", "brotli: cannot initialise"};
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(raw.data());
  std::size_t avail_in = raw.size();
  uint8_t chunk[16384];
  for (;;) {
    uint8_t* next_out = chunk;
    std::size_t avail_out = sizeof(chunk);
    const BrotliDecoderResult rc = BrotliDecoderDecompressStream(state.get(), &avail_in, &next_in,
                                                                 &avail_out, &next_out, nullptr);
    const std::size_t n = sizeof(chunk) - avail_out;
    if (out->size() + n > max_bytes) return TooLarge(max_bytes);
    out->append(reinterpret_cast<const char*>(chunk), n);
    if (rc == BROTLI_DECODER_RESULT_SUCCESS) {
      return avail_in == 0 ? RequestProblem{} : Unreadable("br");
    }
    if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) continue;
    return Unreadable("br");  // an error, or the input ended before the stream did
  }
}

}  // namespace

namespace {

std::string Normalized(std::string_view content_encoding) {
  std::string encoding;
  for (char c : content_encoding) {
    if (c != ' ' && c != '\t') {
      encoding.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return encoding;
}

}  // namespace

bool IsIdentityEncoding(std::string_view content_encoding) {
  const std::string encoding = Normalized(content_encoding);
  return encoding.empty() || encoding == "identity";
}

namespace {

bool IsKnownCoding(const std::string& normalized) {
  return normalized == "gzip" || normalized == "x-gzip" || normalized == "deflate" ||
         normalized == "br";
}

// "x-gzip" is gzip's old name: one coding.
std::string Canonical(const std::string& normalized) {
  return normalized == "x-gzip" ? "gzip" : normalized;
}

RequestProblem Unsupported(const std::string& where, std::string_view value,
                           const std::string& after = "") {
  return {415, "unsupported_encoding",
          where + std::string(value.substr(0, 40)) + after +
              " is not supported; send gzip, deflate, br or no encoding"};
}

}  // namespace

RequestProblem ChooseEncoding(std::string_view content_encoding, bool has_param,
                              std::string_view param, std::string* encoding) {
  encoding->clear();
  const std::string header =
      IsIdentityEncoding(content_encoding) ? "" : Normalized(content_encoding);
  const std::string query = !has_param || IsIdentityEncoding(param) ? "" : Normalized(param);
  if (!header.empty() && !IsKnownCoding(header)) {
    return Unsupported("Content-Encoding: ", content_encoding);
  }
  if (!query.empty() && !IsKnownCoding(query)) {
    return Unsupported("encoding=", param, " (query parameter)");
  }
  if (!header.empty() && !query.empty() && Canonical(header) != Canonical(query)) {
    return {415, "unsupported_encoding",
            "Content-Encoding: " + header + " and encoding=" + query +
                " disagree; a body is decoded once: name its coding in one of them, or the same "
                "in both"};
  }
  *encoding = header.empty() ? query : header;
  return {};
}

RequestProblem DecodeBody(std::string_view content_encoding, std::string_view raw,
                          std::size_t max_bytes, std::string* out) {
  out->clear();
  const std::string encoding = Normalized(content_encoding);
  if (encoding.empty() || encoding == "identity") {
    if (raw.size() > max_bytes) return TooLarge(max_bytes);
    out->assign(raw);
    return {};
  }
  if (encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate") {
    return Inflate(raw, max_bytes, encoding, out);
  }
  if (encoding == "br") return Unbrotli(raw, max_bytes, out);
  return {415, "unsupported_encoding",
          "Content-Encoding: " + std::string(content_encoding).substr(0, 40) +
              " is not supported; send gzip, deflate, br or no encoding"};
}

}  // namespace waymark::collector
