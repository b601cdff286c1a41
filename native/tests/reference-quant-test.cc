// Hand-computed cases for the reference linear-algebra and quantisation kernels
// (sluice/kernels/reference.h): MatMulF32, GemmF32, MatMulInteger, QLinearMatMul,
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear; and the SIMD per-tensor quantizer
// (QuantizeLinearFixed) against the reference on every kernel variant.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "sluice/int8-gemm.h"
#include "sluice/kernels/reference.h"
#include "sluice/thread-pool.h"
#include "test-harness.h"

namespace {

using sluice::DType;
using sluice::Shape;
using sluice::StatusCode;
namespace k = sluice::kernels;

using sluice::test::NearFloats;

bool IsInvalid(const sluice::Status& s) { return s.code() == StatusCode::INVALID_ARGUMENT; }

// ---- MatMulF32 ----

TEST(MatMul2DAndOneDOperands) {
  const std::vector<float> a{1, 2, 3, 4, 5, 6};  // [2,3]
  const std::vector<float> b{1, 0, 0, 1, 1, 1};  // [3,2]
  std::vector<float> out(4);
  ASSERT_TRUE(k::MatMulF32(a.data(), {2, 3}, b.data(), {3, 2}, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {4, 5, 10, 11}));
  const std::vector<float> v{1, 1, 1};
  std::vector<float> mv(2);
  ASSERT_TRUE(k::MatMulF32(a.data(), {2, 3}, v.data(), {3}, mv.data()).ok());  // [2,3] x [3] -> [2]
  EXPECT_TRUE(NearFloats(mv, {6, 15}));
  float dot = 0;
  ASSERT_TRUE(k::MatMulF32(v.data(), {3}, a.data(), {3}, &dot).ok());  // 1-D x 1-D -> scalar
  EXPECT_TRUE(NearFloats({dot}, {6}));
}

TEST(MatMulBroadcastsBatchDims) {
  // a [2,1,1,2] (batch [2,1] of 1x2 rows) x b [3,2,1] (batch [3] of 2x1 columns) -> [2,3,1,1].
  const std::vector<float> a{1, 2, 3, 4};
  const std::vector<float> b{1, 0, 0, 1, 1, 1};
  std::vector<float> out(6);
  ASSERT_TRUE(k::MatMulF32(a.data(), {2, 1, 1, 2}, b.data(), {3, 2, 1}, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {1, 2, 3, 3, 4, 7}));
  // A shared 2-D B against a batched A.
  const std::vector<float> eye{1, 0, 0, 1};
  std::vector<float> same(4);
  ASSERT_TRUE(k::MatMulF32(a.data(), {2, 1, 2}, eye.data(), {2, 2}, same.data()).ok());
  EXPECT_TRUE(NearFloats(same, a));
}

TEST(MatMulZeroKAndErrors) {
  std::vector<float> out(4, 7.0f);
  ASSERT_TRUE(k::MatMulF32(nullptr, {2, 0}, nullptr, {0, 2}, out.data()).ok());  // empty sums are 0
  EXPECT_TRUE(NearFloats(out, {0, 0, 0, 0}));
  const std::vector<float> a(6);
  EXPECT_TRUE(IsInvalid(k::MatMulF32(a.data(), {2, 3}, a.data(), {2, 3}, out.data())));
  EXPECT_TRUE(IsInvalid(k::MatMulF32(nullptr, {2, 3}, a.data(), {3, 2}, out.data())));
  EXPECT_TRUE(IsInvalid(k::MatMulF32(a.data(), {}, a.data(), {3, 2}, out.data())));
}

TEST(MatMulAccumulatesExactly) {
  // 1 + 1e8 - 1e8 in k order: float accumulation gives 0, the double reference gives 1.
  const std::vector<float> a{1, 1e8f, -1e8f};
  const std::vector<float> b{1, 1, 1};
  float out = 0;
  ASSERT_TRUE(k::MatMulF32(a.data(), {1, 3}, b.data(), {3, 1}, &out).ok());
  EXPECT_EQ(out, 1.0f);
}

// ---- GemmF32 ----

TEST(GemmTransposesAndScales) {
  const std::vector<float> at{1, 4, 2, 5, 3, 6};  // A^T stored [3,2]; A = [[1,2,3],[4,5,6]]
  const std::vector<float> bt{1, 0, 1, 0, 1, 1};  // B^T stored [2,3]; B = [[1,0],[0,1],[1,1]]
  const std::vector<float> c{10, 20};             // [2] broadcast over rows
  std::vector<float> out(4);
  ASSERT_TRUE(k::GemmF32(at.data(), {3, 2}, true, bt.data(), {2, 3}, true, c.data(), {2}, 2.0f, 0.5f, out.data()).ok());
  // A*B = [[4,5],[10,11]]; 2*AB + 0.5*c
  EXPECT_TRUE(NearFloats(out, {13, 20, 25, 32}));
  const std::vector<float> col{1, 2};  // [2,1] broadcast over columns
  ASSERT_TRUE(k::GemmF32(at.data(), {3, 2}, true, bt.data(), {2, 3}, true, col.data(), {2, 1}, 1, 1, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {5, 6, 12, 13}));
  const float scalar = 100;
  ASSERT_TRUE(k::GemmF32(at.data(), {3, 2}, true, bt.data(), {2, 3}, true, &scalar, {}, 1, 1, out.data()).ok());
  EXPECT_TRUE(NearFloats(out, {104, 105, 110, 111}));
}

TEST(GemmSkipsCWhenBetaIsZero) {
  const std::vector<float> a{1, 2};  // [1,2]
  const std::vector<float> b{3, 4};  // [2,1]
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float out = 0;
  ASSERT_TRUE(k::GemmF32(a.data(), {1, 2}, false, b.data(), {2, 1}, false, &nan, {1, 1}, 1, 0, &out).ok());
  EXPECT_EQ(out, 11.0f);
  ASSERT_TRUE(k::GemmF32(a.data(), {1, 2}, false, b.data(), {2, 1}, false, nullptr, {}, 1, 1, &out).ok());
  EXPECT_EQ(out, 11.0f);
}

TEST(GemmRejectsBadShapes) {
  const std::vector<float> a(6), c(3);
  std::vector<float> out(4);
  EXPECT_TRUE(IsInvalid(k::GemmF32(a.data(), {2, 3}, false, a.data(), {2, 3}, false, nullptr, {}, 1, 1, out.data())));
  EXPECT_TRUE(IsInvalid(k::GemmF32(a.data(), {6}, false, a.data(), {6}, false, nullptr, {}, 1, 1, out.data())));
  EXPECT_TRUE(IsInvalid(k::GemmF32(a.data(), {2, 3}, false, a.data(), {3, 2}, false, c.data(), {3}, 1, 1, out.data())));
  EXPECT_TRUE(IsInvalid(k::GemmF32(a.data(), {2, 3}, false, a.data(), {3, 2}, false, c.data(), {1, 1, 2}, 1, 1,
                                   out.data())));
}

// ---- MatMulInteger ----

TEST(MatMulIntegerZeroPoints) {
  const std::vector<uint8_t> a{11, 12, 13, 14};  // [2,2]
  const std::vector<int8_t> b{1, -1, 2, 3};      // [2,2]
  std::vector<int32_t> out(4);
  const uint8_t a_zp = 10;
  ASSERT_TRUE(k::MatMulInteger(DType::kUint8, a.data(), {2, 2}, &a_zp, 1, DType::kInt8, b.data(), {2, 2}, nullptr, 0,
                               out.data()).ok());
  // (a - 10) = [[1,2],[3,4]] x [[1,-1],[2,3]]
  EXPECT_TRUE((out == std::vector<int32_t>{5, 5, 11, 9}));
  const std::vector<uint8_t> row_zp{11, 13};  // per row: [[0,1],[0,1]]
  const std::vector<int8_t> col_zp{1, -1};    // per column: [[0,0],[1,4]]
  ASSERT_TRUE(k::MatMulInteger(DType::kUint8, a.data(), {2, 2}, row_zp.data(), 2, DType::kInt8, b.data(), {2, 2},
                               col_zp.data(), 2, out.data()).ok());
  EXPECT_TRUE((out == std::vector<int32_t>{1, 4, 1, 4}));
}

TEST(MatMulIntegerExtremesAndErrors) {
  const std::vector<int8_t> a{-128, -128};
  const std::vector<uint8_t> b{255, 255};
  const int8_t a_zp = 127;
  int32_t out = 0;
  ASSERT_TRUE(k::MatMulInteger(DType::kInt8, a.data(), {1, 2}, &a_zp, 1, DType::kUint8, b.data(), {2, 1}, nullptr, 0,
                               &out).ok());
  EXPECT_EQ(out, 2 * -255 * 255);
  EXPECT_TRUE(IsInvalid(k::MatMulInteger(DType::kInt32, a.data(), {1, 2}, nullptr, 0, DType::kUint8, b.data(), {2, 1},
                                         nullptr, 0, &out)));
  EXPECT_TRUE(IsInvalid(k::MatMulInteger(DType::kInt8, a.data(), {1, 2}, &a_zp, 3, DType::kUint8, b.data(), {2, 1},
                                         nullptr, 0, &out)));
  EXPECT_TRUE(IsInvalid(k::MatMulInteger(DType::kInt8, a.data(), {1, 2}, nullptr, 0, DType::kUint8, b.data(), {2, 1},
                                         b.data(), 2, &out)));
  // Per-row zero points need a 2-D A, even when the count matches M.
  const std::vector<int8_t> a3{1, 2};  // [1,2,1]: M = 2, K = 1
  const std::vector<int8_t> row_zp{0, 0};
  std::vector<int32_t> out2(2);
  EXPECT_TRUE(IsInvalid(k::MatMulInteger(DType::kInt8, a3.data(), {1, 2, 1}, row_zp.data(), 2, DType::kUint8, b.data(),
                                         {1, 1}, nullptr, 0, out2.data())));
}

TEST(MatMulIntegerRefusesInt32Overflow) {
  // K = 33026 terms of 255 * 255 exceed INT32_MAX.
  const size_t kk = 33026;
  const std::vector<uint8_t> a(kk, 255), b(kk, 255);
  int32_t out = 0;
  EXPECT_TRUE(IsInvalid(k::MatMulInteger(DType::kUint8, a.data(), {1, int64_t(kk)}, nullptr, 0, DType::kUint8, b.data(),
                                         {int64_t(kk), 1}, nullptr, 0, &out)));
  ASSERT_TRUE(k::MatMulInteger(DType::kUint8, a.data(), {1, int64_t(kk - 1)}, nullptr, 0, DType::kUint8, b.data(),
                               {int64_t(kk - 1), 1}, nullptr, 0, &out).ok());
  EXPECT_EQ(out, int32_t(kk - 1) * 65025);
}

// ---- QLinearMatMul ----

TEST(QLinearMatMulRequantizes) {
  const std::vector<uint8_t> a{130, 128, 126, 128};  // zp 128: [[2,0],[-2,0]]
  const std::vector<int8_t> b{3, 1, 0, 0};           // zp 0:   [[3,1],[0,0]]
  const float b_scale = 0.5f;
  const int32_t b_zp = 0;
  std::vector<uint8_t> y(4);
  // acc = [[6,2],[-6,-2]] * (1 * 0.5 / 2) = [[1.5,0.5],[-1.5,-0.5]]: ties to even, + 100.
  ASSERT_TRUE(k::QLinearMatMul(DType::kUint8, a.data(), {2, 2}, 1.0f, 128, DType::kInt8, b.data(), {2, 2}, &b_scale,
                               &b_zp, 1, 2.0f, 100, DType::kUint8, y.data()).ok());
  EXPECT_TRUE((y == std::vector<uint8_t>{102, 100, 98, 100}));
  // Per-column b params and saturation into int8.
  const std::vector<float> scales{100.0f, 1.0f};
  const std::vector<int32_t> zps{0, 1};
  std::vector<int8_t> y8(4);
  ASSERT_TRUE(k::QLinearMatMul(DType::kUint8, a.data(), {2, 2}, 1.0f, 128, DType::kInt8, b.data(), {2, 2},
                               scales.data(), zps.data(), 2, 1.0f, 0, DType::kInt8, y8.data()).ok());
  // column 0: 6*100 -> 127, -6*100 -> -128; column 1: (1-1)=0 -> 0.
  EXPECT_TRUE((y8 == std::vector<int8_t>{127, 0, -128, 0}));
}

TEST(QLinearMatMulRejectsBadParams) {
  const std::vector<uint8_t> a(4);
  const float s = 1;
  const int32_t zp = 0, bad_zp = 300;
  std::vector<uint8_t> y(4);
  EXPECT_TRUE(IsInvalid(k::QLinearMatMul(DType::kUint8, a.data(), {2, 2}, 1, bad_zp, DType::kUint8, a.data(), {2, 2},
                                         &s, &zp, 1, 1, 0, DType::kUint8, y.data())));
  EXPECT_TRUE(IsInvalid(k::QLinearMatMul(DType::kUint8, a.data(), {2, 2}, 1, 0, DType::kUint8, a.data(), {2, 2}, &s,
                                         &zp, 1, 0.0f, 0, DType::kUint8, y.data())));
  EXPECT_TRUE(IsInvalid(k::QLinearMatMul(DType::kUint8, a.data(), {2, 2}, 1, 0, DType::kUint8, a.data(), {2, 2}, &s,
                                         &zp, 3, 1, 0, DType::kUint8, y.data())));
  EXPECT_TRUE(IsInvalid(k::QLinearMatMul(DType::kUint8, a.data(), {2, 2}, 1, 0, DType::kUint8, a.data(), {2, 2}, &s,
                                         &zp, 1, 1, 0, DType::kFloat, y.data())));
}

// ---- QuantizeLinear / DequantizeLinear ----

TEST(QuantizeRoundsHalfToEvenAndSaturates) {
  const std::vector<float> x{2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 1000, -1000};
  std::vector<uint8_t> y(x.size());
  const float scale = 1;
  const uint8_t zp = 10;
  ASSERT_TRUE(k::QuantizeLinear(x.data(), {7}, &scale, &zp, 1, 1, DType::kUint8, y.data()).ok());
  EXPECT_TRUE((y == std::vector<uint8_t>{12, 14, 8, 10, 10, 255, 0}));
  std::vector<int8_t> y8(x.size());
  ASSERT_TRUE(k::QuantizeLinear(x.data(), {7}, &scale, nullptr, 1, 0, DType::kInt8, y8.data()).ok());
  EXPECT_TRUE((y8 == std::vector<int8_t>{2, 4, -2, 0, 0, 127, -128}));
  // x / scale = 5 / 2 = 2.5 -> 2 (half to even on the quotient).
  const float five = 5, two = 2;
  uint8_t q = 0;
  ASSERT_TRUE(k::QuantizeLinear(&five, {}, &two, nullptr, 1, 0, DType::kUint8, &q).ok());
  EXPECT_EQ(int(q), 2);
}

TEST(QuantizeNonFiniteInputs) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x{inf, -inf, std::nanf("")};
  std::vector<int8_t> y(3);
  const float scale = 1;
  const int8_t zp = 5;
  ASSERT_TRUE(k::QuantizeLinear(x.data(), {3}, &scale, &zp, 1, 0, DType::kInt8, y.data()).ok());
  EXPECT_TRUE((y == std::vector<int8_t>{127, -128, 5}));
}

