// INT8 GEMM: the generic variant against a plain triple loop over the unpacked weights, then
// every variant this CPU runs against the generic one, bit for bit, on random shapes (tails of
// every blocking level, lda > K, ldc > N), both activation types, both quantization modes,
// every epilogue, with and without weight zero points; plus int16-overflow extremes, thread-count independence, the row quantizer
// and bad arguments.
#include "sluice/int8-gemm.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test-harness.h"

using sluice::Int8Gemm;
using sluice::Int8GemmActivation;
using sluice::Int8GemmInput;
using sluice::Int8GemmKernel;
using sluice::Int8GemmOutput;
using sluice::Int8GemmOutputType;
using sluice::Int8Quantization;
using sluice::Int8WeightLayout;
using sluice::PackedInt8Weights;
using sluice::StatusCode;
using sluice::ThreadPool;

namespace {

const Int8GemmKernel kFastKernels[] = {Int8GemmKernel::kAvx2, Int8GemmKernel::kAvx512Vnni,
                                       Int8GemmKernel::kAuto};
const Int8GemmOutputType kOutputTypes[] = {Int8GemmOutputType::kInt32, Int8GemmOutputType::kFloat,
                                           Int8GemmOutputType::kUint8, Int8GemmOutputType::kInt8};

size_t ElementSize(Int8GemmOutputType t) {
  return t == Int8GemmOutputType::kInt32 || t == Int8GemmOutputType::kFloat ? 4 : 1;
}

// One GEMM problem with its buffers; B is kept K x N for the plain reference.
struct Problem {
  int64_t m, k, n, lda, ldc;
  bool a_signed = false;
  bool per_row = false;
  bool bias = false;
  bool relu = false;
  std::vector<uint8_t> a;  // raw bytes, int8 when a_signed
  std::vector<int8_t> b;   // K x N
  std::vector<float> a_scale, b_scale, bias_values;
  std::vector<int32_t> a_zp;
  std::vector<int32_t> b_zp;  // all 0 unless the problem has weight zero points
  PackedInt8Weights packed;

  Problem(std::mt19937& rng, int64_t m_, int64_t k_, int64_t n_, bool a_signed_, bool per_row_,
          Int8WeightLayout layout, int64_t lda_pad = 0, int64_t ldc_pad = 0,
          bool weight_zero_points = false)
      : m(m_), k(k_), n(n_), lda(k_ + lda_pad), ldc(n_ + ldc_pad), a_signed(a_signed_),
        per_row(per_row_) {
    std::uniform_int_distribution<int> byte(0, 255), sbyte(-128, 127);
    std::uniform_real_distribution<float> scale(0.001f, 0.05f), unit(-1.0f, 1.0f);
    a.resize(static_cast<size_t>(m * lda));
    for (auto& v : a) v = static_cast<uint8_t>(byte(rng));
    b.resize(static_cast<size_t>(k * n));
    for (auto& v : b) v = static_cast<int8_t>(sbyte(rng));
    const int64_t params = per_row ? m : 1;
    for (int64_t i = 0; i < params; ++i) {
      a_scale.push_back(scale(rng));
      a_zp.push_back(a_signed ? sbyte(rng) : byte(rng));
    }
    for (int64_t j = 0; j < n; ++j) {
      b_scale.push_back(scale(rng));
      bias_values.push_back(unit(rng));
      b_zp.push_back(weight_zero_points ? sbyte(rng) : 0);
    }
    std::vector<int8_t> source = b;
    if (layout == Int8WeightLayout::kNxK) {
      for (int64_t kk = 0; kk < k; ++kk) {
        for (int64_t j = 0; j < n; ++j) source[j * k + kk] = b[kk * n + j];
      }
    }
    EXPECT_TRUE(sluice::PackInt8Weights(source.data(), k, n, layout, b_scale.data(), &packed,
                                        b_zp.data())
                    .ok());
  }

  int32_t AValue(int64_t i, int64_t kk) const {
    const uint8_t v = a[i * lda + kk];
    return a_signed ? static_cast<int8_t>(v) : v;
  }
  int32_t Zp(int64_t i) const { return a_zp[per_row ? i : 0]; }
  float Scale(int64_t i) const { return a_scale[per_row ? i : 0]; }

