// INT8 GEMM driver: weight packing, argument checks, kernel dispatch and the split of the work
// over threads. The arithmetic lives in the variants (int8-gemm-internal.h).
#include "sluice/int8-gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "int8-gemm-internal.h"
#include "row-kernels-internal.h"
#include "sluice/cpu_features.h"

namespace sluice {
namespace {

using int8_gemm::Args;
using int8_gemm::Variant;

constexpr int64_t kPanel = PackedInt8Weights::kPanelWidth;
constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

// Block sizes: a block's weight panels should stay in L2 (1 MB per core on the reference
// machine, shared with A and C) while its row tiles sweep over them.
constexpr int64_t kBlockWeightBytes = 512 * 1024;
constexpr int64_t kBlockRows = 16 * int8_gemm::kMaxTileRows;
// Multiply-accumulates below which Int8Gemm stays on the calling thread.
constexpr int64_t kMinParallelMacs = 256 * 1024;
// At least this many blocks per thread, so that a dynamic schedule evens out the last ones.
constexpr int64_t kBlocksPerThread = 4;

bool Avx2Supported() {
  const CpuFeatures& f = GetCpuFeatures();
  return f.avx2;
}
bool Avx512VnniSupported() {
  const CpuFeatures& f = GetCpuFeatures();
  return f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
}

// The variant for `kernel`, or null when this build or CPU cannot run it.
const Variant* FindVariant(Int8GemmKernel kernel) {
  switch (kernel) {
    case Int8GemmKernel::kAuto: {
      static const Variant* const best = [] {
        const Variant* v = FindVariant(Int8GemmKernel::kAvx512Vnni);
        if (!v) v = FindVariant(Int8GemmKernel::kAvx2);
        return v ? v : &int8_gemm::kGenericVariant;
      }();
      return best;
    }
    case Int8GemmKernel::kGeneric:
      return &int8_gemm::kGenericVariant;
#if defined(__x86_64__) || defined(__i386__)
    case Int8GemmKernel::kAvx2:
      return Avx2Supported() ? &int8_gemm::kAvx2Variant : nullptr;
    case Int8GemmKernel::kAvx512Vnni:
      return Avx512VnniSupported() ? &int8_gemm::kAvx512VnniVariant : nullptr;
#else
    case Int8GemmKernel::kAvx2:
    case Int8GemmKernel::kAvx512Vnni:
      return nullptr;
#endif
  }
  return nullptr;
}

Status FindVariantOrError(Int8GemmKernel kernel, const Variant** out) {
  *out = FindVariant(kernel);
  if (*out == nullptr) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  std::string("int8 gemm: kernel '") + Int8GemmKernelName(kernel) +
                      "' is not supported on this CPU or build");
  }
  return Status::Ok();
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// rows * stride elements of `elem` bytes must be addressable: checked before any pointer
// arithmetic so that huge sizes are INVALID_ARGUMENT, not overflow.
bool FitsInMemory(int64_t rows, int64_t stride, int64_t elem) {
  const int64_t limit = std::numeric_limits<int64_t>::max() / elem;
  return rows == 0 || stride <= limit / rows;
}

Status CheckZeroPoints(const Int8GemmInput& a, int64_t count) {
  if (a.zero_point == nullptr) return Status::Ok();
  const int32_t lo = a.is_signed ? -128 : 0, hi = a.is_signed ? 127 : 255;
  for (int64_t i = 0; i < count; ++i) {
    if (a.zero_point[i] < lo || a.zero_point[i] > hi) {
      return InvalidArgument("int8 gemm: activation zero point " +
                             std::to_string(a.zero_point[i]) + " at index " + std::to_string(i) +
                             " is outside the " + (a.is_signed ? "int8" : "uint8") + " range");
    }
  }
  return Status::Ok();
}

Status CheckArguments(const Int8GemmInput& a, const PackedInt8Weights& b, const Int8GemmOutput& c) {
  if (b.empty()) return InvalidArgument("int8 gemm: weights are not packed");
  if (a.m < 0) return InvalidArgument("int8 gemm: M is negative");
  if (a.k != b.k()) {
    return InvalidArgument("int8 gemm: A has K = " + std::to_string(a.k) +
                           " but the packed weights have K = " + std::to_string(b.k()));
  }
  if (c.n != b.n()) {
    return InvalidArgument("int8 gemm: C has N = " + std::to_string(c.n) +
                           " but the packed weights have N = " + std::to_string(b.n()));
  }
  if (a.lda < a.k) return InvalidArgument("int8 gemm: lda is smaller than K");
  if (c.ldc < c.n) return InvalidArgument("int8 gemm: ldc is smaller than N");
  const int64_t elem = c.type == Int8GemmOutputType::kInt32 || c.type == Int8GemmOutputType::kFloat
                           ? 4
                           : 1;
  if (!FitsInMemory(a.m, a.lda, 1) || !FitsInMemory(a.m, c.ldc, elem)) {
    return InvalidArgument("int8 gemm: M x lda or M x ldc overflows");
  }
  if (a.m == 0) return Status::Ok();
  if (a.data == nullptr) return InvalidArgument("int8 gemm: A is null");
  if (c.data == nullptr) return InvalidArgument("int8 gemm: C is null");
  if (a.quantization != Int8Quantization::kPerTensor &&
      a.quantization != Int8Quantization::kPerRow) {
    return InvalidArgument("int8 gemm: unknown activation quantization");
  }
  RETURN_IF_ERROR(CheckZeroPoints(a, a.quantization == Int8Quantization::kPerRow ? a.m : 1));
  if (!IsValidUnaryFn(c.unary)) return InvalidArgument("int8 gemm: unknown unary");
  if (c.unary != UnaryFn::kIdentity && c.type != Int8GemmOutputType::kFloat) {
    return InvalidArgument("int8 gemm: a unary needs float output");
  }
  switch (c.type) {
    case Int8GemmOutputType::kInt32:
      return Status::Ok();
    case Int8GemmOutputType::kFloat:
      break;
    case Int8GemmOutputType::kUint8:
    case Int8GemmOutputType::kInt8: {
      if (!(c.scale > 0.0f) || !std::isfinite(c.scale)) {
        return InvalidArgument("int8 gemm: output scale must be finite and positive");
      }
      const bool s8 = c.type == Int8GemmOutputType::kInt8;
      if (c.zero_point < (s8 ? -128 : 0) || c.zero_point > (s8 ? 127 : 255)) {
        return InvalidArgument("int8 gemm: output zero point is outside the output type's range");
      }
      break;
    }
    default:
      return InvalidArgument("int8 gemm: unknown output type");
  }
  if (a.scale == nullptr) return InvalidArgument("int8 gemm: activation scale is null");
  if (b.scales().empty()) {
    return InvalidArgument("int8 gemm: weights were packed without scales (kInt32 output only)");
  }
  if (c.activation != Int8GemmActivation::kNone && c.activation != Int8GemmActivation::kRelu) {
    return InvalidArgument("int8 gemm: unknown activation");
  }
  return Status::Ok();
}

Args Normalize(const Int8GemmInput& a, const PackedInt8Weights& b, const Int8GemmOutput& c) {
  Args args;
  args.a = static_cast<const uint8_t*>(a.data);
  args.lda = a.lda;
  args.k = a.k;
  args.b = &b;
  const int64_t per_row = a.quantization == Int8Quantization::kPerRow ? 1 : 0;
  args.a_zp = a.zero_point;
  args.a_zp_stride = per_row;
  args.a_zp_offset = a.is_signed ? 128 : 0;
  args.a_scale = a.scale;
  args.a_scale_stride = per_row;
  args.type = c.type;
  args.c = c.data;
  args.ldc = c.ldc;
  args.n = c.n;
  args.bias = c.bias;
  args.relu = c.activation == Int8GemmActivation::kRelu;
  args.out_scale = c.scale;
  args.out_zero_point = static_cast<float>(c.zero_point);
  const bool s8 = c.type == Int8GemmOutputType::kInt8;
  args.out_min = s8 ? -128.0f : 0.0f;
  args.out_max = s8 ? 127.0f : 255.0f;
  return args;
}

// Runs fn(begin, end) over [0, rows) split into one range per thread.
template <typename Fn>
void ForRowRanges(int64_t rows, ThreadPool* pool, const Fn& fn) {
  const size_t parts = pool ? std::min<size_t>(pool->size(), static_cast<size_t>(rows)) : 1;
  auto run = [&](size_t part) {
    size_t begin, end;
    SplitRange(static_cast<size_t>(rows), parts, part, &begin, &end);
    fn(static_cast<int64_t>(begin), static_cast<int64_t>(end));
  };
  if (pool) {
    pool->ParallelFor(parts, run);
  } else {
    run(0);
  }
}

// int8 -> uint8 by adding 128 (flipping the sign bit), into a dense M x K copy.
void ShiftToUnsigned(const Int8GemmInput& a, uint8_t* out, ThreadPool* pool) {
  ForRowRanges(a.m, pool, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const uint8_t* src = static_cast<const uint8_t*>(a.data) + r * a.lda;
      uint8_t* dst = out + r * a.k;
      for (int64_t i = 0; i < a.k; ++i) dst[i] = src[i] ^ 0x80;
    }
  });
}

