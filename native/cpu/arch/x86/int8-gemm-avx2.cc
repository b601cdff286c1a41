// AVX2 INT8 GEMM for CPUs without AVX-512 VNNI, exact against the generic variant.
//
// VPMADDUBSW (u8 x s8 -> saturating int16 pairs) would overflow: 255 * 127 * 2 > 32767. So
// both operands are widened to int16 first and multiplied with VPMADDWD, whose pair sums
// (|255 * -128| * 2 = 65280) cannot overflow int32. It reads the same packed weights as the
// VNNI kernel: 16 weight bytes (4 columns x 4 k) widen to one YMM of int16; the 4 activation
// bytes of a row, widened and repeated, multiply it into 8 int32 lanes = 4 columns x 2 partial
// sums, which are folded pairwise (VPHADDD) once after the K loop.
//
// Tile: up to 4 rows x 8 columns = 8 accumulators + 2 weight + 1 activation YMM of 16; the
// epilogue runs on each 4 x 64 tile after its 8 column slices are done.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "../../int8-gemm-internal.h"

namespace sluice::int8_gemm {
namespace {

constexpr int64_t kPanel = PackedInt8Weights::kPanelWidth;
constexpr int64_t kGroupBytes = PackedInt8Weights::kGroupBytes;
constexpr int kTileRows = 4;
constexpr int64_t kTileCols = 8;

// The 4 bytes of one row's k group as int16, repeated across the 16 lanes.
inline __m256i BroadcastActivations(int32_t four_bytes) {
  return _mm256_cvtepu8_epi16(_mm_set1_epi32(four_bytes));
}

// One group of 4 k: acc[r][h] += a_r . w[h] for the two 4-column halves h.
template <int MR>
__attribute__((always_inline)) inline void Step(__m256i (&acc)[MR][2], const int8_t* group,
                                                const int32_t (&a)[MR]) {
  const __m256i w0 = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(group)));
  const __m256i w1 =
      _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(group + 16)));
  for (int r = 0; r < MR; ++r) {
    const __m256i x = BroadcastActivations(a[r]);
    acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(x, w0));
    acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(x, w1));
  }
}

// tile[r * kPanel + c] for r < MR, c < 8, columns `col` .. col + 7 of one packed panel.
template <int MR>
void Tile(const uint8_t* a, int64_t lda, int64_t k, const int8_t* panel, int64_t col,
          int32_t* tile) {
  __m256i acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const int64_t full = k / 4;
  const int8_t* group = panel + col * 4;
  for (int64_t g = 0; g < full; ++g, group += kGroupBytes) {
    int32_t x[MR];
    for (int r = 0; r < MR; ++r) std::memcpy(&x[r], a + r * lda + 4 * g, 4);
    Step(acc, group, x);
  }
  if (const int64_t rest = k - 4 * full; rest > 0) {
    // The last group's missing k bytes are zero in the weights; A is not read past K.
    int32_t x[MR];
    for (int r = 0; r < MR; ++r) {
      x[r] = 0;
      std::memcpy(&x[r], a + r * lda + 4 * full, static_cast<size_t>(rest));
    }
    Step(acc, group, x);
  }
  for (int r = 0; r < MR; ++r) {
    // hadd gives columns [0 1 4 5 | 2 3 6 7]; the permute puts them in order.
    const __m256i sums = _mm256_hadd_epi32(acc[r][0], acc[r][1]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * kPanel + col),
                        _mm256_permute4x64_epi64(sums, _MM_SHUFFLE(3, 1, 2, 0)));
  }
}

using TileFn = void (*)(const uint8_t*, int64_t, int64_t, const int8_t*, int64_t, int32_t*);
constexpr TileFn kTiles[kTileRows] = {Tile<1>, Tile<2>, Tile<3>, Tile<4>};

