// Shape helpers of the reference kernels (public: BroadcastShapes, MatMulShape, NormalizeAxis)
// and the private broadcast planner of ref-internal.h.
#include <string>

#include "ref-internal.h"
#include "sluice/kernels/reference.h"

namespace sluice::kernels {
namespace internal {

std::string ShapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Status CheckedCount(const Shape& shape, size_t elem_size, const char* what, int64_t* count) {
  if (!ElementCount(shape, elem_size, count)) {
    return InvalidArgument(std::string(what) + " shape " + ShapeString(shape) +
                           " has a negative dim or too many elements");
  }
  return Status::Ok();
}

int64_t DimProduct(const Shape& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= shape[i];
  return n;
}

Status PlanBroadcast(const Shape& out, const std::vector<const Shape*>& inputs, BroadcastPlan* plan) {
  const size_t rank = out.size();
  // Full-rank strides per input, right-aligned against `out`.
  std::vector<std::vector<int64_t>> full(inputs.size(), std::vector<int64_t>(rank, 0));
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Shape& in = *inputs[k];
    if (in.size() > rank) {
      return InvalidArgument("shape " + ShapeString(in) + " does not broadcast to " + ShapeString(out));
    }
    const size_t lead = rank - in.size();
    int64_t stride = 1;
    for (size_t i = in.size(); i-- > 0;) {
      const int64_t d = in[i];
      if (d != out[lead + i] && d != 1) {
        return InvalidArgument("shape " + ShapeString(in) + " does not broadcast to " + ShapeString(out));
      }
      full[k][lead + i] = d == 1 ? 0 : stride;
      stride *= d;
    }
  }
  // Collapse: size-1 output dims are dropped (every input has stride 0 there), and a dim merges
  // into the one outside it when every input steps across the boundary as a dense run would.
  plan->dims.clear();
  plan->strides.assign(inputs.size(), std::vector<int64_t>());
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;
    bool merge = !plan->dims.empty();
    for (size_t k = 0; k < inputs.size() && merge; ++k) {
      merge = plan->strides[k].back() == full[k][i] * out[i];
    }
    if (merge) {
      plan->dims.back() *= out[i];
      for (size_t k = 0; k < inputs.size(); ++k) plan->strides[k].back() = full[k][i];
    } else {
      plan->dims.push_back(out[i]);
      for (size_t k = 0; k < inputs.size(); ++k) plan->strides[k].push_back(full[k][i]);
    }
  }
  if (plan->dims.empty()) {  // a scalar or all-ones output: one element
    plan->dims.push_back(1);
    for (auto& s : plan->strides) s.push_back(0);
  }
  return Status::Ok();
}

}  // namespace internal

bool NormalizeAxis(int64_t axis, int64_t rank, int64_t* out) {
  if (rank < 0 || axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

Status BroadcastShapes(const Shape& a, const Shape& b, Shape* out) {
  const size_t rank = a.size() > b.size() ? a.size() : b.size();
  Shape result(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned: missing leading dims act as 1.
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da < 0 || db < 0) {
      return InvalidArgument("negative dim in broadcast of " + internal::ShapeString(a) + " and " +
                             internal::ShapeString(b));
    }
    if (da != db && da != 1 && db != 1) {
      return InvalidArgument("shapes " + internal::ShapeString(a) + " and " + internal::ShapeString(b) +
                             " do not broadcast (dim " + std::to_string(i) + ")");
    }
    result[i] = da == 1 ? db : da;  // 1 broadcasts to anything, including 0
  }
  *out = std::move(result);
  return Status::Ok();
}

Status MatMulShape(const Shape& a, const Shape& b, Shape* out) {
  if (a.empty() || b.empty()) {
    return InvalidArgument("MatMul operands must have rank >= 1, got " + internal::ShapeString(a) + " and " +
                           internal::ShapeString(b));
  }
  for (const Shape* s : {&a, &b}) {
    for (int64_t d : *s) {
      if (d < 0) return InvalidArgument("MatMul: negative dim in " + internal::ShapeString(*s));
    }
  }
  // numpy promotion: a 1-D a is [1,K], a 1-D b is [K,1]; the added dim is dropped afterwards.
  const Shape pa = a.size() == 1 ? Shape{1, a[0]} : a;
  const Shape pb = b.size() == 1 ? Shape{b[0], 1} : b;
  const int64_t k_a = pa[pa.size() - 1];
  const int64_t k_b = pb[pb.size() - 2];
  if (k_a != k_b) {
    return InvalidArgument("MatMul inner dims differ: " + internal::ShapeString(a) + " x " +
                           internal::ShapeString(b));
  }
  Shape batch;
  RETURN_IF_ERROR(BroadcastShapes(Shape(pa.begin(), pa.end() - 2), Shape(pb.begin(), pb.end() - 2), &batch));
  if (a.size() != 1) batch.push_back(pa[pa.size() - 2]);
  if (b.size() != 1) batch.push_back(pb[pb.size() - 1]);
  *out = std::move(batch);
  return Status::Ok();
}

}  // namespace sluice::kernels
