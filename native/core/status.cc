#include "sluice/status.h"

namespace sluice {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
#define SLUICE_STATUS_NAME(name, value) \
  case StatusCode::name:                \
    return #name;
    SLUICE_STATUS_CODES(SLUICE_STATUS_NAME)
#undef SLUICE_STATUS_NAME
  }
  return "UNKNOWN_CODE";  // a number cast into StatusCode from outside the table
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out = StatusCodeName(code_);
  out += ": ";
  out += message_;
  return out;
}

Status InvalidArgument(std::string message) {
  return Status(StatusCode::INVALID_ARGUMENT, std::move(message));
}
Status NotFound(std::string message) { return Status(StatusCode::NOT_FOUND, std::move(message)); }
Status Unavailable(std::string message) {
  return Status(StatusCode::UNAVAILABLE, std::move(message));
}
Status Internal(std::string message) { return Status(StatusCode::INTERNAL, std::move(message)); }

}  // namespace sluice
