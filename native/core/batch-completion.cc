#include "sluice/batch-completion.h"

#include <utility>

namespace sluice {

void CompletionBatch::Clear() {
  requests.clear();
  outputs.clear();
  dims.clear();
  data.reset();
  output_count = 0;
  timings = BatchTimings();
}

std::unique_ptr<CompletionBatch> CompletionPool::Take() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!spare_.empty()) {
      std::unique_ptr<CompletionBatch> batch = std::move(spare_.back());
      spare_.pop_back();
      return batch;
    }
  }
  return std::make_unique<CompletionBatch>();
}

void CompletionPool::Give(std::unique_ptr<CompletionBatch> batch) {
  if (batch == nullptr) return;
  batch->Clear();  // outside the lock: may free the output copy
  std::lock_guard<std::mutex> lock(mu_);
  if (spare_.size() < kMaxSpare) spare_.push_back(std::move(batch));
}

}  // namespace sluice
