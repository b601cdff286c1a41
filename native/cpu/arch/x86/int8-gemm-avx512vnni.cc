// AVX-512 VNNI INT8 GEMM: register tiles of up to 4 rows x 4 ZMM (64 columns) of int32
// accumulators fed by VPDPBUSD (uint8 activations x int8 weights, 4 k per lane), with the
// epilogue applied to the tile in L1 right after the K loop. Also the AVX-512 row quantizer.
//
// The K loop is per group of 4 k: 4 aligned 64-byte weight loads, one 4-byte broadcast per
// row, rows x 4 VPDPBUSD, all operands in registers (no spills; check with objdump when
// changing it). Why 4 x 4: on the reference CPU (AMD Zen 4, one ZMM VPDPBUSD per cycle,
// latency 4) a tile loop reaches ~99% of the register-only peak with up to 16 accumulators
// (4x4, 5x3, 6x2) but 70% with 18 (6x3), 63% with 20 (5x4) and 48% with 24 (6x4).
//
// GCC 12 warns that the intrinsics' internal _mm512_undefined_*() values are uninitialised
// (GCC bug 105593, fixed in GCC 13); the warning points into the header, not at this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../../int8-gemm-internal.h"

namespace sluice::int8_gemm {
namespace {

constexpr int64_t kPanel = PackedInt8Weights::kPanelWidth;
constexpr int64_t kGroupBytes = PackedInt8Weights::kGroupBytes;
constexpr int kMaxRows = static_cast<int>(kMaxTileRows);
constexpr int kMaxVectors = static_cast<int>(kPanel / 16);
// Prefetch distance into the weight stream, in groups (1 KB ahead of the loads).
constexpr int64_t kPrefetchGroups = 4;

inline int32_t Load32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The tile's accumulators are 16 named variables rather than an array, so that keeping them
// in registers does not hang on GCC scalarising the array (the first version, an array plus a
// separate K-tail step, stored every accumulator to the stack on each iteration). Rows >= MR
// and columns >= NV are discarded by `if constexpr`. The K loop then holds only weight loads,
// broadcasts, prefetches, VPDPBUSD and pointer updates.
#define SLUICE_ACC(r) __m512i c##r##0, c##r##1, c##r##2, c##r##3;
#define SLUICE_ZERO(r, j) \
  if constexpr (j < NV) c##r##j = _mm512_setzero_si512();
#define SLUICE_DOT(r, j) \
  if constexpr (j < NV) c##r##j = _mm512_dpbusd_epi32(c##r##j, x, w##j);
#define SLUICE_STORE(r, j) \
  if constexpr (j < NV) _mm512_store_si512(tile + r * kPanel + 16 * j, c##r##j);
#define SLUICE_ROW(OP, r) \
  if constexpr (r < MR) { OP(r, 0) OP(r, 1) OP(r, 2) OP(r, 3) }
#define SLUICE_TILE(OP) SLUICE_ROW(OP, 0) SLUICE_ROW(OP, 1) SLUICE_ROW(OP, 2) SLUICE_ROW(OP, 3)
// Row r's 4 activation bytes (LOAD(r), an int32) broadcast, times the group's weights.
#define SLUICE_ROW_DOTS(r, LOAD)                        \
  if constexpr (r < MR) {                               \
    const __m512i x = _mm512_set1_epi32(LOAD(r));       \
    SLUICE_DOT(r, 0) SLUICE_DOT(r, 1) SLUICE_DOT(r, 2) SLUICE_DOT(r, 3) \
  }
// One group of 4 k at `group`: c[r][j] += a_r . w[j]. Unused w[j] are dead loads GCC drops.
#define SLUICE_GROUP(LOAD)                                                                  \
  {                                                                                         \
    const __m512i w0 = _mm512_load_si512(group), w1 = _mm512_load_si512(group + 64);        \
    const __m512i w2 = _mm512_load_si512(group + 128), w3 = _mm512_load_si512(group + 192); \
    (void)w1, (void)w2, (void)w3;                                                           \
    SLUICE_ROW_DOTS(0, LOAD) SLUICE_ROW_DOTS(1, LOAD)                                       \
    SLUICE_ROW_DOTS(2, LOAD) SLUICE_ROW_DOTS(3, LOAD)                                       \
  }

// tile[r * kPanel + c] = sum_k a[r * lda + k] * B[k, c] for r < MR, c < 16 * NV, over one
// packed panel. Reads exactly K bytes of each row of A.
template <int MR, int NV>
void Tile(const uint8_t* a, int64_t lda, int64_t k, const int8_t* panel, int32_t* tile) {
  static_assert(MR >= 1 && MR <= kMaxRows && NV >= 1 && NV <= kMaxVectors);
  SLUICE_ACC(0) SLUICE_ACC(1) SLUICE_ACC(2) SLUICE_ACC(3)
  SLUICE_TILE(SLUICE_ZERO)
  // The K tail (k % 4 bytes per row) is copied, zero-padded, into `tail` and read as one more
  // group with row stride 4: the missing weight bytes are zero in the packed panel, and A is
  // never read past K. One uniform loop keeps the accumulators in registers: with a separate
  // tail step after it, GCC stored every accumulator to the stack on each iteration.
  const int64_t full = k / 4, groups = (k + 3) / 4;
  uint8_t tail[4 * MR] = {};
  for (int r = 0; r < MR && full < groups; ++r) {
    std::memcpy(tail + 4 * r, a + r * lda + 4 * full, static_cast<size_t>(k - 4 * full));
  }
  const int8_t* group = panel;
  const uint8_t* col = a;  // the current group's 4 bytes in row 0; row r at col + r * stride
  int64_t stride = lda;
  for (int64_t g = 0; g < groups; ++g, group += kGroupBytes, col += 4) {
    if (g == full) col = tail, stride = 4;
    for (int j = 0; j < NV; ++j) {
      _mm_prefetch(reinterpret_cast<const char*>(group + kPrefetchGroups * kGroupBytes + 64 * j),
                   _MM_HINT_T0);
    }
#define SLUICE_LOAD(r) Load32(col + r * stride)
    SLUICE_GROUP(SLUICE_LOAD)
#undef SLUICE_LOAD
  }
  SLUICE_TILE(SLUICE_STORE)
}
#undef SLUICE_ACC
#undef SLUICE_ZERO
#undef SLUICE_DOT
#undef SLUICE_STORE
#undef SLUICE_ROW
#undef SLUICE_TILE
#undef SLUICE_ROW_DOTS
#undef SLUICE_GROUP

// One row (M = 1, batch-1 inference): Tile<1, NV> has only NV accumulator chains, fewer
// than VPDPBUSD's latency (4) x throughput (1) needs, so this variant keeps two sets, for
// even and odd k groups, and adds them at the end. 128 weight bytes per VPDPBUSD pair make
// it bound by weight bandwidth (L2/L3) rather than by the multiplier in practice.
template <int NV>
void TileOneRow(const uint8_t* a, int64_t lda, int64_t k, const int8_t* panel, int32_t* tile) {
  if (k < 8) return Tile<1, NV>(a, lda, k, panel, tile);
  // Named accumulators, not arrays (see SLUICE_ACC): even groups in e*, odd groups in o*.
  __m512i e0, e1, e2, e3, o0, o1, o2, o3;
  e0 = e1 = e2 = e3 = o0 = o1 = o2 = o3 = _mm512_setzero_si512();
  const int64_t pairs = k / 8;
  const int8_t* group = panel;
  for (int64_t g = 0; g < pairs; ++g, group += 2 * kGroupBytes) {
    const __m512i x0 = _mm512_set1_epi32(Load32(a + 8 * g));
    const __m512i x1 = _mm512_set1_epi32(Load32(a + 8 * g + 4));
    for (int j = 0; j < NV; ++j) {
      _mm_prefetch(reinterpret_cast<const char*>(group + kPrefetchGroups * kGroupBytes + 64 * j),
                   _MM_HINT_T0);
    }
#define SLUICE_PAIR(j)                                                                      \
  if constexpr (j < NV) {                                                                   \
    e##j = _mm512_dpbusd_epi32(e##j, x0, _mm512_load_si512(group + 64 * j));                \
    o##j = _mm512_dpbusd_epi32(o##j, x1, _mm512_load_si512(group + kGroupBytes + 64 * j));  \
  }
    SLUICE_PAIR(0) SLUICE_PAIR(1) SLUICE_PAIR(2) SLUICE_PAIR(3)
#undef SLUICE_PAIR
  }
  // The remaining k (< 8) through the general tile, on the rest of the panel.
  Tile<1, NV>(a + 8 * pairs, lda, k - 8 * pairs, group, tile);
  const __m512i sums[kMaxVectors] = {_mm512_add_epi32(e0, o0), _mm512_add_epi32(e1, o1),
                                     _mm512_add_epi32(e2, o2), _mm512_add_epi32(e3, o3)};
  for (int j = 0; j < NV; ++j) {
    const __m512i rest = _mm512_load_si512(tile + 16 * j);
    _mm512_store_si512(tile + 16 * j, _mm512_add_epi32(rest, sums[j]));
  }
}

using TileFn = void (*)(const uint8_t*, int64_t, int64_t, const int8_t*, int32_t*);
#define SLUICE_TILE_ROW(mr) {Tile<mr, 1>, Tile<mr, 2>, Tile<mr, 3>, Tile<mr, 4>}
constexpr TileFn kTiles[kMaxRows][kMaxVectors] = {
    {TileOneRow<1>, TileOneRow<2>, TileOneRow<3>, TileOneRow<4>}, SLUICE_TILE_ROW(2),
                                                   SLUICE_TILE_ROW(3), SLUICE_TILE_ROW(4)};
#undef SLUICE_TILE_ROW

// x / scale, correctly rounded, without a division (a zmm VDIVPS is ~10 cycles on Zen 4 and was
// most of the quantizer's loop and of the requantizing epilogue): q0 = x * inv with
// inv = RN(1/scale), the exact remainder r = x - q0 * scale (one FMA), then
// RN(q0 + r * inv) = RN(x / scale) by Markstein's theorem, given no underflow or overflow in the
// steps; callers keep scale within 2^+-100 (ScaleAllowsReciprocal). Then q0 is finite exactly
// when x / scale is finite (or overflows in the last step only, to the right infinity), and where
// q0 is +-inf, q1 is NaN (inf - inf): the result is q0 there.
//
// The fix-up is VFIXUPIMMPS, which classifies its second operand (q0) into one of 8 classes
// (QNaN, SNaN, zero, +1, -inf, +inf, negative, positive) and picks per class one response nibble
// of the table (nibble i for class i): 0 keeps the first operand (q1), 1 takes the second (q0),
// 8 gives +0. One instruction replaces a compare and a blend; with the 64-byte packed stores it
// took the quantizer from 30 to 22 us per 256 x 784 floats on the reference CPU.
constexpr int32_t kInfTakesQ0 = 0x00110000;           // +-inf -> q0, else q1 (NaN stays NaN)
constexpr int32_t kInfTakesQ0NanToZero = 0x00110088;  // as above, and NaN -> +0
inline bool ScaleAllowsReciprocal(float scale) {
  const float magnitude = std::fabs(scale);
  return magnitude >= 0x1p-100f && magnitude <= 0x1p100f;
}
template <int32_t kTable>
inline __m512 DivideByScaleWith(__m512 x, __m512 vscale, __m512 vinv) {
  const __m512 q0 = _mm512_mul_ps(x, vinv);
  const __m512 r = _mm512_fnmadd_ps(q0, vscale, x);
  const __m512 q1 = _mm512_fmadd_ps(r, vinv, q0);
  return _mm512_fixupimm_ps(q1, q0, _mm512_set1_epi32(kTable), 0);
}
inline __m512 DivideByScale(__m512 x, __m512 vscale, __m512 vinv) {
  return DivideByScaleWith<kInfTakesQ0>(x, vscale, vinv);
}
// As DivideByScale, with NaN quotients made +0.
inline __m512 DivideByScaleNanToZero(__m512 x, __m512 vscale, __m512 vinv) {
  return DivideByScaleWith<kInfTakesQ0NanToZero>(x, vscale, vinv);
}

// 64 int32 lanes, each already in the range of the 8-bit output type, packed in order into one
// 64-byte store. The saturating packs keep in-range lanes; the permute undoes their
// per-128-bit-lane interleave.
inline void StorePacked64(__m512i v0, __m512i v1, __m512i v2, __m512i v3, bool is_signed,
                          void* out) {
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512i w0 = _mm512_packs_epi32(v0, v1), w1 = _mm512_packs_epi32(v2, v3);
  const __m512i bytes = is_signed ? _mm512_packs_epi16(w0, w1) : _mm512_packus_epi16(w0, w1);
  _mm512_storeu_si512(out, _mm512_permutexvar_epi32(order, bytes));
}

// The epilogue of int8-gemm-internal.h on 16 lanes. Whole vectors use plain loads and stores
// (masked ones cost several times more on Zen 4); only a panel's last, partial vector is masked.
// Full quantized panels with per-tensor parameters take QuantizedPanel below instead.
template <Int8GemmOutputType kType>
void StoreTile(const Args& args, const int32_t* tile, int64_t rows, int64_t cols, int64_t m0,
               int64_t n0) {
  const int32_t* col_sums = args.b->column_sums() + n0;  // padded: full vectors are in bounds
  const float* b_scales = kType == Int8GemmOutputType::kInt32 ? nullptr : args.b->scales().data() + n0;
  const __m512 zero = _mm512_setzero_ps();
  const __m512 out_scale = _mm512_set1_ps(args.out_scale);
  const __m512 out_inv = _mm512_set1_ps(1.0f / args.out_scale);
  const bool divide = !ScaleAllowsReciprocal(args.out_scale);
  const __m512 out_zp = _mm512_set1_ps(args.out_zero_point);
  const __m512 out_min = _mm512_set1_ps(args.out_min), out_max = _mm512_set1_ps(args.out_max);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t m = m0 + r;
    const __m512i zp = _mm512_set1_epi32(args.ZeroPoint(m));
    const __m512i row_term = _mm512_set1_epi32(args.b_zp ? args.RowTerm(m) : 0);
    const __m512 a_scale = kType == Int8GemmOutputType::kInt32 ? zero : _mm512_set1_ps(args.Scale(m));
    const int64_t out = m * args.ldc + n0;
    // Columns j..j+15 corrected for the zero points (int32).
    auto corrected = [&](int64_t j) {
      const __m512i acc = _mm512_load_si512(tile + r * kPanel + j);
      __m512i v = _mm512_sub_epi32(acc, _mm512_mullo_epi32(zp, _mm512_loadu_si512(col_sums + j)));
      if (args.b_zp) {  // padded like col_sums
        v = _mm512_sub_epi32(v, _mm512_mullo_epi32(_mm512_loadu_si512(args.b_zp + n0 + j), row_term));
      }
      return v;
    };
    // ...scaled, biased and activated (float); `mask` covers the valid columns.
    auto activated = [&](int64_t j, __mmask16 mask) {
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(corrected(j)),
                               _mm512_mul_ps(a_scale, _mm512_loadu_ps(b_scales + j)));
      __asm__("" : "+v"(f));  // no FMA with the bias (see QuantizedPanel::Quantized)
      if (args.bias) {
        const float* bias = args.bias + n0 + j;
        f = _mm512_add_ps(f, mask == 0xFFFF ? _mm512_loadu_ps(bias) : _mm512_maskz_loadu_ps(mask, bias));
      }
      if (args.relu) f = _mm512_max_ps(f, zero);  // NaN and -0 become +0, as in ToFloat
      return f;
    };
    // ...requantized: int32 lanes in the output type's range (NaN -> out_min, as MAXPS with
    // the bound second does).
    auto requantized = [&](int64_t j, __mmask16 mask) {
      const __m512 f = activated(j, mask);
      const __m512 quotient =
          divide ? _mm512_div_ps(f, out_scale) : DivideByScale(f, out_scale, out_inv);
      __m512 q = _mm512_roundscale_ps(quotient, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, out_zp), out_min), out_max);
      return _mm512_cvtps_epi32(q);  // integral and in range: exact
    };
    for (int64_t j = 0; j < cols; j += 16) {
      const bool whole = cols - j >= 16;
      const __mmask16 mask = whole ? 0xFFFF : static_cast<__mmask16>((1u << (cols - j)) - 1);
      if constexpr (kType == Int8GemmOutputType::kInt32) {
        int32_t* c = static_cast<int32_t*>(args.c) + out + j;
        if (whole) _mm512_storeu_si512(c, corrected(j));
        else _mm512_mask_storeu_epi32(c, mask, corrected(j));
      } else if constexpr (kType == Int8GemmOutputType::kFloat) {
        float* c = static_cast<float*>(args.c) + out + j;
        if (whole) _mm512_storeu_ps(c, activated(j, mask));
        else _mm512_mask_storeu_ps(c, mask, activated(j, mask));
      } else {
        int8_t* c = static_cast<int8_t*>(args.c) + out + j;
        const __m128i bytes = _mm512_cvtepi32_epi8(requantized(j, mask));  // in range: exact
        if (whole) _mm_storeu_si128(reinterpret_cast<__m128i*>(c), bytes);
        else _mm_mask_storeu_epi8(c, mask, bytes);
      }
    }
  }
}

