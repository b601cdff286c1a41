#include "linear-kernel.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "op-util.h"
#include "sluice/kernels/reference.h"

namespace sluice::engine {

bool StridedBatch(const Shape& a, const Shape& b, const Shape& out, Fp32Batch* batch) {
  if (a.size() < 2 || b.size() < 2) return false;
  const Shape batch_out(out.begin(), out.end() - 2);
  auto stride = [&](const Shape& s, size_t* stride_out) {
    const Shape dims(s.begin(), s.end() - 2);
    const int64_t items = NumElements(dims), matrix = s[s.size() - 2] * s[s.size() - 1];
    if (items == 1) {
      *stride_out = 0;
      return true;
    }
    Shape padded(batch_out.size() - std::min(batch_out.size(), dims.size()), 1);
    padded.insert(padded.end(), dims.begin(), dims.end());
    *stride_out = static_cast<size_t>(matrix);
    return padded == batch_out;
  };
  batch->count = static_cast<size_t>(NumElements(batch_out));
  batch->stride_c = static_cast<size_t>(out[out.size() - 2] * out[out.size() - 1]);
  return stride(a, &batch->stride_a) && stride(b, &batch->stride_b);
}

namespace {

// Copies a [rows, cols] matrix of elem-byte elements transposed into dst [cols, rows].
void TransposeInto(const uint8_t* src, int64_t rows, int64_t cols, size_t elem, uint8_t* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c)
      std::memcpy(dst + (c * rows + r) * elem, src + (r * cols + c) * elem, elem);
  }
}

size_t AlignUp64(size_t n) { return (n + 63) / 64 * 64; }

}  // namespace

Status PreparedWeightsF32::Prepare(const float* w, int64_t k, int64_t n, bool trans_b,
                                   PreparedWeightsF32* out) {
  if (k <= 0 || n <= 0) return InvalidArgument("weight dims must be positive");
  const size_t ldb = static_cast<size_t>(trans_b ? k : n);
  return PackedFp32Weights::Pack(w, static_cast<size_t>(k), static_cast<size_t>(n), ldb, trans_b,
                                 &out->packed_);
}

Status PreparedWeightsF32::Run(const float* a, int64_t m, const Epilogue& e, float* out,
                               ThreadPool* pool) const {
  Fp32GemmArgs args;
  args.m = static_cast<size_t>(m);
  args.n = packed_.n();
  args.k = packed_.k();
  args.a = a;
  args.lda = args.k;
  args.c = out;
  args.ldc = args.n;
  args.epilogue.alpha = e.alpha;
  args.epilogue.bias_kind = e.bias != nullptr ? BiasKind::kPerColumn : BiasKind::kNone;
  args.epilogue.bias = e.bias;
  args.epilogue.beta = e.beta;
  args.epilogue.activation = e.act;
  args.epilogue.activation_alpha = e.act_alpha;
  return Fp32GemmPacked(args, packed_, pool);
}

Status PreparedWeightsS8::Prepare(DType w_type, const void* w, int64_t k, int64_t n, bool trans_b,
                                  const void* w_zp, const float* w_scale, size_t params,
                                  PreparedWeightsS8* out) {
  if (w_type != DType::kInt8 && w_type != DType::kUint8) {
    return InvalidArgument(std::string("weight dtype ") + DTypeName(w_type) + " is not int8/uint8");
  }
  if (k <= 0 || n <= 0) return InvalidArgument("weight dims must be positive");
  if (params != 1 && params != static_cast<size_t>(n))
    return InvalidArgument("weight scale needs 1 or N values");
  out->k_ = k;
  out->n_ = n;
  out->w_type_ = w_type;
  out->w_scale_.resize(static_cast<size_t>(n));
  for (int64_t c = 0; c < n; ++c) out->w_scale_[c] = w_scale[params == 1 ? 0 : c];
  const uint8_t* zp = static_cast<const uint8_t*>(w_zp);
  bool symmetric = w_type == DType::kInt8;
  for (size_t i = 0; zp != nullptr && i < params; ++i) symmetric = symmetric && zp[i] == 0;
  if (symmetric) {
    return PackInt8Weights(static_cast<const int8_t*>(w), k, n,
                           trans_b ? Int8WeightLayout::kNxK : Int8WeightLayout::kKxN,
                           out->w_scale_.data(), &out->packed_);
  }
  out->w_.resize(static_cast<size_t>(k * n));
  if (trans_b)
    TransposeInto(static_cast<const uint8_t*>(w), n, k, 1, out->w_.data());
  else
    std::memcpy(out->w_.data(), w, out->w_.size());
  out->w_zp_.assign(zp, zp + (zp != nullptr ? params : 0));
  return Status::Ok();
}

