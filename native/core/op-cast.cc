// Cast (opset 6 on) between the engine's numeric types: float, double, int8/16/32/64,
// uint8/16/32/64 and bool. float16, bfloat16, float8, int4/int2, string and complex are refused
// as UNIMPLEMENTED naming the type (Engine::Unsupported's reason, so `backend: auto` serves the
// model on ONNX Runtime instead).
//
// Conversions follow ONNX, with its undefined cases made deterministic and free of C++ UB:
//   float/double -> integer: truncated toward zero; out of range saturates to the type's
//     min/max and NaN gives 0 (ONNX leaves both undefined; C++ makes them UB).
//   integer -> integer: the low bits, two's complement (200 int16 -> -56 int8), as ONNX says.
//   any -> bool: nonzero, NaN included, is true. bool -> any: 0 or 1.
//   double -> float: rounded to nearest, +-inf beyond float's range (IEEE; computed by hand
//     there, since an out-of-range floating conversion is UB in C++).
//   integer -> float/double, float -> double: static_cast (exact, or rounded to nearest).
// `saturate` and `round_mode` only concern float8 targets, which are refused, so they are
// accepted and have no effect.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include "op-attrs.h"
#include "op-factories.h"
#include "op-util.h"

namespace sluice::engine {
namespace {

struct Bool {};  // bool elements: one byte each, read as `byte != 0`, never as a C++ bool

template <typename T>
struct Tag {
  using type = T;
};

// Calls fn(Tag<T>{}) with the element type of `t`; false when Cast does not support `t`.
template <typename Fn>
bool WithType(DType t, Fn&& fn) {
  switch (t) {
    case DType::kFloat: fn(Tag<float>{}); return true;
    case DType::kDouble: fn(Tag<double>{}); return true;
    case DType::kInt8: fn(Tag<int8_t>{}); return true;
    case DType::kUint8: fn(Tag<uint8_t>{}); return true;
    case DType::kInt16: fn(Tag<int16_t>{}); return true;
    case DType::kUint16: fn(Tag<uint16_t>{}); return true;
    case DType::kInt32: fn(Tag<int32_t>{}); return true;
    case DType::kUint32: fn(Tag<uint32_t>{}); return true;
    case DType::kInt64: fn(Tag<int64_t>{}); return true;
    case DType::kUint64: fn(Tag<uint64_t>{}); return true;
    case DType::kBool: fn(Tag<Bool>{}); return true;
    default: return false;
  }
}

bool Supported(DType t) {
  return WithType(t, [](auto) {});
}

// ONNX TensorProto.DataType names, for the refusal message (DTypeName knows only the engine's).
std::string OnnxTypeName(int64_t to) {
  static const char* const kNames[] = {
      "undefined",     "float",          "uint8",      "int8",       "uint16",  "int16",
      "int32",         "int64",          "string",     "bool",       "float16", "double",
      "uint32",        "uint64",         "complex64",  "complex128", "bfloat16",
      "float8e4m3fn",  "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz",       "uint4",
      "int4",          "float4e2m1",     "float8e8m0", "uint2",      "int2"};
  constexpr int64_t kCount = sizeof(kNames) / sizeof(kNames[0]);
  return to >= 0 && to < kCount ? kNames[to] : "dtype " + std::to_string(to);
}

template <typename T>
using Storage = std::conditional_t<std::is_same_v<T, Bool>, uint8_t, T>;

// double -> float as IEEE rounds it, without C++'s UB beyond float's range.
float NarrowToFloat(double v) {
  constexpr double kMax = std::numeric_limits<float>::max();
  if (!(std::fabs(v) > kMax)) return static_cast<float>(v);  // in range, or NaN
  // Past FLT_MAX + half its ulp (2^103) IEEE rounds to infinity (a tie too: FLT_MAX is odd).
  const float r = std::fabs(v) < kMax + 0x1p103 ? std::numeric_limits<float>::max()
                                                 : std::numeric_limits<float>::infinity();
  return v < 0 ? -r : r;
}

template <typename To, typename From>
Storage<To> Convert(Storage<From> v) {
  if constexpr (std::is_same_v<From, Bool>) {
    return Convert<To, uint8_t>(v != 0 ? 1 : 0);
  } else if constexpr (std::is_same_v<To, Bool>) {
    return v != 0 ? 1 : 0;  // NaN != 0: true, as numpy and ONNX Runtime
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (v != v) return 0;
    const double t = std::trunc(static_cast<double>(v));  // float -> double is exact
    // Both bounds are powers of two (or 0), so exact in double: [min, max + 1).
    const double lo = static_cast<double>(std::numeric_limits<To>::min());
    const double hi = std::ldexp(1.0, std::numeric_limits<To>::digits);
    if (t < lo) return std::numeric_limits<To>::min();
    if (t >= hi) return std::numeric_limits<To>::max();
    return static_cast<To>(t);
  } else if constexpr (std::is_same_v<From, double> && std::is_same_v<To, float>) {
    return NarrowToFloat(v);
  } else if constexpr (std::is_integral_v<From> && std::is_integral_v<To>) {
    // To uint64 is modular by definition; narrowing an unsigned value to a signed type keeps
    // the low bits on every compiler the engine builds with (defined so from C++20).
    return static_cast<To>(static_cast<uint64_t>(v));
  } else {
    return static_cast<To>(v);
  }
}

template <typename To, typename From>
void CastElements(const void* in, size_t n, void* out) {
  const Storage<From>* src = static_cast<const Storage<From>*>(in);
  Storage<To>* dst = static_cast<Storage<To>*>(out);
  for (size_t i = 0; i < n; ++i) dst[i] = Convert<To, From>(src[i]);
}

class Cast final : public Op {
 public:
  explicit Cast(DType to) : to_(to) {}

