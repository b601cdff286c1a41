// FP32 GEMM driver: argument checks, packing, blocking, threads and variant dispatch. The
// per-ISA block kernels (fp32-gemm-{generic,avx2,avx512}.cc) only ever see packed operands.
//
// Blocking (Goto/BLIS style, N-vectorised): the output is cut into blocks of up to kMaxStrips
// strips of mr rows by nc columns; one block is one task. A task walks K in passes of kKc:
// it packs its A rows for the pass (<= 14 x 8 x 256 floats = 112 KiB, L2-resident; the kernel
// keeps one 14 x 256 strip, 14 KiB, in L1) and streams the pass's B panels (kKc x nc, <= 512 KiB)
// once per strip (outputs of at most kShortM rows take K in one pass: see kShortKc). Tasks are
// handed out dynamically, and every C element is computed by exactly
// one task in a fixed k order, so results do not depend on the number of threads.
#include "sluice/fp32-gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "fp32-gemm-internal.h"
#include "row-kernels-internal.h"
#include "sluice/thread-pool.h"

namespace sluice {
namespace internal {

float* AllocateAlignedFloats(size_t count) {
  if (count > SIZE_MAX / sizeof(float)) return nullptr;
  return static_cast<float*>(::operator new[](std::max<size_t>(count, 1) * sizeof(float),
                                              std::align_val_t(64), std::nothrow));
}

void FreeAlignedFloats(float* p) { ::operator delete[](p, std::align_val_t(64)); }

void PackBPanels(const float* b, size_t ldb, bool trans_b, size_t k, size_t n, size_t panel_begin,
                 size_t panel_end, float* packed) {
  for (size_t p = panel_begin; p < panel_end; ++p) {
    float* dst = packed + p * k * kPanelWidth;
    const size_t col0 = p * kPanelWidth;
    const size_t width = std::min(kPanelWidth, n - col0);
    if (width < kPanelWidth) std::memset(dst, 0, k * kPanelWidth * sizeof(float));
    if (!trans_b) {
      for (size_t kk = 0; kk < k; ++kk) {
        std::memcpy(dst + kk * kPanelWidth, b + kk * ldb + col0, width * sizeof(float));
      }
    } else {
      for (size_t j = 0; j < width; ++j) {  // read each row of B^T contiguously
        const float* src = b + (col0 + j) * ldb;
        for (size_t kk = 0; kk < k; ++kk) dst[kk * kPanelWidth + j] = src[kk];
      }
    }
  }
}

}  // namespace internal

namespace {

using internal::kPanelWidth;

constexpr size_t kKc = 256;         // K depth of one pass
// Short outputs (M <= kShortM: batch-1 inference, a 32-token sequence, batches up to 32) take K
// in one pass of up to kShortKc: every B element is used by only M rows, and one pass streams
// each packed panel front to back instead of in 16 KiB pieces with a C round trip (and, per
// column task, a repack of A) between them. At M = 1 the kernel is bound by streaming B; at
// M = 8 and 32 (K = 1024-2048) one pass measured 0-5% faster on one thread and 2-15% on two
// than passes of 256 (fp32 gemm bench, 2 runs of 5 repeats), though a 14 x K strip no longer
// fits in L1.
constexpr size_t kShortM = 32;
constexpr size_t kShortKc = 4096;
constexpr size_t kMaxStrips = 8;    // strips per block
constexpr size_t kMinStrips = 4;    // fewest strips per block when splitting M for parallelism
constexpr size_t kMaxNc = 512;      // columns per block
constexpr size_t kMinNc = 64;       // narrowest block when splitting N for parallelism

size_t CeilDiv(size_t a, size_t b) { return (a + b - 1) / b; }

constexpr size_t kMaxMr = 16;  // tallest register tile of any variant

// Writes rows [i0, i0+rows) x cols [k0, k0+kc) of A as strips of mr rows (fp32-gemm-internal.h).
void PackA(const float* a, size_t lda, bool trans_a, size_t i0, size_t rows, size_t k0, size_t kc,
           size_t mr, float* out) {
  for (size_t s = 0; s * mr < rows; ++s) {
    float* strip = out + s * kc * mr;
    const size_t live = std::min(mr, rows - s * mr);
    if (!trans_a) {
      // k outer: the strip is written front to back (row outer strided every store by mr).
      const float* rows[kMaxMr];
      for (size_t r = 0; r < live; ++r) rows[r] = a + (i0 + s * mr + r) * lda + k0;
      if (live == mr && mr == 14) {
        for (size_t k = 0; k < kc; ++k) {
          float* dst = strip + k * 14;
          for (size_t r = 0; r < 14; ++r) dst[r] = rows[r][k];
        }
      } else {
        for (size_t k = 0; k < kc; ++k) {
          float* dst = strip + k * mr;
          for (size_t r = 0; r < live; ++r) dst[r] = rows[r][k];
        }
      }
    } else {
      for (size_t k = 0; k < kc; ++k) {
        const float* src = a + (k0 + k) * lda + i0 + s * mr;
        for (size_t r = 0; r < live; ++r) strip[k * mr + r] = src[r];
      }
    }
    // Rows past the block's end are left unwritten: the kernels never read them.
  }
}

struct Dispatch {
  const internal::Fp32GemmKernel* kernel;
  void (*unary)(UnaryFn, float, const float*, size_t, float*);
};

Status ResolveDispatch(KernelIsa isa, Dispatch* out) {
  KernelIsa resolved;
  if (!internal::ResolveKernelIsa(isa, &resolved)) {
    return InvalidArgument(std::string("fp32 gemm: variant ") + KernelIsaName(isa) +
                           " is not supported by this CPU");
  }
  out->unary = internal::RowKernelsFor(resolved).unary;
  out->kernel = &internal::GenericFp32GemmKernel();
#if defined(__x86_64__) || defined(__i386__)
  if (resolved == KernelIsa::kAvx2) out->kernel = &internal::Avx2Fp32GemmKernel();
  if (resolved == KernelIsa::kAvx512) out->kernel = &internal::Avx512Fp32GemmKernel();
#endif
  if (out->kernel->mr > kMaxMr) return Internal("fp32 gemm: kernel strip taller than kMaxMr");
  return Status::Ok();
}

bool IsValidBiasKind(BiasKind kind) {
  const int v = static_cast<int>(kind);
  return v >= static_cast<int>(BiasKind::kNone) && v <= static_cast<int>(BiasKind::kMatrix);
}

// Checks everything but B. Pointers are only required where something will be read or written.
Status CheckArgs(const Fp32GemmArgs& args, const Fp32Batch& batch) {
  const Fp32Epilogue& ep = args.epilogue;
  if (!IsValidUnaryFn(ep.activation)) return InvalidArgument("fp32 gemm: unknown activation");
  if (!IsValidBiasKind(ep.bias_kind)) return InvalidArgument("fp32 gemm: unknown bias kind");
  if (batch.count == 0 || args.m == 0 || args.n == 0) return Status::Ok();
  if (args.c == nullptr) return InvalidArgument("fp32 gemm: c is null");
  if (args.ldc < args.n) {
    return InvalidArgument("fp32 gemm: ldc " + std::to_string(args.ldc) + " < n " + std::to_string(args.n));
  }
  if (args.k > 0) {
    if (args.a == nullptr) return InvalidArgument("fp32 gemm: a is null");
    const size_t min_lda = args.trans_a ? args.m : args.k;
    if (args.lda < min_lda) {
      return InvalidArgument("fp32 gemm: lda " + std::to_string(args.lda) + " < " + std::to_string(min_lda));
    }
  }
  if (ep.bias_kind != BiasKind::kNone) {
    if (ep.bias == nullptr) return InvalidArgument("fp32 gemm: bias kind set but bias is null");
    if (ep.bias == args.c) return InvalidArgument("fp32 gemm: bias must not alias c");
    if (ep.bias_kind == BiasKind::kMatrix && ep.ld_bias < args.n) {
      return InvalidArgument("fp32 gemm: ld_bias " + std::to_string(ep.ld_bias) + " < n");
    }
  }
  // Items must not write each other's outputs (they run concurrently): each item's block starts
  // past the previous one's end, or the items sit side by side within every row of C (attention
  // heads written straight into their merged [tokens, heads * d] layout).
  if (batch.count > 1) {
    const bool stacked = batch.stride_c >= (args.m - 1) * args.ldc + args.n;
    const bool side_by_side =
        batch.stride_c >= args.n && (batch.count - 1) * batch.stride_c + args.n <= args.ldc;
    if (!stacked && !side_by_side) {
      return InvalidArgument("fp32 gemm: batch stride_c " + std::to_string(batch.stride_c) +
                             " makes the outputs of batch items overlap");
    }
  }
  return Status::Ok();
}

// One call's worth of state shared by its tasks.
struct Plan {
  const Fp32GemmArgs* args;
  const Fp32Batch* batch;
  Dispatch dispatch;
  const float* b_packed;  // item 0's panels
  size_t b_item_stride;   // floats between items' panels (0: shared weights)
  size_t nc, kc, tiles_m, tiles_n, tasks;
};

// Row block tm of an M split into `tiles` blocks: [RowBound(tm), RowBound(tm + 1)). Bounds fall
// on whole strips of mr rows, each at the strip boundary nearest to tm * M / tiles, and the last
// block takes the remainder, so blocks differ by at most about one strip: M = 256 in 14-row
// strips splits 126 + 130 (equal-height blocks of whole strips gave 140 + 116, and two threads
// waited on the longer one).
size_t RowBound(size_t m, size_t tiles, size_t mr, size_t tm) {
  if (tm >= tiles) return m;
  const size_t nearest = (2 * tm * m + tiles * mr) / (2 * tiles * mr) * mr;
  return std::min(nearest, m);
}

void RunTask(const Plan& plan, size_t task, float* a_buf) {
  const Fp32GemmArgs& args = *plan.args;
  const size_t mr = plan.dispatch.kernel->mr;
  const size_t item = task / (plan.tiles_m * plan.tiles_n);
  const size_t tm = task / plan.tiles_n % plan.tiles_m, tn = task % plan.tiles_n;
  const size_t i0 = RowBound(args.m, plan.tiles_m, mr, tm);
  const size_t rows = RowBound(args.m, plan.tiles_m, mr, tm + 1) - i0;
  if (rows == 0) return;
  const size_t j0 = tn * plan.nc, cols = std::min(plan.nc, args.n - j0);

  const Fp32Epilogue& e = args.epilogue;
  internal::GemmEpilogue ep = {e.alpha, e.beta, e.bias_kind, e.bias, e.ld_bias,
                               e.activation, e.activation_alpha, plan.dispatch.unary};
  if (e.bias_kind == BiasKind::kMatrix) ep.bias += item * plan.batch->stride_bias;
  const float* a = args.a == nullptr ? nullptr : args.a + item * plan.batch->stride_a;
  const size_t panel_stride = args.k * kPanelWidth;
  const float* b = plan.b_packed + item * plan.b_item_stride + (j0 / kPanelWidth) * panel_stride;
  float* c = args.c + item * plan.batch->stride_c;

  for (size_t k0 = 0;; k0 += plan.kc) {  // at least one pass, so K = 0 still writes the epilogue
    const size_t kc = std::min(plan.kc, args.k - k0);
    if (plan.dispatch.kernel->pack_a != nullptr && !args.trans_a) {
      plan.dispatch.kernel->pack_a(a, args.lda, i0, rows, k0, kc, a_buf);
    } else {
      PackA(a, args.lda, args.trans_a, i0, rows, k0, kc, mr, a_buf);
    }
    internal::BlockJob job = {a_buf, rows, b + k0 * kPanelWidth, panel_stride, cols, kc,
                              c + i0 * args.ldc + j0, args.ldc, i0, j0,
                              k0 > 0, k0 + kc >= args.k, &ep};
    plan.dispatch.kernel->block(job);
    if (job.last) break;
  }
}

Status Run(const Fp32GemmArgs& args, const Dispatch& dispatch, const float* b_packed,
           size_t b_item_stride, ThreadPool* pool, const Fp32Batch& batch) {
  const size_t mr = dispatch.kernel->mr;
  const size_t threads = pool == nullptr ? 1 : pool->size();
  Plan plan = {&args, &batch, dispatch, b_packed, b_item_stride, 0, 0, 0, 0, 0};
  // Passes of equal depth: K = 784 takes 3 passes of ~262 rather than 3 of 256 and one of 16,
  // whose C round trip would cost as much as its FMAs. At most kKc + kKc / 8 deep (A's strip
  // stays in L1).
  plan.kc = args.m <= kShortM ? kShortKc : kKc;
  if (args.k > plan.kc) {
    const size_t passes = CeilDiv(args.k, plan.kc);
    const size_t even = CeilDiv(args.k, passes);
    const size_t fewer = CeilDiv(args.k, passes - 1);
    plan.kc = fewer <= plan.kc + plan.kc / 8 ? fewer : even;
  }
  // With more than one thread, until every thread has about two tasks: first more, shorter row
  // blocks (down to kMinStrips strips; each task packs only its own rows of A), then narrower
  // column blocks (M = 1 needs them; each packs its rows of A again: splitting M = 256 by
  // columns first cost 2 threads 10-15% of their speed on 784 -> 256 -> 128 layers). One thread
  // gains nothing from more tasks, and each would pack its A rows again (~4% of M = 32,
  // K = 1024, N = 256).
  plan.tiles_m = CeilDiv(args.m, kMaxStrips * mr);
  plan.nc = kMaxNc;
  const auto tasks = [&] { return batch.count * plan.tiles_m * CeilDiv(args.n, plan.nc); };
  const size_t most_tiles_m = CeilDiv(args.m, kMinStrips * mr);
  const size_t wanted = threads == 1 ? 1 : 2 * threads;
  while (tasks() < wanted && plan.tiles_m < most_tiles_m) ++plan.tiles_m;
  while (plan.nc > kMinNc && tasks() < wanted) plan.nc /= 2;
  // Row blocks of nearly equal height, each a whole number of strips but the last (RowBound).
  size_t mc = 0;
  for (size_t tm = 0; tm < plan.tiles_m; ++tm) {
    mc = std::max(mc, RowBound(args.m, plan.tiles_m, mr, tm + 1) - RowBound(args.m, plan.tiles_m, mr, tm));
  }
  plan.tiles_n = CeilDiv(args.n, plan.nc);
  plan.tasks = batch.count * plan.tiles_m * plan.tiles_n;

  const size_t workers = std::min(threads, plan.tasks);
  const size_t a_buf_floats = CeilDiv(mc, mr) * mr * std::min(plan.kc, std::max<size_t>(args.k, 1));
  float* a_bufs = internal::AllocateAlignedFloats(workers * a_buf_floats);
  if (a_bufs == nullptr) return Status(StatusCode::RESOURCE_EXHAUSTED, "fp32 gemm: out of memory");
  std::atomic<size_t> next{0};
  auto worker = [&](size_t w) {
    for (size_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < plan.tasks;) {
      RunTask(plan, t, a_bufs + w * a_buf_floats);
    }
  };
  if (workers <= 1) {
    worker(0);
  } else {
    pool->ParallelFor(workers, worker);
  }
  internal::FreeAlignedFloats(a_bufs);
  return Status::Ok();
}

}  // namespace

void PackedFp32Weights::FreeAligned::operator()(float* p) const { internal::FreeAlignedFloats(p); }

size_t PackedFp32Weights::bytes() const {
  return data_ == nullptr ? 0 : internal::PanelCount(n_) * kPanelWidth * k_ * sizeof(float);
}

Status PackedFp32Weights::Pack(const float* b, size_t k, size_t n, size_t ldb, bool transposed,
                               PackedFp32Weights* out) {
  if (out == nullptr) return InvalidArgument("PackedFp32Weights::Pack: out is null");
  if (b == nullptr) return InvalidArgument("PackedFp32Weights::Pack: b is null");
  if (k == 0 || n == 0) return InvalidArgument("PackedFp32Weights::Pack: k and n must be > 0");
  if (ldb < (transposed ? k : n)) {
    return InvalidArgument("PackedFp32Weights::Pack: ldb " + std::to_string(ldb) + " too small");
  }
  const size_t panels = internal::PanelCount(n);
  if (panels > SIZE_MAX / kPanelWidth / k) return InvalidArgument("PackedFp32Weights::Pack: too large");
  float* data = internal::AllocateAlignedFloats(panels * kPanelWidth * k);
  if (data == nullptr) {
    return Status(StatusCode::RESOURCE_EXHAUSTED, "PackedFp32Weights::Pack: out of memory");
  }
  internal::PackBPanels(b, ldb, transposed, k, n, 0, panels, data);
  out->data_.reset(data);
  out->k_ = k;
  out->n_ = n;
  return Status::Ok();
}

Status Fp32GemmPacked(const Fp32GemmArgs& args, const PackedFp32Weights& weights, ThreadPool* pool,
                      const Fp32Batch& batch) {
  RETURN_IF_ERROR(CheckArgs(args, batch));
  Dispatch dispatch;
  RETURN_IF_ERROR(ResolveDispatch(args.isa, &dispatch));
  if (weights.empty()) return InvalidArgument("fp32 gemm: packed weights are empty");
  if (weights.k() != args.k || weights.n() != args.n) {
    return InvalidArgument("fp32 gemm: packed weights are " + std::to_string(weights.k()) + " x " +
                           std::to_string(weights.n()) + ", the call needs " + std::to_string(args.k) +
                           " x " + std::to_string(args.n));
  }
  if (batch.count == 0 || args.m == 0) return Status::Ok();
  return Run(args, dispatch, weights.data(), 0, pool, batch);
}

Status Fp32Gemm(const Fp32GemmArgs& args, const float* b, size_t ldb, bool trans_b, ThreadPool* pool,
                const Fp32Batch& batch) {
  RETURN_IF_ERROR(CheckArgs(args, batch));
  Dispatch dispatch;
  RETURN_IF_ERROR(ResolveDispatch(args.isa, &dispatch));
  if (batch.count == 0 || args.m == 0 || args.n == 0) return Status::Ok();
  if (args.k > 0) {
    if (b == nullptr) return InvalidArgument("fp32 gemm: b is null");
    if (ldb < (trans_b ? args.k : args.n)) {
      return InvalidArgument("fp32 gemm: ldb " + std::to_string(ldb) + " too small");
    }
  }
  // Pack every distinct B (one when stride_b is 0), panels spread over the pool.
  const size_t items = batch.stride_b == 0 ? 1 : batch.count;
  const size_t panels = internal::PanelCount(args.n);
  const size_t item_floats = panels * kPanelWidth * args.k;
  float* packed = internal::AllocateAlignedFloats(items * item_floats);
  if (packed == nullptr) return Status(StatusCode::RESOURCE_EXHAUSTED, "fp32 gemm: out of memory");
  if (args.k > 0) {
    const size_t jobs = items * panels;
    const internal::PackBFn pack_b =
        dispatch.kernel->pack_b != nullptr ? dispatch.kernel->pack_b : internal::PackBPanels;
    auto pack = [&](size_t j) {
      const size_t item = j / panels, p = j % panels;
      pack_b(b + item * batch.stride_b, ldb, trans_b, args.k, args.n, p, p + 1,
             packed + item * item_floats);
    };
    if (pool == nullptr) {
      for (size_t j = 0; j < jobs; ++j) pack(j);
    } else {
      pool->ParallelFor(jobs, pack);
    }
  }
  const Status status = Run(args, dispatch, packed, items == 1 ? 0 : item_floats, pool, batch);
  internal::FreeAlignedFloats(packed);
  return status;
}

std::vector<KernelIsa> Fp32GemmIsas() { return RowKernelIsas(); }

}  // namespace sluice
