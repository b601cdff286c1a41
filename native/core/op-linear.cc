// FP32 linear algebra: MatMul on the FP32 GEMM (the reference kernel for broadcasts it cannot
// stride), Gemm on the reference kernel (with constant B it is fused), and FusedLinear, the
// engine's fused layer y = act(alpha * X W + beta * bias) with W a constant prepared at load.
#include <algorithm>
#include <memory>
#include <string>

#include "linear-epilogue.h"
#include "linear-kernel.h"
#include "op-attrs.h"
#include "op-factories.h"
#include "op-util.h"
#include "sluice/kernels/reference.h"

namespace sluice::engine {
namespace {

class MatMul final : public Op {
 public:
  // Rows of A give rows of Y; a batched B has its own batch axis 0 (shapes checked by the engine).
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "A", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[1], "B", {DType::kFloat}));
    (*out)[0].dtype = DType::kFloat;
    return kernels::MatMulShape(*in[0].shape, *in[1].shape, &(*out)[0].shape);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const Shape& a = *in[0].shape;
    const Shape& b = *in[1].shape;
    const Shape& y = *out[0].shape;
    const float* a_data = static_cast<const float*>(in[0].data);
    const float* b_data = static_cast<const float*>(in[1].data);
    float* y_data = static_cast<float*>(out[0].data);
    Fp32Batch batch;
    if (!StridedBatch(a, b, y, &batch) || NumElements(y) == 0 || a.back() == 0) {
      return kernels::MatMulF32(a_data, a, b_data, b, y_data);
    }
    Fp32GemmArgs args;
    args.m = static_cast<size_t>(a[a.size() - 2]);
    args.k = static_cast<size_t>(a.back());
    args.n = static_cast<size_t>(b.back());
    args.a = a_data;
    args.lda = args.k;
    args.c = y_data;
    args.ldc = args.n;
    return Fp32Gemm(args, b_data, args.n, false, env.pool, batch);
  }
};

class Gemm final : public Op {
 public:
  Gemm(bool trans_a, bool trans_b, float alpha, float beta)
      : trans_a_(trans_a), trans_b_(trans_b), alpha_(alpha), beta_(beta) {}

  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return !trans_a_;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "A", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[1], "B", {DType::kFloat}));
    const Shape& a = *in[0].shape;
    const Shape& b = *in[1].shape;
    if (a.size() != 2 || b.size() != 2) {
      return InvalidArgument("A and B must be 2-D, got " + ShapeString(a) + " and " +
                             ShapeString(b));
    }
    const int64_t m = trans_a_ ? a[1] : a[0], k = trans_a_ ? a[0] : a[1];
    const int64_t kb = trans_b_ ? b[1] : b[0], n = trans_b_ ? b[0] : b[1];
    if (k != kb)
      return InvalidArgument("inner dims differ: " + ShapeString(a) + " x " + ShapeString(b));
    if (in.size() > 2 && in[2].present()) {
      RETURN_IF_ERROR(RequireDType(in[2], "C", {DType::kFloat}));
      Shape bc;
      if (!kernels::BroadcastShapes(*in[2].shape, {m, n}, &bc).ok() || bc != Shape{m, n}) {
        return InvalidArgument("C shape " + ShapeString(*in[2].shape) +
                               " does not broadcast to [M,N]");
      }
    }
    (*out)[0] = {DType::kFloat, {m, n}};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    const bool has_c = in.size() > 2 && in[2].present();
    static const Shape kNoShape;
    return kernels::GemmF32(static_cast<const float*>(in[0].data), *in[0].shape, trans_a_,
                            static_cast<const float*>(in[1].data), *in[1].shape, trans_b_,
                            has_c ? static_cast<const float*>(in[2].data) : nullptr,
                            has_c ? *in[2].shape : kNoShape, alpha_, beta_,
                            static_cast<float*>(out[0].data));
  }

  std::string Details() const override {
    std::string d;
    if (trans_a_) d += "transA ";
    if (trans_b_) d += "transB ";
    if (alpha_ != 1.0f) d += "alpha=" + std::to_string(alpha_) + " ";
    if (beta_ != 1.0f) d += "beta=" + std::to_string(beta_) + " ";
    if (!d.empty()) d.pop_back();
    return d;
  }

 private:
  bool trans_a_, trans_b_;
  float alpha_, beta_;
};

