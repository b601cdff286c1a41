#include "linear-epilogue.h"

#include <algorithm>
#include <atomic>

namespace sluice::engine {

namespace {

constexpr UnaryFn kActivations[] = {UnaryFn::kIdentity, UnaryFn::kRelu, UnaryFn::kLeakyRelu,
                                    UnaryFn::kSigmoid,  UnaryFn::kTanh, UnaryFn::kGelu,
                                    UnaryFn::kGeluTanh};

}  // namespace

Status ParseActivation(const std::string& name, UnaryFn* out) {
  for (UnaryFn a : kActivations) {
    if (name == ActivationName(a)) {
      *out = a;
      return Status::Ok();
    }
  }
  return InvalidArgument("unknown activation '" + name + "'");
}

const char* ActivationName(UnaryFn act) {
  switch (act) {
    case UnaryFn::kIdentity: return "";
    case UnaryFn::kRelu: return "Relu";
    case UnaryFn::kLeakyRelu: return "LeakyRelu";
    case UnaryFn::kSigmoid: return "Sigmoid";
    case UnaryFn::kTanh: return "Tanh";
    case UnaryFn::kGelu: return "Gelu";
    case UnaryFn::kGeluTanh: return "GeluTanh";
    default: return "?";  // not an activation of a fused layer
  }
}

Status ApplyEpilogueS32(const Epilogue& e, const int32_t* acc, const float* col_scale, int64_t m,
                        int64_t n, float* y, ThreadPool* pool) {
  constexpr int64_t kParallelMin = int64_t{1} << 15;  // elements; below, a wake-up costs more
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t* a = acc + r * n;
      float* row = y + r * n;
      for (int64_t c = 0; c < n; ++c) {
        float v = e.alpha * (static_cast<float>(a[c]) * col_scale[c]);
        if (e.bias != nullptr) v += e.beta * e.bias[c];
        row[c] = v;
      }
    }
    if (e.act == UnaryFn::kIdentity || r1 == r0) return Status::Ok();
    return UnaryF32(e.act, e.act_alpha, y + r0 * n, static_cast<size_t>((r1 - r0) * n), y + r0 * n);
  };
  // The only failure is an activation the row kernels do not know, the same for every range.
  std::atomic<bool> failed{false};
  ForRanges(static_cast<size_t>(m), static_cast<size_t>(m * n), kParallelMin, pool,
            [&](size_t begin, size_t end) {
              if (!rows(static_cast<int64_t>(begin), static_cast<int64_t>(end)).ok()) failed = true;
            });
  return failed ? InvalidArgument("linear epilogue: unknown activation") : Status::Ok();
}

}  // namespace sluice::engine
