// Op wiring through the engine (input order, attributes, dtypes), each against values computed
// by hand. The kernels' own numerics are tested with the reference kernels; here the question
// is whether the engine hands them the right arguments.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "engine-test-util.h"
#include "sluice/kernels/reference.h"
#include "test-harness.h"

namespace sluice::test {
namespace {

template <typename T>
std::vector<T> As(const OwnedTensor& t) {
  std::vector<T> v(t.bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

int64_t NumElementsOf(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Loads (optimized) and runs `graph` on `inputs`.
Status Run(const Graph& graph, const std::vector<TensorView>& inputs,
           std::vector<OwnedTensor>* out) {
  return LoadAndRun(graph, true, inputs, out);
}

// numpy matmul by hand for operands of rank >= 2 with broadcast batch dims.
std::vector<float> NaiveMatMul(const std::vector<float>& a, const Shape& as,
                               const std::vector<float>& b, const Shape& bs, const Shape& ys) {
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  const size_t rank = ys.size();
  std::vector<float> y(static_cast<size_t>(NumElementsOf(ys)));
  const int64_t items = NumElementsOf(Shape(ys.begin(), ys.end() - 2));
  auto offset = [&](const Shape& s, int64_t item) {  // matrix index of `item` in s's batch
    int64_t index = 0, stride = 1, rest = item;
    for (size_t d = rank - 2; d-- > 0;) {
      const int64_t dim = ys[d], pos = rest % dim;
      rest /= dim;
      const int64_t sd = static_cast<int64_t>(d) - static_cast<int64_t>(rank - s.size());
      if (sd >= 0) {
        index += (s[sd] == 1 ? 0 : pos) * stride;
        stride *= s[sd];
      }
    }
    return index;
  };
  for (int64_t it = 0; it < items; ++it) {
    const float* pa = a.data() + offset(as, it) * m * k;
    const float* pb = b.data() + offset(bs, it) * k * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t x = 0; x < k; ++x) acc += static_cast<double>(pa[i * k + x]) * pb[x * n + j];
        y[it * m * n + i * n + j] = static_cast<float>(acc);
      }
    }
  }
  return y;
}

TEST(BatchedMatMulBroadcasts) {
  // Strided batches (fast GEMM) and broadcasts only the reference kernel handles.
  const std::vector<std::vector<Shape>> cases = {
      {{2, 3, 4, 5}, {5, 6}, {2, 3, 4, 6}},    {{2, 3, 4, 5}, {2, 3, 5, 6}, {2, 3, 4, 6}},
      {{1, 4, 5}, {3, 5, 6}, {3, 4, 6}},       {{1, 3, 4, 5}, {2, 3, 5, 6}, {2, 3, 4, 6}},
      {{3, 1, 4, 5}, {2, 5, 6}, {3, 2, 4, 6}}, {{7, 33}, {33, 17}, {7, 17}}};
  Rng rng(12);
  for (const std::vector<Shape>& c : cases) {
    GraphBuilder b;
    b.Input("a", c[0]);
    b.Input("b", c[1]);
    b.Op("MatMul", {"a", "b"}, {"y"});
    b.Output("y");
    const std::vector<float> a = rng.Vector(static_cast<size_t>(NumElementsOf(c[0])));
    const std::vector<float> bv = rng.Vector(static_cast<size_t>(NumElementsOf(c[1])));
    std::vector<OwnedTensor> out;
    ASSERT_TRUE(Run(b.graph, {FloatView(a, c[0]), FloatView(bv, c[1])}, &out).ok());
    EXPECT_EQ(out[0].shape, c[2]);
    EXPECT_TRUE(MaxAbsDiff(As<float>(out[0]), NaiveMatMul(a, c[0], bv, c[1], c[2])) < 1e-5f);
  }
}

TEST(GatherEmbeddingsWithNegativeIndices) {
  GraphBuilder b;
  b.Input("ids", {-1, 2}, DType::kInt64);
  b.Floats("table", {4, 2}, {0, 1, 10, 11, 20, 21, 30, 31});
  b.Op("Gather", {"table", "ids"}, {"emb"});
  b.Output("emb");
  std::vector<int64_t> ids = {3, 0, -1, 2};
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {{DType::kInt64, {2, 2}, ids.data(), 32}}, &out).ok());
  EXPECT_EQ(out[0].shape, (Shape{2, 2, 2}));
  EXPECT_EQ(As<float>(out[0]), (std::vector<float>{30, 31, 0, 1, 30, 31, 20, 21}));
  ids[1] = 4;
  Status s = Run(b.graph, {{DType::kInt64, {2, 2}, ids.data(), 32}}, &out);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
}

