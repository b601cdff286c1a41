// Host-only parts of device.h, shared by the CUDA build and the no-CUDA stub.
#include "sluice/device.h"

namespace sluice {

std::string CudaDevice::ComputeCapability() const {
  return std::to_string(cc_major) + "." + std::to_string(cc_minor);
}

}  // namespace sluice
