// Row chunking (engine-chunk.h): a model whose rows are independent runs a large batch as
// chunks (side by side on 2 threads) and returns exactly what it returns run whole; a batch its
// threads split between them returns what one thread computes; a model with any step that mixes
// rows (or whose inputs do not carry the batch as a dynamic axis 0) never runs in chunks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine-test-util.h"
#include "test-harness.h"

namespace sluice::test {
namespace {

constexpr int64_t kSeq = 6, kHidden = 8, kHeads = 2;

// A small attention block: x [-1, 6, 8] -> Q/K projections, heads split by Reshape + Transpose,
// softmax(Q K^T / c) V, heads merged, LayerNorm, Relu.
Graph AttentionGraph() {
  Rng rng(3);
  GraphBuilder b;
  b.Input("x", {-1, kSeq, kHidden});
  b.Floats("wq", {kHidden, kHidden}, rng.Vector(kHidden * kHidden, 0.5f));
  b.Floats("wk", {kHidden, kHidden}, rng.Vector(kHidden * kHidden, 0.5f));
  b.Floats("bq", {kHidden}, rng.Vector(kHidden));
  b.Ints("heads", {0, 0, kHeads, kHidden / kHeads});
  b.Ints("merge", {0, 0, kHidden});
  b.Scalar("c", 2.0f);
  b.Floats("gamma", {kHidden}, rng.Vector(kHidden));
  b.Floats("beta", {kHidden}, rng.Vector(kHidden));
  b.Op("MatMul", {"x", "wq"}, {"q0"});
  b.Op("Add", {"q0", "bq"}, {"q1"});
  b.Op("Reshape", {"q1", "heads"}, {"q2"});
  b.Op("Transpose", {"q2"}, {"q"}, {AttrInts("perm", {0, 2, 1, 3})});
  b.Op("MatMul", {"x", "wk"}, {"k0"});
  b.Op("Reshape", {"k0", "heads"}, {"k1"});
  b.Op("Transpose", {"k1"}, {"kt"}, {AttrInts("perm", {0, 2, 3, 1})});
  b.Op("Reshape", {"x", "heads"}, {"v1"});
  b.Op("Transpose", {"v1"}, {"v"}, {AttrInts("perm", {0, 2, 1, 3})});
  b.Op("MatMul", {"q", "kt"}, {"s0"});
  b.Op("Div", {"s0", "c"}, {"s1"});
  b.Op("Softmax", {"s1"}, {"p"}, {AttrInt("axis", -1)});
  b.Op("MatMul", {"p", "v"}, {"ctx"});
  b.Op("Transpose", {"ctx"}, {"ctx1"}, {AttrInts("perm", {0, 2, 1, 3})});
  b.Op("Reshape", {"ctx1", "merge"}, {"ctx2"});
  b.Op("LayerNormalization", {"ctx2", "gamma", "beta"}, {"ln"}, {AttrInt("axis", -1)});
  b.Op("Relu", {"ln"}, {"y"});
  b.Output("y");
  return b.graph;
}

std::unique_ptr<Engine> LoadWith(const Graph& graph, size_t row_chunk_bytes, size_t threads = 2) {
  EngineOptions options;
  options.threads = threads;
  options.row_chunk_bytes = row_chunk_bytes;
  std::unique_ptr<Engine> engine;
  const Status s = Engine::Load(graph, options, &engine);
  if (!s.ok()) std::fprintf(stderr, "  load: %s\n", s.ToString().c_str());
  return engine;
}

std::vector<float> Run(const Engine& engine, const std::vector<float>& x, Shape shape) {
  std::vector<OwnedTensor> out;
  const Status s = engine.Run({FloatView(x, shape)}, &out);
  if (!s.ok() || out.size() != 1) {
    std::fprintf(stderr, "  run: %s\n", s.ToString().c_str());
    return {};
  }
  shape.back() = out[0].shape.back();
  EXPECT_TRUE(out[0].shape == shape);
  return AsFloats(out[0]);
}

TEST(IndependentRowsRunInChunksWithIdenticalResults) {
  const Graph graph = AttentionGraph();
  const std::unique_ptr<Engine> whole = LoadWith(graph, 0);
  const std::unique_ptr<Engine> tiny = LoadWith(graph, 1);  // one row per chunk
  const std::unique_ptr<Engine> some = LoadWith(graph, 20000);
  ASSERT_TRUE(whole != nullptr && tiny != nullptr && some != nullptr);
  EXPECT_EQ(whole->row_chunk(), size_t{0});
  EXPECT_EQ(tiny->row_chunk(), size_t{1});
  EXPECT_TRUE(some->row_chunk() > 1 && some->row_chunk() < 40);
  // Batches below, at and above the chunk size; uneven splits (23 rows -> balanced chunks).
  for (int64_t rows : {1, 2, 7, 23, 64}) {
    const std::vector<float> x = Rng(static_cast<uint64_t>(rows)).Vector(rows * kSeq * kHidden);
    const Shape shape{rows, kSeq, kHidden};
    const std::vector<float> want = Run(*whole, x, shape);
    ASSERT_TRUE(!want.empty());
    EXPECT_EQ(MaxAbsDiff(Run(*tiny, x, shape), want), 0.0f);
    EXPECT_EQ(MaxAbsDiff(Run(*some, x, shape), want), 0.0f);
  }
}

// x [-1, 256] -> 1024 -> Relu -> 1024 -> Relu -> 16: 5 MiB of weights, so that 2 threads split
// a batch only from 32 rows (16 each); below that its kernels split instead.
Graph WideMlpGraph() {
  Rng rng(5);
  GraphBuilder b;
  b.Input("x", {-1, 256});
  b.Floats("w0", {256, 1024}, rng.Vector(256 * 1024, 0.1f));
  b.Floats("w1", {1024, 1024}, rng.Vector(1024 * 1024, 0.05f));
  b.Floats("w2", {1024, 16}, rng.Vector(1024 * 16, 0.05f));
  b.Op("MatMul", {"x", "w0"}, {"h0"});
  b.Op("Relu", {"h0"}, {"r0"});
  b.Op("MatMul", {"r0", "w1"}, {"h1"});
  b.Op("Relu", {"h1"}, {"r1"});
  b.Op("MatMul", {"r1", "w2"}, {"y"});
  b.Output("y");
  return b.graph;
}

// With the default chunk budget, 2 threads split a batch of independent rows between them (each
// runs whole rows) or split every kernel, by batch and weight size; either way the result is
// what one thread computes, to FP32 rounding (a chunk's row count may pick another blocking).
TEST(BatchesTheThreadsSplitMatchOneThread) {
  const EngineOptions defaults;
  for (const Graph& graph : {AttentionGraph(), WideMlpGraph()}) {
    const std::unique_ptr<Engine> one = LoadWith(graph, defaults.row_chunk_bytes, 1);
    const std::unique_ptr<Engine> two = LoadWith(graph, defaults.row_chunk_bytes, 2);
    ASSERT_TRUE(one != nullptr && two != nullptr);
    const int64_t width = graph.inputs[0].dims.size() == 3 ? kSeq * kHidden : 256;
    for (int64_t rows : {1, 3, 4, 5, 8, 23, 31, 32, 33, 64}) {
      const std::vector<float> x = Rng(static_cast<uint64_t>(100 + rows)).Vector(rows * width);
      Shape shape = graph.inputs[0].dims;
      shape[0] = rows;
      const std::vector<float> want = Run(*one, x, shape);
      ASSERT_TRUE(!want.empty());
      float scale = 0.0f;
      for (float v : want) scale = std::max(scale, std::fabs(v));
      EXPECT_TRUE(MaxAbsDiff(Run(*two, x, shape), want) <= 1e-5f * scale);
    }
  }
}

// One-op graphs over x (and a second batched input where named) that must never be chunked.
Graph OneOp(const std::string& op, std::vector<Attribute> attrs, Shape x_dims = {-1, 64},
            bool second_input = false) {
  GraphBuilder b;
  b.Input("x", x_dims);
  std::vector<std::string> inputs{"x"};
  if (second_input) {
    b.Input("i", {-1}, DType::kInt64);
    inputs.push_back("i");
  }
  b.Op(op, inputs, {"y"}, std::move(attrs));
  b.Output("y");
  return b.graph;
}

TEST(ModelsThatMixRowsAlwaysRunWhole) {
  struct Case {
    const char* why;
    Graph graph;
  };
  const std::vector<Case> cases = {
      {"softmax over the batch axis", OneOp("Softmax", {AttrInt("axis", 0)})},
      {"mean over the batch", OneOp("ReduceMean", {AttrInts("axes", {0}), AttrInt("keepdims", 1)})},
      {"mean over everything", OneOp("ReduceMean", {})},
      {"transpose moving the batch", OneOp("Transpose", {AttrInts("perm", {1, 0})})},
      {"argmax over the batch", OneOp("ArgMax", {AttrInt("axis", 0), AttrInt("keepdims", 1)})},
      {"gather of batch rows by batched indices", OneOp("Gather", {AttrInt("axis", 0)}, {-1, 64}, true)},
      {"static batch axis", OneOp("Relu", {}, {3, 64})},
      {"a second dynamic dim", OneOp("Relu", {}, {-1, -1})},
      {"per-tensor dynamic quantization",
       [] {
         GraphBuilder b;
         b.Input("x", {-1, 64});
         b.Op("DynamicQuantizeLinear", {"x"}, {"q", "s", "z"});
         b.Op("DequantizeLinear", {"q", "s", "z"}, {"y"});
         b.Output("y");
         return b.graph;
       }()},
  };
  for (const Case& c : cases) {
    const std::unique_ptr<Engine> engine = LoadWith(c.graph, 1);
    if (engine == nullptr || engine->row_chunk() != 0) {
      Fail(__FILE__, __LINE__, std::string("chunked or failed to load: ") + c.why);
    }
  }
  // The same shapes with a row-wise op do chunk (so the cases above fail for the op alone).
  const std::unique_ptr<Engine> softmax = LoadWith(OneOp("Softmax", {AttrInt("axis", 1)}), 1);
  ASSERT_TRUE(softmax != nullptr);
  EXPECT_EQ(softmax->row_chunk(), size_t{1});
}

}  // namespace
}  // namespace sluice::test

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
