// Hand-computed cases for the reference kernels (sluice/kernels/reference.h): shape helpers,
// elementwise, normalisation and data movement. Linear algebra and quantisation are in
// reference-quant-test.cc; the ONNX conformance cases in reference-conformance-test.cc.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "sluice/kernels/reference.h"
#include "test-harness.h"

namespace {

using sluice::DType;
using sluice::Shape;
using sluice::StatusCode;
namespace k = sluice::kernels;

using sluice::test::NearFloats;

bool IsInvalid(const sluice::Status& s) { return s.code() == StatusCode::INVALID_ARGUMENT; }

// ---- shape helpers ----

TEST(BroadcastShapesNumpyRules) {
  Shape out;
  EXPECT_TRUE(k::BroadcastShapes({2, 3, 4}, {4}, &out).ok());
  EXPECT_TRUE((out == Shape{2, 3, 4}));
  EXPECT_TRUE(k::BroadcastShapes({}, {5, 1}, &out).ok());  // scalar
  EXPECT_TRUE((out == Shape{5, 1}));
  EXPECT_TRUE(k::BroadcastShapes({3, 1}, {1, 4}, &out).ok());
  EXPECT_TRUE((out == Shape{3, 4}));
  EXPECT_TRUE(k::BroadcastShapes({1, 0}, {3, 1}, &out).ok());  // 1 broadcasts to 0
  EXPECT_TRUE((out == Shape{3, 0}));
  EXPECT_TRUE(IsInvalid(k::BroadcastShapes({2, 3}, {3, 2}, &out)));
  EXPECT_TRUE(IsInvalid(k::BroadcastShapes({0}, {2}, &out)));
  EXPECT_TRUE(IsInvalid(k::BroadcastShapes({-1}, {1}, &out)));
}

TEST(MatMulShapePromotesOneDOperands) {
  Shape out;
  EXPECT_TRUE(k::MatMulShape({3}, {3}, &out).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(k::MatMulShape({2, 3}, {3}, &out).ok());
  EXPECT_TRUE((out == Shape{2}));
  EXPECT_TRUE(k::MatMulShape({3}, {5, 3, 4}, &out).ok());
  EXPECT_TRUE((out == Shape{5, 4}));
  EXPECT_TRUE(k::MatMulShape({2, 1, 2, 3}, {4, 3, 5}, &out).ok());
  EXPECT_TRUE((out == Shape{2, 4, 2, 5}));
  EXPECT_TRUE(IsInvalid(k::MatMulShape({2, 3}, {4, 5}, &out)));
  EXPECT_TRUE(IsInvalid(k::MatMulShape({}, {3}, &out)));
  EXPECT_TRUE(IsInvalid(k::MatMulShape({2, 2, 3}, {3, 3, 1}, &out)));  // batch 2 vs 3
}

TEST(NormalizeAxisRange) {
  int64_t a = 99;
  EXPECT_TRUE(k::NormalizeAxis(-1, 3, &a) && a == 2);
  EXPECT_TRUE(k::NormalizeAxis(-3, 3, &a) && a == 0);
  EXPECT_TRUE(k::NormalizeAxis(2, 3, &a) && a == 2);
  EXPECT_TRUE(!k::NormalizeAxis(3, 3, &a));
  EXPECT_TRUE(!k::NormalizeAxis(-4, 3, &a));
  EXPECT_TRUE(!k::NormalizeAxis(0, 0, &a));
}

// ---- Binary ----

TEST(BinaryFloatBroadcastsRowAndColumn) {
  const std::vector<float> a{1, 2, 3};      // [3,1]
  const std::vector<float> b{10, 20};       // [2]
  std::vector<float> out(6);
  ASSERT_TRUE(k::Binary(k::BinaryOp::kAdd, DType::kFloat, a.data(), {3, 1}, b.data(), {2}, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {11, 21, 12, 22, 13, 23}));
  ASSERT_TRUE(k::Binary(k::BinaryOp::kSub, DType::kFloat, b.data(), {2}, a.data(), {3, 1}, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {9, 19, 8, 18, 7, 17}));
}

TEST(BinaryScalarAndRankMismatch) {
  const std::vector<float> a{1, 2, 3, 4, 5, 6, 7, 8};  // [2,2,2]
  const float two = 2;
  std::vector<float> out(8);
  ASSERT_TRUE(k::Binary(k::BinaryOp::kMul, DType::kFloat, a.data(), {2, 2, 2}, &two, {}, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {2, 4, 6, 8, 10, 12, 14, 16}));
  // [2,1,2] against [2]: middle dim broadcast and a missing leading dim.
  const std::vector<float> c{1, 2, 3, 4};
  const std::vector<float> d{10, 100};
  std::vector<float> out4(4);
  ASSERT_TRUE(k::Binary(k::BinaryOp::kMul, DType::kFloat, c.data(), {2, 1, 2}, d.data(), {2}, out4.data()).ok());
  EXPECT_TRUE(NearFloats(out4, {10, 200, 30, 400}));
  // [2,1,2] with [1,3,1] -> [2,3,2]: both sides broadcast.
  const std::vector<float> e{0, 1, 2};
  std::vector<float> out12(12);
  ASSERT_TRUE(k::Binary(k::BinaryOp::kAdd, DType::kFloat, c.data(), {2, 1, 2}, e.data(), {1, 3, 1}, out12.data()).ok());
  EXPECT_TRUE(NearFloats(out12, {1, 2, 2, 3, 3, 4, 3, 4, 4, 5, 5, 6}));
}

TEST(BinaryZeroSizeWritesNothing) {
  const float a = 1;
  float sentinel = 42;
  EXPECT_TRUE(k::Binary(k::BinaryOp::kAdd, DType::kFloat, &a, {1}, nullptr, {0}, &sentinel).ok());
  EXPECT_EQ(sentinel, 42.0f);
  EXPECT_TRUE(k::Binary(k::BinaryOp::kAdd, DType::kFloat, nullptr, {2, 0}, nullptr, {1, 0}, nullptr).ok());
}

TEST(BinaryFloatDivAndPow) {
  const std::vector<float> a{1, -1, 0, 9};
  const std::vector<float> b{0, 0, 0, 3};
  std::vector<float> out(4);
  ASSERT_TRUE(k::Binary(k::BinaryOp::kDiv, DType::kFloat, a.data(), {4}, b.data(), {4}, out.data()).ok());
  EXPECT_TRUE(std::isinf(out[0]) && out[0] > 0);
  EXPECT_TRUE(std::isinf(out[1]) && out[1] < 0);
  EXPECT_TRUE(std::isnan(out[2]));
  EXPECT_EQ(out[3], 3.0f);
  const std::vector<float> base{2, 3, 4};
  const float half = 0.5f;
  std::vector<float> p(3);
  ASSERT_TRUE(k::Binary(k::BinaryOp::kPow, DType::kFloat, base.data(), {3}, &half, {}, p.data()).ok());
  EXPECT_TRUE(NearFloats(p, {std::sqrt(2.0f), std::sqrt(3.0f), 2}));
}

TEST(BinaryIntegerSemantics) {
  const std::vector<int32_t> a{7, -7, 7, -7};
  const std::vector<int32_t> b{2, 2, -2, -2};
  std::vector<int32_t> out(4);
  ASSERT_TRUE(k::Binary(k::BinaryOp::kDiv, DType::kInt32, a.data(), {4}, b.data(), {4}, out.data()).ok());
  EXPECT_TRUE((out == std::vector<int32_t>{3, -3, -3, 3}));  // truncation toward zero
  const std::vector<int64_t> big{std::numeric_limits<int64_t>::max()};
  const int64_t one = 1;
  std::vector<int64_t> wrapped(1);
  ASSERT_TRUE(k::Binary(k::BinaryOp::kAdd, DType::kInt64, big.data(), {1}, &one, {}, wrapped.data()).ok());
  EXPECT_EQ(wrapped[0], std::numeric_limits<int64_t>::min());  // wraps as numpy, no UB
}

TEST(BinaryRefusesIntegerDivByZeroAndOverflow) {
  const std::vector<int32_t> a{1, 2};
  const std::vector<int32_t> zero{1, 0};
  std::vector<int32_t> out(2);
  const sluice::Status s = k::Binary(k::BinaryOp::kDiv, DType::kInt32, a.data(), {2}, zero.data(), {2}, out.data());
  EXPECT_TRUE(IsInvalid(s));
  EXPECT_TRUE(s.message().find("division by zero") != std::string::npos);
  const int32_t min = std::numeric_limits<int32_t>::min(), minus_one = -1;
  EXPECT_TRUE(IsInvalid(k::Binary(k::BinaryOp::kDiv, DType::kInt32, &min, {}, &minus_one, {}, out.data())));
}

TEST(BinaryRejectsBadArguments) {
  const std::vector<float> a(6), b(4);
  std::vector<float> out(6);
  EXPECT_TRUE(IsInvalid(k::Binary(k::BinaryOp::kAdd, DType::kFloat, a.data(), {2, 3}, b.data(), {4}, out.data())));
  EXPECT_TRUE(IsInvalid(k::Binary(k::BinaryOp::kAdd, DType::kUint8, a.data(), {2}, b.data(), {2}, out.data())));
  EXPECT_TRUE(IsInvalid(k::Binary(k::BinaryOp::kPow, DType::kInt32, a.data(), {2}, b.data(), {2}, out.data())));
  EXPECT_TRUE(IsInvalid(k::Binary(k::BinaryOp::kAdd, DType::kFloat, nullptr, {2}, b.data(), {2}, out.data())));
  EXPECT_TRUE(IsInvalid(k::Binary(static_cast<k::BinaryOp>(99), DType::kFloat, a.data(), {2}, b.data(), {2},
                                  out.data())));
  const int64_t huge = int64_t{1} << 62;
  EXPECT_TRUE(IsInvalid(k::Binary(k::BinaryOp::kAdd, DType::kFloat, a.data(), {huge, 4}, b.data(), {1},
                                  out.data())));
}

// Binary over random shapes against a naive per-element index computation, so the broadcast
// walker's dim collapsing is checked on patterns no hand case lists.
TEST(BinaryRandomBroadcastMatchesNaive) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 500; ++trial) {
    const size_t rank = rng() % 5;
    Shape out_shape, a_shape, b_shape;
    for (size_t i = 0; i < rank; ++i) out_shape.push_back(rng() % 4);  // 0..3, zero-size included
    // Each operand: drop some leading dims, set others to 1.
    for (Shape* s : {&a_shape, &b_shape}) {
      const size_t drop = rank == 0 ? 0 : rng() % (rank + 1);
      for (size_t i = drop; i < rank; ++i) s->push_back(rng() % 3 == 0 ? 1 : out_shape[i]);
    }
    Shape expect_shape;
    ASSERT_TRUE(k::BroadcastShapes(a_shape, b_shape, &expect_shape).ok());
    int64_t na = 1, nb = 1, n = 1;
    for (int64_t d : a_shape) na *= d;
    for (int64_t d : b_shape) nb *= d;
    for (int64_t d : expect_shape) n *= d;
    std::vector<float> a(na), b(nb), out(n, -1.0f);
    for (int64_t i = 0; i < na; ++i) a[i] = static_cast<float>(i);
    for (int64_t i = 0; i < nb; ++i) b[i] = static_cast<float>(1000 * i);
    ASSERT_TRUE(k::Binary(k::BinaryOp::kAdd, DType::kFloat, a.data(), a_shape, b.data(), b_shape, out.data()).ok());
    // Naive: unravel each output index, re-ravel into each operand (index 0 on size-1 dims).
    auto ravel = [&](const Shape& s, const std::vector<int64_t>& idx) {
      int64_t off = 0;
      const size_t lead = expect_shape.size() - s.size();
      for (size_t i = 0; i < s.size(); ++i) off = off * s[i] + (s[i] == 1 ? 0 : idx[lead + i]);
      return off;
    };
    std::vector<int64_t> idx(expect_shape.size());
    for (int64_t flat = 0; flat < n; ++flat) {
      int64_t rest = flat;
      for (size_t i = expect_shape.size(); i-- > 0;) {
        idx[i] = rest % expect_shape[i];
        rest /= expect_shape[i];
      }
      const float want = a[ravel(a_shape, idx)] + b[ravel(b_shape, idx)];
      if (out[flat] != want) {
        EXPECT_EQ(out[flat], want);
        return;
      }
    }
  }
}

