// The one seam between the engine's linear layers and the GEMMs. Weights are constants, so they
// are prepared once at load (Prepare: packed into the fast kernels' panels) and multiplied many
// times (Run, with the layer's epilogue fused into the kernel's store). Run splits the work
// over the engine's ThreadPool. Both classes are immutable after Prepare and shared by every
// concurrent run.
#pragma once

#include <cstdint>
#include <vector>

#include "linear-epilogue.h"
#include "sluice/dtype.h"
#include "sluice/fp32-gemm.h"
#include "sluice/int8-gemm.h"
#include "sluice/status.h"
#include "sluice/thread-pool.h"

namespace sluice::engine {

// Stacked matrix shapes of a batched MatMul (a [..., M, K] . b [..., K, N] -> out) that a GEMM
// can run as one strided batch: both operands at least 2-D, and each operand's batch dims
// either equal to the output's or a single matrix shared by every item (stride 0). Fills
// count and the a, b, c strides (in elements); false for other broadcasts.
bool StridedBatch(const Shape& a, const Shape& b, const Shape& out, Fp32Batch* batch);

// FP32: out[M,N] = epilogue(a[M,K] * W[K,N]).
class PreparedWeightsF32 {
 public:
  // w is [K,N] row-major, or [N,K] when trans_b (Gemm transB=1).
  static Status Prepare(const float* w, int64_t k, int64_t n, bool trans_b,
                        PreparedWeightsF32* out);
  Status Run(const float* a, int64_t m, const Epilogue& epilogue, float* out,
             ThreadPool* pool) const;

  int64_t k() const { return static_cast<int64_t>(packed_.k()); }
  int64_t n() const { return static_cast<int64_t>(packed_.n()); }

 private:
  PackedFp32Weights packed_;
};

// Quantized activations for PreparedWeightsS8::Run: m rows of K bytes of `type` (uint8 or
// int8), dense, with one scale and zero point for the whole tensor, or one per row (per_row:
// dynamic per-row quantization, QuantizeRowsUint8). Borrowed for the call.
struct QuantizedRows {
  DType type = DType::kUint8;
  const void* data = nullptr;
  int64_t m = 0;
  bool per_row = false;
  const float* scale = nullptr;         // 1 value, or m when per_row
  const int32_t* zero_point = nullptr;  // as scale; each in type's range
};

// INT8: out[M,N] = epilogue(a_scale[m] * w_scale[n] * ((a - a_zp[m]) . (W - w_zp))), a and W
// uint8 or int8, a per tensor or per row. Symmetric int8 weights (all zero points 0, the
// DESIGN's format) run on the fast VNNI/AVX2 kernel (int8-gemm.h); other weights on the
// reference MatMulInteger.
class PreparedWeightsS8 {
 public:
  // w is [K,N] row-major, or [N,K] when trans_b; w_zp (nullable) and w_scale hold 1 or N
  // values (w_zp of w_type).
  static Status Prepare(DType w_type, const void* w, int64_t k, int64_t n, bool trans_b,
                        const void* w_zp, const float* w_scale, size_t params,
                        PreparedWeightsS8* out);

  // Bytes of scratch Run needs for m rows with `epilogue`: none when the kernel applies it
  // (FusesEpilogue), else the int32 accumulators, per-column scales and the reference path's
  // zero points as bytes.
  size_t ScratchBytes(int64_t m, const Epilogue& epilogue) const;
  Status Run(const QuantizedRows& a, const Epilogue& epilogue, void* scratch, float* out,
             ThreadPool* pool) const;
  // Whether the fast kernel applies `epilogue` to its float output itself (alpha = beta = 1;
  // any activation: none and Relu in its store, others on each finished block), so Run needs
  // no int32 pass over the output.
  bool FusesEpilogue(const Epilogue& epilogue) const;
  // Whether it also can for a quantized output (the activation none or Relu, applied before the
  // requantization in its store): then RunQuantized can write quantized output directly.
  bool FusesQuantizedEpilogue(const Epilogue& epilogue) const;
  // Run's float result f quantized in the kernel's store as QuantizeLinear(f, y_scale, y_zp)
  // into `y_type` (uint8 / int8) bytes. Requires FusesQuantizedEpilogue(epilogue).
  Status RunQuantized(const QuantizedRows& a, const Epilogue& epilogue, float y_scale,
                      DType y_type, int32_t y_zp, void* out, ThreadPool* pool) const;

  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  bool fast() const { return !packed_.empty(); }

 private:
  int64_t k_ = 0, n_ = 0;
  std::vector<float> w_scale_;  // N values
  PackedInt8Weights packed_;    // the fast path; empty when the weights need the reference
  // The reference path: W as [K,N] and its zero points (0, 1 or N elements of w_type_).
  DType w_type_ = DType::kInt8;
  std::vector<uint8_t> w_;
  std::vector<uint8_t> w_zp_;
};

}  // namespace sluice::engine
