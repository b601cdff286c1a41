// Reference linear-algebra kernels: MatMulF32, GemmF32, MatMulInteger, QLinearMatMul.
//
// Float products are accumulated in double in plain k order and rounded once: the reference is
// then within one float rounding of the exact dot product, whatever K is, so SIMD variants (float
// FMA in any order) are judged against the true value rather than against another float order.
// Integer products accumulate in int64; MatMulInteger refuses a result outside int32 (ONNX
// leaves 32-bit overflow to the implementation; we would rather say so than wrap).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ref-internal.h"
#include "sluice/kernels/reference.h"

namespace sluice::kernels {
namespace {

// A numpy matmul broken into M x K by K x N matrix products over broadcast batch dims.
struct MatMulPlan {
  int64_t m = 0, k = 0, n = 0;
  int64_t out_count = 0;
  internal::BroadcastPlan batch;  // inputs: a's and b's batch dims; strides in matrices
};

Status PlanMatMul(const char* op, const Shape& a, const Shape& b, size_t elem_a, size_t elem_b,
                  size_t elem_out, MatMulPlan* plan) {
  Shape out;
  RETURN_IF_ERROR(MatMulShape(a, b, &out));
  int64_t count = 0;
  const std::string name = op;
  RETURN_IF_ERROR(internal::CheckedCount(a, elem_a, (name + " A").c_str(), &count));
  RETURN_IF_ERROR(internal::CheckedCount(b, elem_b, (name + " B").c_str(), &count));
  RETURN_IF_ERROR(internal::CheckedCount(out, elem_out, (name + " output").c_str(), &plan->out_count));
  const Shape pa = a.size() == 1 ? Shape{1, a[0]} : a;  // numpy promotion of 1-D operands
  const Shape pb = b.size() == 1 ? Shape{b[0], 1} : b;
  plan->m = pa[pa.size() - 2];
  plan->k = pa[pa.size() - 1];
  plan->n = pb[pb.size() - 1];
  const Shape batch_a(pa.begin(), pa.end() - 2), batch_b(pb.begin(), pb.end() - 2);
  Shape batch_out;
  RETURN_IF_ERROR(BroadcastShapes(batch_a, batch_b, &batch_out));
  return internal::PlanBroadcast(batch_out, {&batch_a, &batch_b}, &plan->batch);
}

// Calls fn(a_offset, b_offset, out_offset) (elements) for every output matrix, in order.
template <typename Fn>
void ForEachMatrix(const MatMulPlan& p, Fn&& fn) {
  if (p.out_count == 0) return;
  const int64_t a_size = p.m * p.k, b_size = p.k * p.n, out_size = p.m * p.n;
  internal::ForEachRow(p.batch, [&](const int64_t* off, int64_t out_off, int64_t len, const int64_t* step) {
    for (int64_t j = 0; j < len; ++j) {
      fn((off[0] + j * step[0]) * a_size, (off[1] + j * step[1]) * b_size, (out_off + j) * out_size);
    }
    return true;
  });
}

}  // namespace

Status MatMulF32(const float* a, const Shape& a_shape, const float* b, const Shape& b_shape, float* out) {
  MatMulPlan p;
  RETURN_IF_ERROR(PlanMatMul("MatMul", a_shape, b_shape, sizeof(float), sizeof(float), sizeof(float), &p));
  if (p.out_count == 0) return Status::Ok();
  if (out == nullptr || (p.k > 0 && (a == nullptr || b == nullptr))) return InvalidArgument("MatMul: null buffer");
  std::vector<double> acc(static_cast<size_t>(p.n));
  ForEachMatrix(p, [&](int64_t a_off, int64_t b_off, int64_t out_off) {
    for (int64_t i = 0; i < p.m; ++i) {
      acc.assign(acc.size(), 0.0);
      for (int64_t kk = 0; kk < p.k; ++kk) {
        const double aik = a[a_off + i * p.k + kk];
        const float* brow = b + b_off + kk * p.n;
        for (int64_t j = 0; j < p.n; ++j) acc[static_cast<size_t>(j)] += aik * brow[j];
      }
      for (int64_t j = 0; j < p.n; ++j) out[out_off + i * p.n + j] = static_cast<float>(acc[static_cast<size_t>(j)]);
    }
  });
  return Status::Ok();
}

Status GemmF32(const float* a, const Shape& a_shape, bool trans_a, const float* b, const Shape& b_shape,
               bool trans_b, const float* c, const Shape& c_shape, float alpha, float beta, float* out) {
  if (a_shape.size() != 2 || b_shape.size() != 2) {
    return InvalidArgument("Gemm: A and B must be 2-D, got " + internal::ShapeString(a_shape) + " and " +
                           internal::ShapeString(b_shape));
  }
  int64_t count = 0;
  RETURN_IF_ERROR(internal::CheckedCount(a_shape, sizeof(float), "Gemm A", &count));
  RETURN_IF_ERROR(internal::CheckedCount(b_shape, sizeof(float), "Gemm B", &count));
  const int64_t m = trans_a ? a_shape[1] : a_shape[0];
  const int64_t k = trans_a ? a_shape[0] : a_shape[1];
  const int64_t kb = trans_b ? b_shape[1] : b_shape[0];
  const int64_t n = trans_b ? b_shape[0] : b_shape[1];
  if (k != kb) {
    return InvalidArgument("Gemm: inner dims differ: op(A) is " + std::to_string(m) + "x" + std::to_string(k) +
                           ", op(B) is " + std::to_string(kb) + "x" + std::to_string(n));
  }
  const Shape out_shape{m, n};
  RETURN_IF_ERROR(internal::CheckedCount(out_shape, sizeof(float), "Gemm output", &count));
  // As the ONNX reference, C is not read at all when beta == 0 (so a NaN in C does not leak).
  const bool use_c = c != nullptr && beta != 0.0f;
  internal::BroadcastPlan c_plan;
  if (c != nullptr) {
    if (c_shape.size() > 2) return InvalidArgument("Gemm: C has rank > 2: " + internal::ShapeString(c_shape));
    RETURN_IF_ERROR(internal::PlanBroadcast(out_shape, {&c_shape}, &c_plan));
  }
  if (count == 0) return Status::Ok();
  if (out == nullptr || (k > 0 && (a == nullptr || b == nullptr))) return InvalidArgument("Gemm: null buffer");

  // Element (i, kk) of op(A) and (kk, j) of op(B) in the stored layouts.
  const int64_t a_row = trans_a ? 1 : k, a_col = trans_a ? m : 1;
  const int64_t b_row = trans_b ? 1 : n, b_col = trans_b ? k : 1;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        acc += static_cast<double>(a[i * a_row + kk * a_col]) * b[kk * b_row + j * b_col];
      }
      out[i * n + j] = static_cast<float>(acc) * alpha;
    }
  }
  if (use_c) {
    internal::ForEachRow(c_plan, [&](const int64_t* off, int64_t out_off, int64_t len, const int64_t* step) {
      for (int64_t j = 0; j < len; ++j) out[out_off + j] += c[off[0] + j * step[0]] * beta;
      return true;
    });
  }
  return Status::Ok();
}

