// LayerNormalization fusions:
// - the decomposition PyTorch exports for nn.LayerNorm,
//     mean = ReduceMean(x, trailing axes);  d = x - mean;  var = ReduceMean(Pow(d, 2));
//     n = d / Sqrt(var + eps);  [m = n * gamma];  [y = m + beta]
//   => LayerNormalization(x, gamma (ones if absent), beta, axis, epsilon);
// - a float Add read only by a LayerNormalization that outputs Y only (the residual connection
//   of a post-norm transformer layer) => AddLayerNormalization(a, b, gamma, beta, axis, epsilon).
#include <algorithm>
#include <cstring>

#include "engine-fuse.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

// The first reduced axis when `node` is a keepdims ReduceMean over the trailing axes
// [axis, rank) of a rank-`rank` input; -1 otherwise.
int64_t TrailingReduceAxis(const GraphIndex& index, const Node* node, int64_t opset) {
  if (!IsOp(node, "ReduceMean")) return -1;
  std::vector<int64_t> axes;
  for (const Attribute& a : node->attributes) {
    if (a.name == "keepdims" && (a.kind != Attribute::Kind::kInt || a.i != 1)) return -1;
    if (a.name == "axes" && a.kind == Attribute::Kind::kInts) axes = a.ints;
    if (a.name == "noop_with_empty_axes") return -1;
  }
  if (opset >= 18) {
    const TensorData* t = node->inputs.size() > 1 ? index.Constant(node->inputs[1]) : nullptr;
    if (t == nullptr || t->dtype != DType::kInt64) return -1;
    axes.resize(t->bytes.size() / sizeof(int64_t));
    if (!axes.empty()) std::memcpy(axes.data(), t->bytes.data(), t->bytes.size());
  }
  const int64_t rank = index.Rank(node->inputs[0]);
  if (axes.empty() || rank <= 0) return -1;
  for (int64_t& a : axes) a = a < 0 ? a + rank : a;
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] != rank - static_cast<int64_t>(axes.size()) + static_cast<int64_t>(i)) return -1;
  }
  return axes[0];
}

// A constant float tensor whose dims equal x's dims [axis, rank) (leading 1s ignored).
bool IsAffineParam(const GraphIndex& index, const std::string& name, const std::string& x,
                   int64_t axis) {
  const TensorData* t = index.Constant(name);
  const TensorType* xt = index.Type(x);
  if (t == nullptr || t->dtype != DType::kFloat || xt == nullptr) return false;
  Shape want(xt->shape.begin() + axis, xt->shape.end());
  Shape got = t->dims;
  while (!got.empty() && got[0] == 1 && got.size() > want.size()) got.erase(got.begin());
  return got == want;
}

// `added` receives the ones-scale initializer when the pattern has no gamma.
bool Match(const GraphIndex& index, int64_t opset, const Node& div, std::vector<TensorData>* added,
           Rewrite* rewrite) {
  const std::string& d = div.inputs[0];
  const Node* sub = index.Producer(d);
  const Node* sqrt = index.Producer(div.inputs[1]);
  if (!IsOp(sub, "Sub") || !IsOp(sqrt, "Sqrt") || index.Uses(d) != 2) return false;
  const std::string& x = sub->inputs[0];
  const Node* mean = index.Producer(sub->inputs[1]);
  const int64_t axis = TrailingReduceAxis(index, mean, opset);
  if (axis < 0 || mean->inputs[0] != x || !index.SingleUse(sub->inputs[1])) return false;
  const Node* add_eps = index.Producer(sqrt->inputs[0]);
  if (!IsOp(add_eps, "Add") || !index.SingleUse(sqrt->outputs[0]) ||
      !index.SingleUse(add_eps->outputs[0])) {
    return false;
  }
  float eps = 0;
  const Node* var = index.Producer(add_eps->inputs[0]);
  if (!index.ConstantScalar(add_eps->inputs[1], &eps)) {
    var = index.Producer(add_eps->inputs[1]);
    if (!index.ConstantScalar(add_eps->inputs[0], &eps)) return false;
  }
  if (TrailingReduceAxis(index, var, opset) != axis || !index.SingleUse(var->outputs[0]))
    return false;
  const Node* pow = index.Producer(var->inputs[0]);
  float exponent = 0;
  if (!IsOp(pow, "Pow") || pow->inputs[0] != d ||
      !index.ConstantScalar(pow->inputs[1], &exponent) || exponent != 2.0f ||
      !index.SingleUse(pow->outputs[0])) {
    return false;
  }
  std::vector<const Node*> nodes = {mean, sub, pow, var, add_eps, sqrt, &div};
  std::string y = div.outputs[0], gamma, beta;
  const Node* mul = index.SoleConsumer(y);
  if (IsOp(mul, "Mul") && IsAffineParam(index, OtherInput(*mul, y), x, axis)) {
    gamma = OtherInput(*mul, y);
    nodes.push_back(mul);
    y = mul->outputs[0];
    const Node* add = index.SoleConsumer(y);
    if (IsOp(add, "Add") && IsAffineParam(index, OtherInput(*add, y), x, axis)) {
      beta = OtherInput(*add, y);
      nodes.push_back(add);
      y = add->outputs[0];
    }
  }
  if (gamma.empty()) {  // LayerNormalization requires a scale: ones of the normalised dims
    const TensorType* xt = index.Type(x);
    TensorData ones;
    ones.name = y + "_fused_scale";
    while (index.Type(ones.name) != nullptr || index.Constant(ones.name) != nullptr)
      ones.name += "_";
    ones.dtype = DType::kFloat;
    ones.dims.assign(xt->shape.begin() + axis, xt->shape.end());
    std::vector<float> values(static_cast<size_t>(NumElements(ones.dims)), 1.0f);
    ones.bytes.resize(values.size() * sizeof(float));
    std::memcpy(ones.bytes.data(), values.data(), ones.bytes.size());
    gamma = ones.name;
    added->push_back(std::move(ones));
  }
  for (const Node* n : nodes) rewrite->remove.push_back(index.IndexOf(n));
  Node& ln = rewrite->node;
  ln.name = FusedName(nodes);
  ln.op_type = "LayerNormalization";
  ln.domain = kInternalDomain;  // not bound by the model's opset (LayerNormalization is opset 17)
  ln.inputs = {x, gamma};
  if (!beta.empty()) ln.inputs.push_back(beta);
  ln.outputs = {y};
  Attribute a_axis;
  a_axis.name = "axis";
  a_axis.kind = Attribute::Kind::kInt;
  a_axis.i = axis;
  Attribute a_eps;
  a_eps.name = "epsilon";
  a_eps.kind = Attribute::Kind::kFloat;
  a_eps.f = eps;
  ln.attributes = {a_axis, a_eps};
  return true;
}