// ---- UnaryF32 ----

TEST(UnaryActivations) {
  const std::vector<float> x{-2, -0.5f, 0, 1.5f};
  std::vector<float> y(4);
  auto run = [&](k::UnaryOp op, float alpha = 0) {
    EXPECT_TRUE(k::UnaryF32(op, x.data(), x.size(), alpha, y.data()).ok());
    return y;
  };
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kRelu), {0, 0, 0, 1.5f}));
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kLeakyRelu, 0.1f), {-0.2f, -0.05f, 0, 1.5f}));
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kNeg), {2, 0.5f, 0, -1.5f}));
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kSigmoid), {0.11920292f, 0.37754067f, 0.5f, 0.81757448f}));
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kTanh), {-0.96402758f, -0.46211716f, 0, 0.90514825f}));
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kErf), {-0.99532227f, -0.52049988f, 0, 0.96610515f}));
  // 0.5x(1+erf(x/sqrt2)) and the tanh form, from numpy in float64.
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kGelu), {-0.04550026f, -0.15426877f, 0, 1.39978920f}));
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kGeluTanh), {-0.04540231f, -0.15428599f, 0, 1.39957065f}));
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kExp), {0.13533528f, 0.60653066f, 1, 4.48168907f}));
  EXPECT_TRUE(NearFloats(run(k::UnaryOp::kIdentity), x));
}

