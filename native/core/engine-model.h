// A loaded model: the optimized graph as steps over numbered values, with its constants. Built
// once by LoadModel (engine-load.cc) and then read-only, shared by every Run and plan.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "op.h"
#include "sluice/engine.h"
#include "sluice/graph.h"
#include "sluice/status.h"

namespace sluice::engine {

enum class ValueKind { kInput, kConstant, kIntermediate };

struct Value {
  std::string name;  // "" for an omitted node output the op still writes
  ValueKind kind = ValueKind::kIntermediate;
  DType dtype = DType::kUndefined;
  Shape dims;        // inferred at load; -1 where the dim follows a dynamic input dim
  size_t index = 0;  // kInput: position in Model::inputs; kConstant: in Model::constants
};

struct Step {
  std::string label;  // NodeLabel of the node, for errors
  std::string name;   // node name, or its first output when unnamed (Describe)
  std::string op_type;
  std::unique_ptr<Op> op;
  std::vector<int> inputs;   // value ids; -1 = omitted optional input
  std::vector<int> outputs;  // value ids (omitted outputs get an unnamed value)
};

struct Model {
  std::vector<Value> values;
  std::vector<TensorData> constants;  // owned bytes read by every run
  std::vector<Step> steps;            // topological order
  std::vector<int> input_values;      // value id of each graph input
  std::vector<int> output_values;     // value id of each graph output
  std::vector<ValueInfo> inputs, outputs;
};

// Types of every tensor in a graph, computed while folding constants: name -> dtype and the
// shape with dynamic input dims probed at 1 (ranks and static dims are exact).
using ValueTypes = std::unordered_map<std::string, TensorType>;

struct FoldOptions {
  bool collect_all = false;     // keep going past problems (Engine::Unsupported)
  bool allow_internal = false;  // accept the engine's fused ops (a graph after fusion)
  // Leave DequantizeLinear of constant int8/uint8 tensors unfolded, for the QDQ fusion.
  bool keep_weight_dequantize = false;
};

// Validates `graph`, folds every node whose inputs are all constant into an initializer and
// infers every tensor's type (*types). Appends each problem to *problems, naming the node or
// tensor; stops at the first unless options.collect_all.
void FoldAndCheck(Graph* graph, const FoldOptions& options, std::vector<Status>* problems,
                  ValueTypes* types);

// The whole load: FoldAndCheck, the fusion passes (when options.optimize), then the Model with
// ops prepared. Errors name the node or tensor.
Status LoadModel(Graph graph, const EngineOptions& options, Model* model);

// Types every value of `model` for concrete `input_shapes` (in Model::inputs order): inputs take
// those shapes, constants their dims, intermediates what their op's Infer returns (constant data
// visible, so Reshape shapes resolve). Checks every size fits in memory. Errors name the step.
Status InferTypes(const Model& model, const std::vector<Shape>& input_shapes,
                  std::vector<TensorType>* types);

}  // namespace sluice::engine
