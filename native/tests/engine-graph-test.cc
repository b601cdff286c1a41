// Engine load-time validation: malformed graphs are refused with a message naming the problem,
// Unsupported() lists what the engine cannot run, Run checks its inputs, constants fold.
#include <cmath>
#include <string>

#include "engine-test-util.h"
#include "test-harness.h"

namespace sluice::test {
namespace {

// y = Relu(x + b), x: [?, 4].
GraphBuilder SmallGraph() {
  GraphBuilder b;
  b.Input("x", {-1, 4});
  b.Floats("b", {4}, {1, 2, 3, 4});
  b.Op("Add", {"x", "b"}, {"s"});
  b.Op("Relu", {"s"}, {"y"});
  b.Output("y");
  return b;
}

// The Load error for `graph`, or "" if it loads.
std::string LoadError(const Graph& graph) {
  std::unique_ptr<Engine> engine;
  Status s = Engine::Load(graph, EngineOptions{}, &engine);
  return s.ok() ? "" : s.ToString();
}

TEST(LoadsAndRunsSmallGraph) {
  GraphBuilder b = SmallGraph();
  EXPECT_TRUE(Engine::Unsupported(b.graph).empty());
  std::vector<float> x = {-5, 0, 1, -3, 2, 2, 2, 2};
  std::vector<OwnedTensor> out;
  Status s = LoadAndRun(b.graph, true, {FloatView(x, {2, 4})}, &out);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(out.size() == 1);
  EXPECT_EQ(out[0].shape, (Shape{2, 4}));
  EXPECT_EQ(AsFloats(out[0]), (std::vector<float>{0, 2, 4, 1, 3, 4, 5, 6}));
}

TEST(RefusesCycle) {
  GraphBuilder b;
  b.Input("x", {2});
  b.Op("Add", {"x", "c"}, {"a"});
  b.Op("Relu", {"a"}, {"c"});
  b.Output("c");
  const std::string e = LoadError(b.graph);
  EXPECT_TRUE(Contains(e, "INVALID_ARGUMENT") && Contains(e, "cycle"));
}

TEST(RefusesDanglingInput) {
  GraphBuilder b = SmallGraph();
  b.graph.nodes[1].inputs[0] = "nowhere";
  const std::string e = LoadError(b.graph);
  EXPECT_TRUE(Contains(e, "'nowhere' is not defined") && Contains(e, "node 'y' (Relu)"));
}

TEST(RefusesDuplicateOutput) {
  GraphBuilder b = SmallGraph();
  b.Op("Relu", {"x"}, {"s"});
  EXPECT_TRUE(Contains(LoadError(b.graph), "output 's' is already defined"));
  GraphBuilder c = SmallGraph();
  c.Output("y");
  EXPECT_TRUE(Contains(LoadError(c.graph), "graph output 'y' is listed twice"));
}

TEST(RefusesBadAttributeKind) {
  GraphBuilder b;
  b.Input("x", {2, 3});
  b.Op("Softmax", {"x"}, {"y"}, {AttrFloat("axis", 1.0f)});
  b.Output("y");
  const std::string e = LoadError(b.graph);
  EXPECT_TRUE(Contains(e, "INVALID_ARGUMENT") && Contains(e, "attribute 'axis' must be int"));
}

TEST(RefusesInitializerByteMismatch) {
  GraphBuilder b = SmallGraph();
  b.graph.initializers[0].bytes.pop_back();
  const std::string e = LoadError(b.graph);
  EXPECT_TRUE(Contains(e, "initializer 'b'") && Contains(e, "15 bytes, expected 16"));
  // Unsupported reports it too, and does not run the Add on the short buffer.
  EXPECT_EQ(Engine::Unsupported(b.graph).size(), size_t{1});
}

TEST(RefusesShapeErrors) {
  GraphBuilder b;
  b.Input("x", {-1, 3});
  b.Floats("w", {4, 2}, std::vector<float>(8, 1.0f));
  b.Op("MatMul", {"x", "w"}, {"y"});
  b.Output("y");
  const std::string e = LoadError(b.graph);
  EXPECT_TRUE(Contains(e, "node 'y' (MatMul)"));
  GraphBuilder r;
  r.Input("x", {2, 3});
  r.Ints("shape", {4, 2});
  r.Op("Reshape", {"x", "shape"}, {"y"});
  r.Output("y");
  EXPECT_TRUE(Contains(LoadError(r.graph), "cannot reshape [2,3] to [4,2]"));
}

TEST(RefusesWrongDeclaredOutputDtype) {
  GraphBuilder b = SmallGraph();
  b.graph.outputs[0].dtype = DType::kInt64;
  EXPECT_TRUE(Contains(LoadError(b.graph), "graph output 'y' is declared int64 but is float"));
}

TEST(RefusesMissingRequiredInputAndOutput) {
  GraphBuilder b;
  b.Input("x", {2});
  b.Op("Add", {"x"}, {"y"});
  b.Output("y");
  EXPECT_TRUE(Contains(LoadError(b.graph), "takes 2 inputs, got 1"));
  GraphBuilder omitted;  // "" names an omitted input: counted apart, not as one given
  omitted.Input("x", {2});
  omitted.Op("Relu", {""}, {"y"});
  omitted.Output("y");
  EXPECT_TRUE(Contains(LoadError(omitted.graph), "takes 1 input, got 0 (and 1 omitted)"));
  GraphBuilder concat;  // an open-ended arity: the noun agrees with its lower bound
  concat.Input("x", {2});
  concat.Op("Concat", {}, {"y"}, {AttrInt("axis", 0)});
  concat.Output("y");
  EXPECT_TRUE(Contains(LoadError(concat.graph), "takes at least 1 input, got 0"));
  // Found by fuzzing mutated models: a DequantizeLinear with no inputs at all crashed the
  // optimizing load (it read the first input's type before the arity check's error was seen).
  for (bool optimize : {true, false}) {
    GraphBuilder none;
    none.Input("x", {2});
    none.Op("DequantizeLinear", {}, {"y"});
    none.Output("y");
    EngineOptions options;
    options.optimize = optimize;
    std::unique_ptr<Engine> engine;
    const std::string e = Engine::Load(none.graph, options, &engine).ToString();
    EXPECT_TRUE(Contains(e, "(DequantizeLinear): takes 2 to 3 inputs, got 0"));
  }
  GraphBuilder c = SmallGraph();
  c.graph.outputs[0].name = "missing";
  EXPECT_TRUE(Contains(LoadError(c.graph), "graph output 'missing' is not produced"));
}

TEST(UnsupportedListsEveryProblem) {
  GraphBuilder b(6);
  b.Input("x", {1, 2, 3});
  b.Input("s", {1}, DType::kString);
  b.Op("LSTM", {"x"}, {"h"});
  b.Op("Relu", {"h"}, {"r"});  // downstream of the LSTM: not reported again
  b.Op("Gelu", {"x"}, {"g"});  // an op newer than the model's opset
  b.Output("r");
  b.Output("g");
  const std::vector<std::string> reasons = Engine::Unsupported(b.graph);
  std::string all;
  for (const std::string& r : reasons) all += r + "\n";
  EXPECT_EQ(reasons.size(), size_t{4});
  EXPECT_TRUE(Contains(all, "opset 6 < 7 minimum"));
  EXPECT_TRUE(Contains(all, "graph input 's': dtype string not supported"));
  EXPECT_TRUE(Contains(all, "unsupported op LSTM"));
  EXPECT_TRUE(Contains(all, "Gelu before opset 20"));
  std::unique_ptr<Engine> engine;
  EXPECT_EQ(Engine::Load(b.graph, EngineOptions{}, &engine).code(), StatusCode::UNIMPLEMENTED);
}

TEST(OpsOlderThanTheSemanticsImplementedAreRefused) {
  // Softmax before opset 13 flattens to 2-D around the axis: a different computation.
  GraphBuilder b(11);
  b.Input("x", {2, 3, 4});
  b.Op("Softmax", {"x"}, {"y"});
  b.Output("y");
  const std::vector<std::string> reasons = Engine::Unsupported(b.graph);
  EXPECT_EQ(reasons.size(), size_t{1});
  EXPECT_TRUE(!reasons.empty() && Contains(reasons[0], "Softmax before opset 13"));
}

TEST(UnsupportedNamesDtypeAndAttribute) {
  GraphBuilder b;
  b.Input("x", {2}, DType::kInt8);
  b.Input("f", {2});
  b.Op("Relu", {"x"}, {"y"});
  b.Op("Softmax", {"f"}, {"z"}, {AttrInt("bogus", 1)});
  b.Output("y");
  b.Output("z");
  const std::vector<std::string> reasons = Engine::Unsupported(b.graph);
  ASSERT_TRUE(reasons.size() == 2);
  EXPECT_TRUE(Contains(reasons[0], "node 'y' (Relu): input X dtype int8 not supported"));
  EXPECT_TRUE(Contains(reasons[1], "unsupported attribute 'bogus'"));
}

TEST(RunValidatesInputs) {
  GraphBuilder b = SmallGraph();
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Load(b.graph, EngineOptions{}, &engine).ok());
  std::vector<float> x(8, 1.0f);
  std::vector<OwnedTensor> out;
  EXPECT_TRUE(Contains(engine->Run({}, &out).ToString(), "expected 1 inputs, got 0"));
  TensorView wrong_dtype = FloatView(x, {2, 4});
  wrong_dtype.dtype = DType::kInt32;
  EXPECT_TRUE(Contains(engine->Run({wrong_dtype}, &out).ToString(), "dtype int32, expected float"));
  EXPECT_TRUE(Contains(engine->Run({FloatView(x, {8})}, &out).ToString(), "expected rank 2"));
  EXPECT_TRUE(Contains(engine->Run({FloatView(x, {4, 2})}, &out).ToString(), "expected [?,4]"));
  TensorView short_bytes = FloatView(x, {2, 4});
  short_bytes.bytes -= 4;
  EXPECT_TRUE(Contains(engine->Run({short_bytes}, &out).ToString(), "28 bytes, expected 32"));
  EXPECT_TRUE(engine->Run({FloatView(x, {2, 4})}, &out).ok());
  EXPECT_EQ(engine->inputs()[0].dims, (Shape{-1, 4}));
  EXPECT_EQ(engine->outputs()[0].dims, (Shape{-1, 4}));
  EXPECT_EQ(engine->outputs()[0].dtype, DType::kFloat);
}

TEST(RunErrorsComeBackAsStatus) {
  // Integer division by zero is only discoverable at run time.
  GraphBuilder b;
  b.Input("a", {2}, DType::kInt32);
  b.Input("d", {2}, DType::kInt32);
  b.Op("Div", {"a", "d"}, {"q"});
  b.Output("q");
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Load(b.graph, EngineOptions{}, &engine).ok());
  std::vector<int32_t> a = {4, 5}, d = {2, 0};
  std::vector<OwnedTensor> out;
  Status s =
      engine->Run({{DType::kInt32, {2}, a.data(), 8}, {DType::kInt32, {2}, d.data(), 8}}, &out);
  EXPECT_EQ(s.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(s.message(), "node 'q' (Div)"));
}

