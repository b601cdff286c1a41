// Element types of the native engine. The values ARE ONNX's TensorProto.DataType numbers, so the
// TS importer passes src/runtime/datatypes.ts's `onnx` column through unchanged (one source).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

enum class DType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBfloat16 = 16,
};

// Bytes per element; 0 for kString and kUndefined (and any value outside the enum).
size_t DTypeSize(DType t);
// "float", "int8", ... (ONNX's names); "undefined" for anything else. Static storage.
const char* DTypeName(DType t);

// Dimensions of a tensor, outermost first. A scalar has no dims.
using Shape = std::vector<int64_t>;

// Product of dims; false (and *out untouched) if a dim is negative or the product overflows
// int64 or SIZE_MAX / elem_size - shapes come from models and clients, so this is checked.
bool ElementCount(const Shape& shape, size_t elem_size, int64_t* out);

}  // namespace sluice
