// Status: the error type of the native core. Nothing an input or a driver can cause aborts the
// process; it comes back as a Status and the addon turns it into a JS error with the same code.
#pragma once

#include <string>
#include <utility>

namespace sluice {

// gRPC canonical codes. The numbers are a wire contract shared with src/runtime/status.ts
// (STATUS_TABLE); native/tests/status-test.cc reads that file and fails if they drift.
#define SLUICE_STATUS_CODES(X) \
  X(OK, 0)                     \
  X(CANCELLED, 1)              \
  X(UNKNOWN, 2)                \
  X(INVALID_ARGUMENT, 3)       \
  X(DEADLINE_EXCEEDED, 4)      \
  X(NOT_FOUND, 5)              \
  X(ALREADY_EXISTS, 6)         \
  X(PERMISSION_DENIED, 7)      \
  X(RESOURCE_EXHAUSTED, 8)     \
  X(FAILED_PRECONDITION, 9)    \
  X(ABORTED, 10)               \
  X(OUT_OF_RANGE, 11)          \
  X(UNIMPLEMENTED, 12)         \
  X(INTERNAL, 13)              \
  X(UNAVAILABLE, 14)           \
  X(DATA_LOSS, 15)             \
  X(UNAUTHENTICATED, 16)

enum class StatusCode : int {
#define SLUICE_STATUS_ENUM(name, value) name = value,
  SLUICE_STATUS_CODES(SLUICE_STATUS_ENUM)
#undef SLUICE_STATUS_ENUM
};

// "INVALID_ARGUMENT" etc.; "UNKNOWN_CODE" for a number outside the table. Static storage.
const char* StatusCodeName(StatusCode code);

// A code and a message. Cheap to move; OK carries no message. Not thread-safe to mutate,
// safe to read from several threads.
class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::OK; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK" or "NOT_FOUND: model 'x' has no version 3".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::OK;
  std::string message_;
};

// Constructors for the codes the core uses most; the rest go through Status(code, message).
Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status Unavailable(std::string message);
Status Internal(std::string message);

}  // namespace sluice

// Evaluates `expr` (a Status) once and returns it from the enclosing function unless it is OK.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::sluice::Status sluice_status_ = (expr);              \
    if (!sluice_status_.ok()) return sluice_status_;       \
  } while (false)
