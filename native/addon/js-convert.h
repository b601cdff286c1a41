// Small conversions shared by the batcher bindings: JS errors with a gRPC code name, checked
// numbers (Number.isInteger semantics, never truthiness), typed-array views and shapes,
// ArrayBuffers over native byte blocks, and the wraps' type-tag check.
// JS-thread only (each call takes the Napi::Env of the calling thread).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/batch-tensors.h"
#include "sluice/status.h"

namespace sluice::addon {

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1 (Number.MAX_SAFE_INTEGER)

inline Napi::Number Num(Napi::Env env, int64_t v) {
  return Napi::Number::New(env, static_cast<double>(v));
}
inline Napi::Number Num(Napi::Env env, uint64_t v) {
  return Napi::Number::New(env, static_cast<double>(v));
}

// A JS Error with `.code` set to the gRPC code name (see src/runtime/status.ts).
Napi::Error StatusError(Napi::Env env, StatusCode code, const std::string& message);
inline Napi::Error StatusError(Napi::Env env, const Status& s) {
  return StatusError(env, s.code(), s.message());
}
// A plain {code, message} object (the NativeError of src/native/binding.ts): what the addon
// returns, rather than throws, for outcomes that are answers to a request (a refusal, a failed
// request): no exception and no stack trace to build.
Napi::Object StatusObject(Napi::Env env, const Status& s);
// Throws StatusError for a non-OK status (C++ exception; node-addon-api turns it into JS).
void ThrowIfError(Napi::Env env, const Status& s);
[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& message);

// `value` as an integer in [min, max]; throws INVALID_ARGUMENT naming `what` otherwise.
// Numbers past 2^53 are refused (they are not exact).
int64_t ToInteger(Napi::Env env, Napi::Value value, const char* what, int64_t min, int64_t max);
// `value` as a finite number >= 0; throws INVALID_ARGUMENT naming `what` otherwise.
double ToNonNegative(Napi::Env env, Napi::Value value, const char* what);
// Names a field in messages, built only when there is an error: "<list>[<index>].<field>".
struct FieldName {
  const char* list;
  uint32_t index;
  const char* field;
  std::string str() const;
};

// The bytes of an ArrayBufferView (any TypedArray, Buffer or DataView); throws otherwise.
void ViewBytes(Napi::Env env, Napi::Value value, const FieldName& what, const uint8_t** data,
               size_t* byte_size);
// Appends an array of non-negative integer dims to *dims; returns its length (the rank).
size_t ReadShape(Napi::Env env, Napi::Value value, const FieldName& what,
                 std::vector<int64_t>* dims);
Napi::Array ShapeToJs(Napi::Env env, const int64_t* dims, size_t rank);

// An ArrayBuffer over `size` bytes at `data`, which `owner` keeps alive: external, holding a
// reference on `owner` until the buffer is collected, or a copy where the runtime does not allow
// external buffers. Throws Napi::Error naming `what` ("an output buffer").
Napi::ArrayBuffer BlockArrayBuffer(Napi::Env env, const std::shared_ptr<const ByteBlock>& owner,
                                   const uint8_t* data, size_t size, const char* what);

// Throws INVALID_ARGUMENT "not a <class_name>" unless `this` carries `tag` (a method called on
// another object, e.g. through Function.prototype.call).
void CheckTypeTag(const Napi::CallbackInfo& info, const napi_type_tag& tag,
                  const char* class_name);

// The message of the exception being handled; call only inside a catch block.
std::string CurrentExceptionMessage();

// The code whose name is `name` ("UNAVAILABLE"); false if there is none.
bool StatusCodeFromName(const std::string& name, StatusCode* code);

// Runs `fn` (a JS-thread binding body) and turns C++ standard exceptions into JS errors, so
// none escapes into Node-API (node-addon-api only converts Napi::Error).
template <typename Fn>
auto Guarded(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw StatusError(env, StatusCode::RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    throw StatusError(env, StatusCode::INTERNAL, e.what());
  } catch (...) {
    throw StatusError(env, StatusCode::INTERNAL, "unexpected native exception");
  }
}

}  // namespace sluice::addon
