// INT8 linear algebra: MatMulInteger and QLinearMatMul through the reference kernels, and
// QuantizedLinear, the fused form of a QDQ MatMul/Gemm: quantize X, int8 GEMM with int32
// accumulation (linear-kernel.h), then the float epilogue (scale, bias, activation).
#include <cstring>
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

constexpr size_t kAlign = 64;
size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

bool Present(const std::vector<TensorRef>& in, size_t i) {
  return i < in.size() && in[i].present();
}

// Inputs: A, B (uint8/int8), a_zero_point (optional; 1 or rows of 2-D A), b_zero_point
// (optional; 1 or N). Output int32.
class MatMulInteger final : public Op {
 public:
  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "A", {DType::kUint8, DType::kInt8}));
    RETURN_IF_ERROR(RequireDType(in[1], "B", {DType::kUint8, DType::kInt8}));
    for (size_t i = 2; i < 4; ++i) {
      if (Present(in, i) && in[i].dtype != in[i - 2].dtype) {
        return InvalidArgument("zero point " + std::to_string(i) +
                               " dtype differs from its matrix");
      }
    }
    (*out)[0].dtype = DType::kInt32;
    return kernels::MatMulShape(*in[0].shape, *in[1].shape, &(*out)[0].shape);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    const bool a_zp = Present(in, 2), b_zp = Present(in, 3);
    return kernels::MatMulInteger(
        in[0].dtype, in[0].data, *in[0].shape, a_zp ? in[2].data : nullptr,
        a_zp ? static_cast<size_t>(NumElements(*in[2].shape)) : 0, in[1].dtype, in[1].data,
        *in[1].shape, b_zp ? in[3].data : nullptr,
        b_zp ? static_cast<size_t>(NumElements(*in[3].shape)) : 0,
        static_cast<int32_t*>(out[0].data));
  }
};

// Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point.
class QLinearMatMul final : public Op {
 public:
  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "a", {DType::kUint8, DType::kInt8}));
    RETURN_IF_ERROR(RequireDType(in[3], "b", {DType::kUint8, DType::kInt8}));
    RETURN_IF_ERROR(RequireDType(in[7], "y_zero_point", {DType::kUint8, DType::kInt8}));
    for (size_t i : {1, 4, 6}) RETURN_IF_ERROR(RequireDType(in[i], "scale", {DType::kFloat}));
    if (in[2].dtype != in[0].dtype || in[5].dtype != in[3].dtype) {
      return InvalidArgument("zero point dtype differs from its matrix");
    }
    if (NumElements(*in[4].shape) != NumElements(*in[5].shape)) {
      return InvalidArgument("b_scale and b_zero_point differ in size");
    }
    (*out)[0].dtype = in[7].dtype;
    return kernels::MatMulShape(*in[0].shape, *in[3].shape, &(*out)[0].shape);
  }

  size_t ScratchBytes(const std::vector<TensorRef>& in) const override {
    return static_cast<size_t>(NumElements(*in[5].shape)) * sizeof(int32_t);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    float a_scale = 0, y_scale = 0;
    RETURN_IF_ERROR(ScalarFloat(in[1], "a_scale", &a_scale));
    RETURN_IF_ERROR(ScalarFloat(in[6], "y_scale", &y_scale));
    const size_t b_params = static_cast<size_t>(NumElements(*in[5].shape));
    int32_t* b_zp = static_cast<int32_t*>(env.scratch);
    for (size_t i = 0; i < b_params; ++i) b_zp[i] = ZeroPointAt(in[5].dtype, in[5].data, i);
    return kernels::QLinearMatMul(
        in[0].dtype, in[0].data, *in[0].shape, a_scale, ZeroPointAt(in[2].dtype, in[2].data, 0),
        in[3].dtype, in[3].data, *in[3].shape, static_cast<const float*>(in[4].data), b_zp,
        b_params, y_scale, ZeroPointAt(in[7].dtype, in[7].data, 0), out[0].dtype, out[0].data);
  }
};

