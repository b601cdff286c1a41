#include "sluice/dtype.h"

#include <limits>

namespace sluice {

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kFloat: case DType::kInt32: case DType::kUint32: return 4;
    case DType::kUint8: case DType::kInt8: case DType::kBool: return 1;
    case DType::kUint16: case DType::kInt16: case DType::kFloat16: case DType::kBfloat16: return 2;
    case DType::kInt64: case DType::kDouble: case DType::kUint64: return 8;
    default: return 0;
  }
}

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kFloat: return "float";
    case DType::kUint8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kUint16: return "uint16";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kString: return "string";
    case DType::kBool: return "bool";
    case DType::kFloat16: return "float16";
    case DType::kDouble: return "double";
    case DType::kUint32: return "uint32";
    case DType::kUint64: return "uint64";
    case DType::kBfloat16: return "bfloat16";
    default: return "undefined";
  }
}

bool ElementCount(const Shape& shape, size_t elem_size, int64_t* out) {
  const uint64_t byte_limit = std::numeric_limits<size_t>::max() / (elem_size == 0 ? 1 : elem_size);
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / static_cast<uint64_t>(d)) return false;
    n *= static_cast<uint64_t>(d);
  }
  if (n > byte_limit) return false;
  *out = static_cast<int64_t>(n);
  return true;
}

}  // namespace sluice
