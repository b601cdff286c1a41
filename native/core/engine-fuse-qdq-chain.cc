// Quantized chains: a fused int8 layer (QuantizedLinear / DynamicQuantizedLinear) whose float
// output only feeds a static QuantizedLinear, which quantizes it with its own x_scale and
// x_zero_point, takes those two as its y_scale / y_zero_point and writes the quantized bytes
// itself (op-int8-linear.cc), in the INT8 GEMM's store when the kernel applies the layer's
// epilogue: the float tensor and the next layer's quantize pass over it disappear. The bytes
// are those QuantizeLinear gives (same rounding), so results do not change. Runs last, on
// the fused graph: QDQ MLPs chain every layer.
#include <string>
#include <vector>

#include "engine-fuse.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

bool IsInternal(const Node* node, const char* op_type) {
  return node != nullptr && node->op_type == op_type && node->domain == kInternalDomain;
}

bool Match(const GraphIndex& index, const Node& consumer, Rewrite* rewrite) {
  if (!IsInternal(&consumer, "QuantizedLinear") || consumer.inputs.size() < 3 ||
      consumer.inputs[2].empty()) {
    return false;
  }
  const std::string& x = consumer.inputs[0];
  const Node* producer = index.Producer(x);
  const bool is_static = IsInternal(producer, "QuantizedLinear");
  if (!(is_static || IsInternal(producer, "DynamicQuantizedLinear")) || !index.SingleUse(x))
    return false;
  const size_t y = is_static ? 7 : 5;  // the y_scale slot, after the bias
  if (producer->inputs.size() > y) return false;  // already quantizes its output
  Node fused = *producer;
  fused.inputs.resize(y);  // omitted optional inputs ("") up to the bias
  fused.inputs.push_back(consumer.inputs[1]);
  fused.inputs.push_back(consumer.inputs[2]);
  rewrite->node = std::move(fused);
  rewrite->remove = {index.IndexOf(producer)};
  return true;
}

}  // namespace

int FuseQuantizedChains(Graph* graph, const ValueTypes& types) {
  return RewriteMatches(graph, types, Match);
}

}  // namespace sluice::engine