// The hot case of StoreTile, written out: a full panel (64 columns) quantized to 8 bits, with
// per-tensor activation parameters, symmetric weights and a positive output scale
// (QuantizedPanel::Applies). Everything per column (zero-point correction, combined scale,
// bias) and the output constants are prepared once per panel, not per tile; ReLU is folded into
// the lower clamp: for a positive scale, clamp(round(max(f, 0) / s)) clamps round(f / s) at 0
// as well, NaN included (MAXPS takes the bound). Clamping the quotient to
// [out_min - zp, out_max - zp] (integers) before the conversion, which rounds half to even,
// equals StoreTile's round-add-clamp, so the bytes are the same. On the reference CPU, with
// DivideByScale in both epilogues and one fix-up fewer in the quantizer, the bench's mlp-784 INT8
// run at batch 256 on one thread went from 306-318 to 298-307 us (5 alternating pairs); the
// epilogue's share of perf samples from 8.5% to 6.0%. The VPDPBUSD tiles are ~85% of the run.
struct QuantizedPanel {
  static bool Applies(const Args& args) {
    return (args.type == Int8GemmOutputType::kUint8 || args.type == Int8GemmOutputType::kInt8) &&
           args.a_zp_stride == 0 && args.a_scale_stride == 0 && args.b_zp == nullptr &&
           args.out_scale > 0.0f && ScaleAllowsReciprocal(args.out_scale);
  }

