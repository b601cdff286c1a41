#include "engine-chunk.h"

#include <algorithm>
#include <vector>

#include "engine-plan.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

constexpr int64_t kProbeA = 2, kProbeB = 3;

std::vector<Shape> ProbeShapes(const Model& model, int64_t rows) {
  std::vector<Shape> shapes;
  for (const ValueInfo& info : model.inputs) {
    Shape s = info.dims;
    s[0] = rows;
    shapes.push_back(std::move(s));
  }
  return shapes;
}

// True when `a` (probed at kProbeA rows) and `b` (at kProbeB) show the batch as axis 0 and
// nothing else following it.
bool BatchAtAxis0(const Shape& a, const Shape& b) {
  if (a.empty() || a.size() != b.size() || a[0] != kProbeA || b[0] != kProbeB) return false;
  for (size_t d = 1; d < a.size(); ++d) {
    if (a[d] != b[d]) return false;
  }
  return true;
}

// Whether every step keeps rows apart; fills *batched per value.
bool RowSeparable(const Model& model, std::vector<bool>* batched) {
  for (const ValueInfo& info : model.inputs) {
    if (info.dims.empty() || info.dims[0] != -1) return false;
    for (size_t d = 1; d < info.dims.size(); ++d) {
      if (info.dims[d] < 0) return false;  // another dynamic dim: not only the batch varies
    }
  }
  if (model.inputs.empty()) return false;
  std::vector<TensorType> a, b;
  if (!InferTypes(model, ProbeShapes(model, kProbeA), &a).ok() ||
      !InferTypes(model, ProbeShapes(model, kProbeB), &b).ok()) {
    return false;
  }
  batched->assign(model.values.size(), false);
  for (size_t v = 0; v < model.values.size(); ++v) {
    if (a[v].shape == b[v].shape) continue;
    if (!BatchAtAxis0(a[v].shape, b[v].shape)) return false;
    (*batched)[v] = true;
  }
  std::vector<TensorRef> in;
  std::vector<bool> in_batched;
  for (const Step& step : model.steps) {
    in.assign(step.inputs.size(), TensorRef{});
    in_batched.assign(step.inputs.size(), false);
    bool any = false;
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const int v = step.inputs[i];
      if (v < 0) continue;
      const Value& value = model.values[v];
      in[i] = {value.dtype, &a[v].shape,
               value.kind == ValueKind::kConstant ? model.constants[value.index].bytes.data()
                                                  : nullptr};
      in_batched[i] = (*batched)[v];
      any = any || in_batched[i];
    }
    if (!any) continue;  // computes the same for every batch (constants, shapes)
    // A batched input that yields an unbatched output (a reduction over the batch, a scalar
    // scale) mixes rows whatever the op.
    for (int v : step.outputs) {
      if (!(*batched)[v]) return false;
    }
    if (!step.op->RowWise(in, in_batched)) return false;
  }
  for (int v : model.output_values) {
    if (!(*batched)[v]) return false;
  }
  return true;
}

}  // namespace

size_t ChunkRows(const Model& model, size_t arena_budget_bytes) {
  std::vector<bool> batched;
  if (arena_budget_bytes == 0 || !RowSeparable(model, &batched)) return 0;
  // Arena growth per row, from plans far enough apart that 64-byte alignment does not hide it.
  constexpr int64_t kSizeA = 64, kSizeB = 128;
  Plan a, b;
  if (!BuildPlan(model, ProbeShapes(model, kSizeA), &a).ok() ||
      !BuildPlan(model, ProbeShapes(model, kSizeB), &b).ok() || b.arena_bytes <= a.arena_bytes) {
    return 0;  // nothing grows with the batch: chunks would gain nothing
  }
  const size_t per_row = std::max<size_t>(1, (b.arena_bytes - a.arena_bytes) / (kSizeB - kSizeA));
  const size_t fixed = a.arena_bytes > kSizeA * per_row ? a.arena_bytes - kSizeA * per_row : 0;
  if (fixed >= arena_budget_bytes) return 1;
  return std::max<size_t>(1, (arena_budget_bytes - fixed) / per_row);
}

}  // namespace sluice::engine
