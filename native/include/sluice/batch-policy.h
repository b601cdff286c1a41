// The dynamic batcher's policy: a pure function of the queue's state, its config and an injected
// `now`. It reads no clock, starts no thread, owns nothing, and so is tested without sleeping;
// the batcher thread (which holds the queue's lock) calls it, applies the answer and sleeps until
// the answer's wake_at_ns or until the queue changes.
//
// Units: batch sizes in rows (a request's dim 0, so a 5-row request counts 5), clock values in
// nanoseconds on the batcher's monotonic clock, config durations in microseconds as in the
// model config.
//
// One decision, in order (the window W is what could be sent now):
//  1. Expiry. A request still queued with now_ns >= deadline_ns has expired. Under its level's
//     REJECT action it goes to `rejected` (fail it with RequestTimeoutExpired()); under DELAY it
//     goes to `delayed` and counts as standing behind its level's unexpired requests (and behind
//     those delayed before it), but ahead of less urgent levels; it does not expire again and
//     is batched, late, once nothing unexpired in its level stands before it. A rejected
//     request is never in a batch.
//  2. The window W: the longest prefix of service order (see request-queue.h: levels from most
//     urgent, FIFO within a level, delayed requests last in their level) whose requests share
//     the first one's shape_key and whose rows total at most max_batch_size. W stops at the
//     first request that does not fit; it never skips one to take a later, smaller one.
//  3. What to send: the longest prefix of W whose rows equal a preferred batch size, else all of W.
//  4. When, first rule that holds, recorded in `reason`:
//       kPreferredSize    a prefix of W totals a preferred size;
//       kLargestPreferred W totals more than the largest preferred size (so no preferred size
//                         can be reached by waiting);
//       kCannotGrow       W totals max_batch_size, or the next request in service order would
//                         exceed it or has another shape_key;
//       kQueueDelay       now_ns >= (oldest arrival in W) + max_queue_delay (so a delay of 0
//                         sends at once). The window is measured from that request's arrival,
//                         not from when the batcher first looked.
//     Otherwise nothing is sent and wake_at_ns is when the decision could next change by time
//     alone: the oldest arrival + max_queue_delay, or the earliest deadline still ahead.
//     (While nothing is sent, W holds every request left in the queue.)
#pragma once

#include <cstdint>
#include <vector>

#include "sluice/request-queue.h"
#include "sluice/status.h"

namespace sluice {

enum class TimeoutAction : uint8_t { kReject, kDelay };

// ModelQueuePolicy of one priority level.
struct QueuePolicy {
  TimeoutAction timeout_action = TimeoutAction::kReject;
  int64_t default_timeout_us = 0;  // time allowed in the queue; 0 = no timeout
  // Lets a request's own `timeout` parameter shorten (never lengthen) default_timeout_us; with no
  // default (0) the request's timeout applies as it is. Off: the request's timeout is ignored.
  bool allow_timeout_override = false;
  uint32_t max_queue_size = 0;  // requests (queued + delayed) in this level; 0 = unbounded
};

// ModelDynamicBatching plus max_batch_size. A model with no batch dimension is scheduled with
// max_batch_size 1 and 1 row per request.
struct BatchPolicyConfig {
  int64_t max_batch_size = 1;                  // rows, >= 1
  int64_t max_queue_delay_us = 0;              // >= 0; 0 = send as soon as a batch exists
  std::vector<int64_t> preferred_batch_sizes;  // rows, each in 1..max_batch_size, any order
  uint32_t priority_levels = 0;                // 0 = one level, request priorities ignored
  uint32_t default_priority_level = 0;         // 0 if priority_levels is 0, else 1..priority_levels
  // One policy per level: [0] is priority 1 (or the only level). The caller resolves the model
  // config's default_queue_policy and priority_queue_policy map into this vector.
  std::vector<QueuePolicy> queue_policies = {QueuePolicy()};
};

// Number of queue levels the config asks for: max(1, priority_levels).
uint32_t LevelCount(const BatchPolicyConfig& config);

// INVALID_ARGUMENT naming the first field out of range; OK otherwise. The functions below
// assume a config that passed.
Status ValidateBatchPolicyConfig(const BatchPolicyConfig& config);

// The queue the config describes (levels and their max_queue_size).
RequestQueue MakeRequestQueue(const BatchPolicyConfig& config);

// What the protocol layer knows about a request when it is enqueued.
struct RequestParams {
  int64_t rows = 1;         // dim 0 of the request's inputs
  uint64_t priority = 0;    // protocol `priority`: 0 = default level, 1 = most urgent
  int64_t timeout_us = 0;   // protocol `timeout` (microseconds in the queue); 0 = none
  uint64_t shape_key = 0;   // equal for requests that may share a batch
  void* payload = nullptr;  // the caller's, carried through untouched
};

// Checks `params` against the config and fills `out` with its level and deadline, arriving at
// now_ns. INVALID_ARGUMENT when rows is outside 1..max_batch_size, timeout_us is negative, or
// priority is over priority_levels (when priority_levels > 0; with 0, priority is ignored).
// Deadline: arrival + the level's default timeout, shortened by the request's timeout when the
// level allows override (a request timeout with no default applies as it is); none if neither.
Status MakeQueuedRequest(const BatchPolicyConfig& config, const RequestParams& params,
                         int64_t now_ns, QueuedRequest* out);

enum class SendReason : uint8_t {
  kNone,  // nothing sent: wait until wake_at_ns or a change to the queue
  kPreferredSize,
  kLargestPreferred,
  kCannotGrow,
  kQueueDelay,
};

// Sentinel wake_at_ns: nothing in the queue can change by time alone; wait for a push.
constexpr int64_t kWakeNever = kNoDeadline;

// The answer of one DecideBatch. Reuse one across calls: DecideBatch clears it and keeps its
// capacity, so a Reserve()d decision does not allocate.
struct BatchDecision {
  std::vector<RequestId> batch;     // to execute now, in service order; empty = wait
  int64_t batch_rows = 0;
  SendReason reason = SendReason::kNone;
  std::vector<RequestId> rejected;  // expired under REJECT: fail with RequestTimeoutExpired()
  std::vector<RequestId> delayed;   // expired under DELAY: queue.Delay() them, in this order
  // When to decide again if nothing is pushed or cancelled first: now_ns after a batch (take it,
  // then decide again at once), the next time-driven change while waiting, kWakeNever when empty.
  int64_t wake_at_ns = kWakeNever;

  void Reserve(size_t requests);
  void Clear();
};

// The decision described at the top of this file. FAILED_PRECONDITION when the queue's level
// count is not LevelCount(config). Cost: O(requests in the queue); it reads every request so
// that expired ones are answered when they expire, not when they reach the front.
Status DecideBatch(const RequestQueue& queue, const BatchPolicyConfig& config, int64_t now_ns,
                   BatchDecision* out);

// Applies `decision`, which DecideBatch made on `queue` with no mutation since: removes the
// rejected requests into *rejected, delays the delayed ones, removes the batch into *batch (in
// order). Both vectors are cleared first. An error (NOT_FOUND, FAILED_PRECONDITION) means the
// queue changed in between; what was removed before it is still handed back in the vectors, so
// no payload is lost.
Status ApplyBatchDecision(const BatchDecision& decision, RequestQueue* queue,
                          std::vector<QueuedRequest>* batch, std::vector<QueuedRequest>* rejected);

// UNAVAILABLE "Request timeout expired", the status a rejected request is failed with.
Status RequestTimeoutExpired();

}  // namespace sluice
