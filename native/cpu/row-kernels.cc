// Row-kernel entry points: argument checks, variant choice, splitting rows across the pool.
#include "sluice/row-kernels.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "row-kernels-internal.h"
#include "sluice/cpu_features.h"
#include "sluice/thread-pool.h"

namespace sluice {
namespace internal {
namespace {

bool HasAvx512() {
  const CpuFeatures& f = GetCpuFeatures();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx2 && f.fma;
}
bool HasAvx2() {
  const CpuFeatures& f = GetCpuFeatures();
  return f.avx2 && f.fma;
}

}  // namespace

bool ResolveKernelIsa(KernelIsa requested, KernelIsa* resolved) {
  switch (requested) {
    case KernelIsa::kAuto:
      *resolved = HasAvx512() ? KernelIsa::kAvx512 : HasAvx2() ? KernelIsa::kAvx2 : KernelIsa::kGeneric;
      return true;
    case KernelIsa::kGeneric: *resolved = requested; return true;
    case KernelIsa::kAvx2: *resolved = requested; return HasAvx2();
    case KernelIsa::kAvx512: *resolved = requested; return HasAvx512();
  }
  return false;
}

const RowKernelTable& RowKernelsFor(KernelIsa resolved) {
#if defined(__x86_64__) || defined(__i386__)
  if (resolved == KernelIsa::kAvx2) return Avx2RowKernels();
  if (resolved == KernelIsa::kAvx512) return Avx512RowKernels();
#endif
  return GenericRowKernels();
}

}  // namespace internal

namespace {

Status TableFor(KernelIsa isa, const internal::RowKernelTable** table) {
  KernelIsa resolved;
  if (!internal::ResolveKernelIsa(isa, &resolved)) {
    return InvalidArgument(std::string("row kernels: variant ") + KernelIsaName(isa) +
                           " is not supported by this CPU");
  }
  *table = &internal::RowKernelsFor(resolved);
  return Status::Ok();
}

Status CheckBlock(const char* op, const float* x, size_t rows, size_t n, const float* y) {
  if (rows != 0 && n != 0 && (x == nullptr || y == nullptr)) {
    return InvalidArgument(std::string(op) + ": null x or y for a non-empty block");
  }
  return Status::Ok();
}

Status CheckEpsilon(const char* op, float eps) {
  if (!std::isfinite(eps) || eps < 0) {
    return InvalidArgument(std::string(op) + ": epsilon must be finite and >= 0, got " + std::to_string(eps));
  }
  return Status::Ok();
}

// Runs row_fn(r) for every row, split into contiguous chunks across the pool.
template <typename Fn>
void ForEachRow(size_t rows, ThreadPool* pool, const Fn& row_fn) {
  const size_t parts = pool == nullptr ? 1 : std::min(rows, pool->size());
  if (parts <= 1) {
    for (size_t r = 0; r < rows; ++r) row_fn(r);
    return;
  }
  pool->ParallelFor(parts, [&](size_t part) {
    size_t begin, end;
    SplitRange(rows, parts, part, &begin, &end);
    for (size_t r = begin; r < end; ++r) row_fn(r);
  });
}

Status SoftmaxImpl(const char* op, bool log, const float* x, size_t rows, size_t n, float* y,
                   ThreadPool* pool, KernelIsa isa) {
  RETURN_IF_ERROR(CheckBlock(op, x, rows, n, y));
  const internal::RowKernelTable* table = nullptr;
  RETURN_IF_ERROR(TableFor(isa, &table));
  if (n == 0) return Status::Ok();
  const auto row = log ? table->log_softmax : table->softmax;
  ForEachRow(rows, pool, [&](size_t r) { row(x + r * n, n, y + r * n); });
  return Status::Ok();
}

}  // namespace

const char* KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAuto: return "auto";
    case KernelIsa::kGeneric: return "generic";
    case KernelIsa::kAvx2: return "avx2";
    case KernelIsa::kAvx512: return "avx512";
  }
  return "unknown";
}

const char* UnaryFnName(UnaryFn fn) {
  switch (fn) {
    case UnaryFn::kIdentity: return "identity";
    case UnaryFn::kRelu: return "relu";
    case UnaryFn::kLeakyRelu: return "leaky_relu";
    case UnaryFn::kSigmoid: return "sigmoid";
    case UnaryFn::kTanh: return "tanh";
    case UnaryFn::kGelu: return "gelu";
    case UnaryFn::kGeluTanh: return "gelu_tanh";
    case UnaryFn::kExp: return "exp";
    case UnaryFn::kErf: return "erf";
  }
  return "unknown";
}

