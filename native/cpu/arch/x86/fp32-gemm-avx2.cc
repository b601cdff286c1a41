// AVX2 + FMA FP32 GEMM block kernel. Register tile: up to 6 rows x 16 columns (one packed panel =
// 2 YMM per row: 12 accumulators + 2 B vectors + 1 broadcast = 15 of 16 registers), or up to 2
// rows x 32 columns (8 + 4 + 1) for short strips, to keep enough independent FMA chains.
// B is prefetched ahead as in the AVX-512 kernel. Column tails use masked loads/stores on the
// partial vector only (VMASKMOV is slow on some CPUs, so full vectors never take that path).
// Activations other than identity run through the AVX2 row kernels (row-kernels-avx2.cc).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "../../fp32-gemm-internal.h"

namespace sluice::internal {
namespace {

constexpr size_t kMr = 6;
constexpr size_t kWideMaxRows = 2;  // strips this short use 32-column tiles
constexpr size_t kPrefetchK = 32;   // B prefetch distance in k steps, as in the AVX-512 kernel

// Lanes [0, live) of a YMM; live in [0, 8].
__m256i LaneMask(size_t live) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(live)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__m256 Load(const float* p, size_t live) {
  return live == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, LaneMask(live));
}

void Store(float* p, size_t live, __m256 v) {
  if (live == 8) {
    _mm256_storeu_ps(p, v);
  } else {
    _mm256_maskstore_ps(p, LaneMask(live), v);
  }
}

// alpha * v + beta * bias for the `live` columns from `col` of row `row` (absolute in C).
__m256 Epilogue(const GemmEpilogue& ep, __m256 v, size_t row, size_t col, size_t live) {
  v = _mm256_mul_ps(v, _mm256_set1_ps(ep.alpha));
  __m256 bias;
  switch (ep.bias_kind) {
    case BiasKind::kScalar: bias = _mm256_set1_ps(ep.bias[0]); break;
    case BiasKind::kPerColumn: bias = Load(ep.bias + col, live); break;
    case BiasKind::kPerRow: bias = _mm256_set1_ps(ep.bias[row]); break;
    case BiasKind::kMatrix: bias = Load(ep.bias + row * ep.ld_bias + col, live); break;
    default: return v;
  }
  return _mm256_fmadd_ps(bias, _mm256_set1_ps(ep.beta), v);
}

// ROWS x (16 PANELS) tile; `cols` (<= 16 PANELS) of them are inside C.
template <size_t ROWS, size_t PANELS>
void Tile(const BlockJob& job, const float* a, const float* b, float* c, size_t row, size_t col,
          size_t cols) {
  constexpr size_t kVectors = 2 * PANELS;
  // Every loop over r / v is fully unrolled, so each acc element is a register of its own.
  __m256 acc[ROWS][kVectors];
#pragma GCC unroll 8
  for (size_t r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (size_t v = 0; v < kVectors; ++v) acc[r][v] = _mm256_setzero_ps();
  const float* bp[PANELS];
  for (size_t p = 0; p < PANELS; ++p) bp[p] = b + p * job.panel_stride;
  // kc in a local: __m256 is declared may_alias, so with job.kc read through the reference GCC
  // would reload it and mirror every accumulator to memory on each k step.
  const size_t kc = job.kc;
  for (size_t k = 0; k < kc; ++k) {
    __m256 bv[kVectors];
    for (size_t p = 0; p < PANELS; ++p) {
      bv[2 * p] = _mm256_load_ps(bp[p] + k * kPanelWidth);
      bv[2 * p + 1] = _mm256_load_ps(bp[p] + k * kPanelWidth + 8);
      _mm_prefetch(reinterpret_cast<const char*>(bp[p] + (k + kPrefetchK) * kPanelWidth), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (size_t r = 0; r < ROWS; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + k * kMr + r);
#pragma GCC unroll 4
      for (size_t v = 0; v < kVectors; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  const GemmEpilogue& ep = *job.epilogue;
#pragma GCC unroll 8
  for (size_t r = 0; r < ROWS; ++r) {
    float* cr = c + r * job.ldc;
#pragma GCC unroll 4
    for (size_t v = 0; v < kVectors; ++v) {
      if (v * 8 < cols) {
        const size_t live = std::min<size_t>(8, cols - v * 8);
        __m256 x = acc[r][v];
        if (job.accumulate) x = _mm256_add_ps(x, Load(cr + v * 8, live));
        if (job.last) x = Epilogue(ep, x, row + r, col + v * 8, live);
        Store(cr + v * 8, live, x);
      }
    }
  }
  if (job.last) ActivateTile(ep, c, job.ldc, ROWS, cols);
}

using TileFn = void (*)(const BlockJob&, const float*, const float*, float*, size_t, size_t, size_t);

template <size_t PANELS, size_t... R>
constexpr std::array<TileFn, sizeof...(R)> MakeTiles(std::index_sequence<R...>) {
  return {&Tile<R + 1, PANELS>...};
}
// Indexed by rows - 1.
constexpr auto kTiles16 = MakeTiles<1>(std::make_index_sequence<kMr>());
constexpr auto kTiles32 = MakeTiles<2>(std::make_index_sequence<kWideMaxRows>());

void Block(const BlockJob& job) {
  for (size_t r0 = 0; r0 < job.rows; r0 += kMr) {
    const size_t rows = std::min(kMr, job.rows - r0);
    const float* a = job.a + r0 * job.kc;  // strip r0 / kMr
    for (size_t c0 = 0; c0 < job.cols;) {
      const size_t remaining = job.cols - c0;
      const bool wide = rows <= kWideMaxRows && remaining > 16;
      const size_t width = wide ? 32 : 16;
      const TileFn tile = wide ? kTiles32[rows - 1] : kTiles16[rows - 1];
      tile(job, a, job.b + (c0 / kPanelWidth) * job.panel_stride, job.c + r0 * job.ldc + c0,
           job.row0 + r0, job.col0 + c0, std::min(width, remaining));
      c0 += width;
    }
  }
}

}  // namespace

const Fp32GemmKernel& Avx2Fp32GemmKernel() {
  static const Fp32GemmKernel kernel = {kMr, Block};
  return kernel;
}

}  // namespace sluice::internal
