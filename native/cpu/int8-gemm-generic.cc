// Scalar INT8 GEMM: the ground truth for the SIMD variants (and the path on CPUs without
// AVX2). Reads the same packed weights as they do; the scalar epilogue and quantizer here are
// also what the SIMD variants use for their column tails.
#include <algorithm>

#include "int8-gemm-internal.h"

namespace sluice::int8_gemm {

void StoreTileGeneric(const Args& args, const int32_t* tile, int64_t rows, int64_t cols,
                      int64_t m0, int64_t n0) {
  const int32_t* col_sums = args.b->column_sums();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t m = m0 + r;
    const int32_t zp = args.ZeroPoint(m);
    const int32_t row_term = args.b_zp ? args.RowTerm(m) : 0;
    const int32_t* acc = tile + r * PackedInt8Weights::kPanelWidth;
    const int64_t row = m * args.ldc + n0;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t n = n0 + j;
      int32_t v = Corrected(acc[j], zp, col_sums[n]);
      if (args.b_zp) v = Corrected(v, args.b_zp[n], row_term);
      switch (args.type) {
        case Int8GemmOutputType::kInt32:
          static_cast<int32_t*>(args.c)[row + j] = v;
          break;
        case Int8GemmOutputType::kFloat:
          static_cast<float*>(args.c)[row + j] = ToFloat(args, v, args.Scale(m), n);
          break;
        case Int8GemmOutputType::kUint8:
          static_cast<uint8_t*>(args.c)[row + j] =
              static_cast<uint8_t>(Requantize(args, ToFloat(args, v, args.Scale(m), n)));
          break;
        case Int8GemmOutputType::kInt8:
          static_cast<int8_t*>(args.c)[row + j] =
              static_cast<int8_t>(Requantize(args, ToFloat(args, v, args.Scale(m), n)));
          break;
      }
    }
  }
}

namespace {

constexpr int64_t kPanel = PackedInt8Weights::kPanelWidth;

void BlockGeneric(const Args& args, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  const int64_t k = args.k, groups = args.b->k_groups();
  int32_t tile[kPanel];  // one row at a time: the generic path has no register blocking
  for (int64_t p = p0; p < p1; ++p) {
    const int8_t* panel = args.b->data() + p * groups * PackedInt8Weights::kGroupBytes;
    const int64_t n0 = p * kPanel, cols = std::min(kPanel, args.n - n0);
    for (int64_t m = m0; m < m1; ++m) {
      const uint8_t* a = args.a + m * args.lda;
      for (int64_t j = 0; j < cols; ++j) {
        // Accumulate in uint32 so that overflow wraps (defined) exactly like the SIMD lanes.
        uint32_t acc = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          const int8_t w = panel[(kk / 4) * PackedInt8Weights::kGroupBytes + j * 4 + kk % 4];
          acc += static_cast<uint32_t>(static_cast<int32_t>(a[kk]) * w);
        }
        tile[j] = static_cast<int32_t>(acc);
      }
      StoreTileGeneric(args, tile, 1, cols, m, n0);
    }
  }
}

void QuantizeGeneric(const float* x, int64_t rows, int64_t k, int64_t ldx, uint8_t* y,
                     int64_t ldy, float* scales, int32_t* zero_points) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * ldx;
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < k; ++i) {
      lo = std::min(lo, row[i]);
      hi = std::max(hi, row[i]);
    }
    float scale, zp;
    RowQuantParams(lo, hi, &scale, &zp);
    for (int64_t i = 0; i < k; ++i) y[r * ldy + i] = QuantizeValue(row[i], scale, zp);
    scales[r] = scale;
    zero_points[r] = static_cast<int32_t>(zp);
  }
}

void QuantizeFixedGeneric(const float* x, int64_t count, float scale, float zero_point,
                          bool is_signed, void* y) {
  const float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
  uint8_t* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < count; ++i)
    out[i] = static_cast<uint8_t>(QuantizeFixedValue(x[i], scale, zero_point, lo, hi));
}

}  // namespace

const Variant kGenericVariant = {BlockGeneric, QuantizeGeneric, QuantizeFixedGeneric};

}  // namespace sluice::int8_gemm