  Int8GemmInput Input() const {
    Int8GemmInput in;
    in.data = a.data();
    in.is_signed = a_signed;
    in.m = m;
    in.k = k;
    in.lda = lda;
    in.quantization = per_row ? Int8Quantization::kPerRow : Int8Quantization::kPerTensor;
    in.scale = a_scale.data();
    in.zero_point = a_zp.data();
    return in;
  }

  // Runs the GEMM into a fresh buffer (pre-filled with a sentinel so writes past N show).
  std::vector<uint8_t> Run(Int8GemmOutputType type, Int8GemmKernel kernel, ThreadPool* pool,
                           sluice::Status* status) const {
    const size_t elem = ElementSize(type);
    std::vector<uint8_t> out(static_cast<size_t>(m * ldc) * elem, 0xA5);
    Int8GemmOutput c;
    c.type = type;
    c.data = out.data();
    c.n = n;
    c.ldc = ldc;
    c.bias = bias ? bias_values.data() : nullptr;
    c.activation = relu ? Int8GemmActivation::kRelu : Int8GemmActivation::kNone;
    c.scale = 0.05f;
    c.zero_point = type == Int8GemmOutputType::kInt8 ? -3 : 7;
    *status = Int8Gemm(Input(), packed, c, pool, kernel);
    return out;
  }

  std::string Describe() const {
    return "M=" + std::to_string(m) + " K=" + std::to_string(k) + " N=" + std::to_string(n) +
           " lda=" + std::to_string(lda) + " ldc=" + std::to_string(ldc) +
           (a_signed ? " s8" : " u8") + (per_row ? " per-row" : " per-tensor") +
           (bias ? " bias" : "") + (relu ? " relu" : "") + (packed.zero_points().empty() ? "" : " b_zp");
  }
};

// The generic int32 and float results against a plain loop over unpacked B.
void CheckGenericAgainstReference(const Problem& p) {
  sluice::Status status;
  const auto ints = p.Run(Int8GemmOutputType::kInt32, Int8GemmKernel::kGeneric, nullptr, &status);
  ASSERT_TRUE(status.ok());
  const auto floats = p.Run(Int8GemmOutputType::kFloat, Int8GemmKernel::kGeneric, nullptr, &status);
  ASSERT_TRUE(status.ok());
  int bad = 0;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      int64_t acc = 0;
      for (int64_t kk = 0; kk < p.k; ++kk) {
        acc += (p.AValue(i, kk) - p.Zp(i)) * (int64_t{p.b[kk * p.n + j]} - p.b_zp[j]);
      }
      int32_t got;
      std::memcpy(&got, &ints[(i * p.ldc + j) * 4], 4);
      float f;
      std::memcpy(&f, &floats[(i * p.ldc + j) * 4], 4);
      double want = static_cast<double>(acc) * p.Scale(i) * p.b_scale[j] + (p.bias ? p.bias_values[j] : 0.0);
      if (p.relu && want < 0) want = 0;
      const bool ok = got == acc && std::fabs(f - want) <= 1e-5 * std::fabs(want) + 1e-6;
      if (!ok && bad++ < 3) {
        sluice::test::Fail(__FILE__, __LINE__, p.Describe() + ": (" + std::to_string(i) + "," +
                           std::to_string(j) + ") int32 " + std::to_string(got) + " vs " +
                           std::to_string(acc) + ", float " + std::to_string(f) + " vs " +
                           std::to_string(want));
      }
    }
  }
}

// Every fast variant's outputs (all types) byte-identical to the generic one's; bytes past N
// in each row (ldc padding) must be untouched.
void CheckVariantsAgainstGeneric(const Problem& p, ThreadPool* pool) {
  for (Int8GemmOutputType type : kOutputTypes) {
    sluice::Status status;
    const auto want = p.Run(type, Int8GemmKernel::kGeneric, nullptr, &status);
    ASSERT_TRUE(status.ok());
    for (Int8GemmKernel kernel : kFastKernels) {
      if (!sluice::Int8GemmKernelSupported(kernel)) continue;
      const auto got = p.Run(type, kernel, pool, &status);
      ASSERT_TRUE(status.ok());
      if (got != want) {
        sluice::test::Fail(__FILE__, __LINE__, std::string(sluice::Int8GemmKernelName(kernel)) +
                           " differs from generic, output type " +
                           std::to_string(static_cast<int>(type)) + ", " + p.Describe());
      }
    }
  }
}

}  // namespace

