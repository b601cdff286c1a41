// Batcher: the dynamic batcher of one model version. Requests go in with Enqueue() (the JS
// thread, or any producer); batch sources (worker threads of a backend, native executor
// threads) take formed batches with Next(), run them, and hand the outputs back with Complete()
// or Fail(). Finished requests leave through a CompletionSink, all of one batch in one call.
//
//   producer ──Enqueue──▶ RequestQueue ──DecideBatch(now)──▶ Next(): gather ──▶ source runs it
//                                                                                   │
//   sink ◀── one Deliver() per batch: split outputs, queue time ◀──── Complete / Fail ┘
//
// The policy (what to send, when) is batch-policy.h; this class adds the clock, the threads'
// waiting (source-wait.h), tensor gathering and splitting (batch-tensors.h), and ownership.
//
// Units: rows for batch sizes; nanoseconds on MonotonicNowNs() for times and timings;
// microseconds for the config's durations and a request's timeout (as the model config has them).
//
// Threads and locks: every public method is thread-safe. One mutex guards the queue, the request
// and batch records, the counters and the closed flag; it is never held while gathering inputs,
// splitting outputs, or calling the sink. Several sources may call Next() at once; each batch
// belongs to the source that took it until that source calls Complete() or Fail() (any thread
// may make that call, once).
//
// Ownership:
//  - Enqueue borrows the request's input bytes: they must stay valid and unchanged until the
//    request's completion has been delivered (the addon keeps the JS buffers referenced until
//    then). The dims are copied.
//  - A TakenBatch's input bytes belong to the batcher; they stay valid until Complete/Fail of
//    that batch. `storage` lets a consumer keep the bytes alive longer (a JS view the addon must
//    detach); a buffer still shared when its batch finishes is not reused until it is released.
//  - Complete() copies the outputs, once per batch; the source's buffers are free on return.
//
// Allocation: none per request in steady state on the Enqueue -> Next -> Complete path once the
// record, batch and completion pools are warm (they grow to the peak number of requests in
// flight and are then reused). Per executed batch: one shared output copy (its lifetime is the
// consumer's) — and nothing else. Failures allocate their messages.
//
// Timeouts: a request that expires in the queue is answered when its deadline passes, not when
// a source next looks, and is never executed (REJECT); under DELAY it moves behind its level.
// Two parties act on expiry, whichever takes the lock first (the other then finds nothing):
//  - sources waiting in Next() wake at the next deadline and run the policy as usual;
//  - the expiry thread, one per batcher, started by the first Enqueue whose request has a
//    deadline (a model without timeouts never starts it). It sleeps on its own condition
//    variable until the earliest deadline of the queued, not yet delayed, requests (an Enqueue
//    with an earlier deadline wakes it to re-arm), then, under the lock, runs DecideBatch and
//    applies only its `rejected` and `delayed` parts (never the batch: only sources take
//    batches), and delivers the rejections through the sink in one call, without the lock.
//    So while every source is busy executing, expired requests are still answered at their
//    deadline (measured: within ~0.1-1 ms; see batcher-test.cc ExpiryWhileEverySourceIsBusy).
//    Cost: one wake-up and one O(queue) scan per earliest deadline (a request taken before its
//    deadline can cause one wake-up that finds nothing), plus a DecideBatch when something has
//    expired; no allocation per request (rejections use the completion pool as Next does).
//    Close() (and so the destructor) stops and joins it; a Close() from the sink on the expiry
//    thread itself detaches it instead, and it exits as soon as the sink returns. The sink must
//    not destroy the batcher from Deliver() (true of every thread that delivers).
//
// Model shapes: with a batch dimension, dim 0 of every input is the request's row count and a
// batch's inputs are [sum of rows, row shape...]; requests share a batch only when all their
// row shapes agree. Without one (has_batch_dim false, max_batch_size 1), and with dynamic false,
// every request is executed alone and its shapes pass through untouched.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sluice/batch-completion.h"
#include "sluice/batch-policy.h"
#include "sluice/batch-tensors.h"
#include "sluice/source-wait.h"
#include "sluice/status.h"