TEST(TransposeConcatFlattenIdentity) {
  GraphBuilder b;
  b.Input("x", {2, 3});
  b.Op("Transpose", {"x"}, {"t"});  // default perm reverses: [3,2]
  b.Op("Identity", {"t"}, {"i"});
  b.Op("Concat", {"t", "i"}, {"c"}, {AttrInt("axis", -1)});  // [3,4]
  b.Op("Flatten", {"c"}, {"y"}, {AttrInt("axis", 0)});       // [1,12]
  b.Output("y");
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {FloatView(x, {2, 3})}, &out).ok());
  EXPECT_EQ(out[0].shape, (Shape{1, 12}));
  EXPECT_EQ(As<float>(out[0]), (std::vector<float>{1, 4, 1, 4, 2, 5, 2, 5, 3, 6, 3, 6}));
}

TEST(IntegerArithmetic) {
  GraphBuilder b;
  b.Input("a", {3}, DType::kInt64);
  b.Typed("d", DType::kInt64, {1}, std::vector<int64_t>{-2});
  b.Op("Div", {"a", "d"}, {"q"});
  b.Op("Mul", {"q", "a"}, {"y"});
  b.Output("y");
  std::vector<int64_t> a = {7, -7, 4};
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {{DType::kInt64, {3}, a.data(), 24}}, &out).ok());
  EXPECT_EQ(out[0].dtype, DType::kInt64);
  EXPECT_EQ(As<int64_t>(out[0]), (std::vector<int64_t>{-21, -21, -8}));  // truncating division
}

TEST(SoftmaxAxisAndReduceMeanAttribute) {
  GraphBuilder b(13);
  b.Input("x", {2, 2});
  b.Op("Softmax", {"x"}, {"s"}, {AttrInt("axis", 0)});
  b.Op("ReduceMean", {"s"}, {"m"}, {AttrInts("axes", {0}), AttrInt("keepdims", 0)});
  b.Output("s");
  b.Output("m");
  std::vector<float> x = {0, 5, 0, -5};
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {FloatView(x, {2, 2})}, &out).ok());
  const std::vector<float> s = As<float>(out[0]);
  EXPECT_TRUE(std::fabs(s[0] - 0.5f) < 1e-6f && std::fabs(s[2] - 0.5f) < 1e-6f);
  EXPECT_TRUE(std::fabs(s[1] + s[3] - 1.0f) < 1e-6f && s[1] > 0.99f);
  EXPECT_EQ(out[1].shape, (Shape{2}));
  EXPECT_TRUE(MaxAbsDiff(As<float>(out[1]), {0.5f, 0.5f}) < 1e-6f);
}

TEST(LayerNormalizationOutputsStatistics) {
  GraphBuilder b;
  b.Input("x", {1, 4});
  b.Floats("g", {4}, {1, 1, 1, 1});
  b.Op("LayerNormalization", {"x", "g"}, {"y", "mean", "inv"}, {AttrFloat("epsilon", 0.0f)});
  b.Output("y");
  b.Output("mean");
  std::vector<float> x = {1, 2, 3, 4};
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {FloatView(x, {1, 4})}, &out).ok());
  const float inv = 1.0f / std::sqrt(1.25f);
  EXPECT_TRUE(MaxAbsDiff(As<float>(out[0]), {-1.5f * inv, -0.5f * inv, 0.5f * inv, 1.5f * inv}) <
              1e-5f);
  EXPECT_EQ(out[1].shape, (Shape{1, 1}));
  EXPECT_TRUE(MaxAbsDiff(As<float>(out[1]), {2.5f}) < 1e-6f);
}