TEST(QuantizePerAxis) {
  const std::vector<float> x{1, 2, 3, 4, 5, 6};  // [2,3], channels along axis 1
  const std::vector<float> scales{1, 2, 4};
  const std::vector<int8_t> zps{0, 1, -1};
  std::vector<int8_t> y(6);
  ASSERT_TRUE(k::QuantizeLinear(x.data(), {2, 3}, scales.data(), zps.data(), 3, -1, DType::kInt8, y.data()).ok());
  // [1/1, 2/2+1, 3/4->1 (0.75) -1] [4, 5/2=2.5->2 +1, 6/4=1.5->2 -1]
  EXPECT_TRUE((y == std::vector<int8_t>{1, 2, 0, 4, 3, 1}));
  std::vector<float> back(6);
  ASSERT_TRUE(k::DequantizeLinear(DType::kInt8, y.data(), {2, 3}, scales.data(), zps.data(), 3, 1, back.data()).ok());
  EXPECT_TRUE(NearFloats(back, {1, 2, 4, 4, 4, 8}));
  EXPECT_TRUE(IsInvalid(k::QuantizeLinear(x.data(), {2, 3}, scales.data(), zps.data(), 3, 0, DType::kInt8, y.data())));
  EXPECT_TRUE(IsInvalid(k::QuantizeLinear(x.data(), {2, 3}, scales.data(), zps.data(), 3, 2, DType::kInt8, y.data())));
}

