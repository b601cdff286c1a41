#include <string>

#include "engine-model.h"
#include "op-util.h"

namespace sluice::engine {

Status InferTypes(const Model& model, const std::vector<Shape>& input_shapes,
                  std::vector<TensorType>* types) {
  types->assign(model.values.size(), TensorType{});
  for (size_t v = 0; v < model.values.size(); ++v) {
    const Value& value = model.values[v];
    if (value.kind == ValueKind::kInput) (*types)[v] = {value.dtype, input_shapes[value.index]};
    if (value.kind == ValueKind::kConstant)
      (*types)[v] = {value.dtype, model.constants[value.index].dims};
  }
  std::vector<TensorRef> in;
  std::vector<TensorType> out;
  for (const Step& step : model.steps) {
    in.assign(step.inputs.size(), TensorRef{});
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const int v = step.inputs[i];
      if (v < 0) continue;
      const Value& value = model.values[v];
      in[i] = {
          (*types)[v].dtype, &(*types)[v].shape,
          value.kind == ValueKind::kConstant ? model.constants[value.index].bytes.data() : nullptr};
    }
    out.assign(step.outputs.size(), TensorType{});
    Status s = step.op->Infer(in, &out);
    if (!s.ok()) return Status(s.code(), step.label + ": " + s.message());
    for (size_t i = 0; i < step.outputs.size(); ++i) {
      int64_t n = 0;
      if (!ElementCount(out[i].shape, DTypeSize(out[i].dtype), &n)) {
        return InvalidArgument(step.label + ": output " + std::to_string(i) + " shape " +
                               ShapeString(out[i].shape) + " is invalid or too large");
      }
      (*types)[step.outputs[i]] = std::move(out[i]);
    }
  }
  return Status::Ok();
}

}  // namespace sluice::engine