TEST(QuantizeDequantizePerAxis) {
  GraphBuilder b(21);
  b.Input("x", {2, 2});
  b.Floats("s", {2}, {0.5f, 0.25f});
  b.Typed("z", DType::kInt8, {2}, std::vector<int8_t>{0, 10});
  b.Op("QuantizeLinear", {"x", "s", "z"}, {"q"}, {AttrInt("axis", 1)});
  b.Op("DequantizeLinear", {"q", "s", "z"}, {"y"}, {AttrInt("axis", 1)});
  b.Output("q");
  b.Output("y");
  std::vector<float> x = {1.0f, 1.0f, 100.0f, -1.3f};
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {FloatView(x, {2, 2})}, &out).ok());
  EXPECT_EQ(out[0].dtype, DType::kInt8);
  // column 0: x/0.5 -> 2, 127 (saturated); column 1: x/0.25 + 10 -> 14, round_half_even(-5.2)+10 =
  // 5
  EXPECT_EQ(As<int8_t>(out[0]), (std::vector<int8_t>{2, 14, 127, 5}));
  EXPECT_TRUE(MaxAbsDiff(As<float>(out[1]), {1.0f, 1.0f, 63.5f, -1.25f}) < 1e-6f);
}

TEST(QLinearMatMulRequantizes) {
  GraphBuilder b;
  b.Input("a", {1, 2}, DType::kUint8);
  b.Scalar("a_s", 0.5f);
  b.Typed("a_z", DType::kUint8, {}, std::vector<uint8_t>{10});
  b.Typed("w", DType::kInt8, {2, 2}, std::vector<int8_t>{1, 2, 3, -4});
  b.Floats("w_s", {2}, {1.0f, 0.5f});
  b.Typed("w_z", DType::kInt8, {2}, std::vector<int8_t>{0, 0});
  b.Scalar("y_s", 1.0f);
  b.Typed("y_z", DType::kUint8, {}, std::vector<uint8_t>{100});
  b.Op("QLinearMatMul", {"a", "a_s", "a_z", "w", "w_s", "w_z", "y_s", "y_z"}, {"y"});
  b.Output("y");
  std::vector<uint8_t> a = {12, 14};  // real values 1, 2
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {{DType::kUint8, {1, 2}, a.data(), 2}}, &out).ok());
  // real products: [1*1 + 2*3, (1*2 + 2*-4) * 0.5] = [7, -3] -> + 100
  EXPECT_EQ(As<uint8_t>(out[0]), (std::vector<uint8_t>{107, 97}));
}

TEST(DynamicQuantizeThenMatMulInteger) {
  GraphBuilder b;
  b.Input("x", {2, 2});
  b.Typed("w", DType::kUint8, {2, 1}, std::vector<uint8_t>{1, 2});
  b.Op("DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
  b.Op("MatMulInteger", {"xq", "w", "xz"}, {"acc"});
  b.Output("acc");
  b.Output("xs");
  std::vector<float> x = {0.0f, 2.55f, 1.0f, 0.5f};  // range [0, 2.55]: scale 0.01, zero point 0
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {FloatView(x, {2, 2})}, &out).ok());
  EXPECT_EQ(As<int32_t>(out[0]), (std::vector<int32_t>{510, 200}));
  EXPECT_TRUE(std::fabs(As<float>(out[1])[0] - 0.01f) < 1e-7f);
}

// x [2,3] = [[1, 5, 5], [7, NaN, 2]]: ties take the first index (last with select_last_index),
// NaN wins as in numpy.
TEST(ArgMaxAlongEachAxis) {
  const std::vector<float> x = {1, 5, 5, 7, NAN, 2};
  auto argmax = [&](int64_t axis, int64_t keepdims, int64_t last, Shape* shape) {
    GraphBuilder b;
    b.Input("x", {2, 3});
    b.Op("ArgMax", {"x"}, {"y"},
         {AttrInt("axis", axis), AttrInt("keepdims", keepdims), AttrInt("select_last_index", last)});
    b.Output("y");
    std::vector<OwnedTensor> out;
    EXPECT_TRUE(Run(b.graph, {FloatView(x, {2, 3})}, &out).ok());
    if (out.size() != 1 || out[0].dtype != DType::kInt64) return std::vector<int64_t>{};
    *shape = out[0].shape;
    return As<int64_t>(out[0]);
  };
  Shape shape;
  EXPECT_TRUE(argmax(1, 1, 0, &shape) == (std::vector<int64_t>{1, 1}));
  EXPECT_TRUE(shape == (Shape{2, 1}));
  EXPECT_TRUE(argmax(-1, 0, 1, &shape) == (std::vector<int64_t>{2, 1}));
  EXPECT_TRUE(shape == (Shape{2}));
  EXPECT_TRUE(argmax(0, 0, 0, &shape) == (std::vector<int64_t>{1, 1, 0}));
  EXPECT_TRUE(shape == (Shape{3}));
}