  // Elementwise: each output row reads the same row of its batched inputs (broadcast inputs whole).
  bool RowWise(const std::vector<TensorRef>&, const std::vector<bool>&) const override {
    return true;
  }

  Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const override {
    if (!Supported(in[0].dtype)) {
      return Unimplemented(std::string("Cast from ") + DTypeName(in[0].dtype) +
                           " is not supported");
    }
    (*out)[0] = {to_, *in[0].shape};
    return Status::Ok();
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
             const RunEnv&) const override {
    const size_t n = static_cast<size_t>(NumElements(*in[0].shape));
    if (in[0].dtype == to_) {
      if (n != 0) std::memcpy(out[0].data, in[0].data, n * DTypeSize(to_));
      return Status::Ok();
    }
    WithType(in[0].dtype, [&](auto from) {
      WithType(to_, [&](auto to) {
        CastElements<typename decltype(to)::type, typename decltype(from)::type>(in[0].data, n,
                                                                                  out[0].data);
      });
    });
    return Status::Ok();
  }

  std::string Details() const override { return std::string("to=") + DTypeName(to_); }

 private:
  DType to_;
};

}  // namespace

Status CreateCastOp(const Node& node, int64_t, std::unique_ptr<Op>* out) {
  const Attrs attrs(node);
  RETURN_IF_ERROR(attrs.OnlyKnown({"to", "saturate", "round_mode"}));
  if (attrs.Find("to") == nullptr) return InvalidArgument("attribute 'to' is required");
  int64_t to = 0, saturate = 1;
  std::string round_mode;
  RETURN_IF_ERROR(attrs.Int("to", 0, &to));
  RETURN_IF_ERROR(attrs.Int("saturate", 1, &saturate));  // float8 only
  RETURN_IF_ERROR(attrs.String("round_mode", "up", &round_mode));  // float8e8m0 only
  const DType dtype = to > 0 && to < 64 ? static_cast<DType>(to) : DType::kUndefined;
  if (!Supported(dtype)) return Unimplemented("Cast to " + OnnxTypeName(to) + " is not supported");
  *out = std::make_unique<Cast>(dtype);
  return Status::Ok();
}

}  // namespace sluice::engine