namespace {

// Checks that a quantized operand type is 8-bit and names it otherwise.
Status CheckQuantType(const char* what, DType type) {
  int32_t lo = 0, hi = 0;
  if (!internal::QuantRange(type, &lo, &hi)) {
    return InvalidArgument(std::string(what) + " must be uint8 or int8, got " + DTypeName(type));
  }
  return Status::Ok();
}

// Zero point of row i / column j: count 0 (null pointer) means 0, 1 means per tensor.
int32_t ZeroPointAt(DType type, const void* zp, size_t count, int64_t i) {
  if (zp == nullptr) return 0;
  return internal::LoadQuant(type, zp, count == 1 ? 0 : static_cast<size_t>(i));
}

}  // namespace

Status MatMulInteger(DType a_type, const void* a, const Shape& a_shape, const void* a_zp, size_t a_zp_count,
                     DType b_type, const void* b, const Shape& b_shape, const void* b_zp, size_t b_zp_count,
                     int32_t* out) {
  RETURN_IF_ERROR(CheckQuantType("MatMulInteger A", a_type));
  RETURN_IF_ERROR(CheckQuantType("MatMulInteger B", b_type));
  MatMulPlan p;
  RETURN_IF_ERROR(PlanMatMul("MatMulInteger", a_shape, b_shape, 1, 1, sizeof(int32_t), &p));
  if (a_zp != nullptr && a_zp_count != 1 && !(a_shape.size() == 2 && a_zp_count == static_cast<size_t>(p.m))) {
    return InvalidArgument("MatMulInteger: a_zero_point must have 1 value, or one per row of a 2-D A; got " +
                           std::to_string(a_zp_count));
  }
  if (b_zp != nullptr && b_zp_count != 1 && b_zp_count != static_cast<size_t>(p.n)) {
    return InvalidArgument("MatMulInteger: b_zero_point must have 1 value or one per column of B; got " +
                           std::to_string(b_zp_count));
  }
  if (p.out_count == 0) return Status::Ok();
  if (out == nullptr || (p.k > 0 && (a == nullptr || b == nullptr))) {
    return InvalidArgument("MatMulInteger: null buffer");
  }
  bool overflow = false;
  ForEachMatrix(p, [&](int64_t a_off, int64_t b_off, int64_t out_off) {
    for (int64_t i = 0; i < p.m && !overflow; ++i) {
      const int32_t zp_a = ZeroPointAt(a_type, a_zp, a_zp_count, i);
      for (int64_t j = 0; j < p.n; ++j) {
        const int32_t zp_b = ZeroPointAt(b_type, b_zp, b_zp_count, j);
        int64_t acc = 0;  // |term| <= 255^2, so K < 2^47 terms cannot overflow int64
        for (int64_t kk = 0; kk < p.k; ++kk) {
          const int32_t av = internal::LoadQuant(a_type, a, static_cast<size_t>(a_off + i * p.k + kk)) - zp_a;
          const int32_t bv = internal::LoadQuant(b_type, b, static_cast<size_t>(b_off + kk * p.n + j)) - zp_b;
          acc += static_cast<int64_t>(av) * bv;
        }
        if (acc < std::numeric_limits<int32_t>::min() || acc > std::numeric_limits<int32_t>::max()) {
          overflow = true;
          break;
        }
        out[out_off + i * p.n + j] = static_cast<int32_t>(acc);
      }
    }
  });
  if (overflow) return InvalidArgument("MatMulInteger: an int32 accumulator overflows (K = " + std::to_string(p.k) + ")");
  return Status::Ok();
}

