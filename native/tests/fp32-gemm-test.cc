// FP32 GEMM: every variant against a double-precision reference written here (and against the
// generic variant), over shapes with 1s, odd sizes and tails, strides, transposes, packed / raw /
// batched B and every epilogue; thread-count independence; bad arguments.
#include "sluice/fp32-gemm.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "sluice/thread-pool.h"
#include "test-harness.h"

using sluice::BiasKind;
using sluice::Fp32Batch;
using sluice::Fp32GemmArgs;
using sluice::KernelIsa;
using sluice::PackedFp32Weights;
using sluice::UnaryFn;

namespace {

constexpr float kSentinel = -12345.0f;  // fills C's row padding; must survive every call

double Activate(UnaryFn fn, double alpha, double x) {
  switch (fn) {
    case UnaryFn::kIdentity: return x;
    case UnaryFn::kRelu: return x > 0 ? x : 0;
    case UnaryFn::kLeakyRelu: return x >= 0 ? x : alpha * x;
    case UnaryFn::kSigmoid: return 1 / (1 + std::exp(-x));
    case UnaryFn::kTanh: return std::tanh(x);
    case UnaryFn::kGelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case UnaryFn::kGeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryFn::kExp: return std::exp(x);
    case UnaryFn::kErf: return std::erf(x);
  }
  return x;
}

struct Problem {
  size_t m, n, k;
  bool trans_a, trans_b;
  size_t pad;  // extra elements per row of every operand
  BiasKind bias_kind;
  UnaryFn act;
  size_t count;       // batch items
  bool shared_b;      // stride_b = 0
};

// Operands for `count` items, each padded by p.pad per row.
struct Data {
  std::vector<float> a, b, bias, c;
  size_t lda, ldb, ldc, ld_bias;
  size_t stride_a, stride_b, stride_c, stride_bias;
};

Data MakeData(const Problem& p, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Data d;
  d.lda = (p.trans_a ? p.m : p.k) + p.pad;
  d.ldb = (p.trans_b ? p.k : p.n) + p.pad;
  d.ldc = p.n + p.pad;
  d.ld_bias = p.n + p.pad;
  d.stride_a = (p.trans_a ? p.k : p.m) * d.lda;
  d.stride_b = p.shared_b ? 0 : (p.trans_b ? p.n : p.k) * d.ldb;
  d.stride_c = p.m * d.ldc;
  d.stride_bias = p.m * d.ld_bias;
  d.a.resize(std::max<size_t>(1, p.count * d.stride_a));
  d.b.resize(std::max<size_t>(1, (p.shared_b ? 1 : p.count) * (p.trans_b ? p.n : p.k) * d.ldb));
  d.bias.resize(std::max<size_t>(1, p.count * d.stride_bias + p.m + p.n));
  for (float& x : d.a) x = dist(rng);
  for (float& x : d.b) x = dist(rng);
  for (float& x : d.bias) x = dist(rng);
  d.c.assign(p.count * d.stride_c, kSentinel);
  return d;
}

// Expected C and a per-element error scale (sum of |terms|) for item `item`.
void Reference(const Problem& p, const Data& d, const sluice::Fp32Epilogue& ep, size_t item,
               std::vector<double>* want, std::vector<double>* scale) {
  want->assign(p.m * p.n, 0);
  scale->assign(p.m * p.n, 0);
  const float* a = d.a.data() + item * d.stride_a;
  const float* b = d.b.data() + item * d.stride_b;
  for (size_t i = 0; i < p.m; ++i) {
    for (size_t j = 0; j < p.n; ++j) {
      double sum = 0, mag = 0;
      for (size_t kk = 0; kk < p.k; ++kk) {
        const double x = p.trans_a ? a[kk * d.lda + i] : a[i * d.lda + kk];
        const double y = p.trans_b ? b[j * d.ldb + kk] : b[kk * d.ldb + j];
        sum += x * y;
        mag += std::fabs(x * y);
      }
      double bias = 0;
      const float* bb = d.bias.data();
      switch (p.bias_kind) {
        case BiasKind::kNone: break;
        case BiasKind::kScalar: bias = bb[0]; break;
        case BiasKind::kPerColumn: bias = bb[j]; break;
        case BiasKind::kPerRow: bias = bb[i]; break;
        case BiasKind::kMatrix: bias = bb[item * d.stride_bias + i * d.ld_bias + j]; break;
      }
      const double pre = ep.alpha * sum + ep.beta * bias;
      (*want)[i * p.n + j] = Activate(p.act, ep.activation_alpha, pre);
      (*scale)[i * p.n + j] = std::fabs(ep.alpha) * mag + std::fabs(ep.beta * bias);
    }
  }
}

sluice::Fp32Epilogue MakeEpilogue(const Problem& p, const Data& d) {
  sluice::Fp32Epilogue ep;
  ep.alpha = 0.75f;
  ep.beta = p.bias_kind == BiasKind::kNone ? 1.0f : -1.5f;
  ep.bias_kind = p.bias_kind;
  ep.bias = p.bias_kind == BiasKind::kNone ? nullptr : d.bias.data();
  ep.ld_bias = d.ld_bias;
  ep.activation = p.act;
  ep.activation_alpha = 0.2f;
  return ep;
}

// Runs one problem on one variant, raw or packed B; returns C (all items, padding included).
std::vector<float> RunGemm(const Problem& p, const Data& d, KernelIsa isa, bool packed,
                           sluice::ThreadPool* pool, sluice::Status* status) {
  Data out = d;
  Fp32GemmArgs args;
  args.m = p.m, args.n = p.n, args.k = p.k;
  args.a = out.a.data(), args.lda = out.lda, args.trans_a = p.trans_a;
  args.c = out.c.data(), args.ldc = out.ldc;
  args.epilogue = MakeEpilogue(p, out);
  args.isa = isa;
  Fp32Batch batch;
  batch.count = p.count;
  batch.stride_a = out.stride_a, batch.stride_b = out.stride_b;
  batch.stride_c = out.stride_c, batch.stride_bias = out.stride_bias;
  if (packed) {
    PackedFp32Weights w;
    *status = PackedFp32Weights::Pack(out.b.data(), p.k, p.n, out.ldb, p.trans_b, &w);
    if (status->ok()) *status = sluice::Fp32GemmPacked(args, w, pool, batch);
  } else {
    *status = sluice::Fp32Gemm(args, out.b.data(), out.ldb, p.trans_b, pool, batch);
  }
  return out.c;
}

// Number of elements of `got` outside tolerance (and padding that was overwritten).
int CountBad(const Problem& p, const Data& d, const std::vector<float>& got, const char* what) {
  int bad = 0;
  const sluice::Fp32Epilogue ep = MakeEpilogue(p, d);
  std::vector<double> want, scale;
  for (size_t item = 0; item < p.count; ++item) {
    Reference(p, d, ep, item, &want, &scale);
    for (size_t i = 0; i < p.m; ++i) {
      const float* row = got.data() + item * d.stride_c + i * d.ldc;
      for (size_t j = 0; j < p.n; ++j) {
        const double w = want[i * p.n + j];
        const double tol = 1e-5 * (1.2 * scale[i * p.n + j] + std::fabs(w)) + 1e-30;
        if (!(std::fabs(row[j] - w) <= tol) && bad++ < 3) {
          std::printf("  %s m=%zu n=%zu k=%zu item %zu (%zu,%zu): got %.9g want %.9g\n", what, p.m,
                      p.n, p.k, item, i, j, row[j], w);
        }
      }
      for (size_t j = p.n; j < d.ldc; ++j) bad += row[j] != kSentinel;
    }
  }
  return bad;
}

const BiasKind kBiasKinds[] = {BiasKind::kNone, BiasKind::kPerColumn, BiasKind::kPerRow,
                               BiasKind::kMatrix, BiasKind::kScalar};
const UnaryFn kActs[] = {UnaryFn::kIdentity, UnaryFn::kRelu,  UnaryFn::kLeakyRelu, UnaryFn::kSigmoid,
                         UnaryFn::kTanh,     UnaryFn::kGelu, UnaryFn::kGeluTanh};

struct Shape { size_t m, n, k; };
const Shape kShapes[] = {{1, 1, 1},     {1, 17, 5},     {3, 33, 7},    {14, 32, 256}, {15, 31, 257},
                         {29, 65, 300}, {1, 100, 513},  {7, 48, 3},    {100, 1, 9},   {2, 130, 0},
                         {6, 64, 16},   {5, 113, 40},   {37, 81, 600}, {2, 49, 33},   {130, 70, 20},
                         // M <= 2: 128-column tiles with masked tails, K in one pass past 256
                         {1, 250, 700}, {2, 241, 300},  {1, 384, 40},  {4, 200, 520}};

}  // namespace

