// createBatcher(): the JS handle (NativeBatcher in src/native/binding.ts) on a native Batcher,
// owned by the JS thread that created it, and the completion path back to that thread.
//
// Completion path: a batch source finishes a batch on any thread -> Batcher -> JsCompletionSink
// -> ONE napi thread-safe call per batch -> BatcherState::CallJs on the creating thread, which
// builds the NativeCompletion[] (outputs are Uint8Array views on one external ArrayBuffer over
// the batch's output copy), releases the requests' input pins and calls onComplete once.
//
// Ownership and lifetime:
//  - BatcherState is JS-thread state, shared by the wrap (the JS object), the thread-safe
//    function's context (until its finalizer runs) and, weakly, the environment's cleanup list.
//  - Request inputs are pinned from enqueue() until their completion is delivered, by storing
//    their views in a JS array (pins[owner * inputs + i]); pins are set and cleared on the JS
//    thread only, so no napi_ref is created per request.
//  - The thread-safe function is unref'd while no request is outstanding (an idle batcher does
//    not keep the process alive) and released once the batcher is closed and drained, or when
//    the wrap is collected and nothing is outstanding.
//  - Environment teardown closes the batcher; sources in other threads then see 'closed', and
//    completions they still deliver are dropped (the sink is disconnected, never dangling).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "completion-sink.h"
#include "sluice/batcher.h"

namespace sluice::addon {

class BatcherState {
 public:
  // Creates the batcher, its sink and TSFN, and registers it process-wide. Throws JS errors.
  static std::shared_ptr<BatcherState> Create(Napi::Env env, BatcherConfig config,
                                              Napi::Function on_complete);

  uint32_t id() const { return id_; }
  Napi::Value Enqueue(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  void Close();
  // The JS object was collected: close once nothing is outstanding.
  void WrapCollected();
  // Environment teardown: close now, unregister, and release the TSFN (later deliveries are
  // dropped). No JS may run.
  void Teardown();

 private:
  BatcherState() = default;
  static void CallJs(napi_env env, napi_value callback, void* context, void* data);
  static void FinalizeTsfn(napi_env env, void* data, void* hint);
  void Unpin(napi_env env, uint64_t owner);
  void Settle(napi_env env, size_t delivered);  // outstanding bookkeeping after a delivery
  void MaybeRelease();

  napi_env env_ = nullptr;
  uint32_t id_ = 0;
  std::shared_ptr<Batcher> batcher_;
  std::shared_ptr<CompletionPool> pool_;
  std::shared_ptr<JsCompletionSink> sink_;
  size_t input_count_ = 0;
  Napi::Reference<Napi::Array> pins_;
  std::vector<uint32_t> free_owners_;
  uint32_t owners_ = 0;
  uint64_t outstanding_ = 0;  // enqueued and not yet delivered here
  bool closed_ = false;
  bool wrap_alive_ = true;
  bool released_ = false;
  std::vector<int64_t> dims_;  // enqueue scratch
  std::vector<size_t> ranks_;
  std::vector<TensorRef> refs_;
  std::vector<napi_value> views_;  // valid only inside one enqueue() call
};

class BatcherWrap : public Napi::ObjectWrap<BatcherWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  // Constructed from C++ only: info[0] is an External holding a std::shared_ptr<BatcherState>.
  explicit BatcherWrap(const Napi::CallbackInfo& info);
  ~BatcherWrap() override;

 private:
  BatcherState& State(const Napi::CallbackInfo& info);  // checks `this`'s type tag
  Napi::Value Enqueue(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<BatcherState> state_;
};

}  // namespace sluice::addon
