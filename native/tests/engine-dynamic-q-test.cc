// The dynamic INT8 fusion (engine-fuse-dynamic-q.cc) on graphs written the way
// onnxruntime.quantization.quantize_dynamic writes them: it fires (one DynamicQuantizedLinear
// per MatMulInteger in the plan), computes what optimize=false computes up to float rounding,
// leaves patterns with outside readers alone, and in per-row mode is batch invariant (a row's
// result does not depend on the other rows) and close to FP32.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine-test-util.h"
#include "test-harness.h"

namespace sluice::test {
namespace {

// One quantize_dynamic layer's shape and options.
struct Layer {
  int64_t k = 37, n = 29;
  bool bias = true;
  bool per_column = true;  // w_scale with N values (else one)
  bool symmetric = true;   // int8 weights with zero points 0 (else some nonzero: reference path)
  bool uint8_weights = false;
  const char* act = nullptr;  // "Relu", "Tanh", ...; null = none
  bool swap = false;          // the Muls' operands in the other order
};

struct LayerWeights {
  std::vector<int8_t> w;  // [K,N] (uint8 weights: these bytes + 128)
  std::vector<float> w_scale;
  std::vector<float> bias;
};

// Adds layer `i` reading the DynamicQuantizeLinear outputs xq/xs/xz to `b`; its output is
// "y<i>". Returns the weights, for the FP32 comparison.
LayerWeights AddLayer(GraphBuilder* b, const Layer& l, int i, Rng* rng) {
  const std::string s = std::to_string(i);
  LayerWeights lw;
  lw.w.resize(static_cast<size_t>(l.k * l.n));
  for (int8_t& v : lw.w) v = static_cast<int8_t>(std::lround(rng->Next(127.0f)));
  lw.w_scale = l.per_column ? rng->Vector(static_cast<size_t>(l.n), 0.01f)
                            : std::vector<float>{0.004f};
  for (float& v : lw.w_scale) v = std::fabs(v) + 0.001f;
  if (l.uint8_weights) {
    std::vector<uint8_t> wu(lw.w.size());
    for (size_t j = 0; j < wu.size(); ++j) wu[j] = static_cast<uint8_t>(lw.w[j] + 128);
    b->Typed("w" + s, DType::kUint8, {l.k, l.n}, wu);
    b->Typed("wz" + s, DType::kUint8, {}, std::vector<uint8_t>{128});
  } else {
    b->Typed("w" + s, DType::kInt8, {l.k, l.n}, lw.w);
    if (!l.symmetric) {
      std::vector<int8_t> zp(static_cast<size_t>(l.n), 0);
      zp[1] = 3;
      zp[2] = -5;
      b->Typed("wz" + s, DType::kInt8, {l.n}, zp);
    } else {
      b->Typed("wz" + s, DType::kInt8, {}, std::vector<int8_t>{0});
    }
  }
  b->Floats("ws" + s, l.per_column ? Shape{l.n} : Shape{}, lw.w_scale);
  b->Op("MatMulInteger", {"xq", "w" + s, "xz", "wz" + s}, {"yi" + s});
  b->Op("Cast", {"yi" + s}, {"yf" + s}, {AttrInt("to", 1)});
  if (l.swap) {
    b->Op("Mul", {"ws" + s, "xs"}, {"s" + s});
    b->Op("Mul", {"s" + s, "yf" + s}, {"m" + s});
  } else {
    b->Op("Mul", {"xs", "ws" + s}, {"s" + s});
    b->Op("Mul", {"yf" + s, "s" + s}, {"m" + s});
  }
  std::string out = "m" + s;
  if (l.bias) {
    lw.bias = rng->Vector(static_cast<size_t>(l.n));
    b->Floats("b" + s, {l.n}, lw.bias);
    b->Op("Add", {out, "b" + s}, {"a" + s});
    out = "a" + s;
  }
  if (l.act != nullptr) {
    b->Op(l.act, {out}, {"act" + s});
    out = "act" + s;
  }
  b->Op("Identity", {out}, {"y" + s});  // a stable output name whatever the tail
  b->Output("y" + s);
  return lw;
}

// x [-1, K] -> DynamicQuantizeLinear -> `layers` readers of it.
Graph DynamicGraph(const std::vector<Layer>& layers, std::vector<LayerWeights>* weights = nullptr,
                   uint64_t seed = 1) {
  Rng rng(seed);
  GraphBuilder b;
  b.Input("x", {-1, layers[0].k});
  b.Op("DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerWeights lw = AddLayer(&b, layers[i], static_cast<int>(i), &rng);
    if (weights != nullptr) weights->push_back(std::move(lw));
  }
  return b.graph;
}

Status Load(const Graph& graph, bool optimize, DynamicQuantization mode,
            std::unique_ptr<Engine>* engine, size_t row_chunk_bytes = EngineOptions().row_chunk_bytes) {
  EngineOptions options;
  options.optimize = optimize;
  options.threads = 2;
  options.dynamic_quantization = mode;
  options.row_chunk_bytes = row_chunk_bytes;
  return Engine::Load(graph, options, engine);
}

// Every output of `graph` on x [m, K], or empty on error (printed).
std::vector<std::vector<float>> Outputs(const Engine& engine, const std::vector<float>& x,
                                       int64_t m, int64_t k) {
  std::vector<OwnedTensor> out;
  Status s = engine.Run({FloatPrefix(x, {m, k})}, &out);
  if (!s.ok()) {
    std::fprintf(stderr, "  run: %s\n", s.ToString().c_str());
    return {};
  }
  std::vector<std::vector<float>> result;
  for (const OwnedTensor& t : out) result.push_back(AsFloats(t));
  return result;
}

// Activations whose rows differ in magnitude (0.1 to ~10, so per-row and per-tensor scales
// differ), with both signs.
std::vector<float> Activations(int64_t m, int64_t k, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (int64_t r = 0; r < m; ++r) {
    const float row_scale = 0.1f * std::pow(3.0f, static_cast<float>(r % 5)) *
                            (1.0f + 0.2f * std::fabs(rng.Next(1.0f)));
    for (int64_t i = 0; i < k; ++i) x[static_cast<size_t>(r * k + i)] = rng.Next(row_scale);
  }
  return x;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Fused (optimized, per tensor) and plain agree on every output for M = 1, 3, 17; returns the
// optimized plan.
std::string ExpectFusedMatchesPlain(const Graph& graph, int64_t k, float tol = 1e-5f) {
  std::unique_ptr<Engine> plain, fused;
  const Status plain_load = Load(graph, false, DynamicQuantization::kPerTensor, &plain);
  const Status fused_load = Load(graph, true, DynamicQuantization::kPerTensor, &fused);
  if (!plain_load.ok() || !fused_load.ok()) {
    Fail(__FILE__, __LINE__, "load: " + plain_load.ToString() + " / " + fused_load.ToString());
    return "";
  }
  for (int64_t m : {1, 3, 17}) {
    const std::vector<float> x = Activations(m, k, static_cast<uint64_t>(m));
    const auto a = Outputs(*plain, x, m, k);
    const auto b = Outputs(*fused, x, m, k);
    EXPECT_TRUE(!a.empty() && a.size() == b.size());
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) EXPECT_TRUE(NearFloats(b[i], a[i], tol));
  }
  return fused->Describe();
}

TEST(QuantizeDynamicLayerBecomesOneFusedNode) {
  Layer plain_layer;
  plain_layer.bias = false;
  for (const Layer& l : {Layer{}, plain_layer}) {
    const std::string plan = ExpectFusedMatchesPlain(DynamicGraph({l}), l.k);
    EXPECT_EQ(Count(plan, "DynamicQuantizedLinear[per-tensor int8-gemm]"), size_t{1});
    EXPECT_TRUE(Contains(plan, "'xq+yi0+yf0+s0+m0"));  // named after what it replaced
    for (const char* gone : {"DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Add"})
      EXPECT_TRUE(!Contains(plan, gone));
  }
}

TEST(QuantizeDynamicVariants) {
  Layer swapped;
  swapped.swap = true;
  swapped.per_column = false;
  swapped.act = "Relu";
  std::string plan = ExpectFusedMatchesPlain(DynamicGraph({swapped}), swapped.k);
  EXPECT_TRUE(Contains(plan, "DynamicQuantizedLinear[per-tensor int8-gemm act=Relu]"));
  EXPECT_TRUE(!Contains(plan, "Relu["));

  Layer tanh;  // an activation the int8 kernel cannot apply: int32 out, then the epilogue
  tanh.act = "Tanh";
  tanh.k = 64;
  tanh.n = 65;
  plan = ExpectFusedMatchesPlain(DynamicGraph({tanh}), tanh.k);
  EXPECT_TRUE(Contains(plan, "DynamicQuantizedLinear[per-tensor int8-gemm act=Tanh]"));

  Layer asymmetric;  // nonzero weight zero points and uint8 weights: the reference GEMM
  asymmetric.symmetric = false;
  plan = ExpectFusedMatchesPlain(DynamicGraph({asymmetric}), asymmetric.k);
  EXPECT_TRUE(Contains(plan, "DynamicQuantizedLinear[per-tensor reference]"));
  Layer u8;
  u8.uint8_weights = true;
  plan = ExpectFusedMatchesPlain(DynamicGraph({u8}), u8.k);
  EXPECT_TRUE(Contains(plan, "DynamicQuantizedLinear[per-tensor reference]"));
}

TEST(SharedDynamicQuantizeFeedsEveryLayer) {
  // The Q/K/V projections: three MatMulIntegers reading one DynamicQuantizeLinear.
  Layer q, k, v;
  k.bias = false;
  v.act = "Relu";
  v.swap = true;
  const std::string plan = ExpectFusedMatchesPlain(DynamicGraph({q, k, v}), q.k);
  EXPECT_EQ(Count(plan, "DynamicQuantizedLinear[per-tensor int8-gemm"), size_t{3});
  EXPECT_TRUE(!Contains(plan, "DynamicQuantizeLinear") && !Contains(plan, "MatMulInteger"));
}

TEST(DynamicPatternWithOutsideReadersIsLeftAlone) {
  Layer l;
  // yf0 is also a graph output: nothing of layer 0 fuses; layer 1 still does, and the shared
  // DynamicQuantizeLinear stays for layer 0.
  Graph g = DynamicGraph({l, l});
  g.outputs.push_back({"yf0", DType::kUndefined, {}});
  std::string plan = ExpectFusedMatchesPlain(g, l.k);
  EXPECT_EQ(Count(plan, "DynamicQuantizedLinear"), size_t{1});
  EXPECT_EQ(Count(plan, "MatMulInteger"), size_t{1});
  EXPECT_TRUE(Contains(plan, "DynamicQuantizeLinear"));

  // The combined scale s0 has a second reader.
  g = DynamicGraph({l});
  Node extra;
  extra.name = "extra";
  extra.op_type = "Identity";
  extra.inputs = {"s0"};
  extra.outputs = {"s_copy"};
  g.nodes.push_back(extra);
  g.outputs.push_back({"s_copy", DType::kUndefined, {}});
  plan = ExpectFusedMatchesPlain(g, l.k);
  EXPECT_TRUE(!Contains(plan, "DynamicQuantizedLinear") && Contains(plan, "MatMulInteger"));

  // MatMulInteger without the DynamicQuantizeLinear's zero point: not the pattern.
  g = DynamicGraph({l});
  for (Node& node : g.nodes) {
    if (node.op_type == "MatMulInteger") node.inputs[2] = "";
  }
  plan = ExpectFusedMatchesPlain(g, l.k);
  EXPECT_TRUE(!Contains(plan, "DynamicQuantizedLinear"));

  // A Cast to another type than float: not the pattern (the graph then casts back for the Mul).
  g = DynamicGraph({l});
  for (Node& node : g.nodes) {
    if (node.op_type == "Cast") node.attributes = {AttrInt("to", 11)};
  }
  Node back;
  back.name = "back";
  back.op_type = "Cast";
  back.inputs = {"yf0"};
  back.outputs = {"yf0_float"};
  back.attributes = {AttrInt("to", 1)};
  for (Node& node : g.nodes) {
    for (std::string& in : node.inputs) in = in == "yf0" ? "yf0_float" : in;
  }
  g.nodes.push_back(back);
  plan = ExpectFusedMatchesPlain(g, l.k);
  EXPECT_TRUE(!Contains(plan, "DynamicQuantizedLinear") && Contains(plan, "Cast[to=double]"));
}

TEST(FusedDynamicQuantizationRefusesNonFiniteInputLikeThePattern) {
  Layer l;
  const Graph g = DynamicGraph({l});
  for (bool optimize : {false, true}) {
    std::unique_ptr<Engine> engine;
    ASSERT_TRUE(Load(g, optimize, DynamicQuantization::kPerTensor, &engine).ok());
    std::vector<float> x = Activations(2, l.k, 3);
    x[5] = NAN;
    std::vector<OwnedTensor> out;
    const Status s = engine->Run({FloatView(x, {2, l.k})}, &out);
    EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(s.message(), "not finite"));
  }
}

// Per-row mode: each row of a batch gives exactly what that row alone gives per tensor (the
// batch-invariance property), which per-tensor mode does not; and per row is close to FP32.
TEST(PerRowDynamicQuantizationIsBatchInvariant) {
  Layer fast, relu, tanh, reference;
  relu.act = "Relu";
  tanh.act = "Tanh";
  reference.symmetric = false;
  for (const Layer& l : {fast, relu, tanh, reference}) {
    const Graph g = DynamicGraph({l});
    std::unique_ptr<Engine> per_row, per_tensor;
    ASSERT_TRUE(Load(g, true, DynamicQuantization::kPerRow, &per_row).ok());
    ASSERT_TRUE(Load(g, true, DynamicQuantization::kPerTensor, &per_tensor).ok());
    EXPECT_TRUE(Contains(per_row->Describe(), "DynamicQuantizedLinear[per-row"));
    const int64_t m = 17;
    const std::vector<float> x = Activations(m, l.k, 7);
    const auto batch_rows = Outputs(*per_row, x, m, l.k);
    const auto batch_tensor = Outputs(*per_tensor, x, m, l.k);
    ASSERT_TRUE(batch_rows.size() == 1 && batch_tensor.size() == 1);
    float row_vs_alone = 0, tensor_vs_alone = 0;
    for (int64_t r = 0; r < m; ++r) {
      const std::vector<float> row(x.begin() + r * l.k, x.begin() + (r + 1) * l.k);
      const auto alone = Outputs(*per_tensor, row, 1, l.k);
      ASSERT_TRUE(alone.size() == 1);
      const auto slice = [&](const std::vector<float>& y) {
        return std::vector<float>(y.begin() + r * l.n, y.begin() + (r + 1) * l.n);
      };
      row_vs_alone = std::fmax(row_vs_alone, MaxAbsDiff(slice(batch_rows[0]), alone[0]));
      tensor_vs_alone = std::fmax(tensor_vs_alone, MaxAbsDiff(slice(batch_tensor[0]), alone[0]));
    }
    EXPECT_EQ(row_vs_alone, 0.0f);
    EXPECT_TRUE(tensor_vs_alone > 1e-3f);  // per tensor, the batch's range changes each row
  }
}

// Per tensor, the scale spans the batch, so the fused layer must never run in row chunks; per
// row it may, with the same results as run whole.
TEST(OnlyPerRowDynamicQuantizationRunsInRowChunks) {
  Layer layer;
  layer.act = "Relu";
  const Graph g = DynamicGraph({layer});
  std::unique_ptr<Engine> per_tensor, per_row, per_row_whole;
  EXPECT_TRUE(Load(g, true, DynamicQuantization::kPerTensor, &per_tensor, 1).ok());
  EXPECT_TRUE(Load(g, true, DynamicQuantization::kPerRow, &per_row, 1).ok());
  EXPECT_TRUE(Load(g, true, DynamicQuantization::kPerRow, &per_row_whole, 0).ok());
  ASSERT_TRUE(per_tensor != nullptr && per_row != nullptr && per_row_whole != nullptr);
  EXPECT_EQ(per_tensor->row_chunk(), size_t{0});
  EXPECT_EQ(per_row->row_chunk(), size_t{1});
  const int64_t m = 17;
  const std::vector<float> x = Activations(m, layer.k, 5);
  const auto chunked = Outputs(*per_row, x, m, layer.k);
  const auto whole = Outputs(*per_row_whole, x, m, layer.k);
  ASSERT_TRUE(chunked.size() == 1 && whole.size() == 1);
  EXPECT_EQ(MaxAbsDiff(chunked[0], whole[0]), 0.0f);
}

TEST(PerRowDynamicQuantizationIsCloseToFp32) {
  Layer l;
  l.k = 67;
  l.n = 33;
  std::vector<LayerWeights> weights;
  const Graph g = DynamicGraph({l}, &weights);
  const LayerWeights& lw = weights[0];
  std::unique_ptr<Engine> per_row, per_tensor;
  ASSERT_TRUE(Load(g, true, DynamicQuantization::kPerRow, &per_row).ok());
  ASSERT_TRUE(Load(g, true, DynamicQuantization::kPerTensor, &per_tensor).ok());
  const int64_t m = 9;
  const std::vector<float> x = Activations(m, l.k, 11);
  const auto rows = Outputs(*per_row, x, m, l.k);
  const auto tensor = Outputs(*per_tensor, x, m, l.k);
  ASSERT_TRUE(rows.size() == 1 && tensor.size() == 1);
  double row_err = 0, tensor_err = 0;
  for (int64_t r = 0; r < m; ++r) {
    // |x - dequant(quant(x))| <= one step (range / 255) per element: half a step of rounding,
    // and at the range's ends up to half a step more from the rounded zero point.
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < l.k; ++i) {
      lo = std::fmin(lo, x[r * l.k + i]);
      hi = std::fmax(hi, x[r * l.k + i]);
    }
    const double step = (hi - lo) / 255.0;
    for (int64_t c = 0; c < l.n; ++c) {
      double want = lw.bias[c], bound = 1e-4;
      for (int64_t i = 0; i < l.k; ++i) {
        const double w = lw.w[i * l.n + c] * static_cast<double>(lw.w_scale[c]);
        want += x[r * l.k + i] * w;
        bound += step * std::fabs(w);
      }
      const double got = rows[0][r * l.n + c];
      EXPECT_TRUE(std::fabs(got - want) <= bound);
      row_err += std::fabs(got - want);
      tensor_err += std::fabs(tensor[0][r * l.n + c] - want);
    }
  }
  // Rows of very different magnitudes: one range for all of them costs the small rows precision.
  EXPECT_TRUE(row_err < tensor_err * 0.6);
}

}  // namespace
}  // namespace sluice::test

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
