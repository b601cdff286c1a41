// Structural checks of a Graph, before any op is built: opset range, names, dtypes and byte sizes
// of inputs and initializers, every node input produced by something, every tensor produced once,
// no cycles. Yields the nodes in a topological order.
#pragma once

#include <cstddef>
#include <vector>

#include "sluice/graph.h"
#include "sluice/status.h"

namespace sluice::engine {

inline constexpr int64_t kMinOpset = 7;
inline constexpr int64_t kMaxOpset = 25;

// Appends every problem found to *problems (INVALID_ARGUMENT for malformed graphs, UNIMPLEMENTED
// for valid ONNX the engine does not run), each message naming the node or tensor. When the
// wiring is sound (no dangling input, duplicate producer or cycle), *order receives every node
// index in a topological order; otherwise it is left empty. allow_internal accepts the
// engine's fused ops (kInternalDomain): true only for graphs the engine's own passes rewrote.
void CheckGraph(const Graph& graph, bool allow_internal, std::vector<Status>* problems,
                std::vector<size_t>* order);

// Checks a constant's dtype and that its byte size matches its dims. `what` names it in messages.
Status CheckTensorData(const TensorData& t, const std::string& what);

}  // namespace sluice::engine
