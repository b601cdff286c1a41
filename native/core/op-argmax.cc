// ArgMax (opset 11-13): the index of the largest element along `axis`, as int64, for float and
// integer inputs. Ties take the first index, or the last with select_last_index; a NaN counts as
// larger than any number (numpy's argmax, which the ONNX reference uses).
#include <cmath>
#include <memory>
#include <string>

#include "op-attrs.h"
#include "op-factories.h"
#include "op-util.h"
#include "sluice/kernels/reference.h"

namespace sluice::engine {
namespace {

template <typename T>
bool IsNan(T v) {
  return v != v;  // false for every integer type
}

// True when v replaces the current best of a scan in index order.
template <typename T>
bool Better(T v, T best, bool last) {
  if (IsNan(best)) return last && IsNan(v);
  if (IsNan(v)) return true;
  return v > best || (last && v == best);
}

// x viewed as [outer, n, inner]; y as [outer, inner].
template <typename T>
void ArgMaxOf(const T* x, int64_t outer, int64_t n, int64_t inner, bool last, int64_t* y) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* p = x + o * n * inner + i;
      int64_t best = 0;
      for (int64_t j = 1; j < n; ++j) {
        if (Better(p[j * inner], p[best * inner], last)) best = j;
      }
      y[o * inner + i] = best;
    }
  }
}

class ArgMax final : public Op {
 public:
  ArgMax(int64_t axis, bool keepdims, bool select_last)
      : axis_(axis), keepdims_(keepdims), select_last_(select_last) {}

  bool RowWise(const std::vector<TensorRef>& in, const std::vector<bool>&) const override {
    int64_t axis = 0;
    return Axis(*in[0].shape, &axis).ok() && axis != 0;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "data",
                                 {DType::kFloat, DType::kDouble, DType::kInt32, DType::kInt64,
                                  DType::kUint8, DType::kInt8}));
    const Shape& x = *in[0].shape;
    int64_t axis = 0;
    RETURN_IF_ERROR(Axis(x, &axis));
    if (x[axis] == 0) return InvalidArgument("ArgMax over an empty axis");
    Shape y;
    for (size_t d = 0; d < x.size(); ++d) {
      if (static_cast<int64_t>(d) != axis)
        y.push_back(x[d]);
      else if (keepdims_)
        y.push_back(1);
    }
    (*out)[0] = {DType::kInt64, std::move(y)};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    const Shape& x = *in[0].shape;
    int64_t axis = 0;
    RETURN_IF_ERROR(Axis(x, &axis));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x[d];
    for (size_t d = static_cast<size_t>(axis) + 1; d < x.size(); ++d) inner *= x[d];
    const int64_t n = x[axis];
    int64_t* y = static_cast<int64_t*>(out[0].data);
    const void* data = in[0].data;
    switch (in[0].dtype) {
      case DType::kFloat:
        ArgMaxOf(static_cast<const float*>(data), outer, n, inner, select_last_, y);
        break;
      case DType::kDouble:
        ArgMaxOf(static_cast<const double*>(data), outer, n, inner, select_last_, y);
        break;
      case DType::kInt32:
        ArgMaxOf(static_cast<const int32_t*>(data), outer, n, inner, select_last_, y);
        break;
      case DType::kInt64:
        ArgMaxOf(static_cast<const int64_t*>(data), outer, n, inner, select_last_, y);
        break;
      case DType::kUint8:
        ArgMaxOf(static_cast<const uint8_t*>(data), outer, n, inner, select_last_, y);
        break;
      case DType::kInt8:
        ArgMaxOf(static_cast<const int8_t*>(data), outer, n, inner, select_last_, y);
        break;
      default:
        return Unimplemented(std::string("ArgMax of ") + DTypeName(in[0].dtype));
    }
    return Status::Ok();
  }

  std::string Details() const override {
    return "axis=" + std::to_string(axis_) + (keepdims_ ? " keepdims" : "") +
           (select_last_ ? " last" : "");
  }

 private:
  Status Axis(const Shape& x, int64_t* axis) const {
    // A scalar has no axis to reduce; ONNX requires rank >= 1.
    if (x.empty() || !kernels::NormalizeAxis(axis_, static_cast<int64_t>(x.size()), axis)) {
      return InvalidArgument("axis " + std::to_string(axis_) + " out of range for shape " +
                             ShapeString(x));
    }
    return Status::Ok();
  }

  int64_t axis_;
  bool keepdims_;
  bool select_last_;
};

}  // namespace

Status CreateArgMaxOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"axis", "keepdims", "select_last_index"}));
  int64_t axis = 0, keepdims = 1, select_last = 0;
  RETURN_IF_ERROR(attrs.Int("axis", 0, &axis));
  RETURN_IF_ERROR(attrs.Int("keepdims", 1, &keepdims));
  RETURN_IF_ERROR(attrs.Int("select_last_index", 0, &select_last));
  *out = std::make_unique<ArgMax>(axis, keepdims != 0, select_last != 0);
  return Status::Ok();
}

}  // namespace sluice::engine
