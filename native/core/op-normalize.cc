// Softmax, LayerNormalization (and the fused AddLayerNormalization) and ReduceMean over float
// tensors. Softmax over the last axis and LayerNormalization without statistics outputs run on
// the vectorised row kernels (row-kernels.h), the rest on the reference kernels.
#include <algorithm>
#include <memory>
#include <string>

#include "op-attrs.h"
#include "op-factories.h"
#include "op-fast-paths.h"
#include "op-util.h"
#include "sluice/kernels/reference.h"
#include "sluice/row-kernels.h"

namespace sluice::engine {
namespace {

Status AxisIn(int64_t axis, const Shape& shape, int64_t* out) {
  if (!kernels::NormalizeAxis(axis, static_cast<int64_t>(shape.size()), out)) {
    return InvalidArgument("axis " + std::to_string(axis) + " out of range for shape " +
                           ShapeString(shape));
  }
  return Status::Ok();
}

class Softmax final : public Op {
 public:
  explicit Softmax(int64_t axis) : axis_(axis) {}

  bool RowWise(const std::vector<TensorRef>& in, const std::vector<bool>&) const override {
    int64_t axis = 0;
    return AxisIn(axis_, *in[0].shape, &axis).ok() && axis != 0;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "input", {DType::kFloat}));
    int64_t axis = 0;
    RETURN_IF_ERROR(AxisIn(axis_, *in[0].shape, &axis));
    (*out)[0] = {DType::kFloat, *in[0].shape};
    return Status::Ok();
  }
  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const Shape& shape = *in[0].shape;
    const float* x = static_cast<const float*>(in[0].data);
    float* y = static_cast<float*>(out[0].data);
    int64_t axis = 0;
    kernels::NormalizeAxis(axis_, static_cast<int64_t>(shape.size()), &axis);  // checked by Infer
    if (axis + 1 == static_cast<int64_t>(shape.size()) && shape.back() > 0) {  // rows: row kernel
      const int64_t n = shape.back();
      return SoftmaxRows(x, static_cast<size_t>(NumElements(shape) / n), static_cast<size_t>(n), y,
                         env.pool);
    }
    return kernels::Softmax(x, shape, axis_, y);
  }
  std::string Details() const override { return "axis=" + std::to_string(axis_); }

 private:
  int64_t axis_;
};

// Drops leading 1s, so a scale of shape [1, D] matches normalised dims [D].
Shape Squeezed(const Shape& s) {
  size_t i = 0;
  while (i < s.size() && s[i] == 1) ++i;
  return Shape(s.begin() + i, s.end());
}

// Inputs: X, Scale, B (optional). Outputs: Y, Mean (optional), InvStdDev (optional).
// With `add` (the internal AddLayerNormalization, made by FuseAddLayerNorm from a residual Add in
// front of a LayerNormalization): inputs A, B, Scale, Bias (optional), X = A + B, and Y only.
class LayerNorm final : public Op {
 public:
  LayerNorm(int64_t axis, float epsilon, bool add) : axis_(axis), epsilon_(epsilon), add_(add) {}

