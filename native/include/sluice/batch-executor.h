// Native batch sources: threads that serve a Batcher with a C++ backend (the native engine, or a
// test's fake). Each thread loops Next() -> Execute() -> Complete() (or Fail() with Execute's
// error) until the batcher closes. The ONNX Runtime backend does the same loop in JS worker
// threads through the addon (NativeBatchSource); both sides meet at the Batcher.
//
// Thread affinity: Execute runs on the executor threads only, several at once (one batch each).
// Ownership: ExecutorThreads shares the batcher and the executor; the output views Execute
// returns are the executor's and only need to live until Execute's caller has called Complete
// (which copies them), i.e. until that thread's next Execute.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "sluice/batcher.h"
#include "sluice/status.h"

namespace sluice {

class BatchExecutor {
 public:
  virtual ~BatchExecutor() = default;
  // Runs `batch`. On OK, *outputs holds one tensor per config output (batch dim first when the
  // model has one) and *timings the stage durations. An error fails the batch's requests.
  virtual Status Execute(const TakenBatch& batch, std::vector<TensorRef>* outputs,
                         BatchTimings* timings) = 0;
};

class ExecutorThreads {
 public:
  // Starts `threads` (>= 1) threads serving `batcher`. INVALID_ARGUMENT for 0 threads or a null
  // argument; RESOURCE_EXHAUSTED if the OS refuses a thread (those already started keep going
  // until the batcher closes, and are joined by the destructor).
  static Status Start(std::shared_ptr<Batcher> batcher, std::shared_ptr<BatchExecutor> executor,
                      size_t threads, std::unique_ptr<ExecutorThreads>* out);

  // Closes the batcher (queued requests fail, running batches finish) and joins the threads.
  ~ExecutorThreads();

  ExecutorThreads(const ExecutorThreads&) = delete;
  ExecutorThreads& operator=(const ExecutorThreads&) = delete;

 private:
  ExecutorThreads(std::shared_ptr<Batcher> batcher, std::shared_ptr<BatchExecutor> executor)
      : batcher_(std::move(batcher)), executor_(std::move(executor)) {}
  void Run();

  std::shared_ptr<Batcher> batcher_;
  std::shared_ptr<BatchExecutor> executor_;
  std::vector<std::thread> threads_;
};

}  // namespace sluice
