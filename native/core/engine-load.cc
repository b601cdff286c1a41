// Engine load: validate and fold constants (FoldAndCheck), fuse, then number values and build
// the prepared ops of the Model.
#include <unordered_map>
#include <unordered_set>

#include "engine-fuse.h"
#include "engine-model.h"
#include "graph-check.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

Status Prefixed(const std::string& label, const Status& s) {
  return Status(s.code(), label + ": " + s.message());
}

// Runs a node whose inputs are all constant and appends its outputs to the initializers.
Status FoldNode(const Node& node, Op* op, const std::vector<TensorRef>& in,
                const std::vector<TensorType>& types, std::vector<TensorData>* initializers) {
  RETURN_IF_ERROR(op->Prepare(in));
  std::vector<TensorData> results(types.size());
  std::vector<OutRef> out(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    int64_t n = 0;
    ElementCount(types[i].shape, DTypeSize(types[i].dtype), &n);  // checked by the caller
    results[i] = {node.outputs[i], types[i].dtype, types[i].shape,
                  std::vector<uint8_t>(static_cast<size_t>(n) * DTypeSize(types[i].dtype))};
    out[i] = {types[i].dtype, &results[i].dims, results[i].bytes.data()};
  }
  if (op->aliasing() == Aliasing::kView) {
    results[0].bytes.assign(static_cast<const uint8_t*>(in[0].data),
                            static_cast<const uint8_t*>(in[0].data) + results[0].bytes.size());
  } else {
    std::vector<uint64_t> scratch((op->ScratchBytes(in) + 7) / 8);
    ThreadPool single(1);
    RETURN_IF_ERROR(op->Run(in, out, RunEnv{&single, scratch.data()}));
  }
  for (TensorData& t : results) {
    if (!t.name.empty()) initializers->push_back(std::move(t));
  }
  return Status::Ok();
}

}  // namespace