TEST(UnaryEdgeValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x{-1000, 1000, -inf, std::nanf("")};
  std::vector<float> y(4);
  ASSERT_TRUE(k::UnaryF32(k::UnaryOp::kSigmoid, x.data(), 4, 0, y.data()).ok());
  EXPECT_TRUE(y[0] == 0.0f && y[1] == 1.0f && y[2] == 0.0f && std::isnan(y[3]));
  ASSERT_TRUE(k::UnaryF32(k::UnaryOp::kRelu, x.data(), 4, 0, y.data()).ok());
  EXPECT_TRUE(std::isnan(y[3]));
  const float minus_four = -4;
  float r = 0;
  ASSERT_TRUE(k::UnaryF32(k::UnaryOp::kSqrt, &minus_four, 1, 0, &r).ok());
  EXPECT_TRUE(std::isnan(r));
}

TEST(UnaryInPlaceAndErrors) {
  std::vector<float> x{4, 9};
  ASSERT_TRUE(k::UnaryF32(k::UnaryOp::kSqrt, x.data(), 2, 0, x.data()).ok());
  EXPECT_TRUE(NearFloats(x, {2, 3}));
  EXPECT_TRUE(IsInvalid(k::UnaryF32(k::UnaryOp::kSqrt, nullptr, 2, 0, x.data())));
  EXPECT_TRUE(IsInvalid(k::UnaryF32(static_cast<k::UnaryOp>(-1), x.data(), 2, 0, x.data())));
  EXPECT_TRUE(k::UnaryF32(k::UnaryOp::kSqrt, nullptr, 0, 0, nullptr).ok());
}

