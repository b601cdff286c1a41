// AVX-512 row kernels: 16 floats per vector, the row tail handled with masked loads and stores.
// The transcendental functions are polynomial approximations (constants below) accurate to
// about 1-2 ulp; row-kernels.h states the accuracy and the special-value contract, which rests on
// one property used throughout: _mm512_max_ps(a, b) / _mm512_min_ps(a, b) return b when either
// is NaN, so clamping as max(bound, x) keeps a NaN x.
// GCC 12's intrinsic headers trip -W(maybe-)uninitialized through their _mm512_undefined_*()
// self-initialisation idiom; the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "../../row-kernels-internal.h"
#include "phi-table.h"

namespace sluice::internal {
namespace {

__m512 Exp(__m512 x) {
  // Past these bounds exp is +inf / 0 after scaling anyway; clamping keeps the reduction exact.
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
  // x = n ln2 + r, |r| <= ln2/2; ln2 split in two (Cody-Waite) so n ln2 is exact enough.
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  // Cephes expf minimax polynomial: exp(r) = 1 + r + r^2 P(r).
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
  // scalef multiplies by 2^n with one rounding, overflowing to inf and underflowing gradually.
  return _mm512_scalef_ps(p, n);
}

__m512 Abs(__m512 x) { return _mm512_abs_ps(x); }

// Copies the sign of `sign` onto the non-negative `magnitude`.
__m512 CopySign(__m512 magnitude, __m512 sign) {
  const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  return _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(magnitude), _mm512_and_si512(_mm512_castps_si512(sign), sign_bit)));
}

__m512 Sigmoid(__m512 x) {
  // With e = exp(-|x|) in (0, 1]: sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, so
  // neither side overflows or cancels. A NaN x fails the >= test and yields e*s = NaN.
  const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), Abs(x)));
  const __m512 s = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
  const __mmask16 non_negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
  return _mm512_mask_mov_ps(_mm512_mul_ps(e, s), non_negative, s);
}

__m512 Tanh(__m512 x) {
  const __m512 a = Abs(x);
  // |x| < 0.625: Cephes tanhf odd polynomial x + x^3 P(x^2) (1 - 2/(e+1) would cancel there).
  const __m512 z = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
  // Otherwise tanh|x| = 1 - 2/(exp(2|x|)+1); exp overflowing to inf gives exactly 1.
  const __m512 e = Exp(_mm512_add_ps(a, a));
  const __m512 large = _mm512_sub_ps(
      _mm512_set1_ps(1.0f),
      _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
  const __mmask16 is_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm512_mask_mov_ps(CopySign(large, x), is_small, small);
}

// erf(x)/x = P(x^2) on |x| < 1: least-squares fit in relative error, max error 1.8e-7
// (float evaluation), coefficients ascending.
__m512 ErfSmallOverX(__m512 z2) {
  __m512 p = _mm512_set1_ps(7.843561616e-05f);
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(-8.003832772e-04f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(5.187148228e-03f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(-2.685287222e-02f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(1.128355116e-01f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(-3.761262000e-01f));
  return _mm512_fmadd_ps(p, z2, _mm512_set1_ps(1.128379107e+00f));
}

// erfc(a) for a >= 1, relative error ~3e-7; exactly 0 for a > 10 (and a = inf), where erfc is
// below the float range anyway. erfc(a) = exp(-a^2) * erfcx(a). The caller passes a^2 exactly, as
// sq_hi + sq_lo (FMA), because exp(-a^2) turns an error in a^2 into a relative error a^2 times
// larger. erfcx(a) * a is fitted as a degree-10 polynomial in s = (1/a - 0.55) / 0.45 (Chebyshev
// fit over a in [1, 10], max error 1.5e-7).
__m512 ErfcLarge(__m512 a, __m512 sq_hi, __m512 sq_lo) {
  const __m512 ac = _mm512_min_ps(_mm512_set1_ps(10.0f), a);  // NaN stays NaN
  __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), sq_hi));
  e = _mm512_fnmadd_ps(e, sq_lo, e);  // exp(-hi - lo) ~= exp(-hi) (1 - lo); |lo| <= ulp(hi)/2
  const __m512 u = _mm512_div_ps(_mm512_set1_ps(1.0f), ac);
  const __m512 s = _mm512_mul_ps(_mm512_sub_ps(u, _mm512_set1_ps(0.55f)),
                                 _mm512_set1_ps(2.2222222222f));
  __m512 p = _mm512_set1_ps(-1.525699463e-05f);
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-2.240638605e-05f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(1.748784271e-04f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-2.759353083e-04f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(8.263631025e-05f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(9.417877882e-04f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-3.975001164e-03f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(8.958969265e-03f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-4.123923369e-03f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-7.651560754e-02f));
  p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(5.023534298e-01f));
  const __m512 erfc = _mm512_mul_ps(_mm512_mul_ps(e, p), u);
  const __mmask16 beyond = _mm512_cmp_ps_mask(a, _mm512_set1_ps(10.0f), _CMP_GT_OQ);
  return _mm512_mask_mov_ps(erfc, beyond, _mm512_setzero_ps());
}

__m512 Erf(__m512 x) {
  const __m512 a = Abs(x);
  const __m512 ac = _mm512_min_ps(_mm512_set1_ps(10.0f), a);  // keeps the square finite
  const __m512 sq = _mm512_mul_ps(ac, ac);
  const __m512 erfc = ErfcLarge(a, sq, _mm512_fmsub_ps(ac, ac, sq));
  const __m512 small = _mm512_mul_ps(x, ErfSmallOverX(_mm512_mul_ps(x, x)));
  const __m512 large = CopySign(_mm512_sub_ps(_mm512_set1_ps(1.0f), erfc), x);
  const __mmask16 is_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(1.0f), _CMP_LT_OQ);
  return _mm512_mask_mov_ps(large, is_small, small);
}

// Phi(-a) from phi-table.h for 0 <= a < kPhiTableEnd. Any other a (NaN included) still gets a
// valid table index and a meaningless result, which the caller discards.
__m512 PhiOfMinus(__m512 a) {
  const __m512i i = _mm512_min_epi32(
      _mm512_cvttps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(1.0f / kPhiTableStep))), _mm512_set1_epi32(15));
  const __m512 centre = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(kPhiTableStep),
                                        _mm512_set1_ps(kPhiTableStep / 2));
  const __m512 t = _mm512_sub_ps(a, centre);
  __m512 p = _mm512_permutexvar_ps(i, _mm512_load_ps(kPhiTable[8]));
  for (int k = 7; k >= 0; --k) {
    p = _mm512_fmadd_ps(p, t, _mm512_permutexvar_ps(i, _mm512_load_ps(kPhiTable[k])));
  }
  return p;
}

