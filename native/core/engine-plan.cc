#include "engine-plan.h"

#include <algorithm>

#include "engine-arena.h"
#include "op-util.h"

namespace sluice::engine {

Status BuildPlan(const Model& model, const std::vector<Shape>& input_shapes, Plan* plan) {
  std::vector<TensorType> types;
  RETURN_IF_ERROR(InferTypes(model, input_shapes, &types));
  const size_t n_values = model.values.size(), n_steps = model.steps.size();
  plan->shapes.resize(n_values);
  std::vector<size_t> bytes(n_values);
  for (size_t v = 0; v < n_values; ++v) {
    bytes[v] = static_cast<size_t>(NumElements(types[v].shape)) * DTypeSize(types[v].dtype);
    plan->shapes[v] = std::move(types[v].shape);
  }
  // Liveness: the last step reading each value; graph outputs live past the last step.
  const size_t kEnd = n_steps;
  std::vector<size_t> last_use(n_values, 0);
  for (size_t s = 0; s < n_steps; ++s) {
    for (int v : model.steps[s].inputs) {
      if (v >= 0) last_use[v] = s;
    }
  }
  for (int v : model.output_values) last_use[v] = kEnd;

  // Every value maps to a root: itself, or the value whose bytes it shares (view / in place).
  // Buffers are the arena-resident roots, alive from their defining step to the last use of
  // any value sharing them.
  std::vector<int> root(n_values);
  std::vector<size_t> def(n_values, 0), root_last(n_values, 0);
  for (size_t v = 0; v < n_values; ++v) {
    root[v] = static_cast<int>(v);
    root_last[v] = last_use[v];
  }
  auto in_arena = [&](int v) { return model.values[v].kind == ValueKind::kIntermediate; };
  plan->runs.assign(n_steps, true);
  for (size_t s = 0; s < n_steps; ++s) {
    const Step& step = model.steps[s];
    const Aliasing aliasing = step.op->aliasing();
    const int in0 = step.inputs.empty() ? -1 : step.inputs[0];
    for (size_t i = 0; i < step.outputs.size(); ++i) {
      const int out = step.outputs[i];
      int r = out;
      if (i == 0 && in0 >= 0 && aliasing == Aliasing::kView) {
        r = root[in0];
        plan->runs[s] = false;
      } else if (i == 0 && in0 >= 0 && aliasing == Aliasing::kInPlace && in_arena(root[in0]) &&
                 bytes[out] == bytes[in0] && root_last[root[in0]] == s) {
        r = root[in0];  // this step is the last reader of every value sharing the buffer
      } else {
        def[out] = s;
        root_last[out] = std::max(s, last_use[out]);  // written even if never read
      }
      root[out] = r;
      root_last[r] = std::max(root_last[r], last_use[out]);
    }
  }

  std::vector<BufferLifetime> buffers;
  std::vector<size_t> buffer_of(n_values, 0);
  for (size_t v = 0; v < n_values; ++v) {
    if (root[v] != static_cast<int>(v) || !in_arena(static_cast<int>(v))) continue;
    buffer_of[v] = buffers.size();
    buffers.push_back({bytes[v], def[v], root_last[v]});
  }
  const size_t first_scratch = buffers.size();
  std::vector<TensorRef> in;
  for (size_t s = 0; s < n_steps; ++s) {
    const Step& step = model.steps[s];
    in.assign(step.inputs.size(), TensorRef{});
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const int v = step.inputs[i];
      if (v >= 0) in[i] = {model.values[v].dtype, &plan->shapes[v], nullptr};
    }
    buffers.push_back({plan->runs[s] ? step.op->ScratchBytes(in) : 0, s, s});
  }
  const ArenaLayout layout = PlaceBuffers(buffers);
  plan->arena_bytes = layout.bytes;
  plan->intermediate_bytes = 0;
  for (size_t b = 0; b < first_scratch; ++b) plan->intermediate_bytes += buffers[b].bytes;
  plan->scratch_offsets.assign(layout.offsets.begin() + first_scratch, layout.offsets.end());

  plan->locations.resize(n_values);
  for (size_t v = 0; v < n_values; ++v) {
    const Value& value = model.values[root[v]];
    switch (value.kind) {
      case ValueKind::kInput: plan->locations[v] = {Location::Kind::kInput, value.index}; break;
      case ValueKind::kConstant:
        plan->locations[v] = {Location::Kind::kConstant, value.index};
        break;
      case ValueKind::kIntermediate:
        plan->locations[v] = {Location::Kind::kArena, layout.offsets[buffer_of[root[v]]]};
        break;
    }
  }
  return Status::Ok();
}

}  // namespace sluice::engine
