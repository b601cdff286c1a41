// FP32 GEMM of the native engine: C[M,N] = epilogue(A[M,K] . B[K,N]), optionally batched.
//
//   B constant (Gemm / MatMul weights): pack it once at model load into PackedFp32Weights, then
//     call Fp32GemmPacked for every request.
//   B dynamic (attention Q.K^T, P.V): Fp32Gemm takes raw B and packs it on the fly.
//
// Epilogue, fused into the kernel's tile store:
//   C = act(alpha * (A . B) + beta * bias)
// where bias is absent, a scalar, one value per column n (ONNX Gemm C of shape [N] / [1,N]), one
// per row m ([M,1]) or a full M x N matrix ([M,N]), and act is a UnaryFn (row-kernels.h), e.g.
// relu, leaky_relu(activation_alpha), sigmoid, tanh, gelu (erf form), gelu_tanh. alpha and the
// bias are applied in registers; the activation runs over each just-stored register tile while
// it is still in L1 (the row kernels' vector code), so there is no second pass over C.
//
// All matrices are dense row-major float with an element stride between rows (ld*); A may instead
// be given transposed (stored K x M), B transposed (stored N x K, e.g. K^T in attention or a Gemm
// with transB=1). C must not overlap A, B or the bias. Threads: `pool` (nullable = the caller's
// thread only) splits the output into M x N blocks, so M = 1 and large M both use every thread;
// results are bitwise identical for every pool size. Do not call from inside a task of the same
// pool (ThreadPool runs one job at a time). Bad arguments return INVALID_ARGUMENT and touch
// nothing; sizes and strides are trusted not to overflow size_t (the engine derives them from
// shapes it has checked). Out of memory for the temporary buffers is RESOURCE_EXHAUSTED.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "sluice/row-kernels.h"
#include "sluice/status.h"

namespace sluice {

class ThreadPool;

// B packed into the engine's layout (column panels; see fp32-gemm-internal.h), independent of
// the ISA variant that later reads it. Immutable after Pack, so one instance may serve any number
// of concurrent GEMMs. Move-only; owns its buffer.
class PackedFp32Weights {
 public:
  PackedFp32Weights() = default;
  PackedFp32Weights(PackedFp32Weights&&) noexcept = default;
  PackedFp32Weights& operator=(PackedFp32Weights&&) noexcept = default;

  // Packs B [k, n] stored row-major with row stride ldb (>= n), or, when `transposed`, B^T
  // stored as [n, k] with row stride ldb (>= k). Replaces *out's contents. k and n must be > 0.
  static Status Pack(const float* b, size_t k, size_t n, size_t ldb, bool transposed,
                     PackedFp32Weights* out);

  size_t k() const { return k_; }
  size_t n() const { return n_; }
  bool empty() const { return data_ == nullptr; }
  size_t bytes() const;  // memory held, padding included
  const float* data() const { return data_.get(); }

 private:
  struct FreeAligned {
    void operator()(float* p) const;
  };
  size_t k_ = 0, n_ = 0;
  std::unique_ptr<float[], FreeAligned> data_;
};

enum class BiasKind { kNone, kScalar, kPerColumn, kPerRow, kMatrix };

struct Fp32Epilogue {
  float alpha = 1.0f;  // scales A.B
  BiasKind bias_kind = BiasKind::kNone;
  // kScalar: 1 float; kPerColumn: N floats; kPerRow: M floats; kMatrix: M x N, row stride
  // ld_bias (>= N). Batched calls use the same bias for every item, except kMatrix, which moves
  // by Fp32Batch::stride_bias per item.
  const float* bias = nullptr;
  size_t ld_bias = 0;
  float beta = 1.0f;  // scales the bias
  UnaryFn activation = UnaryFn::kIdentity;
  float activation_alpha = 0.01f;  // leaky_relu slope
};

// The A operand and the output, shared by both entry points.
struct Fp32GemmArgs {
  size_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  size_t lda = 0;        // >= k, or >= m when trans_a
  bool trans_a = false;  // a holds A^T as [k, m]
  float* c = nullptr;
  size_t ldc = 0;  // >= n
  Fp32Epilogue epilogue;
  KernelIsa isa = KernelIsa::kAuto;  // force a variant (tests, benchmarks)
};

// Batch of `count` independent GEMMs of one shape; item i uses a + i*stride_a, b + i*stride_b
// (raw B only; packed weights are shared), c + i*stride_c and, for a kMatrix bias,
// bias + i*stride_bias. Strides are in floats; stride 0 shares the operand. Outputs must not
// overlap: either one item's M x N block ends before the next starts (stride_c >=
// (m - 1) * ldc + n), or items sit side by side in the rows of C (stride_c >= n and
// (count - 1) * stride_c + n <= ldc).
struct Fp32Batch {
  size_t count = 1;
  size_t stride_a = 0, stride_b = 0, stride_c = 0, stride_bias = 0;
};

// C = epilogue(A . B) with B pre-packed; weights.k() and weights.n() must equal args.k, args.n.
Status Fp32GemmPacked(const Fp32GemmArgs& args, const PackedFp32Weights& weights,
                      ThreadPool* pool = nullptr, const Fp32Batch& batch = Fp32Batch());

// C = epilogue(A . B) with B given raw: [k, n] with row stride ldb (>= n), or when trans_b,
// B^T as [n, k] with row stride ldb (>= k). B is packed per call into a temporary buffer.
Status Fp32Gemm(const Fp32GemmArgs& args, const float* b, size_t ldb, bool trans_b,
                ThreadPool* pool = nullptr, const Fp32Batch& batch = Fp32Batch());

// The concrete variants (never kAuto) this CPU can run, generic first.
std::vector<KernelIsa> Fp32GemmIsas();

}  // namespace sluice