bool IsValidUnaryFn(UnaryFn fn) {
  const int v = static_cast<int>(fn);
  return v >= static_cast<int>(UnaryFn::kIdentity) && v <= static_cast<int>(UnaryFn::kErf);
}

std::vector<KernelIsa> RowKernelIsas() {
  std::vector<KernelIsa> out;
  for (KernelIsa isa : {KernelIsa::kGeneric, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    KernelIsa resolved;
    if (internal::ResolveKernelIsa(isa, &resolved)) out.push_back(isa);
  }
  return out;
}

Status UnaryF32(UnaryFn fn, float alpha, const float* x, size_t n, float* y, KernelIsa isa) {
  if (!IsValidUnaryFn(fn)) return InvalidArgument("UnaryF32: unknown function");
  RETURN_IF_ERROR(CheckBlock("UnaryF32", x, 1, n, y));
  const internal::RowKernelTable* table = nullptr;
  RETURN_IF_ERROR(TableFor(isa, &table));
  if (n != 0) table->unary(fn, alpha, x, n, y);
  return Status::Ok();
}

Status UnaryF32Parallel(UnaryFn fn, float alpha, const float* x, size_t n, float* y,
                        ThreadPool* pool) {
  // Below this many elements a pool wake-up costs more than the split saves.
  constexpr size_t kParallelMin = size_t{1} << 15;
  constexpr size_t kChunkAlign = 64;  // whole cache lines and vectors per chunk
  if (!IsValidUnaryFn(fn)) return InvalidArgument("UnaryF32: unknown function");
  RETURN_IF_ERROR(CheckBlock("UnaryF32", x, 1, n, y));
  const internal::RowKernelTable* table = nullptr;
  RETURN_IF_ERROR(TableFor(KernelIsa::kAuto, &table));
  const size_t blocks = (n + kChunkAlign - 1) / kChunkAlign;
  ForRanges(blocks, n, kParallelMin, pool, [&](size_t begin, size_t end) {
    begin *= kChunkAlign;
    end = std::min(n, end * kChunkAlign);
    if (end > begin) table->unary(fn, alpha, x + begin, end - begin, y + begin);
  });
  return Status::Ok();
}

Status SoftmaxRows(const float* x, size_t rows, size_t n, float* y, ThreadPool* pool, KernelIsa isa) {
  return SoftmaxImpl("SoftmaxRows", false, x, rows, n, y, pool, isa);
}

Status LogSoftmaxRows(const float* x, size_t rows, size_t n, float* y, ThreadPool* pool,
                      KernelIsa isa) {
  return SoftmaxImpl("LogSoftmaxRows", true, x, rows, n, y, pool, isa);
}

Status LayerNormRows(const float* x, size_t rows, size_t n, float eps, const float* gamma,
                     const float* beta, float* y, ThreadPool* pool, KernelIsa isa) {
  RETURN_IF_ERROR(CheckBlock("LayerNormRows", x, rows, n, y));
  RETURN_IF_ERROR(CheckEpsilon("LayerNormRows", eps));
  const internal::RowKernelTable* table = nullptr;
  RETURN_IF_ERROR(TableFor(isa, &table));
  if (n == 0) return Status::Ok();
  ForEachRow(rows, pool, [&](size_t r) { table->layer_norm(x + r * n, n, eps, gamma, beta, y + r * n); });
  return Status::Ok();
}

Status AddLayerNormRows(const float* a, const float* b, size_t rows, size_t n, float eps,
                        const float* gamma, const float* beta, float* y, ThreadPool* pool,
                        KernelIsa isa) {
  if (rows != 0 && n != 0 && (a == nullptr || b == nullptr || y == nullptr)) {
    return InvalidArgument("AddLayerNormRows: null a, b or y for a non-empty block");
  }
  RETURN_IF_ERROR(CheckEpsilon("AddLayerNormRows", eps));
  const internal::RowKernelTable* table = nullptr;
  RETURN_IF_ERROR(TableFor(isa, &table));
  if (n == 0) return Status::Ok();
  ForEachRow(rows, pool, [&](size_t r) {
    float* yr = y + r * n;
    table->add(a + r * n, b + r * n, n, yr);
    table->layer_norm(yr, n, eps, gamma, beta, yr);
  });
  return Status::Ok();
}

}  // namespace sluice