// ---- Softmax, LayerNorm, ReduceMean ----

TEST(SoftmaxOverEachAxis) {
  const std::vector<float> x{1, 2, 3, 1, 1, 1};  // [2,3]
  std::vector<float> y(6);
  ASSERT_TRUE(k::Softmax(x.data(), {2, 3}, -1, y.data()).ok());
  EXPECT_TRUE(NearFloats(y, {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f}));
  ASSERT_TRUE(k::Softmax(x.data(), {2, 3}, 0, y.data()).ok());  // strided lanes
  EXPECT_TRUE(NearFloats(y, {0.5f, 0.73105858f, 0.88079708f, 0.5f, 0.26894142f, 0.11920292f}));
  // Large inputs do not overflow: the max is subtracted first.
  const std::vector<float> big{1000, 1001};
  std::vector<float> yb(2);
  ASSERT_TRUE(k::Softmax(big.data(), {2}, 0, yb.data()).ok());
  EXPECT_TRUE(NearFloats(yb, {0.26894142f, 0.73105858f}));
  EXPECT_TRUE(IsInvalid(k::Softmax(x.data(), {2, 3}, 2, y.data())));
  EXPECT_TRUE(IsInvalid(k::Softmax(x.data(), {}, 0, y.data())));
}

TEST(LayerNormLastAxisWithStats) {
  const std::vector<float> x{1, 2, 3, 4, 2, 2, 2, 2};  // [2,4]
  const std::vector<float> scale{1, 1, 2, 2};
  const std::vector<float> bias{0, 0, 0, 1};
  std::vector<float> y(8), mean(2), inv(2);
  ASSERT_TRUE(k::LayerNorm(x.data(), {2, 4}, -1, 1e-5f, scale.data(), bias.data(), y.data(), mean.data(), inv.data()).ok());
  const float i0 = 1 / std::sqrt(1.25f + 1e-5f), i1 = 1 / std::sqrt(1e-5f);
  EXPECT_TRUE(NearFloats(mean, {2.5f, 2}));
  EXPECT_TRUE(NearFloats(inv, {i0, i1}, 1e-5f));
  EXPECT_TRUE(NearFloats(y, {-1.5f * i0, -0.5f * i0, 1.0f * i0, 3.0f * i0 + 1, 0, 0, 0, 1}, 1e-5f));
}

