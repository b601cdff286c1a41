// Row kernels: every variant (generic, AVX2, AVX-512: whatever this CPU runs) against <cmath>
// (elementwise) and against the generic reference (softmax, layer norm), on sweeps that include
// every tail length, odd sizes, in-place calls, large |x| and special values.
#include "sluice/row-kernels.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../cpu/row-kernels-internal.h"
#include "sluice/cpu_features.h"
#include "sluice/thread-pool.h"
#include "test-harness.h"

using sluice::KernelIsa;
using sluice::UnaryFn;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

const UnaryFn kAllFns[] = {UnaryFn::kIdentity, UnaryFn::kRelu,     UnaryFn::kLeakyRelu,
                           UnaryFn::kSigmoid,  UnaryFn::kTanh,     UnaryFn::kGelu,
                           UnaryFn::kGeluTanh, UnaryFn::kExp,      UnaryFn::kErf};

// Independent double-precision definitions (not the library's reference code).
double Expected(UnaryFn fn, double x) {
  switch (fn) {
    case UnaryFn::kIdentity: return x;
    case UnaryFn::kRelu: return x > 0 ? x : 0;
    case UnaryFn::kLeakyRelu: return x >= 0 ? x : 0.1f * static_cast<float>(x);  // alpha 0.1f
    case UnaryFn::kSigmoid: return 1 / (1 + std::exp(-x));
    case UnaryFn::kTanh: return std::tanh(x);
    case UnaryFn::kGelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case UnaryFn::kGeluTanh: {
      const double u = std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
      return x / (1 + std::exp(-2 * u));
    }
    case UnaryFn::kExp: return std::exp(x);
    case UnaryFn::kErf: return std::erf(x);
  }
  return 0;
}

// Relative 2e-6 (a few ulp); a result the float range cannot hold as a normal number may be
// flushed, so anything below FLT_MIN in magnitude matches a reference below FLT_MIN.
bool Close(float got, double want, double slack = 1.0) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want) || std::fabs(want) > FLT_MAX) return got == static_cast<float>(want);
  if (std::fabs(want) < FLT_MIN) return std::fabs(got) < FLT_MIN * 1.0001;
  return std::fabs(got - want) <= 2e-6 * slack * std::fabs(want);
}

// The tanh form of gelu is evaluated in float like everyone evaluates it: in its far negative
// tail the rounding of u (|2u| ~ 0.07 |x|^3) shows up relatively in e^{2u} (row-kernels.h).
double Slack(UnaryFn fn, float x) {
  return fn == UnaryFn::kGeluTanh ? std::fmax(1.0, 0.07 * std::pow(std::fabs(x), 3) / 8) : 1.0;
}

std::vector<float> SweepInputs() {
  std::vector<float> xs;
  for (float x = -20.0f; x <= 20.0f; x += 0.00390625f * 3.1f) xs.push_back(x);
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 0.624f, 0.626f, 0.999f, 1.0f,
                  1.001f, 9.99f, 10.0f, 10.01f, 13.0f, -13.0f, 14.5f, -14.5f, 30.0f, -30.0f,
                  50.0f, -50.0f, 87.0f, -87.0f, 88.7f, -88.7f, 89.0f, -89.0f, 100.0f, -100.0f,
                  -103.0f, -104.0f, 1e10f, -1e10f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX}) {
    xs.push_back(x);
  }
  return xs;
}

}  // namespace

TEST(UnaryMatchesCmathOnSweep) {
  const std::vector<float> xs = SweepInputs();
  std::vector<float> ys(xs.size());
  for (KernelIsa isa : sluice::RowKernelIsas()) {
    for (UnaryFn fn : kAllFns) {
      ASSERT_TRUE(sluice::UnaryF32(fn, 0.1f, xs.data(), xs.size(), ys.data(), isa).ok());
      int bad = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        const double want = Expected(fn, xs[i]);
        if (!Close(ys[i], want, Slack(fn, xs[i])) && bad++ < 300) {
          std::printf("  %s %s(%.9g) = %.9g, want %.9g\n", sluice::KernelIsaName(isa),
                      sluice::UnaryFnName(fn), xs[i], ys[i], want);
        }
      }
      EXPECT_EQ(bad, 0);
    }
  }
}