TEST(ArgMaxOfIntegersAndBadAxis) {
  GraphBuilder b;
  b.Input("x", {-1, 4}, DType::kInt64);
  b.Op("ArgMax", {"x"}, {"y"}, {AttrInt("axis", 1), AttrInt("keepdims", 0)});
  b.Output("y");
  const std::vector<int64_t> x = {-9, -3, -3, -4, 8, 0, 9, 9};
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(Run(b.graph, {{DType::kInt64, {2, 4}, x.data(), x.size() * 8}}, &out).ok());
  EXPECT_TRUE(As<int64_t>(out[0]) == (std::vector<int64_t>{1, 2}));
  b.graph.nodes[0].attributes = {AttrInt("axis", 2)};
  std::unique_ptr<Engine> engine;
  const Status s = Engine::Load(b.graph, EngineOptions(), &engine);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.message(), "ArgMax") && Contains(s.message(), "axis 2"));
}

// The float binaries' fast paths (same shape, a tiled operand on either side, scalars, split
// across the pool when large) and the broadcasts left to the reference walk, bit for bit
// against the reference kernel.
TEST(BinaryFastPathsMatchReference) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4, 7}, {4, 7}},           {{5, 33}, {33}},          {{33}, {5, 33}},
      {{2, 3, 5, 7}, {1, 5, 7}},  {{2, 3, 5, 7}, {}},       {{1}, {2, 3, 5}},
      {{3, 1}, {1, 4}},           {{2, 1, 7}, {2, 3, 7}},   {{2, 3, 7}, {3, 1}},
      {{300, 257}, {300, 257}},   {{300, 257}, {257}},      {{1, 257}, {3, 100, 257}},
      {{4, 130, 131}, {1}},       {{70001}, {70001}},       {{6, 1, 1}, {6, 5, 9}}};
  const std::vector<std::pair<const char*, kernels::BinaryOp>> ops = {
      {"Add", kernels::BinaryOp::kAdd},
      {"Sub", kernels::BinaryOp::kSub},
      {"Mul", kernels::BinaryOp::kMul},
      {"Div", kernels::BinaryOp::kDiv}};
  Rng rng(31);
  for (const auto& c : cases) {
    for (const auto& op : ops) {
      GraphBuilder b;
      b.Input("a", c.first);
      b.Input("b", c.second);
      b.Op(op.first, {"a", "b"}, {"y"});
      b.Output("y");
      const std::vector<float> a = rng.Vector(static_cast<size_t>(NumElementsOf(c.first)));
      const std::vector<float> bv = rng.Vector(static_cast<size_t>(NumElementsOf(c.second)));
      Shape ys;
      ASSERT_TRUE(kernels::BroadcastShapes(c.first, c.second, &ys).ok());
      std::vector<float> want(static_cast<size_t>(NumElementsOf(ys)));
      ASSERT_TRUE(kernels::Binary(op.second, DType::kFloat, a.data(), c.first, bv.data(), c.second,
                                  want.data())
                      .ok());
      std::vector<OwnedTensor> out;
      ASSERT_TRUE(LoadAndRun(b.graph, false, {FloatView(a, c.first), FloatView(bv, c.second)}, &out)
                      .ok());
      EXPECT_EQ(out[0].shape, ys);
      const std::vector<float> got = As<float>(out[0]);
      EXPECT_EQ(got.size(), want.size());
      EXPECT_TRUE(got.size() == want.size() &&
                  std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

// Transpose's fast paths (contiguous block copies, the batched 2-D transpose with ragged edges,
// merged and size-1 dims, the pool split) and the permutations left to the reference, for 1-,
// 4- and 8-byte elements, bit for bit against the reference kernel.
TEST(TransposeFastPathsMatchReference) {
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{2, 5, 3, 7}, {0, 2, 1, 3}},    {{2, 5, 3, 7}, {0, 2, 3, 1}},
      {{2, 5, 3, 7}, {0, 3, 1, 2}},    {{2, 5, 3, 7}, {3, 2, 1, 0}},
      {{2, 5, 3, 7}, {}},              {{2, 5, 3, 7}, {0, 1, 2, 3}},
      {{1, 33, 4, 17}, {0, 2, 1, 3}},  {{3, 1, 5}, {2, 1, 0}},
      {{9, 13}, {1, 0}},               {{4, 64, 4, 67}, {0, 2, 1, 3}},
      {{4, 64, 4, 67}, {0, 2, 3, 1}},  {{3, 66, 4, 64}, {0, 2, 3, 1}},
      {{2, 3, 4, 5, 6}, {0, 3, 4, 1, 2}}, {{7}, {0}}};
  const std::vector<DType> dtypes = {DType::kFloat, DType::kInt64, DType::kUint8};
  uint64_t seed = 77;
  for (const auto& c : cases) {
    for (DType dtype : dtypes) {
      GraphBuilder b;
      b.Input("x", c.first, dtype);
      if (c.second.empty()) {
        b.Op("Transpose", {"x"}, {"y"});
      } else {
        b.Op("Transpose", {"x"}, {"y"}, {AttrInts("perm", c.second)});
      }
      b.Output("y");
      const size_t elem = DTypeSize(dtype);
      const size_t n = static_cast<size_t>(NumElementsOf(c.first));
      std::vector<uint8_t> x(n * elem);
      for (uint8_t& v : x) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        v = static_cast<uint8_t>(seed >> 56);
      }
      if (dtype == DType::kFloat) {  // finite floats: keep NaN patterns out of the float view
        for (size_t i = 0; i < n; ++i) x[i * 4 + 3] &= 0x3f;
      }
      std::vector<uint8_t> want(x.size());
      ASSERT_TRUE(kernels::Transpose(dtype, x.data(), c.first, c.second, want.data()).ok());
      std::vector<OwnedTensor> out;
      ASSERT_TRUE(
          LoadAndRun(b.graph, false, {{dtype, c.first, x.data(), x.size()}}, &out).ok());
      EXPECT_EQ(out[0].bytes.size(), want.size());
      EXPECT_TRUE(out[0].bytes.size() == want.size() &&
                  std::memcmp(out[0].bytes.data(), want.data(), want.size()) == 0);
    }
  }
}

