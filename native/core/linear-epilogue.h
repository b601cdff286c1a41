// The epilogue of a fused linear layer: y = act(alpha * acc + beta * bias[n]) over a [M,N]
// row-major result. Fusion passes fold Add(bias) and the activation into it; the GEMMs apply it
// in their tile store (fp32-gemm.h, int8-gemm.h), and ApplyEpilogueS32 is the fallback for int8
// cases the fast kernel does not cover.
#pragma once

#include <cstdint>
#include <string>

#include "sluice/row-kernels.h"
#include "sluice/thread-pool.h"
#include "sluice/status.h"

namespace sluice::engine {

// Activation names of the fused nodes' "activation" attribute and of Describe(): "" (none),
// "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "GeluTanh".
Status ParseActivation(const std::string& name, UnaryFn* out);
const char* ActivationName(UnaryFn act);

struct Epilogue {
  float alpha = 1.0f;
  const float* bias = nullptr;  // N values, or null
  float beta = 1.0f;
  UnaryFn act = UnaryFn::kIdentity;
  float act_alpha = 0.01f;  // LeakyRelu slope
};

// y[M,N] = act(alpha * (acc * col_scale[n]) + beta * bias); col_scale has N values (the
// activation scale times the weight scale of each column). Rows are split across `pool`
// (nullable) when there are enough elements; each thread applies the activation to its rows
// while they are in cache.
Status ApplyEpilogueS32(const Epilogue& e, const int32_t* acc, const float* col_scale, int64_t m,
                        int64_t n, float* y, ThreadPool* pool);

}  // namespace sluice::engine
