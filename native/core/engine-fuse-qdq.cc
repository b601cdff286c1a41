// QDQ linear fusion. A quantized ONNX model (QDQ format) writes an int8 layer as
//   xq = QuantizeLinear(x, sx, zx);  xd = DequantizeLinear(xq, sx, zx)
//   wd = DequantizeLinear(W_int8 constant, sw, zw)   (per tensor, or per output column)
//   y  = MatMul(xd, wd) [+ Add bias] | Gemm(xd, wd, C)   [-> activation]
// => QuantizedLinear(x, sx, zx, W, sw, zw, bias): quantize x, integer GEMM, float epilogue.
// The result equals the QDQ graph's up to float rounding (integer products are exact).
//
// xd may be shared: a transformer's Q, K and V projections read one DQ(Q(x)). Each reader
// becomes its own QuantizedLinear on the float x, quantizing it again: that pass is O(M*K)
// against the GEMM's O(M*K*N) (under 1% for N >= 128 with the SIMD quantizer), and it keeps a
// single fused op and no uint8 tensor in the arena. Q and DQ are not removed here: once every
// reader is fused they are dead and RemoveDeadNodes drops them; a reader that does not fuse
// (or xd being a graph output) keeps them alive, so the graph stays valid either way.
// FoldAndCheck keeps DequantizeLinear of constant weights unfolded so this pattern survives.
#include <cstring>

#include "engine-fuse.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

bool SameConstant(const GraphIndex& index, const std::string& a, const std::string& b) {
  if (a == b) return true;
  const TensorData* ta = index.Constant(a);
  const TensorData* tb = index.Constant(b);
  return ta != nullptr && tb != nullptr && ta->dtype == tb->dtype && ta->dims == tb->dims &&
         ta->bytes == tb->bytes;
}

bool OneElement(const TensorData* t) { return t != nullptr && NumElements(t->dims) == 1; }

// The activation side: xd = DQ(Q(x)). Fills x, its scale and zero point, and the nodes to drop.
bool MatchActivation(const GraphIndex& index, const std::string& xd, std::string* x,
                     std::string* sx, std::string* zx, DType* x_type,
                     std::vector<const Node*>* nodes) {
  const Node* dq = index.Producer(xd);
  if (!IsOp(dq, "DequantizeLinear")) return false;
  const Node* q = index.Producer(dq->inputs[0]);
  if (!IsOp(q, "QuantizeLinear")) return false;
  *sx = dq->inputs[1];
  *zx = InputOr(*dq, 2);
  if (!SameConstant(index, *sx, q->inputs[1]) || !OneElement(index.Constant(*sx))) return false;
  if (zx->empty() != InputOr(*q, 2).empty()) return false;
  if (!zx->empty() &&
      (!SameConstant(index, *zx, InputOr(*q, 2)) || !OneElement(index.Constant(*zx))))
    return false;
  const TensorType* qt = index.Type(q->outputs[0]);
  if (qt == nullptr || (qt->dtype != DType::kUint8 && qt->dtype != DType::kInt8)) return false;
  *x_type = qt->dtype;
  *x = q->inputs[0];
  nodes->push_back(dq);  // named in the fused node; removed later, when dead
  nodes->push_back(q);
  return true;
}

// The weight side: wd = DQ(W constant int8/uint8 2-D, sw, zw), per tensor or per output column.
bool MatchWeight(const GraphIndex& index, const std::string& wd, bool trans_b, std::string* w,
                 std::string* sw, std::string* zw, int64_t* n, std::vector<const Node*>* nodes) {
  const Node* dq = index.Producer(wd);
  if (!IsOp(dq, "DequantizeLinear") || !index.SingleUse(wd)) return false;
  const TensorData* wt = index.Constant(dq->inputs[0]);
  const TensorData* st = index.Constant(dq->inputs[1]);
  if (wt == nullptr || st == nullptr || wt->dims.size() != 2) return false;
  if (wt->dtype != DType::kInt8 && wt->dtype != DType::kUint8) return false;
  *n = trans_b ? wt->dims[0] : wt->dims[1];
  const int64_t params = NumElements(st->dims);
  if (params != 1) {
    const int64_t axis = IntAttr(*dq, "axis", 1);
    const int64_t column_axis = trans_b ? 0 : 1;
    if ((axis != column_axis && axis != column_axis - 2) || params != *n) return false;
  }
  *zw = InputOr(*dq, 2);
  if (!zw->empty() && index.Constant(*zw) == nullptr) return false;
  *w = dq->inputs[0];
  *sw = dq->inputs[1];
  nodes->push_back(dq);
  return true;
}