// sum_k A[m, k] of the (uint8) activations, modulo 2^32; for the b_zp term.
void RowSums(const Args& args, int64_t m, int32_t* out, ThreadPool* pool) {
  ForRowRanges(m, pool, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const uint8_t* row = args.a + r * args.lda;
      uint32_t sum = 0;  // GCC vectorises this widening sum
      for (int64_t i = 0; i < args.k; ++i) sum += row[i];
      out[r] = static_cast<int32_t>(sum);
    }
  });
}

}  // namespace

bool Int8GemmKernelSupported(Int8GemmKernel kernel) { return FindVariant(kernel) != nullptr; }

const char* Int8GemmKernelName(Int8GemmKernel kernel) {
  switch (kernel) {
    case Int8GemmKernel::kAuto: return "auto";
    case Int8GemmKernel::kGeneric: return "generic";
    case Int8GemmKernel::kAvx2: return "avx2";
    case Int8GemmKernel::kAvx512Vnni: return "avx512vnni";
  }
  return "unknown";
}

void PackedInt8Weights::FreeAligned::operator()(int8_t* p) const { std::free(p); }

namespace {

// 4 bytes as one little-endian word: byte i at bits 8i.
inline uint32_t Word(uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3) {
  return uint32_t{b0} | uint32_t{b1} << 8 | uint32_t{b2} << 16 | uint32_t{b3} << 24;
}

// Writes B into the panel layout (PackedInt8Weights), padding included, reading it in its own
// row order: a whole group of a panel (kPanel columns x 4 k) is one pass of 32-bit stores.
void PackPanels(const int8_t* b, int64_t k, int64_t n, Int8WeightLayout layout, int8_t* packed) {
  const int64_t groups = (k + 3) / 4, panels = (n + kPanel - 1) / kPanel;
  const uint8_t* src = reinterpret_cast<const uint8_t*>(b);
  static const uint8_t kZeros[kPanel] = {};
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t c0 = p * kPanel, cols = std::min(kPanel, n - c0);
    for (int64_t g = 0; g < groups; ++g) {
      uint32_t* dst = reinterpret_cast<uint32_t*>(packed + (p * groups + g) * PackedInt8Weights::kGroupBytes);
      if (layout == Int8WeightLayout::kKxN) {
        const uint8_t* row[4];
        for (int64_t i = 0; i < 4; ++i) {
          const int64_t kk = 4 * g + i;
          row[i] = kk < k ? src + kk * n + c0 : kZeros;
        }
        for (int64_t j = 0; j < cols; ++j) dst[j] = Word(row[0][j], row[1][j], row[2][j], row[3][j]);
      } else {
        const int64_t depth = std::min<int64_t>(4, k - 4 * g);
        for (int64_t j = 0; j < cols; ++j) {
          uint8_t bytes[4] = {0, 0, 0, 0};
          std::memcpy(bytes, src + (c0 + j) * k + 4 * g, static_cast<size_t>(depth));
          dst[j] = Word(bytes[0], bytes[1], bytes[2], bytes[3]);
        }
      }
      for (int64_t j = cols; j < kPanel; ++j) dst[j] = 0;
    }
  }
}

