// Data-movement ops. Reshape and Flatten are views (the planner aliases their output to their
// input and never calls Run); Transpose (block copies or a batched 2-D transpose when it reduces
// to one: op-fast-paths.h), Concat and Gather copy; Constant produces its value and
// is always folded at load.
#include <cstring>
#include <memory>
#include <string>

#include "op-attrs.h"
#include "op-factories.h"
#include "op-fast-paths.h"
#include "op-util.h"
#include "sluice/kernels/reference.h"

namespace sluice::engine {
namespace {

// Base of the view ops: Run is never called.
class ViewOp : public Op {
 public:
  Status Run(const std::vector<TensorRef>&, const std::vector<OutRef>&,
             const RunEnv&) const override {
    return Internal("a view op never runs");
  }
  Aliasing aliasing() const override { return Aliasing::kView; }
  // Reshape / Flatten keep the bytes; with axis 0 the batch in and out (checked by the engine)
  // and the other dims fixed, each row keeps its own bytes.
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }
};

class Reshape final : public ViewOp {
 public:
  explicit Reshape(bool allow_zero) : allow_zero_(allow_zero) {}

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    std::vector<int64_t> spec;
    RETURN_IF_ERROR(ConstInts(in[1], "shape", &spec));
    const Shape& x = *in[0].shape;
    Shape y(spec.size());
    int64_t known = 1;
    int infer_at = -1;
    for (size_t i = 0; i < spec.size(); ++i) {
      int64_t d = spec[i];
      if (d == 0 && !allow_zero_) {
        if (i >= x.size())
          return InvalidArgument("shape has 0 at " + std::to_string(i) + " beyond input rank");
        d = x[i];
      }
      if (d == -1) {
        if (infer_at >= 0) return InvalidArgument("shape has more than one -1");
        infer_at = static_cast<int>(i);
        continue;
      }
      if (d < 0) return InvalidArgument("shape has negative dim " + std::to_string(d));
      y[i] = d;
      if (__builtin_mul_overflow(known, d, &known))
        return InvalidArgument("shape " + ShapeString(Shape(spec)) + " overflows");
    }
    const int64_t total = NumElements(x);
    if (infer_at >= 0) {
      if (known == 0 || total % known != 0) {
        return InvalidArgument("cannot reshape " + ShapeString(x) + " to " +
                               ShapeString(Shape(spec)));
      }
      y[infer_at] = total / known;
    } else if (known != total) {
      return InvalidArgument("cannot reshape " + ShapeString(x) + " to " + ShapeString(y));
    }
    (*out)[0] = {in[0].dtype, std::move(y)};
    return Status::Ok();
  }
  std::string Details() const override { return allow_zero_ ? "allowzero" : ""; }

 private:
  bool allow_zero_;
};

class Flatten final : public ViewOp {
 public:
  explicit Flatten(int64_t axis) : axis_(axis) {}

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    const Shape& x = *in[0].shape;
    const int64_t rank = static_cast<int64_t>(x.size());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis > rank)
      return InvalidArgument("axis " + std::to_string(axis_) + " out of range");
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= x[i];
    (*out)[0] = {in[0].dtype, {outer, inner}};
    return Status::Ok();
  }
  std::string Details() const override { return "axis=" + std::to_string(axis_); }

 private:
  int64_t axis_;
};

class Transpose final : public Op {
 public:
  explicit Transpose(std::vector<int64_t> perm) : perm_(std::move(perm)) {}

  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return !perm_.empty() && perm_[0] == 0;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    if (DTypeSize(in[0].dtype) == 0) return RequireDType(in[0], "data", {});
    const Shape& x = *in[0].shape;
    std::vector<int64_t> perm = perm_;
    if (perm.empty()) {
      for (size_t i = x.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    }
    if (perm.size() != x.size())
      return InvalidArgument("perm has " + std::to_string(perm.size()) + " entries for rank " +
                             std::to_string(x.size()));
    std::vector<bool> seen(x.size(), false);
    Shape y(x.size());
    for (size_t i = 0; i < perm.size(); ++i) {
      const int64_t p = perm[i];
      if (p < 0 || p >= static_cast<int64_t>(x.size()) || seen[p]) {
        return InvalidArgument("perm is not a permutation of the input's axes");
      }
      seen[p] = true;
      y[i] = x[p];
    }
    (*out)[0] = {in[0].dtype, std::move(y)};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    if (FastTranspose(DTypeSize(in[0].dtype), in[0].data, *in[0].shape, perm_, out[0].data,
                      env.pool)) {
      return Status::Ok();
    }
    return kernels::Transpose(in[0].dtype, in[0].data, *in[0].shape, perm_, out[0].data);
  }
  std::string Details() const override { return "perm=" + ShapeString(perm_); }

