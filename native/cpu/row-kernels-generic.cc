// Scalar reference row kernels: <cmath> in double, rounded once to float. Slow and obviously
// correct; the SIMD variants are tested against these.
#include <cmath>
#include <limits>

#include "row-kernels-internal.h"

namespace sluice::internal {
namespace {

constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kSqrtTwoOverPi = 0.79788456080286535588;

void UnaryRow(UnaryFn fn, float alpha, const float* x, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = UnaryReference(fn, alpha, x[i]);
}

void SoftmaxRow(const float* x, size_t n, float* y) {
  double max = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
  // fmax ignores NaN, so a NaN entry is carried by its own exp() into the sum instead.
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>(std::exp(x[i] - max) / sum);
}

void LogSoftmaxRow(const float* x, size_t n, float* y) {
  double max = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  const double log_sum = std::log(sum);
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] - max - log_sum);
}

void LayerNormRow(const float* x, size_t n, float eps, const float* gamma, const float* beta,
                  float* y) {
  double mean = 0;
  for (size_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0;
  for (size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  const double inv_std = 1.0 / std::sqrt(var + eps);
  for (size_t i = 0; i < n; ++i) {
    double v = (x[i] - mean) * inv_std;
    if (gamma != nullptr) v *= gamma[i];
    if (beta != nullptr) v += beta[i];
    y[i] = static_cast<float>(v);
  }
}

void AddRow(const float* a, const float* b, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

}  // namespace

float UnaryReference(UnaryFn fn, float alpha, float xf) {
  const double x = xf;
  switch (fn) {
    case UnaryFn::kIdentity: return xf;
    case UnaryFn::kRelu: return xf > 0 ? xf : (std::isnan(xf) ? xf : 0.0f);
    case UnaryFn::kLeakyRelu: return xf >= 0 || std::isnan(xf) ? xf : alpha * xf;
    case UnaryFn::kSigmoid: return static_cast<float>(1.0 / (1.0 + std::exp(-x)));
    case UnaryFn::kTanh: return static_cast<float>(std::tanh(x));
    case UnaryFn::kGelu:
      if (std::isinf(xf)) return xf > 0 ? xf : 0.0f;  // inf * erfc(inf) would be NaN
      // erfc rather than 1 + erf: no cancellation for very negative x.
      return static_cast<float>(0.5 * x * std::erfc(-x * kSqrtHalf));
    case UnaryFn::kGeluTanh: {
      if (std::isinf(xf)) return xf > 0 ? xf : 0.0f;
      const double u = kSqrtTwoOverPi * (x + 0.044715 * x * x * x);
      // 0.5 (1 + tanh u) = 1 / (1 + exp(-2u)), again free of cancellation.
      return static_cast<float>(x / (1.0 + std::exp(-2 * u)));
    }
    case UnaryFn::kExp: return static_cast<float>(std::exp(x));
    case UnaryFn::kErf: return static_cast<float>(std::erf(x));
  }
  return xf;  // unreachable for a valid fn; callers validate
}

const RowKernelTable& GenericRowKernels() {
  static const RowKernelTable table = {UnaryRow, SoftmaxRow, LogSoftmaxRow, LayerNormRow, AddRow};
  return table;
}

}  // namespace sluice::internal
