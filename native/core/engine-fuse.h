// Graph-level fusion passes, run at load on a checked, constant-folded graph (engine-load.cc).
// Each pass rewrites every match of its pattern into one node and returns how many it fused. A
// pattern only matches when each tensor it swallows has no reader outside the pattern and is not
// a graph output, so a fused graph computes what the original did, up to float rounding (the
// fusion tests compare against optimize=false). The fused node is named after the nodes it
// replaces, joined by '+', which Describe() shows.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine-model.h"
#include "sluice/graph.h"

namespace sluice::engine {

// Read-only lookups over a graph's wiring and constants. Invalidated by any edit of the graph.
class GraphIndex {
 public:
  GraphIndex(const Graph& graph, const ValueTypes& types);

  // The node producing `name`, or null for inputs, initializers and omitted names.
  const Node* Producer(const std::string& name) const;
  // True when exactly one node input reads `name` and it is not a graph output.
  bool SingleUse(const std::string& name) const;
  size_t Uses(const std::string& name) const;
  // The only node reading `name` (when SingleUse), else null.
  const Node* SoleConsumer(const std::string& name) const;
  const TensorData* Constant(const std::string& name) const;
  // The value of a one-element float constant; false if `name` is not one.
  bool ConstantScalar(const std::string& name, float* out) const;
  // Rank from load-time inference; -1 if unknown.
  int64_t Rank(const std::string& name) const;
  const TensorType* Type(const std::string& name) const;
  // Position of `node` in graph.nodes.
  size_t IndexOf(const Node* node) const { return static_cast<size_t>(node - graph_.nodes.data()); }