namespace {

Status CheckZeroPoint(const char* what, DType type, int32_t zp) {
  int32_t lo = 0, hi = 0;
  internal::QuantRange(type, &lo, &hi);
  if (zp < lo || zp > hi) {
    return InvalidArgument(std::string("QLinearMatMul: ") + what + " " + std::to_string(zp) + " is outside " +
                           DTypeName(type));
  }
  return Status::Ok();
}

bool IsUsableScale(float s) { return std::isfinite(s) && s != 0.0f; }

}  // namespace

Status QLinearMatMul(DType a_type, const void* a, const Shape& a_shape, float a_scale, int32_t a_zp,
                     DType b_type, const void* b, const Shape& b_shape, const float* b_scale,
                     const int32_t* b_zp, size_t b_params, float y_scale, int32_t y_zp, DType y_type,
                     void* y) {
  RETURN_IF_ERROR(CheckQuantType("QLinearMatMul A", a_type));
  RETURN_IF_ERROR(CheckQuantType("QLinearMatMul B", b_type));
  RETURN_IF_ERROR(CheckQuantType("QLinearMatMul Y", y_type));
  RETURN_IF_ERROR(CheckZeroPoint("a_zero_point", a_type, a_zp));
  RETURN_IF_ERROR(CheckZeroPoint("y_zero_point", y_type, y_zp));
  MatMulPlan p;
  RETURN_IF_ERROR(PlanMatMul("QLinearMatMul", a_shape, b_shape, 1, 1, 1, &p));
  if (b_scale == nullptr || b_zp == nullptr || (b_params != 1 && b_params != static_cast<size_t>(p.n))) {
    return InvalidArgument("QLinearMatMul: b scale and zero point must have 1 value or one per column of B");
  }
  for (size_t j = 0; j < b_params; ++j) {
    RETURN_IF_ERROR(CheckZeroPoint("b_zero_point", b_type, b_zp[j]));
    if (!std::isfinite(b_scale[j])) return InvalidArgument("QLinearMatMul: b_scale is not finite");
  }
  if (!std::isfinite(a_scale) || !IsUsableScale(y_scale)) {
    return InvalidArgument("QLinearMatMul: a_scale must be finite and y_scale finite and nonzero");
  }
  if (p.out_count == 0) return Status::Ok();
  if (y == nullptr || (p.k > 0 && (a == nullptr || b == nullptr))) return InvalidArgument("QLinearMatMul: null buffer");

  // As the ONNX reference: the float32 multiplier a_scale * b_scale / y_scale scales the exact
  // integer product (in double), then round half to even, add y_zp, saturate.
  std::vector<double> multiplier(b_params);
  for (size_t j = 0; j < b_params; ++j) multiplier[j] = a_scale * b_scale[j] / y_scale;
  int32_t lo = 0, hi = 0;
  internal::QuantRange(y_type, &lo, &hi);
  ForEachMatrix(p, [&](int64_t a_off, int64_t b_off, int64_t out_off) {
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        const size_t col = b_params == 1 ? 0 : static_cast<size_t>(j);
        int64_t acc = 0;
        for (int64_t kk = 0; kk < p.k; ++kk) {
          const int32_t av = internal::LoadQuant(a_type, a, static_cast<size_t>(a_off + i * p.k + kk)) - a_zp;
          const int32_t bv = internal::LoadQuant(b_type, b, static_cast<size_t>(b_off + kk * p.n + j)) - b_zp[col];
          acc += static_cast<int64_t>(av) * bv;
        }
        const int32_t q = internal::RoundAddSaturate(static_cast<double>(acc) * multiplier[col], y_zp, lo, hi);
        internal::StoreQuant(y_type, y, static_cast<size_t>(out_off + i * p.n + j), q);
      }
    }
  });
  return Status::Ok();
}

}  // namespace sluice::kernels