TEST(QuantizeRejectsBadArguments) {
  const float x = 1, zero = 0, nan = std::nanf("");
  uint8_t y = 0;
  EXPECT_TRUE(IsInvalid(k::QuantizeLinear(&x, {}, &zero, nullptr, 1, 0, DType::kUint8, &y)));
  EXPECT_TRUE(IsInvalid(k::QuantizeLinear(&x, {}, &nan, nullptr, 1, 0, DType::kUint8, &y)));
  EXPECT_TRUE(IsInvalid(k::QuantizeLinear(&x, {}, nullptr, nullptr, 1, 0, DType::kUint8, &y)));
  EXPECT_TRUE(IsInvalid(k::QuantizeLinear(&x, {}, &x, nullptr, 1, 0, DType::kInt32, &y)));
  EXPECT_TRUE(IsInvalid(k::QuantizeLinear(&x, {1}, &x, nullptr, 0, 0, DType::kUint8, &y)));
}

TEST(DequantizeTypes) {
  const std::vector<uint8_t> xu{0, 128, 255};
  const uint8_t zp = 128;
  const float scale = 0.5f;
  std::vector<float> y(3);
  ASSERT_TRUE(k::DequantizeLinear(DType::kUint8, xu.data(), {3}, &scale, &zp, 1, 0, y.data()).ok());
  EXPECT_TRUE(NearFloats(y, {-64, 0, 63.5f}));
  const std::vector<int32_t> xi{-1000, 7, 1 << 20};
  ASSERT_TRUE(k::DequantizeLinear(DType::kInt32, xi.data(), {3}, &scale, nullptr, 1, 0, y.data()).ok());
  EXPECT_TRUE(NearFloats(y, {-500, 3.5f, float(1 << 19)}));
  const int32_t nonzero = 1;
  EXPECT_TRUE(IsInvalid(k::DequantizeLinear(DType::kInt32, xi.data(), {3}, &scale, &nonzero, 1, 0, y.data())));
  EXPECT_TRUE(IsInvalid(k::DequantizeLinear(DType::kFloat, xi.data(), {3}, &scale, nullptr, 1, 0, y.data())));
  EXPECT_TRUE(IsInvalid(k::DequantizeLinear(DType::kUint8, xu.data(), {3}, &scale, nullptr, 2, 0, y.data())));
}