  // The columns of the panel at n0, and the output constants (the same for every panel).
  void Prepare(const Args& args, int64_t n0) {
    const int32_t* col_sums = args.b->column_sums() + n0;
    const float* b_scales = args.b->scales().data() + n0;
    const __m512i zp = _mm512_set1_epi32(args.ZeroPoint(0));
    const __m512 a_scale = _mm512_set1_ps(args.Scale(0));
    for (int j = 0; j < 4; ++j) {
      zero_point_terms[j] = _mm512_mullo_epi32(zp, _mm512_loadu_si512(col_sums + 16 * j));
      scales[j] = _mm512_mul_ps(a_scale, _mm512_loadu_ps(b_scales + 16 * j));
      // Adding a zero bias where there is none turns -0 into +0 only, which quantizes alike.
      biases[j] = args.bias ? _mm512_loadu_ps(args.bias + n0 + 16 * j) : _mm512_setzero_ps();
    }
    out_scale = _mm512_set1_ps(args.out_scale);
    out_inv = _mm512_set1_ps(1.0f / args.out_scale);
    const float lo = args.out_min - args.out_zero_point;
    q_lo = _mm512_set1_ps(args.relu ? std::max(lo, 0.0f) : lo);
    q_hi = _mm512_set1_ps(args.out_max - args.out_zero_point);
    out_zp = _mm512_set1_epi32(static_cast<int32_t>(args.out_zero_point));
    is_signed = args.type == Int8GemmOutputType::kInt8;
  }

