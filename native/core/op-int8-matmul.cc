// QuantizedMatMul: the fused form of MatMul(FakeQuantize(A), FakeQuantize(B)) [/ c or * c], the
// attention products of a QDQ transformer (Q.K^T, P.V), where both operands are run-time tensors
// with static per-tensor scales (engine-fuse-qmatmul.cc).
//
// Inputs: 0 A float [..., M, K]; 1 a_scale; 2 a_zero_point (optional); 3 B float [..., K, N];
// 4 b_scale; 5 b_zero_point (optional). Scales are one float, zero points one value of the type
// the a_signed / b_signed attributes name (uint8 when 0), all constants. Attribute alpha (float).
// Y = alpha * ((qa - za) * sa) . ((qb - zb) * sb), batched like MatMul.
//
// The products are exact in int32, so this is the unfused graph's result up to the float
// rounding of its FP32 products. Per matrix: A is quantized to bytes; B is quantized straight
// to int8 (a uint8 B shifted by -128 with its zero point, which saturates identically) and
// packed for the INT8 GEMM, whose epilogue applies alpha * sa * sb. Matrices are spread over
// the pool; each worker keeps its quantized operands and packed B in thread-local buffers, so a
// warm run allocates only what Int8Gemm does for a B with zero points (M row sums of A per
// matrix). Broadcasts the strided batch cannot express run the reference MatMul on the
// fake-quantized floats (FakeQuantizeF32, the FakeQuantize op's own rounding).
#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "linear-kernel.h"
#include "op-attrs.h"
#include "op-factories.h"
#include "op-util.h"
#include "sluice/int8-gemm.h"
#include "sluice/kernels/reference.h"

namespace sluice::engine {
namespace {

// One worker's buffers, reused across runs and ops.
struct Workspace {
  std::vector<uint8_t> qa;
  std::vector<int8_t> qb;
  std::vector<float> b_scales;
  std::vector<int32_t> b_zero_points;
  PackedInt8Weights packed;
};

Workspace& ThreadWorkspace() {
  thread_local Workspace workspace;
  return workspace;
}

class QuantizedMatMul final : public Op {
 public:
  QuantizedMatMul(bool a_signed, bool b_signed, float alpha)
      : a_signed_(a_signed), b_signed_(b_signed), alpha_(alpha) {}

  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    if (in.size() < 5) return InvalidArgument("takes A, a_scale, a_zero_point, B, b_scale[, b_zero_point]");
    RETURN_IF_ERROR(RequireDType(in[0], "A", {DType::kFloat}));
    RETURN_IF_ERROR(RequireDType(in[3], "B", {DType::kFloat}));
    for (size_t i : {size_t{1}, size_t{4}}) {
      RETURN_IF_ERROR(RequireDType(in[i], i == 1 ? "a_scale" : "b_scale", {DType::kFloat}));
      if (NumElements(*in[i].shape) != 1) return InvalidArgument("scales must have one element");
      const bool is_signed = i == 1 ? a_signed_ : b_signed_;
      if (in.size() > i + 1 && in[i + 1].present() &&
          (in[i + 1].dtype != (is_signed ? DType::kInt8 : DType::kUint8) ||
           NumElements(*in[i + 1].shape) != 1)) {
        return InvalidArgument("zero points must be one value of the quantized type");
      }
    }
    (*out)[0].dtype = DType::kFloat;
    return kernels::MatMulShape(*in[0].shape, *in[3].shape, &(*out)[0].shape);
  }

  Status Prepare(const std::vector<TensorRef>& in) override {
    for (size_t i : {size_t{1}, size_t{2}, size_t{4}, size_t{5}}) {
      if (i < in.size() && in[i].present() && in[i].data == nullptr)
        return Unimplemented("quantized matmul scales and zero points must be constant");
    }
    RETURN_IF_ERROR(ScalarFloat(in[1], "a_scale", &a_scale_));
    RETURN_IF_ERROR(ScalarFloat(in[4], "b_scale", &b_scale_));
    auto zero_point = [&](size_t i) {
      return in.size() > i && in[i].present() ? ZeroPointAt(in[i].dtype, in[i].data, 0) : 0;
    };
    a_zp_ = zero_point(2);
    b_zp_ = zero_point(5);
    const float combined = a_scale_ * b_scale_ * alpha_;
    if (!std::isfinite(a_scale_) || !std::isfinite(b_scale_) || a_scale_ == 0 || b_scale_ == 0 ||
        !std::isfinite(combined)) {
      return InvalidArgument("quantized matmul scales must be finite and nonzero");
    }
    gemm_scale_ = a_scale_ * alpha_;  // the GEMM's A scale; it multiplies by each column's b_scale
    return Status::Ok();
  }

