// RequestQueue: the dynamic batcher's queue. Priority levels, FIFO within a level, a size bound
// per level, O(1) cancellation by id, and the DELAY timeout action (an expired request moves
// behind the unexpired ones of its level). It holds plain records and decides nothing: which
// requests expire, and which form a batch, is batch-policy.h's job.
//
// Service order — the order the batch policy reads and PopFront takes — is, for each level from
// 0 (most urgent) up: the level's queued requests in arrival order, then its delayed requests in
// the order they were delayed.
//
// Thread affinity: none. Every method must be called under the caller's lock (the batcher's
// mutex); const methods may run concurrently with each other only.
//
// Ownership: the queue copies QueuedRequest records in and out; `payload` is the caller's and is
// never dereferenced, so whoever takes a request out (Remove, PopFront) owns its payload again.
//
// Costs: Push, Remove, Delay and PopFront are amortised O(1) (PopFront adds O(levels)) and do not
// allocate once Reserve() has made room. Removal from the middle leaves a tombstone in its level's
// FIFO; a FIFO is compacted when its tombstones and consumed head outnumber its live requests
// (and a small constant), so its memory stays O(live) and each compaction is paid for by the
// removals that made it necessary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "sluice/status.h"

namespace sluice {

// Clock values are nanoseconds on the batcher's monotonic clock (any epoch).
constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

// One request as the batcher sees it. Plain data, copied in and out of the queue.
struct QueuedRequest {
  int64_t rows = 1;                  // batch rows (the request's dim 0), >= 1
  int64_t arrival_ns = 0;            // when it entered the queue; starts its delay window
  int64_t deadline_ns = kNoDeadline; // expired once now_ns >= deadline_ns; kNoDeadline = never
  uint64_t shape_key = 0;            // only requests with equal keys batch together
  uint32_t level = 0;                // priority level index, 0 = most urgent (protocol priority 1)
  void* payload = nullptr;           // the caller's; never dereferenced here
};

// Names one queued request: slot index (low 32 bits) and the slot's generation (high 32 bits),
// so an id goes stale, never ambiguous, once its request leaves the queue (until one slot has
// been reused 2^32 times). 0 is never a valid id.
using RequestId = uint64_t;
constexpr RequestId kNoRequestId = 0;

// Message of the UNAVAILABLE status a full level answers, as Triton words it.
constexpr const char* kQueueFullMessage = "Exceeds maximum queue size";

class RequestQueue {
 public:
  // One level per entry; each entry is that level's max_queue_size (0 = unbounded). An empty
  // vector means one unbounded level.
  explicit RequestQueue(std::vector<uint32_t> max_size_per_level);

  // Makes room for `requests` queued requests so that the steady state does not allocate.
  void Reserve(size_t requests);

  // Appends `request` to the back of its level. INVALID_ARGUMENT for a level out of range or
  // rows < 1; UNAVAILABLE kQueueFullMessage when the level already holds max_queue_size requests
  // (queued and delayed both count); RESOURCE_EXHAUSTED past 2^32 - 1 slots.
  Status Push(const QueuedRequest& request, RequestId* id);

  // Takes a queued or delayed request out, wherever it is (cancellation, rejection, batching).
  // NOT_FOUND if `id` is not in the queue (already taken, cancelled, or never issued).
  Status Remove(RequestId id, QueuedRequest* out);

  // DELAY timeout action: moves a queued request to the back of its level's delayed requests.
  // NOT_FOUND as Remove; FAILED_PRECONDITION if it is already delayed.
  Status Delay(RequestId id);

  // Takes the first request in service order; false when the queue is empty.
  bool PopFront(RequestId* id, QueuedRequest* out);

  // The request `id` names, or nullptr if it is not in the queue. Valid until the next mutation.
  const QueuedRequest* Find(RequestId id) const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint32_t levels() const { return static_cast<uint32_t>(levels_.size()); }
  size_t level_size(uint32_t level) const;  // queued + delayed; 0 for a level out of range

  // Reads the queue in service order. Invalidated by any mutation of the queue.
  //   for (auto c = queue.Begin(); !c.done(); c.Next()) use(c.id(), c.request());
  class Cursor {
   public:
    bool done() const { return level_ >= queue_->levels_.size(); }
    RequestId id() const;
    const QueuedRequest& request() const;
    uint32_t level() const { return level_; }
    bool delayed() const { return delayed_; }  // moved behind its level by Delay()
    void Next();

   private:
    friend class RequestQueue;
    explicit Cursor(const RequestQueue* queue);
    void Settle();  // moves forward to the next live entry, or to done()

    const RequestQueue* queue_;
    uint32_t level_ = 0;
    bool delayed_ = false;
    size_t pos_ = 0;
  };
  Cursor Begin() const { return Cursor(this); }

 private:
  enum class SlotState : uint8_t { kFree, kQueued, kDelayed };

  struct Slot {
    QueuedRequest request;
    uint32_t generation = 1;  // bumped when the slot is freed; never 0
    uint32_t next_free = 0;   // free-list link while kFree
    SlotState state = SlotState::kFree;
  };

  // ids[head..] in order, some of them stale (tombstones); ids[head] is live whenever live > 0.
  struct Fifo {
    std::vector<RequestId> ids;
    size_t head = 0;
    size_t live = 0;
  };

  struct Level {
    Fifo queued;
    Fifo delayed;
    uint32_t max_size = 0;  // 0 = unbounded
  };

  Slot* LiveSlot(RequestId id);
  const Slot* LiveSlot(RequestId id) const;
  bool Holds(RequestId id, SlotState state) const;  // id is live and in `state`
  Fifo& FifoOf(const Slot& slot);
  void Tidy(Fifo* fifo, SlotState state);  // restores the Fifo invariant after a removal

  std::vector<Slot> slots_;
  uint32_t free_head_;  // first free slot, or kNoSlot
  std::vector<Level> levels_;
  size_t size_ = 0;
};

}  // namespace sluice
