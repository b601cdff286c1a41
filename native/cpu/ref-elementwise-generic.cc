// Reference elementwise kernels: Binary (numpy broadcasting) and UnaryF32.
//
// Integer Add/Sub/Mul wrap modulo 2^bits as numpy and ONNX Runtime do (computed in unsigned
// arithmetic, so there is no signed-overflow UB); integer Div truncates toward zero (C++ and
// ONNX's int Div) and refuses a zero divisor and INT_MIN / -1 instead of trapping.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "ref-internal.h"
#include "sluice/kernels/reference.h"

namespace sluice::kernels {
namespace {

using internal::BroadcastPlan;

const char* BinaryOpName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "Add";
    case BinaryOp::kSub: return "Sub";
    case BinaryOp::kMul: return "Mul";
    case BinaryOp::kDiv: return "Div";
    case BinaryOp::kPow: return "Pow";
  }
  return "Binary";
}

// One element of a OP b for integers; false for a refused Div (zero divisor, INT_MIN / -1).
template <typename T>
bool ApplyInt(BinaryOp op, T a, T b, T* out) {
  using U = std::make_unsigned_t<T>;
  switch (op) {
    case BinaryOp::kAdd: *out = static_cast<T>(static_cast<U>(a) + static_cast<U>(b)); return true;
    case BinaryOp::kSub: *out = static_cast<T>(static_cast<U>(a) - static_cast<U>(b)); return true;
    case BinaryOp::kMul: *out = static_cast<T>(static_cast<U>(a) * static_cast<U>(b)); return true;
    case BinaryOp::kDiv:
      if (b == 0 || (a == std::numeric_limits<T>::min() && b == -1)) return false;
      *out = a / b;
      return true;
    case BinaryOp::kPow: return false;  // rejected before the walk
  }
  return false;
}

float ApplyFloat(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;  // IEEE: x/0 is +-inf or NaN, as in numpy
    case BinaryOp::kPow: return std::pow(a, b);
  }
  return 0.0f;
}

Status RunFloat(BinaryOp op, const float* a, const float* b, const BroadcastPlan& plan, float* out) {
  internal::ForEachRow(plan, [&](const int64_t* off, int64_t out_off, int64_t n, const int64_t* step) {
    const float* pa = a + off[0];
    const float* pb = b + off[1];
    float* po = out + out_off;
    for (int64_t i = 0; i < n; ++i) po[i] = ApplyFloat(op, pa[i * step[0]], pb[i * step[1]]);
    return true;
  });
  return Status::Ok();
}

template <typename T>
Status RunInt(BinaryOp op, const T* a, const T* b, const BroadcastPlan& plan, T* out) {
  T bad_a = 0, bad_b = 0;
  const bool ok = internal::ForEachRow(plan, [&](const int64_t* off, int64_t out_off, int64_t n,
                                                 const int64_t* step) {
    const T* pa = a + off[0];
    const T* pb = b + off[1];
    T* po = out + out_off;
    for (int64_t i = 0; i < n; ++i) {
      if (!ApplyInt(op, pa[i * step[0]], pb[i * step[1]], &po[i])) {
        bad_a = pa[i * step[0]];
        bad_b = pb[i * step[1]];
        return false;
      }
    }
    return true;
  });
  if (ok) return Status::Ok();
  return InvalidArgument(std::string("integer Div refused: ") + std::to_string(bad_a) + " / " +
                         std::to_string(bad_b) + (bad_b == 0 ? " (division by zero)" : " (overflows)"));
}

}  // namespace

