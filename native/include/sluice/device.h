// What CUDA can offer this process. CUDA is optional twice over: at build time (no nvcc → the
// stub in native/cuda/device-stub.cc) and at run time (no driver or no GPU → no devices and a
// reason). Either way the answer is data, never an abort; callers fall back to the CPU path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct CudaDevice {
  std::string name;  // e.g. "NVIDIA H100 80GB HBM3"
  int cc_major = 0;  // compute capability, e.g. 9 and 0 for sm_90
  int cc_minor = 0;
  uint64_t total_memory_bytes = 0;

  std::string ComputeCapability() const;  // "9.0"
};

struct CudaInfo {
  bool compiled_in = false;         // built with nvcc (cudart linked statically)
  std::vector<CudaDevice> devices;  // indexed by CUDA device ordinal; empty when unusable
  std::string error;                // why there are no devices; "" when there are some

  int device_count() const { return static_cast<int>(devices.size()); }
};

// Queried on first call (thread-safe), then cached: device hot-plug is not supported, and the
// first query initialises the CUDA runtime, which costs up to hundreds of ms with a GPU present.
const CudaInfo& GetCudaInfo();

}  // namespace sluice
