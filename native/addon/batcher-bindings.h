// The batcher half of one environment's addon instance: createBatcher() and
// attachBatchSource(), the wrap classes of this environment, and what its teardown must undo.
//
// Environment teardown (a worker exiting, or the main thread at exit) runs the cleanup hook
// registered here before Node-API frees the environment: batchers created here are closed (their
// sources elsewhere see 'closed') and sources attached here fail the batches they still hold,
// so no request waits on a thread that is gone. Node stops worker threads before it runs the
// main thread's hooks, which is why next() watches for its own environment stopping.
// JS-thread only.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

namespace sluice::addon {

class BatcherState;
class SourceState;

class BatcherBindings {
 public:
  explicit BatcherBindings(Napi::Env env);
  BatcherBindings(const BatcherBindings&) = delete;
  BatcherBindings& operator=(const BatcherBindings&) = delete;

  // createBatcher(config, onComplete) -> NativeBatcher
  Napi::Value CreateBatcher(const Napi::CallbackInfo& info);
  // attachBatchSource(id) -> NativeBatchSource; NOT_FOUND when no such batcher is alive.
  Napi::Value AttachBatchSource(const Napi::CallbackInfo& info);

 private:
  static void OnTeardown(BatcherBindings* self);

  Napi::FunctionReference batcher_class_;
  Napi::FunctionReference source_class_;
  std::vector<std::weak_ptr<BatcherState>> batchers_;
  std::vector<std::weak_ptr<SourceState>> sources_;
};

}  // namespace sluice::addon
