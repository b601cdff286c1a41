#include "sluice/graph.h"

namespace sluice {

std::string NodeLabel(const Node& node) {
  if (!node.name.empty()) return "node '" + node.name + "' (" + node.op_type + ")";
  if (!node.outputs.empty() && !node.outputs[0].empty()) {
    return "node producing '" + node.outputs[0] + "' (" + node.op_type + ")";
  }
  return "unnamed node (" + node.op_type + ")";
}

}  // namespace sluice
