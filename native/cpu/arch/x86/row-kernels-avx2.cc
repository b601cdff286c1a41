// AVX2 + FMA row kernels: 8 floats per vector, the row tail handled with VMASKMOV loads and stores
// (which neither read nor write the lanes masked off, so nothing past the row is touched). Full
// vectors never take the masked path: VMASKMOV is slow on some CPUs.
// The numerics are those of row-kernels-avx512.cc, constant for constant and operation for
// operation, so the accuracy contract in row-kernels.h holds unchanged; the AVX-512 file explains
// each approximation. What AVX2 lacks is emulated exactly:
//   - scalef(p, n) (p * 2^n with one rounding) as p * 2^(n/2) * 2^(n - n/2): the first product is
//     exact, the second rounds once, overflowing to inf and underflowing gradually as scalef does;
//   - mask registers as all-ones/all-zeros lane vectors from _mm256_cmp_ps (blendv, and, andnot).
// As in the AVX-512 file, _mm256_max_ps(a, b) / _mm256_min_ps(a, b) return b when either is NaN,
// so clamping as max(bound, x) keeps a NaN x.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "../../row-kernels-internal.h"
#include "phi-table.h"

namespace sluice::internal {
namespace {

constexpr size_t kLanes = 8;

// Lane mask for the first `count` (< 8) lanes of a tail: a window into 8 ones then 8 zeros.
__m256i TailMask(size_t count) {
  alignas(32) static const int32_t kWindow[2 * kLanes] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                           0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kWindow + kLanes - count));
}

// Masked-off lanes load as 0.
__m256 LoadTail(const float* p, __m256i mask) { return _mm256_maskload_ps(p, mask); }
void StoreTail(float* p, __m256i mask, __m256 v) { _mm256_maskstore_ps(p, mask, v); }

// 2^k for integer k in [-126, 127], built from the exponent field.
__m256 Pow2(__m256i k) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

// p * 2^n for integer-valued n in [-150, 128] (Exp's range). Each half of n is in [-75, 64], and
// p is in [0.7, 1.5], so p * 2^(n/2) is an exact normal float; the second product is the one
// rounding. A NaN n gives garbage halves, but p is then NaN too and the result stays NaN.
__m256 Scale(__m256 p, __m256 n) {
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i half = _mm256_srai_epi32(ni, 1);
  return _mm256_mul_ps(_mm256_mul_ps(p, Pow2(half)), Pow2(_mm256_sub_epi32(ni, half)));
}

__m256 Exp(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
  x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  return Scale(p, n);
}

__m256 Abs(__m256 x) {
  return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)));
}

// Copies the sign of `sign` onto the non-negative `magnitude`.
__m256 CopySign(__m256 magnitude, __m256 sign) {
  const __m256 sign_bit = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
  return _mm256_or_ps(magnitude, _mm256_and_ps(sign, sign_bit));
}

// mask ? a : b, for a mask from _mm256_cmp_ps.
__m256 Select(__m256 mask, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, mask); }

__m256 Sigmoid(__m256 x) {
  const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), Abs(x)));
  const __m256 s = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  const __m256 non_negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
  return Select(non_negative, s, _mm256_mul_ps(e, s));
}