namespace sluice {

struct BatcherConfig {
  std::string name;  // "model:version", for messages
  BatchPolicyConfig policy;
  bool has_batch_dim = true;
  bool dynamic = true;  // false: one request per batch, still queued with priorities/timeouts
  std::vector<std::string> input_names;   // in the order requests pass their inputs
  std::vector<uint32_t> input_element_sizes;   // bytes per element; kBytesElement = BYTES
  std::vector<std::string> output_names;  // in the order sources complete them
  std::vector<uint32_t> output_element_sizes;
  int64_t spin_ns = kDefaultSpinNs;  // see source-wait.h
  size_t reserve_requests = 256;     // pools sized up front for this many requests in flight
};

// Ids are positive integers below 2^53 (a JS number holds them exactly): a slot index in the low
// 22 bits and the slot's generation above. A request id stays unique among the batcher's
// unfinished requests and is not reissued until its slot has been reused 2^31 times.
using BatchId = uint64_t;

struct EnqueueArgs {
  const TensorRef* inputs = nullptr;  // one per config input, in order
  size_t input_count = 0;
  int64_t rows = 1;        // dim 0 of every input; 1 without a batch dim
  uint64_t priority = 0;   // protocol priority, 0 = default level
  int64_t timeout_us = 0;  // protocol timeout in the queue, 0 = none
  uint64_t owner = 0;      // the caller's token, returned in the completion
};

// One gathered input of a batch.
struct BatchInput {
  const uint8_t* data = nullptr;
  size_t byte_size = 0;
  std::vector<int64_t> dims;
  std::shared_ptr<const ByteBlock> storage;  // holds `data`
};

// What Next() hands a source. Reuse one across calls: its vectors keep their capacity.
struct TakenBatch {
  BatchId id = 0;
  int64_t rows = 0;
  size_t requests = 0;
  std::vector<BatchInput> inputs;  // config input order
};

enum class NextResult { kBatch, kTimeout, kClosed };

struct BatchSizeStats {
  int64_t batch_size = 0;  // rows
  uint64_t count = 0;      // batches executed at this size
  int64_t compute_input_ns = 0, compute_infer_ns = 0, compute_output_ns = 0;  // sums
};

struct BatcherCounters {
  uint64_t queued = 0;     // now
  uint64_t executing = 0;  // requests in batches taken and not finished, now
  uint64_t requests_succeeded = 0, requests_failed = 0;
  uint64_t inference_count = 0;  // rows executed successfully
  uint64_t execution_count = 0;  // batches executed successfully
  // Sums over successful requests (each request adds its batch's timings).
  int64_t queue_ns = 0, compute_input_ns = 0, compute_infer_ns = 0, compute_output_ns = 0;
  std::vector<BatchSizeStats> batch_stats;  // ascending batch size
};

class Batcher {
 public:
  // INVALID_ARGUMENT for a config the policy or the tensor layout cannot work with.
  static Status Create(BatcherConfig config, std::shared_ptr<CompletionSink> sink,
                       std::shared_ptr<CompletionPool> pool, std::shared_ptr<Batcher>* out);
  ~Batcher();  // Close()s; every batch must have been finished (sources hold a shared_ptr)

  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues one request. INVALID_ARGUMENT (input count, shapes, bytes, rows, priority, timeout),
  // UNAVAILABLE kQueueFullMessage at once when its level is full, UNAVAILABLE when closed.
  // Cost: O(inputs + dims) plus O(elements) for BYTES inputs (their prefixes are checked).
  Status Enqueue(const EnqueueArgs& args, uint64_t* request_id);

  // Waits up to timeout_ns (kNoDeadline: no limit) for a batch. kBatch fills *batch; the
  // source must then Complete or Fail it. Requests that expire under REJECT while it looks are
  // failed through the sink from this thread. kClosed once Close() has run.
  Status Next(int64_t timeout_ns, NextResult* result, TakenBatch* batch);

