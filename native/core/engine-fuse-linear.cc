// FP32 linear fusion: MatMul by a constant 2-D weight (+ Add bias) or Gemm with constant B
// (+ C bias), then an optional activation  =>  FusedLinear (op-linear.cc), whose weights are
// prepared once at load. Also the tail matcher shared with the QDQ fusion.
#include "engine-fuse.h"
#include "op-util.h"

namespace sluice::engine {

Attribute IntAttribute(const char* name, int64_t value) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kInt;
  a.i = value;
  return a;
}

Attribute FloatAttribute(const char* name, float value) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kFloat;
  a.f = value;
  return a;
}

Attribute IntsAttribute(const char* name, const std::vector<int64_t>& values) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::kInts;
  a.ints = values;
  return a;
}

int64_t IntAttr(const Node& node, const char* name, int64_t fallback) {
  for (const Attribute& a : node.attributes) {
    if (a.name == name && a.kind == Attribute::Kind::kInt) return a.i;
  }
  return fallback;
}

float FloatAttr(const Node& node, const char* name, float fallback) {
  for (const Attribute& a : node.attributes) {
    if (a.name == name && a.kind == Attribute::Kind::kFloat) return a.f;
  }
  return fallback;
}

bool IsBiasConstant(const GraphIndex& index, const std::string& name, int64_t n) {
  const TensorData* t = index.Constant(name);
  if (t == nullptr || t->dtype != DType::kFloat) return false;
  return t->dims == Shape{n} || t->dims == Shape{1, n};
}

void MatchLinearTail(const GraphIndex& index, const std::string& linear_out, int64_t n,
                     bool allow_bias, LinearTail* tail) {
  tail->output = linear_out;
  const Node* next = index.SoleConsumer(linear_out);
  // A [1,N] bias on a 1-D result would broadcast it to 2-D: only absorb it when ranks allow.
  if (allow_bias && IsOp(next, "Add") && IsBiasConstant(index, OtherInput(*next, linear_out), n) &&
      index.Rank(linear_out) >= index.Rank(OtherInput(*next, linear_out))) {
    tail->bias = OtherInput(*next, linear_out);
    tail->nodes.push_back(next);
    tail->output = next->outputs[0];
    next = index.SoleConsumer(tail->output);
  }
  const char* act = nullptr;
  if (IsOp(next, "Relu")) act = "Relu";
  if (IsOp(next, "Sigmoid")) act = "Sigmoid";
  if (IsOp(next, "Tanh")) act = "Tanh";
  if (IsOp(next, "LeakyRelu")) {
    act = "LeakyRelu";
    tail->attributes.push_back(FloatAttribute("act_alpha", FloatAttr(*next, "alpha", 0.01f)));
  }
  if (IsOp(next, "Gelu")) {
    std::string approximate = "none";
    for (const Attribute& a : next->attributes) {
      if (a.name == "approximate") approximate = a.s;
    }
    act = approximate == "tanh" ? "GeluTanh" : approximate == "none" ? "Gelu" : nullptr;
  }
  if (act == nullptr) return;
  Attribute a;
  a.name = "activation";
  a.kind = Attribute::Kind::kString;
  a.s = act;
  tail->attributes.push_back(a);
  tail->nodes.push_back(next);
  tail->output = next->outputs[0];
}

namespace {

// The constant float 2-D weight of a linear node, or null.
const TensorData* Weight(const GraphIndex& index, const std::string& name) {
  const TensorData* w = index.Constant(name);
  return w != nullptr && w->dtype == DType::kFloat && w->dims.size() == 2 ? w : nullptr;
}

bool Match(const GraphIndex& index, const Node& node, Rewrite* rewrite) {
  const bool gemm = IsOp(&node, "Gemm");
  if (!gemm && !IsOp(&node, "MatMul")) return false;
  const TensorData* w = Weight(index, node.inputs[1]);
  if (w == nullptr || index.Rank(node.inputs[0]) < (gemm ? 2 : 1)) return false;
  const bool trans_b = gemm && IntAttr(node, "transB", 0) != 0;
  if (gemm && IntAttr(node, "transA", 0) != 0) return false;
  const int64_t n = trans_b ? w->dims[0] : w->dims[1];
  const bool has_c = gemm && node.inputs.size() > 2 && !node.inputs[2].empty();
  if (has_c && !IsBiasConstant(index, node.inputs[2], n)) return false;
  LinearTail tail;
  MatchLinearTail(index, node.outputs[0], n, !has_c, &tail);
  std::vector<const Node*> nodes = {&node};
  nodes.insert(nodes.end(), tail.nodes.begin(), tail.nodes.end());
  Node& fused = rewrite->node;
  fused.name = FusedName(nodes);
  fused.op_type = "FusedLinear";
  fused.domain = kInternalDomain;
  fused.inputs = {node.inputs[0], node.inputs[1]};
  if (has_c) fused.inputs.push_back(node.inputs[2]);
  if (!tail.bias.empty()) fused.inputs.push_back(tail.bias);
  fused.outputs = {tail.output};
  fused.attributes = tail.attributes;
  fused.attributes.push_back(IntAttribute("trans_b", trans_b ? 1 : 0));
  if (gemm) {
    fused.attributes.push_back(FloatAttribute("alpha", FloatAttr(node, "alpha", 1.0f)));
    // Without C, an absorbed Add bias is added as is.
    fused.attributes.push_back(
        FloatAttribute("beta", has_c ? FloatAttr(node, "beta", 1.0f) : 1.0f));
  }
  for (const Node* x : nodes) rewrite->remove.push_back(index.IndexOf(x));
  return true;
}

}  // namespace

int FuseLinear(Graph* graph, const ValueTypes& types) {
  // Anchored on one MatMul/Gemm each; the tail consumes only single-use outputs.
  return RewriteMatches(graph, types, Match);
}

}  // namespace sluice::engine
