// Elementwise ops: broadcasting binaries (float same-shape / tiled / scalar operands on the
// fast path of op-fast-paths.h, the rest on the reference kernel), float unaries (in place when the
// planner allows), and Identity (a view: it never runs).
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

using kernels::BinaryOp;
using kernels::UnaryOp;

class BinaryElementwise final : public Op {
 public:
  explicit BinaryElementwise(BinaryOp op) : op_(op) {}

  // Elementwise: each output row reads the same row of its batched inputs (broadcast inputs whole).
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    if (op_ == BinaryOp::kPow) {
      RETURN_IF_ERROR(RequireDType(in[0], "X", {DType::kFloat}));
      RETURN_IF_ERROR(RequireDType(in[1], "Y", {DType::kFloat}));
    } else {
      RETURN_IF_ERROR(RequireDType(in[0], "A", {DType::kFloat, DType::kInt32, DType::kInt64}));
      if (in[1].dtype != in[0].dtype) {
        return InvalidArgument(std::string("inputs have different dtypes ") +
                               DTypeName(in[0].dtype) + " and " + DTypeName(in[1].dtype));
      }
    }
    (*out)[0].dtype = in[0].dtype;
    return kernels::BroadcastShapes(*in[0].shape, *in[1].shape, &(*out)[0].shape);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    if (in[0].dtype == DType::kFloat) {
      return BinaryF32(op_, static_cast<const float*>(in[0].data), *in[0].shape,
                       static_cast<const float*>(in[1].data), *in[1].shape, *out[0].shape,
                       static_cast<float*>(out[0].data), env.pool);
    }
    return kernels::Binary(op_, in[0].dtype, in[0].data, *in[0].shape, in[1].data, *in[1].shape,
                           out[0].data);
  }

 private:
  BinaryOp op_;
};

// Runs on the vectorised row kernels (row-kernels.h) when they have the function, else (Sqrt)
// on the reference kernel.
class UnaryElementwise final : public Op {
 public:
  UnaryElementwise(UnaryOp op, float alpha, std::string details)
      : op_(op), alpha_(alpha), details_(std::move(details)) {
    switch (op) {
      case UnaryOp::kRelu: fast_ = UnaryFn::kRelu; break;
      case UnaryOp::kLeakyRelu: fast_ = UnaryFn::kLeakyRelu; break;
      case UnaryOp::kSigmoid: fast_ = UnaryFn::kSigmoid; break;
      case UnaryOp::kTanh: fast_ = UnaryFn::kTanh; break;
      case UnaryOp::kErf: fast_ = UnaryFn::kErf; break;
      case UnaryOp::kGelu: fast_ = UnaryFn::kGelu; break;
      case UnaryOp::kGeluTanh: fast_ = UnaryFn::kGeluTanh; break;
      default: has_fast_ = false; break;
    }
  }

  // Elementwise: each output row reads the same row of its batched inputs (broadcast inputs whole).
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "X", {DType::kFloat}));
    (*out)[0] = {in[0].dtype, *in[0].shape};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const float* x = static_cast<const float*>(in[0].data);
    float* y = static_cast<float*>(out[0].data);
    const size_t n = static_cast<size_t>(NumElements(*in[0].shape));
    if (has_fast_) return UnaryF32Parallel(fast_, alpha_, x, n, y, env.pool);
    return kernels::UnaryF32(op_, x, n, alpha_, y);
  }

  // Both kernels allow x == out.
  Aliasing aliasing() const override { return Aliasing::kInPlace; }
  std::string Details() const override { return details_; }

 private:
  UnaryOp op_;
  float alpha_;
  std::string details_;
  bool has_fast_ = true;
  UnaryFn fast_ = UnaryFn::kIdentity;
};

class IdentityView final : public Op {
 public:
  // A view: the output's rows are the input's bytes.
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    (*out)[0] = {in[0].dtype, *in[0].shape};
    return Status::Ok();
  }
  Status Run(const std::vector<TensorRef>&, const std::vector<OutRef>&,
             const RunEnv&) const override {
    return Internal("Identity is a view and never runs");
  }
  Aliasing aliasing() const override { return Aliasing::kView; }
};

}  // namespace

Status CreateBinaryOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  RETURN_IF_ERROR(Attrs(node).OnlyKnown({}));
  BinaryOp op = BinaryOp::kAdd;
  if (node.op_type == "Sub") op = BinaryOp::kSub;
  if (node.op_type == "Mul") op = BinaryOp::kMul;
  if (node.op_type == "Div") op = BinaryOp::kDiv;
  if (node.op_type == "Pow") op = BinaryOp::kPow;
  *out = std::make_unique<BinaryElementwise>(op);
  return Status::Ok();
}

Status CreateUnaryOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  const std::string& t = node.op_type;
  if (t == "LeakyRelu") {
    RETURN_IF_ERROR(attrs.OnlyKnown({"alpha"}));
    float alpha = 0.01f;
    RETURN_IF_ERROR(attrs.Float("alpha", 0.01f, &alpha));
    *out = std::make_unique<UnaryElementwise>(UnaryOp::kLeakyRelu, alpha,
                                              "alpha=" + std::to_string(alpha));
    return Status::Ok();
  }
  if (t == "Gelu") {
    RETURN_IF_ERROR(attrs.OnlyKnown({"approximate"}));
    std::string approximate;
    RETURN_IF_ERROR(attrs.String("approximate", "none", &approximate));
    if (approximate != "none" && approximate != "tanh") {
      return InvalidArgument("attribute 'approximate' must be none or tanh, got '" + approximate +
                             "'");
    }
    const bool tanh = approximate == "tanh";
    *out = std::make_unique<UnaryElementwise>(tanh ? UnaryOp::kGeluTanh : UnaryOp::kGelu, 0.0f,
                                              tanh ? "approximate=tanh" : "");
    return Status::Ok();
  }
  RETURN_IF_ERROR(attrs.OnlyKnown({}));
  UnaryOp op = UnaryOp::kRelu;
  if (t == "Sigmoid") op = UnaryOp::kSigmoid;
  if (t == "Tanh") op = UnaryOp::kTanh;
  if (t == "Sqrt") op = UnaryOp::kSqrt;
  if (t == "Erf") op = UnaryOp::kErf;
  *out = std::make_unique<UnaryElementwise>(op, 0.0f, "");
  return Status::Ok();
}

Status CreateIdentityOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  RETURN_IF_ERROR(Attrs(node).OnlyKnown({}));
  *out = std::make_unique<IdentityView>();
  return Status::Ok();
}

}  // namespace sluice::engine