  // Hands back the outputs of batch `id` (config output order; with a batch dim, dim 0 of each
  // is the batch's rows) and delivers every request's rows. NOT_FOUND if `id` is not an
  // unfinished batch. Outputs that do not match (count, shapes, bytes) fail every request of
  // the batch with INTERNAL and return INVALID_ARGUMENT: the batch is finished either way.
  Status Complete(BatchId id, const TensorRef* outputs, size_t output_count,
                  const BatchTimings& timings);
  // Fails every request of batch `id` with `status` (not OK). NOT_FOUND as Complete.
  Status Fail(BatchId id, Status status);

  // Fails a still-queued request with CANCELLED; false if it is not queued (running or done).
  bool Cancel(uint64_t request_id);
  // Fails every queued request with UNAVAILABLE, refuses new ones, wakes sources (Next returns
  // kClosed), stops and joins the expiry thread. Batches already taken still complete normally.
  // Idempotent.
  void Close();

  BatcherCounters Counters() const;
  const BatcherConfig& config() const { return config_; }

 private:
  struct Record;
  struct Batch;

  Batcher(BatcherConfig config, std::shared_ptr<CompletionSink> sink,
          std::shared_ptr<CompletionPool> pool);

  // Under mu_.
  Record* AllocRecord();
  Record* NewRecord();  // appends a fresh record slot
  void FreeRecord(Record* r);
  Record* FindRecord(uint64_t id, int state);
  Batch* AllocBatch();
  Batch* FindBatch(BatchId id, int state);
  // Decides at now_ns and applies it: *out is a batch taken for the caller (or null), *failed
  // the requests that expired under REJECT (or null). out == nullptr: expiry only (rejections
  // and delays are applied, the batch is left queued).
  Status TakeBatch(int64_t now_ns, Batch** out, std::unique_ptr<CompletionBatch>* failed);
  // Starts the expiry thread if it is not running (under mu_). RESOURCE_EXHAUSTED if the OS
  // refuses a thread.
  Status StartExpiryThread();
  // The expiry thread's body (see "Timeouts" above). Takes mu_ itself.
  void ExpiryLoop();
  // Fails `r` (which has left the queue) into `out` and frees it.
  void AddFailure(Record* r, const Status& status, int64_t now_ns, CompletionBatch* out);
  // Counts a finished batch, frees its records and storage, and frees the batch.
  void FinishBatch(Batch* b, bool ok, const BatchTimings& timings);

  // Without mu_: the batch belongs to the calling source.
  Status Gather(Batch* b, TakenBatch* out);
  Status Split(const Batch& b, const TensorRef* outputs, CompletionBatch* out) const;
  void FailInto(const Batch& b, const Status& status, CompletionBatch* out) const;
  Status Finish(BatchId id, const TensorRef* outputs, size_t output_count,
                const BatchTimings& timings, const Status* failure);

  const BatcherConfig config_;
  BatchPolicyConfig policy_;  // config_.policy adjusted for dynamic=false
  const std::shared_ptr<CompletionSink> sink_;
  const std::shared_ptr<CompletionPool> pool_;
  std::vector<std::string> input_labels_, output_labels_;  // "model:1: input 'x'", for messages

  mutable std::mutex mu_;
  SourceWait wait_;
  RequestQueue queue_;
  bool closed_ = false;
  uint64_t unbatched_key_ = 0;  // dynamic=false: every request its own shape key
  BatchDecision decision_;      // scratch for DecideBatch
  std::vector<QueuedRequest> taken_, rejected_;  // scratch for ApplyBatchDecision
  std::vector<std::unique_ptr<Record>> records_;
  std::vector<uint32_t> free_records_;
  std::vector<std::unique_ptr<Batch>> batches_;
  std::vector<uint32_t> free_batches_;
  // Input storage not lent to a batch; one still shared with a consumer is skipped until freed.
  std::vector<std::shared_ptr<ByteBlock>> spare_storage_;
  BatcherCounters counters_;  // batch_stats kept in stats_ below
  std::map<int64_t, BatchSizeStats> stats_;
  // The expiry thread. The thread object is started (Enqueue) and moved out (Close) under mu_;
  // expiry_wake_ns_ (when it next looks; kNoDeadline: only when notified) is guarded by mu_.
  std::thread expiry_thread_;
  std::condition_variable expiry_cv_;
  int64_t expiry_wake_ns_ = kNoDeadline;
};

}  // namespace sluice
