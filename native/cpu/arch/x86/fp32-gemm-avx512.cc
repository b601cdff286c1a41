// AVX-512 FP32 GEMM block kernel. Register tile: up to 14 rows x 32 columns (28 ZMM accumulators,
// 2 B vectors, 1 broadcast A value = 31 of 32 registers), up to 6 rows x 64 columns (24 + 4 +
// 1) for short strips such as M = 3..6, or up to 2 rows x 128 columns (16 + 8 + 1) for M = 1..2
// (batch-1 inference), which would otherwise have too few independent accumulators to cover the
// FMA latency (4 chains of latency 4 leave no slack for a late B line). Every tile sums k in the
// same order, so a row's result does not depend on the tile that computed it. Each k step: 2 (or 4) aligned B loads from the packed
// panels and one broadcast of each row's A value. B is also prefetched ahead (kPrefetchK; the
// batch-1 strips, bound by streaming B from L3/DRAM, further and into L2 first: see
// kStreamPrefetchK): the software prefetch measured ~1.5x on M = 1 and +5-15% on large M (noisy
// shared machine, CPU-time figures).
// Tails: the last strip may have fewer rows (a kernel is instantiated for each height) and the
// last vector of a tile is masked past column n.
// GCC 12's intrinsic headers trip -W(maybe-)uninitialized through their _mm512_undefined_*()
// self-initialisation idiom; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "../../fp32-gemm-internal.h"

