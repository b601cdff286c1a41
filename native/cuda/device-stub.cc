// Compiled instead of device.cu when the build has no CUDA (nvcc not found, or
// SLUICE_ENABLE_CUDA=OFF). Files named *-stub.cc in native/cuda/ are the no-CUDA fallbacks.
#include "sluice/device.h"

namespace sluice {

const CudaInfo& GetCudaInfo() {
  static const CudaInfo info = [] {
    CudaInfo i;
    i.error = "Sluice was built without CUDA (nvcc not found or SLUICE_ENABLE_CUDA=OFF)";
    return i;
  }();
  return info;
}

}  // namespace sluice
