// Reference data-movement kernels: Transpose, Concat, Gather. They move elements as opaque
// DTypeSize-byte values, so every fixed-size dtype is supported.
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ref-internal.h"
#include "sluice/kernels/reference.h"

namespace sluice::kernels {
namespace {

Status ElemSize(const char* op, DType dtype, size_t* size) {
  *size = DTypeSize(dtype);
  if (*size == 0) return InvalidArgument(std::string(op) + ": unsupported dtype " + DTypeName(dtype));
  return Status::Ok();
}

// Copies a strided walk of x into dense out, one element type per width.
template <typename T>
void StridedCopy(const internal::BroadcastPlan& plan, const void* x, void* out) {
  const T* src = static_cast<const T*>(x);
  T* dst = static_cast<T*>(out);
  internal::ForEachRow(plan, [&](const int64_t* off, int64_t out_off, int64_t n, const int64_t* step) {
    const T* s = src + off[0];
    for (int64_t i = 0; i < n; ++i) dst[out_off + i] = s[i * step[0]];
    return true;
  });
}

// "perm" must be a permutation of [0, rank).
Status CheckPerm(const std::vector<int64_t>& perm, size_t rank) {
  if (perm.size() != rank) {
    return InvalidArgument("Transpose: perm has " + std::to_string(perm.size()) + " entries for rank " +
                           std::to_string(rank));
  }
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(p)]) {
      return InvalidArgument("Transpose: perm entry " + std::to_string(p) + " is out of range or repeated");
    }
    seen[static_cast<size_t>(p)] = true;
  }
  return Status::Ok();
}

}  // namespace

Status Transpose(DType dtype, const void* x, const Shape& shape, const std::vector<int64_t>& perm,
                 void* out) {
  size_t elem = 0;
  int64_t n = 0;
  RETURN_IF_ERROR(ElemSize("Transpose", dtype, &elem));
  RETURN_IF_ERROR(internal::CheckedCount(shape, elem, "Transpose input", &n));
  const size_t rank = shape.size();
  std::vector<int64_t> p = perm;
  if (p.empty()) {
    for (size_t i = 0; i < rank; ++i) p.push_back(static_cast<int64_t>(rank - 1 - i));
  }
  RETURN_IF_ERROR(CheckPerm(p, rank));
  if (n == 0) return Status::Ok();
  if (x == nullptr || out == nullptr) return InvalidArgument("Transpose: null buffer");

  std::vector<int64_t> in_stride(rank, 1);
  for (size_t i = rank; i-- > 1;) in_stride[i - 1] = in_stride[i] * shape[i];
  // Walk the output densely; output dim i steps the input by the stride of dim perm[i].
  internal::BroadcastPlan plan;
  plan.strides.resize(1);
  for (size_t i = 0; i < rank; ++i) {
    plan.dims.push_back(shape[static_cast<size_t>(p[i])]);
    plan.strides[0].push_back(in_stride[static_cast<size_t>(p[i])]);
  }
  if (rank == 0) {
    plan.dims.push_back(1);
    plan.strides[0].push_back(0);
  }
  switch (elem) {
    case 1: StridedCopy<uint8_t>(plan, x, out); break;
    case 2: StridedCopy<uint16_t>(plan, x, out); break;
    case 4: StridedCopy<uint32_t>(plan, x, out); break;
    case 8: StridedCopy<uint64_t>(plan, x, out); break;
    default: return InvalidArgument(std::string("Transpose: unsupported element size for ") + DTypeName(dtype));
  }
  return Status::Ok();
}

