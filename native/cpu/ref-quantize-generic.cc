// Reference quantisation kernels: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear (8-bit
// integer types; the float8/int4 variants of opset 21 are not supported).
//
// Rounding is half to even (std::nearbyint under the default rounding mode, as np.rint); values
// saturate to the target type. A NaN input quantizes to the zero point (numpy leaves it
// undefined; ONNX Runtime does the same).
#include <cmath>
#include <string>

#include "ref-internal.h"
#include "sluice/kernels/reference.h"

namespace sluice::kernels {
namespace {

// Per-tensor (params == 1) or per-axis (params == shape[axis]) parameters, walked as
// [outer, channels, inner] so that element (o, c, i) uses parameter c.
struct ParamLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};

Status PlanParams(const char* op, const Shape& shape, size_t params, int64_t axis, int64_t count,
                  ParamLayout* layout) {
  if (params == 1) {  // per tensor: axis is ignored, as ONNX does
    layout->inner = count;
    return Status::Ok();
  }
  int64_t ax = 0;
  if (!NormalizeAxis(axis, static_cast<int64_t>(shape.size()), &ax)) {
    return InvalidArgument(std::string(op) + ": axis " + std::to_string(axis) + " out of range for rank " +
                           std::to_string(shape.size()));
  }
  const size_t a = static_cast<size_t>(ax);
  if (params == 0 || params != static_cast<size_t>(shape[a])) {
    return InvalidArgument(std::string(op) + ": " + std::to_string(params) + " scale/zero-point values for axis " +
                           std::to_string(axis) + " of shape " + internal::ShapeString(shape) +
                           " (need 1 or the axis dim)");
  }
  layout->outer = internal::DimProduct(shape, 0, a);
  layout->channels = shape[a];
  layout->inner = internal::DimProduct(shape, a + 1, shape.size());
  return Status::Ok();
}

// Calls fn(element_index, parameter_index) for every element in order.
template <typename Fn>
void ForEachElement(const ParamLayout& l, Fn&& fn) {
  size_t i = 0;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t c = 0; c < l.channels; ++c) {
      for (int64_t j = 0; j < l.inner; ++j) fn(i++, static_cast<size_t>(c));
    }
  }
}

}  // namespace

Status QuantizeLinear(const float* x, const Shape& shape, const float* scale, const void* zero_point,
                      size_t params, int64_t axis, DType y_type, void* y) {
  int32_t lo = 0, hi = 0;
  if (!internal::QuantRange(y_type, &lo, &hi)) {
    return InvalidArgument(std::string("QuantizeLinear: output type must be uint8 or int8, got ") +
                           DTypeName(y_type));
  }
  int64_t n = 0;
  RETURN_IF_ERROR(internal::CheckedCount(shape, sizeof(float), "QuantizeLinear input", &n));
  ParamLayout layout;
  RETURN_IF_ERROR(PlanParams("QuantizeLinear", shape, params, axis, n, &layout));
  if (scale == nullptr) return InvalidArgument("QuantizeLinear: null scale");
  for (size_t c = 0; c < params; ++c) {
    // x / 0 would turn every value into +-inf or NaN; a model with such a scale is broken.
    if (!std::isfinite(scale[c]) || scale[c] == 0.0f) {
      return InvalidArgument("QuantizeLinear: scale[" + std::to_string(c) + "] must be finite and nonzero");
    }
  }
  if (n > 0 && (x == nullptr || y == nullptr)) return InvalidArgument("QuantizeLinear: null buffer");
  ForEachElement(layout, [&](size_t i, size_t c) {
    const int32_t zp = zero_point == nullptr ? 0 : internal::LoadQuant(y_type, zero_point, c);
    const float v = x[i] / scale[c];  // float32 division, as the ONNX reference
    internal::StoreQuant(y_type, y, i, internal::RoundAddSaturate(v, zp, lo, hi));
  });
  return Status::Ok();
}

Status DequantizeLinear(DType x_type, const void* x, const Shape& shape, const float* scale,
                        const void* zero_point, size_t params, int64_t axis, float* y) {
  int32_t lo = 0, hi = 0;
  const bool is_int32 = x_type == DType::kInt32;
  if (!is_int32 && !internal::QuantRange(x_type, &lo, &hi)) {
    return InvalidArgument(std::string("DequantizeLinear: input type must be uint8, int8 or int32, got ") +
                           DTypeName(x_type));
  }
  int64_t n = 0;
  RETURN_IF_ERROR(internal::CheckedCount(shape, DTypeSize(x_type), "DequantizeLinear input", &n));
  ParamLayout layout;
  RETURN_IF_ERROR(PlanParams("DequantizeLinear", shape, params, axis, n, &layout));
  if (scale == nullptr) return InvalidArgument("DequantizeLinear: null scale");
  if (is_int32 && zero_point != nullptr) {
    for (size_t c = 0; c < params; ++c) {
      if (static_cast<const int32_t*>(zero_point)[c] != 0) {
        return InvalidArgument("DequantizeLinear: an int32 input needs a zero point of 0");
      }
    }
  }
  if (n > 0 && (x == nullptr || y == nullptr)) return InvalidArgument("DequantizeLinear: null buffer");
  ForEachElement(layout, [&](size_t i, size_t c) {
    if (is_int32) {
      y[i] = static_cast<float>(static_cast<const int32_t*>(x)[i]) * scale[c];
    } else {
      const int32_t zp = zero_point == nullptr ? 0 : internal::LoadQuant(x_type, zero_point, c);
      y[i] = static_cast<float>(internal::LoadQuant(x_type, x, i) - zp) * scale[c];  // exact difference
    }
  });
  return Status::Ok();
}

Status DynamicQuantizeLinear(const float* x, size_t n, uint8_t* y, float* scale, uint8_t* zero_point) {
  if (scale == nullptr || zero_point == nullptr || (n > 0 && (x == nullptr || y == nullptr))) {
    return InvalidArgument("DynamicQuantizeLinear: null buffer");
  }
  // The range always includes 0, so that 0 is exactly representable (ONNX spec).
  float min = 0.0f, max = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      return InvalidArgument("DynamicQuantizeLinear: x[" + std::to_string(i) + "] is not finite");
    }
    min = std::fmin(min, x[i]);
    max = std::fmax(max, x[i]);
  }
  // As the ONNX reference, all in float32: scale = (max - min) / 255 (1/255 for an all-zero x),
  // zero point = round_half_even(clamp(0 - min / scale, 0, 255)).
  const float s = (max == min ? 1.0f : max - min) / 255.0f;
  if (!std::isfinite(s)) return InvalidArgument("DynamicQuantizeLinear: the range of x overflows float");
  const float initial_zp = 0.0f - min / s;
  const int32_t zp = internal::RoundAddSaturate(std::fmin(std::fmax(initial_zp, 0.0f), 255.0f), 0, 0, 255);
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<uint8_t>(internal::RoundAddSaturate(x[i] / s, zp, 0, 255));
  }
  *scale = s;
  *zero_point = static_cast<uint8_t>(zp);
  return Status::Ok();
}

}  // namespace sluice::kernels