TEST(GenericMatchesPlainLoop) {
  std::mt19937 rng(1);
  const int64_t shapes[][3] = {{1, 1, 1}, {1, 5, 3}, {3, 7, 65}, {7, 33, 17}, {13, 64, 64}, {2, 130, 129}};
  for (const auto& s : shapes) {
    for (int variant = 0; variant < 8; ++variant) {
      Problem p(rng, s[0], s[1], s[2], variant & 1, variant & 2,
                variant & 1 ? Int8WeightLayout::kNxK : Int8WeightLayout::kKxN, variant, 2 * variant,
                variant & 4);
      p.bias = variant & 1;
      p.relu = variant & 2;
      CheckGenericAgainstReference(p);
    }
  }
}

TEST(VariantsMatchGenericOnRandomShapes) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<int64_t> small(1, 20), medium(1, 200);
  ThreadPool pool(2);
  for (int trial = 0; trial < 60; ++trial) {
    // Shapes around every boundary: tile rows (4, 1 = the one-row kernel), vector columns
    // (16, 8), panels (64), k groups (4, 8); plus random ones.
    const int64_t m = trial % 6 == 5 ? 1 : trial % 3 == 0 ? medium(rng) : small(rng);
    const int64_t k = trial % 4 == 0 ? 4 * small(rng) : medium(rng);
    const int64_t n = trial % 5 == 0 ? 64 * (1 + trial % 3) : medium(rng);
    Problem p(rng, m, k, n, trial & 1, trial & 2,
              trial & 4 ? Int8WeightLayout::kNxK : Int8WeightLayout::kKxN, trial % 3, trial % 5,
              trial % 7 == 0);
    p.bias = trial & 8;
    p.relu = trial & 16;
    CheckVariantsAgainstGeneric(p, trial % 2 ? &pool : nullptr);
  }
}

namespace {

// A (per-tensor scale, zero point 0) x W into uint8 C with `kernel`; empty if Int8Gemm fails.
std::vector<uint8_t> RunUint8(const uint8_t* a, int64_t m, int64_t k, const float* a_scale,
                              const PackedInt8Weights& w, int64_t n, const float* bias, bool relu,
                              float scale, int32_t zp, Int8GemmKernel kernel) {
  Int8GemmInput in;
  in.data = a;
  in.m = m;
  in.k = k;
  in.lda = k;
  in.scale = a_scale;
  std::vector<uint8_t> got(static_cast<size_t>(m * n), 0xAA);
  Int8GemmOutput out;
  out.type = Int8GemmOutputType::kUint8;
  out.data = got.data();
  out.n = n;
  out.ldc = n;
  out.bias = bias;
  out.activation = relu ? Int8GemmActivation::kRelu : Int8GemmActivation::kNone;
  out.scale = scale;
  out.zero_point = zp;
  if (!Int8Gemm(in, w, out, nullptr, kernel).ok()) return {};
  return got;
}

}  // namespace