// Casts x (of `from`) to `to` through a one-node graph on a graph input (so Cast runs, not the
// constant folder); the output bytes as To.
template <typename To, typename From>
std::vector<To> CastThrough(DType from, DType to, const std::vector<From>& x, int64_t opset = 13) {
  GraphBuilder b(opset);
  const Shape shape = {static_cast<int64_t>(x.size())};
  b.Input("x", shape, from);
  b.Op("Cast", {"x"}, {"y"}, {AttrInt("to", static_cast<int64_t>(to))});
  b.Output("y");
  std::vector<OwnedTensor> out;
  Status s = Run(b.graph, {{from, shape, x.data(), x.size() * sizeof(From)}}, &out);
  if (!s.ok() || out[0].dtype != to || out[0].shape != shape) {
    std::fprintf(stderr, "  cast %s -> %s: %s\n", DTypeName(from), DTypeName(to),
                 s.ToString().c_str());
    return {};
  }
  return As<To>(out[0]);
}

TEST(CastFloatToIntegerTruncatesClampsAndZeroesNaN) {
  constexpr int32_t kMin32 = INT32_MIN, kMax32 = INT32_MAX;
  EXPECT_EQ((CastThrough<int32_t, float>(
                DType::kFloat, DType::kInt32,
                {2.7f, -2.7f, 0.5f, -0.5f, 1e10f, -1e10f, NAN, INFINITY, -INFINITY,
                 2147483520.0f, 2147483648.0f, -2147483648.0f})),
            (std::vector<int32_t>{2, -2, 0, 0, kMax32, kMin32, 0, kMax32, kMin32, 2147483520,
                                  kMax32, kMin32}));
  EXPECT_EQ((CastThrough<uint8_t, float>(DType::kFloat, DType::kUint8,
                                         {-3.7f, -0.9f, 255.9f, 256.0f, 300.0f, NAN, 1.5f})),
            (std::vector<uint8_t>{0, 0, 255, 255, 255, 0, 1}));
  EXPECT_EQ((CastThrough<int8_t, float>(DType::kFloat, DType::kInt8,
                                        {-128.9f, 127.9f, -129.0f, 128.0f, -NAN})),
            (std::vector<int8_t>{-128, 127, -128, 127, 0}));
  // 2^63 as a float is one past INT64_MAX; -2^63 is exactly INT64_MIN.
  EXPECT_EQ((CastThrough<int64_t, float>(DType::kFloat, DType::kInt64,
                                         {9.3e18f, 9223372036854775808.0f,
                                          -9223372036854775808.0f, -9.3e18f, 123.9f})),
            (std::vector<int64_t>{INT64_MAX, INT64_MAX, INT64_MIN, INT64_MIN, 123}));
  EXPECT_EQ((CastThrough<uint64_t, double>(DType::kDouble, DType::kUint64,
                                           {1.9e19, -1.0, 1.8e19, 18446744073709549568.0})),
            (std::vector<uint64_t>{UINT64_MAX, 0, 18000000000000000000ull,
                                   18446744073709549568ull}));
}