  // Columns 16 j .. 16 j + 15 of one tile row, as int32 lanes in the output type's range.
  __m512i Quantized(const int32_t* acc, int j) const {
    const __m512i v = _mm512_sub_epi32(_mm512_load_si512(acc + 16 * j), zero_point_terms[j]);
    __m512 product = _mm512_mul_ps(_mm512_cvtepi32_ps(v), scales[j]);
    // Opaque to the compiler, so that it cannot contract the product and the bias into one FMA
    // (GCC does under its default -ffp-contract=fast), which would round once where the other
    // variants round twice.
    __asm__("" : "+v"(product));
    const __m512 f = _mm512_add_ps(product, biases[j]);
    const __m512 q = _mm512_min_ps(_mm512_max_ps(DivideByScale(f, out_scale, out_inv), q_lo), q_hi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(q), out_zp);
  }

  // Rows [m0, m0 + rows) of the panel at column n0, from the tile.
  void Store(const Args& args, const int32_t* tile, int64_t rows, int64_t m0, int64_t n0) const {
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t* acc = tile + r * kPanel;
      StorePacked64(Quantized(acc, 0), Quantized(acc, 1), Quantized(acc, 2), Quantized(acc, 3),
                    is_signed, static_cast<int8_t*>(args.c) + (m0 + r) * args.ldc + n0);
    }
  }

  __m512i zero_point_terms[4];  // a_zp * colsum
  __m512 scales[4];             // a_scale * b_scale
  __m512 biases[4];
  __m512 out_scale, out_inv, q_lo, q_hi;
  __m512i out_zp;
  bool is_signed = false;
};

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