// The quantized epilogue rounds f / out_scale half to even in every variant exactly as the
// division does (a guard for any faster division). A and B are zero, so f is the bias exactly:
// biases on both sides of every tie (n + 0.5) * out_scale, +-FLT_MAX, +-inf and NaN (which
// saturates to the lower bound), for awkward scales.
TEST(QuantizedOutputRoundsLikeDivisionForAnyScale) {
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> scales = {1.0f / 3, 0.1f, 0.0371f, 7.3e-3f, 123.45f, 2.9e-5f, 1e-20f,
                               1e20f, 3e-39f, 0x1p-100f, 0x1p100f, 0x1.fffffep-1f};
  for (int i = 0; i < 20; ++i) scales.push_back(std::pow(10.0f, 3 * unit(rng)) * (1.5f + 0.5f * unit(rng)));
  const int64_t m = 5, k = 8;
  const std::vector<uint8_t> a(static_cast<size_t>(m * k), 0);
  const float a_scale = 1.0f;
  for (float scale : scales) {
    std::vector<float> bias;
    for (int t = -140; t <= 140; ++t) {
      const float tie = (static_cast<float>(t) + 0.5f) * scale;
      for (float f : {tie, std::nextafter(tie, 0.0f), std::nextafter(tie, INFINITY), std::nextafter(tie, -INFINITY)}) {
        bias.push_back(f);
      }
    }
    bias.push_back(std::numeric_limits<float>::max());
    bias.push_back(-std::numeric_limits<float>::max());
    bias.push_back(INFINITY);
    bias.push_back(-INFINITY);
    bias.push_back(std::numeric_limits<float>::quiet_NaN());
    const int64_t n = static_cast<int64_t>(bias.size());
    const std::vector<int8_t> b(static_cast<size_t>(k * n), 0);
    const std::vector<float> b_scales(static_cast<size_t>(n), 1.0f);
    PackedInt8Weights w;
    ASSERT_TRUE(sluice::PackInt8Weights(b.data(), k, n, Int8WeightLayout::kKxN, b_scales.data(), &w).ok());
    const int32_t zp = 128;
    // With ReLU too: the AVX-512 variant folds it into the lower clamp (NaN -> 0 -> zp).
    for (bool relu : {false, true}) {
      std::vector<uint8_t> want(static_cast<size_t>(m * n));
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < n; ++c) {
          const float f = relu ? (bias[c] > 0.0f ? bias[c] : 0.0f) : bias[c];
          const float q = std::nearbyint(f / scale) + static_cast<float>(zp);
          want[r * n + c] = static_cast<uint8_t>(std::fmin(std::fmax(q, 0.0f), 255.0f));
        }
      }
      for (auto kernel : {Int8GemmKernel::kGeneric, Int8GemmKernel::kAvx2, Int8GemmKernel::kAvx512Vnni}) {
        if (!sluice::Int8GemmKernelSupported(kernel)) continue;
        EXPECT_TRUE(RunUint8(a.data(), m, k, &a_scale, w, n, bias.data(), relu, scale, zp, kernel) == want);
      }
    }
  }
}

// The epilogue rounds the scaled product and then adds the bias (two roundings) in every
// variant; a fused multiply-add, which a compiler may form from the two (GCC's default
// -ffp-contract=fast), rounds once. Each column is built so that the two differ in the integer
// they give: the rounded product p plus the bias 0.5 - p is exactly the tie 0.5 (-> 0, half to
// even), while the exact product is above p, so a fused result lies above the tie (-> 1).
TEST(QuantizedOutputRoundsProductThenBias) {
  const float b_scale = 0.1f;  // inexact, so the products are too
  const int64_t m = 6, k = 4;  // A = 255 everywhere: acc(r, c) = 255 * colsum(c)
  std::vector<int8_t> b;       // K x N
  std::vector<float> bias;
  std::vector<int32_t> sums;
  for (int32_t s = 1; s <= 4 * 127 && sums.size() < 140; ++s) {
    const float p = static_cast<float>(255 * s) * b_scale;
    const double exact = 255.0 * s * static_cast<double>(b_scale);
    const float beta = 0.5f - p;
    if (!(exact > p) || static_cast<double>(beta) != 0.5 - static_cast<double>(p)) continue;
    sums.push_back(s);
    bias.push_back(beta);
  }
  ASSERT_TRUE(sums.size() >= 64);  // at least one full panel
  const int64_t n = static_cast<int64_t>(sums.size());
  b.assign(static_cast<size_t>(k * n), 0);
  for (int64_t c = 0; c < n; ++c) {
    int32_t rest = sums[c];
    for (int64_t kk = 0; kk < k; ++kk, rest -= 127) {
      b[kk * n + c] = static_cast<int8_t>(std::clamp(rest, 0, 127));
    }
  }
  const std::vector<float> b_scales(static_cast<size_t>(n), b_scale);
  PackedInt8Weights w;
  ASSERT_TRUE(sluice::PackInt8Weights(b.data(), k, n, Int8WeightLayout::kKxN, b_scales.data(), &w).ok());
  const std::vector<uint8_t> a(static_cast<size_t>(m * k), 255);
  const float a_scale = 1.0f;
  for (auto kernel : {Int8GemmKernel::kGeneric, Int8GemmKernel::kAvx2, Int8GemmKernel::kAvx512Vnni}) {
    if (!sluice::Int8GemmKernelSupported(kernel)) continue;
    const std::vector<uint8_t> got = RunUint8(a.data(), m, k, &a_scale, w, n, bias.data(), false, 1.0f, 0, kernel);
    ASSERT_TRUE(got.size() == static_cast<size_t>(m * n));
    size_t wrong = 0;
    for (uint8_t v : got) wrong += v != 0;
    EXPECT_EQ(wrong, size_t{0});
  }
}