TEST(LayerNormOverSeveralDims) {
  // axis 0 of [2,2]: one group of all four values, no bias, no stats requested.
  const std::vector<float> x{0, 2, 4, 6};
  const std::vector<float> scale{1, 1, 1, 1};
  std::vector<float> y(4);
  ASSERT_TRUE(k::LayerNorm(x.data(), {2, 2}, -2, 0, scale.data(), nullptr, y.data(), nullptr, nullptr).ok());
  const float s = 1 / std::sqrt(5.0f);
  EXPECT_TRUE(NearFloats(y, {-3 * s, -1 * s, 1 * s, 3 * s}));
  EXPECT_TRUE(IsInvalid(k::LayerNorm(x.data(), {2, 2}, 2, 0, scale.data(), nullptr, y.data(), nullptr, nullptr)));
  EXPECT_TRUE(IsInvalid(k::LayerNorm(x.data(), {2, 2}, 1, 0, nullptr, nullptr, y.data(), nullptr, nullptr)));
}

TEST(ReduceMeanAxesAndKeepdims) {
  const std::vector<float> x{1, 2, 3, 4, 5, 6};  // [2,3]
  std::vector<float> y(3);
  Shape shape;
  ASSERT_TRUE(k::ReduceMean(x.data(), {2, 3}, {0}, true, false, nullptr, &shape).ok());  // shape only
  EXPECT_TRUE((shape == Shape{1, 3}));
  ASSERT_TRUE(k::ReduceMean(x.data(), {2, 3}, {0}, true, false, y.data(), &shape).ok());
  EXPECT_TRUE(NearFloats(y, {2.5f, 3.5f, 4.5f}));
  ASSERT_TRUE(k::ReduceMean(x.data(), {2, 3}, {-1}, false, false, y.data(), &shape).ok());
  EXPECT_TRUE((shape == Shape{2}));
  EXPECT_TRUE(NearFloats({y[0], y[1]}, {2, 5}));
  ASSERT_TRUE(k::ReduceMean(x.data(), {2, 3}, {}, false, false, y.data(), &shape).ok());  // all dims
  EXPECT_TRUE(shape.empty());
  EXPECT_TRUE(NearFloats({y[0]}, {3.5f}));
  std::vector<float> copy(6);
  ASSERT_TRUE(k::ReduceMean(x.data(), {2, 3}, {}, true, true, copy.data(), &shape).ok());  // no-op
  EXPECT_TRUE((shape == Shape{2, 3}));
  EXPECT_TRUE(NearFloats(copy, x));
}

