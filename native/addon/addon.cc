// The export table of sluice.node. Its shape is declared once in src/native/binding.ts; keep the
// two in step.
#include <napi.h>

#include <cstdlib>

#include "batcher-bindings.h"
#include "engine-bindings.h"
#include "features.h"
#include "sluice/thread-priority.h"
#include "sluice/version.h"

namespace sluice::addon {

// Node-API creates one Addon per environment that loads the module (the main thread and each
// worker thread) and deletes it when that environment exits, so nothing here is shared across
// threads. JS values cannot cross environments, which is why the cached answers live here rather
// than in statics.
class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) : batchers_(env), engines_(env) {
    DefineAddon(exports,
                {
                    InstanceMethod<&Addon::CpuFeatures>("cpuFeatures", napi_enumerable),
                    InstanceMethod<&Addon::Cuda>("cuda", napi_enumerable),
                    InstanceMethod<&Addon::ExitImmediately>("exitImmediately", napi_enumerable),
                    InstanceMethod<&Addon::LowerThreadPriority>("lowerThreadPriorityForCompute",
                                                                napi_enumerable),
                    InstanceMethod<&Addon::CreateBatcher>("createBatcher", napi_enumerable),
                    InstanceMethod<&Addon::AttachBatchSource>("attachBatchSource", napi_enumerable),
                    InstanceMethod<&Addon::EngineUnsupported>("engineUnsupported", napi_enumerable),
                    InstanceMethod<&Addon::LoadEngine>("loadEngine", napi_enumerable),
                    InstanceValue("version", Napi::String::New(env, Version()), napi_enumerable),
                });
  }

 private:
  // Both reports are process-wide constants (detected once by the core), so each environment
  // converts them once and hands out the same frozen object.
  Napi::Value CpuFeatures(const Napi::CallbackInfo& info) {
    if (cpu_features_.IsEmpty()) {
      cpu_features_ = Napi::Persistent(CpuFeaturesToJs(info.Env(), GetCpuFeatures()));
    }
    return cpu_features_.Value();
  }

  Napi::Value Cuda(const Napi::CallbackInfo& info) {
    if (cuda_.IsEmpty()) cuda_ = Napi::Persistent(CudaInfoToJs(info.Env(), GetCudaInfo()));
    return cuda_.Value();
  }

  // Ends the process at once with `code`, running no exit handlers or destructors. For a server
  // whose shutdown grace period is over while threads are still inside native code (an ONNX
  // Runtime run cannot be interrupted, and tearing its worker down mid-run aborts the process).
  Napi::Value ExitImmediately(const Napi::CallbackInfo& info) {
    int code = 0;
    if (info.Length() > 0 && info[0].IsNumber()) code = info[0].As<Napi::Number>().Int32Value();
    std::_Exit(code);
  }

  // For compute threads JS owns (the ONNX Runtime workers): see sluice/thread-priority.h.
  Napi::Value LowerThreadPriority(const Napi::CallbackInfo& info) {
    LowerThreadPriorityForCompute();
    return info.Env().Undefined();
  }

  // The native dynamic batcher (batcher-bindings.h): creation on any thread, sources attached
  // from any thread of the process by batcher id.
  Napi::Value CreateBatcher(const Napi::CallbackInfo& info) {
    return batchers_.CreateBatcher(info);
  }
  Napi::Value AttachBatchSource(const Napi::CallbackInfo& info) {
    return batchers_.AttachBatchSource(info);
  }

  // The native engine (engine-bindings.h).
  Napi::Value EngineUnsupported(const Napi::CallbackInfo& info) { return engines_.Unsupported(info); }
  Napi::Value LoadEngine(const Napi::CallbackInfo& info) { return engines_.Load(info); }

  Napi::ObjectReference cpu_features_;
  Napi::ObjectReference cuda_;
  BatcherBindings batchers_;
  EngineBindings engines_;
};

}  // namespace sluice::addon

// The registration macro pastes the class name into an identifier, so it needs an unqualified one.
using SluiceAddon = sluice::addon::Addon;
NODE_API_NAMED_ADDON(sluice, SluiceAddon)