TEST(ExtremeValuesDoNotOverflowInt16) {
  // A = 255 (or int8 -128 / 127), B = -128 or 127, K = 4096: every pair product is at the
  // VPMADDUBSW saturation edge; all variants must give the exact sums.
  const int64_t m = 5, k = 4096, n = 70;
  for (int8_t wv : {int8_t{-128}, int8_t{127}}) {
    for (int av : {255, -128, 127}) {
      const bool s8 = av < 0 || av == 127;
      std::vector<uint8_t> a(static_cast<size_t>(m * k), static_cast<uint8_t>(av));
      std::vector<int8_t> b(static_cast<size_t>(k * n), wv);
      PackedInt8Weights packed;
      ASSERT_TRUE(sluice::PackInt8Weights(b.data(), k, n, Int8WeightLayout::kKxN, nullptr, &packed).ok());
      Int8GemmInput in;
      in.data = a.data();
      in.is_signed = s8;
      in.m = m;
      in.k = k;
      in.lda = k;
      const int32_t want = static_cast<int32_t>(int64_t{av} * wv * k);
      for (Int8GemmKernel kernel : {Int8GemmKernel::kGeneric, Int8GemmKernel::kAvx2,
                                    Int8GemmKernel::kAvx512Vnni}) {
        if (!sluice::Int8GemmKernelSupported(kernel)) continue;
        std::vector<int32_t> c(static_cast<size_t>(m * n), 0);
        Int8GemmOutput out{Int8GemmOutputType::kInt32, c.data(), n, n};
        ASSERT_TRUE(Int8Gemm(in, packed, out, nullptr, kernel).ok());
        size_t wrong = 0;
        for (int32_t v : c) wrong += v != want;
        EXPECT_EQ(wrong, size_t{0});
      }
    }
  }
}

TEST(ThreadCountDoesNotChangeResults) {
  std::mt19937 rng(3);
  const int64_t shapes[][3] = {{1, 300, 700}, {37, 129, 200}, {200, 64, 130}};
  for (const auto& s : shapes) {
    Problem p(rng, s[0], s[1], s[2], false, true, Int8WeightLayout::kKxN);
    p.bias = true;
    sluice::Status status;
    const auto one = p.Run(Int8GemmOutputType::kFloat, Int8GemmKernel::kAuto, nullptr, &status);
    ASSERT_TRUE(status.ok());
    for (size_t threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      EXPECT_TRUE(p.Run(Int8GemmOutputType::kFloat, Int8GemmKernel::kAuto, &pool, &status) == one);
      EXPECT_TRUE(status.ok());
    }
  }
}