TEST(EveryVariantMatchesReferenceOnRandomShapes) {
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    for (int variant = 0; variant < 4; ++variant) {
      Problem p = {s.m, s.n, s.k, (variant & 1) != 0, (variant & 2) != 0, variant == 3 ? 3u : 0u,
                   kBiasKinds[seed % 5], kActs[seed % 7], 1, true};
      const Data d = MakeData(p, seed++);
      sluice::Status st;
      const std::vector<float> generic = RunGemm(p, d, KernelIsa::kGeneric, false, nullptr, &st);
      ASSERT_TRUE(st.ok());
      EXPECT_EQ(CountBad(p, d, generic, "generic"), 0);
      for (KernelIsa isa : sluice::Fp32GemmIsas()) {
        for (bool packed : {false, true}) {
          if (packed && p.k == 0) continue;  // weights need k > 0
          const std::vector<float> got = RunGemm(p, d, isa, packed, nullptr, &st);
          ASSERT_TRUE(st.ok());
          EXPECT_EQ(CountBad(p, d, got, sluice::KernelIsaName(isa)), 0);
          // Against the generic variant directly: same k order, so only FMA rounding differs.
          for (size_t i = 0; i < got.size(); ++i) {
            const float tol = 1e-5f * (1 + std::fabs(generic[i])) * std::sqrt(1.0f + p.k);
            if (!(std::fabs(got[i] - generic[i]) <= tol)) {
              std::printf("  %s vs generic at %zu: %g vs %g\n", sluice::KernelIsaName(isa), i, got[i],
                          generic[i]);
              EXPECT_TRUE(false);
              break;
            }
          }
        }
      }
    }
  }
}