TEST(FoldsConstantShapeSubgraph) {
  // Reshape's target shape is computed from int64 constants: Concat(Constant, Mul(c, 2)).
  GraphBuilder b;
  b.Input("x", {-1, 2, 3});
  b.Op("Constant", {}, {"head"}, {AttrInts("value_ints", {-1})});
  b.Ints("three", {3});
  b.Ints("two", {2});
  b.Op("Mul", {"three", "two"}, {"six"});
  b.Op("Concat", {"head", "six"}, {"shape"}, {AttrInt("axis", 0)});
  b.Op("Reshape", {"x", "shape"}, {"y"});
  b.Output("y");
  std::unique_ptr<Engine> engine;
  std::vector<float> x(12);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(LoadAndRun(b.graph, false, {FloatView(x, {2, 2, 3})}, &out, &engine).ok());
  EXPECT_EQ(out[0].shape, (Shape{2, 6}));
  EXPECT_EQ(AsFloats(out[0]), x);
  const std::string plan = engine->Describe();
  EXPECT_TRUE(!Contains(plan, "Constant") && !Contains(plan, "Concat") &&
              Contains(plan, "Reshape"));
  EXPECT_TRUE(Contains(plan, "y:float[?,6]"));
}

TEST(ReshapeNeedsConstantShape) {
  GraphBuilder b;
  b.Input("x", {2, 3});
  b.Input("shape", {2}, DType::kInt64);
  b.Op("Reshape", {"x", "shape"}, {"y"});
  b.Output("y");
  const std::vector<std::string> reasons = Engine::Unsupported(b.graph);
  ASSERT_TRUE(reasons.size() == 1);
  EXPECT_TRUE(Contains(reasons[0], "input shape must be a constant"));
}