 private:
  std::vector<int64_t> perm_;  // empty = reverse
};

class Concat final : public Op {
 public:
  explicit Concat(int64_t axis) : axis_(axis) {}

  bool RowWise(const std::vector<TensorRef>& in, const std::vector<bool>&) const override {
    int64_t axis = 0;
    return kernels::NormalizeAxis(axis_, static_cast<int64_t>(in[0].shape->size()), &axis) &&
           axis != 0;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    if (DTypeSize(in[0].dtype) == 0) return RequireDType(in[0], "0", {});
    const Shape& first = *in[0].shape;
    int64_t axis = 0;
    if (!kernels::NormalizeAxis(axis_, static_cast<int64_t>(first.size()), &axis)) {
      return InvalidArgument("axis " + std::to_string(axis_) + " out of range for rank " +
                             std::to_string(first.size()));
    }
    Shape y = first;
    for (size_t i = 1; i < in.size(); ++i) {
      const Shape& s = *in[i].shape;
      if (in[i].dtype != in[0].dtype) return InvalidArgument("inputs have different dtypes");
      bool ok = s.size() == first.size();
      for (size_t d = 0; ok && d < s.size(); ++d)
        ok = static_cast<int64_t>(d) == axis || s[d] == first[d];
      if (!ok)
        return InvalidArgument("input " + std::to_string(i) + " shape " + ShapeString(s) +
                               " does not match " + ShapeString(first));
      if (__builtin_add_overflow(y[axis], s[axis], &y[axis]))
        return InvalidArgument("concatenated dim overflows");
    }
    (*out)[0] = {in[0].dtype, std::move(y)};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    // The reference API takes vectors; fine for the small tensors Concat sees in these models.
    std::vector<const void*> xs;
    std::vector<Shape> shapes;
    for (const TensorRef& t : in) {
      xs.push_back(t.data);
      shapes.push_back(*t.shape);
    }
    return kernels::Concat(in[0].dtype, xs, shapes, axis_, out[0].data);
  }
  std::string Details() const override { return "axis=" + std::to_string(axis_); }

 private:
  int64_t axis_;
};

class Gather final : public Op {
 public:
  explicit Gather(int64_t axis) : axis_(axis) {}

  // An embedding lookup (batched indices into whole data), or a gather within each data row.
  bool RowWise(const std::vector<TensorRef>& in, const std::vector<bool>& batched) const override {
    int64_t axis = 0;
    if (!kernels::NormalizeAxis(axis_, static_cast<int64_t>(in[0].shape->size()), &axis))
      return false;
    return axis == 0 ? !batched[0] : !batched[1];
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    if (DTypeSize(in[0].dtype) == 0) return RequireDType(in[0], "data", {});
    RETURN_IF_ERROR(RequireDType(in[1], "indices", {DType::kInt32, DType::kInt64}));
    const Shape& data = *in[0].shape;
    int64_t axis = 0;
    if (!kernels::NormalizeAxis(axis_, static_cast<int64_t>(data.size()), &axis)) {
      return InvalidArgument("axis " + std::to_string(axis_) + " out of range for rank " +
                             std::to_string(data.size()));
    }
    Shape y(data.begin(), data.begin() + axis);
    y.insert(y.end(), in[1].shape->begin(), in[1].shape->end());
    y.insert(y.end(), data.begin() + axis + 1, data.end());
    (*out)[0] = {in[0].dtype, std::move(y)};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    return kernels::Gather(in[0].dtype, in[0].data, *in[0].shape, in[1].dtype, in[1].data,
                           *in[1].shape, axis_, out[0].data);
  }
  std::string Details() const override { return "axis=" + std::to_string(axis_); }

 private:
  int64_t axis_;
};

