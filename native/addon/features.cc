#include "features.h"

namespace sluice::addon {

Napi::Object CpuFeaturesToJs(Napi::Env env, const CpuFeatures& f) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("avx2", f.avx2);
  out.Set("fma", f.fma);
  out.Set("avx512f", f.avx512f);
  out.Set("avx512bw", f.avx512bw);
  out.Set("avx512vl", f.avx512vl);
  out.Set("avx512vnni", f.avx512vnni);
  out.Set("avxvnni", f.avxvnni);
  out.Freeze();
  return out;
}

Napi::Object CudaInfoToJs(Napi::Env env, const CudaInfo& info) {
  Napi::Array devices = Napi::Array::New(env, info.devices.size());
  for (uint32_t i = 0; i < info.devices.size(); ++i) {
    const CudaDevice& d = info.devices[i];
    Napi::Object device = Napi::Object::New(env);
    device.Set("name", d.name);
    device.Set("computeCapability", d.ComputeCapability());
    // A double holds byte counts exactly up to 2^53 (8 PiB).
    device.Set("totalMemoryBytes", static_cast<double>(d.total_memory_bytes));
    device.Freeze();
    devices.Set(i, device);
  }
  devices.Freeze();

  Napi::Object out = Napi::Object::New(env);
  out.Set("compiledIn", info.compiled_in);
  out.Set("deviceCount", info.device_count());
  out.Set("devices", devices);
  out.Set("error", info.error);
  out.Freeze();
  return out;
}

}  // namespace sluice::addon
