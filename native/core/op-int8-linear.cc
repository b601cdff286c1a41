// INT8 linear algebra: MatMulInteger and QLinearMatMul through the reference kernels;
// QuantizedLinear, the fused form of a QDQ MatMul/Gemm, and DynamicQuantizedLinear, the fused
// form of ONNX Runtime's dynamic quantization (DynamicQuantizeLinear -> MatMulInteger -> Cast
// -> Mul): quantize X, int8 GEMM with int32 accumulation (linear-kernel.h), then the float
// epilogue (scale, bias, activation).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "linear-epilogue.h"
#include "linear-kernel.h"
#include "op-attrs.h"
#include "op-factories.h"
#include "op-util.h"
#include "sluice/int8-gemm.h"
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
  // Rows of A give rows of Y; a batched B has its own batch axis 0 (shapes checked by the engine).
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

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
  // Rows of A give rows of Y; a batched B has its own batch axis 0 (shapes checked by the engine).
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

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

// How a fused int8 linear layer quantizes X.
enum class XQuant {
  kStatic,            // QuantizedLinear: constant scale and zero point from a QDQ pair
  kDynamicPerTensor,  // DynamicQuantizedLinear: ONNX DynamicQuantizeLinear over the whole X
  kDynamicPerRow,     // DynamicQuantizedLinear, one scale per row: batch invariant (engine.h)
};

