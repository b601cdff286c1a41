// FakeQuantize fusion: y = DequantizeLinear(QuantizeLinear(x, s, z), s, z) with one-element
// constant s and z  =>  FakeQuantize(x, s, z) (op-quantize.cc), which computes the same
// (q - z) * s from the same rounded q in one pass over floats. Runs after the QDQ linear pass,
// so it only sees the pairs no QuantizedLinear absorbed: in a QDQ transformer, both inputs of
// the attention MatMuls (Q.K^T, P.V), which stay float MatMuls. The Q stays when it has other
// readers; a Q whose only reader was this DQ dies (RemoveDeadNodes).
#include "engine-fuse.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

// True when `a` and `b` name the same one-element constant value (or are both omitted).
bool SameScalarConstant(const GraphIndex& index, const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  const TensorData* ta = index.Constant(a);
  const TensorData* tb = index.Constant(b);
  return ta != nullptr && tb != nullptr && NumElements(ta->dims) == 1 &&
         ta->dtype == tb->dtype && ta->bytes == tb->bytes;
}

bool Match(const GraphIndex& index, const Node& dq, Rewrite* rewrite) {
  if (!IsOp(&dq, "DequantizeLinear")) return false;
  const Node* q = index.Producer(dq.inputs[0]);
  if (!IsOp(q, "QuantizeLinear")) return false;
  const TensorType* qt = index.Type(q->outputs[0]);
  const TensorType* xt = index.Type(q->inputs[0]);
  if (qt == nullptr || xt == nullptr || xt->dtype != DType::kFloat ||
      (qt->dtype != DType::kUint8 && qt->dtype != DType::kInt8)) {
    return false;
  }
  const TensorData* scale = index.Constant(dq.inputs[1]);
  if (scale == nullptr || scale->dtype != DType::kFloat ||
      !SameScalarConstant(index, dq.inputs[1], q->inputs[1]) ||
      !SameScalarConstant(index, InputOr(dq, 2), InputOr(*q, 2))) {
    return false;
  }
  Node& fused = rewrite->node;
  fused.name = FusedName({q, &dq});
  fused.op_type = "FakeQuantize";
  fused.domain = kInternalDomain;
  fused.inputs = {q->inputs[0], dq.inputs[1]};
  if (!InputOr(dq, 2).empty()) fused.inputs.push_back(dq.inputs[2]);
  fused.outputs = {dq.outputs[0]};
  fused.attributes = {IntAttribute("signed", qt->dtype == DType::kInt8 ? 1 : 0)};
  rewrite->remove = {index.IndexOf(&dq)};
  return true;
}

}  // namespace

int FuseFakeQuantize(Graph* graph, const ValueTypes& types) {
  const int fused = RewriteMatches(graph, types, Match);
  RemoveDeadNodes(graph);  // the QuantizeLinear nodes whose only reader was fused
  return fused;
}

}  // namespace sluice::engine