  size_t ScratchBytes(const std::vector<TensorRef>& in) const override {
    Shape y;
    Fp32Batch batch;
    if (!kernels::MatMulShape(*in[0].shape, *in[3].shape, &y).ok() ||
        StridedBatch(*in[0].shape, *in[3].shape, y, &batch)) {
      return 0;
    }
    // Both operands fake-quantized as floats, then their bytes (FakeQuantizeF32's scratch).
    return static_cast<size_t>(NumElements(*in[0].shape) + NumElements(*in[3].shape)) *
           (sizeof(float) + 1);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv& env) const override {
    const Shape& a = *in[0].shape;
    const Shape& b = *in[3].shape;
    const Shape& y = *out[0].shape;
    Fp32Batch batch;
    if (!StridedBatch(a, b, y, &batch)) return RunReference(in, out, env);
    if (NumElements(y) == 0) return Status::Ok();
    Dims d{a[a.size() - 2], a.back(), b.back()};
    if (d.k == 0) {
      std::fill_n(static_cast<float*>(out[0].data), NumElements(y), 0.0f);
      return Status::Ok();
    }
    const float* a_data = static_cast<const float*>(in[0].data);
    const float* b_data = static_cast<const float*>(in[3].data);
    float* y_data = static_cast<float*>(out[0].data);
    auto items = [&](size_t begin, size_t end, ThreadPool* pool) {
      for (size_t i = begin; i < end; ++i) {
        RETURN_IF_ERROR(RunMatrix(a_data + i * batch.stride_a, b_data + i * batch.stride_b, d,
                                  y_data + i * batch.stride_c, pool));
      }
      return Status::Ok();
    };
    const size_t parts = std::min(env.pool->size(), batch.count);
    if (parts <= 1) return items(0, batch.count, env.pool);  // one matrix: the GEMM splits it
    std::mutex mu;  // guards `first` (the first error; no allocation on the success path)
    Status first;
    env.pool->ParallelFor(parts, [&](size_t part) {
      size_t begin, end;
      SplitRange(batch.count, parts, part, &begin, &end);
      Status s = items(begin, end, nullptr);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = std::move(s);
      }
    });
    return first;
  }

  std::string Details() const override {
    return std::string("a:") + (a_signed_ ? "int8" : "uint8") + " b:" +
           (b_signed_ ? "int8" : "uint8") + " alpha=" + std::to_string(alpha_);
  }

 private:
  struct Dims {
    int64_t m, k, n;
  };

  Status RunMatrix(const float* a, const float* b, const Dims& d, float* y, ThreadPool* pool) const {
    Workspace& w = ThreadWorkspace();
    w.qa.resize(static_cast<size_t>(d.m * d.k));
    w.qb.resize(static_cast<size_t>(d.k * d.n));
    RETURN_IF_ERROR(QuantizeLinearFixed(a, d.m * d.k, a_scale_, a_zp_, a_signed_, w.qa.data(), pool));
    const int32_t b_zp = b_signed_ ? b_zp_ : b_zp_ - 128;  // uint8 q - 128 == int8 with zp - 128
    RETURN_IF_ERROR(QuantizeLinearFixed(b, d.k * d.n, b_scale_, b_zp, true, w.qb.data(), pool));
    w.b_scales.assign(static_cast<size_t>(d.n), b_scale_);
    w.b_zero_points.assign(static_cast<size_t>(d.n), b_zp);
    RETURN_IF_ERROR(PackInt8Weights(w.qb.data(), d.k, d.n, Int8WeightLayout::kKxN,
                                    w.b_scales.data(), &w.packed, w.b_zero_points.data()));
    Int8GemmInput x;
    x.data = w.qa.data();
    x.is_signed = a_signed_;
    x.m = d.m;
    x.k = d.k;
    x.lda = d.k;
    x.scale = &gemm_scale_;
    x.zero_point = &a_zp_;
    Int8GemmOutput c;
    c.type = Int8GemmOutputType::kFloat;
    c.data = y;
    c.n = d.n;
    c.ldc = d.n;
    return Int8Gemm(x, w.packed, c, pool);
  }

  // Fake-quantizes both operands into scratch floats and runs the reference MatMul.
  Status RunReference(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
                      const RunEnv& env) const {
    const int64_t na = NumElements(*in[0].shape), nb = NumElements(*in[3].shape);
    float* fa = static_cast<float*>(env.scratch);
    float* fb = fa + na;
    void* bytes = fb + nb;
    RETURN_IF_ERROR(FakeQuantizeF32(static_cast<const float*>(in[0].data), na, a_scale_, a_zp_,
                                    a_signed_, bytes, fa, env.pool));
    RETURN_IF_ERROR(FakeQuantizeF32(static_cast<const float*>(in[3].data), nb, b_scale_, b_zp_,
                                    b_signed_, bytes, fb, env.pool));
    float* y = static_cast<float*>(out[0].data);
    RETURN_IF_ERROR(kernels::MatMulF32(fa, *in[0].shape, fb, *in[3].shape, y));
    const int64_t ny = NumElements(*out[0].shape);
    for (int64_t i = 0; i < ny; ++i) y[i] *= alpha_;
    return Status::Ok();
  }

  bool a_signed_, b_signed_;
  float alpha_;
  float a_scale_ = 1, b_scale_ = 1, gemm_scale_ = 1;
  int32_t a_zp_ = 0, b_zp_ = 0;
};

}  // namespace

Status CreateQuantizedMatMulOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"a_signed", "b_signed", "alpha"}));
  int64_t a_signed = 0, b_signed = 0;
  float alpha = 1.0f;
  RETURN_IF_ERROR(attrs.Int("a_signed", 0, &a_signed));
  RETURN_IF_ERROR(attrs.Int("b_signed", 0, &b_signed));
  RETURN_IF_ERROR(attrs.Float("alpha", 1.0f, &alpha));
  *out = std::make_unique<QuantizedMatMul>(a_signed != 0, b_signed != 0, alpha);
  return Status::Ok();
}

}  // namespace sluice::engine
