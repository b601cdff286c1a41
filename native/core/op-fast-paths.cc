// Fast paths of the engine's float binaries and Transpose (op-fast-paths.h).
#include "op-fast-paths.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::engine {
namespace {

// Below this many elements an op runs on the calling thread: splitting costs more than it saves.
constexpr size_t kParallelMin = size_t{1} << 16;

template <typename Fn>
void ForRanges(size_t n, size_t work, ThreadPool* pool, const Fn& fn) {
  sluice::ForRanges(n, work, kParallelMin, pool, fn);
}

// True if `s`, broadcast to `o`, is its own elements repeated as one contiguous block: its dims,
// right-aligned against o's, are 1s followed by o's trailing dims. *tile = its element count.
bool TileOf(const Shape& s, const Shape& o, size_t* tile) {
  if (s.size() > o.size()) return false;
  const size_t off = o.size() - s.size();
  size_t k = s.size();
  while (k > 0 && s[k - 1] == o[off + k - 1]) --k;
  for (size_t i = 0; i < k; ++i) {
    if (s[i] != 1) return false;
  }
  size_t n = 1;
  for (size_t i = k; i < s.size(); ++i) n *= static_cast<size_t>(s[i]);
  *tile = n;
  return true;
}

// y = f(full, tiled) (or f(tiled, full) when tiled_first) over the flat range [begin, end) of the
// output; `tiled` repeats every `tile` elements (tile == n: both full).
template <bool kTiledFirst, typename F>
void TiledRange(const float* __restrict full, const float* __restrict tiled, size_t tile,
                float* __restrict y, size_t begin, size_t end, F f) {
  if (tile == 1) {
    const float s = tiled[0];
    for (size_t i = begin; i < end; ++i) y[i] = kTiledFirst ? f(s, full[i]) : f(full[i], s);
    return;
  }
  size_t i = begin;
  while (i < end) {
    const size_t c = i % tile;
    const size_t len = std::min(tile - c, end - i);
    const float* __restrict fp = full + i;
    const float* __restrict tp = tiled + c;
    float* __restrict yp = y + i;
    for (size_t j = 0; j < len; ++j) yp[j] = kTiledFirst ? f(tp[j], fp[j]) : f(fp[j], tp[j]);
    i += len;
  }
}

template <typename F>
void BinaryWith(F f, const float* full, const float* tiled, size_t tile, bool tiled_first,
                float* y, size_t n, ThreadPool* pool) {
  ForRanges(n, n, pool, [&](size_t begin, size_t end) {
    if (tiled_first) {
      TiledRange<true>(full, tiled, tile, y, begin, end, f);
    } else {
      TiledRange<false>(full, tiled, tile, y, begin, end, f);
    }
  });
}

// Row-major strides of dims.
std::vector<size_t> Strides(const std::vector<size_t>& dims) {
  std::vector<size_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

// out rows of `inner` contiguous elements: output dims od (the last being inner), input offset of
// output index i along dim d stepping by st[d].
void BlockCopy(size_t elem, const uint8_t* x, uint8_t* out, const std::vector<size_t>& od,
               const std::vector<size_t>& st, size_t inner, size_t rows, ThreadPool* pool) {
  const size_t outer_rank = od.size();
  const size_t bytes = inner * elem;
  ForRanges(rows, rows * inner, pool, [&](size_t begin, size_t end) {
    // Odometer over the output's outer dims, starting at row `begin`.
    std::vector<size_t> idx(outer_rank, 0);
    size_t off = 0, rest = begin;
    for (size_t d = outer_rank; d-- > 0;) {
      idx[d] = rest % od[d];
      rest /= od[d];
      off += idx[d] * st[d];
    }
    for (size_t r = begin; r < end; ++r) {
      std::memcpy(out + r * bytes, x + off * elem, bytes);
      for (size_t d = outer_rank; d-- > 0;) {
        off += st[d];
        if (++idx[d] < od[d]) break;
        off -= idx[d] * st[d];
        idx[d] = 0;
      }
    }
  });
}

// out[b][c][r] = x[b][r][c] for b < batch, r < rows, c < cols, in square tiles.
template <typename T>
void BatchedTranspose(const T* x, T* out, size_t batch, size_t rows, size_t cols,
                      ThreadPool* pool) {
  constexpr size_t kTile = 16;
  const size_t col_tiles = (cols + kTile - 1) / kTile;
  ForRanges(batch * col_tiles, batch * rows * cols, pool, [&](size_t begin, size_t end) {
    for (size_t u = begin; u < end; ++u) {
      const size_t b = u / col_tiles, c0 = (u % col_tiles) * kTile;
      const size_t c1 = std::min(cols, c0 + kTile);
      const T* __restrict src = x + b * rows * cols;
      T* __restrict dst = out + b * rows * cols;
      for (size_t r0 = 0; r0 < rows; r0 += kTile) {
        const size_t r1 = std::min(rows, r0 + kTile);
        for (size_t c = c0; c < c1; ++c) {
          for (size_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * cols + c];
        }
      }
    }
  });
}

#if defined(__SSE2__)
// 4-byte elements: 4x4 blocks through SSE registers, the ragged edges element by element.
template <>
void BatchedTranspose<uint32_t>(const uint32_t* x, uint32_t* out, size_t batch, size_t rows,
                                size_t cols, ThreadPool* pool) {
  constexpr size_t kTile = 16;
  const size_t col_tiles = (cols + kTile - 1) / kTile;
  ForRanges(batch * col_tiles, batch * rows * cols, pool, [&](size_t begin, size_t end) {
    for (size_t u = begin; u < end; ++u) {
      const size_t b = u / col_tiles, c0 = (u % col_tiles) * kTile;
      const size_t c1 = std::min(cols, c0 + kTile);
      const uint32_t* src = x + b * rows * cols;
      uint32_t* dst = out + b * rows * cols;
      const size_t r4 = rows & ~size_t{3}, c4 = c0 + ((c1 - c0) & ~size_t{3});
      for (size_t r = 0; r < r4; r += 4) {
        for (size_t c = c0; c < c4; c += 4) {
          __m128 v0 = _mm_loadu_ps(reinterpret_cast<const float*>(src + (r + 0) * cols + c));
          __m128 v1 = _mm_loadu_ps(reinterpret_cast<const float*>(src + (r + 1) * cols + c));
          __m128 v2 = _mm_loadu_ps(reinterpret_cast<const float*>(src + (r + 2) * cols + c));
          __m128 v3 = _mm_loadu_ps(reinterpret_cast<const float*>(src + (r + 3) * cols + c));
          _MM_TRANSPOSE4_PS(v0, v1, v2, v3);
          _mm_storeu_ps(reinterpret_cast<float*>(dst + (c + 0) * rows + r), v0);
          _mm_storeu_ps(reinterpret_cast<float*>(dst + (c + 1) * rows + r), v1);
          _mm_storeu_ps(reinterpret_cast<float*>(dst + (c + 2) * rows + r), v2);
          _mm_storeu_ps(reinterpret_cast<float*>(dst + (c + 3) * rows + r), v3);
        }
        for (size_t c = c4; c < c1; ++c) {
          for (size_t i = r; i < r + 4; ++i) dst[c * rows + i] = src[i * cols + c];
        }
      }
      for (size_t c = c0; c < c1; ++c) {
        for (size_t r = r4; r < rows; ++r) dst[c * rows + r] = src[r * cols + c];
      }
    }
  });
}
#endif

template <typename T>
void BatchedTransposeBytes(const void* x, void* out, size_t batch, size_t rows, size_t cols,
                           ThreadPool* pool) {
  BatchedTranspose(static_cast<const T*>(x), static_cast<T*>(out), batch, rows, cols, pool);
}

}  // namespace

Status BinaryF32(kernels::BinaryOp op, const float* a, const Shape& a_shape, const float* b,
                 const Shape& b_shape, const Shape& out_shape, float* out, ThreadPool* pool) {
  if (FastBinaryF32(op, a, a_shape, b, b_shape, out_shape, out, pool)) return Status::Ok();
  return kernels::Binary(op, DType::kFloat, a, a_shape, b, b_shape, out);
}

bool FastBinaryF32(kernels::BinaryOp op, const float* a, const Shape& a_shape, const float* b,
                   const Shape& b_shape, const Shape& out_shape, float* out, ThreadPool* pool) {
  if (op == kernels::BinaryOp::kPow) return false;
  size_t n = 1;
  for (int64_t d : out_shape) {
    if (d <= 0) return false;  // empty (or not concrete): the reference handles it
    n *= static_cast<size_t>(d);
  }
  size_t ta = 0, tb = 0;
  if (!TileOf(a_shape, out_shape, &ta) || !TileOf(b_shape, out_shape, &tb)) return false;
  if (a == nullptr || b == nullptr || out == nullptr) return false;
  const float* full = nullptr;
  const float* tiled = nullptr;
  size_t tile = 0;
  bool tiled_first = false;
  if (ta == n) {
    full = a, tiled = b, tile = tb;
  } else if (tb == n) {
    full = b, tiled = a, tile = ta, tiled_first = true;
  } else {
    return false;  // both operands broadcast (an outer product): the reference walk
  }
  if (tile == 0 || n % tile != 0) return false;
  switch (op) {
    case kernels::BinaryOp::kAdd:
      BinaryWith([](float u, float v) { return u + v; }, full, tiled, tile, tiled_first, out, n,
                 pool);
      return true;
    case kernels::BinaryOp::kSub:
      BinaryWith([](float u, float v) { return u - v; }, full, tiled, tile, tiled_first, out, n,
                 pool);
      return true;
    case kernels::BinaryOp::kMul:
      BinaryWith([](float u, float v) { return u * v; }, full, tiled, tile, tiled_first, out, n,
                 pool);
      return true;
    case kernels::BinaryOp::kDiv:
      BinaryWith([](float u, float v) { return u / v; }, full, tiled, tile, tiled_first, out, n,
                 pool);
      return true;
    default: return false;
  }
}

bool FastTranspose(size_t elem, const void* x, const Shape& shape, const std::vector<int64_t>& perm,
                   void* out, ThreadPool* pool) {
  const size_t rank = shape.size();
  std::vector<int64_t> p = perm;
  if (p.empty()) {
    for (size_t i = rank; i-- > 0;) p.push_back(static_cast<int64_t>(i));
  }
  if (p.size() != rank || x == nullptr || out == nullptr) return false;
  if (elem != 1 && elem != 2 && elem != 4 && elem != 8) return false;
  size_t total = 1;
  for (int64_t d : shape) {
    if (d <= 0) return false;  // empty: the reference handles it
    total *= static_cast<size_t>(d);
  }
  // Drop size-1 dims (they do not move anything), renumbering the rest.
  std::vector<int64_t> renumbered(rank, -1);
  std::vector<size_t> kept;
  for (size_t d = 0; d < rank; ++d) {
    if (shape[d] != 1) {
      renumbered[d] = static_cast<int64_t>(kept.size());
      kept.push_back(static_cast<size_t>(shape[d]));
    }
  }
  // Output-order runs of consecutive input dims merge into one dim: (first, last) input dims.
  std::vector<std::pair<size_t, size_t>> groups;
  for (int64_t q : p) {
    if (q < 0 || static_cast<size_t>(q) >= rank) return false;
    if (shape[static_cast<size_t>(q)] == 1) continue;
    const size_t v = static_cast<size_t>(renumbered[static_cast<size_t>(q)]);
    if (!groups.empty() && groups.back().second + 1 == v) {
      groups.back().second = v;
    } else {
      groups.emplace_back(v, v);
    }
  }
  const size_t m = groups.size();
  if (m <= 1) {  // the identity after merging: one copy
    const uint8_t* src = static_cast<const uint8_t*>(x);
    uint8_t* dst = static_cast<uint8_t*>(out);
    ForRanges(total, total, pool, [&](size_t begin, size_t end) {
      std::memcpy(dst + begin * elem, src + begin * elem, (end - begin) * elem);
    });
    return true;
  }
  // Merged input dims in input order; cp[i] = the merged input dim of output dim i.
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t l, size_t r) { return groups[l].first < groups[r].first; });
  std::vector<size_t> in_dims(m), cp(m);
  for (size_t j = 0; j < m; ++j) {
    const std::pair<size_t, size_t>& g = groups[order[j]];
    size_t size = 1;
    for (size_t d = g.first; d <= g.second; ++d) size *= kept[d];
    in_dims[j] = size;
    cp[order[j]] = j;
  }
  const std::vector<size_t> in_stride = Strides(in_dims);
  if (cp[m - 1] == m - 1) {  // the innermost dim stays innermost: contiguous block copies
    const size_t inner = in_dims[m - 1];
    std::vector<size_t> od(m - 1), st(m - 1);
    for (size_t i = 0; i + 1 < m; ++i) {
      od[i] = in_dims[cp[i]];
      st[i] = in_stride[cp[i]];
    }
    BlockCopy(elem, static_cast<const uint8_t*>(x), static_cast<uint8_t*>(out), od, st, inner,
              total / inner, pool);
    return true;
  }
  // A batched 2-D transpose: leading dims in place, the last two swapped.
  for (size_t i = 0; i + 2 < m; ++i) {
    if (cp[i] != i) return false;
  }
  if (cp[m - 2] != m - 1 || cp[m - 1] != m - 2) return false;
  const size_t rows = in_dims[m - 2], cols = in_dims[m - 1];
  const size_t batch = total / (rows * cols);
  switch (elem) {
    case 1: BatchedTransposeBytes<uint8_t>(x, out, batch, rows, cols, pool); break;
    case 2: BatchedTransposeBytes<uint16_t>(x, out, batch, rows, cols, pool); break;
    case 4: BatchedTransposeBytes<uint32_t>(x, out, batch, rows, cols, pool); break;
    default: BatchedTransposeBytes<uint64_t>(x, out, batch, rows, cols, pool); break;
  }
  return true;
}

}  // namespace sluice::engine