void BlockAvx512Vnni(const Args& args, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  alignas(64) int32_t tile[kMaxTileRows * kPanel];
  const StoreFn store = StoreFor(args.type);
  const bool panel_fast_path = QuantizedPanel::Applies(args);
  QuantizedPanel quantized_panel;
  const int64_t rows = m1 - m0;
  // Balanced tiles (e.g. 10 rows -> 4,3,3, not 4,4,2): fewer rows per tile load the weights
  // more often per VPDPBUSD, so a 1- or 2-row leftover is avoided where possible.
  const int64_t tiles = (rows + kMaxTileRows - 1) / kMaxTileRows;
  const int64_t base = rows / tiles, extra = rows % tiles;
  for (int64_t p = p0; p < p1; ++p) {
    const int8_t* panel = args.b->data() + p * args.b->k_groups() * kGroupBytes;
    const int64_t n0 = p * kPanel, cols = std::min(kPanel, args.n - n0);
    const int64_t vectors = (cols + 15) / 16;  // the panel's padding columns beyond are skipped
    const bool fast = panel_fast_path && cols == kPanel;
    if (fast) quantized_panel.Prepare(args, n0);
    int64_t m = m0;
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t tile_rows = base + (t < extra ? 1 : 0);
      kTiles[tile_rows - 1][vectors - 1](args.a + m * args.lda, args.lda, args.k, panel, tile);
      if (fast) quantized_panel.Store(args, tile, tile_rows, m, n0);
      else store(args, tile, tile_rows, cols, m, n0);
      m += tile_rows;
    }
  }
}