// QuantizeLinear's default zero point (0 of x_type) for activation x, as an initializer in
// `added`; readers of one shared x get the same one.
std::string DefaultZeroPoint(const GraphIndex& index, const std::string& x, DType x_type,
                             std::vector<TensorData>* added) {
  const std::string base = x + "_fused_zero_point";
  for (const TensorData& t : *added) {
    if (t.name.compare(0, base.size(), base) == 0 && t.dtype == x_type) return t.name;
  }
  TensorData zero;
  zero.name = base;
  auto taken = [&](const std::string& name) {
    if (index.Type(name) != nullptr || index.Constant(name) != nullptr) return true;
    for (const TensorData& t : *added) {
      if (t.name == name) return true;
    }
    return false;
  };
  while (taken(zero.name)) zero.name += "_";
  zero.dtype = x_type;
  zero.bytes = {0};
  added->push_back(std::move(zero));
  return added->back().name;
}

// `added` receives a zero-point initializer when the QDQ pair had none.
bool Match(const GraphIndex& index, const Node& node, std::vector<TensorData>* added,
           Rewrite* rewrite) {
  const bool gemm = IsOp(&node, "Gemm");
  if (!gemm && !IsOp(&node, "MatMul")) return false;
  if (gemm && IntAttr(node, "transA", 0) != 0) return false;
  const bool trans_b = gemm && IntAttr(node, "transB", 0) != 0;
  std::vector<const Node*> activation_nodes, nodes;
  std::string x, sx, zx, w, sw, zw;
  DType x_type = DType::kUint8;
  int64_t n = 0;
  if (!MatchActivation(index, node.inputs[0], &x, &sx, &zx, &x_type, &activation_nodes) ||
      !MatchWeight(index, node.inputs[1], trans_b, &w, &sw, &zw, &n, &nodes)) {
    return false;
  }
  const std::string c = gemm ? InputOr(node, 2) : "";
  if (!c.empty() && !IsBiasConstant(index, c, n)) return false;
  LinearTail tail;
  MatchLinearTail(index, node.outputs[0], n, c.empty(), &tail);
  nodes.push_back(&node);
  nodes.insert(nodes.end(), tail.nodes.begin(), tail.nodes.end());
  if (zx.empty()) zx = DefaultZeroPoint(index, x, x_type, added);
  for (const Node* p : nodes) rewrite->remove.push_back(index.IndexOf(p));
  nodes.insert(nodes.begin(), activation_nodes.begin(), activation_nodes.end());
  Node& fused = rewrite->node;
  fused.name = FusedName(nodes);
  fused.op_type = "QuantizedLinear";
  fused.domain = kInternalDomain;
  fused.inputs = {x, sx, zx, w, sw, zw};
  const std::string& bias = !c.empty() ? c : tail.bias;
  if (!bias.empty()) fused.inputs.push_back(bias);
  fused.outputs = {tail.output};
  fused.attributes = tail.attributes;
  fused.attributes.push_back(IntAttribute("trans_b", trans_b ? 1 : 0));
  if (gemm) {
    fused.attributes.push_back(FloatAttribute("alpha", FloatAttr(node, "alpha", 1.0f)));
    fused.attributes.push_back(
        FloatAttribute("beta", !c.empty() ? FloatAttr(node, "beta", 1.0f) : 1.0f));
  }
  return true;
}

}  // namespace

int FuseQdqLinear(Graph* graph, const ValueTypes& types) {
  std::vector<Rewrite> rewrites;
  std::vector<TensorData> added;
  {
    const GraphIndex index(*graph, types);
    for (const Node& node : graph->nodes) {
      Rewrite r;
      if (Match(index, node, &added, &r)) rewrites.push_back(std::move(r));
    }
  }  // removed: each weight DQ (single-use) and the linear tail; the activation Q/DQ die later
  for (TensorData& t : added) graph->initializers.push_back(std::move(t));
  return ApplyRewrites(graph, std::move(rewrites));
}

}  // namespace sluice::engine