bool IsFloat(const GraphIndex& index, const std::string& name) {
  const TensorType* t = index.Type(name);
  return t != nullptr && t->dtype == DType::kFloat;
}

// Anchored on the LayerNormalization (the standard op or the one FuseLayerNorm made).
bool MatchAddLayerNorm(const GraphIndex& index, const Node& ln, Rewrite* rewrite) {
  if (ln.op_type != "LayerNormalization" || (!ln.domain.empty() && ln.domain != kInternalDomain)) {
    return false;
  }
  for (size_t i = 1; i < ln.outputs.size(); ++i) {  // Mean / InvStdDev are not computed
    if (!ln.outputs[i].empty()) return false;
  }
  for (const Attribute& a : ln.attributes) {
    if (a.name != "axis" && a.name != "epsilon" && !(a.name == "stash_type" && a.i == 1)) return false;
  }
  const std::string& sum = ln.inputs[0];
  const Node* add = index.Producer(sum);
  if (!IsOp(add, "Add") || !index.SingleUse(sum) || !IsFloat(index, add->inputs[0]) ||
      !IsFloat(index, add->inputs[1])) {
    return false;
  }
  rewrite->remove = {index.IndexOf(add), index.IndexOf(&ln)};
  Node& fused = rewrite->node;
  fused.name = FusedName({add, &ln});
  fused.op_type = "AddLayerNormalization";
  fused.domain = kInternalDomain;
  fused.inputs = {add->inputs[0], add->inputs[1], ln.inputs[1]};
  if (!InputOr(ln, 2).empty()) fused.inputs.push_back(ln.inputs[2]);
  fused.outputs = {ln.outputs[0]};
  fused.attributes = {IntAttribute("axis", IntAttr(ln, "axis", -1)),
                      FloatAttribute("epsilon", FloatAttr(ln, "epsilon", 1e-5f))};
  return true;
}

}  // namespace

int FuseAddLayerNorm(Graph* graph, const ValueTypes& types) {
  return RewriteMatches(graph, types, MatchAddLayerNorm);
}

int FuseLayerNorm(Graph* graph, const ValueTypes& types) {
  std::vector<Rewrite> rewrites;
  std::vector<TensorData> added;
  {
    const GraphIndex index(*graph, types);
    // New initializers wait in `added`: graph->initializers must not move under the index.
    for (const Node& node : graph->nodes) {
      Rewrite r;
      if (IsOp(&node, "Div") && Match(index, graph->opset, node, &added, &r))
        rewrites.push_back(std::move(r));
    }
  }  // anchored on the single Div of each pattern: matches never overlap
  for (TensorData& t : added) graph->initializers.push_back(std::move(t));
  return ApplyRewrites(graph, std::move(rewrites));
}

}  // namespace sluice::engine
