// QuantizeLinear / DequantizeLinear (uint8/int8, per tensor or per axis; int32 input for
// Dequantize), DynamicQuantizeLinear (uint8, scale and zero point from the data) and the fused
// FakeQuantize (QuantizeLinear then DequantizeLinear, per tensor). Per-tensor quantization runs
// on the SIMD quantizer (int8-gemm.h), which rounds exactly as the reference.
#include <memory>
#include <string>

#include "op-attrs.h"
#include "op-factories.h"
#include "op-util.h"
#include "sluice/int8-gemm.h"
#include "sluice/kernels/reference.h"

namespace sluice::engine {
namespace {

// Checks scale/zero-point shapes against x: 1 element (per tensor) or a 1-D tensor of
// x.shape[axis] elements (per axis). Writes the parameter count.
Status QuantParams(const std::vector<TensorRef>& in, int64_t axis, size_t* params) {
  RETURN_IF_ERROR(RequireDType(in[1], "scale", {DType::kFloat}));
  const Shape& x = *in[0].shape;
  const Shape& scale = *in[1].shape;
  const int64_t n = NumElements(scale);
  if (scale.size() <= 1 && n == 1) {
    *params = 1;
  } else {
    int64_t a = 0;
    if (scale.size() != 1 || !kernels::NormalizeAxis(axis, static_cast<int64_t>(x.size()), &a) ||
        x[a] != n) {
      return InvalidArgument("scale shape " + ShapeString(scale) +
                             " is neither per-tensor nor per-axis for input " + ShapeString(x) +
                             " axis " + std::to_string(axis));
    }
    *params = static_cast<size_t>(n);
  }
  if (in.size() > 2 && in[2].present() && *in[2].shape != scale) {
    return InvalidArgument("zero point shape " + ShapeString(*in[2].shape) +
                           " differs from scale shape " + ShapeString(scale));
  }
  return Status::Ok();
}

// The value of a one-element uint8/int8 zero point (null = 0).
int32_t ZeroPoint(const void* zp, bool is_signed) {
  if (zp == nullptr) return 0;
  return is_signed ? *static_cast<const int8_t*>(zp) : *static_cast<const uint8_t*>(zp);
}

class Quantize final : public Op {
 public:
  Quantize(int64_t axis, DType output_dtype) : axis_(axis), output_dtype_(output_dtype) {}

  // Elementwise, with scales and zero points shared by every row.
  bool RowWise(const std::vector<TensorRef>& in, const std::vector<bool>& batched) const override {
    for (size_t i = 1; i < in.size(); ++i) {
      if (batched[i]) return false;
    }
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "x", {DType::kFloat}));
    size_t params = 0;
    RETURN_IF_ERROR(QuantParams(in, axis_, &params));
    DType y = output_dtype_ != DType::kUndefined ? output_dtype_ : DType::kUint8;
    if (in.size() > 2 && in[2].present()) {
      RETURN_IF_ERROR(RequireDType(in[2], "y_zero_point", {DType::kUint8, DType::kInt8}));
      if (output_dtype_ != DType::kUndefined && in[2].dtype != output_dtype_) {
        return InvalidArgument("output_dtype differs from the zero point's dtype");
      }
      y = in[2].dtype;
    }
    (*out)[0] = {y, *in[0].shape};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    size_t params = 0;
    RETURN_IF_ERROR(QuantParams(in, axis_, &params));
    const void* zp = in.size() > 2 && in[2].present() ? in[2].data : nullptr;
    if (params == 1) {
      const bool is_signed = out[0].dtype == DType::kInt8;
      return QuantizeLinearFixed(static_cast<const float*>(in[0].data), NumElements(*in[0].shape),
                                 *static_cast<const float*>(in[1].data), ZeroPoint(zp, is_signed),
                                 is_signed, out[0].data, env.pool);
    }
    return kernels::QuantizeLinear(static_cast<const float*>(in[0].data), *in[0].shape,
                                   static_cast<const float*>(in[1].data), zp, params, axis_,
                                   out[0].dtype, out[0].data);
  }
  std::string Details() const override { return "axis=" + std::to_string(axis_); }

 private:
  int64_t axis_;
  DType output_dtype_;  // kUndefined = from the zero point (uint8 without one)
};

class Dequantize final : public Op {
 public:
  explicit Dequantize(int64_t axis) : axis_(axis) {}

  // Elementwise, with scales and zero points shared by every row.
  bool RowWise(const std::vector<TensorRef>& in, const std::vector<bool>& batched) const override {
    for (size_t i = 1; i < in.size(); ++i) {
      if (batched[i]) return false;
    }
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "x", {DType::kUint8, DType::kInt8, DType::kInt32}));
    size_t params = 0;
    RETURN_IF_ERROR(QuantParams(in, axis_, &params));
    if (in.size() > 2 && in[2].present() && in[2].dtype != in[0].dtype) {
      return InvalidArgument("zero point dtype differs from x's");
    }
    (*out)[0] = {DType::kFloat, *in[0].shape};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    size_t params = 0;
    RETURN_IF_ERROR(QuantParams(in, axis_, &params));
    const void* zp = in.size() > 2 && in[2].present() ? in[2].data : nullptr;
    return kernels::DequantizeLinear(in[0].dtype, in[0].data, *in[0].shape,
                                     static_cast<const float*>(in[1].data), zp, params, axis_,
                                     static_cast<float*>(out[0].data));
  }
  std::string Details() const override { return "axis=" + std::to_string(axis_); }

 private:
  int64_t axis_;
};