 private:
  const Graph& graph_;
  const ValueTypes& types_;
  std::unordered_map<std::string, const Node*> producer_;
  std::unordered_map<std::string, std::vector<const Node*>> consumers_;
  std::unordered_map<std::string, const TensorData*> constants_;
  std::unordered_map<std::string, bool> graph_outputs_;
};

// One fusion: the nodes to delete (indices into graph.nodes) and the node replacing them.
struct Rewrite {
  std::vector<size_t> remove;
  Node node;
};

// Applies non-overlapping rewrites: removed nodes go, fused nodes are appended (LoadModel sorts
// again). Returns the number applied.
int ApplyRewrites(Graph* graph, std::vector<Rewrite> rewrites);

// A pattern: true, with *rewrite filled, when `node` anchors a match in the indexed graph.
using MatchFn = bool (*)(const GraphIndex& index, const Node& node, Rewrite* rewrite);
// One pass of `match`: every match is found on the unmodified graph, then all are applied
// (ApplyRewrites). Each pattern anchors a match on a node of its own and swallows only
// single-use tensors, so matches never overlap. Returns the number applied.
int RewriteMatches(Graph* graph, const ValueTypes& types, MatchFn match);

// Name for a fused node: the replaced nodes' names (or first outputs) joined by '+'.
std::string FusedName(const std::vector<const Node*>& nodes);

// For a two-input node reading `known`, the other input ("" if `known` is not an input). A node
// reading the same tensor twice yields it.
std::string OtherInput(const Node& node, const std::string& known);
// True when node is op_type in the default domain.
bool IsOp(const Node* node, const char* op_type);
// The node's input i, or "" when it has fewer inputs (an omitted optional input).
const std::string& InputOr(const Node& node, size_t i);

// True when `a` is within relative 1e-5 of `b` (pattern constants such as sqrt(2)).
bool NearlyEqual(float a, float b);
// The sole reader of `product` when it only scales it by a constant float scalar (Div by c, or
// Mul by c in either order: the attention's 1 / sqrt(d)), with *alpha = 1 / c or c; else null.
const Node* MatchScalarScale(const GraphIndex& index, const std::string& product, float* alpha);

// What a linear layer's output flows into, as both linear fusions absorb it: an optional Add of
// a constant float bias with N elements (only when allow_bias), then an optional activation.
struct LinearTail {
  std::vector<const Node*> nodes;     // the absorbed Add / activation nodes
  std::string bias;                   // "" = none
  std::string output;                 // the fused node's output
  std::vector<Attribute> attributes;  // activation / act_alpha for the fused node
};
void MatchLinearTail(const GraphIndex& index, const std::string& linear_out, int64_t n,
                     bool allow_bias, LinearTail* tail);
// True when `name` is a constant float tensor of N elements shaped [N] or [1, N].
bool IsBiasConstant(const GraphIndex& index, const std::string& name, int64_t n);
Attribute IntAttribute(const char* name, int64_t value);
Attribute FloatAttribute(const char* name, float value);
Attribute IntsAttribute(const char* name, const std::vector<int64_t>& values);
// The value of an int/float attribute of `node`, or `fallback` when absent or of another kind.
int64_t IntAttr(const Node& node, const char* name, int64_t fallback);
float FloatAttr(const Node& node, const char* name, float fallback);

// ReduceMean(x) -> Sub -> Pow 2 -> ReduceMean -> Add eps -> Sqrt -> Div [-> Mul gamma] [-> Add
// beta]  =>  LayerNormalization.
int FuseLayerNorm(Graph* graph, const ValueTypes& types);
// Add(a, b) read only by a LayerNormalization(X, gamma [, beta]) with only Y  =>
// AddLayerNormalization(a, b, gamma [, beta]): the residual Add of a post-norm transformer,
// formed row by row where it is normalised.
int FuseAddLayerNorm(Graph* graph, const ValueTypes& types);
// x * 0.5 * (1 + Erf(x / sqrt2)) in any association  =>  Gelu.
int FuseGelu(Graph* graph, const ValueTypes& types);
// MatMul/Gemm(DQ(Q(x)), DQ(int8 weights)) [+ bias] [+ activation]  =>  QuantizedLinear.
int FuseQdqLinear(Graph* graph, const ValueTypes& types);
// DynamicQuantizeLinear(x) -> MatMulInteger(W int8/uint8 const) -> Cast(float) -> Mul by
// (x_scale * w_scale const) [+ bias] [+ activation]  =>  DynamicQuantizedLinear (ONNX Runtime's
// quantize_dynamic output); per_row: its x_quantization attribute (EngineOptions).
int FuseDynamicQuantLinear(Graph* graph, const ValueTypes& types, bool per_row);
// DequantizeLinear(QuantizeLinear(x, s, z), s, z), per tensor, that no linear fusion took (the
// activation x activation MatMuls of attention)  =>  FakeQuantize(x, s, z): one float pass with
// the same rounding instead of two passes and a uint8 tensor.
int FuseFakeQuantize(Graph* graph, const ValueTypes& types);
// MatMul(FakeQuantize(a), FakeQuantize(b)) [-> Div / Mul by a constant scalar]  =>
// QuantizedMatMul: the attention products on the INT8 GEMM, exact in int32.
int FuseQuantizedMatMul(Graph* graph, const ValueTypes& types);
// QuantizedLinear / DynamicQuantizedLinear whose float output only feeds a static
// QuantizedLinear  =>  the producer writes that layer's quantized X itself (y_scale / y_zp).
int FuseQuantizedChains(Graph* graph, const ValueTypes& types);
// MatMul(x, W const) [+ Add bias] [+ activation], Gemm(x, W const, C) [+ activation]
//   =>  FusedLinear.
int FuseLinear(Graph* graph, const ValueTypes& types);
// MatMul of rank-4 FP32 tensors whose operands come from Transposes (axis 0 kept) [-> Div / Mul
// by a constant scalar] [-> Transpose]  =>  PermutedMatMul (op-permuted-matmul.cc), which reads
// and writes the transposed layouts as GEMM strides: the head split and merge of attention.
int FusePermutedMatMul(Graph* graph, const ValueTypes& types);

// Drops nodes none of whose outputs is read or is a graph output (e.g. a QuantizeLinear whose
// readers were all fused). Returns the number removed.
int RemoveDeadNodes(Graph* graph);

// All passes in dependency order (Gelu before the linear passes that absorb it as an
// activation; FakeQuantize after the QDQ pass, on the pairs it left). Types of surviving
// tensors stay valid: fusion never renames a kept tensor. `options` picks the dynamic
// quantization mode of fused layers.
void RunFusionPasses(Graph* graph, const ValueTypes& types, const EngineOptions& options);

}  // namespace sluice::engine