TEST(InputWithInitializerIsAConstant) {
  // IR < 4 models list initializers among the inputs; the initializer's value is used.
  GraphBuilder b = SmallGraph();
  b.Input("b", {4});
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::Load(b.graph, EngineOptions{}, &engine).ok());
  ASSERT_TRUE(engine->inputs().size() == 1);
  EXPECT_EQ(engine->inputs()[0].name, std::string("x"));
}

TEST(OutputsMayBeInputsOrConstants) {
  GraphBuilder b;
  b.Input("x", {2});
  b.Floats("c", {2}, {7, 8});
  b.Op("Identity", {"x"}, {"same"});
  b.Output("x");
  b.Output("c");
  b.Output("same");
  std::vector<float> x = {1, 2};
  std::vector<OwnedTensor> out;
  ASSERT_TRUE(LoadAndRun(b.graph, true, {FloatView(x, {2})}, &out).ok());
  ASSERT_TRUE(out.size() == 3);
  EXPECT_EQ(AsFloats(out[0]), x);
  EXPECT_EQ(AsFloats(out[1]), (std::vector<float>{7, 8}));
  EXPECT_EQ(AsFloats(out[2]), x);
}

// A graph touching many ops, for the mutation test below.
Graph ManyOpsGraph() {
  Rng rng(9);
  GraphBuilder b;
  b.Input("x", {-1, 4});
  b.Input("ids", {-1}, DType::kInt64);
  b.Floats("w", {4, 6}, rng.Vector(24));
  b.Floats("bias", {6}, rng.Vector(6));
  b.Floats("table", {5, 6}, rng.Vector(30));
  b.Floats("g", {6}, rng.Vector(6));
  b.Ints("shape", {-1, 2, 3});
  b.Ints("axes", {1});
  b.Scalar("s", 0.1f);
  b.Typed("z", DType::kUint8, {}, std::vector<uint8_t>{128});
  b.Op("Gemm", {"x", "w", "bias"}, {"h"}, {AttrFloat("alpha", 1.0f)});
  b.Op("Gather", {"table", "ids"}, {"e"}, {AttrInt("axis", 0)});
  b.Op("Add", {"h", "e"}, {"he"});
  b.Op("LayerNormalization", {"he", "g"}, {"ln"}, {AttrInt("axis", -1)});
  b.Op("QuantizeLinear", {"ln", "s", "z"}, {"q"});
  b.Op("DequantizeLinear", {"q", "s", "z"}, {"dq"});
  b.Op("Reshape", {"dq", "shape"}, {"r"});
  b.Op("Transpose", {"r"}, {"t"}, {AttrInts("perm", {0, 2, 1})});
  b.Op("Softmax", {"t"}, {"sm"}, {AttrInt("axis", 1)});
  b.Op("ReduceMean", {"sm"}, {"m"}, {AttrInts("axes", {1})});
  b.Op("Concat", {"m", "m"}, {"c"}, {AttrInt("axis", -1)});
  b.Op("Flatten", {"c"}, {"y"}, {AttrInt("axis", 1)});
  b.Output("y");
  return b.graph;
}