// sum_k B[k, n] per column into sums (zeroed by the caller), modulo 2^32 like the accumulators it
// is subtracted from (the difference is exact whenever the true result fits int32). No
// temporaries: QuantizedMatMul re-packs on every run.
void ColumnSums(const int8_t* b, int64_t k, int64_t n, Int8WeightLayout layout, int32_t* sums) {
  const auto add = [](int32_t sum, int8_t v) {
    return static_cast<int32_t>(static_cast<uint32_t>(sum) + static_cast<uint32_t>(int32_t{v}));
  };
  if (layout == Int8WeightLayout::kKxN) {
    for (int64_t kk = 0; kk < k; ++kk) {
      const int8_t* row = b + kk * n;
      for (int64_t j = 0; j < n; ++j) sums[j] = add(sums[j], row[j]);
    }
  } else {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t kk = 0; kk < k; ++kk) sums[j] = add(sums[j], b[j * k + kk]);
    }
  }
}

}  // namespace

Status PackInt8Weights(const int8_t* b, int64_t k, int64_t n, Int8WeightLayout layout,
                       const float* scales, PackedInt8Weights* out,
                       const int32_t* zero_points) {
  if (out == nullptr) return InvalidArgument("pack int8 weights: out is null");
  if (b == nullptr) return InvalidArgument("pack int8 weights: B is null");
  if (k < 1 || k > kMaxDim || n < 1 || n > kMaxDim) {
    return InvalidArgument("pack int8 weights: K and N must be in [1, 2^31)");
  }
  if (layout != Int8WeightLayout::kKxN && layout != Int8WeightLayout::kNxK) {
    return InvalidArgument("pack int8 weights: unknown layout");
  }
  const int64_t groups = (k + 3) / 4, panels = (n + kPanel - 1) / kPanel;
  if (!FitsInMemory(panels * groups, PackedInt8Weights::kGroupBytes, 1)) {
    return InvalidArgument("pack int8 weights: packed size overflows");
  }
  const bool has_zero_points =
      zero_points && std::any_of(zero_points, zero_points + n, [](int32_t z) { return z != 0; });
  if (has_zero_points) {
    for (int64_t j = 0; j < n; ++j) {
      if (zero_points[j] < -128 || zero_points[j] > 127) {
        return InvalidArgument("pack int8 weights: zero point " + std::to_string(zero_points[j]) +
                               " of column " + std::to_string(j) + " is outside the int8 range");
      }
    }
  }
  // *out's buffers are reused when large enough, so re-packing per run (QuantizedMatMul's
  // activation operand) allocates nothing after warm-up.
  PackedInt8Weights& w = *out;
  const size_t bytes = static_cast<size_t>(panels * groups * PackedInt8Weights::kGroupBytes);
  if (!w.packed_ || w.capacity_ < bytes) {  // a moved-from object keeps a stale capacity_
    w.packed_.reset(static_cast<int8_t*>(std::aligned_alloc(64, bytes)));
    w.capacity_ = w.packed_ ? bytes : 0;
    if (!w.packed_) {
      w.k_ = w.n_ = 0;
      return Status(StatusCode::RESOURCE_EXHAUSTED, "pack int8 weights: out of memory");
    }
  }
  w.k_ = k;
  w.n_ = n;
  const size_t padded = static_cast<size_t>(panels * kPanel);
  PackPanels(b, k, n, layout, w.packed_.get());
  w.column_sums_.assign(padded, 0);
  ColumnSums(b, k, n, layout, w.column_sums_.data());
  w.scales_.clear();
  if (scales) {
    w.scales_.assign(padded, 0.0f);
    std::copy(scales, scales + n, w.scales_.begin());
  }
  w.zero_points_.clear();
  if (has_zero_points) {
    w.zero_points_.assign(padded, 0);
    std::copy(zero_points, zero_points + n, w.zero_points_.begin());
  }
  return Status::Ok();
}

