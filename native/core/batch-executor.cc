#include "sluice/batch-executor.h"

#include "sluice/thread-priority.h"

#include <exception>
#include <string>
#include <system_error>
#include <utility>

namespace sluice {

Status ExecutorThreads::Start(std::shared_ptr<Batcher> batcher,
                              std::shared_ptr<BatchExecutor> executor, size_t threads,
                              std::unique_ptr<ExecutorThreads>* out) {
  if (batcher == nullptr || executor == nullptr || threads == 0) {
    return InvalidArgument("executor threads need a batcher, an executor and at least 1 thread");
  }
  std::unique_ptr<ExecutorThreads> pool(
      new ExecutorThreads(std::move(batcher), std::move(executor)));
  pool->threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    try {
      pool->threads_.emplace_back([p = pool.get()] { p->Run(); });
    } catch (const std::system_error& e) {
      *out = std::move(pool);  // the destructor stops the threads already running
      return Status(StatusCode::RESOURCE_EXHAUSTED,
                    std::string("cannot start an executor thread: ") + e.what());
    }
  }
  *out = std::move(pool);
  return Status::Ok();
}

ExecutorThreads::~ExecutorThreads() {
  batcher_->Close();
  for (std::thread& t : threads_) t.join();
}

void ExecutorThreads::Run() {
  LowerThreadPriorityForCompute();
  TakenBatch batch;
  std::vector<TensorRef> outputs;
  for (;;) {
    NextResult result;
    const Status next = batcher_->Next(kNoDeadline, &result, &batch);
    if (!next.ok() || result == NextResult::kClosed) return;
    if (result != NextResult::kBatch) continue;
    outputs.clear();
    BatchTimings timings;
    Status s;
    try {
      s = executor_->Execute(batch, &outputs, &timings);
    } catch (const std::exception& e) {
      s = Internal(std::string("the executor threw: ") + e.what());
    } catch (...) {
      s = Internal("the executor threw a non-standard exception");
    }
    if (s.ok()) {
      // An output mismatch fails the batch's requests inside Complete; nothing more to do here.
      (void)batcher_->Complete(batch.id, outputs.data(), outputs.size(), timings);
    } else {
      (void)batcher_->Fail(batch.id, std::move(s));
    }
  }
}

}  // namespace sluice