// Inputs: X [..., K] float; W constant float [K,N] ([N,K] with trans_b); bias (optional) constant
// float with N elements. Attributes: trans_b, alpha, beta, activation (linear-epilogue.h names),
// act_alpha. Output [..., N].
class FusedLinear final : public Op {
 public:
  FusedLinear(bool trans_b, Epilogue epilogue) : trans_b_(trans_b), epilogue_(epilogue) {}

  // Rows of A give rows of Y.
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "X", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[1], "W", {DType::kFloat}));
    const Shape& x = *in[0].shape;
    const Shape& w = *in[1].shape;
    if (x.empty() || w.size() != 2) return InvalidArgument("X must have rank >= 1 and W rank 2");
    const int64_t k = trans_b_ ? w[1] : w[0], n = trans_b_ ? w[0] : w[1];
    if (x.back() != k)
      return InvalidArgument("X " + ShapeString(x) + " does not match W " + ShapeString(w));
    if (in.size() > 2 && in[2].present()) {
      RETURN_IF_ERROR(RequireDType(in[2], "bias", {DType::kFloat}));
      if (NumElements(*in[2].shape) != n) return InvalidArgument("bias must have N elements");
    }
    Shape y = x;
    y.back() = n;
    (*out)[0] = {DType::kFloat, std::move(y)};
    return Status::Ok();
  }

  Status Prepare(const std::vector<TensorRef>& in) override {
    if (in[1].data == nullptr) return Unimplemented("FusedLinear weights must be constant");
    const Shape& w = *in[1].shape;
    return PreparedWeightsF32::Prepare(static_cast<const float*>(in[1].data),
                                       trans_b_ ? w[1] : w[0], trans_b_ ? w[0] : w[1], trans_b_,
                                       &weights_);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const int64_t m = NumElements(*in[0].shape) / weights_.k();
    Epilogue e = epilogue_;
    if (in.size() > 2 && in[2].present()) e.bias = static_cast<const float*>(in[2].data);
    return weights_.Run(static_cast<const float*>(in[0].data), m, e,
                        static_cast<float*>(out[0].data), env.pool);
  }

  std::string Details() const override {
    std::string d = trans_b_ ? "transB" : "";
    if (epilogue_.alpha != 1.0f) d += " alpha=" + std::to_string(epilogue_.alpha);
    if (epilogue_.beta != 1.0f) d += " beta=" + std::to_string(epilogue_.beta);
    if (epilogue_.act != UnaryFn::kIdentity)
      d += std::string(" act=") + ActivationName(epilogue_.act);
    return d[0] == ' ' ? d.substr(1) : d;
  }

 private:
  bool trans_b_;
  Epilogue epilogue_;  // bias pointer filled per run
  PreparedWeightsF32 weights_;
};

}  // namespace

Status CreateMatMulOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  RETURN_IF_ERROR(Attrs(node).OnlyKnown({}));
  *out = std::make_unique<MatMul>();
  return Status::Ok();
}

Status CreateGemmOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"transA", "transB", "alpha", "beta"}));
  int64_t trans_a = 0, trans_b = 0;
  float alpha = 1.0f, beta = 1.0f;
  RETURN_IF_ERROR(attrs.Int("transA", 0, &trans_a));
  RETURN_IF_ERROR(attrs.Int("transB", 0, &trans_b));
  RETURN_IF_ERROR(attrs.Float("alpha", 1.0f, &alpha));
  RETURN_IF_ERROR(attrs.Float("beta", 1.0f, &beta));
  *out = std::make_unique<Gemm>(trans_a != 0, trans_b != 0, alpha, beta);
  return Status::Ok();
}

Status ReadLinearAttrs(const Node& node, bool* trans_b, Epilogue* e) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"trans_b", "alpha", "beta", "activation", "act_alpha"}));
  int64_t tb = 0;
  std::string act;
  RETURN_IF_ERROR(attrs.Int("trans_b", 0, &tb));
  RETURN_IF_ERROR(attrs.Float("alpha", 1.0f, &e->alpha));
  RETURN_IF_ERROR(attrs.Float("beta", 1.0f, &e->beta));
  RETURN_IF_ERROR(attrs.String("activation", "", &act));
  RETURN_IF_ERROR(attrs.Float("act_alpha", 0.01f, &e->act_alpha));
  RETURN_IF_ERROR(ParseActivation(act, &e->act));
  *trans_b = tb != 0;
  return Status::Ok();
}

Status CreateFusedLinearOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  bool trans_b = false;
  Epilogue e;
  RETURN_IF_ERROR(ReadLinearAttrs(node, &trans_b, &e));
  *out = std::make_unique<FusedLinear>(trans_b, e);
  return Status::Ok();
}

}  // namespace sluice::engine
