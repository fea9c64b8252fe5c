// Errors are values in waymark's core: nothing throws out of it, so the wasm build (compiled
// without exceptions) can be fed anything without aborting the module.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace waymark {

/// A machine-readable code (snake_case, stable across versions) and a human message. When the
/// error concerns a document, `message` starts with the path of the bad field, e.g.
/// `transitions[3].when.count.within: expected a duration`.
struct Error {
  std::string code;
  std::string message;
};

/// Either a value or an Error. Deliberately tiny: `ok()`, `value()`, `error()`.
template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : data_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  const T& value() const& { return *std::get_if<0>(&data_); }
  T& value() & { return *std::get_if<0>(&data_); }
  T&& value() && { return std::move(*std::get_if<0>(&data_)); }
  const Error& error() const { return *std::get_if<1>(&data_); }

 private:
  std::variant<T, Error> data_;
};

/// Result of an operation that produces nothing but may fail.
class Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Error MakeError(std::string code, std::string message) {
  return Error{std::move(code), std::move(message)};
}

}  // namespace waymark