class DynamicQuantize final : public Op {
 public:
  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "x", {DType::kFloat}));
    (*out)[0] = {DType::kUint8, *in[0].shape};
    for (size_t i = 1; i < out->size(); ++i)
      (*out)[i] = {i == 1 ? DType::kFloat : DType::kUint8, {}};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    return kernels::DynamicQuantizeLinear(
        static_cast<const float*>(in[0].data), static_cast<size_t>(NumElements(*in[0].shape)),
        static_cast<uint8_t*>(out[0].data), static_cast<float*>(out[1].data),
        static_cast<uint8_t*>(out[2].data));
  }
};

// Inputs: 0 x float; 1 scale (one float); 2 zero_point (optional, one uint8/int8 value, of the
// `signed` attribute's type). y = (saturate(round(x / scale) + zp) - zp) * scale, float, exactly
// DequantizeLinear(QuantizeLinear(x)). Runs in place.
class FakeQuantize final : public Op {
 public:
  explicit FakeQuantize(bool is_signed) : signed_(is_signed) {}

  // Elementwise: each output row reads the same row of its batched inputs (scale and zero point are scalars).
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    RETURN_IF_ERROR(RequireDType(in[0], "x", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[1], "scale", {DType::kFloat}));
    if (NumElements(*in[1].shape) != 1) return InvalidArgument("scale must have one element");
    if (in.size() > 2 && in[2].present() &&
        (in[2].dtype != (signed_ ? DType::kInt8 : DType::kUint8) ||
         NumElements(*in[2].shape) != 1)) {
      return InvalidArgument("zero point must be one value of the quantized type");
    }
    (*out)[0] = {DType::kFloat, *in[0].shape};
    return Status::Ok();
  }

  Aliasing aliasing() const override { return Aliasing::kInPlace; }
  size_t ScratchBytes(const std::vector<TensorRef>& in) const override {
    return static_cast<size_t>(NumElements(*in[0].shape));
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const int64_t n = NumElements(*in[0].shape);
    const float scale = *static_cast<const float*>(in[1].data);
    const int32_t zp = ZeroPoint(in.size() > 2 && in[2].present() ? in[2].data : nullptr, signed_);
    return FakeQuantizeF32(static_cast<const float*>(in[0].data), n, scale, zp, signed_,
                           env.scratch, static_cast<float*>(out[0].data), env.pool);
  }
  std::string Details() const override { return signed_ ? "int8" : "uint8"; }

 private:
  bool signed_;
};

Status ReadAxisAndBlock(const Node& node, int64_t* axis) {
  const Attrs attrs(node);
  int64_t block_size = 0;
  RETURN_IF_ERROR(attrs.Int("axis", 1, axis));
  RETURN_IF_ERROR(attrs.Int("block_size", 0, &block_size));
  if (block_size != 0)
    return Unimplemented("blocked quantization (block_size " + std::to_string(block_size) + ")");
  return Status::Ok();
}

}  // namespace

Status FakeQuantizeF32(const float* x, int64_t n, float scale, int32_t zero_point, bool is_signed,
                       void* q, float* y, ThreadPool* pool) {
  // x is read completely before y is written, so y may be x.
  RETURN_IF_ERROR(QuantizeLinearFixed(x, n, scale, zero_point, is_signed, q, pool));
  auto dequantize = [&](size_t begin, size_t end) {
    if (is_signed) {
      const int8_t* b = static_cast<const int8_t*>(q);
      for (size_t i = begin; i < end; ++i) y[i] = static_cast<float>(b[i] - zero_point) * scale;
    } else {
      const uint8_t* b = static_cast<const uint8_t*>(q);
      for (size_t i = begin; i < end; ++i) y[i] = static_cast<float>(b[i] - zero_point) * scale;
    }
  };
  // Split like the quantize pass before it (a serial loop here capped 2-thread encoders).
  constexpr size_t kParallelMin = size_t{1} << 15;
  const size_t count = static_cast<size_t>(n);
  ForRanges(count, count, kParallelMin, pool, dequantize);
  return Status::Ok();
}

Status CreateQuantizeOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"axis", "block_size", "saturate", "output_dtype"}));
  int64_t axis = 1, output_dtype = 0, saturate = 1;
  RETURN_IF_ERROR(ReadAxisAndBlock(node, &axis));
  RETURN_IF_ERROR(attrs.Int("output_dtype", 0, &output_dtype));
  RETURN_IF_ERROR(attrs.Int("saturate", 1, &saturate));  // float8 only: no effect on int8/uint8
  const DType dtype = static_cast<DType>(output_dtype);
  if (output_dtype != 0 && dtype != DType::kUint8 && dtype != DType::kInt8) {
    return Unimplemented("output_dtype " + std::to_string(output_dtype) + " (only uint8, int8)");
  }
  *out = std::make_unique<Quantize>(axis, output_dtype == 0 ? DType::kUndefined : dtype);
  return Status::Ok();
}

Status CreateDequantizeOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  RETURN_IF_ERROR(Attrs(node).OnlyKnown({"axis", "block_size"}));
  int64_t axis = 1;
  RETURN_IF_ERROR(ReadAxisAndBlock(node, &axis));
  *out = std::make_unique<Dequantize>(axis);
  return Status::Ok();
}

Status CreateDynamicQuantizeOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  RETURN_IF_ERROR(Attrs(node).OnlyKnown({}));
  *out = std::make_unique<DynamicQuantize>();
  return Status::Ok();
}

Status CreateFakeQuantizeOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"signed"}));
  int64_t is_signed = 0;
  RETURN_IF_ERROR(attrs.Int("signed", 0, &is_signed));
  *out = std::make_unique<FakeQuantize>(is_signed != 0);
  return Status::Ok();
}

}  // namespace sluice::engine