TEST(EveryEpilogueOnEveryVariant) {
  uint32_t seed = 100;
  for (BiasKind bias : kBiasKinds) {
    for (UnaryFn act : kActs) {
      const Problem p = {19, 37, 45, false, false, 1, bias, act, 1, true};
      const Data d = MakeData(p, seed++);
      for (KernelIsa isa : sluice::Fp32GemmIsas()) {
        sluice::Status st;
        const std::vector<float> got = RunGemm(p, d, isa, true, nullptr, &st);
        ASSERT_TRUE(st.ok());
        EXPECT_EQ(CountBad(p, d, got, sluice::KernelIsaName(isa)), 0);
      }
    }
  }
}

TEST(BatchedRawSharedAndPackedB) {
  uint32_t seed = 200;
  for (bool shared_b : {false, true}) {
    for (bool trans_b : {false, true}) {
      const Problem p = {9, 27, 70, false, trans_b, 2, BiasKind::kMatrix, UnaryFn::kGelu, 3, shared_b};
      const Data d = MakeData(p, seed++);
      for (KernelIsa isa : sluice::Fp32GemmIsas()) {
        for (bool packed : {false, true}) {
          if (packed && !shared_b) continue;  // packed weights are shared by construction
          sluice::Status st;
          const std::vector<float> got = RunGemm(p, d, isa, packed, nullptr, &st);
          ASSERT_TRUE(st.ok());
          EXPECT_EQ(CountBad(p, d, got, sluice::KernelIsaName(isa)), 0);
        }
      }
    }
  }
}