// ---- DynamicQuantizeLinear ----

TEST(DynamicQuantizeMatchesOnnxExample) {
  // The example of the ONNX spec (test_dynamicquantizelinear): x = [0, 2, -3, -2.5, 1.34, 0.5].
  const std::vector<float> x{0, 2, -3, -2.5f, 1.34f, 0.5f};
  std::vector<uint8_t> y(6);
  float scale = 0;
  uint8_t zp = 0;
  ASSERT_TRUE(k::DynamicQuantizeLinear(x.data(), x.size(), y.data(), &scale, &zp).ok());
  EXPECT_TRUE(NearFloats({scale}, {0.019607844f}));
  EXPECT_EQ(int(zp), 153);
  EXPECT_TRUE((y == std::vector<uint8_t>{153, 255, 0, 26, 221, 179}));
}

TEST(DynamicQuantizeEdgeRanges) {
  std::vector<uint8_t> y(3);
  float scale = 0;
  uint8_t zp = 0;
  const std::vector<float> zeros{0, 0, 0};
  ASSERT_TRUE(k::DynamicQuantizeLinear(zeros.data(), 3, y.data(), &scale, &zp).ok());
  EXPECT_TRUE(NearFloats({scale}, {1 / 255.0f}));
  EXPECT_EQ(int(zp), 0);
  const std::vector<float> positive{1, 2, 5.1f};  // min clamps to 0: zp 0
  ASSERT_TRUE(k::DynamicQuantizeLinear(positive.data(), 3, y.data(), &scale, &zp).ok());
  EXPECT_EQ(int(zp), 0);
  EXPECT_EQ(int(y[2]), 255);
  const std::vector<float> negative{-1, -2, -5.1f};  // max clamps to 0: zp 255
  ASSERT_TRUE(k::DynamicQuantizeLinear(negative.data(), 3, y.data(), &scale, &zp).ok());
  EXPECT_EQ(int(zp), 255);
  EXPECT_EQ(int(y[2]), 0);
  const std::vector<float> bad{1, std::numeric_limits<float>::infinity()};
  EXPECT_TRUE(IsInvalid(k::DynamicQuantizeLinear(bad.data(), 2, y.data(), &scale, &zp)));
  EXPECT_TRUE(IsInvalid(k::DynamicQuantizeLinear(zeros.data(), 3, y.data(), nullptr, &zp)));
}