// A unary on float output (Gelu, Tanh, LeakyRelu: activations the kernels' store lacks) equals
// the same GEMM without it followed by the row kernel of the matching variant (generic for the
// generic kernel, else the CPU's best), bit for bit, on one thread and on three; shapes with
// several row blocks and several panel blocks (N = 1000 at K = 600), ldc padding left untouched.
TEST(UnaryOnFloatOutputEqualsRowKernelAfterwards) {
  std::mt19937 rng(41);
  ThreadPool pool3(3);
  const int64_t shapes[][3] = {{1, 40, 33}, {70, 600, 1000}, {131, 64, 257}};
  for (const auto& s : shapes) {
    Problem p(rng, s[0], s[1], s[2], false, true, Int8WeightLayout::kKxN, 0, 5);
    p.bias = true;
    for (sluice::UnaryFn fn : {sluice::UnaryFn::kGelu, sluice::UnaryFn::kTanh, sluice::UnaryFn::kLeakyRelu}) {
      for (Int8GemmKernel kernel : {Int8GemmKernel::kGeneric, Int8GemmKernel::kAuto}) {
        sluice::Status status;
        std::vector<uint8_t> want = p.Run(Int8GemmOutputType::kFloat, kernel, nullptr, &status);
        ASSERT_TRUE(status.ok());
        const sluice::KernelIsa isa =
            kernel == Int8GemmKernel::kGeneric ? sluice::KernelIsa::kGeneric : sluice::KernelIsa::kAuto;
        for (int64_t i = 0; i < p.m; ++i) {
          float* row = reinterpret_cast<float*>(want.data()) + i * p.ldc;
          ASSERT_TRUE(sluice::UnaryF32(fn, 0.1f, row, static_cast<size_t>(p.n), row, isa).ok());
        }
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool3}) {
          std::vector<uint8_t> got(want.size(), 0xA5);
          Int8GemmOutput c;
          c.type = Int8GemmOutputType::kFloat;
          c.data = got.data();
          c.n = p.n;
          c.ldc = p.ldc;
          c.bias = p.bias_values.data();
          c.unary = fn;
          c.unary_alpha = 0.1f;
          ASSERT_TRUE(Int8Gemm(p.Input(), p.packed, c, pool, kernel).ok());
          if (got != want) {
            sluice::test::Fail(__FILE__, __LINE__, std::string(sluice::Int8GemmKernelName(kernel)) +
                               " with unary " + std::to_string(static_cast<int>(fn)) + " differs, " +
                               p.Describe());
          }
        }
      }
    }
  }
}

TEST(RowQuantizerMatchesFormulaOnEveryVariant) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> dist(-3.0f, 5.0f);
  for (int64_t k : {1, 7, 16, 33, 100}) {
    const int64_t m = 9, ldx = k + 3, ldy = k + 2;
    std::vector<float> x(static_cast<size_t>(m * ldx));
    for (auto& v : x) v = dist(rng);
    for (int64_t i = 0; i < k; ++i) x[static_cast<size_t>(2 * ldx + i)] = 0.0f;      // all zeros
    for (int64_t i = 0; i < k; ++i) x[static_cast<size_t>(3 * ldx + i)] = 1.0f + i;  // positive
    std::vector<uint8_t> want_y(static_cast<size_t>(m * ldy));
    std::vector<float> want_scale(m);
    std::vector<int32_t> want_zp(m);
    ASSERT_TRUE(sluice::QuantizeRowsUint8(x.data(), m, k, ldx, want_y.data(), ldy, want_scale.data(),
                                          want_zp.data(), nullptr, Int8GemmKernel::kGeneric)
                    .ok());
    EXPECT_EQ(want_scale[2], 1.0f);
    EXPECT_EQ(want_zp[2], 0);
    EXPECT_EQ(want_zp[3], 0);  // range [0, max]
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t i = 0; i < k; ++i) {  // dequantizes to within half a step
        const float back = (want_y[r * ldy + i] - want_zp[r]) * want_scale[r];
        EXPECT_TRUE(std::fabs(back - x[r * ldx + i]) <= 0.5001f * want_scale[r]);
      }
    }
    ThreadPool pool(2);
    for (Int8GemmKernel kernel : kFastKernels) {
      if (!sluice::Int8GemmKernelSupported(kernel)) continue;
      std::vector<uint8_t> y(want_y.size());
      std::vector<float> scale(m);
      std::vector<int32_t> zp(m);
      ASSERT_TRUE(sluice::QuantizeRowsUint8(x.data(), m, k, ldx, y.data(), ldy, scale.data(),
                                            zp.data(), &pool, kernel)
                      .ok());
      for (int64_t r = 0; r < m; ++r) {  // ldy padding is not compared (not written)
        EXPECT_TRUE(std::memcmp(&y[r * ldy], &want_y[r * ldy], static_cast<size_t>(k)) == 0);
      }
      EXPECT_TRUE(scale == want_scale);
      EXPECT_TRUE(zp == want_zp);
    }
  }
}