// Inputs: 0 X float [..., K]; 1 x_scale, 2 x_zero_point (constant scalars; the zero point's
// dtype is X's quantized type); 3 W constant uint8/int8 [K,N] ([N,K] with trans_b); 4 w_scale
// constant float, 1 or N values; 5 w_zero_point (optional constant, like w_scale); 6 bias
// (optional constant float, N values). Attributes as FusedLinear. Output [..., N] float.
class QuantizedLinear final : public Op {
 public:
  QuantizedLinear(bool trans_b, Epilogue epilogue) : trans_b_(trans_b), epilogue_(epilogue) {}

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "X", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[1], "x_scale", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[2], "x_zero_point", {DType::kUint8, DType::kInt8}));
    RETURN_IF_ERROR(RequireDType(in[3], "W", {DType::kUint8, DType::kInt8}));
    RETURN_IF_ERROR(RequireDType(in[4], "w_scale", {DType::kFloat}));
    const Shape& x = *in[0].shape;
    const Shape& w = *in[3].shape;
    if (x.empty() || w.size() != 2) return InvalidArgument("X must have rank >= 1 and W rank 2");
    const int64_t k = trans_b_ ? w[1] : w[0], n = trans_b_ ? w[0] : w[1];
    if (x.back() != k)
      return InvalidArgument("X " + ShapeString(x) + " does not match W " + ShapeString(w));
    const int64_t w_params = NumElements(*in[4].shape);
    if (NumElements(*in[1].shape) != 1 || NumElements(*in[2].shape) != 1 ||
        (w_params != 1 && w_params != n)) {
      return InvalidArgument("scales must be per tensor (X) and per tensor or per column (W)");
    }
    if (Present(in, 5) && (in[5].dtype != in[3].dtype || NumElements(*in[5].shape) != w_params)) {
      return InvalidArgument("w_zero_point must match W's dtype and w_scale's size");
    }
    if (Present(in, 6) && (in[6].dtype != DType::kFloat || NumElements(*in[6].shape) != n)) {
      return InvalidArgument("bias must be float with N elements");
    }
    Shape y = x;
    y.back() = n;
    (*out)[0] = {DType::kFloat, std::move(y)};
    return Status::Ok();
  }

  Status Prepare(const std::vector<TensorRef>& in) override {
    for (size_t i : {1, 2, 3, 4}) {
      if (in[i].data == nullptr)
        return Unimplemented("QuantizedLinear parameters must be constant");
    }
    if (Present(in, 5) && in[5].data == nullptr)
      return Unimplemented("QuantizedLinear w_zero_point must be constant");
    const Shape& w = *in[3].shape;
    RETURN_IF_ERROR(PreparedWeightsS8::Prepare(
        in[3].dtype, in[3].data, trans_b_ ? w[1] : w[0], trans_b_ ? w[0] : w[1], trans_b_,
        Present(in, 5) ? in[5].data : nullptr, static_cast<const float*>(in[4].data),
        static_cast<size_t>(NumElements(*in[4].shape)), &weights_));
    x_scale_ = *static_cast<const float*>(in[1].data);
    x_type_ = in[2].dtype;
    std::memcpy(&x_zp_, in[2].data, 1);
    return Status::Ok();
  }

  // X quantized (M x K bytes), then the GEMM's own scratch.
  size_t ScratchBytes(const std::vector<TensorRef>& in) const override {
    const int64_t m = NumElements(*in[0].shape) / weights_.k();
    return AlignUp(static_cast<size_t>(m * weights_.k())) + weights_.ScratchBytes(m);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const int64_t k = weights_.k();
    const int64_t m = NumElements(*in[0].shape) / k;
    uint8_t* xq = static_cast<uint8_t*>(env.scratch);
    const int32_t zp = x_type_ == DType::kInt8 ? static_cast<int8_t>(x_zp_) : x_zp_;
    RETURN_IF_ERROR(QuantizeLinearFixed(static_cast<const float*>(in[0].data), m * k, x_scale_,
                                        zp, x_type_ == DType::kInt8, xq, env.pool));
    Epilogue e = epilogue_;
    if (Present(in, 6)) e.bias = static_cast<const float*>(in[6].data);
    return weights_.Run(x_type_, xq, m, x_scale_, &x_zp_, e,
                        xq + AlignUp(static_cast<size_t>(m * k)), static_cast<float*>(out[0].data),
                        env.pool);
  }

  std::string Details() const override {
    std::string d = std::string("x:") + DTypeName(x_type_) +
                    (weights_.fast() ? " int8-gemm" : " reference") + (trans_b_ ? " transB" : "");
    if (epilogue_.alpha != 1.0f) d += " alpha=" + std::to_string(epilogue_.alpha);
    if (epilogue_.beta != 1.0f) d += " beta=" + std::to_string(epilogue_.beta);
    if (epilogue_.act != UnaryFn::kIdentity)
      d += std::string(" act=") + ActivationName(epilogue_.act);
    return d;
  }

 private:
  bool trans_b_;
  Epilogue epilogue_;  // bias pointer filled per run
  // Set by Prepare:
  PreparedWeightsS8 weights_;
  float x_scale_ = 1.0f;
  DType x_type_ = DType::kUint8;
  uint8_t x_zp_ = 0;  // raw byte of X's zero point (uint8 or int8)
};

}  // namespace

Status CreateMatMulIntegerOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  RETURN_IF_ERROR(Attrs(node).OnlyKnown({}));
  *out = std::make_unique<MatMulInteger>();
  return Status::Ok();
}

Status CreateQLinearMatMulOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  RETURN_IF_ERROR(Attrs(node).OnlyKnown({}));
  for (const std::string& name : node.inputs) {
    if (name.empty()) return InvalidArgument("QLinearMatMul inputs cannot be omitted");
  }
  *out = std::make_unique<QLinearMatMul>();
  return Status::Ok();
}

Status CreateQuantizedLinearOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  bool trans_b = false;
  Epilogue e;
  RETURN_IF_ERROR(ReadLinearAttrs(node, &trans_b, &e));
  *out = std::make_unique<QuantizedLinear>(trans_b, e);
  return Status::Ok();
}

}  // namespace sluice::engine