// ---- QuantizeLinearFixed (int8-gemm.h) ----

TEST(FixedQuantizerMatchesReferenceOnEveryVariant) {
  // Ties (x/scale = n + 0.5), both saturation ends, infinities, NaN, huge values, and lengths
  // around the 8- and 16-lane vectors plus one past the threading chunk.
  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {0.25f, 0.75f, -0.25f, -1.25f, 2.5f, 1e30f, -1e30f, inf, -inf,
                           std::numeric_limits<float>::quiet_NaN(), 63.75f, -64.25f, 0.0f};
  for (int64_t n : {1, 7, 8, 17, 33, 40000}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      x[i] = i < 13 ? special[i] : static_cast<float>((i * 7919) % 2001 - 1000) * 0.0371f;
    }
    for (DType type : {DType::kUint8, DType::kInt8}) {
      const bool is_signed = type == DType::kInt8;
      const int32_t zp = is_signed ? -3 : 130;
      const uint8_t zp_byte = static_cast<uint8_t>(zp);
      const float scale = 0.5f;
      std::vector<uint8_t> want(static_cast<size_t>(n));
      ASSERT_TRUE(
          k::QuantizeLinear(x.data(), {n}, &scale, &zp_byte, 1, 0, type, want.data()).ok());
      sluice::ThreadPool pool(2);
      for (auto kernel : {sluice::Int8GemmKernel::kGeneric, sluice::Int8GemmKernel::kAvx2,
                          sluice::Int8GemmKernel::kAvx512Vnni}) {
        if (!sluice::Int8GemmKernelSupported(kernel)) continue;
        std::vector<uint8_t> got(static_cast<size_t>(n), 0xAA);
        ASSERT_TRUE(sluice::QuantizeLinearFixed(x.data(), n, scale, zp, is_signed, got.data(),
                                                &pool, kernel)
                        .ok());
        EXPECT_TRUE(got == want);
      }
    }
  }
  uint8_t y = 0;
  const float x0 = 1.0f;
  EXPECT_TRUE(IsInvalid(sluice::QuantizeLinearFixed(&x0, 1, 0.0f, 0, false, &y)));
  EXPECT_TRUE(IsInvalid(sluice::QuantizeLinearFixed(&x0, 1, 1.0f, 128, true, &y)));
  EXPECT_TRUE(IsInvalid(sluice::QuantizeLinearFixed(nullptr, 1, 1.0f, 0, false, &y)));
}