Status Int8Gemm(const Int8GemmInput& a, const PackedInt8Weights& b, const Int8GemmOutput& c,
                ThreadPool* pool, Int8GemmKernel kernel) {
  const Variant* variant;
  RETURN_IF_ERROR(FindVariantOrError(kernel, &variant));
  RETURN_IF_ERROR(CheckArguments(a, b, c));
  if (a.m == 0) return Status::Ok();

  Args args = Normalize(a, b, c);
  std::vector<uint8_t> shifted;
  if (a.is_signed) {
    shifted.resize(static_cast<size_t>(a.m * a.k));
    ShiftToUnsigned(a, shifted.data(), pool);
    args.a = shifted.data();
    args.lda = a.k;
  }
  std::vector<int32_t> row_sums;
  if (!b.zero_points().empty()) {
    row_sums.resize(static_cast<size_t>(a.m));
    RowSums(args, a.m, row_sums.data(), pool);
    args.b_zp = b.zero_points().data();
    args.a_row_sums = row_sums.data();
  }

  // A GEMM this small (~1 us of VNNI work) finishes before a pool wake-up would pay off.
  if (a.m * b.n() * b.k() < kMinParallelMacs) pool = nullptr;
  // Blocks: row ranges aligned to the register tile x panel ranges whose weights fit the L2
  // budget; smaller blocks when there are too few for the threads (M = 1 splits over N only).
  const int64_t threads = pool ? static_cast<int64_t>(pool->size()) : 1;
  const int64_t panels = b.panels();
  const int64_t panel_bytes = std::max<int64_t>(1, b.k_groups() * PackedInt8Weights::kGroupBytes);
  int64_t block_panels = std::clamp<int64_t>(kBlockWeightBytes / panel_bytes, 1, panels);
  int64_t block_rows = std::min(kBlockRows, a.m);
  const int64_t wanted = threads == 1 ? 1 : threads * kBlocksPerThread;
  while (CeilDiv(a.m, block_rows) * CeilDiv(panels, block_panels) < wanted) {
    if (block_panels > 1) {
      block_panels = CeilDiv(block_panels, 2);
    } else if (block_rows > int8_gemm::kMaxTileRows) {
      block_rows = CeilDiv(CeilDiv(block_rows, 2), int8_gemm::kMaxTileRows) *
                   int8_gemm::kMaxTileRows;
    } else {
      break;
    }
  }
  const int64_t row_blocks = CeilDiv(a.m, block_rows);
  const int64_t panel_blocks = CeilDiv(panels, block_panels);
  // A block of C is at most kBlockRows x (kBlockWeightBytes / K) floats (<= 64 x 512 KiB / K,
  // L2-resident), so the unary reads it back from cache, with no int32 pass over C: an INT8
  // encoder's FFN-up layer with Gelu (M = 128, K = 256, N = 1024) took 246-259 us this way
  // against 254-268 us with an int32 pass and the Gelu after it (3 alternating runs).
  void (*unary)(UnaryFn, float, const float*, size_t, float*) = nullptr;
  if (c.unary != UnaryFn::kIdentity) {
    KernelIsa isa = KernelIsa::kGeneric;
    if (variant != &int8_gemm::kGenericVariant) internal::ResolveKernelIsa(KernelIsa::kAuto, &isa);
    unary = internal::RowKernelsFor(isa).unary;
  }
  auto run = [&](size_t i) {
    // Consecutive indices share a panel range, so its weights are reused from cache.
    const int64_t pb = static_cast<int64_t>(i) / row_blocks, rb = static_cast<int64_t>(i) % row_blocks;
    const int64_t m0 = rb * block_rows, p0 = pb * block_panels;
    const int64_t m1 = std::min(a.m, m0 + block_rows), p1 = std::min(panels, p0 + block_panels);
    variant->block(args, m0, m1, p0, p1);
    if (unary == nullptr) return;
    const int64_t n0 = p0 * kPanel, cols = std::min(c.n, p1 * kPanel) - n0;
    for (int64_t m = m0; m < m1; ++m) {
      float* row = static_cast<float*>(c.data) + m * c.ldc + n0;
      unary(c.unary, c.unary_alpha, row, static_cast<size_t>(cols), row);
    }
  };
  const size_t blocks = static_cast<size_t>(row_blocks * panel_blocks);
  if (pool) {
    pool->ParallelFor(blocks, run);
  } else {
    for (size_t i = 0; i < blocks; ++i) run(i);
  }
  return Status::Ok();
}