// Packing into an object that already holds weights reuses its buffer and must leave exactly
// what a fresh pack does (padding, sums, scales; no stale zero points).
TEST(RepackingIntoAUsedObjectEqualsAFreshPack) {
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> sbyte(-128, 127);
  auto bytes = [&](size_t n) {
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(sbyte(rng));
    return v;
  };
  const std::vector<int8_t> big = bytes(37 * 130), small = bytes(5 * 3);
  const std::vector<float> big_scales(130, 0.5f), small_scales{0.25f, 0.125f, 2.0f};
  const std::vector<int32_t> zps(130, -3);
  for (Int8WeightLayout layout : {Int8WeightLayout::kKxN, Int8WeightLayout::kNxK}) {
    PackedInt8Weights reused, fresh;
    ASSERT_TRUE(sluice::PackInt8Weights(big.data(), 37, 130, layout, big_scales.data(), &reused,
                                        zps.data()).ok());
    ASSERT_TRUE(sluice::PackInt8Weights(small.data(), 5, 3, layout, small_scales.data(), &reused).ok());
    ASSERT_TRUE(sluice::PackInt8Weights(small.data(), 5, 3, layout, small_scales.data(), &fresh).ok());
    EXPECT_TRUE(reused.k() == 5 && reused.n() == 3 && reused.zero_points().empty());
    const size_t packed = static_cast<size_t>(fresh.panels() * fresh.k_groups() * PackedInt8Weights::kGroupBytes);
    EXPECT_EQ(std::memcmp(reused.data(), fresh.data(), packed), 0);
    EXPECT_EQ(std::memcmp(reused.column_sums(), fresh.column_sums(), 64 * sizeof(int32_t)), 0);
    EXPECT_TRUE(reused.scales() == fresh.scales());
  }
}

