// The completion path's two ends: JsCompletionSink hands a finished batch from whichever thread
// finished it to the creating JS thread (one napi thread-safe call per batch), and
// CompletionsToJs turns it into the NativeCompletion[] that onComplete receives there.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

#include "sluice/batch-completion.h"

namespace sluice::addon {

// CompletionSink over a napi thread-safe function. Deliver() may run on any thread; Connect,
// Ref/Unref and Release on the creating JS thread; Disconnect wherever the TSFN's finalizer or
// the environment's teardown runs. One mutex guards the TSFN handle, so a delivery never races
// with its release.
class JsCompletionSink final : public CompletionSink {
 public:
  explicit JsCompletionSink(std::shared_ptr<CompletionPool> pool) : pool_(std::move(pool)) {}
  void Connect(napi_threadsafe_function tsfn);
  void Deliver(std::unique_ptr<CompletionBatch> batch) noexcept override;
  void Ref(napi_env env, bool ref);
  // Lets the TSFN go (napi_release_threadsafe_function); later deliveries are dropped.
  void Release();
  // The TSFN is gone (finalized); later deliveries are dropped.
  void Disconnect();

 private:
  std::mutex mu_;
  napi_threadsafe_function tsfn_ = nullptr;
  std::shared_ptr<CompletionPool> pool_;
};

// NativeCompletion[] for `batch` (src/native/binding.ts). Successful requests' outputs are
// Uint8Array views on ONE ArrayBuffer per batch: external over the shared output copy (kept
// alive until the last view is collected), or a copy where external buffers are not allowed.
// JS thread; throws Napi::Error.
napi_value CompletionsToJs(napi_env env, const CompletionBatch& batch);

}  // namespace sluice::addon