TEST(EachVariantRunsItsOwnTable) {
  const sluice::CpuFeatures& f = sluice::GetCpuFeatures();
  const std::vector<KernelIsa> isas = sluice::RowKernelIsas();
  const auto listed = [&](KernelIsa isa) {
    return std::find(isas.begin(), isas.end(), isa) != isas.end();
  };
  EXPECT_TRUE(listed(KernelIsa::kGeneric));
  EXPECT_EQ(listed(KernelIsa::kAvx2), f.avx2 && f.fma);
  EXPECT_TRUE(&sluice::internal::RowKernelsFor(KernelIsa::kGeneric) ==
              &sluice::internal::GenericRowKernels());
#if defined(__x86_64__) || defined(__i386__)
  EXPECT_TRUE(&sluice::internal::RowKernelsFor(KernelIsa::kAvx2) ==
              &sluice::internal::Avx2RowKernels());
  EXPECT_TRUE(&sluice::internal::RowKernelsFor(KernelIsa::kAvx512) ==
              &sluice::internal::Avx512RowKernels());
#endif
}

namespace {

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// A copy of the row with kGuard floats of kGuardValue on either side, so that a write past
// either end shows.
constexpr size_t kGuard = 16;
constexpr float kGuardValue = -7.0f;
std::vector<float> Guarded(const float* row, size_t n) {
  std::vector<float> buf(n + 2 * kGuard, kGuardValue);
  std::copy(row, row + n, buf.begin() + kGuard);
  return buf;
}
bool GuardsIntact(const std::vector<float>& buf, size_t n) {
  for (size_t i = 0; i < kGuard; ++i) {
    if (!SameBits(buf[i], kGuardValue) || !SameBits(buf[kGuard + n + i], kGuardValue)) return false;
  }
  return true;
}

}  // namespace

// Every n up to 40 (all tail lengths of an 8- and a 16-lane vector, several times over), starting
// at different offsets so an element lands in different lanes: each result must be bit-identical
// to the one the same input gets inside a full-width run, whether in place or not, and nothing
// past the row may be written.
TEST(UnaryEveryTailLengthMatchesFullRows) {
  constexpr size_t kMax = 40;
  std::vector<float> x(kMax + 8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.37f * static_cast<float>(i) - 6.0f;
  x[5] = kNaN;
  x[11] = -kInf;
  x[30] = 95.0f;  // exp overflows
  for (KernelIsa isa : sluice::RowKernelIsas()) {
    for (UnaryFn fn : kAllFns) {
      std::vector<float> full(x.size());
      ASSERT_TRUE(sluice::UnaryF32(fn, 0.1f, x.data(), x.size(), full.data(), isa).ok());
      int bad = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        if (std::isfinite(x[i]) && !Close(full[i], Expected(fn, x[i]), Slack(fn, x[i]))) ++bad;
      }
      for (size_t offset : {0, 1, 5}) {
        for (size_t n = 0; n <= kMax; ++n) {
          std::vector<float> y(n + 2 * kGuard, kGuardValue);
          const float* in = x.data() + offset;
          ASSERT_TRUE(sluice::UnaryF32(fn, 0.1f, in, n, y.data() + kGuard, isa).ok());
          std::vector<float> in_place = Guarded(x.data() + offset, n);
          float* row = in_place.data() + kGuard;
          ASSERT_TRUE(sluice::UnaryF32(fn, 0.1f, row, n, row, isa).ok());
          for (size_t i = 0; i < n; ++i) {
            const float want = full[offset + i], got = y[kGuard + i];
            if (!SameBits(got, want) && !(std::isnan(want) && std::isnan(got))) ++bad;
            if (!SameBits(row[i], got) && !std::isnan(want)) ++bad;
          }
          if (!GuardsIntact(y, n) || !GuardsIntact(in_place, n)) ++bad;
        }
      }
      if (bad != 0) {
        std::printf("  %s %s: %d bad\n", sluice::KernelIsaName(isa), sluice::UnaryFnName(fn), bad);
      }
      EXPECT_EQ(bad, 0);
    }
  }
}

