#include "op-util.h"

namespace sluice::engine {

std::string ShapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ",";
    s += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return s + "]";
}

Status RequireDType(const TensorRef& t, const char* what, std::initializer_list<DType> ok) {
  for (DType d : ok) {
    if (t.dtype == d) return Status::Ok();
  }
  return Unimplemented(std::string("input ") + what + " dtype " + DTypeName(t.dtype) +
                       " not supported");
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Status ConstInts(const TensorRef& t, const char* what, std::vector<int64_t>* out) {
  if (t.data == nullptr) return Unimplemented(std::string("input ") + what + " must be a constant");
  if (t.shape->size() > 1) return InvalidArgument(std::string("input ") + what + " must be 1-D");
  const int64_t n = NumElements(*t.shape);
  out->resize(static_cast<size_t>(n));
  if (t.dtype == DType::kInt64) {
    const int64_t* v = static_cast<const int64_t*>(t.data);
    for (int64_t i = 0; i < n; ++i) (*out)[i] = v[i];
  } else if (t.dtype == DType::kInt32) {
    const int32_t* v = static_cast<const int32_t*>(t.data);
    for (int64_t i = 0; i < n; ++i) (*out)[i] = v[i];
  } else {
    return InvalidArgument(std::string("input ") + what + " must be int64, got " +
                           DTypeName(t.dtype));
  }
  return Status::Ok();
}

Status ScalarFloat(const TensorRef& t, const char* what, float* out) {
  if (t.dtype != DType::kFloat) {
    return Unimplemented(std::string("input ") + what + " dtype " + DTypeName(t.dtype) +
                         " not supported");
  }
  if (NumElements(*t.shape) != 1) {
    return InvalidArgument(std::string("input ") + what + " must have one element, has shape " +
                           ShapeString(*t.shape));
  }
  *out = *static_cast<const float*>(t.data);
  return Status::Ok();
}

int32_t ZeroPointAt(DType dtype, const void* data, size_t i) {
  if (data == nullptr) return 0;
  switch (dtype) {
    case DType::kUint8: return static_cast<const uint8_t*>(data)[i];
    case DType::kInt8: return static_cast<const int8_t*>(data)[i];
    case DType::kInt32: return static_cast<const int32_t*>(data)[i];
    default: return 0;
  }
}

}  // namespace sluice::engine
