// CUDA device discovery through the statically linked cudart. With no driver (libcuda.so.1
// absent), no GPU, or CUDA_VISIBLE_DEVICES="" every call below returns an error code; we turn
// it into CudaInfo::error and report no devices, so the engine stays on the CPU path.
#include <cuda_runtime.h>

#include "sluice/device.h"

namespace sluice {
namespace {

std::string Describe(const char* call, cudaError_t err) {
  return std::string(call) + " failed: " + cudaGetErrorName(err) + " (" +
         cudaGetErrorString(err) + ")";
}

CudaInfo Query() {
  CudaInfo info;
  info.compiled_in = true;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.error = Describe("cudaGetDeviceCount", err);
    return info;
  }
  if (count == 0) {
    info.error = "no CUDA device visible to this process";
    return info;
  }
  // All or nothing: a device list with holes would break the ordinal == index invariant.
  std::vector<CudaDevice> devices;
  devices.reserve(count);
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    cudaDeviceProp prop{};
    err = cudaGetDeviceProperties(&prop, ordinal);
    if (err != cudaSuccess) {
      info.error = Describe("cudaGetDeviceProperties", err) + " for device " +
                   std::to_string(ordinal);
      return info;
    }
    CudaDevice d;
    d.name = prop.name;
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.total_memory_bytes = prop.totalGlobalMem;
    devices.push_back(std::move(d));
  }
  info.devices = std::move(devices);
  return info;
}

}  // namespace

const CudaInfo& GetCudaInfo() {
  static const CudaInfo info = Query();
  return info;
}

}  // namespace sluice
