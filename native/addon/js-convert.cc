#include "js-convert.h"

#include <cmath>
#include <cstring>
#include <exception>

namespace sluice::addon {
namespace {

void DeleteBlockHint(napi_env, void*, void* hint) {
  delete static_cast<std::shared_ptr<const ByteBlock>*>(hint);
}

}  // namespace

Napi::Error StatusError(Napi::Env env, StatusCode code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, StatusCodeName(code)));
  return error;
}

Napi::Object StatusObject(Napi::Env env, const Status& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("code", Napi::String::New(env, StatusCodeName(s.code())));
  o.Set("message", Napi::String::New(env, s.message()));
  return o;
}

void ThrowIfError(Napi::Env env, const Status& s) {
  if (!s.ok()) throw StatusError(env, s);
}

void ThrowInvalid(Napi::Env env, const std::string& message) {
  throw StatusError(env, StatusCode::INVALID_ARGUMENT, message);
}

int64_t ToInteger(Napi::Env env, Napi::Value value, const char* what, int64_t min, int64_t max) {
  if (!value.IsNumber()) ThrowInvalid(env, std::string(what) + " must be a number");
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d ||
      std::fabs(d) > static_cast<double>(kMaxSafeInteger)) {
    ThrowInvalid(env, std::string(what) + " must be an integer, got " + std::to_string(d));
  }
  const auto i = static_cast<int64_t>(d);
  if (i < min || i > max) {
    ThrowInvalid(env, std::string(what) + " is " + std::to_string(i) + "; expected " +
                          std::to_string(min) + " to " + std::to_string(max));
  }
  return i;
}

double ToNonNegative(Napi::Env env, Napi::Value value, const char* what) {
  if (!value.IsNumber()) ThrowInvalid(env, std::string(what) + " must be a number");
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0) {
    ThrowInvalid(env, std::string(what) + " must be a finite number >= 0");
  }
  return d;
}

std::string FieldName::str() const {
  return std::string(list) + "[" + std::to_string(index) + "]." + field;
}

void ViewBytes(Napi::Env env, Napi::Value value, const FieldName& what, const uint8_t** data,
               size_t* byte_size) {
  void* p = nullptr;
  size_t n = 0;
  if (value.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length;
    napi_status s = napi_get_typedarray_info(env, value, &type, &length, &p, nullptr, nullptr);
    if (s != napi_ok) ThrowInvalid(env, what.str() + ": cannot read the typed array");
    n = value.As<Napi::TypedArray>().ByteLength();
  } else if (value.IsDataView()) {
    napi_status s = napi_get_dataview_info(env, value, &n, &p, nullptr, nullptr);
    if (s != napi_ok) ThrowInvalid(env, what.str() + ": cannot read the DataView");
  } else {
    ThrowInvalid(env, what.str() + " must be a Uint8Array (or another ArrayBufferView)");
  }
  *data = static_cast<const uint8_t*>(p);
  *byte_size = n;
}

size_t ReadShape(Napi::Env env, Napi::Value value, const FieldName& what,
                 std::vector<int64_t>* dims) {
  if (!value.IsArray()) ThrowInvalid(env, what.str() + " must be an array of dims");
  Napi::Array shape = value.As<Napi::Array>();
  const uint32_t rank = shape.Length();
  for (uint32_t i = 0; i < rank; ++i) {
    dims->push_back(
        ToInteger(env, shape.Get(i), "a dim", 0, kMaxSafeInteger));
  }
  return rank;
}

Napi::Array ShapeToJs(Napi::Env env, const int64_t* dims, size_t rank) {
  Napi::Array shape = Napi::Array::New(env, rank);
  for (size_t i = 0; i < rank; ++i) {
    shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(dims[i])));
  }
  return shape;
}

Napi::ArrayBuffer BlockArrayBuffer(Napi::Env env, const std::shared_ptr<const ByteBlock>& owner,
                                   const uint8_t* data, size_t size, const char* what) {
  napi_value ab = nullptr;
  if (size > 0) {
    auto* hint = new std::shared_ptr<const ByteBlock>(owner);
    const napi_status s = napi_create_external_arraybuffer(env, const_cast<uint8_t*>(data), size,
                                                           DeleteBlockHint, hint, &ab);
    if (s == napi_ok) return Napi::ArrayBuffer(env, ab);
    delete hint;
    if (s != napi_no_external_buffers_allowed) {
      throw Napi::Error::New(env, std::string("cannot create ") + what);
    }
  }
  void* dst = nullptr;
  if (napi_create_arraybuffer(env, size, &dst, &ab) != napi_ok) {
    throw Napi::Error::New(env, std::string("cannot create ") + what);
  }
  if (size > 0) std::memcpy(dst, data, size);
  return Napi::ArrayBuffer(env, ab);
}

void CheckTypeTag(const Napi::CallbackInfo& info, const napi_type_tag& tag,
                  const char* class_name) {
  if (!info.This().IsObject() || !info.This().As<Napi::Object>().CheckTypeTag(&tag)) {
    ThrowInvalid(info.Env(), std::string("not a ") + class_name);
  }
}

std::string CurrentExceptionMessage() {
  try {
    throw;
  } catch (const Napi::Error& e) {
    return e.Message();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unexpected native exception";
  }
}

bool StatusCodeFromName(const std::string& name, StatusCode* code) {
#define SLUICE_MATCH_NAME(n, value)  \
  if (name == #n) {                  \
    *code = StatusCode::n;           \
    return true;                     \
  }
  SLUICE_STATUS_CODES(SLUICE_MATCH_NAME)
#undef SLUICE_MATCH_NAME
  return false;
}

}  // namespace sluice::addon
