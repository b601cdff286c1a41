// End-to-end engine runs: an MLP against hand-computed results, a tiny transformer-encoder
// block (decomposed LayerNorm and Gelu, attention) optimized vs unoptimized, dynamic batch
// sizes, and concurrent runs.
#include <cmath>
#include <thread>

#include "engine-test-util.h"
#include "test-harness.h"

namespace sluice::test {
namespace {

// MLP 8 -> 16 -> 4: Gemm(transB) + Relu, then Gemm + Sigmoid. x: [?, 8].
struct Mlp {
  std::vector<float> w1, b1, w2, b2;  // w1 [16,8] (transB), w2 [16,4]
  Graph graph;
};

Mlp MakeMlp() {
  Rng rng(1);
  Mlp m;
  m.w1 = rng.Vector(16 * 8, 0.5f);
  m.b1 = rng.Vector(16, 0.1f);
  m.w2 = rng.Vector(16 * 4, 0.5f);
  m.b2 = rng.Vector(4, 0.1f);
  GraphBuilder b;
  b.Input("x", {-1, 8});
  b.Floats("w1", {16, 8}, m.w1);
  b.Floats("b1", {16}, m.b1);
  b.Floats("w2", {16, 4}, m.w2);
  b.Floats("b2", {1, 4}, m.b2);
  b.Op("Gemm", {"x", "w1", "b1"}, {"h"}, {AttrInt("transB", 1)});
  b.Op("Relu", {"h"}, {"hr"});
  b.Op("Gemm", {"hr", "w2", "b2"}, {"o"});
  b.Op("Sigmoid", {"o"}, {"y"});
  b.Output("y");
  m.graph = b.graph;
  return m;
}

std::vector<float> MlpByHand(const Mlp& m, const std::vector<float>& x, size_t batch) {
  std::vector<float> y(batch * 4);
  for (size_t r = 0; r < batch; ++r) {
    float h[16];
    for (int j = 0; j < 16; ++j) {
      float acc = 0;
      for (int k = 0; k < 8; ++k) acc += x[r * 8 + k] * m.w1[j * 8 + k];
      h[j] = std::fmax(0.0f, acc + m.b1[j]);
    }
    for (int j = 0; j < 4; ++j) {
      float acc = 0;
      for (int k = 0; k < 16; ++k) acc += h[k] * m.w2[k * 4 + j];
      y[r * 4 + j] = 1.0f / (1.0f + std::exp(-(acc + m.b2[j])));
    }
  }
  return y;
}

TEST(MlpMatchesHandComputed) {
  const Mlp m = MakeMlp();
  Rng rng(2);
  const std::vector<float> x = rng.Vector(3 * 8);
  for (bool optimize : {false, true}) {
    std::vector<OwnedTensor> out;
    std::unique_ptr<Engine> engine;
    ASSERT_TRUE(LoadAndRun(m.graph, optimize, {FloatView(x, {3, 8})}, &out, &engine).ok());
    EXPECT_EQ(out[0].shape, (Shape{3, 4}));
    EXPECT_TRUE(MaxAbsDiff(AsFloats(out[0]), MlpByHand(m, x, 3)) < 1e-5f);
    const std::string plan = engine->Describe();
    EXPECT_EQ(Contains(plan, "FusedLinear[transB act=Relu]"), optimize);
    EXPECT_EQ(Contains(plan, "FusedLinear[act=Sigmoid]"), optimize);
  }
}

TEST(DynamicBatchOneSevenOne) {
  const Mlp m = MakeMlp();
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Load(m.graph, EngineOptions{}, &engine).ok());
  Rng rng(3);
  for (size_t batch : {1, 7, 1, 7}) {
    const std::vector<float> x = rng.Vector(batch * 8);
    std::vector<OwnedTensor> out;
    ASSERT_TRUE(engine->Run({FloatView(x, {static_cast<int64_t>(batch), 8})}, &out).ok());
    EXPECT_EQ(out[0].shape, (Shape{static_cast<int64_t>(batch), 4}));
    EXPECT_TRUE(MaxAbsDiff(AsFloats(out[0]), MlpByHand(m, x, batch)) < 1e-5f);
  }
  EXPECT_EQ(engine->outputs()[0].dims, (Shape{-1, 4}));
}

// A pre-LN encoder block over x [B, S=4, D=8] with 2 heads, as PyTorch exports it:
//   h = x + Wo(attention(LN(x)));  y = h + W2(Gelu(W1(LN(h))))
// LayerNorm and Gelu decomposed; Q/K/V/O and the MLP as MatMul + Add.
Graph MakeEncoderBlock() {
  constexpr int64_t S = 4, D = 8, H = 2, Dh = 4, F = 16;
  Rng rng(7);
  GraphBuilder b(18);  // ReduceMean takes axes as an input
  b.Input("x", {-1, S, D});
  b.Ints("axes", {-1});
  b.Scalar("two", 2.0f);
  b.Scalar("eps", 1e-5f);
  b.Scalar("one", 1.0f);
  b.Scalar("half", 0.5f);
  b.Scalar("sqrt2", std::sqrt(2.0f));
  b.Scalar("scale", std::sqrt(static_cast<float>(Dh)));
  auto layer_norm = [&](const std::string& in, const std::string& p) {
    b.Floats(p + "_g", {D}, rng.Vector(D, 1.0f));
    b.Floats(p + "_b", {D}, rng.Vector(D, 0.1f));
    b.Op("ReduceMean", {in, "axes"}, {p + "_mean"});
    b.Op("Sub", {in, p + "_mean"}, {p + "_d"});
    b.Op("Pow", {p + "_d", "two"}, {p + "_sq"});
    b.Op("ReduceMean", {p + "_sq", "axes"}, {p + "_var"});
    b.Op("Add", {p + "_var", "eps"}, {p + "_ve"});
    b.Op("Sqrt", {p + "_ve"}, {p + "_std"});
    b.Op("Div", {p + "_d", p + "_std"}, {p + "_n"});
    b.Op("Mul", {p + "_n", p + "_g"}, {p + "_m"});
    b.Op("Add", {p + "_m", p + "_b"}, {p + "_out"});
    return p + "_out";
  };
  auto linear = [&](const std::string& in, const std::string& p, int64_t k, int64_t n) {
    b.Floats(p + "_w", {k, n}, rng.Vector(k * n, 0.4f));
    b.Floats(p + "_bias", {n}, rng.Vector(n, 0.1f));
    b.Op("MatMul", {in, p + "_w"}, {p + "_mm"});
    b.Op("Add", {p + "_mm", p + "_bias"}, {p + "_out"});
    return p + "_out";
  };
  b.Ints("heads_shape", {0, 0, H, Dh});
  b.Ints("merge_shape", {0, 0, D});
  auto heads = [&](const std::string& in, const std::string& p, std::vector<int64_t> perm) {
    b.Op("Reshape", {in, "heads_shape"}, {p + "_r"});
    b.Op("Transpose", {p + "_r"}, {p + "_t"}, {AttrInts("perm", std::move(perm))});
    return p + "_t";
  };
  const std::string ln1 = layer_norm("x", "ln1");
  const std::string q = heads(linear(ln1, "q", D, D), "qh", {0, 2, 1, 3});
  const std::string k = heads(linear(ln1, "k", D, D), "kh", {0, 2, 3, 1});
  const std::string v = heads(linear(ln1, "v", D, D), "vh", {0, 2, 1, 3});
  b.Op("MatMul", {q, k}, {"scores"});
  b.Op("Div", {"scores", "scale"}, {"scaled"});
  b.Op("Softmax", {"scaled"}, {"probs"}, {AttrInt("axis", -1)});
  b.Op("MatMul", {"probs", v}, {"ctx"});
  b.Op("Transpose", {"ctx"}, {"ctx_t"}, {AttrInts("perm", {0, 2, 1, 3})});
  b.Op("Reshape", {"ctx_t", "merge_shape"}, {"ctx_m"});
  const std::string attn = linear("ctx_m", "o", D, D);
  b.Op("Add", {"x", attn}, {"h"});
  const std::string ln2 = layer_norm("h", "ln2");
  const std::string up = linear(ln2, "fc1", D, F);
  b.Op("Div", {up, "sqrt2"}, {"g_div"});
  b.Op("Erf", {"g_div"}, {"g_erf"});
  b.Op("Add", {"g_erf", "one"}, {"g_add"});
  b.Op("Mul", {up, "g_add"}, {"g_mul"});
  b.Op("Mul", {"g_mul", "half"}, {"gelu"});
  const std::string down = linear("gelu", "fc2", F, D);
  b.Op("Add", {"h", down}, {"y"});
  b.Output("y");
  return b.graph;
}

TEST(EncoderBlockOptimizedMatchesUnoptimized) {
  const Graph graph = MakeEncoderBlock();
  Rng rng(11);
  for (int64_t batch : {1, 3}) {
    const std::vector<float> x = rng.Vector(static_cast<size_t>(batch) * 4 * 8);
    std::vector<OwnedTensor> plain, fused;
    std::unique_ptr<Engine> engine;
    Status st = LoadAndRun(graph, false, {FloatView(x, {batch, 4, 8})}, &plain);
    if (!st.ok()) std::printf("  %s\n", st.ToString().c_str());
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(LoadAndRun(graph, true, {FloatView(x, {batch, 4, 8})}, &fused, &engine).ok());
    EXPECT_EQ(fused[0].shape, (Shape{batch, 4, 8}));
    const float diff = MaxAbsDiff(AsFloats(plain[0]), AsFloats(fused[0]));
    EXPECT_TRUE(diff < 1e-4f);
    if (diff >= 1e-4f) std::printf("  max abs diff %g\n", diff);
    const std::string plan = engine->Describe();
    EXPECT_TRUE(Contains(plan, "LayerNormalization"));
    EXPECT_TRUE(Contains(plan, "FusedLinear[act=Gelu]"));
    EXPECT_TRUE(!Contains(plan, "Erf") && !Contains(plan, "ReduceMean") && !Contains(plan, "Pow"));
  }
}

TEST(ConcurrentRunsAgree) {
  const Graph graph = MakeEncoderBlock();
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Load(graph, EngineOptions{}, &engine).ok());
  Rng rng(5);
  const std::vector<float> x = rng.Vector(2 * 4 * 8);
  std::vector<OwnedTensor> expected;
  ASSERT_TRUE(engine->Run({FloatView(x, {2, 4, 8})}, &expected).ok());
  std::vector<bool> same(3, false);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      bool all = true;
      for (int i = 0; i < 50; ++i) {
        std::vector<OwnedTensor> out;
        // Threads alternate batch sizes so plans and arenas of both shapes are in flight.
        const int64_t batch = (i + t) % 2 == 0 ? 2 : 1;
        all = all && engine->Run({FloatPrefix(x, {batch, 4, 8})}, &out).ok();
        const size_t n = static_cast<size_t>(batch) * 32 * sizeof(float);
        all = all && out.size() == 1 && out[0].bytes.size() == n &&
              std::memcmp(out[0].bytes.data(), expected[0].bytes.data(), n) == 0;
      }
      same[t] = all;
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_TRUE(same[0] && same[1] && same[2]);
}

}  // namespace
}  // namespace sluice::test

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