// The fast kernels may divide by the scale without a division instruction; they must still
// round every quotient exactly as x / scale does. Awkward scales (non-powers of two, huge, tiny,
// subnormal) and inputs on both sides of every tie (n + 0.5) * scale, plus random ones.
TEST(FixedQuantizerRoundsLikeDivisionForAnyScale) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_real_distribution<float> exponent(-30.0f, 30.0f);
  std::vector<float> scales = {1.0f / 3, 0.1f, 0.0371f, 7.3e-3f, 123.45f, 2.9e-5f, 1e-20f,
                               1e20f, 3e-39f, -0.2f, 0x1p-100f, 0x1p100f, 0x1.fffffep-1f};
  for (int i = 0; i < 40; ++i) scales.push_back(std::pow(10.0f, exponent(rng) / 10) * (1 + unit(rng)));
  for (float scale : scales) {
    std::vector<float> x;
    for (int n = -300; n <= 300; ++n) {
      const float tie = (static_cast<float>(n) + 0.5f) * scale;
      x.push_back(tie);
      x.push_back(std::nextafter(tie, 0.0f));
      x.push_back(std::nextafter(tie, INFINITY));
      x.push_back(std::nextafter(tie, -INFINITY));
    }
    for (int i = 0; i < 2000; ++i) x.push_back(unit(rng) * 140.0f * scale);
    x.push_back(std::numeric_limits<float>::max());
    x.push_back(-std::numeric_limits<float>::max());
    const int64_t n = static_cast<int64_t>(x.size());
    for (DType type : {DType::kUint8, DType::kInt8}) {
      const bool is_signed = type == DType::kInt8;
      const int32_t zp = is_signed ? 0 : 128;
      const uint8_t zp_byte = static_cast<uint8_t>(zp);
      std::vector<uint8_t> want(x.size());
      ASSERT_TRUE(k::QuantizeLinear(x.data(), {n}, &scale, &zp_byte, 1, 0, type, want.data()).ok());
      for (auto kernel : {sluice::Int8GemmKernel::kGeneric, sluice::Int8GemmKernel::kAvx2,
                          sluice::Int8GemmKernel::kAvx512Vnni}) {
        if (!sluice::Int8GemmKernelSupported(kernel)) continue;
        std::vector<uint8_t> got(x.size(), 0xAA);
        ASSERT_TRUE(sluice::QuantizeLinearFixed(x.data(), n, scale, zp, is_signed, got.data(),
                                                nullptr, kernel)
                        .ok());
        size_t bad = 0;
        for (size_t i = 0; i < x.size(); ++i) {
          if (got[i] != want[i] && bad++ < 3) {
            std::printf("  %s scale %.9g x %.9g: got %d want %d\n", sluice::Int8GemmKernelName(kernel),
                        scale, x[i], got[i], want[i]);
          }
        }
        EXPECT_EQ(bad, size_t{0});
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