TEST(ReduceMeanMiddleAxisAndEmpty) {
  std::vector<float> x(12);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);  // [2,3,2]
  std::vector<float> y(4);
  Shape shape;
  ASSERT_TRUE(k::ReduceMean(x.data(), {2, 3, 2}, {1}, true, false, y.data(), &shape).ok());
  EXPECT_TRUE((shape == Shape{2, 1, 2}));
  EXPECT_TRUE(NearFloats(y, {2, 3, 8, 9}));
  // Reducing a zero-size dim: the mean of nothing is NaN.
  ASSERT_TRUE(k::ReduceMean(nullptr, {2, 0}, {1}, false, false, y.data(), &shape).ok());
  EXPECT_TRUE((shape == Shape{2}));
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]));
  EXPECT_TRUE(IsInvalid(k::ReduceMean(x.data(), {2, 3, 2}, {1, -2}, true, false, y.data(), &shape)));
  EXPECT_TRUE(IsInvalid(k::ReduceMean(x.data(), {2, 3, 2}, {3}, true, false, y.data(), &shape)));
}

// ---- Transpose, Concat, Gather ----

TEST(TransposeDefaultAndPerm) {
  const std::vector<int32_t> x{0, 1, 2, 3, 4, 5};  // [2,3]
  std::vector<int32_t> y(6);
  ASSERT_TRUE(k::Transpose(DType::kInt32, x.data(), {2, 3}, {}, y.data()).ok());
  EXPECT_TRUE((y == std::vector<int32_t>{0, 3, 1, 4, 2, 5}));
  std::vector<uint8_t> x3(24), y3(24);
  for (size_t i = 0; i < 24; ++i) x3[i] = static_cast<uint8_t>(i);  // [2,3,4]
  ASSERT_TRUE(k::Transpose(DType::kUint8, x3.data(), {2, 3, 4}, {1, 2, 0}, y3.data()).ok());  // -> [3,4,2]
  // y[c][d][a] = x[a][c][d] = 12a + 4c + d
  EXPECT_EQ(int(y3[0]), 0);
  EXPECT_EQ(int(y3[1]), 12);
  EXPECT_EQ(int(y3[2]), 1);
  EXPECT_EQ(int(y3[2 * 8 + 3 * 2 + 1]), 12 + 8 + 3);
  const double scalar = 2.5;
  double out = 0;
  ASSERT_TRUE(k::Transpose(DType::kDouble, &scalar, {}, {}, &out).ok());
  EXPECT_EQ(out, 2.5);
}

TEST(TransposeRejectsBadPerm) {
  const std::vector<float> x(6);
  std::vector<float> y(6);
  EXPECT_TRUE(IsInvalid(k::Transpose(DType::kFloat, x.data(), {2, 3}, {0, 0}, y.data())));
  EXPECT_TRUE(IsInvalid(k::Transpose(DType::kFloat, x.data(), {2, 3}, {0, 2}, y.data())));
  EXPECT_TRUE(IsInvalid(k::Transpose(DType::kFloat, x.data(), {2, 3}, {0}, y.data())));
  EXPECT_TRUE(IsInvalid(k::Transpose(DType::kString, x.data(), {2, 3}, {}, y.data())));
}

