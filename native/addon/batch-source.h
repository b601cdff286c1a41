// attachBatchSource(): a JS thread's handle (NativeBatchSource in src/native/binding.ts) on a
// batcher created anywhere in the process, for a backend that runs batches in worker threads.
//
// next(timeoutMs) blocks the calling thread only (never the creator's). It waits in slices of
// at most kNextSliceMs and, between slices, asks Node-API whether this thread's environment is
// stopping (worker.terminate(), process exit), so that a worker blocked in next() never holds
// up its own termination, nor the process exit that waits for it, by more than one slice.
//
// A NativeBatch's input views are external ArrayBuffers over the batcher's gather storage
// (copies where external buffers are not allowed). complete()/fail() detach them, so a view
// kept past its batch reads nothing instead of another batch's data; each ArrayBuffer also holds
// a reference on its storage, so even an undetached view never points at freed memory.
//
// Ownership: SourceState is owned by the wrap and, weakly, by its environment's cleanup list.
// Batches taken and not yet completed are tracked here; when the wrap is collected or its
// environment exits, they are failed (UNAVAILABLE) so their requests do not hang.
// Thread affinity: everything here runs on the thread that attached, except that the batcher
// it points at is shared with other threads (Batcher is thread-safe).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/batcher.h"

namespace sluice::addon {

constexpr int64_t kNextSliceMs = 50;

class SourceState {
 public:
  explicit SourceState(std::shared_ptr<Batcher> batcher) : batcher_(std::move(batcher)) {}
  ~SourceState();

  Napi::Value Next(const Napi::CallbackInfo& info);
  Napi::Value Complete(const Napi::CallbackInfo& info);
  Napi::Value Fail(const Napi::CallbackInfo& info);
  // Fails the batches still held with UNAVAILABLE `why` and lets the batcher go. Idempotent.
  // Makes no JS calls beyond releasing references, so it may run in a finalizer or at teardown.
  void Shutdown(const char* why);

 private:
  struct Held {
    BatchId id = 0;
    std::vector<Napi::Reference<Napi::ArrayBuffer>> views;  // detached when the batch finishes
  };

  Napi::Value BatchToJs(Napi::Env env);  // from taken_, records it in held_
  // Detaches the batch's views and forgets it (JS thread, JS allowed).
  void Release(Napi::Env env, BatchId id);

  std::shared_ptr<Batcher> batcher_;  // null after Shutdown
  std::vector<Held> held_;
  TakenBatch taken_;
  std::vector<TensorRef> outputs_;  // complete() scratch
  std::vector<int64_t> dims_;
  std::vector<size_t> ranks_;
};

class BatchSourceWrap : public Napi::ObjectWrap<BatchSourceWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  // Constructed from C++ only: info[0] is an External holding a std::shared_ptr<SourceState>.
  explicit BatchSourceWrap(const Napi::CallbackInfo& info);
  ~BatchSourceWrap() override;

 private:
  SourceState& State(const Napi::CallbackInfo& info);  // checks `this`'s type tag
  Napi::Value Next(const Napi::CallbackInfo& info);
  Napi::Value Complete(const Napi::CallbackInfo& info);
  Napi::Value Fail(const Napi::CallbackInfo& info);

  std::shared_ptr<SourceState> state_;
};

}  // namespace sluice::addon
