// Private helpers of the reference kernels (native/cpu/ref-*.cc): checked element counts, a
// broadcast walker shared by Binary, ReduceMean, Transpose, MatMul's batch dims and Gemm's C,
// and 8-bit quantized value helpers.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sluice/dtype.h"
#include "sluice/status.h"

namespace sluice::kernels::internal {

// "[2,3,4]" for error messages.
std::string ShapeString(const Shape& shape);

// Element count of `shape` (each dim >= 0, product fits int64 and, in bytes of `elem_size`,
// size_t), or INVALID_ARGUMENT naming `what` ("Concat input 2").
Status CheckedCount(const Shape& shape, size_t elem_size, const char* what, int64_t* count);

// Product of shape[begin, end); the caller has already checked the whole shape with
// CheckedCount, so no partial product can overflow.
int64_t DimProduct(const Shape& shape, size_t begin, size_t end);

// Row-major walk of an output shape with the flat element offsets of inputs that broadcast to
// it (numpy rules). Dims are collapsed where every input is contiguous across them, so
// same-shape operands become one row and [N,C] + [C] becomes N rows of C.
struct BroadcastPlan {
  Shape dims;                                // collapsed output dims; at least one
  std::vector<std::vector<int64_t>> strides;  // [input][dim]: elements; 0 where broadcast
};

// Plans the walk of `out` (an already validated broadcast of every input: same or lower rank,
// each dim equal to out's or 1) for `inputs`. INVALID_ARGUMENT if an input does not broadcast.
Status PlanBroadcast(const Shape& out, const std::vector<const Shape*>& inputs, BroadcastPlan* plan);

// Calls row(offsets, out_offset, length, inner_strides) for each innermost row of the plan in
// row-major order: offsets[k] is input k's element offset of the row's first element,
// inner_strides[k] its step along the row, out_offset the output's (dense) offset. `row`
// returns false to stop the walk; ForEachRow then returns false. No call for zero-size outputs.
template <typename RowFn>
bool ForEachRow(const BroadcastPlan& plan, RowFn&& row) {
  const size_t rank = plan.dims.size();
  const size_t inputs = plan.strides.size();
  for (int64_t d : plan.dims) {
    if (d == 0) return true;
  }
  const int64_t length = plan.dims[rank - 1];
  std::vector<int64_t> inner(inputs), offsets(inputs, 0), index(rank, 0);
  for (size_t k = 0; k < inputs; ++k) inner[k] = plan.strides[k][rank - 1];
  int64_t out_offset = 0;
  while (true) {
    if (!row(offsets.data(), out_offset, length, inner.data())) return false;
    out_offset += length;
    // Odometer over the outer dims (all but the last).
    size_t d = rank - 1;
    while (true) {
      if (d == 0) return true;
      --d;
      ++index[d];
      for (size_t k = 0; k < inputs; ++k) offsets[k] += plan.strides[k][d];
      if (index[d] < plan.dims[d]) break;
      for (size_t k = 0; k < inputs; ++k) offsets[k] -= plan.strides[k][d] * plan.dims[d];
      index[d] = 0;
    }
  }
}

// ---- 8-bit quantized values (kUint8 / kInt8), moved through int32 ------------------------------

// Representable range of a quantized type; false for any type other than kUint8 / kInt8.
inline bool QuantRange(DType type, int32_t* lo, int32_t* hi) {
  if (type == DType::kUint8) {
    *lo = 0;
    *hi = 255;
    return true;
  }
  if (type == DType::kInt8) {
    *lo = -128;
    *hi = 127;
    return true;
  }
  return false;
}

// Element i of a kUint8 (else kInt8) buffer.
inline int32_t LoadQuant(DType type, const void* p, size_t i) {
  return type == DType::kUint8 ? static_cast<const uint8_t*>(p)[i] : static_cast<const int8_t*>(p)[i];
}

// Stores v (already within QuantRange) as element i of a kUint8 (else kInt8) buffer.
inline void StoreQuant(DType type, void* p, size_t i, int32_t v) {
  if (type == DType::kUint8) {
    static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v);
  } else {
    static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v);
  }
}

// round_half_even(v) + zero_point saturated to [lo, hi], in double so that no value of v (huge,
// infinite) overflows an integer. NaN maps to zero_point (numpy leaves it undefined).
inline int32_t RoundAddSaturate(double v, int32_t zero_point, int32_t lo, int32_t hi) {
  if (std::isnan(v)) return zero_point;
  const double r = std::nearbyint(v) + zero_point;  // default rounding mode: ties to even
  if (r <= lo) return lo;
  if (r >= hi) return hi;
  return static_cast<int32_t>(r);
}

}  // namespace sluice::kernels::internal
