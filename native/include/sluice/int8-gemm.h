// INT8 GEMM of the native engine: C[M,N] = epilogue((A - a_zp) * (B - b_zp)), with A uint8 or
// int8 activations (M x K), B int8 weights (K x N) quantized per output column (symmetric,
// b_zp = 0, is the engine's scheme and the fast case; a per-column b_zp is also accepted for
// ONNX MatMulInteger), int32 accumulation, and the epilogue fused into the kernel's store.
//
//   PackedInt8Weights w;                                   // once, at model load
//   RETURN_IF_ERROR(PackInt8Weights(b, K, N, Int8WeightLayout::kKxN, b_scales, &w));
//   Int8GemmInput a{x_u8, /*is_signed=*/false, M, K, /*lda=*/K};
//   a.scale = &x_scale; a.zero_point = &x_zp;              // per tensor (or per row)
//   Int8GemmOutput c{Int8GemmOutputType::kFloat, y, N, /*ldc=*/N};
//   c.bias = bias;
//   RETURN_IF_ERROR(Int8Gemm(a, w, c, pool));
//
// Epilogues, per element (all in this order, identical in every kernel variant, so variants
// agree bit for bit):
//   acc      = sum_k A[m,k] * B[k,n]                      int32, wraps modulo 2^32
//   v        = acc - a_zp[m] * colsum[n]                  int32 (= sum_k (A - a_zp) * B)
//              [- b_zp[n] * (rowsum_a[m] - K * a_zp[m])]   only when B has zero points
//   kInt32:    C = v                                      (ONNX MatMulInteger)
//   kFloat:    C = act(float(v) * (a_scale[m] * b_scale[n]) [+ bias[n]])
//   kUint8/kInt8: C = saturate(round_half_even(f / out_scale) + out_zero_point), f as kFloat
//              (ONNX QuantizeLinear of the float result: QLinearMatMul and QDQ chains).
// int8 activations are turned into uint8 by adding 128 (VPDPBUSD multiplies unsigned by
// signed bytes); the added 128 is folded into a_zp, so callers never see it. Weights with zero
// points cost one extra pass over A per call (its row sums).
//
// Threads: Int8Gemm splits M x N into blocks over `pool` (null = the calling thread only), so
// both M = 1 and large M use every thread. Buffers are borrowed for the duration of the call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/row-kernels.h"
#include "sluice/status.h"
#include "sluice/thread-pool.h"

namespace sluice {

// Kernel variants. kAuto picks the fastest the CPU supports, once per process; tests and the
// bench force the others to compare them.
enum class Int8GemmKernel { kAuto, kGeneric, kAvx2, kAvx512Vnni };

// True when `kernel` can run on this CPU (kAuto and kGeneric always can).
bool Int8GemmKernelSupported(Int8GemmKernel kernel);
// "auto", "generic", "avx2", "avx512vnni". Static storage.
const char* Int8GemmKernelName(Int8GemmKernel kernel);

// Source layout of the weights handed to PackInt8Weights.
enum class Int8WeightLayout {
  kKxN,  // row-major K x N (ONNX MatMul's B)
  kNxK,  // row-major N x K (Gemm with transB = 1, a Linear layer's weight)
};

// Weights packed for the kernels; immutable after PackInt8Weights, so one instance may be
// shared by any number of concurrent Int8Gemm calls. Movable, not copyable.
//
// Layout: columns in panels of kPanelWidth (the last one zero-padded); within a panel, K in
// groups of 4 (the last one zero-padded); one group is kPanelWidth columns x 4 consecutive k
// bytes, i.e. 256 bytes, the operand of 4 VPDPBUSD. Panel p starts at p * k_groups() * 256.
class PackedInt8Weights {
 public:
  static constexpr int64_t kPanelWidth = 64;
  static constexpr int64_t kGroupBytes = kPanelWidth * 4;

  PackedInt8Weights() = default;
  PackedInt8Weights(PackedInt8Weights&&) = default;
  PackedInt8Weights& operator=(PackedInt8Weights&&) = default;

  bool empty() const { return n_ == 0; }  // true until PackInt8Weights fills it
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  int64_t k_groups() const { return (k_ + 3) / 4; }
  int64_t panels() const { return (n_ + kPanelWidth - 1) / kPanelWidth; }
  // panels() * k_groups() * kGroupBytes bytes, 64-byte aligned; null when that is 0.
  const int8_t* data() const { return packed_.get(); }
  // sum_k B[k,n], one per column, padded with 0 to panels() * kPanelWidth entries.
  const int32_t* column_sums() const { return column_sums_.data(); }
  // b_scale[n], padded like column_sums(); empty when packed without scales (int32 only).
  const std::vector<float>& scales() const { return scales_; }
  // b_zp[n], padded like column_sums(); empty when symmetric (all zero points 0).
  const std::vector<int32_t>& zero_points() const { return zero_points_; }