TEST(MutatedGraphsNeverCrash) {
  // Random damage to a valid graph: every Load must return a Status (no crash, no sanitizer
  // report), and a graph that still loads must run or refuse cleanly.
  const Graph base = ManyOpsGraph();
  {
    std::unique_ptr<Engine> engine;
    ASSERT_TRUE(Engine::Load(base, EngineOptions{}, &engine).ok());
  }
  Rng rng(10);
  auto pick = [&](size_t n) {
    return static_cast<size_t>(std::fabs(rng.Next(static_cast<float>(n)))) % n;
  };
  std::vector<std::string> names;
  for (const Node& n : base.nodes) names.insert(names.end(), n.outputs.begin(), n.outputs.end());
  for (const TensorData& t : base.initializers) names.push_back(t.name);
  int loaded = 0;
  for (int trial = 0; trial < 400; ++trial) {
    Graph g = base;
    for (int edits = 0; edits < 2; ++edits) {
      Node& node = g.nodes[pick(g.nodes.size())];
      TensorData& init = g.initializers[pick(g.initializers.size())];
      switch (pick(8)) {
        case 0:
          if (!node.inputs.empty())
            node.inputs[pick(node.inputs.size())] = names[pick(names.size())];
          break;
        case 1:
          if (!node.inputs.empty()) node.inputs.pop_back();
          break;
        case 2: node.inputs.push_back(names[pick(names.size())]); break;
        case 3:
          if (!init.dims.empty()) init.dims[pick(init.dims.size())] += 1;
          break;
        case 4: init.dtype = static_cast<DType>(pick(12)); break;
        case 5:
          if (!node.attributes.empty()) {
            Attribute& a = node.attributes[pick(node.attributes.size())];
            a.kind = static_cast<Attribute::Kind>(pick(7));
            a.i = static_cast<int64_t>(rng.Next(8.0f));
            a.ints = {static_cast<int64_t>(rng.Next(4.0f)), 7};
          }
          break;
        case 6: node.op_type = g.nodes[pick(g.nodes.size())].op_type; break;
        case 7:
          if (init.dtype == DType::kInt64 && !init.bytes.empty())
            init.bytes[pick(init.bytes.size())] ^= 0x40;
          break;
      }
    }
    (void)Engine::Unsupported(g);
    std::unique_ptr<Engine> engine;
    if (!Engine::Load(g, EngineOptions{}, &engine).ok()) continue;
    ++loaded;
    std::vector<float> x(3 * 4, 0.5f);
    std::vector<int64_t> ids = {0, 4, 2};
    std::vector<OwnedTensor> out;
    (void)engine->Run({FloatView(x, {3, 4}), {DType::kInt64, {3}, ids.data(), 24}}, &out);
  }
  std::printf("  %d of 400 mutated graphs still loaded\n", loaded);
}

}  // namespace
}  // namespace sluice::test

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
