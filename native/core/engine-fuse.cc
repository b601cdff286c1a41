#include "engine-fuse.h"

#include <cmath>
#include <cstring>

namespace sluice::engine {

GraphIndex::GraphIndex(const Graph& graph, const ValueTypes& types) : graph_(graph), types_(types) {
  for (const Node& node : graph.nodes) {
    for (const std::string& out : node.outputs) {
      if (!out.empty()) producer_[out] = &node;
    }
    for (const std::string& in : node.inputs) {
      if (!in.empty()) consumers_[in].push_back(&node);
    }
  }
  for (const TensorData& t : graph.initializers) constants_.emplace(t.name, &t);
  for (const ValueInfo& v : graph.outputs) graph_outputs_[v.name] = true;
}

const Node* GraphIndex::Producer(const std::string& name) const {
  auto it = producer_.find(name);
  return it == producer_.end() ? nullptr : it->second;
}

size_t GraphIndex::Uses(const std::string& name) const {
  auto it = consumers_.find(name);
  return (it == consumers_.end() ? 0 : it->second.size()) + graph_outputs_.count(name);
}

bool GraphIndex::SingleUse(const std::string& name) const {
  return Uses(name) == 1 && graph_outputs_.count(name) == 0;
}

const Node* GraphIndex::SoleConsumer(const std::string& name) const {
  return SingleUse(name) ? consumers_.at(name)[0] : nullptr;
}

const TensorData* GraphIndex::Constant(const std::string& name) const {
  auto it = constants_.find(name);
  return it == constants_.end() ? nullptr : it->second;
}

bool GraphIndex::ConstantScalar(const std::string& name, float* out) const {
  const TensorData* t = Constant(name);
  if (t == nullptr || t->dtype != DType::kFloat || t->bytes.size() != sizeof(float)) return false;
  std::memcpy(out, t->bytes.data(), sizeof(float));
  return true;
}

const TensorType* GraphIndex::Type(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

int64_t GraphIndex::Rank(const std::string& name) const {
  const TensorType* t = Type(name);
  return t == nullptr ? -1 : static_cast<int64_t>(t->shape.size());
}

int RewriteMatches(Graph* graph, const ValueTypes& types, MatchFn match) {
  std::vector<Rewrite> rewrites;
  {
    const GraphIndex index(*graph, types);
    for (const Node& node : graph->nodes) {
      Rewrite r;
      if (match(index, node, &r)) rewrites.push_back(std::move(r));
    }
  }
  return ApplyRewrites(graph, std::move(rewrites));
}

int ApplyRewrites(Graph* graph, std::vector<Rewrite> rewrites) {
  std::vector<bool> removed(graph->nodes.size(), false);
  for (const Rewrite& r : rewrites) {
    for (size_t i : r.remove) removed[i] = true;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    if (!removed[i]) kept.push_back(std::move(graph->nodes[i]));
  }
  for (Rewrite& r : rewrites) kept.push_back(std::move(r.node));
  graph->nodes = std::move(kept);
  return static_cast<int>(rewrites.size());
}

std::string FusedName(const std::vector<const Node*>& nodes) {
  std::string name;
  for (const Node* n : nodes) {
    const std::string& part = !n->name.empty() ? n->name : n->outputs[0];
    name += (name.empty() ? "" : "+") + part;
  }
  return name;
}

std::string OtherInput(const Node& node, const std::string& known) {
  if (node.inputs.size() != 2) return "";
  if (node.inputs[0] == known) return node.inputs[1];
  if (node.inputs[1] == known) return node.inputs[0];
  return "";
}

const std::string& InputOr(const Node& node, size_t i) {
  static const std::string kNone;
  return i < node.inputs.size() ? node.inputs[i] : kNone;
}

bool IsOp(const Node* node, const char* op_type) {
  // Ops a pass made (Gelu, LayerNormalization from their decomposed forms) live in the internal
  // domain, so the model's opset does not limit them, and later passes still match them.
  return node != nullptr && node->op_type == op_type &&
         (node->domain.empty() || node->domain == "ai.onnx" || node->domain == kInternalDomain);
}

bool NearlyEqual(float a, float b) { return std::fabs(a - b) <= 1e-5f * std::fabs(b); }

const Node* MatchScalarScale(const GraphIndex& index, const std::string& product, float* alpha) {
  const Node* next = index.SoleConsumer(product);
  if (next == nullptr) return nullptr;
  float c = 0;
  const bool div = IsOp(next, "Div") && next->inputs[0] == product &&
                   index.ConstantScalar(next->inputs[1], &c) && c != 0;
  const bool mul = IsOp(next, "Mul") && index.ConstantScalar(OtherInput(*next, product), &c);
  const TensorType* before = index.Type(product);
  const TensorType* after = index.Type(next->outputs[0]);
  // A scalar of higher rank than the product would broadcast it up: not a pure scale.
  if (!(div || mul) || before == nullptr || after == nullptr ||
      after->shape.size() != before->shape.size() || !std::isfinite(div ? 1.0f / c : c)) {
    return nullptr;
  }
  *alpha = div ? 1.0f / c : c;
  return next;
}

int RemoveDeadNodes(Graph* graph) {
  int removed = 0;
  for (bool changed = true; changed;) {
    changed = false;
    std::unordered_map<std::string, int> readers;
    for (const ValueInfo& v : graph->outputs) ++readers[v.name];
    for (const Node& node : graph->nodes) {
      for (const std::string& in : node.inputs) ++readers[in];
    }
    std::vector<Node> kept;
    for (Node& node : graph->nodes) {
      bool live = false;
      for (const std::string& out : node.outputs)
        live = live || (!out.empty() && readers.count(out) != 0);
      if (live) {
        kept.push_back(std::move(node));
      } else {
        changed = true;
        ++removed;
      }
    }
    graph->nodes = std::move(kept);
  }
  return removed;
}

void RunFusionPasses(Graph* graph, const ValueTypes& types, const EngineOptions& options) {
  FuseLayerNorm(graph, types);
  FuseGelu(graph, types);
  FuseQdqLinear(graph, types);
  FuseDynamicQuantLinear(graph, types,
                         options.dynamic_quantization == DynamicQuantization::kPerRow);
  RemoveDeadNodes(graph);  // the activation Q/DQ pairs and DynamicQuantizeLinears now unread
  FuseFakeQuantize(graph, types);
  FuseQuantizedMatMul(graph, types);
  FuseLinear(graph, types);
  // After FuseLinear: every MatMul by constant weights is a FusedLinear by then, so only the
  // products of two activations (attention) are left for it.
  FusePermutedMatMul(graph, types);
  // After the linear passes: a bias Add belongs in its layer's epilogue, not in a LayerNorm.
  FuseAddLayerNorm(graph, types);
  RemoveDeadNodes(graph);
  FuseQuantizedChains(graph, types);  // last: it reads the other passes' fused layers
}

}  // namespace sluice::engine