 private:
  friend Status PackInt8Weights(const int8_t* b, int64_t k, int64_t n, Int8WeightLayout layout,
                                const float* scales, PackedInt8Weights* out,
                                const int32_t* zero_points);
  struct FreeAligned {
    void operator()(int8_t* p) const;
  };
  int64_t k_ = 0;
  int64_t n_ = 0;
  size_t capacity_ = 0;  // bytes allocated at packed_ (reused by a later pack that fits)
  std::unique_ptr<int8_t[], FreeAligned> packed_;
  std::vector<int32_t> column_sums_;
  std::vector<float> scales_;
  std::vector<int32_t> zero_points_;
};

// Packs B (K x N or N x K per `layout`, dense) with its per-column scales (N floats; null when
// only kInt32 output will be asked for) and zero points (N values in [-128, 127]; null or all
// zero = symmetric). Replaces *out, reusing its buffers when they are large enough. K and N
// must be in [1, 2^31).
Status PackInt8Weights(const int8_t* b, int64_t k, int64_t n, Int8WeightLayout layout,
                       const float* scales, PackedInt8Weights* out,
                       const int32_t* zero_points = nullptr);

enum class Int8Quantization { kPerTensor, kPerRow };

// The activations A: M x K bytes, row stride lda >= K bytes.
struct Int8GemmInput {
  const void* data = nullptr;
  bool is_signed = false;  // int8 (true) or uint8 (false) elements
  int64_t m = 0;
  int64_t k = 0;  // must equal the packed weights' K
  int64_t lda = 0;
  Int8Quantization quantization = Int8Quantization::kPerTensor;
  // 1 (per tensor) or M (per row) values each. zero_point: null means 0; values must lie in
  // the element type's range. scale: required unless the output is kInt32.
  const float* scale = nullptr;
  const int32_t* zero_point = nullptr;
};

enum class Int8GemmOutputType { kInt32, kFloat, kUint8, kInt8 };
enum class Int8GemmActivation { kNone, kRelu };

// C: M x N elements of `type`, row stride ldc >= N elements.
struct Int8GemmOutput {
  Int8GemmOutputType type = Int8GemmOutputType::kFloat;
  void* data = nullptr;
  int64_t n = 0;  // must equal the packed weights' N
  int64_t ldc = 0;
  // Float and quantized outputs only: optional bias (N floats) and activation.
  const float* bias = nullptr;
  Int8GemmActivation activation = Int8GemmActivation::kNone;
  // Float outputs only: an activation the kernels' own store lacks (Gelu, Tanh, Sigmoid, ...),
  // from the row kernels (row-kernels.h), applied after `activation` to each finished block of
  // C while the block is still in cache. The generic kernel uses the generic row kernel, the
  // others the CPU's best. kIdentity = none.
  UnaryFn unary = UnaryFn::kIdentity;
  float unary_alpha = 0.0f;
  // Quantized outputs only: scale (finite, > 0) and zero point (in the output type's range).
  float scale = 1.0f;
  int32_t zero_point = 0;
};

// Runs the GEMM. Bad arguments (null buffers with nonzero sizes, shape mismatches with `b`,
// negative or overflowing sizes, lda < K, ldc < N, out-of-range zero points, missing scales)
// are INVALID_ARGUMENT; a forced kernel the CPU lacks is FAILED_PRECONDITION. M = 0 is a no-op.
// Allocates a scratch copy of A (M x K bytes) only when A is int8, and M row sums only when the
// weights have zero points.
Status Int8Gemm(const Int8GemmInput& a, const PackedInt8Weights& b, const Int8GemmOutput& c,
                ThreadPool* pool = nullptr, Int8GemmKernel kernel = Int8GemmKernel::kAuto);

// Dynamic per-row quantization (ONNX DynamicQuantizeLinear, per row): for each of the M rows of
// x (K floats, row stride ldx floats), lo = min(0, min x), hi = max(0, max x),
// scale = (hi - lo) / 255, zero_point = saturate(round(-lo / scale)),
// y = saturate(round(x / scale) + zero_point) (round half to even), written to y (row stride ldy
// bytes), scales[m] and zero_points[m]. A row of zeros, or one whose range is not finite, gets
// scale 1 and zero point 0; NaN elements give unspecified (but in-range) bytes.
Status QuantizeRowsUint8(const float* x, int64_t m, int64_t k, int64_t ldx, uint8_t* y,
                         int64_t ldy, float* scales, int32_t* zero_points,
                         ThreadPool* pool = nullptr, Int8GemmKernel kernel = Int8GemmKernel::kAuto);

// Static per-tensor quantization (ONNX QuantizeLinear with one scale and zero point) of `count`
// floats: y[i] = saturate(round_half_even(x[i] / scale) + zero_point), uint8 or (is_signed)
// int8, NaN -> zero_point; bit-identical to kernels::QuantizeLinear. scale must be finite and
// nonzero, zero_point in the output type's range (else INVALID_ARGUMENT). Large inputs are split
// over `pool`.
Status QuantizeLinearFixed(const float* x, int64_t count, float scale, int32_t zero_point,
                           bool is_signed, void* y, ThreadPool* pool = nullptr,
                           Int8GemmKernel kernel = Int8GemmKernel::kAuto);

}  // namespace sluice