// The epilogue of int8-gemm-internal.h on 8 lanes; the last cols % 8 columns go through the
// scalar form, which computes the same float operations.
template <Int8GemmOutputType kType>
void StoreTile(const Args& args, const int32_t* tile, int64_t rows, int64_t cols, int64_t m0,
               int64_t n0) {
  const int64_t vector_cols = cols / 8 * 8;
  const int32_t* col_sums = args.b->column_sums() + n0;
  const float* b_scales = kType == Int8GemmOutputType::kInt32 ? nullptr : args.b->scales().data() + n0;
  const __m256 zero = _mm256_setzero_ps();
  const __m256 out_scale = _mm256_set1_ps(args.out_scale);
  const __m256 out_zp = _mm256_set1_ps(args.out_zero_point);
  const __m256 out_min = _mm256_set1_ps(args.out_min), out_max = _mm256_set1_ps(args.out_max);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t m = m0 + r;
    const __m256i zp = _mm256_set1_epi32(args.ZeroPoint(m));
    const __m256i row_term = _mm256_set1_epi32(args.b_zp ? args.RowTerm(m) : 0);
    const __m256 a_scale = kType == Int8GemmOutputType::kInt32 ? zero : _mm256_set1_ps(args.Scale(m));
    const int64_t out = m * args.ldc + n0;
    for (int64_t j = 0; j < vector_cols; j += 8) {
      const __m256i acc = _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + r * kPanel + j));
      __m256i v = _mm256_sub_epi32(
          acc, _mm256_mullo_epi32(zp, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col_sums + j))));
      if (args.b_zp) {
        const __m256i b_zp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(args.b_zp + n0 + j));
        v = _mm256_sub_epi32(v, _mm256_mullo_epi32(b_zp, row_term));
      }
      if constexpr (kType == Int8GemmOutputType::kInt32) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<int32_t*>(args.c) + out + j), v);
        continue;
      }
      __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(a_scale, _mm256_loadu_ps(b_scales + j)));
      if (args.bias) f = _mm256_add_ps(f, _mm256_loadu_ps(args.bias + n0 + j));
      if (args.relu) f = _mm256_max_ps(f, zero);  // NaN and -0 become +0, as in ToFloat
      if constexpr (kType == Int8GemmOutputType::kFloat) {
        _mm256_storeu_ps(static_cast<float*>(args.c) + out + j, f);
        continue;
      }
      __m256 q = _mm256_round_ps(_mm256_div_ps(f, out_scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, out_zp), out_min), out_max);
      const __m256i q32 = _mm256_cvtps_epi32(q);  // in range: the packs below are exact
      const __m128i lo = _mm256_castsi256_si128(q32), hi = _mm256_extracti128_si256(q32, 1);
      __m128i bytes;
      if constexpr (kType == Int8GemmOutputType::kUint8) {
        const __m128i words = _mm_packus_epi32(lo, hi);
        bytes = _mm_packus_epi16(words, words);
      } else {
        const __m128i words = _mm_packs_epi32(lo, hi);
        bytes = _mm_packs_epi16(words, words);
      }
      _mm_storel_epi64(reinterpret_cast<__m128i*>(static_cast<int8_t*>(args.c) + out + j), bytes);
    }
  }
  if (vector_cols < cols) {
    StoreTileGeneric(args, tile + vector_cols, rows, cols - vector_cols, m0, n0 + vector_cols);
  }
}

using StoreFn = void (*)(const Args&, const int32_t*, int64_t, int64_t, int64_t, int64_t);

StoreFn StoreFor(Int8GemmOutputType type) {
  switch (type) {
    case Int8GemmOutputType::kInt32: return StoreTile<Int8GemmOutputType::kInt32>;
    case Int8GemmOutputType::kFloat: return StoreTile<Int8GemmOutputType::kFloat>;
    case Int8GemmOutputType::kUint8: return StoreTile<Int8GemmOutputType::kUint8>;
    case Int8GemmOutputType::kInt8: return StoreTile<Int8GemmOutputType::kInt8>;
  }
  return StoreTile<Int8GemmOutputType::kFloat>;  // unreachable: the driver validated the type
}

