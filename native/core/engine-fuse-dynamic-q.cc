// Dynamic INT8 linear fusion. onnxruntime.quantization.quantize_dynamic writes each MatMul by a
// constant weight as
//   (xq, xs, xz) = DynamicQuantizeLinear(x)                 uint8, per tensor
//   yi = MatMulInteger(xq, W, xz [, wz])                      W int8/uint8 constant [K,N]
//   yf = Cast(yi, to=FLOAT)
//   s  = Mul(xs, ws)                                          ws constant, 1 or N values
//   y  = Mul(yf, s)           [-> Add bias] [-> activation]   (Mul operands in either order)
// => DynamicQuantizedLinear(x, W, ws, wz, bias): quantize x on every run, int8 GEMM, float
// epilogue. Per tensor (the default) it computes exactly what the pattern computes, up to float
// rounding: the scale and zero point come from the same kernel as DynamicQuantizeLinear's, the
// integer products are exact, and the epilogue multiplies float(yi) by (xs * ws[n]) as the two
// Muls do. With EngineOptions::dynamic_quantization kPerRow each row gets its own scale (see
// engine.h for that trade-off).
//
// As in the QDQ pass, xq/xs/xz may be shared (Q, K and V projections reading one
// DynamicQuantizeLinear): each MatMulInteger becomes its own fused node on the float x, and the
// DynamicQuantizeLinear is left to RemoveDeadNodes, which drops it once nothing reads it. The
// chain yi -> yf -> y and s must each have the pattern as their only reader (and not be graph
// outputs); otherwise nothing is rewritten and the unfused ops run.
#include "engine-fuse.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

// ws broadcasts like a per-column scale on a rank-`rank` result: a float constant of 1 or N
// elements, every dim but the last 1, and no more dims than the result (which would grow it).
bool IsColumnScale(const TensorData* t, int64_t n, int64_t rank) {
  if (t == nullptr || t->dtype != DType::kFloat) return false;
  const int64_t count = NumElements(t->dims);
  if (count != 1 && count != n) return false;
  if (static_cast<int64_t>(t->dims.size()) > rank) return false;
  for (size_t d = 0; d + 1 < t->dims.size(); ++d) {
    if (t->dims[d] != 1) return false;
  }
  return true;
}

bool Match(const GraphIndex& index, const Node& mmi, bool per_row, Rewrite* rewrite) {
  if (!IsOp(&mmi, "MatMulInteger")) return false;
  const Node* dql = index.Producer(mmi.inputs[0]);
  if (!IsOp(dql, "DynamicQuantizeLinear") || dql->outputs.size() != 3) return false;
  const std::string& x_scale = dql->outputs[1];
  // The activation zero point must be the DynamicQuantizeLinear's own.
  if (mmi.inputs[0] != dql->outputs[0] || InputOr(mmi, 2) != dql->outputs[2] || x_scale.empty())
    return false;
  const TensorData* w = index.Constant(mmi.inputs[1]);
  if (w == nullptr || w->dims.size() != 2) return false;
  if (w->dtype != DType::kInt8 && w->dtype != DType::kUint8) return false;
  const int64_t n = w->dims[1];
  const std::string& w_zp = InputOr(mmi, 3);
  if (!w_zp.empty()) {
    const TensorData* z = index.Constant(w_zp);
    if (z == nullptr || z->dtype != w->dtype || z->dims.size() > 1) return false;
    if (NumElements(z->dims) != 1 && NumElements(z->dims) != n) return false;
  }

  const Node* cast = index.SoleConsumer(mmi.outputs[0]);
  if (!IsOp(cast, "Cast") || IntAttr(*cast, "to", 0) != static_cast<int64_t>(DType::kFloat))
    return false;
  const std::string& y_f = cast->outputs[0];
  const Node* mul = index.SoleConsumer(y_f);
  if (!IsOp(mul, "Mul")) return false;
  const std::string s = OtherInput(*mul, y_f);
  const Node* scale_mul = index.Producer(s);
  if (!IsOp(scale_mul, "Mul") || !index.SingleUse(s)) return false;
  const std::string w_scale = OtherInput(*scale_mul, x_scale);
  if (w_scale.empty() || w_scale == x_scale ||
      !IsColumnScale(index.Constant(w_scale), n, index.Rank(y_f)))
    return false;

  LinearTail tail;
  MatchLinearTail(index, mul->outputs[0], n, true, &tail);
  std::vector<const Node*> nodes = {&mmi, cast, scale_mul, mul};
  nodes.insert(nodes.end(), tail.nodes.begin(), tail.nodes.end());
  for (const Node* p : nodes) rewrite->remove.push_back(index.IndexOf(p));
  nodes.insert(nodes.begin(), dql);  // named in the fused node; removed later, when dead

  Node& fused = rewrite->node;
  fused.name = FusedName(nodes);
  fused.op_type = "DynamicQuantizedLinear";
  fused.domain = kInternalDomain;
  fused.inputs = {dql->inputs[0], mmi.inputs[1], w_scale, w_zp};
  if (!tail.bias.empty()) fused.inputs.push_back(tail.bias);
  fused.outputs = {tail.output};
  fused.attributes = tail.attributes;
  Attribute mode;
  mode.name = "x_quantization";
  mode.kind = Attribute::Kind::kString;
  mode.s = per_row ? "per_row" : "per_tensor";
  fused.attributes.push_back(mode);
  return true;
}

}  // namespace

int FuseDynamicQuantLinear(Graph* graph, const ValueTypes& types, bool per_row) {
  std::vector<Rewrite> rewrites;
  {
    const GraphIndex index(*graph, types);
    for (const Node& node : graph->nodes) {
      Rewrite r;
      if (Match(index, node, per_row, &r)) rewrites.push_back(std::move(r));
    }
  }  // anchored on one MatMulInteger each; the DynamicQuantizeLinear dies later
  return ApplyRewrites(graph, std::move(rewrites));
}

}  // namespace sluice::engine