TEST(CastIntegersWrapAndBoolsAreZeroOrOne) {
  // ONNX: out-of-range integers keep their low bits (200 int32 -> -56 int8).
  EXPECT_EQ((CastThrough<int8_t, int32_t>(DType::kInt32, DType::kInt8,
                                          {200, -129, 127, -56, 256, -2147483647 - 1})),
            (std::vector<int8_t>{-56, 127, 127, -56, 0, 0}));
  EXPECT_EQ((CastThrough<uint8_t, int64_t>(DType::kInt64, DType::kUint8, {-1, 257, 255})),
            (std::vector<uint8_t>{255, 1, 255}));
  EXPECT_EQ((CastThrough<int32_t, int64_t>(DType::kInt64, DType::kInt32,
                                           {4294967297LL, -2147483649LL, -5})),
            (std::vector<int32_t>{1, 2147483647, -5}));
  EXPECT_EQ((CastThrough<int64_t, uint32_t>(DType::kUint32, DType::kInt64, {4294967295u, 7u})),
            (std::vector<int64_t>{4294967295LL, 7}));
  EXPECT_EQ((CastThrough<float, int64_t>(DType::kInt64, DType::kFloat, {16777217, -3})),
            (std::vector<float>{16777216.0f, -3.0f}));
  EXPECT_EQ((CastThrough<float, uint8_t>(DType::kUint8, DType::kFloat, {0, 255})),
            (std::vector<float>{0.0f, 255.0f}));
  // Any nonzero is true, NaN included; a bool byte other than 0/1 still reads as true.
  EXPECT_EQ((CastThrough<uint8_t, float>(DType::kFloat, DType::kBool,
                                         {0.0f, -0.0f, NAN, 2.5f, -1e-30f})),
            (std::vector<uint8_t>{0, 0, 1, 1, 1}));
  EXPECT_EQ((CastThrough<float, uint8_t>(DType::kBool, DType::kFloat, {0, 1, 2})),
            (std::vector<float>{0.0f, 1.0f, 1.0f}));
  EXPECT_EQ((CastThrough<int64_t, uint8_t>(DType::kBool, DType::kInt64, {1, 0})),
            (std::vector<int64_t>{1, 0}));
  EXPECT_EQ((CastThrough<uint8_t, int32_t>(DType::kInt32, DType::kBool, {0, -7, 256})),
            (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ((CastThrough<int32_t, int32_t>(DType::kInt32, DType::kInt32, {-1, 9})),
            (std::vector<int32_t>{-1, 9}));  // same type: a copy
}

TEST(CastBetweenFloatAndDouble) {
  constexpr double kFltMax = 3.4028234663852886e38;
  // Above FLT_MAX IEEE rounds to FLT_MAX up to half an ulp (2^103) past it, then to infinity.
  const std::vector<float> narrowed = CastThrough<float, double>(
      DType::kDouble, DType::kFloat,
      {0.1, 1e300, -1e300, kFltMax, kFltMax + 0x1p102, -(kFltMax + 0x1p102), kFltMax + 0x1p103,
       NAN, 1e-50});
  ASSERT_TRUE(narrowed.size() == 9);
  EXPECT_EQ(narrowed[0], 0.1f);
  EXPECT_EQ(narrowed[1], INFINITY);
  EXPECT_EQ(narrowed[2], -INFINITY);
  EXPECT_EQ(narrowed[3], FLT_MAX);
  EXPECT_EQ(narrowed[4], FLT_MAX);
  EXPECT_EQ(narrowed[5], -FLT_MAX);
  EXPECT_EQ(narrowed[6], INFINITY);
  EXPECT_TRUE(std::isnan(narrowed[7]));
  EXPECT_EQ(narrowed[8], 0.0f);
  EXPECT_EQ((CastThrough<double, float>(DType::kFloat, DType::kDouble, {0.1f, -INFINITY})),
            (std::vector<double>{static_cast<double>(0.1f), -INFINITY}));
}

// Casts of x [2] from `from` to `to`, with `extra` attributes, at `opset`: Engine::Unsupported.
std::vector<std::string> CastRefusals(DType from, int64_t to, int64_t opset,
                                      std::vector<Attribute> extra = {}) {
  GraphBuilder b(opset);
  b.Input("x", {2}, from);
  extra.push_back(AttrInt("to", to));
  b.Op("Cast", {"x"}, {"y"}, extra);
  b.Output("y");
  return Engine::Unsupported(b.graph);
}

TEST(CastRefusesTypesItDoesNotCarryWithTheReason) {
  auto first = [](const std::vector<std::string>& r) { return r.empty() ? "" : r[0]; };
  EXPECT_TRUE(
      Contains(first(CastRefusals(DType::kFloat, 10, 13)), "Cast to float16 is not supported"));
  EXPECT_TRUE(Contains(first(CastRefusals(DType::kFloat, 16, 13)), "Cast to bfloat16"));
  EXPECT_TRUE(Contains(first(CastRefusals(DType::kFloat, 17, 19)), "Cast to float8e4m3fn"));
  EXPECT_TRUE(Contains(first(CastRefusals(DType::kFloat, 8, 13)), "Cast to string"));
  EXPECT_TRUE(Contains(first(CastRefusals(DType::kFloat, 999, 13)), "Cast to dtype 999"));
  EXPECT_TRUE(Contains(first(CastRefusals(DType::kFloat16, 1, 13)), "Cast from float16"));
  std::string all;  // (opset 5 is also below the engine's minimum, reported first)
  for (const std::string& r : CastRefusals(DType::kFloat, 6, 5)) all += r + "\n";
  EXPECT_TRUE(Contains(all, "Cast before opset 6"));
  // saturate and round_mode only concern float8: accepted, no effect.
  EXPECT_TRUE(CastRefusals(DType::kFloat, 6, 21,
                           {AttrInt("saturate", 0), AttrString("round_mode", "down")})
                  .empty());
  EXPECT_TRUE(CastRefusals(DType::kFloat, 6, 13, {AttrInt("axis", 0)}).size() == 1);
  GraphBuilder b;
  b.Input("x", {2});
  b.Op("Cast", {"x"}, {"y"});  // no `to`
  b.Output("y");
  std::vector<OwnedTensor> out;
  const std::vector<float> x = {1, 2};
  EXPECT_EQ(Run(b.graph, {FloatView(x, {2})}, &out).code(), StatusCode::INVALID_ARGUMENT);
}

TEST(CastOfAConstantIsFolded) {
  GraphBuilder b;
  b.Input("x", {3}, DType::kInt64);
  b.Floats("c", {3}, {1.9f, -2.9f, 1e20f});
  b.Op("Cast", {"c"}, {"ci"}, {AttrInt("to", 7)});
  b.Op("Add", {"x", "ci"}, {"y"});
  b.Output("y");
  std::unique_ptr<Engine> engine;
  std::vector<OwnedTensor> out;
  const std::vector<int64_t> x = {10, 10, -1};
  ASSERT_TRUE(LoadAndRun(b.graph, true, {{DType::kInt64, {3}, x.data(), 24}}, &out, &engine).ok());
  EXPECT_EQ(As<int64_t>(out[0]), (std::vector<int64_t>{11, 8, INT64_MAX - 1}));
  EXPECT_TRUE(!Contains(engine->Describe(), "Cast"));
}

}  // namespace
}  // namespace sluice::test

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