// ONNX DynamicQuantizeLinear of `count` floats into uint8 xq, with its scale and zero point.
// The reference kernel is the one implementation of the scale / zero point formula: it runs on
// x's range (min and max already include every element, so its result is the same as over all
// of x), and the bytes come from the SIMD quantizer, which rounds exactly as that kernel does.
// A non-finite x goes through the reference, for its error.
Status DynamicQuantizeTensor(const float* x, int64_t count, uint8_t* xq, float* scale,
                             int32_t* zero_point, ThreadPool* pool) {
  float lo = 0.0f, hi = 0.0f;
  bool nan = false;
  for (int64_t i = 0; i < count; ++i) {
    const float v = x[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    nan |= v != v;
  }
  uint8_t zp = 0;
  if (nan || !std::isfinite(lo) || !std::isfinite(hi)) {
    RETURN_IF_ERROR(
        kernels::DynamicQuantizeLinear(x, static_cast<size_t>(count), xq, scale, &zp));
    *zero_point = zp;
    return Status::Ok();
  }
  const float range[2] = {lo, hi};
  uint8_t range_q[2];
  RETURN_IF_ERROR(kernels::DynamicQuantizeLinear(range, 2, range_q, scale, &zp));
  *zero_point = zp;
  return QuantizeLinearFixed(x, count, *scale, *zero_point, false, xq, pool);
}

// QuantizedLinear (XQuant::kStatic), inputs: 0 X float [..., K]; 1 x_scale, 2 x_zero_point
// (constant scalars; the zero point's dtype is X's quantized type); 3 W constant uint8/int8
// [K,N] ([N,K] with trans_b); 4 w_scale constant float, 1 or N values; 5 w_zero_point
// (optional constant of W's dtype, 1 or N values); 6 bias (optional constant float, N values).
// DynamicQuantizedLinear (the dynamic modes): 0 X, then W, w_scale, w_zero_point, bias as
// above at 1..4; X is quantized to uint8 on every run, as ONNX DynamicQuantizeLinear does.
// Both may end with y_scale, y_zero_point (constant scalars; engine-fuse-qdq-chain.cc): the
// output is then QuantizeLinear(Y, y_scale, y_zero_point) in y_zero_point's type, what the
// next QuantizedLinear reads as an already quantized X (static mode, X of x_zero_point's
// type). Attributes as FusedLinear. Output [..., N] float, or uint8 / int8 when quantized.
class QuantizedLinear final : public Op {
 public:
  QuantizedLinear(XQuant mode, bool trans_b, Epilogue epilogue)
      : mode_(mode), w_(mode == XQuant::kStatic ? 3 : 1), y_(w_ + 4), trans_b_(trans_b),
        epilogue_(epilogue) {}

  // Rows of X give rows of Y, except that a per-tensor dynamic scale spans every row.
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return mode_ != XQuant::kDynamicPerTensor;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    if (mode_ == XQuant::kStatic) {
      RETURN_IF_ERROR(RequireDType(in[1], "x_scale", {DType::kFloat}));
      RETURN_IF_ERROR(RequireDType(in[2], "x_zero_point", {DType::kUint8, DType::kInt8}));
      if (NumElements(*in[1].shape) != 1 || NumElements(*in[2].shape) != 1)
        return InvalidArgument("x_scale and x_zero_point must be per tensor");
      if (in[0].dtype != DType::kFloat && in[0].dtype != in[2].dtype)
        return InvalidArgument("a quantized X must have x_zero_point's type");
    } else {
      RETURN_IF_ERROR(RequireDType(in[0], "X", {DType::kFloat}));
    }
    DType y_type = DType::kFloat;
    if (Present(in, y_)) {
      RETURN_IF_ERROR(RequireDType(in[y_], "y_scale", {DType::kFloat}));
      if (NumElements(*in[y_].shape) != 1) return InvalidArgument("y_scale must be per tensor");
      y_type = DType::kUint8;
      if (Present(in, y_ + 1)) {
        RETURN_IF_ERROR(RequireDType(in[y_ + 1], "y_zero_point", {DType::kUint8, DType::kInt8}));
        if (NumElements(*in[y_ + 1].shape) != 1)
          return InvalidArgument("y_zero_point must be per tensor");
        y_type = in[y_ + 1].dtype;
      }
    }
    RETURN_IF_ERROR(RequireDType(in[w_], "W", {DType::kUint8, DType::kInt8}));
    RETURN_IF_ERROR(RequireDType(in[w_ + 1], "w_scale", {DType::kFloat}));
    const Shape& x = *in[0].shape;
    const Shape& w = *in[w_].shape;
    if (x.empty() || w.size() != 2) return InvalidArgument("X must have rank >= 1 and W rank 2");
    const int64_t k = trans_b_ ? w[1] : w[0], n = trans_b_ ? w[0] : w[1];
    if (x.back() != k)
      return InvalidArgument("X " + ShapeString(x) + " does not match W " + ShapeString(w));
    const int64_t w_params = NumElements(*in[w_ + 1].shape);
    const int64_t zp_params = Present(in, w_ + 2) ? NumElements(*in[w_ + 2].shape) : 1;
    if ((w_params != 1 && w_params != n) || (zp_params != 1 && zp_params != n))
      return InvalidArgument("w_scale and w_zero_point must be per tensor or per column");
    if (Present(in, w_ + 2) && in[w_ + 2].dtype != in[w_].dtype)
      return InvalidArgument("w_zero_point must have W's dtype");
    if (Present(in, w_ + 3) &&
        (in[w_ + 3].dtype != DType::kFloat || NumElements(*in[w_ + 3].shape) != n)) {
      return InvalidArgument("bias must be float with N elements");
    }
    Shape y = x;
    y.back() = n;
    (*out)[0] = {y_type, std::move(y)};
    return Status::Ok();
  }

  Status Prepare(const std::vector<TensorRef>& in) override {
    for (size_t i = (mode_ == XQuant::kStatic ? 1 : w_); i <= w_ + 1; ++i) {
      if (in[i].data == nullptr)
        return Unimplemented("quantized linear parameters must be constant");
    }
    if (Present(in, w_ + 2) && in[w_ + 2].data == nullptr)
      return Unimplemented("quantized linear w_zero_point must be constant");
    // MatMulInteger may pair one weight zero point with per-column scales (or the reverse):
    // both are widened to the larger count.
    const size_t scales = static_cast<size_t>(NumElements(*in[w_ + 1].shape));
    const size_t zps =
        Present(in, w_ + 2) ? static_cast<size_t>(NumElements(*in[w_ + 2].shape)) : 0;
    const size_t params = std::max(scales, zps);
    std::vector<float> w_scale(params);
    std::vector<uint8_t> w_zp(zps == 0 ? 0 : params);
    for (size_t i = 0; i < params; ++i)
      w_scale[i] = static_cast<const float*>(in[w_ + 1].data)[scales == 1 ? 0 : i];
    for (size_t i = 0; i < w_zp.size(); ++i)
      w_zp[i] = static_cast<const uint8_t*>(in[w_ + 2].data)[zps == 1 ? 0 : i];
    const Shape& w = *in[w_].shape;
    RETURN_IF_ERROR(PreparedWeightsS8::Prepare(
        in[w_].dtype, in[w_].data, trans_b_ ? w[1] : w[0], trans_b_ ? w[0] : w[1], trans_b_,
        w_zp.empty() ? nullptr : w_zp.data(), w_scale.data(), params, &weights_));
    if (mode_ == XQuant::kStatic) {
      x_scale_ = *static_cast<const float*>(in[1].data);
      x_type_ = in[2].dtype;
      x_zp_ = x_type_ == DType::kInt8 ? *static_cast<const int8_t*>(in[2].data)
                                      : *static_cast<const uint8_t*>(in[2].data);
    }
    if (Present(in, y_)) {
      if (in[y_].data == nullptr || (Present(in, y_ + 1) && in[y_ + 1].data == nullptr))
        return Unimplemented("quantized linear y_scale and y_zero_point must be constant");
      y_scale_ = *static_cast<const float*>(in[y_].data);
      if (!std::isfinite(y_scale_) || y_scale_ == 0.0f)
        return InvalidArgument("y_scale must be finite and nonzero");
      y_type_ = Present(in, y_ + 1) ? in[y_ + 1].dtype : DType::kUint8;
      y_zp_ = Present(in, y_ + 1) ? ZeroPointAt(y_type_, in[y_ + 1].data, 0) : 0;
      quantized_y_ = true;
    }
    return Status::Ok();
  }

  // Scratch: X quantized (M x K bytes), the per-row scales and zero points (M of each), then
  // the GEMM's own scratch.
  // A quantized output the kernel cannot write itself is computed as floats first (FloatBytes).
  size_t ScratchBytes(const std::vector<TensorRef>& in) const override {
    const int64_t m = NumElements(*in[0].shape) / weights_.k();
    return QuantizedBytes(m) + RowParamBytes(m) + weights_.ScratchBytes(m, epilogue_) + FloatBytes(m);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const int64_t k = weights_.k();
    const int64_t m = NumElements(*in[0].shape) / k;
    const float* x = static_cast<const float*>(in[0].data);
    const bool quantized_x = in[0].dtype != DType::kFloat;
    uint8_t* xq = static_cast<uint8_t*>(env.scratch);
    float* row_scale = reinterpret_cast<float*>(xq + QuantizedBytes(m));
    int32_t* row_zp = reinterpret_cast<int32_t*>(row_scale + m);
    QuantizedRows a;
    a.type = x_type_;
    a.data = quantized_x ? in[0].data : xq;
    a.m = m;
    a.scale = &x_scale_;
    a.zero_point = &x_zp_;
    float scale = 0.0f;
    int32_t zp = 0;
    switch (mode_) {
      case XQuant::kStatic:
        if (!quantized_x) {
          RETURN_IF_ERROR(QuantizeLinearFixed(x, m * k, x_scale_, x_zp_,
                                              x_type_ == DType::kInt8, xq, env.pool));
        }
        break;
      case XQuant::kDynamicPerTensor:
        RETURN_IF_ERROR(DynamicQuantizeTensor(x, m * k, xq, &scale, &zp, env.pool));
        a.scale = &scale;
        a.zero_point = &zp;
        break;
      case XQuant::kDynamicPerRow:
        RETURN_IF_ERROR(QuantizeRowsUint8(x, m, k, k, xq, k, row_scale, row_zp, env.pool));
        a.per_row = true;
        a.scale = row_scale;
        a.zero_point = row_zp;
        break;
    }
    Epilogue e = epilogue_;
    if (Present(in, w_ + 3)) e.bias = static_cast<const float*>(in[w_ + 3].data);
    uint8_t* gemm_scratch = xq + QuantizedBytes(m) + RowParamBytes(m);
    if (!quantized_y_) {
      return weights_.Run(a, e, gemm_scratch, static_cast<float*>(out[0].data), env.pool);
    }
    if (weights_.FusesQuantizedEpilogue(e)) {
      return weights_.RunQuantized(a, e, y_scale_, y_type_, y_zp_, out[0].data, env.pool);
    }
    float* y = reinterpret_cast<float*>(gemm_scratch + weights_.ScratchBytes(m, epilogue_));
    RETURN_IF_ERROR(weights_.Run(a, e, gemm_scratch, y, env.pool));
    return QuantizeLinearFixed(y, m * weights_.n(), y_scale_, y_zp_, y_type_ == DType::kInt8,
                               out[0].data, env.pool);
  }

  std::string Details() const override {
    std::string d = mode_ == XQuant::kStatic          ? std::string("x:") + DTypeName(x_type_)
                    : mode_ == XQuant::kDynamicPerRow ? "per-row"
                                                      : "per-tensor";
    d += (weights_.fast() ? " int8-gemm" : " reference") + std::string(trans_b_ ? " transB" : "");
    if (quantized_y_) d += std::string(" y:") + DTypeName(y_type_);
    if (epilogue_.alpha != 1.0f) d += " alpha=" + std::to_string(epilogue_.alpha);
    if (epilogue_.beta != 1.0f) d += " beta=" + std::to_string(epilogue_.beta);
    if (epilogue_.act != UnaryFn::kIdentity)
      d += std::string(" act=") + ActivationName(epilogue_.act);
    return d;
  }

 private:
  size_t QuantizedBytes(int64_t m) const { return AlignUp(static_cast<size_t>(m * weights_.k())); }
  size_t FloatBytes(int64_t m) const {
    return quantized_y_ && !weights_.FusesQuantizedEpilogue(epilogue_)
               ? AlignUp(static_cast<size_t>(m * weights_.n()) * sizeof(float))
               : 0;
  }
  // Per-row scales and zero points; 0 for the per-tensor modes. A multiple of 64 bytes.
  size_t RowParamBytes(int64_t m) const {
    return mode_ == XQuant::kDynamicPerRow
               ? AlignUp(static_cast<size_t>(m) * (sizeof(float) + sizeof(int32_t)))
               : 0;
  }

  XQuant mode_;
  size_t w_;  // index of the W input (the weight inputs follow it)
  size_t y_;  // index of the optional y_scale input (y_zero_point follows it)
  bool trans_b_;
  Epilogue epilogue_;  // bias pointer filled per run
  // Set by Prepare (the static mode's X parameters; the dynamic modes quantize X to uint8):
  PreparedWeightsS8 weights_;
  float x_scale_ = 1.0f;
  DType x_type_ = DType::kUint8;
  int32_t x_zp_ = 0;
  // The quantized output's parameters (Prepare): whether y_scale is present, and its values.
  bool quantized_y_ = false;
  float y_scale_ = 1.0f;
  DType y_type_ = DType::kUint8;
  int32_t y_zp_ = 0;
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
  *out = std::make_unique<QuantizedLinear>(XQuant::kStatic, trans_b, e);
  return Status::Ok();
}

Status CreateDynamicQuantizedLinearOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  // "x_quantization" is this op's own attribute; the rest are FusedLinear's.
  Node linear = node;
  linear.attributes.clear();
  std::string x_quantization = "per_tensor";
  for (const Attribute& a : node.attributes) {
    if (a.name != "x_quantization") linear.attributes.push_back(a);
  }
  RETURN_IF_ERROR(Attrs(node).String("x_quantization", "per_tensor", &x_quantization));
  if (x_quantization != "per_tensor" && x_quantization != "per_row") {
    return InvalidArgument("x_quantization must be per_tensor or per_row, got '" +
                           x_quantization + "'");
  }
  bool trans_b = false;
  Epilogue e;
  RETURN_IF_ERROR(ReadLinearAttrs(linear, &trans_b, &e));
  *out = std::make_unique<QuantizedLinear>(
      x_quantization == "per_row" ? XQuant::kDynamicPerRow : XQuant::kDynamicPerTensor, trans_b,
      e);
  return Status::Ok();
}

}  // namespace sluice::engine