TEST(BadArgumentsAreInvalidArgument) {
  std::mt19937 rng(5);
  Problem p(rng, 4, 8, 8, false, false, Int8WeightLayout::kKxN);
  std::vector<float> c(64);
  const Int8GemmOutput good_out{Int8GemmOutputType::kFloat, c.data(), 8, 8};
  auto code = [&](Int8GemmInput in, Int8GemmOutput out) { return Int8Gemm(in, p.packed, out).code(); };
  EXPECT_EQ(code(p.Input(), good_out), StatusCode::OK);

  Int8GemmInput in = p.Input();
  in.data = nullptr;
  EXPECT_EQ(code(in, good_out), StatusCode::INVALID_ARGUMENT);
  in = p.Input(), in.k = 9, in.lda = 9;
  EXPECT_EQ(code(in, good_out), StatusCode::INVALID_ARGUMENT);
  in = p.Input(), in.lda = 7;
  EXPECT_EQ(code(in, good_out), StatusCode::INVALID_ARGUMENT);
  in = p.Input(), in.m = -1;
  EXPECT_EQ(code(in, good_out), StatusCode::INVALID_ARGUMENT);
  in = p.Input(), in.m = int64_t{1} << 62, in.lda = 1 << 20;
  EXPECT_EQ(code(in, good_out), StatusCode::INVALID_ARGUMENT);
  in = p.Input(), in.scale = nullptr;
  EXPECT_EQ(code(in, good_out), StatusCode::INVALID_ARGUMENT);
  const int32_t bad_zp = 256;
  in = p.Input(), in.zero_point = &bad_zp;
  EXPECT_EQ(code(in, good_out), StatusCode::INVALID_ARGUMENT);

  Int8GemmOutput out = good_out;
  out.data = nullptr;
  EXPECT_EQ(code(p.Input(), out), StatusCode::INVALID_ARGUMENT);
  out = good_out, out.n = 9, out.ldc = 9;
  EXPECT_EQ(code(p.Input(), out), StatusCode::INVALID_ARGUMENT);
  out = good_out, out.ldc = 7;
  EXPECT_EQ(code(p.Input(), out), StatusCode::INVALID_ARGUMENT);
  out = good_out, out.type = Int8GemmOutputType::kUint8, out.scale = 0.0f;
  EXPECT_EQ(code(p.Input(), out), StatusCode::INVALID_ARGUMENT);
  out = good_out, out.type = Int8GemmOutputType::kInt8, out.zero_point = 128;
  EXPECT_EQ(code(p.Input(), out), StatusCode::INVALID_ARGUMENT);
  out = good_out, out.type = static_cast<Int8GemmOutputType>(9);
  EXPECT_EQ(code(p.Input(), out), StatusCode::INVALID_ARGUMENT);
  out = good_out, out.unary = static_cast<sluice::UnaryFn>(99);
  EXPECT_EQ(code(p.Input(), out), StatusCode::INVALID_ARGUMENT);
  std::vector<int32_t> c32(64);
  out = Int8GemmOutput{Int8GemmOutputType::kInt32, c32.data(), 8, 8};
  out.unary = sluice::UnaryFn::kGelu;  // a unary needs float output
  EXPECT_EQ(code(p.Input(), out), StatusCode::INVALID_ARGUMENT);

  // M = 0 needs no buffers.
  in = p.Input(), in.m = 0, in.data = nullptr;
  out = good_out, out.data = nullptr;
  EXPECT_EQ(code(in, out), StatusCode::OK);

  PackedInt8Weights empty, packed;
  EXPECT_EQ(Int8Gemm(p.Input(), empty, good_out).code(), StatusCode::INVALID_ARGUMENT);
  const int8_t w[4] = {1, 2, 3, 4};
  EXPECT_EQ(sluice::PackInt8Weights(nullptr, 2, 2, Int8WeightLayout::kKxN, nullptr, &packed).code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(sluice::PackInt8Weights(w, 0, 2, Int8WeightLayout::kKxN, nullptr, &packed).code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(sluice::PackInt8Weights(w, 2, -2, Int8WeightLayout::kKxN, nullptr, &packed).code(),
            StatusCode::INVALID_ARGUMENT);
  const int32_t bad_b_zp[2] = {0, 128};
  EXPECT_EQ(sluice::PackInt8Weights(w, 2, 2, Int8WeightLayout::kKxN, nullptr, &packed, bad_b_zp).code(),
            StatusCode::INVALID_ARGUMENT);
  // Packed without scales: int32 only.
  ASSERT_TRUE(sluice::PackInt8Weights(w, 2, 2, Int8WeightLayout::kKxN, nullptr, &packed).ok());
  const uint8_t a[2] = {1, 2};
  const float scale = 1.0f;
  Int8GemmInput small;
  small.data = a, small.m = 1, small.k = 2, small.lda = 2, small.scale = &scale;
  float f[2];
  EXPECT_EQ(Int8Gemm(small, packed, Int8GemmOutput{Int8GemmOutputType::kFloat, f, 2, 2}).code(),
            StatusCode::INVALID_ARGUMENT);
  int32_t i32[2];
  EXPECT_EQ(Int8Gemm(small, packed, Int8GemmOutput{Int8GemmOutputType::kInt32, i32, 2, 2}).code(),
            StatusCode::OK);
  EXPECT_EQ(i32[0], 1 * 1 + 2 * 3);
  EXPECT_EQ(i32[1], 1 * 2 + 2 * 4);

  float y_scale;
  int32_t y_zp;
  uint8_t y;
  const float x = 1.0f;
  EXPECT_EQ(sluice::QuantizeRowsUint8(&x, 1, 1, 0, &y, 1, &y_scale, &y_zp).code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(sluice::QuantizeRowsUint8(nullptr, 1, 1, 1, &y, 1, &y_scale, &y_zp).code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(sluice::QuantizeRowsUint8(&x, 1, 1, 1, &y, 1, &y_scale, &y_zp).code(), StatusCode::OK);
  EXPECT_EQ(int{y}, 255);
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