// The AVX2 file mirrors the AVX-512 one operation for operation (scalef emulated exactly), so the
// two give the same bits; a change to one approximation must be made in both.
TEST(Avx2AndAvx512UnaryAgreeBitForBit) {
  const std::vector<KernelIsa> isas = sluice::RowKernelIsas();
  for (KernelIsa isa : {KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (std::find(isas.begin(), isas.end(), isa) == isas.end()) SKIP("needs AVX2 and AVX-512");
  }
  std::vector<float> xs = SweepInputs();
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; ++i) {  // random bit patterns: subnormals, NaN payloads, huge values
    const uint32_t bits = rng();
    float x;
    std::memcpy(&x, &bits, sizeof(x));
    xs.push_back(x);
  }
  for (UnaryFn fn : kAllFns) {
    std::vector<float> a(xs.size()), b(xs.size());
    ASSERT_TRUE(sluice::UnaryF32(fn, 0.1f, xs.data(), xs.size(), a.data(), KernelIsa::kAvx2).ok());
    ASSERT_TRUE(sluice::UnaryF32(fn, 0.1f, xs.data(), xs.size(), b.data(), KernelIsa::kAvx512).ok());
    int differ = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!SameBits(a[i], b[i]) && !(std::isnan(a[i]) && std::isnan(b[i])) && differ++ < 5) {
        std::printf("  %s(%.9g): avx2 %.9g, avx512 %.9g\n", sluice::UnaryFnName(fn), xs[i], a[i],
                    b[i]);
      }
    }
    EXPECT_EQ(differ, 0);
  }
}

TEST(UnarySpecialValues) {
  const float xs[] = {kNaN, kInf, -kInf};
  struct Want { UnaryFn fn; float at_inf, at_minus_inf; };
  const Want wants[] = {{UnaryFn::kRelu, kInf, 0.0f},      {UnaryFn::kSigmoid, 1.0f, 0.0f},
                        {UnaryFn::kTanh, 1.0f, -1.0f},     {UnaryFn::kGelu, kInf, 0.0f},
                        {UnaryFn::kGeluTanh, kInf, 0.0f},  {UnaryFn::kExp, kInf, 0.0f},
                        {UnaryFn::kErf, 1.0f, -1.0f},      {UnaryFn::kLeakyRelu, kInf, -kInf}};
  for (KernelIsa isa : sluice::RowKernelIsas()) {
    for (const Want& w : wants) {
      float y[3];
      ASSERT_TRUE(sluice::UnaryF32(w.fn, 0.1f, xs, 3, y, isa).ok());
      EXPECT_TRUE(std::isnan(y[0]));
      EXPECT_EQ(y[1], w.at_inf);
      EXPECT_EQ(y[2], w.at_minus_inf);
    }
  }
}

namespace {

// Max over elements of |got - want| / (|want| + floor); NaN must match NaN and an infinity must
// match exactly (the relative error of either would be NaN, which fmax would drop).
double MaxRelError(const std::vector<float>& got, const std::vector<float>& want, double floor) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]) || std::isnan(got[i])) {
      if (std::isnan(want[i]) != std::isnan(got[i])) return INFINITY;
      continue;
    }
    if (std::isinf(want[i]) || std::isinf(got[i])) {
      if (got[i] != want[i]) return INFINITY;
      continue;
    }
    worst = std::fmax(worst, std::fabs(got[i] - want[i]) / (std::fabs(want[i]) + floor));
  }
  return worst;
}

