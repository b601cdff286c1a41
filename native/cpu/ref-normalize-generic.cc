// Reference normalisation and reduction kernels: Softmax, LayerNorm, ReduceMean.
//
// Sums are accumulated in double and rounded once to float: the result is then within one float
// rounding of the exact value, which is as close to numpy's float32 pairwise sums (the ONNX
// reference) as any float order gets, and independent of the reduced length.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ref-internal.h"
#include "sluice/kernels/reference.h"

namespace sluice::kernels {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Splits a shape into [outer, axis dim, inner] around `axis` (already normalised).
struct AxisSplit {
  int64_t outer, axis_dim, inner;
};

AxisSplit SplitAt(const Shape& shape, int64_t axis) {
  const size_t a = static_cast<size_t>(axis);
  return {internal::DimProduct(shape, 0, a), shape[a], internal::DimProduct(shape, a + 1, shape.size())};
}

// Softmax of one strided lane of `n` values.
void SoftmaxLane(const float* x, int64_t n, int64_t stride, float* out) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) max = std::fmax(max, x[j * stride]);
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    const float e = std::exp(x[j * stride] - max);
    out[j * stride] = e;
    sum += e;
  }
  const float total = static_cast<float>(sum);
  for (int64_t j = 0; j < n; ++j) out[j * stride] /= total;
}

}  // namespace

Status Softmax(const float* x, const Shape& shape, int64_t axis, float* out) {
  int64_t ax = 0, n = 0;
  if (!NormalizeAxis(axis, static_cast<int64_t>(shape.size()), &ax)) {
    return InvalidArgument("Softmax: axis " + std::to_string(axis) + " out of range for rank " +
                           std::to_string(shape.size()));
  }
  RETURN_IF_ERROR(internal::CheckedCount(shape, sizeof(float), "Softmax input", &n));
  if (n > 0 && (x == nullptr || out == nullptr)) return InvalidArgument("Softmax: null buffer");
  const AxisSplit s = SplitAt(shape, ax);
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t base = o * s.axis_dim * s.inner + i;
      SoftmaxLane(x + base, s.axis_dim, s.inner, out + base);
    }
  }
  return Status::Ok();
}

Status LayerNorm(const float* x, const Shape& shape, int64_t axis, float epsilon, const float* scale,
                 const float* bias, float* out, float* mean, float* inv_std_dev) {
  int64_t ax = 0, n = 0;
  if (!NormalizeAxis(axis, static_cast<int64_t>(shape.size()), &ax)) {
    return InvalidArgument("LayerNorm: axis " + std::to_string(axis) + " out of range for rank " +
                           std::to_string(shape.size()));
  }
  RETURN_IF_ERROR(internal::CheckedCount(shape, sizeof(float), "LayerNorm input", &n));
  if (n > 0 && (x == nullptr || out == nullptr || scale == nullptr)) {
    return InvalidArgument("LayerNorm: null x, scale or output buffer");
  }
  const int64_t groups = internal::DimProduct(shape, 0, static_cast<size_t>(ax));
  const int64_t size = internal::DimProduct(shape, static_cast<size_t>(ax), shape.size());
  for (int64_t g = 0; g < groups; ++g) {
    const float* xg = x + g * size;
    float* yg = out + g * size;
    // As the ONNX reference: d = x - mean, var = mean(d*d), y = d * (1 / sqrt(var + eps)) * s + b.
    double sum = 0;
    for (int64_t j = 0; j < size; ++j) sum += xg[j];
    const float mu = size == 0 ? kNaN : static_cast<float>(sum / static_cast<double>(size));
    double sq = 0;
    for (int64_t j = 0; j < size; ++j) {
      const float d = xg[j] - mu;
      sq += static_cast<double>(d) * d;
    }
    const float var = size == 0 ? kNaN : static_cast<float>(sq / static_cast<double>(size));
    const float inv = 1.0f / std::sqrt(var + epsilon);
    for (int64_t j = 0; j < size; ++j) {
      const float y = (xg[j] - mu) * inv * scale[j];
      yg[j] = bias == nullptr ? y : y + bias[j];
    }
    if (mean != nullptr) mean[g] = mu;
    if (inv_std_dev != nullptr) inv_std_dev[g] = inv;
  }
  return Status::Ok();
}

namespace {

// Validates and normalises ReduceMean axes into a per-dim "reduced" mask.
Status ReducedDims(const std::vector<int64_t>& axes, int64_t rank, std::vector<bool>* reduced) {
  reduced->assign(static_cast<size_t>(rank), axes.empty());
  for (int64_t a : axes) {
    int64_t ax = 0;
    if (!NormalizeAxis(a, rank, &ax)) {
      return InvalidArgument("ReduceMean: axis " + std::to_string(a) + " out of range for rank " +
                             std::to_string(rank));
    }
    if ((*reduced)[static_cast<size_t>(ax)]) {
      return InvalidArgument("ReduceMean: axis " + std::to_string(a) + " repeated");
    }
    (*reduced)[static_cast<size_t>(ax)] = true;
  }
  return Status::Ok();
}

}  // namespace

Status ReduceMean(const float* x, const Shape& shape, const std::vector<int64_t>& axes, bool keepdims,
                  bool noop_with_empty_axes, float* out, Shape* out_shape) {
  if (out_shape == nullptr) return InvalidArgument("ReduceMean: null out_shape");
  int64_t n = 0;
  RETURN_IF_ERROR(internal::CheckedCount(shape, sizeof(float), "ReduceMean input", &n));
  if (axes.empty() && noop_with_empty_axes) {
    *out_shape = shape;
    if (out == nullptr) return Status::Ok();
    if (n > 0 && x == nullptr) return InvalidArgument("ReduceMean: null input buffer");
    if (n > 0) std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
    return Status::Ok();
  }
  std::vector<bool> reduced;
  RETURN_IF_ERROR(ReducedDims(axes, static_cast<int64_t>(shape.size()), &reduced));
  Shape kept;  // keepdims form: the accumulator layout
  Shape result;
  for (size_t i = 0; i < shape.size(); ++i) {
    kept.push_back(reduced[i] ? 1 : shape[i]);
    if (!reduced[i] || keepdims) result.push_back(kept.back());
  }
  *out_shape = result;
  if (out == nullptr) return Status::Ok();
  if (n > 0 && x == nullptr) return InvalidArgument("ReduceMean: null input buffer");

  const int64_t n_out = internal::DimProduct(kept, 0, kept.size());
  // Walk x densely; the plan maps each element to its accumulator (stride 0 on reduced dims).
  std::vector<double> acc(static_cast<size_t>(n_out), 0.0);
  internal::BroadcastPlan plan;
  RETURN_IF_ERROR(internal::PlanBroadcast(shape, {&kept}, &plan));
  internal::ForEachRow(plan, [&](const int64_t* off, int64_t x_off, int64_t len, const int64_t* step) {
    double* a = acc.data() + off[0];
    for (int64_t j = 0; j < len; ++j) a[j * step[0]] += x[x_off + j];
    return true;
  });
  const int64_t count = n_out == 0 ? 0 : n / n_out;  // elements per output
  for (int64_t i = 0; i < n_out; ++i) {
    out[i] = count == 0 ? kNaN : static_cast<float>(acc[static_cast<size_t>(i)] / static_cast<double>(count));
  }
  return Status::Ok();
}

}  // namespace sluice::kernels
