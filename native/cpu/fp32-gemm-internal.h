// Private to native/cpu: the packed layouts of the FP32 GEMM and the contract between its driver
// (fp32-gemm.cc: checks, packing, blocking, threads) and the per-ISA block kernels.
//
// Packed B ("panels"): columns are grouped 16 at a time; panel p holds B[0..k)[16p..16p+16) as k
// rows of 16 contiguous floats, and panel p+1 follows it (panel stride 16 k). Columns past n are
// zero. 16 floats = one ZMM or two YMM registers, so every variant reads the same layout and
// PackedFp32Weights does not depend on the CPU.
//
// Packed A ("strips"): for one K pass of depth kc, rows are grouped mr at a time (mr is the
// variant's register-tile height); strip s holds kc steps of mr floats (A[row][k] at
// [s][k][row % mr]). Rows past the block's end are not written: kernels read only live rows.
#pragma once

#include <cstddef>

#include "sluice/fp32-gemm.h"
#include "sluice/row-kernels.h"

namespace sluice::internal {

constexpr size_t kPanelWidth = 16;

inline size_t PanelCount(size_t n) { return (n + kPanelWidth - 1) / kPanelWidth; }

// 64-byte aligned float storage (one cache line, one ZMM). Returns nullptr when out of memory.
float* AllocateAlignedFloats(size_t count);
void FreeAlignedFloats(float* p);

// Writes panels [panel_begin, panel_end) of B (see above) to `packed` (the start of panel 0).
// B(kk, nn) = trans_b ? b[nn * ldb + kk] : b[kk * ldb + nn].
void PackBPanels(const float* b, size_t ldb, bool trans_b, size_t k, size_t n, size_t panel_begin,
                 size_t panel_end, float* packed);

// The epilogue with its bias already positioned for one batch item.
struct GemmEpilogue {
  float alpha;
  float beta;
  BiasKind bias_kind;
  const float* bias;  // item's bias (kMatrix: its [0][0])
  size_t ld_bias;
  UnaryFn activation;
  float activation_alpha;
  // The row-kernel unary of the same ISA; applied to each finished tile while it is in L1.
  void (*unary)(UnaryFn fn, float alpha, const float* x, size_t n, float* y);
};

// One output block for one K pass: C[row0 .. row0+rows)[col0 .. col0+cols) (+)= A . B over the
// pass's kc steps. `c` points at C[row0][col0]; `b` at panel col0/16, already advanced to the
// pass's first k. On the first pass (accumulate = false) C is overwritten, on later ones added
// to; on the last pass (last = true) the epilogue is applied and the tile is final.
struct BlockJob {
  const float* a;  // packed strips, mr rows each
  size_t rows;
  const float* b;
  size_t panel_stride;  // floats between consecutive panels: 16 * K
  size_t cols;
  size_t kc;  // may be 0 (K = 0: C = epilogue(0))
  float* c;
  size_t ldc;
  size_t row0, col0;
  bool accumulate;
  bool last;
  const GemmEpilogue* epilogue;
};

// Packs rows [i0, i0+rows) x cols [k0, k0+kc) of a row-major A (row stride lda) as strips of mr
// rows, k outer: strip s holds kc groups of mr floats (rows of the strip past `rows` hold
// anything). A kernel may bring its own (a vectorised transpose); null = the portable one.
using PackAFn = void (*)(const float* a, size_t lda, size_t i0, size_t rows, size_t k0, size_t kc,
                         float* out);

// PackBPanels' contract; a kernel may bring a vectorised one (null = PackBPanels).
using PackBFn = void (*)(const float* b, size_t ldb, bool trans_b, size_t k, size_t n,
                         size_t panel_begin, size_t panel_end, float* packed);

struct Fp32GemmKernel {
  size_t mr;  // strip height the kernel expects in BlockJob::a
  void (*block)(const BlockJob& job);
  PackAFn pack_a = nullptr;  // for A not transposed
  PackBFn pack_b = nullptr;  // for B packed per call (Fp32Gemm), not PackedFp32Weights
};

const Fp32GemmKernel& GenericFp32GemmKernel();
#if defined(__x86_64__) || defined(__i386__)
// Call only when the CPU has the ISA (each file is compiled for it).
const Fp32GemmKernel& Avx2Fp32GemmKernel();
const Fp32GemmKernel& Avx512Fp32GemmKernel();
#endif

// The bias value (before beta) at absolute position (row, col) of the item's C.
inline float BiasAt(const GemmEpilogue& e, size_t row, size_t col) {
  switch (e.bias_kind) {
    case BiasKind::kNone: return 0.0f;
    case BiasKind::kScalar: return e.bias[0];
    case BiasKind::kPerColumn: return e.bias[col];
    case BiasKind::kPerRow: return e.bias[row];
    case BiasKind::kMatrix: return e.bias[row * e.ld_bias + col];
  }
  return 0.0f;
}

// Applies the activation to the finished tile's rows (no-op for identity).
inline void ActivateTile(const GemmEpilogue& e, float* c, size_t ldc, size_t rows, size_t cols) {
  if (e.activation == UnaryFn::kIdentity) return;
  for (size_t r = 0; r < rows; ++r) e.unary(e.activation, e.activation_alpha, c + r * ldc, cols, c + r * ldc);
}

}  // namespace sluice::internal
