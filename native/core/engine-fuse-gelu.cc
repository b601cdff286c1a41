// Gelu fusion: the exact (erf) Gelu as exporters decompose it,
//   a = x / sqrt(2)  |  x * (1/sqrt(2));   e = Erf(a);   b = e + 1;
//   then  y = (x * b) * 0.5  |  (x * 0.5) * b  |  x * (b * 0.5)   (operands of Add/Mul in any
//   order)
#include <cmath>

#include "engine-fuse.h"

namespace sluice::engine {
namespace {

constexpr float kSqrt2 = 1.41421356237f;

// x for a = x / sqrt2 or x * (1/sqrt2), else "".
std::string ScaledInput(const GraphIndex& index, const Node* a) {
  float c = 0;
  if (IsOp(a, "Div") && index.ConstantScalar(a->inputs[1], &c) && NearlyEqual(c, kSqrt2))
    return a->inputs[0];
  if (!IsOp(a, "Mul")) return "";
  for (int i = 0; i < 2; ++i) {
    if (index.ConstantScalar(a->inputs[i], &c) && NearlyEqual(c, 1.0f / kSqrt2))
      return a->inputs[1 - i];
  }
  return "";
}

bool IsScalar(const GraphIndex& index, const std::string& name, float value) {
  float c = 0;
  return index.ConstantScalar(name, &c) && NearlyEqual(c, value);
}

// A Mul of `name` by the constant 0.5 (either order).
bool IsHalfOf(const GraphIndex& index, const Node* mul, const std::string& name) {
  return IsOp(mul, "Mul") && IsScalar(index, OtherInput(*mul, name), 0.5f);
}

// Matches the pattern around one Erf node; fills the rewrite on success.
bool Match(const GraphIndex& index, const Node& erf, Rewrite* rewrite) {
  const Node* scale = index.Producer(erf.inputs[0]);
  const std::string x = ScaledInput(index, scale);
  if (x.empty() || !index.SingleUse(scale->outputs[0])) return false;
  const Node* add = index.SoleConsumer(erf.outputs[0]);
  if (!IsOp(add, "Add") || !IsScalar(index, OtherInput(*add, erf.outputs[0]), 1.0f)) return false;
  const Node* mul1 = index.SoleConsumer(add->outputs[0]);
  if (!IsOp(mul1, "Mul")) return false;
  const std::string other = OtherInput(*mul1, add->outputs[0]);
  std::vector<const Node*> nodes = {scale, &erf, add, mul1};
  const Node* last = nullptr;
  if (other == x) {  // (x * b) * 0.5
    const Node* half = index.SoleConsumer(mul1->outputs[0]);
    if (!IsHalfOf(index, half, mul1->outputs[0])) return false;
    nodes.push_back(half);
    last = half;
  } else if (const Node* h = index.Producer(other);
             IsHalfOf(index, h, x) && index.SingleUse(other)) {
    nodes.push_back(h);  // (x * 0.5) * b
    last = mul1;
  } else if (IsScalar(index, other, 0.5f)) {  // x * (b * 0.5)
    const Node* outer = index.SoleConsumer(mul1->outputs[0]);
    if (!IsOp(outer, "Mul") || OtherInput(*outer, mul1->outputs[0]) != x) return false;
    nodes.push_back(outer);
    last = outer;
  } else {
    return false;
  }
  for (const Node* n : nodes) rewrite->remove.push_back(index.IndexOf(n));
  rewrite->node.name = FusedName(nodes);
  rewrite->node.op_type = "Gelu";
  rewrite->node.domain = kInternalDomain;  // not bound by the model's opset (Gelu is opset 20)
  rewrite->node.inputs = {x};
  rewrite->node.outputs = {last->outputs[0]};
  return true;
}

}  // namespace

int FuseGelu(Graph* graph, const ValueTypes& types) {
  // Each match is anchored on its own Erf node, so matches never overlap.
  return RewriteMatches(graph, types, [](const GraphIndex& index, const Node& node, Rewrite* r) {
    return IsOp(&node, "Erf") && Match(index, node, r);
  });
}

}  // namespace sluice::engine
