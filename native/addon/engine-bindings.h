// The native engine's half of one environment's addon instance: engineUnsupported(graph),
// loadEngine(graph, options) -> Promise<NativeEngine>, and the NativeEngine wrap class
// (src/native/binding.ts). Loading and running happen on libuv worker threads; batches from a
// native batcher run on the engine's own executor threads (attach()), never on the JS thread.
// JS-thread only.
#pragma once

#include <napi.h>

namespace sluice::addon {

class EngineBindings {
 public:
  explicit EngineBindings(Napi::Env env);
  EngineBindings(const EngineBindings&) = delete;
  EngineBindings& operator=(const EngineBindings&) = delete;

  // engineUnsupported(graph) -> string[]: why the engine cannot run it (empty: it can).
  Napi::Value Unsupported(const Napi::CallbackInfo& info);
  // loadEngine(graph, { threads, optimize }) -> Promise<NativeEngine>
  Napi::Value Load(const Napi::CallbackInfo& info);

 private:
  Napi::FunctionReference engine_class_;
};

}  // namespace sluice::addon
