#include "sluice/request-queue.h"

#include <algorithm>
#include <string>
#include <utility>

namespace sluice {
namespace {

constexpr uint32_t kNoSlot = std::numeric_limits<uint32_t>::max();

// A FIFO is compacted once it holds more dead entries than this plus its live count.
constexpr size_t kCompactSlack = 32;

uint32_t SlotOf(RequestId id) { return static_cast<uint32_t>(id); }
uint32_t GenerationOf(RequestId id) { return static_cast<uint32_t>(id >> 32); }
RequestId MakeId(uint32_t slot, uint32_t generation) {
  return (static_cast<RequestId>(generation) << 32) | slot;
}

}  // namespace

RequestQueue::RequestQueue(std::vector<uint32_t> max_size_per_level) : free_head_(kNoSlot) {
  if (max_size_per_level.empty()) max_size_per_level.push_back(0);
  levels_.resize(max_size_per_level.size());
  for (size_t i = 0; i < levels_.size(); ++i) levels_[i].max_size = max_size_per_level[i];
}

void RequestQueue::Reserve(size_t requests) {
  slots_.reserve(requests);
  for (Level& level : levels_) {
    const size_t cap = level.max_size == 0 ? requests : std::min<size_t>(level.max_size, requests);
    // Live entries plus at most as many dead ones and the slack, before a compaction.
    level.queued.ids.reserve(2 * cap + kCompactSlack + 1);
    level.delayed.ids.reserve(2 * cap + kCompactSlack + 1);
  }
}

Status RequestQueue::Push(const QueuedRequest& request, RequestId* id) {
  if (request.level >= levels_.size()) {
    return InvalidArgument("priority level index " + std::to_string(request.level) +
                           " is out of range (the queue has " + std::to_string(levels_.size()) +
                           " levels)");
  }
  if (request.rows < 1) {
    return InvalidArgument("a queued request needs at least 1 row, got " +
                           std::to_string(request.rows));
  }
  Level& level = levels_[request.level];
  if (level.max_size != 0 && level.queued.live + level.delayed.live >= level.max_size) {
    return Unavailable(kQueueFullMessage);
  }
  uint32_t slot = free_head_;
  if (slot != kNoSlot) {
    free_head_ = slots_[slot].next_free;
  } else {
    if (slots_.size() >= kNoSlot) {
      return Status(StatusCode::RESOURCE_EXHAUSTED, "request queue is out of slots");
    }
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.request = request;
  s.state = SlotState::kQueued;
  *id = MakeId(slot, s.generation);
  level.queued.ids.push_back(*id);
  ++level.queued.live;
  ++size_;
  return Status::Ok();
}

Status RequestQueue::Remove(RequestId id, QueuedRequest* out) {
  Slot* s = LiveSlot(id);
  if (s == nullptr) return NotFound("request " + std::to_string(id) + " is not in the queue");
  const SlotState state = s->state;
  Fifo& fifo = FifoOf(*s);
  *out = s->request;
  s->state = SlotState::kFree;
  s->generation = s->generation == std::numeric_limits<uint32_t>::max() ? 1 : s->generation + 1;
  s->next_free = free_head_;
  free_head_ = SlotOf(id);
  --fifo.live;
  --size_;
  Tidy(&fifo, state);
  return Status::Ok();
}

Status RequestQueue::Delay(RequestId id) {
  Slot* s = LiveSlot(id);
  if (s == nullptr) return NotFound("request " + std::to_string(id) + " is not in the queue");
  if (s->state == SlotState::kDelayed) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "request " + std::to_string(id) + " is already delayed");
  }
  Level& level = levels_[s->request.level];
  s->state = SlotState::kDelayed;  // its entry in `queued` is now a tombstone
  --level.queued.live;
  Tidy(&level.queued, SlotState::kQueued);
  level.delayed.ids.push_back(id);
  ++level.delayed.live;
  return Status::Ok();
}