  bool RowWise(const std::vector<TensorRef>& in, const std::vector<bool>&) const override {
    Shape x;
    int64_t axis = 0;
    return XShape(in, &x).ok() && AxisIn(axis_, x, &axis).ok() && axis != 0;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    const size_t first_param = add_ ? 2 : 1;
    RETURN_IF_ERROR(RequireDType(in[0], add_ ? "A" : "X", {DType::kFloat}));
    if (add_) RETURN_IF_ERROR(RequireDType(in[1], "B", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[first_param], "Scale", {DType::kFloat}));
    Shape x;
    RETURN_IF_ERROR(XShape(in, &x));
    int64_t axis = 0;
    RETURN_IF_ERROR(AxisIn(axis_, x, &axis));
    const Shape normalized = Squeezed(Shape(x.begin() + axis, x.end()));
    // The kernel takes scale/bias with exactly the normalised dims; general broadcasting of
    // scale (allowed by ONNX, never emitted by exporters) is not implemented.
    for (size_t i = first_param; i < in.size(); ++i) {
      if (!in[i].present()) continue;
      const char* what = i == first_param ? "Scale" : add_ ? "Bias" : "B";
      RETURN_IF_ERROR(RequireDType(in[i], what, {DType::kFloat}));
      if (Squeezed(*in[i].shape) != normalized) {
        return Unimplemented("scale/bias shape " + ShapeString(*in[i].shape) +
                             " must equal the normalised dims " + ShapeString(normalized));
      }
    }
    (*out)[0] = {DType::kFloat, x};
    Shape stats(x.begin(), x.begin() + axis);
    stats.resize(x.size(), 1);
    for (size_t i = 1; i < out->size(); ++i) (*out)[i] = {DType::kFloat, stats};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const size_t first_param = add_ ? 2 : 1;
    const Shape& shape = *out[0].shape;
    const float* scale = static_cast<const float*>(in[first_param].data);
    const float* bias = in.size() > first_param + 1 && in[first_param + 1].present()
                            ? static_cast<const float*>(in[first_param + 1].data)
                            : nullptr;
    float* y = static_cast<float*>(out[0].data);
    int64_t axis = 0;
    kernels::NormalizeAxis(axis_, static_cast<int64_t>(shape.size()), &axis);  // checked by Infer
    const int64_t n = NumElements(Shape(shape.begin() + axis, shape.end()));
    const size_t rows = n > 0 ? static_cast<size_t>(NumElements(shape) / n) : 0;
    const float* x = static_cast<const float*>(in[0].data);
    if (add_) {
      const float* b = static_cast<const float*>(in[1].data);
      if (*in[0].shape == shape && *in[1].shape == shape) {
        return AddLayerNormRows(x, b, rows, static_cast<size_t>(n), epsilon_, scale, bias, y,
                                env.pool);
      }
      // An operand broadcast along the sum (shapes the fusion could not rule out statically):
      // the sum in y, then normalised in place.
      RETURN_IF_ERROR(
          BinaryF32(kernels::BinaryOp::kAdd, x, *in[0].shape, b, *in[1].shape, shape, y, env.pool));
      x = y;
    }
    if (out.size() == 1 && n > 0) {  // no statistics asked for: the vectorised row kernel
      return LayerNormRows(x, rows, static_cast<size_t>(n), epsilon_, scale, bias, y, env.pool);
    }
    auto optional_out = [&](size_t i) {
      return i < out.size() ? static_cast<float*>(out[i].data) : nullptr;
    };
    return kernels::LayerNorm(x, shape, axis_, epsilon_, scale, bias, y, optional_out(1),
                              optional_out(2));
  }

  std::string Details() const override {
    return "axis=" + std::to_string(axis_) + " epsilon=" + std::to_string(epsilon_);
  }

 private:
  // The normalised tensor's shape: X's, or A and B broadcast.
  Status XShape(const std::vector<TensorRef>& in, Shape* x) const {
    if (!add_) {
      *x = *in[0].shape;
      return Status::Ok();
    }
    return kernels::BroadcastShapes(*in[0].shape, *in[1].shape, x);
  }

  int64_t axis_;
  float epsilon_;
  bool add_;
};

// axes come from the attribute (opset < 18) or from a constant input (opset >= 18).
class ReduceMean final : public Op {
 public:
  ReduceMean(bool axes_from_input, std::vector<int64_t> axes, bool keepdims,
             bool noop_with_empty_axes)
      : axes_from_input_(axes_from_input),
        axes_(std::move(axes)),
        keepdims_(keepdims),
        noop_(noop_with_empty_axes) {}