void FoldAndCheck(Graph* graph, const FoldOptions& options, std::vector<Status>* problems,
                  ValueTypes* types) {
  const bool collect_all = options.collect_all;
  std::vector<size_t> order;
  CheckGraph(*graph, options.allow_internal, problems, &order);
  if (order.empty() || (!collect_all && !problems->empty())) return;

  // Tensors whose type or bytes cannot be trusted (a problem was reported for them, or for the
  // node producing them): nodes reading them are skipped, never run on bad data.
  std::unordered_set<std::string> unknown;
  std::unordered_map<std::string, size_t> constant;  // name -> initializer index
  for (size_t i = 0; i < graph->initializers.size(); ++i) {
    const TensorData& t = graph->initializers[i];
    if (!CheckTensorData(t, t.name).ok()) unknown.insert(t.name);
    constant.emplace(t.name, i);
    (*types)[t.name] = {t.dtype, t.dims};
  }
  for (const ValueInfo& v : graph->inputs) {
    if (constant.count(v.name) != 0) continue;
    Shape probe = v.dims;
    for (int64_t& d : probe) d = d < 0 ? 1 : d;  // dynamic dims probed at 1
    int64_t n = 0;
    if (!ElementCount(probe, DTypeSize(v.dtype), &n) || DTypeSize(v.dtype) == 0)
      unknown.insert(v.name);
    (*types)[v.name] = {v.dtype, std::move(probe)};
  }
  std::vector<bool> folded(graph->nodes.size(), false);
  for (size_t index : order) {
    const Node& node = graph->nodes[index];
    auto fail = [&](const Status& s) {
      problems->push_back(Prefixed(NodeLabel(node), s));
      for (const std::string& out : node.outputs) unknown.insert(out);
    };
    bool skip = false;
    for (const std::string& in : node.inputs) skip = skip || unknown.count(in) != 0;
    if (skip) {
      for (const std::string& out : node.outputs) unknown.insert(out);
      continue;
    }
    std::unique_ptr<Op> op;
    Status s = CreateOp(node, graph->opset, &op);
    std::vector<TensorRef> in(node.inputs.size());
    bool all_constant = true;
    for (size_t i = 0; s.ok() && i < node.inputs.size(); ++i) {
      if (node.inputs[i].empty()) continue;
      const TensorType& t = types->at(node.inputs[i]);
      auto c = constant.find(node.inputs[i]);
      const bool is_constant = c != constant.end();
      all_constant = all_constant && is_constant;
      in[i] = {t.dtype, &t.shape,
               is_constant ? graph->initializers[c->second].bytes.data() : nullptr};
    }
    std::vector<TensorType> out(node.outputs.size());
    if (s.ok()) s = op->Infer(in, &out);
    for (size_t i = 0; s.ok() && i < out.size(); ++i) {
      int64_t n = 0;
      if (!ElementCount(out[i].shape, DTypeSize(out[i].dtype), &n)) {
        s = InvalidArgument("output '" + node.outputs[i] + "' shape " + ShapeString(out[i].shape) +
                            " is invalid");
      }
    }
    // Folding appends to initializers: `in` points into them, so fold into a side vector.
    // Only once CreateOp accepted the node: a DequantizeLinear with no inputs has no in[0].
    if (s.ok() && options.keep_weight_dequantize && node.op_type == "DequantizeLinear" &&
        (in[0].dtype == DType::kInt8 || in[0].dtype == DType::kUint8)) {
      all_constant = false;
    }
    std::vector<TensorData> made;
    if (s.ok() && all_constant) s = FoldNode(node, op.get(), in, out, &made);
    if (!s.ok()) {
      fail(s);
      if (!collect_all) return;
      continue;
    }
    for (size_t i = 0; i < out.size(); ++i) {
      if (!node.outputs[i].empty()) (*types)[node.outputs[i]] = std::move(out[i]);
    }
    for (TensorData& t : made) {
      constant.emplace(t.name, graph->initializers.size());
      graph->initializers.push_back(std::move(t));
    }
    folded[index] = all_constant;
  }
  for (const ValueInfo& v : graph->outputs) {
    auto it = types->find(v.name);
    if (v.dtype != DType::kUndefined && unknown.count(v.name) == 0 && it != types->end() &&
        it->second.dtype != v.dtype) {
      problems->push_back(InvalidArgument("graph output '" + v.name + "' is declared " +
                                          DTypeName(v.dtype) + " but is " +
                                          DTypeName(it->second.dtype)));
      if (!collect_all) return;
    }
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    if (!folded[i]) kept.push_back(std::move(graph->nodes[i]));
  }
  graph->nodes = std::move(kept);
}

