// Conversions of the core's hardware reports (plain C++ structs) to frozen JS objects whose
// shape is declared in src/native/binding.ts (CpuFeatures, CudaInfo).
#pragma once

#include <napi.h>

#include "sluice/cpu_features.h"
#include "sluice/device.h"

namespace sluice::addon {

Napi::Object CpuFeaturesToJs(Napi::Env env, const CpuFeatures& features);
Napi::Object CudaInfoToJs(Napi::Env env, const CudaInfo& info);

}  // namespace sluice::addon