  bool RowWise(const std::vector<TensorRef>& in, const std::vector<bool>&) const override {
    std::vector<int64_t> axes;
    if (!Axes(in, &axes).ok() || axes.empty()) return false;  // empty: all axes, or a no-op
    for (int64_t a : axes) {
      int64_t axis = 0;
      if (!AxisIn(a, *in[0].shape, &axis).ok() || axis == 0) return false;
    }
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "data", {DType::kFloat}));
    std::vector<int64_t> axes;
    RETURN_IF_ERROR(Axes(in, &axes));
    const Shape& x = *in[0].shape;
    std::vector<bool> reduced(x.size(), axes.empty() && !noop_);
    for (int64_t a : axes) {
      int64_t axis = 0;
      RETURN_IF_ERROR(AxisIn(a, x, &axis));
      reduced[axis] = true;
    }
    Shape y;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!reduced[i])
        y.push_back(x[i]);
      else if (keepdims_)
        y.push_back(1);
    }
    (*out)[0] = {DType::kFloat, std::move(y)};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    std::vector<int64_t> axes;
    RETURN_IF_ERROR(Axes(in, &axes));
    Shape shape;
    return kernels::ReduceMean(static_cast<const float*>(in[0].data), *in[0].shape, axes, keepdims_,
                               noop_, static_cast<float*>(out[0].data), &shape);
  }

  std::string Details() const override {
    return (axes_from_input_ ? std::string("axes=input") : "axes=" + ShapeString(axes_)) +
           (keepdims_ ? " keepdims" : "");
  }

  // The axes reduced: the attribute, or the constant input at opset >= 18.
  Status Axes(const std::vector<TensorRef>& in, std::vector<int64_t>* axes) const {
    if (!axes_from_input_ || in.size() < 2 || !in[1].present()) {
      *axes = axes_;
      return Status::Ok();
    }
    return ConstInts(in[1], "axes", axes);
  }

 private:
  bool axes_from_input_;
  std::vector<int64_t> axes_;
  bool keepdims_;
  bool noop_;
};

}  // namespace

Status CreateSoftmaxOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"axis"}));
  int64_t axis = -1;
  RETURN_IF_ERROR(attrs.Int("axis", -1, &axis));
  *out = std::make_unique<Softmax>(axis);
  return Status::Ok();
}

Status CreateLayerNormOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"axis", "epsilon", "stash_type"}));
  int64_t axis = -1, stash_type = 1;
  float epsilon = 1e-5f;
  RETURN_IF_ERROR(attrs.Int("axis", -1, &axis));
  RETURN_IF_ERROR(attrs.Float("epsilon", 1e-5f, &epsilon));
  RETURN_IF_ERROR(attrs.Int("stash_type", 1, &stash_type));
  if (stash_type != 1)
    return Unimplemented("stash_type " + std::to_string(stash_type) + " (only float)");
  *out = std::make_unique<LayerNorm>(axis, epsilon, /*add=*/false);
  return Status::Ok();
}

Status CreateAddLayerNormOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"axis", "epsilon"}));
  int64_t axis = -1;
  float epsilon = 1e-5f;
  RETURN_IF_ERROR(attrs.Int("axis", -1, &axis));
  RETURN_IF_ERROR(attrs.Float("epsilon", 1e-5f, &epsilon));
  *out = std::make_unique<LayerNorm>(axis, epsilon, /*add=*/true);
  return Status::Ok();
}

Status CreateReduceMeanOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  const bool axes_from_input = opset >= 18;
  if (axes_from_input) {
    RETURN_IF_ERROR(attrs.OnlyKnown({"keepdims", "noop_with_empty_axes"}));
  } else {
    RETURN_IF_ERROR(attrs.OnlyKnown({"axes", "keepdims"}));
    if (node.inputs.size() > 1)
      return InvalidArgument("ReduceMean before opset 18 takes axes as an attribute");
  }
  int64_t keepdims = 1, noop = 0;
  std::vector<int64_t> axes;
  bool present = false;
  RETURN_IF_ERROR(attrs.Int("keepdims", 1, &keepdims));
  RETURN_IF_ERROR(attrs.Int("noop_with_empty_axes", 0, &noop));
  RETURN_IF_ERROR(attrs.Ints("axes", &axes, &present));
  *out = std::make_unique<ReduceMean>(axes_from_input, std::move(axes), keepdims != 0, noop != 0);
  return Status::Ok();
}

}  // namespace sluice::engine