namespace {

// Numbers the values of a checked graph and creates its steps (in `order`).
Status BuildSteps(Graph& graph, const std::vector<size_t>& order, Model* model) {
  std::unordered_map<std::string, int> ids;
  auto add = [&](Value v) {
    const int id = static_cast<int>(model->values.size());
    if (!v.name.empty()) ids.emplace(v.name, id);
    model->values.push_back(std::move(v));
    return id;
  };
  std::unordered_map<std::string, TensorData*> initializer;
  for (TensorData& t : graph.initializers) initializer.emplace(t.name, &t);
  for (const ValueInfo& v : graph.inputs) {
    if (initializer.count(v.name) != 0) continue;
    model->input_values.push_back(
        add({v.name, ValueKind::kInput, v.dtype, v.dims, model->inputs.size()}));
    model->inputs.push_back(v);
  }
  // Constants are moved in on first use, so initializers nothing reads are dropped.
  auto lookup = [&](const std::string& name) {
    auto it = ids.find(name);
    if (it != ids.end()) return it->second;
    TensorData* t = initializer.at(name);
    const int id = add({name, ValueKind::kConstant, t->dtype, t->dims, model->constants.size()});
    model->constants.push_back(std::move(*t));
    return id;
  };
  for (size_t index : order) {
    Node& node = graph.nodes[index];
    Step step;
    step.label = NodeLabel(node);
    step.name = node.name.empty() ? node.outputs[0] : node.name;
    step.op_type = node.op_type;
    Status s = CreateOp(node, graph.opset, &step.op);
    if (!s.ok()) return Prefixed(step.label, s);
    for (const std::string& in : node.inputs) step.inputs.push_back(in.empty() ? -1 : lookup(in));
    for (const std::string& out : node.outputs)
      step.outputs.push_back(add({out, ValueKind::kIntermediate, DType::kUndefined, {}, 0}));
    model->steps.push_back(std::move(step));
  }
  for (const ValueInfo& v : graph.outputs) {
    model->output_values.push_back(lookup(v.name));
    model->outputs.push_back(v);
  }
  return Status::Ok();
}

// Fills every value's dtype and dims (-1 where a dynamic input dim flows) and prepares the
// ops' constant weights.
Status TypeAndPrepare(Model* model) {
  std::vector<Shape> probe1, probe2;
  for (const ValueInfo& v : model->inputs) {
    probe1.push_back(v.dims);
    probe2.push_back(v.dims);
    for (int64_t& d : probe1.back()) d = d < 0 ? 1 : d;
    for (int64_t& d : probe2.back()) d = d < 0 ? 2 : d;
  }
  std::vector<TensorType> types1, types2;
  RETURN_IF_ERROR(InferTypes(*model, probe1, &types1));
  // Best effort: a graph may only work with its dynamic dims at 1 (a hard-coded reshape).
  const bool second = InferTypes(*model, probe2, &types2).ok();
  for (size_t v = 0; v < model->values.size(); ++v) {
    Value& value = model->values[v];
    if (value.kind != ValueKind::kIntermediate) continue;
    value.dtype = types1[v].dtype;
    value.dims = types1[v].shape;
    for (size_t d = 0; second && d < value.dims.size(); ++d) {
      if (types2[v].shape.size() != value.dims.size() || types2[v].shape[d] != value.dims[d])
        value.dims[d] = -1;
    }
  }
  for (size_t i = 0; i < model->outputs.size(); ++i) {
    ValueInfo& info = model->outputs[i];
    const Value& value = model->values[model->output_values[i]];
    info.dtype = value.dtype;
    info.dims = value.dims;
  }
  std::vector<TensorRef> in;
  for (Step& step : model->steps) {
    in.assign(step.inputs.size(), TensorRef{});
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      if (step.inputs[i] < 0) continue;
      const Value& value = model->values[step.inputs[i]];
      const bool constant = value.kind == ValueKind::kConstant;
      in[i] = {value.dtype, &types1[step.inputs[i]].shape,
               constant ? model->constants[value.index].bytes.data() : nullptr};
    }
    Status s = step.op->Prepare(in);
    if (!s.ok()) return Prefixed(step.label, s);
  }
  return Status::Ok();
}

}  // namespace

Status LoadModel(Graph graph, const EngineOptions& options, Model* model) {
  std::vector<Status> problems;
  ValueTypes types;
  FoldOptions fold;
  fold.keep_weight_dequantize = options.optimize;
  FoldAndCheck(&graph, fold, &problems, &types);
  if (!problems.empty()) return problems[0];
  if (options.optimize) {
    RunFusionPasses(&graph, types, options);
    // Folds what fusion left (weight DequantizeLinear outside a QDQ pattern) and re-checks.
    fold.allow_internal = true;
    fold.keep_weight_dequantize = false;
    types.clear();
    FoldAndCheck(&graph, fold, &problems, &types);
    if (!problems.empty())
      return Internal("graph invalid after optimization: " + problems[0].ToString());
  }
  std::vector<size_t> order;
  CheckGraph(graph, true, &problems, &order);
  if (!problems.empty())
    return Internal("graph invalid after optimization: " + problems[0].ToString());
  RETURN_IF_ERROR(BuildSteps(graph, order, model));
  return TypeAndPrepare(model);
}

}  // namespace sluice::engine