std::vector<float> RandomRows(size_t count, float scale, float offset, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(offset, scale);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace

TEST(SoftmaxMatchesGeneric) {
  for (size_t n : {1, 3, 15, 16, 17, 100, 767, 1000, 4099}) {
    const size_t rows = 5;
    std::vector<float> x = RandomRows(rows * n, 4.0f, 1.0f, static_cast<uint32_t>(n));
    x[0] = -kInf;  // a masked position
    std::vector<float> want(x.size()), want_log(x.size());
    ASSERT_TRUE(sluice::SoftmaxRows(x.data(), rows, n, want.data(), nullptr, KernelIsa::kGeneric).ok());
    ASSERT_TRUE(
        sluice::LogSoftmaxRows(x.data(), rows, n, want_log.data(), nullptr, KernelIsa::kGeneric).ok());
    if (n > 1) EXPECT_EQ(want[0], 0.0f);
    for (KernelIsa isa : sluice::RowKernelIsas()) {
      std::vector<float> got(x.size()), got_log(x.size());
      ASSERT_TRUE(sluice::SoftmaxRows(x.data(), rows, n, got.data(), nullptr, isa).ok());
      ASSERT_TRUE(sluice::LogSoftmaxRows(x.data(), rows, n, got_log.data(), nullptr, isa).ok());
      EXPECT_TRUE(MaxRelError(got, want, 1e-30) < 1e-5);
      EXPECT_TRUE(MaxRelError(got_log, want_log, 1.0) < 1e-5);
      std::vector<float> in_place = x;  // x == y is allowed
      ASSERT_TRUE(sluice::SoftmaxRows(in_place.data(), rows, n, in_place.data(), nullptr, isa).ok());
      EXPECT_TRUE(std::memcmp(in_place.data(), got.data(), got.size() * sizeof(float)) == 0);
      in_place = x;
      ASSERT_TRUE(sluice::LogSoftmaxRows(in_place.data(), rows, n, in_place.data(), nullptr, isa).ok());
      EXPECT_TRUE(std::memcmp(in_place.data(), got_log.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST(SoftmaxSpecialRows) {
  // Row 0 all -inf, row 1 holds +inf, row 2 holds NaN: NaN rows. Row 3 finite: sums to 1.
  std::vector<float> x = {-kInf, -kInf, -kInf, 1.0f, kInf, 2.0f, 1.0f, kNaN, 2.0f, 1.0f, 2.0f, 3.0f};
  for (KernelIsa isa : sluice::RowKernelIsas()) {
    std::vector<float> y(x.size());
    ASSERT_TRUE(sluice::SoftmaxRows(x.data(), 4, 3, y.data(), nullptr, isa).ok());
    for (size_t i = 0; i < 9; ++i) EXPECT_TRUE(std::isnan(y[i]));
    EXPECT_TRUE(std::fabs(y[9] + y[10] + y[11] - 1.0f) < 1e-6f);
  }
}

TEST(LayerNormMatchesGeneric) {
  for (size_t n : {1, 2, 15, 17, 64, 767, 768, 4099}) {
    const size_t rows = 4;
    // A large common offset: a careless one-pass variance would cancel here.
    const std::vector<float> x = RandomRows(rows * n, 2.0f, 300.0f, static_cast<uint32_t>(n));
    const std::vector<float> gamma = RandomRows(n, 1.0f, 1.0f, 7), beta = RandomRows(n, 1.0f, 0.0f, 8);
    for (bool affine : {false, true}) {
      const float* g = affine ? gamma.data() : nullptr;
      const float* b = affine ? beta.data() : nullptr;
      std::vector<float> want(x.size());
      ASSERT_TRUE(sluice::LayerNormRows(x.data(), rows, n, 1e-5f, g, b, want.data(), nullptr,
                                        KernelIsa::kGeneric).ok());
      for (KernelIsa isa : sluice::RowKernelIsas()) {
        std::vector<float> got(x.size());
        ASSERT_TRUE(sluice::LayerNormRows(x.data(), rows, n, 1e-5f, g, b, got.data(), nullptr, isa).ok());
        const double err = MaxRelError(got, want, 1.0);
        if (!(err < 1e-5)) {
          std::printf("  %s n=%zu affine=%d error %g\n", sluice::KernelIsaName(isa), n, affine, err);
        }
        EXPECT_TRUE(err < 1e-5);
        std::vector<float> in_place = x;  // x == y is allowed
        ASSERT_TRUE(sluice::LayerNormRows(in_place.data(), rows, n, 1e-5f, g, b, in_place.data(),
                                          nullptr, isa).ok());
        EXPECT_TRUE(std::memcmp(in_place.data(), got.data(), got.size() * sizeof(float)) == 0);
      }
    }
  }
}

// Softmax, log-softmax and layer norm for every n up to 40, three rows at once (so a row's tail
// sits right before the next row's head): close to the generic reference, bit-identical in
// place, and nothing before or after the block written.
TEST(RowOpsEveryTailLength) {
  for (size_t n = 1; n <= 40; ++n) {
    const size_t rows = 3;
    std::vector<float> x = RandomRows(rows * n, 4.0f, 2.0f, static_cast<uint32_t>(100 + n));
    if (n > 1) x[n + n / 2] = -kInf;  // a masked position in row 1
    const std::vector<float> gamma = RandomRows(n, 1.0f, 1.0f, 7), beta = RandomRows(n, 1.0f, 0.0f, 8);
    enum Op { kSoftmax, kLogSoftmax, kLayerNorm, kAffineLayerNorm };
    const auto run = [&](Op op, const float* in, float* out, KernelIsa isa) {
      switch (op) {
        case kSoftmax: return sluice::SoftmaxRows(in, rows, n, out, nullptr, isa);
        case kLogSoftmax: return sluice::LogSoftmaxRows(in, rows, n, out, nullptr, isa);
        case kLayerNorm:
          return sluice::LayerNormRows(in, rows, n, 1e-5f, nullptr, nullptr, out, nullptr, isa);
        case kAffineLayerNorm:
          return sluice::LayerNormRows(in, rows, n, 1e-5f, gamma.data(), beta.data(), out,
                                       nullptr, isa);
      }
      return sluice::Status::Ok();
    };
    // (The layer norm of the row holding -inf is NaN, in the reference too.)
    for (Op op : {kSoftmax, kLogSoftmax, kLayerNorm, kAffineLayerNorm}) {
      std::vector<float> want(x.size());
      ASSERT_TRUE(run(op, x.data(), want.data(), KernelIsa::kGeneric).ok());
      for (KernelIsa isa : sluice::RowKernelIsas()) {
        std::vector<float> out(x.size() + 2 * kGuard, kGuardValue);
        ASSERT_TRUE(run(op, x.data(), out.data() + kGuard, isa).ok());
        std::vector<float> in_place = Guarded(x.data(), x.size());
        ASSERT_TRUE(run(op, in_place.data() + kGuard, in_place.data() + kGuard, isa).ok());
        const std::vector<float> got(out.begin() + kGuard, out.end() - kGuard);
        const double err = MaxRelError(got, want, op == kSoftmax ? 1e-30 : 1.0);
        if (!(err < 1e-5)) {
          std::printf("  %s n=%zu op=%d error %g\n", sluice::KernelIsaName(isa), n, op, err);
        }
        EXPECT_TRUE(err < 1e-5);
        EXPECT_TRUE(GuardsIntact(out, x.size()));
        EXPECT_TRUE(GuardsIntact(in_place, x.size()));
        EXPECT_TRUE(std::memcmp(in_place.data(), out.data(), out.size() * sizeof(float)) == 0);
      }
    }
  }
}

// Rows whose naive exp would overflow, masked (-inf) entries, and values at the float limits.
TEST(SoftmaxLargeAndMaskedRows) {
  const size_t n = 37;
  std::vector<std::vector<float>> rows;
  rows.push_back(RandomRows(n, 4.0f, 1000.0f, 1));   // exp(x) overflows without the max
  rows.push_back(RandomRows(n, 30.0f, -500.0f, 2));  // most of the row underflows
  std::vector<float> limits(n, -50.0f);
  const float edge[] = {88.7f, 89.0f, 100.0f, -100.0f, -104.0f, -105.0f, FLT_MAX, -FLT_MAX,
                        1e30f, -1e30f, 0.0f, -0.0f};
  std::copy(std::begin(edge), std::end(edge), limits.begin() + 20);
  rows.push_back(limits);
  std::vector<float> masked = RandomRows(n, 3.0f, 0.0f, 3);
  for (size_t i = 0; i < n; i += 2) masked[i] = -kInf;  // every other position masked
  rows.push_back(masked);
  std::vector<float> one_left(n, -kInf);
  one_left[n - 1] = -3.0f;  // in the tail lanes of either vector width
  rows.push_back(one_left);
  std::vector<float> huge = RandomRows(n, 1e29f, 1e30f, 4);
  huge[7] = -kInf;
  rows.push_back(huge);
  std::vector<float> x;
  for (const std::vector<float>& r : rows) x.insert(x.end(), r.begin(), r.end());
  const size_t count = rows.size();
  std::vector<float> want(x.size()), want_log(x.size());
  const KernelIsa generic = KernelIsa::kGeneric;
  ASSERT_TRUE(sluice::SoftmaxRows(x.data(), count, n, want.data(), nullptr, generic).ok());
  ASSERT_TRUE(sluice::LogSoftmaxRows(x.data(), count, n, want_log.data(), nullptr, generic).ok());
  for (KernelIsa isa : sluice::RowKernelIsas()) {
    std::vector<float> got(x.size()), got_log(x.size());
    ASSERT_TRUE(sluice::SoftmaxRows(x.data(), count, n, got.data(), nullptr, isa).ok());
    ASSERT_TRUE(sluice::LogSoftmaxRows(x.data(), count, n, got_log.data(), nullptr, isa).ok());
    const double err = MaxRelError(got, want, 1e-30);
    if (!(err < 1e-5)) std::printf("  %s softmax error %g\n", sluice::KernelIsaName(isa), err);
    EXPECT_TRUE(err < 1e-5);
    for (size_t r = 0; r < count; ++r) {
      for (size_t i = r * n; i < (r + 1) * n; ++i) {
        const float g = got_log[i], w = want_log[i];
        const double bound = 1e-5 * (std::fabs(w) + 1);
        const bool ok =
            std::isnan(w) ? std::isnan(g) : std::isinf(w) ? g == w : std::fabs(g - w) <= bound;
        if (!ok) {
          std::printf("  %s log-softmax row %zu [%zu]: %.9g, want %.9g\n",
                      sluice::KernelIsaName(isa), r, i - r * n, g, w);
        }
        EXPECT_TRUE(ok);
      }
    }
    for (size_t r = 0; r < count; ++r) {
      double sum = 0;
      for (size_t i = 0; i < n; ++i) {
        const size_t at = r * n + i;
        sum += got[at];
        if (x[at] == -kInf) {  // a masked entry is exactly 0 (log: -inf)
          EXPECT_TRUE(got[at] == 0.0f);
          EXPECT_TRUE(got_log[at] == -kInf);
        }
      }
      EXPECT_TRUE(std::fabs(sum - 1.0) < 1e-5);
    }
    EXPECT_TRUE(got[5 * n - 1] == 1.0f);  // the one unmasked entry
    EXPECT_TRUE(got_log[5 * n - 1] == 0.0f);
  }
}

TEST(RowsSplitAcrossThreadsGiveIdenticalResults) {
  const size_t rows = 37, n = 129;
  const std::vector<float> x = RandomRows(rows * n, 3.0f, 0.0f, 11);
  std::vector<float> one(x.size()), ln_one(x.size());
  ASSERT_TRUE(sluice::SoftmaxRows(x.data(), rows, n, one.data()).ok());
  ASSERT_TRUE(sluice::LayerNormRows(x.data(), rows, n, 1e-5f, nullptr, nullptr, ln_one.data()).ok());
  for (size_t threads : {2, 3}) {
    sluice::ThreadPool pool(threads);
    std::vector<float> got(x.size()), ln_got(x.size());
    ASSERT_TRUE(sluice::SoftmaxRows(x.data(), rows, n, got.data(), &pool).ok());
    ASSERT_TRUE(sluice::LayerNormRows(x.data(), rows, n, 1e-5f, nullptr, nullptr, ln_got.data(), &pool).ok());
    EXPECT_TRUE(got == one);
    EXPECT_TRUE(ln_got == ln_one);
  }
}

// AddLayerNormRows is an Add (one float add per element) then LayerNormRows, bit for bit, on
// every variant, every tail length of the add, with y being a, b or a buffer of its own, and
// with the rows split across threads.
TEST(AddLayerNormIsAddThenLayerNormBitForBit) {
  for (size_t n : {1, 7, 16, 17, 33, 256, 767}) {
    const size_t rows = 5;
    const std::vector<float> a = RandomRows(rows * n, 2.0f, 30.0f, static_cast<uint32_t>(n));
    const std::vector<float> b = RandomRows(rows * n, 1.0f, -30.0f, static_cast<uint32_t>(n + 1));
    const std::vector<float> gamma = RandomRows(n, 1.0f, 1.0f, 7), beta = RandomRows(n, 1.0f, 0.0f, 8);
    std::vector<float> sum(a.size());
    for (size_t i = 0; i < a.size(); ++i) sum[i] = a[i] + b[i];
    for (KernelIsa isa : sluice::RowKernelIsas()) {
      std::vector<float> want(a.size());
      ASSERT_TRUE(sluice::LayerNormRows(sum.data(), rows, n, 1e-5f, gamma.data(), beta.data(),
                                        want.data(), nullptr, isa).ok());
      std::vector<float> got(a.size(), kNaN);
      ASSERT_TRUE(sluice::AddLayerNormRows(a.data(), b.data(), rows, n, 1e-5f, gamma.data(),
                                           beta.data(), got.data(), nullptr, isa).ok());
      if (got != want) std::printf("  %s n=%zu differs\n", sluice::KernelIsaName(isa), n);
      EXPECT_TRUE(got == want);
      std::vector<float> into_a = a, into_b = b;  // y == a, y == b
      ASSERT_TRUE(sluice::AddLayerNormRows(into_a.data(), b.data(), rows, n, 1e-5f, gamma.data(),
                                           beta.data(), into_a.data(), nullptr, isa).ok());
      ASSERT_TRUE(sluice::AddLayerNormRows(a.data(), into_b.data(), rows, n, 1e-5f, gamma.data(),
                                           beta.data(), into_b.data(), nullptr, isa).ok());
      EXPECT_TRUE(into_a == want);
      EXPECT_TRUE(into_b == want);
      sluice::ThreadPool pool(3);
      std::vector<float> split(a.size());
      ASSERT_TRUE(sluice::AddLayerNormRows(a.data(), b.data(), rows, n, 1e-5f, nullptr, nullptr,
                                           split.data(), &pool, isa).ok());
      std::vector<float> plain(a.size());
      ASSERT_TRUE(sluice::LayerNormRows(sum.data(), rows, n, 1e-5f, nullptr, nullptr, plain.data(),
                                        nullptr, isa).ok());
      EXPECT_TRUE(split == plain);
    }
  }
}

TEST(BadArgumentsAreRejected) {
  float buf[4] = {1, 2, 3, 4};
  const auto invalid = [](const sluice::Status& s) {
    return s.code() == sluice::StatusCode::INVALID_ARGUMENT;
  };
  EXPECT_TRUE(invalid(sluice::UnaryF32(static_cast<UnaryFn>(99), 0, buf, 4, buf)));
  EXPECT_TRUE(invalid(sluice::UnaryF32(UnaryFn::kExp, 0, nullptr, 4, buf)));
  EXPECT_TRUE(invalid(sluice::SoftmaxRows(buf, 2, 2, nullptr)));
  EXPECT_TRUE(invalid(sluice::LayerNormRows(buf, 1, 4, -1.0f, nullptr, nullptr, buf)));
  EXPECT_TRUE(invalid(sluice::LayerNormRows(buf, 1, 4, kNaN, nullptr, nullptr, buf)));
  EXPECT_TRUE(invalid(sluice::AddLayerNormRows(buf, nullptr, 1, 4, 1e-5f, nullptr, nullptr, buf)));
  EXPECT_TRUE(invalid(sluice::AddLayerNormRows(buf, buf, 1, 4, kInf, nullptr, nullptr, buf)));
  EXPECT_TRUE(sluice::AddLayerNormRows(nullptr, nullptr, 0, 4, 1e-5f, nullptr, nullptr, nullptr).ok());
  EXPECT_TRUE(invalid(sluice::SoftmaxRows(buf, 1, 4, buf, nullptr, static_cast<KernelIsa>(42))));
  // Empty blocks are fine, null pointers included.
  EXPECT_TRUE(sluice::SoftmaxRows(nullptr, 0, 4, nullptr).ok());
  EXPECT_TRUE(sluice::UnaryF32(UnaryFn::kErf, 0, nullptr, 0, nullptr).ok());
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