// Multi-head attention's layout: every head reads its columns of shared [rows, heads * d]
// matrices (A with lda = heads * k, B^T likewise) and writes its columns of one merged C, so the
// items' outputs sit side by side in each row of C. Columns past the heads stay untouched.
TEST(SideBySideItemsInterleaveTheirColumns) {
  const size_t heads = 3, m = 5, k = 7, n = 4, ldc = heads * n + 2;
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> a(m * heads * k), bt(n * heads * k);
  for (float& v : a) v = dist(rng);
  for (float& v : bt) v = dist(rng);
  sluice::ThreadPool pool2(2);
  for (KernelIsa isa : sluice::Fp32GemmIsas()) {
    for (sluice::ThreadPool* pool : {static_cast<sluice::ThreadPool*>(nullptr), &pool2}) {
      std::vector<float> c(m * ldc, kSentinel);
      Fp32GemmArgs args;
      args.m = m, args.n = n, args.k = k;
      args.a = a.data(), args.lda = heads * k, args.c = c.data(), args.ldc = ldc;
      args.epilogue.alpha = 0.5f;
      args.isa = isa;
      Fp32Batch batch;
      batch.count = heads, batch.stride_a = k, batch.stride_b = k, batch.stride_c = n;
      ASSERT_TRUE(sluice::Fp32Gemm(args, bt.data(), heads * k, true, pool, batch).ok());
      int bad = 0;
      for (size_t h = 0; h < heads; ++h) {
        for (size_t i = 0; i < m; ++i) {
          for (size_t j = 0; j < n; ++j) {
            double want = 0;
            for (size_t kk = 0; kk < k; ++kk) {
              want += double(a[i * heads * k + h * k + kk]) * bt[j * heads * k + h * k + kk];
            }
            bad += !(std::fabs(c[i * ldc + h * n + j] - 0.5 * want) <= 1e-5);
          }
        }
      }
      for (size_t i = 0; i < m; ++i) {
        bad += c[i * ldc + heads * n] != kSentinel || c[i * ldc + heads * n + 1] != kSentinel;
      }
      EXPECT_EQ(bad, 0);
    }
  }
}

// M = 256 splits into row blocks of unequal height (the last takes the 4-row remainder strip).
TEST(ResultsAreIdenticalForOneTwoAndThreeThreads) {
  sluice::ThreadPool pool2(2), pool3(3);
  for (const Shape& s : {Shape{1, 300, 600}, Shape{100, 300, 600}, Shape{33, 2050, 70}, Shape{256, 40, 30}}) {
    const Problem p = {s.m, s.n, s.k, false, false, 0, BiasKind::kPerColumn, UnaryFn::kTanh, 2, true};
    const Data d = MakeData(p, 7);
    for (KernelIsa isa : sluice::Fp32GemmIsas()) {
      for (bool packed : {false, true}) {
        sluice::Status st;
        const std::vector<float> one = RunGemm(p, d, isa, packed, nullptr, &st);
        ASSERT_TRUE(st.ok());
        EXPECT_EQ(CountBad(p, d, one, sluice::KernelIsaName(isa)), 0);
        for (sluice::ThreadPool* pool : {&pool2, &pool3}) {
          const std::vector<float> many = RunGemm(p, d, isa, packed, pool, &st);
          ASSERT_TRUE(st.ok());
          EXPECT_TRUE(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0);
        }
      }
    }
  }
}