// 0.5 x (1 + erf(x/sqrt2)) = x Phi(x).
__m512 GeluErf(__m512 x) {
  const __m512 ax = Abs(x);
  // |x| < kPhiTableEnd: with q = Phi(-|x|) <= 0.5 from the table, x (1 - q) for x > 0 and x q
  // otherwise; neither cancels. Each lane takes this result whatever its neighbours need, so a
  // result never depends on the vector it was computed in.
  const __m512 xq = _mm512_mul_ps(x, PhiOfMinus(ax));
  const __m512 table = _mm512_mask_sub_ps(xq, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), x, xq);
  const __mmask16 in_table = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(kPhiTableEnd), _CMP_LT_OQ);
  // Almost every vector of pre-activations ends here (NaN is in no range): the erfc path below,
  // with its exp and division, would be computed only to be discarded.
  if (in_table == 0xFFFF) return table;
  // Beyond: with z = x/sqrt2, 0.5 x erfc(|z|) for x < 0 and x (1 - erfc(z)/2) for x > 0. z^2 =
  // x^2 / 2 exactly: z itself carries the rounding of x / sqrt2, which exp(-z^2) would magnify
  // ~z^2 times in the far negative tail.
  const __m512 a = Abs(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
  const __m512 h = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
  const __m512 xc = _mm512_min_ps(_mm512_set1_ps(14.15f), ax);  // covers |z| <= 10
  const __m512 x_sq = _mm512_mul_ps(xc, xc);
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512 ec = ErfcLarge(a, _mm512_mul_ps(x_sq, half),
                              _mm512_mul_ps(_mm512_fmsub_ps(xc, xc, x_sq), half));
  // x > 0: x (1 - ec/2), which stays +inf at +inf. x < 0: h * ec, forced to 0 where ec is 0 so
  // that -inf * 0 does not make a NaN (NEQ_UQ is true for NaN, so NaN still propagates).
  const __m512 positive = _mm512_mul_ps(x, _mm512_fnmadd_ps(_mm512_set1_ps(0.5f), ec, _mm512_set1_ps(1.0f)));
  const __m512 negative =
      _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(ec, _mm512_setzero_ps(), _CMP_NEQ_UQ), h, ec);
  const __mmask16 is_positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
  const __m512 beyond = _mm512_mask_mov_ps(negative, is_positive, positive);
  return _mm512_mask_mov_ps(beyond, in_table, table);
}

// 0.5 x (1 + tanh u) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
__m512 GeluTanh(__m512 x) {
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  const __m512 u2 = _mm512_mul_ps(_mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x),
                                  _mm512_set1_ps(2.0f * 0.79788456080286535588f));
  const __m512 s = Sigmoid(u2);
  // s == 0 only far on the negative side; the product is then 0, not -inf * 0 = NaN.
  return _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(s, _mm512_setzero_ps(), _CMP_NEQ_UQ), x, s);
}

