// Scalar FP32 GEMM block kernel: the portable fallback, and the arithmetic the SIMD kernels are
// held to (same packed operands, same k order, float accumulation).
#include "fp32-gemm-internal.h"
#include "row-kernels-internal.h"

namespace sluice::internal {
namespace {

constexpr size_t kStripRows = 4;

void Block(const BlockJob& job) {
  const GemmEpilogue& ep = *job.epilogue;
  for (size_t row = 0; row < job.rows; ++row) {
    const float* a = job.a + (row / kStripRows) * job.kc * kStripRows + row % kStripRows;
    float* c = job.c + row * job.ldc;
    for (size_t col = 0; col < job.cols; ++col) {
      const float* b = job.b + (col / kPanelWidth) * job.panel_stride + col % kPanelWidth;
      float acc = 0.0f;
      for (size_t k = 0; k < job.kc; ++k) acc += a[k * kStripRows] * b[k * kPanelWidth];
      if (job.accumulate) acc += c[col];
      if (job.last) {
        acc *= ep.alpha;
        if (ep.bias_kind != BiasKind::kNone) acc += ep.beta * BiasAt(ep, job.row0 + row, job.col0 + col);
      }
      c[col] = acc;
    }
  }
  if (job.last) ActivateTile(ep, job.c, job.ldc, job.rows, job.cols);
}

}  // namespace

const Fp32GemmKernel& GenericFp32GemmKernel() {
  static const Fp32GemmKernel kernel = {kStripRows, Block};
  return kernel;
}

}  // namespace sluice::internal