TEST(ConcatAlongInnerAndOuterAxes) {
  const std::vector<float> a{1, 2, 3, 4};  // [2,2]
  const std::vector<float> b{5, 6};        // [2,1]
  std::vector<float> out(6);
  ASSERT_TRUE(k::Concat(DType::kFloat, {a.data(), b.data()}, {{2, 2}, {2, 1}}, -1, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {1, 2, 5, 3, 4, 6}));
  const std::vector<float> c{7, 8};  // [1,2]
  ASSERT_TRUE(k::Concat(DType::kFloat, {a.data(), c.data(), nullptr}, {{2, 2}, {1, 2}, {0, 2}}, 0, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {1, 2, 3, 4, 7, 8}));
  EXPECT_TRUE(IsInvalid(k::Concat(DType::kFloat, {a.data(), b.data()}, {{2, 2}, {2, 1}}, 0, out.data())));
  EXPECT_TRUE(IsInvalid(k::Concat(DType::kFloat, {a.data(), b.data()}, {{2, 2}, {2}}, 0, out.data())));
  EXPECT_TRUE(IsInvalid(k::Concat(DType::kFloat, {a.data()}, {{2, 2}}, 2, out.data())));
  EXPECT_TRUE(IsInvalid(k::Concat(DType::kFloat, {}, {}, 0, out.data())));
  const int64_t big = std::numeric_limits<int64_t>::max() - 1;
  EXPECT_TRUE(IsInvalid(k::Concat(DType::kFloat, {a.data(), b.data()}, {{big}, {2}}, 0, out.data())));
}

TEST(GatherNegativeIndicesAndAxes) {
  const std::vector<float> data{1, 2, 3, 4, 5, 6};  // [3,2]
  const std::vector<int64_t> idx{2, -3, -1};
  std::vector<float> out(6);
  ASSERT_TRUE(k::Gather(DType::kFloat, data.data(), {3, 2}, DType::kInt64, idx.data(), {3}, 0, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {5, 6, 1, 2, 5, 6}));
  const std::vector<int32_t> idx2{1, 0, 0, 1};  // [2,2] along axis -1 -> [3,2,2]
  std::vector<float> out12(12);
  ASSERT_TRUE(k::Gather(DType::kFloat, data.data(), {3, 2}, DType::kInt32, idx2.data(), {2, 2}, -1, out12.data()).ok());
  EXPECT_TRUE(NearFloats(out12, {2, 1, 1, 2, 4, 3, 3, 4, 6, 5, 5, 6}));
  const int32_t scalar_idx = 1;  // scalar index drops the axis: [2]
  std::vector<float> row(2);
  ASSERT_TRUE(k::Gather(DType::kFloat, data.data(), {3, 2}, DType::kInt32, &scalar_idx, {}, 0, row.data()).ok());
  EXPECT_TRUE(NearFloats(row, {3, 4}));
}

TEST(GatherRejectsOutOfRange) {
  const std::vector<float> data(6);
  std::vector<float> out(6);
  const std::vector<int64_t> bad{0, 3};
  const sluice::Status s = k::Gather(DType::kFloat, data.data(), {3, 2}, DType::kInt64, bad.data(), {2}, 0, out.data());
  EXPECT_TRUE(IsInvalid(s));
  EXPECT_TRUE(s.message().find("index 3 at position 1") != std::string::npos);
  const int64_t neg = -4;
  EXPECT_TRUE(IsInvalid(k::Gather(DType::kFloat, data.data(), {3, 2}, DType::kInt64, &neg, {}, 0, out.data())));
  EXPECT_TRUE(IsInvalid(k::Gather(DType::kFloat, data.data(), {3, 2}, DType::kFloat, &neg, {}, 0, out.data())));
  EXPECT_TRUE(IsInvalid(k::Gather(DType::kFloat, data.data(), {3, 2}, DType::kInt64, &neg, {}, 2, out.data())));
  // Empty indices give an empty output and touch nothing.
  EXPECT_TRUE(k::Gather(DType::kFloat, data.data(), {3, 2}, DType::kInt64, nullptr, {0}, 0, nullptr).ok());
}

}  // namespace

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