namespace sluice::internal {
namespace {

constexpr size_t kMr = 14;
constexpr size_t kWideMaxRows = 6;  // strips this short use 64-column tiles
constexpr size_t kWiderMaxRows = 2;  // and strips this short 128-column tiles
constexpr size_t kPrefetchK = 32;  // k steps ahead (2 KiB per panel stream): covers L3 latency
// Strips of at most kWiderMaxRows rows (batch 1) use each B line once and are bound by streaming
// the weights, 8 panel streams side by side. For them B is prefetched into L2 kStreamPrefetchK
// steps ahead and into L1 kStreamNearK steps ahead. With kPrefetchK into L1 instead, the bench's
// 25 MB mlp-2048 at batch 1 on 1 thread ran at 0.64-0.66 of a plain streaming read of the same
// bytes (3 runs), and with this at 0.91-1.04 (4 runs; fp32 gemm bench, weight stream section;
// the AVX2 kernel's 2 streams did worse with it: 0.54 against 0.74). Engine, 1 thread:
// median 635-784 us per run against 953-1,324 us (4-5 alternating runs, 2 rounds); 2 threads
// and the L2-resident mlp-784 were unchanged within the noise.
constexpr size_t kStreamPrefetchK = 128;  // 8 KiB per panel stream, 64 KiB in all, into L2
constexpr size_t kStreamNearK = 8;

// alpha * v + beta * bias for the 16 columns [col, col+16) of row `row` (absolute in C).
__m512 Epilogue(const GemmEpilogue& ep, __m512 v, size_t row, size_t col, __mmask16 mask) {
  v = _mm512_mul_ps(v, _mm512_set1_ps(ep.alpha));
  __m512 bias;
  switch (ep.bias_kind) {
    case BiasKind::kScalar: bias = _mm512_set1_ps(ep.bias[0]); break;
    case BiasKind::kPerColumn: bias = _mm512_maskz_loadu_ps(mask, ep.bias + col); break;
    case BiasKind::kPerRow: bias = _mm512_set1_ps(ep.bias[row]); break;
    case BiasKind::kMatrix: bias = _mm512_maskz_loadu_ps(mask, ep.bias + row * ep.ld_bias + col); break;
    default: return v;
  }
  return _mm512_fmadd_ps(bias, _mm512_set1_ps(ep.beta), v);
}

// ROWS x (16 NV) tile at strip `a` (kMr floats per k) and panel `b`; `row`/`col` locate the
// tile in C for the bias; `tail` masks the last vector's columns.
template <size_t ROWS, size_t NV>
void Tile(const BlockJob& job, const float* a, const float* b, float* c, size_t row, size_t col,
          __mmask16 tail) {
  // Every loop over r / j is fully unrolled, so each acc element is a register of its own.
  __m512 acc[ROWS][NV];
#pragma GCC unroll 16
  for (size_t r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
    for (size_t j = 0; j < NV; ++j) acc[r][j] = _mm512_setzero_ps();
  // The C tile is read (later passes) and written after the K loop: start fetching it now.
  for (size_t r = 0; r < ROWS; ++r)
    for (size_t j = 0; j < NV; ++j) {
      _mm_prefetch(reinterpret_cast<const char*>(c + r * job.ldc + j * 16), _MM_HINT_T0);
    }
  const float* bp[NV];
#pragma GCC unroll 8
  for (size_t j = 0; j < NV; ++j) bp[j] = b + j * job.panel_stride;
  // kc in a local: __m512 is declared may_alias, so GCC would otherwise reload job.kc (and may
  // mirror accumulators to memory) on every k step.
  const size_t kc = job.kc;
  for (size_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 8
    for (size_t j = 0; j < NV; ++j) {
      bv[j] = _mm512_load_ps(bp[j] + k * kPanelWidth);
      const char* line = reinterpret_cast<const char*>(bp[j] + k * kPanelWidth);
      if constexpr (ROWS <= kWiderMaxRows) {
        _mm_prefetch(line + kStreamPrefetchK * kPanelWidth * sizeof(float), _MM_HINT_T1);
        _mm_prefetch(line + kStreamNearK * kPanelWidth * sizeof(float), _MM_HINT_T0);
      } else {
        _mm_prefetch(line + kPrefetchK * kPanelWidth * sizeof(float), _MM_HINT_T0);
      }
    }
#pragma GCC unroll 16
    for (size_t r = 0; r < ROWS; ++r) {
      const __m512 av = _mm512_set1_ps(a[k * kMr + r]);
#pragma GCC unroll 8
      for (size_t j = 0; j < NV; ++j) acc[r][j] = _mm512_fmadd_ps(av, bv[j], acc[r][j]);
    }
  }
  const GemmEpilogue& ep = *job.epilogue;
#pragma GCC unroll 16
  for (size_t r = 0; r < ROWS; ++r) {
    float* cr = c + r * job.ldc;
#pragma GCC unroll 8
    for (size_t j = 0; j < NV; ++j) {
      const __mmask16 mask = j + 1 == NV ? tail : static_cast<__mmask16>(0xFFFF);
      __m512 v = acc[r][j];
      if (job.accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, cr + j * 16));
      if (job.last) v = Epilogue(ep, v, row + r, col + j * 16, mask);
      _mm512_mask_storeu_ps(cr + j * 16, mask, v);
    }
  }
  if (job.last) {
    const size_t cols = (NV - 1) * 16 + static_cast<size_t>(__builtin_popcount(tail));
    ActivateTile(ep, c, job.ldc, ROWS, cols);
  }
}

using TileFn = void (*)(const BlockJob&, const float*, const float*, float*, size_t, size_t, __mmask16);

template <size_t NV, size_t... R>
constexpr std::array<TileFn, sizeof...(R)> MakeTiles(std::index_sequence<R...>) {
  return {&Tile<R + 1, NV>...};
}
// Indexed by rows - 1.
constexpr auto kTiles16 = MakeTiles<1>(std::make_index_sequence<kMr>());
constexpr auto kTiles32 = MakeTiles<2>(std::make_index_sequence<kMr>());
constexpr auto kTiles64 = MakeTiles<4>(std::make_index_sequence<kWideMaxRows>());
constexpr auto kTiles128 = MakeTiles<8>(std::make_index_sequence<kWiderMaxRows>());

void Block(const BlockJob& job) {
  for (size_t r0 = 0; r0 < job.rows; r0 += kMr) {
    const size_t rows = std::min(kMr, job.rows - r0);
    const float* a = job.a + r0 * job.kc;  // strip r0 / kMr
    for (size_t c0 = 0; c0 < job.cols;) {
      const size_t remaining = job.cols - c0;
      TileFn tile;
      size_t width;
      if (rows <= kWiderMaxRows && remaining > 112) {
        tile = kTiles128[rows - 1], width = 128;
      } else if (rows <= kWideMaxRows && remaining > 48) {
        tile = kTiles64[rows - 1], width = 64;
      } else if (remaining > 16) {
        tile = kTiles32[rows - 1], width = 32;
      } else {
        tile = kTiles16[rows - 1], width = 16;
      }
      const size_t last_lanes = remaining >= width ? 16 : remaining - (width - 16);
      const __mmask16 tail = static_cast<__mmask16>((1u << last_lanes) - 1);
      tile(job, a, job.b + (c0 / kPanelWidth) * job.panel_stride, job.c + r0 * job.ldc + c0,
           job.row0 + r0, job.col0 + c0, tail);
      c0 += width;
    }
  }
}

// In place: r[i] becomes column i of the 16 x 16 matrix whose rows were r[0..15]. Per 128-bit
// lane: pairs of rows interleaved, then quads gathered (u[4g + c] lane L = column 4L + c of
// rows 4g..4g+3), then the 4 x 4 matrix of lanes transposed.
[[gnu::always_inline]] inline void Transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m512 u[16];
  for (int g = 0; g < 4; ++g) {
    u[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 w0 = _mm512_shuffle_f32x4(u[c], u[4 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 w1 = _mm512_shuffle_f32x4(u[c], u[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 w2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 w3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
    r[c] = _mm512_shuffle_f32x4(w0, w2, _MM_SHUFFLE(2, 0, 2, 0));
    r[4 + c] = _mm512_shuffle_f32x4(w0, w2, _MM_SHUFFLE(3, 1, 3, 1));
    r[8 + c] = _mm512_shuffle_f32x4(w1, w3, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + c] = _mm512_shuffle_f32x4(w1, w3, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// The 14-row strips by 16 x 16 transposes (rows past the strip's live ones read as 0): ~4x
// fewer instructions than a scalar copy, which was ~11% of a batch-1 FP32 encoder layer. Each
// column of 14 is stored as 16 floats, the 2 extra overwritten by the next column's store; the
// 16th column of a block is stored masked, so nothing is written past the strip.
void PackA14(const float* a, size_t lda, size_t i0, size_t rows, size_t k0, size_t kc, float* out) {
  for (size_t s = 0; s * kMr < rows; ++s) {
    float* strip = out + s * kc * kMr;
    const size_t live = std::min(kMr, rows - s * kMr);
    const float* src = a + (i0 + s * kMr) * lda + k0;
    size_t k = 0;
    for (; k + 16 <= kc; k += 16) {
      __m512 r[16];
      for (size_t i = 0; i < 16; ++i) {
        r[i] = i < live ? _mm512_loadu_ps(src + i * lda + k) : _mm512_setzero_ps();
      }
      Transpose16(r);
      float* dst = strip + k * kMr;
      for (size_t j = 0; j < 15; ++j) _mm512_storeu_ps(dst + j * kMr, r[j]);
      _mm512_mask_storeu_ps(dst + 15 * kMr, 0x3FFF, r[15]);
    }
    for (; k < kc; ++k) {
      for (size_t i = 0; i < live; ++i) strip[k * kMr + i] = src[i * lda + k];
    }
  }
}

// PackBPanels with vector moves: a row of a panel is one (masked) load and one aligned store,
// and B^T (attention's K of Q.K^T, packed on every call) goes by 16 x 16 transposes. With it
// (and Transpose16 inlined), 4 heads of 64 at 32 tokens: Q.K^T 8.44 -> 7.13 us, P.V 7.50 ->
// 6.61 us against the scalar PackBPanels (medians of 5 alternating runs).
void PackB16(const float* b, size_t ldb, bool trans_b, size_t k, size_t n, size_t panel_begin,
             size_t panel_end, float* packed) {
  for (size_t p = panel_begin; p < panel_end; ++p) {
    float* dst = packed + p * k * kPanelWidth;
    const size_t col0 = p * kPanelWidth;
    const size_t width = std::min(kPanelWidth, n - col0);
    const __mmask16 cols = static_cast<__mmask16>((1u << width) - 1);
    if (!trans_b) {
      for (size_t kk = 0; kk < k; ++kk) {
        _mm512_store_ps(dst + kk * kPanelWidth, _mm512_maskz_loadu_ps(cols, b + kk * ldb + col0));
      }
      continue;
    }
    // Row j of B^T (column col0 + j of B) is contiguous along k.
    for (size_t kk = 0; kk < k; kk += 16) {
      const size_t depth = std::min<size_t>(16, k - kk);
      const __mmask16 live = static_cast<__mmask16>((1u << depth) - 1);
      __m512 r[16];
      for (size_t j = 0; j < 16; ++j) {
        r[j] = j < width ? _mm512_maskz_loadu_ps(live, b + (col0 + j) * ldb + kk) : _mm512_setzero_ps();
      }
      Transpose16(r);
      for (size_t i = 0; i < depth; ++i) _mm512_store_ps(dst + (kk + i) * kPanelWidth, r[i]);
    }
  }
}

}  // namespace

const Fp32GemmKernel& Avx512Fp32GemmKernel() {
  static const Fp32GemmKernel kernel = {kMr, Block, PackA14, PackB16};
  return kernel;
}

}  // namespace sluice::internal