size_t PreparedWeightsS8::ScratchBytes(int64_t m, const Epilogue& e) const {
  if (FusesEpilogue(e)) return 0;  // the kernel writes the floats itself
  return AlignUp64(static_cast<size_t>(m * n_) * sizeof(int32_t) +
                   static_cast<size_t>(n_) * sizeof(float) + static_cast<size_t>(m));
}

namespace {

Int8GemmInput GemmInput(const QuantizedRows& a, int64_t k) {
  Int8GemmInput in;
  in.data = a.data;
  in.is_signed = a.type == DType::kInt8;
  in.m = a.m;
  in.k = k;
  in.lda = k;
  in.quantization = a.per_row ? Int8Quantization::kPerRow : Int8Quantization::kPerTensor;
  in.scale = a.scale;
  in.zero_point = a.zero_point;
  return in;
}

}  // namespace

// The kernel's float epilogue is act(v * a_scale * w_scale[n] + bias) with act none/Relu in its
// store; any other act runs on each finished block (Int8GemmOutput::unary).
bool PreparedWeightsS8::FusesEpilogue(const Epilogue& e) const {
  return fast() && e.alpha == 1.0f && e.beta == 1.0f;
}

bool PreparedWeightsS8::FusesQuantizedEpilogue(const Epilogue& e) const {
  return FusesEpilogue(e) && (e.act == UnaryFn::kIdentity || e.act == UnaryFn::kRelu);
}

Status PreparedWeightsS8::RunQuantized(const QuantizedRows& a, const Epilogue& e, float y_scale,
                                       DType y_type, int32_t y_zp, void* out,
                                       ThreadPool* pool) const {
  if (!FusesQuantizedEpilogue(e)) return Internal("quantized output needs the kernel's own epilogue");
  if (a.m == 0) return Status::Ok();
  Int8GemmOutput c;
  c.type = y_type == DType::kInt8 ? Int8GemmOutputType::kInt8 : Int8GemmOutputType::kUint8;
  c.data = out;
  c.n = n_;
  c.ldc = n_;
  c.bias = e.bias;
  c.activation = e.act == UnaryFn::kRelu ? Int8GemmActivation::kRelu : Int8GemmActivation::kNone;
  c.scale = y_scale;
  c.zero_point = y_zp;
  return Int8Gemm(GemmInput(a, k_), packed_, c, pool);
}

Status PreparedWeightsS8::Run(const QuantizedRows& a, const Epilogue& e, void* scratch,
                              float* out, ThreadPool* pool) const {
  const int64_t m = a.m;
  if (m == 0) return Status::Ok();
  Int8GemmOutput c;
  c.n = n_;
  c.ldc = n_;
  if (FusesEpilogue(e)) {  // the kernel writes the floats: no scratch (ScratchBytes is 0)
    c.type = Int8GemmOutputType::kFloat;
    c.data = out;
    c.bias = e.bias;
    const bool relu = e.act == UnaryFn::kRelu;
    c.activation = relu ? Int8GemmActivation::kRelu : Int8GemmActivation::kNone;
    c.unary = relu ? UnaryFn::kIdentity : e.act;
    c.unary_alpha = e.act_alpha;
    return Int8Gemm(GemmInput(a, k_), packed_, c, pool);
  }
  // Scratch: int32 accumulators [m,N], per-column scales [N], reference zero points [m] bytes.
  int32_t* acc = static_cast<int32_t*>(scratch);
  float* col_scale = reinterpret_cast<float*>(acc + m * n_);
  if (fast()) {
    c.type = Int8GemmOutputType::kInt32;
    c.data = acc;
    RETURN_IF_ERROR(Int8Gemm(GemmInput(a, k_), packed_, c, pool));
  } else {
    // The reference takes zero points as elements of A's type (int8 as its two's complement).
    uint8_t* a_zp = reinterpret_cast<uint8_t*>(col_scale + n_);
    const int64_t params = a.per_row ? m : 1;
    for (int64_t i = 0; i < params; ++i) a_zp[i] = static_cast<uint8_t>(a.zero_point[i]);
    const void* w_zp = w_zp_.empty() ? nullptr : w_zp_.data();
    RETURN_IF_ERROR(kernels::MatMulInteger(a.type, a.data, {m, k_}, a_zp,
                                           static_cast<size_t>(params), w_type_, w_.data(),
                                           {k_, n_}, w_zp, w_zp_.size(), acc));
  }
  // Per tensor: one pass over all rows; per row: each row with its own activation scale.
  const int64_t groups = a.per_row ? m : 1, rows = a.per_row ? 1 : m;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t j = 0; j < n_; ++j) col_scale[j] = a.scale[g] * w_scale_[j];
    RETURN_IF_ERROR(ApplyEpilogueS32(e, acc + g * n_, col_scale, rows, n_, out + g * n_, pool));
  }
  return Status::Ok();
}

}  // namespace sluice::engine
