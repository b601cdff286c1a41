// QuantizedMatMul fusion: MatMul(FakeQuantize(a), FakeQuantize(b)) [-> Div or Mul by a constant
// scalar]  =>  QuantizedMatMul (op-int8-matmul.cc), which multiplies the quantized integers
// exactly on the INT8 GEMM instead of the dequantized floats on the FP32 one. Runs after
// FuseFakeQuantize: these are a QDQ transformer's attention products (Q.K^T, then / sqrt(d);
// P.V), the only MatMuls whose operands are both run-time tensors. A FakeQuantize with other
// readers stays for them; the fused node reads its input and quantizes it again.
#include <string>
#include <vector>

#include "engine-fuse.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

const Node* FakeQuantizeProducer(const GraphIndex& index, const std::string& name) {
  const Node* node = index.Producer(name);
  if (node == nullptr || node->op_type != "FakeQuantize" || node->domain != kInternalDomain)
    return nullptr;
  return node;
}

bool Match(const GraphIndex& index, const Node& matmul, Rewrite* rewrite) {
  if (!IsOp(&matmul, "MatMul")) return false;
  const Node* fa = FakeQuantizeProducer(index, matmul.inputs[0]);
  const Node* fb = FakeQuantizeProducer(index, matmul.inputs[1]);
  if (fa == nullptr || fb == nullptr || index.Rank(matmul.inputs[0]) < 2 ||
      index.Rank(matmul.inputs[1]) < 2) {
    return false;  // 1-D operands: the plain MatMul handles their promotion
  }
  // A scalar division or multiplication of the product (the attention scale) becomes alpha.
  float alpha = 1.0f;
  std::vector<const Node*> parts{&matmul};
  std::string output = matmul.outputs[0];
  if (const Node* scale = MatchScalarScale(index, output, &alpha)) {
    parts.push_back(scale);
    output = scale->outputs[0];
  }
  Node& fused = rewrite->node;
  std::vector<const Node*> named{fa, fb};
  named.insert(named.end(), parts.begin(), parts.end());
  fused.name = FusedName(named);
  fused.op_type = "QuantizedMatMul";
  fused.domain = kInternalDomain;
  fused.inputs = {fa->inputs[0], fa->inputs[1], InputOr(*fa, 2),
                  fb->inputs[0], fb->inputs[1], InputOr(*fb, 2)};
  if (fused.inputs.back().empty()) fused.inputs.pop_back();
  fused.outputs = {output};
  fused.attributes = {IntAttribute("a_signed", IntAttr(*fa, "signed", 0)),
                      IntAttribute("b_signed", IntAttr(*fb, "signed", 0)),
                      FloatAttribute("alpha", alpha)};
  for (const Node* p : parts) rewrite->remove.push_back(index.IndexOf(p));
  return true;
}

}  // namespace

int FuseQuantizedMatMul(Graph* graph, const ValueTypes& types) {
  const int fused = RewriteMatches(graph, types, Match);
  RemoveDeadNodes(graph);  // the FakeQuantize nodes whose only reader was fused
  return fused;
}

}  // namespace sluice::engine
