// Row kernels of the native engine: elementwise functions over a float array, and softmax /
// log-softmax / layer normalisation over the rows of a dense [rows, n] block. Each has a scalar
// reference (the ground truth, computed with <cmath> in double) and SIMD variants chosen once from
// GetCpuFeatures(); the FP32 GEMM epilogue (fp32-gemm.h) applies the same UnaryFn code.
//
// Accuracy of the SIMD variants (AVX2 and AVX-512, which share their approximations) against the
// reference: relative 2e-6 for normal results (a few ulp); results below FLT_MIN (2^-126) may
// be flushed to zero. One exception: the tanh form of gelu is a float formula whose rounding of u
// is amplified in its far negative tail (x < -5, |result| < 1e-6), to about 1e-8 |x|^3 relative.
// Special values:
//   NaN in -> NaN out for every function (and a NaN anywhere in a softmax/layer-norm row makes
//   that whole row NaN). exp(+inf) = +inf, exp(-inf) = 0, exp(x > 88.72) = +inf;
//   erf(+-inf) = +-1, tanh(+-inf) = +-1, sigmoid(+inf) = 1, sigmoid(-inf) = 0,
//   gelu(+inf) = +inf, gelu(-inf) = -0 or 0 (both forms).
//   softmax: a -inf entry gets 0 (attention masks); a row whose entries are all -inf, or that
//   holds +inf, becomes NaN (as ONNX Runtime and the reference do).
#pragma once

#include <cstddef>
#include <vector>

#include "sluice/status.h"

namespace sluice {

class ThreadPool;

// Which implementation runs. kAuto picks the best the CPU supports (decided once per process);
// tests and benchmarks name one explicitly to compare variants. Asking for a variant the CPU
// lacks is INVALID_ARGUMENT. kAvx2 needs AVX2 and FMA; kAvx512 needs AVX-512 F/BW/VL.
enum class KernelIsa { kAuto, kGeneric, kAvx2, kAvx512 };
const char* KernelIsaName(KernelIsa isa);

// Elementwise functions; also the activations a GEMM epilogue may apply.
enum class UnaryFn {
  kIdentity,
  kRelu,
  kLeakyRelu,  // x >= 0 ? x : alpha * x
  kSigmoid,
  kTanh,
  kGelu,      // 0.5 x (1 + erf(x / sqrt 2))
  kGeluTanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  kExp,
  kErf,
};
const char* UnaryFnName(UnaryFn fn);
bool IsValidUnaryFn(UnaryFn fn);

// The concrete variants (never kAuto) that UnaryF32/SoftmaxRows/LayerNormRows/AddLayerNormRows
// can run on this CPU, generic first.
std::vector<KernelIsa> RowKernelIsas();

// y[i] = fn(x[i]) for i < n; `alpha` is used by kLeakyRelu only. x == y (in place) is allowed,
// other overlap is not.
Status UnaryF32(UnaryFn fn, float alpha, const float* x, size_t n, float* y,
                KernelIsa isa = KernelIsa::kAuto);

// UnaryF32 with the elements split into contiguous chunks across `pool` (nullable) when there
// are enough of them to pay for the hand-off; results are identical to UnaryF32's.
Status UnaryF32Parallel(UnaryFn fn, float alpha, const float* x, size_t n, float* y,
                        ThreadPool* pool);

// Softmax (or log-softmax) of each row of x [rows, n] (row stride n) into y, max-subtracted.
// x == y is allowed. `pool` (nullable) splits the rows across threads.
Status SoftmaxRows(const float* x, size_t rows, size_t n, float* y, ThreadPool* pool = nullptr,
                   KernelIsa isa = KernelIsa::kAuto);
Status LogSoftmaxRows(const float* x, size_t rows, size_t n, float* y, ThreadPool* pool = nullptr,
                      KernelIsa isa = KernelIsa::kAuto);

// Layer normalisation of each row of x [rows, n]: y = (x - mean) / sqrt(var + eps) * gamma + beta
// with the biased variance, computed in two passes (mean, then the mean of squared deviations)
// so a large mean does not cancel. gamma and beta hold n floats each and are nullable (1 and 0).
// eps must be finite and >= 0. x == y is allowed.
Status LayerNormRows(const float* x, size_t rows, size_t n, float eps, const float* gamma,
                     const float* beta, float* y, ThreadPool* pool = nullptr,
                     KernelIsa isa = KernelIsa::kAuto);

// LayerNormRows of a + b (both [rows, n]): each row's sum is formed in y and normalised there by
// the thread that formed it, so the sum never makes a round trip through memory or between cores
// (the residual Add in front of a post-norm transformer's LayerNorm). Bitwise the result of an
// Add (one float add per element) followed by LayerNormRows. y may be a or b.
Status AddLayerNormRows(const float* a, const float* b, size_t rows, size_t n, float eps,
                        const float* gamma, const float* beta, float* y,
                        ThreadPool* pool = nullptr, KernelIsa isa = KernelIsa::kAuto);

}  // namespace sluice
