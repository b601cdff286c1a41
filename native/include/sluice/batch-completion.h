// What the batcher hands back for finished requests: every completion of one batch (or of one
// rejection sweep, cancellation or close) travels as ONE CompletionBatch through ONE call to a
// CompletionSink. The addon's sink turns that call into one thread-safe call into JS; tests use
// a fake that records what it is given.
//
// Ownership: a CompletionBatch is owned by whoever holds its unique_ptr: the batcher while it
// fills one, the sink from Deliver() on. The sink hands it back to the CompletionPool once it is
// done, so that steady-state completion allocates nothing but the output copy (`data`), whose
// lifetime the consumer decides (JS views keep it alive through the shared_ptr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "sluice/batch-tensors.h"
#include "sluice/status.h"

namespace sluice {

// Timings a batch source reports for one batch, nanoseconds. The batcher adds its own gather
// time to compute_input_ns.
struct BatchTimings {
  int64_t compute_input_ns = 0;
  int64_t compute_infer_ns = 0;
  int64_t compute_output_ns = 0;
};

// One request's outputs are `output_count` consecutive slices, in config output order.
struct OutputSlice {
  size_t offset = 0;      // into CompletionBatch::data
  size_t byte_size = 0;
  size_t dims_begin = 0;  // into CompletionBatch::dims
  size_t rank = 0;
};

struct CompletedRequest {
  uint64_t request_id = 0;   // as Batcher::Enqueue returned it
  uint64_t owner = 0;        // the token the caller passed to Enqueue
  Status status;             // OK, or why it failed (it then has no outputs)
  int64_t batch_rows = 0;    // rows of the batch it ran in; 0 if it never ran
  int64_t queue_ns = 0;      // enqueue -> taken by a source (or -> failed, if never taken)
  size_t outputs_begin = 0;  // its first slice in CompletionBatch::outputs, when ok
};

struct CompletionBatch {
  std::vector<CompletedRequest> requests;
  std::vector<OutputSlice> outputs;
  std::vector<int64_t> dims;
  // One copy of the batch's outputs, shared by every slice; null when nothing succeeded.
  std::shared_ptr<const ByteBlock> data;
  size_t output_count = 0;  // slices per successful request
  BatchTimings timings;     // of the batch, gather included; zero when it never ran

  // Empties the batch and keeps its capacity (data is released).
  void Clear();
};

// Receives finished requests. Thread affinity: Deliver runs on whichever thread finished them
// (a batch source in Next/Complete/Fail, the caller of Cancel/Close, or the batcher's expiry
// thread rejecting timed-out requests), possibly on several
// threads at once; it is called with no batcher lock held and may therefore call back into the
// batcher, but it must not throw and should not block: it is on a source's hot path.
class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  virtual void Deliver(std::unique_ptr<CompletionBatch> batch) noexcept = 0;
};

// Spare CompletionBatches, so that completing a batch reuses vectors instead of allocating
// them. Thread-safe (its own small mutex, never held while calling out). Holds at most
// kMaxSpare batches; more are freed.
class CompletionPool {
 public:
  static constexpr size_t kMaxSpare = 64;

  CompletionPool() { spare_.reserve(kMaxSpare); }  // Give() never allocates

  // A cleared batch: a spare one if there is one, else a new one.
  std::unique_ptr<CompletionBatch> Take();
  // Hands `batch` back (cleared here); null is ignored.
  void Give(std::unique_ptr<CompletionBatch> batch);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<CompletionBatch>> spare_;
};

}  // namespace sluice