bool RequestQueue::PopFront(RequestId* id, QueuedRequest* out) {
  for (Level& level : levels_) {
    for (Fifo* fifo : {&level.queued, &level.delayed}) {
      if (fifo->live == 0) continue;
      *id = fifo->ids[fifo->head];
      return Remove(*id, out).ok();  // always OK: a non-empty FIFO's head is live
    }
  }
  return false;
}

const QueuedRequest* RequestQueue::Find(RequestId id) const {
  const Slot* s = LiveSlot(id);
  return s == nullptr ? nullptr : &s->request;
}

size_t RequestQueue::level_size(uint32_t level) const {
  if (level >= levels_.size()) return 0;
  return levels_[level].queued.live + levels_[level].delayed.live;
}

RequestQueue::Slot* RequestQueue::LiveSlot(RequestId id) {
  return const_cast<Slot*>(std::as_const(*this).LiveSlot(id));
}

const RequestQueue::Slot* RequestQueue::LiveSlot(RequestId id) const {
  const uint32_t slot = SlotOf(id);
  if (slot >= slots_.size()) return nullptr;
  const Slot& s = slots_[slot];
  if (s.state == SlotState::kFree || s.generation != GenerationOf(id)) return nullptr;
  return &s;
}

bool RequestQueue::Holds(RequestId id, SlotState state) const {
  const Slot* s = LiveSlot(id);
  return s != nullptr && s->state == state;
}

RequestQueue::Fifo& RequestQueue::FifoOf(const Slot& slot) {
  Level& level = levels_[slot.request.level];
  return slot.state == SlotState::kDelayed ? level.delayed : level.queued;
}

void RequestQueue::Tidy(Fifo* fifo, SlotState state) {
  std::vector<RequestId>& ids = fifo->ids;
  while (ids.size() > fifo->head && !Holds(ids.back(), state)) ids.pop_back();
  while (fifo->head < ids.size() && !Holds(ids[fifo->head], state)) ++fifo->head;
  if (fifo->head >= ids.size()) {
    ids.clear();
    fifo->head = 0;
    return;
  }
  if (ids.size() - fifo->live <= fifo->live + kCompactSlack) return;
  // Keep the live entries in order, in place; capacity stays, so this never allocates.
  const auto end = std::remove_if(ids.begin() + static_cast<std::ptrdiff_t>(fifo->head), ids.end(),
                                  [&](RequestId id) { return !Holds(id, state); });
  ids.erase(std::move(ids.begin() + static_cast<std::ptrdiff_t>(fifo->head), end, ids.begin()),
            ids.end());
  fifo->head = 0;
}

RequestQueue::Cursor::Cursor(const RequestQueue* queue) : queue_(queue) { Settle(); }

RequestId RequestQueue::Cursor::id() const {
  const Level& level = queue_->levels_[level_];
  return (delayed_ ? level.delayed : level.queued).ids[pos_];
}

const QueuedRequest& RequestQueue::Cursor::request() const {
  return queue_->slots_[SlotOf(id())].request;
}

void RequestQueue::Cursor::Next() {
  ++pos_;
  Settle();
}

void RequestQueue::Cursor::Settle() {
  while (level_ < queue_->levels_.size()) {
    const Level& level = queue_->levels_[level_];
    const Fifo& fifo = delayed_ ? level.delayed : level.queued;
    const SlotState state = delayed_ ? SlotState::kDelayed : SlotState::kQueued;
    if (pos_ < fifo.head) pos_ = fifo.head;
    while (pos_ < fifo.ids.size() && !queue_->Holds(fifo.ids[pos_], state)) ++pos_;
    if (pos_ < fifo.ids.size()) return;
    pos_ = 0;
    if (!delayed_) {
      delayed_ = true;
    } else {
      delayed_ = false;
      ++level_;
    }
  }
}

}  // namespace sluice
