#include "graph-check.h"

#include <functional>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "op-util.h"
#include "op.h"

namespace sluice::engine {
namespace {

bool DefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

// Kahn's algorithm over the producer map; nodes left over sit on (or behind) a cycle.
void TopoSort(const Graph& graph, const std::unordered_map<std::string, size_t>& producer,
              std::vector<Status>* problems, std::vector<size_t>* order) {
  const size_t n = graph.nodes.size();
  std::vector<size_t> pending(n, 0);
  std::vector<std::vector<size_t>> consumers(n);
  for (size_t i = 0; i < n; ++i) {
    for (const std::string& in : graph.nodes[i].inputs) {
      auto it = producer.find(in);
      if (it == producer.end()) continue;  // graph input, initializer or omitted
      ++pending[i];
      consumers[it->second].push_back(i);
    }
  }
  // Smallest index first, so the order follows the graph's own where it can (stable plans and
  // Describe output).
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    order->push_back(i);
    for (size_t c : consumers[i]) {
      if (--pending[c] == 0) ready.push(c);
    }
  }
  if (order->size() == n) return;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] != 0) {
      problems->push_back(InvalidArgument(NodeLabel(graph.nodes[i]) + " is part of a cycle"));
      break;
    }
  }
  order->clear();
}

}  // namespace

Status CheckTensorData(const TensorData& t, const std::string& what) {
  const size_t elem = DTypeSize(t.dtype);
  if (elem == 0) return Unimplemented(what + ": dtype " + DTypeName(t.dtype) + " not supported");
  int64_t n = 0;
  if (!ElementCount(t.dims, elem, &n))
    return InvalidArgument(what + ": invalid dims " + ShapeString(t.dims));
  if (t.bytes.size() != static_cast<size_t>(n) * elem) {
    return InvalidArgument(what + ": " + std::to_string(t.bytes.size()) + " bytes, expected " +
                           std::to_string(static_cast<size_t>(n) * elem) + " for " +
                           DTypeName(t.dtype) + ShapeString(t.dims));
  }
  return Status::Ok();
}

void CheckGraph(const Graph& graph, bool allow_internal, std::vector<Status>* problems,
                std::vector<size_t>* order) {
  order->clear();
  if (graph.opset < kMinOpset) {
    problems->push_back(Unimplemented("opset " + std::to_string(graph.opset) + " < " +
                                      std::to_string(kMinOpset) + " minimum"));
  } else if (graph.opset > kMaxOpset) {
    problems->push_back(Unimplemented("opset " + std::to_string(graph.opset) + " > " +
                                      std::to_string(kMaxOpset) + " maximum"));
  }
  bool wiring_ok = true;
  // Every tensor name and what defines it: graph inputs, initializers, node outputs.
  std::unordered_set<std::string> defined;
  for (const TensorData& t : graph.initializers) {
    if (t.name.empty() || !defined.insert(t.name).second) {
      problems->push_back(InvalidArgument("initializer '" + t.name + "' is unnamed or duplicated"));
    }
    Status s = CheckTensorData(t, "initializer '" + t.name + "'");
    if (!s.ok()) problems->push_back(std::move(s));
  }
  std::unordered_set<std::string> input_names;
  for (const ValueInfo& v : graph.inputs) {
    if (v.name.empty() || !input_names.insert(v.name).second) {
      problems->push_back(InvalidArgument("graph input '" + v.name + "' is unnamed or duplicated"));
    }
    // An input with an initializer of the same name (IR < 4 style) is that constant.
    if (defined.count(v.name) != 0) continue;
    defined.insert(v.name);
    if (DTypeSize(v.dtype) == 0) {
      problems->push_back(Unimplemented("graph input '" + v.name + "': dtype " +
                                        DTypeName(v.dtype) + " not supported"));
    }
    for (int64_t d : v.dims) {
      if (d < -1)
        problems->push_back(
            InvalidArgument("graph input '" + v.name + "': invalid dim " + std::to_string(d)));
    }
  }
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (!DefaultDomain(node.domain) && !(allow_internal && node.domain == kInternalDomain)) {
      problems->push_back(Unimplemented("unsupported op " + node.domain + "." + node.op_type));
    }
    std::unordered_set<std::string> attr_names;
    for (const Attribute& a : node.attributes) {
      if (!attr_names.insert(a.name).second) {
        problems->push_back(
            InvalidArgument(NodeLabel(node) + ": attribute '" + a.name + "' given twice"));
      }
    }
    for (const std::string& out : node.outputs) {
      if (out.empty()) continue;
      if (defined.count(out) != 0 || producer.count(out) != 0) {
        problems->push_back(
            InvalidArgument(NodeLabel(node) + ": output '" + out + "' is already defined"));
        wiring_ok = false;
      }
      producer.emplace(out, i);
    }
  }
  for (const Node& node : graph.nodes) {
    for (const std::string& in : node.inputs) {
      if (!in.empty() && defined.count(in) == 0 && producer.count(in) == 0) {
        problems->push_back(
            InvalidArgument(NodeLabel(node) + ": input '" + in + "' is not defined"));
        wiring_ok = false;
      }
    }
  }
  std::unordered_set<std::string> output_names;
  if (graph.outputs.empty()) problems->push_back(InvalidArgument("graph has no outputs"));
  for (const ValueInfo& v : graph.outputs) {
    if (!output_names.insert(v.name).second) {
      problems->push_back(InvalidArgument("graph output '" + v.name + "' is listed twice"));
    }
    if (defined.count(v.name) == 0 && producer.count(v.name) == 0) {
      problems->push_back(InvalidArgument("graph output '" + v.name + "' is not produced"));
    }
  }
  if (wiring_ok) TopoSort(graph, producer, problems, order);
}

}  // namespace sluice::engine