template <typename Fn>
void Map(const float* x, size_t n, float* y, Fn fn) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, fn(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, fn(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void UnaryRow(UnaryFn fn, float alpha, const float* x, size_t n, float* y) {
  switch (fn) {
    case UnaryFn::kIdentity:
      if (x != y) Map(x, n, y, [](__m512 v) { return v; });
      return;
    case UnaryFn::kRelu:  // max(0, v) keeps NaN (second operand)
      return Map(x, n, y, [](__m512 v) { return _mm512_max_ps(_mm512_setzero_ps(), v); });
    case UnaryFn::kLeakyRelu: {
      const __m512 va = _mm512_set1_ps(alpha);
      return Map(x, n, y, [va](__m512 v) {
        const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, va);
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

__mmask16 TailMask(size_t count) { return static_cast<__mmask16>((1u << count) - 1); }

// max over the row; -inf fills the tail lanes. A NaN entry may be skipped here: it reaches the
// result through its own exp() in the sum.
float RowMax(const float* x, size_t n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
  if (i < n) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), TailMask(n - i), x + i));
  return _mm512_reduce_max_ps(m);
}

void SoftmaxRow(const float* x, size_t n, float* y) {
  const __m512 max = _mm512_set1_ps(RowMax(x, n));
  __m512 sum = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = Exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), max));
    _mm512_storeu_ps(y + i, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), max)));
    _mm512_mask_storeu_ps(y + i, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), inv));
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), inv));
  }
}

void LogSoftmaxRow(const float* x, size_t n, float* y) {
  const float max_scalar = RowMax(x, n);
  const __m512 max = _mm512_set1_ps(max_scalar);
  __m512 sum = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) sum = _mm512_add_ps(sum, Exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), max)));
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), max));
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  // y = (x - max) - log sum: x - max is exact near the max (Sterbenz), so a row with a large
  // max keeps the relative accuracy of its results near 0 (forming max + log sum first would
  // round it to an ulp of max).
  const __m512 log_sum = _mm512_set1_ps(static_cast<float>(std::log(static_cast<double>(_mm512_reduce_add_ps(sum)))));
  Map(x, n, y, [max, log_sum](__m512 v) { return _mm512_sub_ps(_mm512_sub_ps(v, max), log_sum); });
}

// Sum of the row (or of squared deviations from `center`) accumulated in double: a float sum
// of a few thousand values with a large common offset would shift the mean by more than the
// 1e-5 the layer norm promises.
double RowSumDouble(const float* x, size_t n, bool squares, float center) {
  const __m512 c = _mm512_set1_ps(center);
  __m512d acc = _mm512_setzero_pd();
  size_t i = 0;
  auto add = [&](__m512 v) {
    if (squares) {
      const __m512 d = _mm512_sub_ps(v, c);
      const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(d));
      const __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(d, 1));
      acc = _mm512_fmadd_pd(lo, lo, acc);
      acc = _mm512_fmadd_pd(hi, hi, acc);
    } else {
      acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
      acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
  };
  for (; i + 16 <= n; i += 16) add(_mm512_loadu_ps(x + i));
  // Tail lanes load as `center`, so they add 0 to either sum.
  if (i < n) add(_mm512_mask_loadu_ps(squares ? c : _mm512_setzero_ps(), TailMask(n - i), x + i));
  return _mm512_reduce_add_pd(acc);
}

void LayerNormRow(const float* x, size_t n, float eps, const float* gamma, const float* beta,
                  float* y) {
  const double mean = RowSumDouble(x, n, false, 0.0f) / static_cast<double>(n);
  // The mean as float hi + lo: x - hi is nearly exact for x near the mean, and subtracting lo
  // after it keeps a large mean's rounding (ulp(300) = 3e-5) out of the output. The variance
  // uses hi alone; being off by lo adds only lo^2 to it.
  const float mean_hi = static_cast<float>(mean);
  const double var = RowSumDouble(x, n, true, mean_hi) / static_cast<double>(n);
  const __m512 inv_std = _mm512_set1_ps(static_cast<float>(1.0 / std::sqrt(var + eps)));
  const __m512 hi = _mm512_set1_ps(mean_hi);
  const __m512 lo = _mm512_set1_ps(static_cast<float>(mean - mean_hi));
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(n - i);
    const __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), hi), lo);
    __m512 v = _mm512_mul_ps(d, inv_std);
    if (gamma != nullptr) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, gamma + i));
    if (beta != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, beta + i));
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}

void AddRow(const float* a, const float* b, size_t n, float* y) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  }
  if (i < n) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i),
                                                  _mm512_maskz_loadu_ps(m, b + i)));
  }
}

}  // namespace

const RowKernelTable& Avx512RowKernels() {
  static const RowKernelTable table = {UnaryRow, SoftmaxRow, LogSoftmaxRow, LayerNormRow, AddRow};
  return table;
}

}  // namespace sluice::internal