Status Binary(BinaryOp op, DType dtype, const void* a, const Shape& a_shape, const void* b,
              const Shape& b_shape, void* out) {
  if (static_cast<int>(op) < static_cast<int>(BinaryOp::kAdd) || static_cast<int>(op) > static_cast<int>(BinaryOp::kPow)) {
    return InvalidArgument("Binary: unknown op " + std::to_string(static_cast<int>(op)));
  }
  const std::string name = BinaryOpName(op);
  const bool is_int = dtype == DType::kInt32 || dtype == DType::kInt64;
  if (dtype != DType::kFloat && !is_int) {
    return InvalidArgument(name + ": unsupported dtype " + DTypeName(dtype));
  }
  if (op == BinaryOp::kPow && is_int) return InvalidArgument("Pow: only float is supported");
  int64_t na = 0, nb = 0, n_out = 0;
  RETURN_IF_ERROR(internal::CheckedCount(a_shape, DTypeSize(dtype), (name + " A").c_str(), &na));
  RETURN_IF_ERROR(internal::CheckedCount(b_shape, DTypeSize(dtype), (name + " B").c_str(), &nb));
  Shape out_shape;
  RETURN_IF_ERROR(BroadcastShapes(a_shape, b_shape, &out_shape));
  RETURN_IF_ERROR(internal::CheckedCount(out_shape, DTypeSize(dtype), (name + " output").c_str(), &n_out));
  if (n_out > 0 && (a == nullptr || b == nullptr || out == nullptr)) {
    return InvalidArgument(name + ": null buffer");
  }
  BroadcastPlan plan;
  RETURN_IF_ERROR(internal::PlanBroadcast(out_shape, {&a_shape, &b_shape}, &plan));
  switch (dtype) {
    case DType::kFloat:
      return RunFloat(op, static_cast<const float*>(a), static_cast<const float*>(b), plan,
                      static_cast<float*>(out));
    case DType::kInt32:
      return RunInt(op, static_cast<const int32_t*>(a), static_cast<const int32_t*>(b), plan,
                    static_cast<int32_t*>(out));
    default:
      return RunInt(op, static_cast<const int64_t*>(a), static_cast<const int64_t*>(b), plan,
                    static_cast<int64_t*>(out));
  }
}

namespace {

constexpr float kSqrtHalf = 0.70710678118654752440f;  // 1/sqrt(2)
constexpr float kSqrtTwoOverPi = 0.79788456080286535588f;

// Overflow-free logistic: exp is only taken of a non-positive argument.
float Sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

float ApplyUnary(UnaryOp op, float x, float alpha) {
  switch (op) {
    case UnaryOp::kIdentity: return x;
    case UnaryOp::kRelu: return x < 0 ? 0.0f : x;  // NaN stays NaN, as numpy.maximum
    case UnaryOp::kLeakyRelu: return x < 0 ? alpha * x : x;
    case UnaryOp::kSigmoid: return Sigmoid(x);
    case UnaryOp::kTanh: return std::tanh(x);
    case UnaryOp::kSqrt: return std::sqrt(x);
    case UnaryOp::kErf: return std::erf(x);
    case UnaryOp::kGelu: return 0.5f * x * (1.0f + std::erf(x * kSqrtHalf));
    case UnaryOp::kGeluTanh:
      return 0.5f * x * (1.0f + std::tanh(kSqrtTwoOverPi * (x + 0.044715f * x * x * x)));
    case UnaryOp::kExp: return std::exp(x);
    case UnaryOp::kNeg: return -x;
  }
  return x;
}

bool IsValidUnary(UnaryOp op) {
  return static_cast<int>(op) >= static_cast<int>(UnaryOp::kIdentity) &&
         static_cast<int>(op) <= static_cast<int>(UnaryOp::kNeg);
}

}  // namespace

Status UnaryF32(UnaryOp op, const float* x, size_t n, float alpha, float* out) {
  if (!IsValidUnary(op)) return InvalidArgument("UnaryF32: unknown op " + std::to_string(static_cast<int>(op)));
  if (n > 0 && (x == nullptr || out == nullptr)) return InvalidArgument("UnaryF32: null buffer");
  for (size_t i = 0; i < n; ++i) out[i] = ApplyUnary(op, x[i], alpha);
  return Status::Ok();
}

}  // namespace sluice::kernels
