// Each fusion pass on a small graph: it fires (the plan shows the fused op), and the fused graph
// computes what optimize=false computes, up to float rounding. Patterns whose intermediates have
// outside readers must not fuse.
#include <cmath>

#include "engine-test-util.h"
#include "test-harness.h"

namespace sluice::test {
namespace {

// Runs `graph` optimized and not on x [shape]; returns the max abs difference of output 0 (or
// INFINITY on error) and the optimized plan.
float FusedVsPlain(const Graph& graph, const std::vector<float>& x, const Shape& shape,
                   std::string* plan) {
  std::vector<OwnedTensor> plain, fused;
  std::unique_ptr<Engine> engine;
  Status a = LoadAndRun(graph, false, {FloatView(x, shape)}, &plain);
  Status b = LoadAndRun(graph, true, {FloatView(x, shape)}, &fused, &engine);
  if (!a.ok() || !b.ok()) {
    std::printf("  %s / %s\n", a.ToString().c_str(), b.ToString().c_str());
    return INFINITY;
  }
  *plan = engine->Describe();
  return MaxAbsDiff(AsFloats(plain[0]), AsFloats(fused[0]));
}

TEST(MatMulAddReluBecomesFusedLinear) {
  Rng rng(1);
  GraphBuilder b;
  b.Input("x", {-1, 3, 6});  // 3-D activations: rows are flattened
  b.Floats("w", {6, 5}, rng.Vector(30));
  b.Floats("bias", {5}, rng.Vector(5));
  b.Op("MatMul", {"x", "w"}, {"mm"});
  b.Op("Add", {"bias", "mm"}, {"sum"});  // bias first: either operand order
  b.Op("LeakyRelu", {"sum"}, {"y"}, {AttrFloat("alpha", 0.2f)});
  b.Output("y");
  std::string plan;
  // The fused layer runs on the packed FP32 GEMM, the plain MatMul on the reference.
  EXPECT_TRUE(FusedVsPlain(b.graph, rng.Vector(36), {2, 3, 6}, &plan) < 1e-5f);
  EXPECT_TRUE(Contains(plan, "FusedLinear[act=LeakyRelu] 'mm+sum+y'"));
  EXPECT_TRUE(Contains(plan, "y:float[?,3,5]"));
}

TEST(GemmWithAlphaBetaBecomesFusedLinear) {
  Rng rng(2);
  GraphBuilder b;
  b.Input("x", {-1, 4});
  b.Floats("w", {3, 4}, rng.Vector(12));
  b.Floats("c", {1, 3}, rng.Vector(3));
  b.Op("Gemm", {"x", "w", "c"}, {"g"},
       {AttrInt("transB", 1), AttrFloat("alpha", 0.5f), AttrFloat("beta", 2.0f)});
  b.Op("Tanh", {"g"}, {"y"});
  b.Output("y");
  std::string plan;
  EXPECT_TRUE(FusedVsPlain(b.graph, rng.Vector(8), {2, 4}, &plan) < 1e-6f);
  EXPECT_TRUE(Contains(plan, "FusedLinear[transB alpha=0.500000 beta=2.000000 act=Tanh]"));
}

TEST(SharedIntermediateIsNotFused) {
  Rng rng(3);
  GraphBuilder b;
  b.Input("x", {2, 4});
  b.Floats("w", {4, 4}, rng.Vector(16));
  b.Floats("bias", {4}, rng.Vector(4));
  b.Op("MatMul", {"x", "w"}, {"mm"});
  b.Op("Add", {"mm", "bias"}, {"sum"});
  b.Op("Relu", {"sum"}, {"r"});
  b.Op("Add", {"r", "sum"}, {"y"});  // `sum` has a second reader: the Relu stays separate
  b.Output("y");
  b.Output("mm");  // and `mm` is a graph output: the Add stays separate too
  std::string plan;
  EXPECT_TRUE(FusedVsPlain(b.graph, rng.Vector(8), {2, 4}, &plan) < 1e-5f);
  EXPECT_TRUE(Contains(plan, "FusedLinear 'mm'"));
  EXPECT_TRUE(Contains(plan, "Relu"));
}

// x * 0.5 * (1 + erf(x / sqrt2)) in the three associations exporters emit.
Graph GeluGraph(int variant) {
  GraphBuilder b;
  b.Input("x", {-1, 8});
  b.Scalar("half", 0.5f);
  b.Scalar("one", 1.0f);
  b.Scalar("inv_sqrt2", 0.70710678f);
  b.Op("Mul", {"inv_sqrt2", "x"}, {"a"});
  b.Op("Erf", {"a"}, {"e"});
  b.Op("Add", {"one", "e"}, {"p"});
  if (variant == 0) {
    b.Op("Mul", {"x", "p"}, {"xp"});
    b.Op("Mul", {"xp", "half"}, {"y"});
  } else if (variant == 1) {
    b.Op("Mul", {"x", "half"}, {"hx"});
    b.Op("Mul", {"hx", "p"}, {"y"});
  } else {
    b.Op("Mul", {"p", "half"}, {"hp"});
    b.Op("Mul", {"x", "hp"}, {"y"});
  }
  b.Output("y");
  return b.graph;
}

TEST(DecomposedGeluBecomesGelu) {
  Rng rng(4);
  const std::vector<float> x = rng.Vector(24, 3.0f);
  for (int variant = 0; variant < 3; ++variant) {
    std::string plan;
    EXPECT_TRUE(FusedVsPlain(GeluGraph(variant), x, {3, 8}, &plan) < 1e-6f);
    EXPECT_TRUE(Contains(plan, "0: Gelu"));
    EXPECT_TRUE(!Contains(plan, "Erf") && !Contains(plan, "Mul"));
  }
}

// The PyTorch LayerNorm decomposition (axes attribute, so opset < 18), with or without the affine
// Mul/Add.
Graph LayerNormGraph(bool affine, int64_t opset = 17) {
  Rng rng(5);
  GraphBuilder b(opset);
  b.Input("x", {-1, 2, 6});
  b.Scalar("two", 2.0f);
  b.Scalar("eps", 1e-5f);
  b.Op("ReduceMean", {"x"}, {"mean"}, {AttrInts("axes", {-1})});
  b.Op("Sub", {"x", "mean"}, {"d"});
  b.Op("Pow", {"d", "two"}, {"sq"});
  b.Op("ReduceMean", {"sq"}, {"var"}, {AttrInts("axes", {2})});
  b.Op("Add", {"eps", "var"}, {"ve"});
  b.Op("Sqrt", {"ve"}, {"std"});
  b.Op("Div", {"d", "std"}, {affine ? "n" : "y"});
  if (affine) {
    b.Floats("gamma", {6}, rng.Vector(6));
    b.Floats("beta", {6}, rng.Vector(6));
    b.Op("Mul", {"gamma", "n"}, {"m"});
    b.Op("Add", {"m", "beta"}, {"y"});
  }
  b.Output("y");
  return b.graph;
}

TEST(DecomposedLayerNormBecomesLayerNormalization) {
  Rng rng(6);
  const std::vector<float> x = rng.Vector(36, 2.0f);
  for (bool affine : {true, false}) {
    std::string plan;
    EXPECT_TRUE(FusedVsPlain(LayerNormGraph(affine), x, {3, 2, 6}, &plan) < 1e-5f);
    EXPECT_TRUE(Contains(plan, "0: LayerNormalization[axis=2 epsilon=0.000010]"));
    // At opset 14, before LayerNormalization exists in ONNX, the fused op still runs.
    EXPECT_TRUE(FusedVsPlain(LayerNormGraph(affine, 14), x, {3, 2, 6}, &plan) < 1e-5f);
    EXPECT_TRUE(Contains(plan, "0: LayerNormalization[axis=2 epsilon=0.000010]"));
    EXPECT_TRUE(!Contains(plan, "ReduceMean"));
  }
}

// A post-norm residual: y = LayerNormalization(a + b). `tap` makes the sum a graph output too;
// `stats` asks the LayerNormalization for its Mean output. Either keeps the Add apart.
Graph AddLayerNormGraph(bool tap = false, bool stats = false, bool beta = true) {
  Rng rng(9);
  GraphBuilder b;
  b.Input("a", {-1, 3, 8});
  b.Input("b", {-1, 3, 8});
  b.Floats("gamma", {8}, rng.Vector(8));
  b.Floats("beta", {8}, rng.Vector(8));
  b.Op("Add", {"a", "b"}, {"sum"});
  std::vector<std::string> ln_in = {"sum", "gamma"};
  if (beta) ln_in.push_back("beta");
  std::vector<std::string> ln_out = {"y"};
  if (stats) ln_out.push_back("mean");
  b.Op("LayerNormalization", ln_in, ln_out, {AttrInt("axis", -1), AttrFloat("epsilon", 1e-3f)});
  b.Output("y");
  if (tap) b.Output("sum");
  if (stats) b.Output("mean");
  return b.graph;
}

// Fused and plain on (a [a_rows, 3, 8], b [b_rows, 3, 8]): max abs difference of y, or INFINITY.
float AddLayerNormFusedVsPlain(const Graph& graph, int64_t a_rows, int64_t b_rows, std::string* plan) {
  Rng rng(10);
  const std::vector<float> a = rng.Vector(static_cast<size_t>(a_rows) * 24, 3.0f);
  const std::vector<float> b = rng.Vector(static_cast<size_t>(b_rows) * 24, 3.0f);
  const std::vector<TensorView> in = {FloatView(a, {a_rows, 3, 8}), FloatView(b, {b_rows, 3, 8})};
  std::vector<OwnedTensor> plain, fused;
  std::unique_ptr<Engine> engine;
  Status sp = LoadAndRun(graph, false, in, &plain);
  Status sf = LoadAndRun(graph, true, in, &fused, &engine);
  if (!sp.ok() || !sf.ok()) {
    std::printf("  %s / %s\n", sp.ToString().c_str(), sf.ToString().c_str());
    return INFINITY;
  }
  *plan = engine->Describe();
  return MaxAbsDiff(AsFloats(plain[0]), AsFloats(fused[0]));
}

TEST(ResidualAddJoinsTheLayerNormalization) {
  std::string plan;
  // Same shapes: the sum is formed row by row in y; bit for bit an Add then a LayerNorm. 9 rows
  // on 2 threads also runs the batch in row chunks.
  for (int64_t rows : {2, 9}) {
    for (bool beta : {true, false}) {
      EXPECT_TRUE(AddLayerNormFusedVsPlain(AddLayerNormGraph(false, false, beta), rows, rows, &plan) == 0.0f);
      EXPECT_TRUE(Contains(plan, "AddLayerNormalization[axis=-1 epsilon=0.001000] 'sum+y' (a, b, gamma"));
      EXPECT_TRUE(!Contains(plan, ": Add ") && !Contains(plan, ": LayerNormalization"));
    }
  }
  // b's batch dim is 1 at run time (both are -1 when the graph loads): broadcast, then normalised.
  EXPECT_TRUE(AddLayerNormFusedVsPlain(AddLayerNormGraph(), 4, 1, &plan) == 0.0f);
  EXPECT_TRUE(Contains(plan, "AddLayerNormalization"));
  // The sum read outside the pattern, or statistics asked for: nothing fuses.
  for (bool tap : {true, false}) {
    EXPECT_TRUE(AddLayerNormFusedVsPlain(AddLayerNormGraph(tap, !tap), 3, 3, &plan) == 0.0f);
    EXPECT_TRUE(Contains(plan, ": Add 'sum'") && Contains(plan, ": LayerNormalization[axis=-1"));
    EXPECT_TRUE(!Contains(plan, "AddLayerNormalization"));
  }
}

// A QDQ linear layer as quantization tools write it: per-channel int8 weights, uint8 activation,
// bias, an activation. `symmetric` false gives the weights nonzero zero points (the reference
// integer path instead of the packed int8 GEMM); `act` Sigmoid is applied outside that GEMM.
Graph QdqLinearGraph(bool gemm, bool symmetric = true, const char* act = "Relu",
                     DType x_type = DType::kUint8) {
  Rng rng(7);
  GraphBuilder b;
  b.Input("x", {-1, 8});
  b.Scalar("x_scale", 0.02f);
  if (x_type == DType::kUint8) {
    b.Typed("x_zp", DType::kUint8, {}, std::vector<uint8_t>{128});
  } else {
    b.Typed("x_zp", DType::kInt8, {}, std::vector<int8_t>{-3});
  }
  std::vector<int8_t> w(8 * 4);
  for (int8_t& v : w) v = static_cast<int8_t>(rng.Next(127.0f));
  std::vector<float> w_scale = {0.01f, 0.02f, 0.015f, 0.03f};
  // MatMul weights are [K,N] with per-column axis 1; Gemm transB weights are [N,K], axis 0.
  b.Typed("w", DType::kInt8, gemm ? Shape{4, 8} : Shape{8, 4}, w);
  b.Floats("w_scale", {4}, w_scale);
  b.Typed("w_zp", DType::kInt8, {4},
          symmetric ? std::vector<int8_t>{0, 0, 0, 0} : std::vector<int8_t>{0, 3, -2, 0});
  b.Floats("bias", {4}, rng.Vector(4));
  b.Op("QuantizeLinear", {"x", "x_scale", "x_zp"}, {"xq"});
  b.Op("DequantizeLinear", {"xq", "x_scale", "x_zp"}, {"xd"});
  b.Op("DequantizeLinear", {"w", "w_scale", "w_zp"}, {"wd"}, {AttrInt("axis", gemm ? 0 : 1)});
  if (gemm) {
    b.Op("Gemm", {"xd", "wd", "bias"}, {"lin"}, {AttrInt("transB", 1)});
  } else {
    b.Op("MatMul", {"xd", "wd"}, {"mm"});
    b.Op("Add", {"mm", "bias"}, {"lin"});
  }
  b.Op(act, {"lin"}, {"y"});
  b.Output("y");
  return b.graph;
}

TEST(QdqLinearBecomesQuantizedLinear) {
  Rng rng(8);
  const std::vector<float> x = rng.Vector(5 * 8, 2.0f);
  for (bool gemm : {false, true}) {
    std::string plan;
    EXPECT_TRUE(FusedVsPlain(QdqLinearGraph(gemm), x, {5, 8}, &plan) < 1e-5f);
    EXPECT_TRUE(Contains(plan, "QuantizedLinear[x:uint8 int8-gemm"));
    EXPECT_TRUE(Contains(plan, "act=Relu"));
    EXPECT_TRUE(!Contains(plan, "QuantizeLinear") && !Contains(plan, "DequantizeLinear"));
  }
}

TEST(QdqLinearEpilogueAndWeightVariants) {
  Rng rng(9);
  const std::vector<float> x = rng.Vector(3 * 8, 2.0f);
  std::string plan;
  EXPECT_TRUE(FusedVsPlain(QdqLinearGraph(false, false, "Relu"), x, {3, 8}, &plan) < 1e-5f);
  EXPECT_TRUE(Contains(plan, "QuantizedLinear[x:uint8 reference act=Relu]"));
  EXPECT_TRUE(FusedVsPlain(QdqLinearGraph(true, true, "Sigmoid"), x, {3, 8}, &plan) < 1e-5f);
  EXPECT_TRUE(Contains(plan, "QuantizedLinear[x:uint8 int8-gemm transB act=Sigmoid]"));
  EXPECT_TRUE(FusedVsPlain(QdqLinearGraph(false, true, "Tanh", DType::kInt8), x, {3, 8}, &plan) <
              1e-5f);
  EXPECT_TRUE(Contains(plan, "QuantizedLinear[x:int8 int8-gemm act=Tanh]"));
}

// Runs `graph` optimized and not on x; returns the max abs difference over all float outputs
// (INFINITY on error or a count mismatch) and the optimized plan.
float AllOutputsFusedVsPlain(const Graph& graph, const std::vector<float>& x, const Shape& shape,
                             std::string* plan) {
  std::vector<OwnedTensor> plain, fused;
  std::unique_ptr<Engine> engine;
  Status a = LoadAndRun(graph, false, {FloatView(x, shape)}, &plain);
  Status b = LoadAndRun(graph, true, {FloatView(x, shape)}, &fused, &engine);
  if (!a.ok() || !b.ok() || plain.size() != fused.size()) return INFINITY;
  *plan = engine->Describe();
  float worst = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    if (plain[i].dtype != DType::kFloat) {
      if (plain[i].bytes != fused[i].bytes) return INFINITY;
      continue;
    }
    worst = std::fmax(worst, MaxAbsDiff(AsFloats(plain[i]), AsFloats(fused[i])));
  }
  return worst;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

// x -> [Q/DQ, MatMul W, + bias, act] x 3, each layer's activation quantized with its own scale
// and type (uint8, int8, uint8); `act2` picks layer 2's activation (Relu: fused in the INT8
// kernel's store; Sigmoid: not), `asymmetric2` gives layer 2 weight zero points (the reference
// GEMM), `tap` makes layer 1's output also a graph output.
Graph QdqChainGraph(const char* act2, bool asymmetric2, bool tap) {
  Rng rng(21);
  GraphBuilder b;
  b.Input("x", {-1, 8});
  const int64_t dims[] = {8, 6, 5, 4};
  std::string h = "x";
  for (int l = 0; l < 3; ++l) {
    const std::string s = std::to_string(l);
    const int64_t k = dims[l], n = dims[l + 1];
    b.Scalar("xs" + s, 0.03f + 0.01f * static_cast<float>(l));
    if (l == 1) {
      b.Typed("xz" + s, DType::kInt8, {}, std::vector<int8_t>{-5});
    } else {
      b.Typed("xz" + s, DType::kUint8, {}, std::vector<uint8_t>{static_cast<uint8_t>(l == 0 ? 128 : 3)});
    }
    std::vector<int8_t> w(static_cast<size_t>(k * n));
    for (int8_t& v : w) v = static_cast<int8_t>(rng.Next(127.0f));
    b.Typed("w" + s, DType::kInt8, {k, n}, w);
    std::vector<float> ws(static_cast<size_t>(n));
    for (float& v : ws) v = 0.005f + std::fabs(rng.Next(0.01f));
    b.Floats("ws" + s, {n}, ws);
    std::vector<int8_t> wz(static_cast<size_t>(n), 0);
    if (l == 1 && asymmetric2) wz[1] = 4;
    b.Typed("wz" + s, DType::kInt8, {n}, wz);
    b.Floats("b" + s, {n}, rng.Vector(static_cast<size_t>(n)));
    b.Op("QuantizeLinear", {h, "xs" + s, "xz" + s}, {"q" + s});
    b.Op("DequantizeLinear", {"q" + s, "xs" + s, "xz" + s}, {"d" + s});
    b.Op("DequantizeLinear", {"w" + s, "ws" + s, "wz" + s}, {"wd" + s}, {AttrInt("axis", 1)});
    b.Op("MatMul", {"d" + s, "wd" + s}, {"m" + s});
    b.Op("Add", {"m" + s, "b" + s}, {"a" + s});
    h = "a" + s;
    if (l < 2) {
      b.Op(l == 1 ? act2 : "Relu", {h}, {"h" + s});
      h = "h" + s;
    }
  }
  b.Op("Identity", {h}, {"y"});
  b.Output("y");
  if (tap) b.Output("h0");
  return b.graph;
}

// Chained int8 layers hand each other quantized bytes (the same rounding of the same floats,
// whether the INT8 kernel quantizes in its store or the layer does after it): the results match
// the unfused graph up to the float rounding every QDQ fusion has (a flipped quantization step
// would be ~1e-2 here).
TEST(QuantizedLayersChainOnQuantizedBytes) {
  Rng rng(22);
  const std::vector<float> x = rng.Vector(7 * 8, 3.0f);
  for (const char* act2 : {"Relu", "Sigmoid"}) {
    for (bool asymmetric2 : {false, true}) {
      std::string plan;
      EXPECT_TRUE(AllOutputsFusedVsPlain(QdqChainGraph(act2, asymmetric2, false), x, {7, 8}, &plan) < 1e-5f);
      EXPECT_EQ(Count(plan, "QuantizedLinear["), size_t{3});
      EXPECT_TRUE(Contains(plan, "act=Relu y:int8]") || Contains(plan, "y:int8 act=Relu]"));
      EXPECT_EQ(Count(plan, " y:int8"), size_t{1});
      EXPECT_EQ(Count(plan, " y:uint8"), size_t{1});
    }
  }
  // Layer 1's float output is also a graph output: it stays float, layer 2 still chains.
  std::string plan;
  EXPECT_TRUE(AllOutputsFusedVsPlain(QdqChainGraph("Relu", false, true), x, {7, 8}, &plan) < 1e-5f);
  EXPECT_EQ(Count(plan, " y:int8"), size_t{0});
  EXPECT_EQ(Count(plan, " y:uint8"), size_t{1});
}

// One DQ(Q(x)) read by three linear layers (the Q/K/V projections): each becomes its own
// QuantizedLinear on x. With `extra_reader`, a Relu also reads the DQ, whose value must stay.
Graph SharedQdqGraph(bool extra_reader) {
  Rng rng(10);
  GraphBuilder b;
  b.Input("x", {-1, 8});
  b.Scalar("x_scale", 0.03f);
  b.Typed("x_zp", DType::kUint8, {}, std::vector<uint8_t>{120});
  b.Op("QuantizeLinear", {"x", "x_scale", "x_zp"}, {"xq"});
  b.Op("DequantizeLinear", {"xq", "x_scale", "x_zp"}, {"xd"});
  for (int i = 0; i < 3; ++i) {
    const std::string s = std::to_string(i);
    std::vector<int8_t> w(8 * 6);
    for (int8_t& v : w) v = static_cast<int8_t>(rng.Next(127.0f));
    b.Typed("w" + s, DType::kInt8, {8, 6}, w);
    b.Floats("ws" + s, {6}, rng.Vector(6, 0.02f));
    b.Floats("bias" + s, {6}, rng.Vector(6));
    b.Op("DequantizeLinear", {"w" + s, "ws" + s}, {"wd" + s});
    if (i == 1) {
      b.Op("Gemm", {"xd", "wd" + s, "bias" + s}, {"y" + s});
    } else {
      b.Op("MatMul", {"xd", "wd" + s}, {"mm" + s});
      b.Op("Add", {"mm" + s, "bias" + s}, {"y" + s});
    }
    b.Output("y" + s);
  }
  if (extra_reader) {
    b.Op("Relu", {"xd"}, {"r"});
    b.Output("r");
  }
  return b.graph;
}

TEST(SharedQdqActivationFeedsEveryQuantizedLinear) {
  Rng rng(11);
  const std::vector<float> x = rng.Vector(5 * 8, 3.0f);
  for (bool extra_reader : {false, true}) {
    std::string plan;
    EXPECT_TRUE(AllOutputsFusedVsPlain(SharedQdqGraph(extra_reader), x, {5, 8}, &plan) < 1e-5f);
    EXPECT_EQ(Count(plan, "QuantizedLinear[x:uint8 int8-gemm]"), size_t{3});
    // The Relu's DQ(Q(x)) stays, as one FakeQuantize.
    EXPECT_EQ(Contains(plan, "FakeQuantize[uint8]"), extra_reader);
    EXPECT_TRUE(!Contains(plan, "QuantizeLinear["));
    EXPECT_TRUE(!Contains(plan, "MatMul") && !Contains(plan, "Gemm"));
  }
}

// Attention's activation x activation MatMul with Q/DQ on both inputs (one uint8, one int8 with
// no zero point input): each pair becomes a FakeQuantize, and the MatMul of two FakeQuantizes a
// QuantizedMatMul (exact int32 products: equal to the float path up to its rounding, ~1 ulp of
// the sums here). `a` is also a graph output, so its FakeQuantize stays for it; `xq` is one too,
// so its QuantizeLinear stays.
TEST(ActivationQdqPairsBecomeFakeQuantizeAndQuantizedMatMul) {
  GraphBuilder b;
  b.Input("x", {-1, 3, 4});
  b.Scalar("sa", 0.05f);
  b.Typed("za", DType::kUint8, {}, std::vector<uint8_t>{100});
  b.Scalar("sb", 0.125f);
  b.Op("QuantizeLinear", {"x", "sa", "za"}, {"xq"});
  b.Op("DequantizeLinear", {"xq", "sa", "za"}, {"a"});
  b.Op("Transpose", {"x"}, {"xt"}, {AttrInts("perm", {0, 2, 1})});
  b.Op("QuantizeLinear", {"xt", "sb"}, {"xtq"}, {AttrInt("output_dtype", 3)});
  b.Op("DequantizeLinear", {"xtq", "sb"}, {"bt"});
  b.Op("MatMul", {"a", "bt"}, {"y"});
  b.Output("y");
  b.Output("xq");
  b.Output("a");
  Rng rng(12);
  std::vector<float> x = rng.Vector(2 * 3 * 4, 8.0f);
  x[0] = 0.0625f;  // a tie for scale 0.125 (rounds to even)
  x[1] = 1000.0f;  // saturates
  std::string plan;
  EXPECT_TRUE(AllOutputsFusedVsPlain(b.graph, x, {2, 3, 4}, &plan) < 1e-4f);
  EXPECT_TRUE(Contains(plan, "FakeQuantize[uint8]") && !Contains(plan, "FakeQuantize[int8]"));
  EXPECT_TRUE(Contains(plan, "QuantizedMatMul[a:uint8 b:int8 alpha=1.000000]"));
  EXPECT_EQ(Count(plan, "QuantizeLinear["), size_t{1});  // the one feeding the output xq
  EXPECT_TRUE(!Contains(plan, "DequantizeLinear") && !Contains(plan, "MatMul '"));
}

// Q.K^T / c and c * (P.V): the scalar becomes the QuantizedMatMul's alpha; batched operands with
// broadcasts the strided batch cannot express ([2,1,..] x [1,2,..]) take the reference path.
// Zero point 0 (softmax probabilities) shifts B's to -128, the int8 range's end.
TEST(QuantizedMatMulAbsorbsTheAttentionScale) {
  for (const char* tail : {"Div", "Mul"}) {
    for (bool broadcast : {false, true}) {
      const uint8_t zero_point = std::string(tail) == "Mul" ? 0 : 128;
      GraphBuilder b;
      b.Input("x", {-1, broadcast ? 1 : 2, 3, 4});
      b.Input("w", {broadcast ? 1 : -1, 2, 4, 5});
      b.Scalar("s", 0.04f);
      b.Typed("z", DType::kUint8, {}, std::vector<uint8_t>{zero_point});
      b.Scalar("c", 8.0f);
      for (const char* v : {"x", "w"}) {
        const std::string n(v);
        b.Op("QuantizeLinear", {n, "s", "z"}, {n + "q"});
        b.Op("DequantizeLinear", {n + "q", "s", "z"}, {n + "d"});
      }
      b.Op("MatMul", {"xd", "wd"}, {"p"});
      if (std::string(tail) == "Div") b.Op("Div", {"p", "c"}, {"y"});
      else b.Op("Mul", {"c", "p"}, {"y"});
      b.Output("y");
      Rng rng(broadcast ? 5 : 6);
      const int64_t rows = 2;
      const std::vector<float> x = rng.Vector(rows * (broadcast ? 1 : 2) * 12, 4.0f);
      const std::vector<float> w = rng.Vector((broadcast ? 1 : rows) * 2 * 20, 4.0f);
      std::vector<OwnedTensor> plain, fused;
      std::unique_ptr<Engine> engine;
      const std::vector<TensorView> inputs{FloatView(x, {rows, broadcast ? 1 : 2, 3, 4}),
                                           FloatView(w, {broadcast ? 1 : rows, 2, 4, 5})};
      ASSERT_TRUE(LoadAndRun(b.graph, false, inputs, &plain).ok());
      ASSERT_TRUE(LoadAndRun(b.graph, true, inputs, &fused, &engine).ok());
      const std::string plan = engine->Describe();
      const float alpha = std::string(tail) == "Div" ? 0.125f : 8.0f;
      EXPECT_TRUE(Contains(plan, "QuantizedMatMul[a:uint8 b:uint8 alpha=" + std::to_string(alpha) + "]"));
      EXPECT_TRUE(!Contains(plan, "Div") && !Contains(plan, "Mul '"));
      ASSERT_TRUE(plain.size() == 1 && fused.size() == 1 && plain[0].shape == fused[0].shape);
      EXPECT_TRUE(NearFloats(AsFloats(fused[0]), AsFloats(plain[0]), 1e-5f));
    }
  }
}

// A PyTorch multi-head attention (3 tokens, 2 heads of 4): the head split Transposes, the scale
// and the head merge fold into two PermutedMatMuls that read the projections in place.
Graph AttentionGraph() {
  Rng rng(40);
  GraphBuilder b;
  b.Input("x", {-1, 3, 8});
  b.Ints("heads", {-1, 3, 2, 4});
  b.Ints("merged", {-1, 3, 8});
  b.Scalar("c", 2.0f);
  for (const char* p : {"q", "k", "v"}) {
    const std::string n(p);
    b.Floats("w" + n, {8, 8}, rng.Vector(64));
    b.Op("MatMul", {"x", "w" + n}, {n});
    b.Op("Reshape", {n, "heads"}, {n + "r"});
  }
  b.Op("Transpose", {"qr"}, {"qt"}, {AttrInts("perm", {0, 2, 1, 3})});
  b.Op("Transpose", {"kr"}, {"kt"}, {AttrInts("perm", {0, 2, 3, 1})});
  b.Op("Transpose", {"vr"}, {"vt"}, {AttrInts("perm", {0, 2, 1, 3})});
  b.Op("MatMul", {"qt", "kt"}, {"s"});
  b.Op("Div", {"s", "c"}, {"scaled"});
  b.Op("Softmax", {"scaled"}, {"p"}, {AttrInt("axis", -1)});
  b.Op("MatMul", {"p", "vt"}, {"o"});
  b.Op("Transpose", {"o"}, {"ot"}, {AttrInts("perm", {0, 2, 1, 3})});
  b.Op("Reshape", {"ot", "merged"}, {"y"});
  b.Output("y");
  return b.graph;
}

TEST(AttentionTransposesBecomePermutedMatMuls) {
  const Graph graph = AttentionGraph();
  for (int64_t batch : {1, 3}) {
    std::string plan;
    EXPECT_TRUE(FusedVsPlain(graph, Rng(41).Vector(batch * 24), {batch, 3, 8}, &plan) < 1e-5f);
    EXPECT_TRUE(Contains(plan, "PermutedMatMul[a=[0,2,1,3] b=[0,2,3,1] y=[0,1,2,3] alpha=0.500000] "
                               "'qt+kt+s+scaled'"));
    EXPECT_TRUE(Contains(plan, "PermutedMatMul[a=[0,1,2,3] b=[0,2,1,3] y=[0,2,1,3]] 'vt+o+ot'"));
    EXPECT_TRUE(!Contains(plan, "Transpose") && !Contains(plan, "Div"));
  }
  // A Transpose with another reader stays (the fused op reads around it), and so does an output
  // Transpose that moves the product's last axis.
  Graph shared = AttentionGraph();
  shared.outputs.push_back({"kt", DType::kUndefined, {}});
  for (Node& n : shared.nodes) {
    if (n.name == "ot") n.attributes = {AttrInts("perm", {0, 1, 3, 2})};
  }
  for (Node& n : shared.nodes) {
    if (n.name == "y") n.inputs[1] = "heads_t";
  }
  shared.initializers.push_back(MakeTensor("heads_t", DType::kInt64, {2}, std::vector<int64_t>{-1, 24}));
  std::vector<OwnedTensor> plain, fused;
  std::unique_ptr<Engine> engine;
  const std::vector<float> x = Rng(42).Vector(2 * 24);
  ASSERT_TRUE(LoadAndRun(shared, false, {FloatView(x, {2, 3, 8})}, &plain).ok());
  ASSERT_TRUE(LoadAndRun(shared, true, {FloatView(x, {2, 3, 8})}, &fused, &engine).ok());
  const std::string plan = engine->Describe();
  EXPECT_TRUE(Contains(plan, "PermutedMatMul[a=[0,2,1,3] b=[0,1,2,3] y=[0,1,2,3] alpha=0.500000]"));
  EXPECT_TRUE(Contains(plan, "PermutedMatMul[a=[0,1,2,3] b=[0,2,1,3] y=[0,1,2,3]]"));
  EXPECT_EQ(Count(plan, "Transpose["), size_t{2});  // kt (an output) and ot (moves N)
  ASSERT_TRUE(plain.size() == 2 && fused.size() == 2);
  for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(MaxAbsDiff(AsFloats(plain[i]), AsFloats(fused[i])) < 1e-5f);
}

// An operand stored transposed (A' unit-stride along M), operands broadcast along either batch
// axis, and a MatMul -> Transpose -> MatMul chain whose middle Transpose only one fusion takes.
TEST(PermutedMatMulStridesAndBroadcasts) {
  for (const Shape& w_shape : {Shape{1, 2, 5, 3}, Shape{2, 1, 5, 3}, Shape{2, 2, 5, 3}}) {
    GraphBuilder b;
    b.Input("x", {-1, 2, 5, 4});  // A' = x transposed to [b, 2, 4, 5]: M = 4, K = 5
    b.Input("w", w_shape);        // B' = w as is: K = 5, N = 3
    b.Input("u", {-1, 4, 3, 6});
    b.Op("Transpose", {"x"}, {"xt"}, {AttrInts("perm", {0, 1, 3, 2})});
    b.Op("MatMul", {"xt", "w"}, {"p"});
    b.Op("Transpose", {"p"}, {"pt"}, {AttrInts("perm", {0, 2, 1, 3})});  // [b, 4, 2, 3]
    b.Op("MatMul", {"pt", "u"}, {"y"});
    b.Output("y");
    Rng rng(43);
    const std::vector<float> x = rng.Vector(2 * 40);
    const std::vector<float> w = rng.Vector(static_cast<size_t>(w_shape[0] * w_shape[1] * 15));
    const std::vector<float> u = rng.Vector(2 * 72);
    const std::vector<TensorView> inputs{FloatView(x, {2, 2, 5, 4}), FloatView(w, w_shape),
                                         FloatView(u, {2, 4, 3, 6})};
    std::vector<OwnedTensor> plain, fused;
    std::unique_ptr<Engine> engine;
    ASSERT_TRUE(LoadAndRun(b.graph, false, inputs, &plain).ok());
    ASSERT_TRUE(LoadAndRun(b.graph, true, inputs, &fused, &engine).ok());
    const std::string plan = engine->Describe();
    EXPECT_TRUE(Contains(plan, "PermutedMatMul[a=[0,1,3,2] b=[0,1,2,3] y=[0,2,1,3]] 'xt+p+pt'"));
    EXPECT_TRUE(Contains(plan, "MatMul 'y' (pt, u)"));  // pt is the first fusion's
    ASSERT_TRUE(plain.size() == 1 && fused.size() == 1 && plain[0].shape == fused[0].shape);
    EXPECT_TRUE(NearFloats(AsFloats(fused[0]), AsFloats(plain[0]), 1e-5f));
  }
  // Batch axes left in order in every tensor: one GEMM call over all batch x head items.
  GraphBuilder b;
  b.Input("x", {-1, 2, 5, 4});
  b.Input("w", {-1, 2, 5, 3});
  b.Op("Transpose", {"x"}, {"xt"}, {AttrInts("perm", {0, 1, 3, 2})});
  b.Op("MatMul", {"xt", "w"}, {"y"});
  b.Output("y");
  for (int64_t batch : {1, 3}) {
    Rng rng(44);
    const std::vector<float> x = rng.Vector(batch * 40), w = rng.Vector(batch * 30);
    const std::vector<TensorView> inputs{FloatView(x, {batch, 2, 5, 4}), FloatView(w, {batch, 2, 5, 3})};
    std::vector<OwnedTensor> plain, fused;
    std::unique_ptr<Engine> engine;
    ASSERT_TRUE(LoadAndRun(b.graph, false, inputs, &plain).ok());
    ASSERT_TRUE(LoadAndRun(b.graph, true, inputs, &fused, &engine).ok());
    EXPECT_TRUE(Contains(engine->Describe(), "PermutedMatMul[a=[0,1,3,2] b=[0,1,2,3] y=[0,1,2,3]] 'xt+y'"));
    ASSERT_TRUE(plain.size() == 1 && fused.size() == 1 && plain[0].shape == fused[0].shape);
    EXPECT_TRUE(NearFloats(AsFloats(fused[0]), AsFloats(plain[0]), 1e-5f));
  }
}

TEST(UnfusedWeightDequantizeIsFolded) {
  // A DequantizeLinear of int8 weights feeding something other than a linear layer: kept for the
  // QDQ pass, then folded to a float constant when nothing fused it.
  GraphBuilder b;
  b.Input("x", {4});
  b.Typed("w", DType::kInt8, {4}, std::vector<int8_t>{1, -2, 3, -4});
  b.Scalar("s", 0.5f);
  b.Op("DequantizeLinear", {"w", "s"}, {"wd"});
  b.Op("Add", {"x", "wd"}, {"y"});
  b.Output("y");
  std::string plan;
  EXPECT_EQ(FusedVsPlain(b.graph, {1, 1, 1, 1}, {4}, &plan), 0.0f);
  EXPECT_TRUE(!Contains(plan, "DequantizeLinear") && Contains(plan, "0: Add"));
}

}  // namespace
}  // namespace sluice::test

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