__m256 Tanh(__m256 x) {
  const __m256 a = Abs(x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  const __m256 e = Exp(_mm256_add_ps(a, a));
  const __m256 large = _mm256_sub_ps(
      _mm256_set1_ps(1.0f),
      _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  const __m256 is_small = _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
  return Select(is_small, small, CopySign(large, x));
}

// erf(x)/x = P(x^2) on |x| < 1 (see the AVX-512 file).
__m256 ErfSmallOverX(__m256 z2) {
  __m256 p = _mm256_set1_ps(7.843561616e-05f);
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(-8.003832772e-04f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(5.187148228e-03f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(-2.685287222e-02f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(1.128355116e-01f));
  p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps(-3.761262000e-01f));
  return _mm256_fmadd_ps(p, z2, _mm256_set1_ps(1.128379107e+00f));
}

// erfc(a) for a >= 1, from a^2 = sq_hi + sq_lo exactly; 0 for a > 10 (see the AVX-512 file).
__m256 ErfcLarge(__m256 a, __m256 sq_hi, __m256 sq_lo) {
  const __m256 ac = _mm256_min_ps(_mm256_set1_ps(10.0f), a);  // NaN stays NaN
  __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), sq_hi));
  e = _mm256_fnmadd_ps(e, sq_lo, e);
  const __m256 u = _mm256_div_ps(_mm256_set1_ps(1.0f), ac);
  const __m256 s = _mm256_mul_ps(_mm256_sub_ps(u, _mm256_set1_ps(0.55f)),
                                 _mm256_set1_ps(2.2222222222f));
  __m256 p = _mm256_set1_ps(-1.525699463e-05f);
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-2.240638605e-05f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.748784271e-04f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-2.759353083e-04f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(8.263631025e-05f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(9.417877882e-04f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-3.975001164e-03f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(8.958969265e-03f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-4.123923369e-03f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-7.651560754e-02f));
  p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(5.023534298e-01f));
  const __m256 erfc = _mm256_mul_ps(_mm256_mul_ps(e, p), u);
  const __m256 beyond = _mm256_cmp_ps(a, _mm256_set1_ps(10.0f), _CMP_GT_OQ);
  return _mm256_andnot_ps(beyond, erfc);
}

__m256 Erf(__m256 x) {
  const __m256 a = Abs(x);
  const __m256 ac = _mm256_min_ps(_mm256_set1_ps(10.0f), a);  // keeps the square finite
  const __m256 sq = _mm256_mul_ps(ac, ac);
  const __m256 erfc = ErfcLarge(a, sq, _mm256_fmsub_ps(ac, ac, sq));
  const __m256 small = _mm256_mul_ps(x, ErfSmallOverX(_mm256_mul_ps(x, x)));
  const __m256 large = CopySign(_mm256_sub_ps(_mm256_set1_ps(1.0f), erfc), x);
  const __m256 is_small = _mm256_cmp_ps(a, _mm256_set1_ps(1.0f), _CMP_LT_OQ);
  return Select(is_small, small, large);
}

// The 16-entry table lookup as two 8-entry permutes, chosen between by bit 3 of the index.
__m256 Lookup16(const float* table, __m256i i) {
  const __m256 lo = _mm256_permutevar8x32_ps(_mm256_load_ps(table), i);
  const __m256 hi = _mm256_permutevar8x32_ps(_mm256_load_ps(table + 8), i);
  return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(i, 28)));
}

__m256 PhiOfMinus(__m256 a) {
  const __m256i i = _mm256_min_epi32(
      _mm256_cvttps_epi32(_mm256_mul_ps(a, _mm256_set1_ps(1.0f / kPhiTableStep))), _mm256_set1_epi32(15));
  const __m256 centre = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(kPhiTableStep),
                                        _mm256_set1_ps(kPhiTableStep / 2));
  const __m256 t = _mm256_sub_ps(a, centre);
  __m256 p = Lookup16(kPhiTable[8], i);
  for (int k = 7; k >= 0; --k) p = _mm256_fmadd_ps(p, t, Lookup16(kPhiTable[k], i));
  return p;
}

// x Phi(x): the table for |x| < kPhiTableEnd, else through erfc, as in the AVX-512 file.
__m256 GeluErf(__m256 x) {
  const __m256 ax = Abs(x);
  const __m256 xq = _mm256_mul_ps(x, PhiOfMinus(ax));
  const __m256 is_positive = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
  const __m256 table = Select(is_positive, _mm256_sub_ps(x, xq), xq);
  const __m256 in_table = _mm256_cmp_ps(ax, _mm256_set1_ps(kPhiTableEnd), _CMP_LT_OQ);
  if (_mm256_movemask_ps(in_table) == 0xFF) return table;
  const __m256 a = Abs(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
  const __m256 h = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
  const __m256 xc = _mm256_min_ps(_mm256_set1_ps(14.15f), ax);  // covers |z| <= 10
  const __m256 x_sq = _mm256_mul_ps(xc, xc);
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 ec = ErfcLarge(a, _mm256_mul_ps(x_sq, half),
                              _mm256_mul_ps(_mm256_fmsub_ps(xc, xc, x_sq), half));
  const __m256 positive =
      _mm256_mul_ps(x, _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), ec, _mm256_set1_ps(1.0f)));
  // h * ec forced to 0 where ec is 0, so -inf * 0 is not NaN (NEQ_UQ keeps a NaN ec).
  const __m256 negative =
      _mm256_and_ps(_mm256_cmp_ps(ec, _mm256_setzero_ps(), _CMP_NEQ_UQ), _mm256_mul_ps(h, ec));
  const __m256 beyond = Select(is_positive, positive, negative);
  return Select(in_table, table, beyond);
}

