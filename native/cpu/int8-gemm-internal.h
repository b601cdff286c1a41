// Private contract between the INT8 GEMM driver (int8-gemm.cc) and its kernel variants
// (int8-gemm-generic.cc, arch/x86/int8-gemm-{avx2,avx512vnni}.cc). The driver validates and
// normalises arguments into Int8GemmArgs, splits the work into blocks and calls one variant's
// block function per block from any thread; variants only read the arguments and write their
// block of C, so blocks run concurrently.
#pragma once

#include <cmath>
#include <cstdint>

#include "sluice/int8-gemm.h"

namespace sluice::int8_gemm {

// Rows of the largest register tile; the driver aligns row blocks to it.
constexpr int64_t kMaxTileRows = 4;

// Normalised arguments: per-tensor values are per-row arrays with stride 0, int8 activations
// already shifted to uint8 (a_zp_offset = 128 then).
struct Args {
  const uint8_t* a = nullptr;  // row m at a + m * lda
  int64_t lda = 0;
  int64_t k = 0;
  const PackedInt8Weights* b = nullptr;

  const int32_t* a_zp = nullptr;  // a_zp[m * a_zp_stride] + a_zp_offset; null = offset only
  int64_t a_zp_stride = 0;
  int32_t a_zp_offset = 0;
  const float* a_scale = nullptr;  // a_scale[m * a_scale_stride]; null for kInt32
  int64_t a_scale_stride = 0;
  // Weights with zero points only (else both null): b->zero_points() and the row sums of
  // the (uint8) A that the b_zp term needs.
  const int32_t* b_zp = nullptr;
  const int32_t* a_row_sums = nullptr;

  Int8GemmOutputType type = Int8GemmOutputType::kFloat;
  void* c = nullptr;  // element (m, n) at index m * ldc + n
  int64_t ldc = 0;
  int64_t n = 0;
  const float* bias = nullptr;  // null = no bias
  bool relu = false;
  float out_scale = 1.0f;
  float out_zero_point = 0.0f;
  float out_min = 0.0f;  // saturation bounds of the quantized output type
  float out_max = 0.0f;

  int32_t ZeroPoint(int64_t m) const {
    return (a_zp ? a_zp[m * a_zp_stride] : 0) + a_zp_offset;
  }
  float Scale(int64_t m) const { return a_scale[m * a_scale_stride]; }
  // rowsum_a[m] - K * a_zp[m]: row m's factor of the b_zp term (wrapping int32).
  int32_t RowTerm(int64_t m) const {
    return static_cast<int32_t>(static_cast<uint32_t>(a_row_sums[m]) -
                                static_cast<uint32_t>(k) * static_cast<uint32_t>(ZeroPoint(m)));
  }
};

// Computes rows [m0, m1) x panels [p0, p1) of C, epilogue included.
using BlockFn = void (*)(const Args& args, int64_t m0, int64_t m1, int64_t p0, int64_t p1);
// Quantizes `rows` rows as QuantizeRowsUint8 describes (arguments already validated).
using QuantizeFn = void (*)(const float* x, int64_t rows, int64_t k, int64_t ldx, uint8_t* y,
                            int64_t ldy, float* scales, int32_t* zero_points);

// Quantizes `count` floats with a fixed scale and zero point as QuantizeLinearFixed describes
// (arguments already validated); y holds uint8 or, when is_signed, int8 bytes.
using QuantizeFixedFn = void (*)(const float* x, int64_t count, float scale, float zero_point,
                                 bool is_signed, void* y);

struct Variant {
  BlockFn block;
  QuantizeFn quantize;
  QuantizeFixedFn quantize_fixed;
};

extern const Variant kGenericVariant;
#if defined(__x86_64__) || defined(__i386__)
extern const Variant kAvx2Variant;
extern const Variant kAvx512VnniVariant;
#endif

// ---- scalar forms of the epilogue, shared by the generic variant and SIMD tails ----------
// Every SIMD variant performs exactly these float operations in this order (no FMA
// contraction), so all variants agree bit for bit.

// acc - x * y in wrapping int32 arithmetic, as the SIMD lanes compute it: used for
// acc - a_zp * colsum, then (weights with zero points) - b_zp * RowTerm.
inline int32_t Corrected(int32_t acc, int32_t x, int32_t y) {
  return static_cast<int32_t>(static_cast<uint32_t>(acc) -
                              static_cast<uint32_t>(x) * static_cast<uint32_t>(y));
}

// float(v) * (a_scale * b_scale) [+ bias], then ReLU; NaN becomes 0 under ReLU, as MAXPS
// with the zero second does.
inline float ToFloat(const Args& args, int32_t v, float a_scale, int64_t n) {
  float f = static_cast<float>(v) * (a_scale * args.b->scales()[n]);
  if (args.bias) f = f + args.bias[n];
  if (args.relu) f = f > 0.0f ? f : 0.0f;
  return f;
}

// saturate(round_half_even(f / out_scale) + zero_point); NaN saturates to out_min.
inline int32_t Requantize(const Args& args, float f) {
  float q = std::nearbyint(f / args.out_scale) + args.out_zero_point;
  q = q >= args.out_min ? q : args.out_min;
  q = q <= args.out_max ? q : args.out_max;
  return static_cast<int32_t>(q);
}

// Applies the epilogue to an int32 tile (rows x cols, row stride kPanelWidth) whose element
// (0, 0) is C(m0, n0), and stores it.
void StoreTileGeneric(const Args& args, const int32_t* tile, int64_t rows, int64_t cols,
                      int64_t m0, int64_t n0);

// The range (lo, hi) of one row, extended to include 0, turned into scale and zero point.
inline void RowQuantParams(float lo, float hi, float* scale, float* zero_point) {
  float s = (hi - lo) / 255.0f;
  if (!(s > 0.0f) || !std::isfinite(s)) {
    *scale = 1.0f;
    *zero_point = 0.0f;
    return;
  }
  float zp = std::nearbyint(0.0f - lo / s);
  zp = zp >= 0.0f ? zp : 0.0f;  // NaN -> 0
  *scale = s;
  *zero_point = zp <= 255.0f ? zp : 255.0f;
}

// saturate(round(x / scale) + zero_point) into [0, 255]; NaN -> 0.
inline uint8_t QuantizeValue(float x, float scale, float zero_point) {
  float q = std::nearbyint(x / scale) + zero_point;
  q = q >= 0.0f ? q : 0.0f;
  q = q <= 255.0f ? q : 255.0f;
  return static_cast<uint8_t>(q);
}

// saturate(round_half_even(x / scale) + zero_point) into [lo, hi]; NaN -> zero_point (as the
// reference QuantizeLinear). The SIMD variants zero NaN quotients, round, add and clamp in this
// order, so they agree bit for bit.
inline int32_t QuantizeFixedValue(float x, float scale, float zero_point, float lo, float hi) {
  float v = x / scale;
  v = v == v ? v : 0.0f;
  float q = std::nearbyint(v) + zero_point;
  q = q >= lo ? q : lo;
  q = q <= hi ? q : hi;
  return static_cast<int32_t>(q);
}

}  // namespace sluice::int8_gemm