void QuantizeAvx512(const float* x, int64_t rows, int64_t k, int64_t ldx, uint8_t* y, int64_t ldy,
                    float* scales, int32_t* zero_points) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * ldx;
    // Masked-off lanes load 0, which the range includes anyway.
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; i += 16) {
      const __mmask16 mask = k - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (k - i)) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(mask, row + i);
      lo = _mm512_min_ps(lo, v);
      hi = _mm512_max_ps(hi, v);
    }
    float scale, zp;
    RowQuantParams(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), &scale, &zp);
    const __m512 vscale = _mm512_set1_ps(scale), vzp = _mm512_set1_ps(zp);
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255.0f);
    for (int64_t i = 0; i < k; i += 16) {
      const __mmask16 mask = k - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (k - i)) - 1);
      __m512 q = _mm512_roundscale_ps(_mm512_div_ps(_mm512_maskz_loadu_ps(mask, row + i), vscale),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, vzp), zero), top);  // NaN -> 0
      _mm_mask_storeu_epi8(y + r * ldy + i, mask, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q)));
    }
    scales[r] = scale;
    zero_points[r] = static_cast<int32_t>(zp);
  }
}

void QuantizeFixedAvx512(const float* x, int64_t count, float scale, float zero_point,
                         bool is_signed, void* y) {
  const __m512 vscale = _mm512_set1_ps(scale);
  const __m512 vinv = _mm512_set1_ps(1.0f / scale);
  const bool divide = !ScaleAllowsReciprocal(scale);
  // Clamping the quotient to [lo - zp, hi - zp] (integers) before rounding equals clamping the
  // rounded sum after it, and keeps the conversion in int32 range; the conversion rounds half
  // to even (the MXCSR default).
  const __m512 vlo = _mm512_set1_ps((is_signed ? -128.0f : 0.0f) - zero_point);
  const __m512 vhi = _mm512_set1_ps((is_signed ? 127.0f : 255.0f) - zero_point);
  const __m512i vzp = _mm512_set1_epi32(static_cast<int32_t>(zero_point));
  uint8_t* out = static_cast<uint8_t*>(y);
  auto quotient = [&](__m512 xv) {  // NaN -> 0 (-> zp)
    if (!divide) return DivideByScaleNanToZero(xv, vscale, vinv);
    const __m512 q = _mm512_div_ps(xv, vscale);
    return _mm512_fixupimm_ps(q, q, _mm512_set1_epi32(kInfTakesQ0NanToZero), 0);
  };
  auto quantize = [&](__m512 xv) {  // int32 lanes in the output type's range
    const __m512 clamped = _mm512_min_ps(_mm512_max_ps(quotient(xv), vlo), vhi);
    return _mm512_add_epi32(_mm512_cvtps_epi32(clamped), vzp);
  };
  // For the packed stores: the quotient clamped to +-2^30 with one VRANGEPS (the smaller
  // magnitude, with the quotient's sign), so that the rounded sum with zp stays in int32; the
  // saturating packs then clamp it to the output type, as clamping before rounding would. One
  // instruction fewer than MAXPS + MINPS: 256 x 784 floats in p50 20.2 us instead of 22.6 (5
  // alternating runs each, 18.1-21.6 vs 22.5-22.8).
  const __m512 vbound = _mm512_set1_ps(0x1p30f);
  auto quantize_wide = [&](__m512 xv) {
    const __m512 bounded = _mm512_range_ps(quotient(xv), vbound, 0x2);  // min |.|, sign of src1
    return _mm512_add_epi32(_mm512_cvtps_epi32(bounded), vzp);
  };
  int64_t i = 0;
  // 64 at a time packed into one store, then 16 at a time.
  for (; i + 64 <= count; i += 64) {
    StorePacked64(quantize_wide(_mm512_loadu_ps(x + i)), quantize_wide(_mm512_loadu_ps(x + i + 16)),
                  quantize_wide(_mm512_loadu_ps(x + i + 32)),
                  quantize_wide(_mm512_loadu_ps(x + i + 48)), is_signed, out + i);
  }
  // Whole vectors unmasked: masked loads and stores cost several times more on Zen 4. The lanes
  // are in range, so the truncating narrow keeps them (two's complement for int8).
  for (; i + 16 <= count; i += 16) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm512_cvtepi32_epi8(quantize(_mm512_loadu_ps(x + i))));
  }
  if (i < count) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (count - i)) - 1);
    const __m512i tail = quantize(_mm512_maskz_loadu_ps(mask, x + i));
    _mm_mask_storeu_epi8(out + i, mask, _mm512_cvtepi32_epi8(tail));
  }
}

}  // namespace

const Variant kAvx512VnniVariant = {BlockAvx512Vnni, QuantizeAvx512, QuantizeFixedAvx512};

}  // namespace sluice::int8_gemm
