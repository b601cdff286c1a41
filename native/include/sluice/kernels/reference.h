// Reference (generic, scalar) kernels of the native engine's operators: the ground truth that
// every SIMD variant and backend is tested against, and the path for ops with no fast variant.
// Plain functions over raw buffers: no graph, no allocation of outputs, no threads. The caller
// (the engine) infers shapes with the *Shape helpers below, allocates `out` and checks dtypes
// before calling; the kernels still check what they rely on and return INVALID_ARGUMENT (naming
// the problem) instead of reading or writing out of bounds.
//
// Semantics follow the ONNX operator specs (onnx/docs/Operators.md) at the opsets noted.
// Layout: dense row-major; `Shape` dims outermost first. Axes may be negative (counted from the
// end) wherever ONNX allows it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sluice/dtype.h"
#include "sluice/status.h"

namespace sluice::kernels {

// ---- shape helpers (shared by shape inference and kernels) ----------------------------------

// Multidirectional (numpy) broadcast of a and b.
Status BroadcastShapes(const Shape& a, const Shape& b, Shape* out);
// Output shape of numpy matmul (1-D operands promoted then squeezed; leading dims broadcast).
Status MatMulShape(const Shape& a, const Shape& b, Shape* out);
// Resolves a possibly negative axis against `rank` (accepts [-rank, rank)); false if out of range.
bool NormalizeAxis(int64_t axis, int64_t rank, int64_t* out);

// ---- elementwise ----------------------------------------------------------------------------

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow };
// out = a OP b with numpy broadcasting; out has BroadcastShapes(a_shape, b_shape) elements.
// dtype kFloat for every op; kInt32/kInt64 for Add/Sub/Mul/Div (integer Div truncates toward
// zero; a zero divisor is INVALID_ARGUMENT, as is INT_MIN / -1). Pow: kFloat base and exponent.
Status Binary(BinaryOp op, DType dtype, const void* a, const Shape& a_shape, const void* b,
              const Shape& b_shape, void* out);

enum class UnaryOp {
  kIdentity, kRelu, kLeakyRelu /* alpha */, kSigmoid, kTanh, kSqrt, kErf,
  kGelu /* 0.5x(1+erf(x/sqrt2)) */, kGeluTanh /* tanh approximation */, kExp, kNeg
};
// out[i] = op(x[i]) for n floats; `alpha` is used by kLeakyRelu only. x == out is allowed.
Status UnaryF32(UnaryOp op, const float* x, size_t n, float alpha, float* out);

// ---- normalisation and reductions -----------------------------------------------------------

// Softmax (opset 13): over the single axis `axis`, numerically stable (max subtracted).
Status Softmax(const float* x, const Shape& shape, int64_t axis, float* out);

// LayerNormalization (opset 17): normalises over dims [axis, rank). scale (required) and bias
// (nullable) have the shape of those dims (already broadcast by the caller). mean and inv_std_dev
// (nullable) receive one value per normalised group (shape: dims [0, axis) followed by ones).
Status LayerNorm(const float* x, const Shape& shape, int64_t axis, float epsilon, const float* scale,
                 const float* bias, float* out, float* mean, float* inv_std_dev);

// ReduceMean (opset 18: axes as an input). Empty `axes` reduces all dims unless
// noop_with_empty_axes, which copies x. Writes the output shape to *out_shape (may be computed
// first with out == nullptr: then nothing else is written).
Status ReduceMean(const float* x, const Shape& shape, const std::vector<int64_t>& axes, bool keepdims,
                  bool noop_with_empty_axes, float* out, Shape* out_shape);

// ---- data movement (any dtype with a nonzero DTypeSize) -------------------------------------

// Transpose with `perm` (a permutation of [0, rank); empty = reverse the dims).
Status Transpose(DType dtype, const void* x, const Shape& shape, const std::vector<int64_t>& perm,
                 void* out);
// Concat along `axis`; all inputs have the same rank and equal dims except along axis.
Status Concat(DType dtype, const std::vector<const void*>& xs, const std::vector<Shape>& shapes,
              int64_t axis, void* out);
// Gather (opset 13) along `axis` with kInt32 or kInt64 indices (negative indices count from the
// end; out of range is INVALID_ARGUMENT naming the index). Output shape: data[:axis] + indices +
// data[axis+1:].
Status Gather(DType dtype, const void* data, const Shape& data_shape, DType index_type,
              const void* indices, const Shape& indices_shape, int64_t axis, void* out);

// ---- linear algebra (float reference) -------------------------------------------------------

// MatMul (opset 13), numpy semantics: batched, leading dims broadcast, 1-D operands promoted.
Status MatMulF32(const float* a, const Shape& a_shape, const float* b, const Shape& b_shape, float* out);
// Gemm (opset 13): Y[M,N] = alpha * op(A) * op(B) + beta * C, op = transpose if trans_*. A and B
// are 2-D; C (nullable) is unidirectionally broadcastable to [M, N].
Status GemmF32(const float* a, const Shape& a_shape, bool trans_a, const float* b, const Shape& b_shape,
               bool trans_b, const float* c, const Shape& c_shape, float alpha, float beta, float* out);

// ---- quantisation (opset 13 / 21 semantics for uint8 and int8) ------------------------------

// y = saturate(round_half_even(x / scale) + zero_point). scale and zero_point hold `params`
// values: 1 (per tensor) or shape[axis] (per axis). zero_point nullable (0); y_type kUint8/kInt8.
Status QuantizeLinear(const float* x, const Shape& shape, const float* scale, const void* zero_point,
                      size_t params, int64_t axis, DType y_type, void* y);
// y = (x - zero_point) * scale; x_type kUint8, kInt8 or kInt32 (kInt32: zero_point must be 0/null).
Status DequantizeLinear(DType x_type, const void* x, const Shape& shape, const float* scale,
                        const void* zero_point, size_t params, int64_t axis, float* y);
// DynamicQuantizeLinear (opset 11): uint8 y, scalar scale and zero point from min/max of x
// (range extended to include 0).
Status DynamicQuantizeLinear(const float* x, size_t n, uint8_t* y, float* scale, uint8_t* zero_point);
// MatMulInteger (opset 10): int32 out = (A - a_zp)(B - b_zp), numpy matmul semantics. A and B are
// kUint8 or kInt8. a_zp: nullable, a_zp_count 1 (scalar) or rows of A (per row, 2-D A only);
// b_zp: nullable, b_zp_count 1 or columns of B (per column).
Status MatMulInteger(DType a_type, const void* a, const Shape& a_shape, const void* a_zp, size_t a_zp_count,
                     DType b_type, const void* b, const Shape& b_shape, const void* b_zp, size_t b_zp_count,
                     int32_t* out);
// QLinearMatMul (opset 10/21): quantized matmul, A/B/Y kUint8 or kInt8, per-tensor a/y params,
// b per tensor or per column (b_params = 1 or N). Requantization rounds half to even, saturates.
Status QLinearMatMul(DType a_type, const void* a, const Shape& a_shape, float a_scale, int32_t a_zp,
                     DType b_type, const void* b, const Shape& b_shape, const float* b_scale,
                     const int32_t* b_zp, size_t b_params, float y_scale, int32_t y_zp, DType y_type,
                     void* y);

}  // namespace sluice::kernels