// 0.5 x (1 + tanh u) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
__m256 GeluTanh(__m256 x) {
  const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
  const __m256 u2 = _mm256_mul_ps(_mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x),
                                  _mm256_set1_ps(2.0f * 0.79788456080286535588f));
  const __m256 s = Sigmoid(u2);
  // s == 0 only far on the negative side; the product is then 0, not -inf * 0 = NaN.
  return _mm256_and_ps(_mm256_cmp_ps(s, _mm256_setzero_ps(), _CMP_NEQ_UQ), _mm256_mul_ps(x, s));
}

template <typename Fn>
void Map(const float* x, size_t n, float* y, Fn fn) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) _mm256_storeu_ps(y + i, fn(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i m = TailMask(n - i);
    StoreTail(y + i, m, fn(LoadTail(x + i, m)));
  }
}

void UnaryRow(UnaryFn fn, float alpha, const float* x, size_t n, float* y) {
  switch (fn) {
    case UnaryFn::kIdentity:
      if (x != y) Map(x, n, y, [](__m256 v) { return v; });
      return;
    case UnaryFn::kRelu:  // max(0, v) keeps NaN (second operand)
      return Map(x, n, y, [](__m256 v) { return _mm256_max_ps(_mm256_setzero_ps(), v); });
    case UnaryFn::kLeakyRelu: {
      const __m256 va = _mm256_set1_ps(alpha);
      return Map(x, n, y, [va](__m256 v) {
        return Select(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ), _mm256_mul_ps(v, va), v);
      });
    }
    case UnaryFn::kSigmoid: return Map(x, n, y, Sigmoid);
    case UnaryFn::kTanh: return Map(x, n, y, Tanh);
    case UnaryFn::kGelu: return Map(x, n, y, GeluErf);
    case UnaryFn::kGeluTanh: return Map(x, n, y, GeluTanh);
    case UnaryFn::kExp: return Map(x, n, y, Exp);
    case UnaryFn::kErf: return Map(x, n, y, Erf);
  }
}

float ReduceMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

float ReduceAdd(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

double ReduceAdd(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
  return _mm_cvtsd_f64(s);
}

// max over the row; -inf fills the tail lanes. A NaN entry may be skipped here: it reaches the
// result through its own exp() in the sum.
float RowMax(const float* x, size_t n) {
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
  __m256 m = minus_inf;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  if (i < n) {
    const __m256i tail = TailMask(n - i);
    const __m256 v = _mm256_blendv_ps(minus_inf, LoadTail(x + i, tail), _mm256_castsi256_ps(tail));
    m = _mm256_max_ps(m, v);
  }
  return ReduceMax(m);
}

void SoftmaxRow(const float* x, size_t n, float* y) {
  const __m256 max = _mm256_set1_ps(RowMax(x, n));
  __m256 sum = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), max));
    _mm256_storeu_ps(y + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {
    const __m256i m = TailMask(n - i);
    const __m256 e =
        _mm256_and_ps(_mm256_castsi256_ps(m), Exp(_mm256_sub_ps(LoadTail(x + i, m), max)));
    StoreTail(y + i, m, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / ReduceAdd(sum));
  Map(y, n, y, [inv](__m256 v) { return _mm256_mul_ps(v, inv); });
}

void LogSoftmaxRow(const float* x, size_t n, float* y) {
  const float max_scalar = RowMax(x, n);
  const __m256 max = _mm256_set1_ps(max_scalar);
  __m256 sum = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    sum = _mm256_add_ps(sum, Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), max)));
  }
  if (i < n) {
    const __m256i m = TailMask(n - i);
    const __m256 e = Exp(_mm256_sub_ps(LoadTail(x + i, m), max));
    sum = _mm256_add_ps(sum, _mm256_and_ps(_mm256_castsi256_ps(m), e));
  }
  // y = (x - max) - log sum: x - max is exact near the max (Sterbenz), so a row with a large
  // max keeps the relative accuracy of its results near 0 (forming max + log sum first would
  // round it to an ulp of max).
  const __m256 log_sum = _mm256_set1_ps(static_cast<float>(std::log(static_cast<double>(ReduceAdd(sum)))));
  Map(x, n, y, [max, log_sum](__m256 v) { return _mm256_sub_ps(_mm256_sub_ps(v, max), log_sum); });
}