TEST(BadArgumentsAreRejected) {
  std::vector<float> a(64, 1.0f), b(64, 1.0f), c(64, 0.0f);
  Fp32GemmArgs ok;
  ok.m = 4, ok.n = 4, ok.k = 4;
  ok.a = a.data(), ok.lda = 4, ok.c = c.data(), ok.ldc = 4;
  ASSERT_TRUE(sluice::Fp32Gemm(ok, b.data(), 4, false).ok());
  const auto invalid = [&](Fp32GemmArgs args, size_t ldb = 4, const Fp32Batch& batch = Fp32Batch()) {
    return sluice::Fp32Gemm(args, b.data(), ldb, false, nullptr, batch).code() ==
           sluice::StatusCode::INVALID_ARGUMENT;
  };
  Fp32GemmArgs x = ok;
  x.a = nullptr;
  EXPECT_TRUE(invalid(x));
  x = ok, x.c = nullptr;
  EXPECT_TRUE(invalid(x));
  x = ok, x.lda = 3;
  EXPECT_TRUE(invalid(x));
  x = ok, x.trans_a = true, x.m = 5;  // A^T is k x m: lda must be >= m
  EXPECT_TRUE(invalid(x));
  x = ok, x.ldc = 3;
  EXPECT_TRUE(invalid(x));
  EXPECT_TRUE(invalid(ok, 3));
  x = ok, x.epilogue.bias_kind = BiasKind::kPerColumn;  // bias null
  EXPECT_TRUE(invalid(x));
  x = ok, x.epilogue.bias_kind = BiasKind::kMatrix, x.epilogue.bias = a.data(), x.epilogue.ld_bias = 2;
  EXPECT_TRUE(invalid(x));
  x = ok, x.epilogue.bias_kind = BiasKind::kMatrix, x.epilogue.bias = c.data(), x.epilogue.ld_bias = 4;
  EXPECT_TRUE(invalid(x));  // aliases c
  x = ok, x.epilogue.activation = static_cast<UnaryFn>(77);
  EXPECT_TRUE(invalid(x));
  x = ok, x.epilogue.bias_kind = static_cast<BiasKind>(9);
  EXPECT_TRUE(invalid(x));
  x = ok, x.isa = static_cast<KernelIsa>(9);
  EXPECT_TRUE(invalid(x));
  Fp32Batch overlap;
  overlap.count = 2, overlap.stride_c = 8;  // items' 4 x 4 outputs would overlap
  EXPECT_TRUE(invalid(ok, 4, overlap));
  x = ok, x.ldc = 8;
  overlap.stride_c = 3;  // side by side in rows of 8, but 3 columns apart for 4 columns each
  EXPECT_TRUE(invalid(x, 4, overlap));
  overlap.count = 3, overlap.stride_c = 4;  // the third item would run past the row
  EXPECT_TRUE(invalid(x, 4, overlap));
  EXPECT_TRUE(sluice::Fp32Gemm(ok, nullptr, 4, false).code() == sluice::StatusCode::INVALID_ARGUMENT);

  PackedFp32Weights w;
  EXPECT_TRUE(sluice::Fp32GemmPacked(ok, w).code() == sluice::StatusCode::INVALID_ARGUMENT);  // empty
  const auto pack_invalid = [&](const float* src, size_t k, size_t ldb) {
    return PackedFp32Weights::Pack(src, k, 4, ldb, false, &w).code() == sluice::StatusCode::INVALID_ARGUMENT;
  };
  EXPECT_TRUE(pack_invalid(nullptr, 4, 4));
  EXPECT_TRUE(pack_invalid(b.data(), 0, 4));
  EXPECT_TRUE(pack_invalid(b.data(), 4, 3));
  ASSERT_TRUE(PackedFp32Weights::Pack(b.data(), 4, 3, 4, false, &w).ok());
  EXPECT_TRUE(sluice::Fp32GemmPacked(ok, w).code() == sluice::StatusCode::INVALID_ARGUMENT);  // n mismatch
  // Nothing was written by the rejected calls after the first good one (all ones . ones = 4).
  for (float v : std::vector<float>(c.begin(), c.begin() + 16)) EXPECT_EQ(v, 4.0f);
  // Empty problems are fine.
  x = ok, x.m = 0, x.a = nullptr, x.c = nullptr;
  EXPECT_TRUE(sluice::Fp32Gemm(x, nullptr, 0, false).ok());
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
