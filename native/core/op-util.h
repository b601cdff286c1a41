// Small helpers shared by the op implementations (private to native/core).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "op.h"
#include "sluice/dtype.h"
#include "sluice/status.h"

namespace sluice::engine {

// "[2,?,8]": -1 (a dynamic dim) prints as "?".
std::string ShapeString(const Shape& shape);

inline Status Unimplemented(std::string message) {
  return Status(StatusCode::UNIMPLEMENTED, std::move(message));
}

// UNIMPLEMENTED "input <what> dtype <name> not supported" unless t.dtype is one of `ok`.
Status RequireDType(const TensorRef& t, const char* what, std::initializer_list<DType> ok);

// Element count of a shape already validated by the planner (non-negative, no overflow).
int64_t NumElements(const Shape& shape);

// Reads a constant int64 (or int32) 1-D/scalar input, e.g. Reshape's shape or ReduceMean's axes.
// UNIMPLEMENTED if the value is not a constant: the engine plans shapes ahead of a run.
Status ConstInts(const TensorRef& t, const char* what, std::vector<int64_t>* out);

// The single float of a scalar-like constant or run-time input (1 element), e.g. a scale.
Status ScalarFloat(const TensorRef& t, const char* what, float* out);

// Zero point of any of uint8/int8/int32 as int32, element i.
int32_t ZeroPointAt(DType dtype, const void* data, size_t i);

// y = DequantizeLinear(QuantizeLinear(x)) per tensor: the bytes go to q (n of them), the same
// rounding as QuantizeLinearFixed. y may be x. Defined in op-quantize.cc (FakeQuantize).
Status FakeQuantizeF32(const float* x, int64_t n, float scale, int32_t zero_point, bool is_signed,
                       void* q, float* y, ThreadPool* pool);

}  // namespace sluice::engine