void BlockAvx2(const Args& args, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  alignas(32) int32_t tile[kTileRows * kPanel];
  const StoreFn store = StoreFor(args.type);
  for (int64_t p = p0; p < p1; ++p) {
    const int8_t* panel = args.b->data() + p * args.b->k_groups() * kGroupBytes;
    const int64_t n0 = p * kPanel, cols = std::min(kPanel, args.n - n0);
    for (int64_t m = m0; m < m1; m += kTileRows) {
      const int64_t rows = std::min<int64_t>(kTileRows, m1 - m);
      for (int64_t col = 0; col < cols; col += kTileCols) {
        kTiles[rows - 1](args.a + m * args.lda, args.lda, args.k, panel, col, tile);
      }
      store(args, tile, rows, cols, m, n0);
    }
  }
}

void QuantizeAvx2(const float* x, int64_t rows, int64_t k, int64_t ldx, uint8_t* y, int64_t ldy,
                  float* scales, int32_t* zero_points) {
  const int64_t full = k / 8 * 8;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * ldx;
    __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
    for (int64_t i = 0; i < full; i += 8) {
      const __m256 v = _mm256_loadu_ps(row + i);
      vlo = _mm256_min_ps(vlo, v);
      vhi = _mm256_max_ps(vhi, v);
    }
    alignas(32) float lanes_lo[8], lanes_hi[8];
    _mm256_store_ps(lanes_lo, vlo);
    _mm256_store_ps(lanes_hi, vhi);
    float lo = 0.0f, hi = 0.0f;
    for (int i = 0; i < 8; ++i) {
      lo = std::min(lo, lanes_lo[i]);
      hi = std::max(hi, lanes_hi[i]);
    }
    for (int64_t i = full; i < k; ++i) {
      lo = std::min(lo, row[i]);
      hi = std::max(hi, row[i]);
    }
    float scale, zp;
    RowQuantParams(lo, hi, &scale, &zp);
    const __m256 vscale = _mm256_set1_ps(scale), vzp = _mm256_set1_ps(zp);
    const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
    uint8_t* out = y + r * ldy;
    for (int64_t i = 0; i < full; i += 8) {
      __m256 q = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(row + i), vscale),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, vzp), zero), top);  // NaN -> 0
      const __m256i q32 = _mm256_cvtps_epi32(q);
      const __m128i q16 = _mm_packus_epi32(_mm256_castsi256_si128(q32), _mm256_extracti128_si256(q32, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(q16, q16));
    }
    for (int64_t i = full; i < k; ++i) out[i] = QuantizeValue(row[i], scale, zp);
    scales[r] = scale;
    zero_points[r] = static_cast<int32_t>(zp);
  }
}

void QuantizeFixedAvx2(const float* x, int64_t count, float scale, float zero_point,
                       bool is_signed, void* y) {
  const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
  const __m256 vscale = _mm256_set1_ps(scale), vzp = _mm256_set1_ps(zero_point);
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  uint8_t* out = static_cast<uint8_t*>(y);
  const int64_t full = count / 8 * 8;
  for (int64_t i = 0; i < full; i += 8) {
    __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vscale);
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));  // NaN -> 0
    __m256 q = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vzp);
    q = _mm256_min_ps(_mm256_max_ps(q, vlo), vhi);
    const __m256i q32 = _mm256_cvtps_epi32(q);
    const __m128i a = _mm256_castsi256_si128(q32), b = _mm256_extracti128_si256(q32, 1);
    // In range already, so the saturating packs only narrow.
    const __m128i q16 = is_signed ? _mm_packs_epi32(a, b) : _mm_packus_epi32(a, b);
    const __m128i q8 = is_signed ? _mm_packs_epi16(q16, q16) : _mm_packus_epi16(q16, q16);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), q8);
  }
  for (int64_t i = full; i < count; ++i)
    out[i] = static_cast<uint8_t>(QuantizeFixedValue(x[i], scale, zero_point, lo, hi));
}

}  // namespace

const Variant kAvx2Variant = {BlockAvx2, QuantizeAvx2, QuantizeFixedAvx2};

}  // namespace sluice::int8_gemm