class Constant final : public Op {
 public:
  explicit Constant(TensorData value) : value_(std::move(value)) {}

  Status Infer(const std::vector<TensorRef>&, std::vector<TensorType>* out) const override {
    (*out)[0] = {value_.dtype, value_.dims};
    return Status::Ok();
  }
  Status Run(const std::vector<TensorRef>&, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    if (!value_.bytes.empty()) std::memcpy(out[0].data, value_.bytes.data(), value_.bytes.size());
    return Status::Ok();
  }

 private:
  TensorData value_;
};

template <typename T>
TensorData VectorTensor(DType dtype, const std::vector<T>& values, bool scalar) {
  TensorData t;
  t.dtype = dtype;
  if (!scalar) t.dims = {static_cast<int64_t>(values.size())};
  t.bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

}  // namespace

Status CreateReshapeOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"allowzero"}));
  int64_t allow_zero = 0;
  RETURN_IF_ERROR(attrs.Int("allowzero", 0, &allow_zero));
  *out = std::make_unique<Reshape>(allow_zero != 0);
  return Status::Ok();
}

Status CreateFlattenOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"axis"}));
  int64_t axis = 1;
  RETURN_IF_ERROR(attrs.Int("axis", 1, &axis));
  *out = std::make_unique<Flatten>(axis);
  return Status::Ok();
}

Status CreateTransposeOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"perm"}));
  std::vector<int64_t> perm;
  bool present = false;
  RETURN_IF_ERROR(attrs.Ints("perm", &perm, &present));
  *out = std::make_unique<Transpose>(std::move(perm));
  return Status::Ok();
}

Status CreateConcatOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"axis"}));
  if (attrs.Find("axis") == nullptr) return InvalidArgument("attribute 'axis' is required");
  int64_t axis = 0;
  RETURN_IF_ERROR(attrs.Int("axis", 0, &axis));
  for (const std::string& name : node.inputs) {
    if (name.empty()) return InvalidArgument("Concat inputs cannot be omitted");
  }
  *out = std::make_unique<Concat>(axis);
  return Status::Ok();
}

Status CreateGatherOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"axis"}));
  int64_t axis = 0;
  RETURN_IF_ERROR(attrs.Int("axis", 0, &axis));
  *out = std::make_unique<Gather>(axis);
  return Status::Ok();
}

Status CreateConstantOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  if (node.attributes.size() != 1)
    return InvalidArgument("Constant needs exactly one value attribute");
  const Attribute& a = node.attributes[0];
  TensorData value;
  if (a.name == "value" && a.kind == Attribute::Kind::kTensor) {
    value = a.t;
    int64_t n = 0;
    const size_t elem = DTypeSize(value.dtype);
    if (elem == 0)
      return Unimplemented(std::string("value dtype ") + DTypeName(value.dtype) + " not supported");
    if (!ElementCount(value.dims, elem, &n) ||
        value.bytes.size() != static_cast<size_t>(n) * elem) {
      return InvalidArgument("value has " + std::to_string(value.bytes.size()) +
                             " bytes for shape " + ShapeString(value.dims));
    }
  } else if (a.name == "value_float" && a.kind == Attribute::Kind::kFloat) {
    value = VectorTensor(DType::kFloat, std::vector<float>{a.f}, true);
  } else if (a.name == "value_floats" && a.kind == Attribute::Kind::kFloats) {
    value = VectorTensor(DType::kFloat, a.floats, false);
  } else if (a.name == "value_int" && a.kind == Attribute::Kind::kInt) {
    value = VectorTensor(DType::kInt64, std::vector<int64_t>{a.i}, true);
  } else if (a.name == "value_ints" && a.kind == Attribute::Kind::kInts) {
    value = VectorTensor(DType::kInt64, a.ints, false);
  } else if (a.name == "value" || a.name == "value_float" || a.name == "value_floats" ||
             a.name == "value_int" || a.name == "value_ints") {
    return InvalidArgument("attribute '" + a.name + "' has the wrong kind " +
                           AttributeKindName(a.kind));
  } else {
    return Unimplemented("unsupported attribute '" + a.name + "'");
  }
  *out = std::make_unique<Constant>(std::move(value));
  return Status::Ok();
}

}  // namespace sluice::engine
