// Private to native/cpu: the per-ISA tables behind row-kernels.h, also used by the FP32 GEMM to
// apply its epilogue activation with the same code. Arguments are already validated.
#pragma once

#include <cstddef>

#include "sluice/row-kernels.h"

namespace sluice::internal {

struct RowKernelTable {
  // y[i] = fn(x[i]); x == y allowed.
  void (*unary)(UnaryFn fn, float alpha, const float* x, size_t n, float* y);
  // One row of n >= 1 floats; x == y allowed.
  void (*softmax)(const float* x, size_t n, float* y);
  void (*log_softmax)(const float* x, size_t n, float* y);
  // gamma/beta nullable.
  void (*layer_norm)(const float* x, size_t n, float eps, const float* gamma, const float* beta,
                     float* y);
  // y[i] = a[i] + b[i] for n >= 1 floats; y may be a or b.
  void (*add)(const float* a, const float* b, size_t n, float* y);
};

const RowKernelTable& GenericRowKernels();
#if defined(__x86_64__) || defined(__i386__)
// Call only when GetCpuFeatures() reports avx2 and fma (the file is compiled for them).
const RowKernelTable& Avx2RowKernels();
// Call only when GetCpuFeatures() reports avx512f/bw/vl (the file is compiled for them).
const RowKernelTable& Avx512RowKernels();
#endif

// The generic scalar form of each UnaryFn, in double: the reference the SIMD code is held to.
float UnaryReference(UnaryFn fn, float alpha, float x);

// kAuto resolved against the CPU (once per process); returns false for a variant the CPU lacks.
bool ResolveKernelIsa(KernelIsa requested, KernelIsa* resolved);

// The table for a resolved variant (kGeneric, kAvx2 or kAvx512; generic off x86).
const RowKernelTable& RowKernelsFor(KernelIsa resolved);

}  // namespace sluice::internal