Status Concat(DType dtype, const std::vector<const void*>& xs, const std::vector<Shape>& shapes,
              int64_t axis, void* out) {
  size_t elem = 0;
  RETURN_IF_ERROR(ElemSize("Concat", dtype, &elem));
  if (xs.empty() || xs.size() != shapes.size()) {
    return InvalidArgument("Concat: need as many shapes as inputs, and at least one input");
  }
  const Shape& first = shapes[0];
  int64_t ax = 0;
  if (!NormalizeAxis(axis, static_cast<int64_t>(first.size()), &ax)) {
    return InvalidArgument("Concat: axis " + std::to_string(axis) + " out of range for rank " +
                           std::to_string(first.size()));
  }
  const size_t a = static_cast<size_t>(ax);
  Shape out_shape = first;
  out_shape[a] = 0;
  for (size_t k = 0; k < shapes.size(); ++k) {
    const Shape& s = shapes[k];
    int64_t count = 0;
    const std::string what = "Concat input " + std::to_string(k);
    RETURN_IF_ERROR(internal::CheckedCount(s, elem, what.c_str(), &count));
    bool same = s.size() == first.size();
    for (size_t i = 0; same && i < s.size(); ++i) same = i == a || s[i] == first[i];
    if (!same) {
      return InvalidArgument(what + " shape " + internal::ShapeString(s) + " does not match " +
                             internal::ShapeString(first) + " outside axis " + std::to_string(ax));
    }
    if (count > 0 && xs[k] == nullptr) return InvalidArgument(what + " is null");
    if (s[a] > std::numeric_limits<int64_t>::max() - out_shape[a]) {
      return InvalidArgument("Concat: output dim along the axis overflows int64");
    }
    out_shape[a] += s[a];
  }
  int64_t n_out = 0;
  RETURN_IF_ERROR(internal::CheckedCount(out_shape, elem, "Concat output", &n_out));
  if (n_out == 0) return Status::Ok();
  if (out == nullptr) return InvalidArgument("Concat: null output");

  // Each input contributes one contiguous block of dims[axis] * inner elements per outer index.
  const int64_t outer = internal::DimProduct(first, 0, a);
  const int64_t inner = internal::DimProduct(first, a + 1, first.size());
  const size_t out_row = static_cast<size_t>(out_shape[a] * inner) * elem;
  char* dst = static_cast<char*>(out);
  size_t col = 0;  // byte offset of input k's block within an output row
  for (size_t k = 0; k < xs.size(); ++k) {
    const size_t block = static_cast<size_t>(shapes[k][a] * inner) * elem;
    const char* src = static_cast<const char*>(xs[k]);
    for (int64_t o = 0; o < outer && block > 0; ++o) {
      std::memcpy(dst + static_cast<size_t>(o) * out_row + col, src + static_cast<size_t>(o) * block, block);
    }
    col += block;
  }
  return Status::Ok();
}

namespace {

// Reads indices as int64, resolving negatives against `dim`; INVALID_ARGUMENT names the first
// out-of-range index and its position.
Status ResolveIndices(DType index_type, const void* indices, int64_t count, int64_t dim,
                      std::vector<int64_t>* resolved) {
  resolved->resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t v = index_type == DType::kInt32 ? static_cast<const int32_t*>(indices)[i]
                                                  : static_cast<const int64_t*>(indices)[i];
    if (v < -dim || v >= dim) {
      return InvalidArgument("Gather: index " + std::to_string(v) + " at position " + std::to_string(i) +
                             " is out of range [" + std::to_string(-dim) + ", " + std::to_string(dim) + ")");
    }
    (*resolved)[static_cast<size_t>(i)] = v < 0 ? v + dim : v;
  }
  return Status::Ok();
}

}  // namespace

Status Gather(DType dtype, const void* data, const Shape& data_shape, DType index_type,
              const void* indices, const Shape& indices_shape, int64_t axis, void* out) {
  size_t elem = 0;
  int64_t n_data = 0, n_idx = 0;
  RETURN_IF_ERROR(ElemSize("Gather", dtype, &elem));
  if (index_type != DType::kInt32 && index_type != DType::kInt64) {
    return InvalidArgument(std::string("Gather: indices must be int32 or int64, got ") + DTypeName(index_type));
  }
  int64_t ax = 0;
  if (!NormalizeAxis(axis, static_cast<int64_t>(data_shape.size()), &ax)) {
    return InvalidArgument("Gather: axis " + std::to_string(axis) + " out of range for rank " +
                           std::to_string(data_shape.size()));
  }
  RETURN_IF_ERROR(internal::CheckedCount(data_shape, elem, "Gather data", &n_data));
  RETURN_IF_ERROR(internal::CheckedCount(indices_shape, DTypeSize(index_type), "Gather indices", &n_idx));
  const size_t a = static_cast<size_t>(ax);
  Shape out_shape(data_shape.begin(), data_shape.begin() + ax);
  out_shape.insert(out_shape.end(), indices_shape.begin(), indices_shape.end());
  out_shape.insert(out_shape.end(), data_shape.begin() + ax + 1, data_shape.end());
  int64_t n_out = 0;
  RETURN_IF_ERROR(internal::CheckedCount(out_shape, elem, "Gather output", &n_out));
  if (n_idx > 0 && indices == nullptr) return InvalidArgument("Gather: null indices");
  std::vector<int64_t> idx;
  RETURN_IF_ERROR(ResolveIndices(index_type, indices, n_idx, data_shape[a], &idx));
  if (n_out == 0) return Status::Ok();
  if (data == nullptr || out == nullptr) return InvalidArgument("Gather: null buffer");

  const int64_t outer = internal::DimProduct(data_shape, 0, a);
  const size_t inner_bytes = static_cast<size_t>(internal::DimProduct(data_shape, a + 1, data_shape.size())) * elem;
  const size_t slab = static_cast<size_t>(data_shape[a]) * inner_bytes;  // one outer index of data
  const char* src = static_cast<const char*>(data);
  char* dst = static_cast<char*>(out);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i : idx) {
      std::memcpy(dst, src + static_cast<size_t>(o) * slab + static_cast<size_t>(i) * inner_bytes, inner_bytes);
      dst += inner_bytes;
    }
  }
  return Status::Ok();
}

}  // namespace sluice::kernels
