// Row kernels: every variant against <cmath> (elementwise) and against the generic reference
// (softmax, layer norm), on sweeps that include tails, large |x| and special values.
#include "sluice/row-kernels.h"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

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
        // The tanh form of gelu is evaluated in float like everyone evaluates it: in its far
        // negative tail the rounding of u (|2u| ~ 0.07 |x|^3) shows up relatively in e^{2u}.
        const double slack =
            fn == UnaryFn::kGeluTanh ? std::fmax(1.0, 0.07 * std::pow(std::fabs(xs[i]), 3) / 8) : 1.0;
        if (!Close(ys[i], want, slack) && bad++ < 300) {
          std::printf("  %s %s(%.9g) = %.9g, want %.9g\n", sluice::KernelIsaName(isa),
                      sluice::UnaryFnName(fn), xs[i], ys[i], want);
        }
      }
      EXPECT_EQ(bad, 0);
    }
  }
}

TEST(UnaryHandlesEveryTailLength) {
  std::vector<float> x(40), y(40, -7.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.37f * static_cast<float>(i) - 6.0f;
  for (KernelIsa isa : sluice::RowKernelIsas()) {
    for (size_t n = 0; n <= 33; ++n) {
      std::fill(y.begin(), y.end(), -7.0f);
      ASSERT_TRUE(sluice::UnaryF32(UnaryFn::kTanh, 0, x.data(), n, y.data(), isa).ok());
      for (size_t i = 0; i < n; ++i) EXPECT_TRUE(Close(y[i], std::tanh(static_cast<double>(x[i]))));
      for (size_t i = n; i < y.size(); ++i) EXPECT_EQ(y[i], -7.0f);  // nothing past n written
    }
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

// Max over elements of |got - want| / (|want| + floor), NaN-aware (NaN must match NaN).
double MaxRelError(const std::vector<float>& got, const std::vector<float>& want, double floor) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]) || std::isnan(got[i])) {
      if (std::isnan(want[i]) != std::isnan(got[i])) return INFINITY;
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
  for (size_t n : {1, 3, 15, 16, 17, 100, 1000, 4099}) {
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
  for (size_t n : {1, 2, 15, 17, 64, 768, 4099}) {
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
      }
    }
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
  EXPECT_TRUE(invalid(sluice::SoftmaxRows(buf, 1, 4, buf, nullptr, static_cast<KernelIsa>(42))));
  // Empty blocks are fine, null pointers included.
  EXPECT_TRUE(sluice::SoftmaxRows(nullptr, 0, 4, nullptr).ok());
  EXPECT_TRUE(sluice::UnaryF32(UnaryFn::kErf, 0, nullptr, 0, nullptr).ok());
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