// Sum of the row (or of squared deviations from `center`) accumulated in double, as in the
// AVX-512 file (a float sum would shift a large mean by more than the promised 1e-5).
double RowSumDouble(const float* x, size_t n, bool squares, float center) {
  const __m256 c = _mm256_set1_ps(center);
  __m256d acc = _mm256_setzero_pd();
  auto add = [&](__m256 v) {
    if (squares) {
      const __m256 d = _mm256_sub_ps(v, c);
      const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(d));
      const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
      acc = _mm256_fmadd_pd(lo, lo, acc);
      acc = _mm256_fmadd_pd(hi, hi, acc);
    } else {
      acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
      acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
  };
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) add(_mm256_loadu_ps(x + i));
  // Tail lanes load as `center`, so they add 0 to either sum.
  if (i < n) {
    const __m256i m = TailMask(n - i);
    add(_mm256_blendv_ps(squares ? c : _mm256_setzero_ps(), LoadTail(x + i, m),
                         _mm256_castsi256_ps(m)));
  }
  return ReduceAdd(acc);
}

void LayerNormRow(const float* x, size_t n, float eps, const float* gamma, const float* beta,
                  float* y) {
  const double mean = RowSumDouble(x, n, false, 0.0f) / static_cast<double>(n);
  // The mean as float hi + lo (see the AVX-512 file): x - hi - lo keeps a large mean's rounding
  // out of the output; the variance uses hi alone.
  const float mean_hi = static_cast<float>(mean);
  const double var = RowSumDouble(x, n, true, mean_hi) / static_cast<double>(n);
  const __m256 inv_std = _mm256_set1_ps(static_cast<float>(1.0 / std::sqrt(var + eps)));
  const __m256 hi = _mm256_set1_ps(mean_hi);
  const __m256 lo = _mm256_set1_ps(static_cast<float>(mean - mean_hi));
  const auto normalize = [&](__m256 v, __m256 g, __m256 b) {
    v = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(v, hi), lo), inv_std);
    if (gamma != nullptr) v = _mm256_mul_ps(v, g);
    if (beta != nullptr) v = _mm256_add_ps(v, b);
    return v;
  };
  const __m256 zero = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m256 g = gamma != nullptr ? _mm256_loadu_ps(gamma + i) : zero;
    const __m256 b = beta != nullptr ? _mm256_loadu_ps(beta + i) : zero;
    _mm256_storeu_ps(y + i, normalize(_mm256_loadu_ps(x + i), g, b));
  }
  if (i < n) {
    const __m256i m = TailMask(n - i);
    const __m256 g = gamma != nullptr ? LoadTail(gamma + i, m) : zero;
    const __m256 b = beta != nullptr ? LoadTail(beta + i, m) : zero;
    StoreTail(y + i, m, normalize(LoadTail(x + i, m), g, b));
  }
}

void AddRow(const float* a, const float* b, size_t n, float* y) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  }
  for (; i < n; ++i) y[i] = a[i] + b[i];
}

}  // namespace

const RowKernelTable& Avx2RowKernels() {
  static const RowKernelTable table = {UnaryRow, SoftmaxRow, LogSoftmaxRow, LayerNormRow, AddRow};
  return table;
}

}  // namespace sluice::internal
