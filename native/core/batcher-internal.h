// Records the Batcher keeps per request and per batch, shared by batcher.cc (queue side) and
// batcher-finish.cc (gather, split, completion). Not part of the public API.
//
// Both kinds live in pools of stable heap objects indexed by slot, reused through free lists,
// so a steady stream of requests allocates nothing. Their fields are guarded by the batcher's
// mutex, except that a Batch in kExecuting/kFinishing state and its Records belong to the source
// that took it: it reads them (and writes the batch's storage) without the lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/batcher.h"

namespace sluice {

constexpr int kIdSlotBits = 22;
constexpr uint64_t kIdSlotMask = (uint64_t{1} << kIdSlotBits) - 1;
constexpr uint32_t kMaxSlots = uint32_t{1} << kIdSlotBits;
constexpr uint32_t kMaxGeneration = (uint32_t{1} << 31) - 1;  // ids stay below 2^53

inline uint64_t MakeSlotId(uint32_t slot, uint32_t generation) {
  return (static_cast<uint64_t>(generation) << kIdSlotBits) | slot;
}
inline uint32_t SlotOfId(uint64_t id) { return static_cast<uint32_t>(id & kIdSlotMask); }
inline uint64_t GenerationOfId(uint64_t id) { return id >> kIdSlotBits; }
inline uint32_t NextGeneration(uint32_t g) { return g >= kMaxGeneration ? 1 : g + 1; }

struct Batcher::Record {
  enum State : int { kFree, kQueued, kExecuting };

  struct Input {
    const uint8_t* data = nullptr;  // the caller's, borrowed until completion
    size_t byte_size = 0;
    size_t dims_begin = 0;  // into `dims`
    size_t rank = 0;
  };

  uint64_t id() const { return MakeSlotId(slot, generation); }
  const int64_t* input_dims(size_t i) const { return dims.data() + inputs[i].dims_begin; }

  uint32_t slot = 0;
  uint32_t generation = 1;
  int state = kFree;
  RequestId queue_id = kNoRequestId;  // while kQueued
  uint64_t owner = 0;
  int64_t rows = 0;
  int64_t arrival_ns = 0;
  std::vector<Input> inputs;
  std::vector<int64_t> dims;  // every input's dims, back to back
};

struct Batcher::Batch {
  enum State : int { kFree, kExecuting, kFinishing };

  BatchId id() const { return MakeSlotId(slot, generation); }

  uint32_t slot = 0;
  uint32_t generation = 1;
  int state = kFree;
  std::vector<Record*> records;  // service order
  int64_t rows = 0;
  int64_t taken_ns = 0;
  int64_t gather_ns = 0;
  std::vector<std::shared_ptr<ByteBlock>> storage;  // one per input while executing
};

}  // namespace sluice