Status QuantizeRowsUint8(const float* x, int64_t m, int64_t k, int64_t ldx, uint8_t* y,
                         int64_t ldy, float* scales, int32_t* zero_points, ThreadPool* pool,
                         Int8GemmKernel kernel) {
  const Variant* variant;
  RETURN_IF_ERROR(FindVariantOrError(kernel, &variant));
  if (m < 0 || k < 0) return InvalidArgument("quantize rows: M and K must not be negative");
  if (ldx < k || ldy < k) return InvalidArgument("quantize rows: ldx and ldy must be >= K");
  if (!FitsInMemory(m, ldx, 4) || !FitsInMemory(m, ldy, 1)) {
    return InvalidArgument("quantize rows: M x ldx or M x ldy overflows");
  }
  if (m == 0) return Status::Ok();
  if (!scales || !zero_points || (k > 0 && (!x || !y))) {
    return InvalidArgument("quantize rows: a buffer is null");
  }
  ForRowRanges(m, pool, [&](int64_t begin, int64_t end) {
    variant->quantize(x + begin * ldx, end - begin, k, ldx, y + begin * ldy, ldy, scales + begin,
                      zero_points + begin);
  });
  return Status::Ok();
}

Status QuantizeLinearFixed(const float* x, int64_t count, float scale, int32_t zero_point,
                           bool is_signed, void* y, ThreadPool* pool, Int8GemmKernel kernel) {
  const Variant* variant;
  RETURN_IF_ERROR(FindVariantOrError(kernel, &variant));
  if (count < 0) return InvalidArgument("quantize: count is negative");
  if (!std::isfinite(scale) || scale == 0.0f)
    return InvalidArgument("quantize: scale must be finite and nonzero");
  if (zero_point < (is_signed ? -128 : 0) || zero_point > (is_signed ? 127 : 255))
    return InvalidArgument("quantize: zero point is outside the output type's range");
  if (count == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return InvalidArgument("quantize: a buffer is null");
  // Below ~32K elements (~10 us) a pool wake-up costs more than it saves.
  constexpr int64_t kChunk = 32 * 1024;
  const int64_t parts = pool ? std::min<int64_t>(static_cast<int64_t>(pool->size()),
                                                 CeilDiv(count, kChunk))
                             : 1;
  auto run = [&](size_t part) {
    size_t begin, end;
    SplitRange(static_cast<size_t>(count), static_cast<size_t>(parts), part, &begin, &end);
    variant->quantize_fixed(x + begin, static_cast<int64_t>(end - begin), scale,
                            static_cast<float>(zero_point), is_signed,
                            static_cast<uint8_t*>(y) + begin);
  };
  if (parts > 1) {
    pool->ParallelFor(static_cast<size_t>(parts), run);
  } else {
    run(0);
  }
  return Status::Ok();
}

}  // namespace sluice
