// Tensor byte layouts the batcher gathers and splits, with no knowledge of queues or threads.
//
// A tensor is raw little-endian bytes, row-major, described by a TensorRef. Fixed-size element
// types have `element_size` bytes per element; BYTES (element_size 0) uses the KServe raw form,
// each element a u32-LE length followed by that many bytes, so a batch of BYTES tensors is the
// plain concatenation of its requests' bytes and splits by walking the length prefixes.
//
// Batch dimension: when a model has one, dim 0 of every tensor is its row count ("rows") and the
// remaining dims (the "row shape") must agree for tensors to share a batch.
//
// Thread affinity: none; every function is pure over its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "sluice/status.h"

namespace sluice {

// A borrowed view of one tensor. The caller owns `data` and `dims` for as long as it hands the
// view to a function here (and, for Batcher::Enqueue, as documented there).
struct TensorRef {
  const uint8_t* data = nullptr;
  size_t byte_size = 0;
  const int64_t* dims = nullptr;
  size_t rank = 0;
};

// A byte buffer that keeps its capacity and does not zero what it grows into: gathers and output
// copies overwrite every byte. Not thread-safe; shared read-only once filled.
class ByteBlock {
 public:
  ByteBlock() = default;
  explicit ByteBlock(size_t size) { Resize(size); }
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  // Contents are unspecified after a resize past the capacity (nothing is preserved).
  void Resize(size_t size) {
    if (size > capacity_) {
      data_.reset(new uint8_t[size]);
      capacity_ = size;
    }
    size_ = size;
  }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Element size in bytes that marks a BYTES tensor.
constexpr uint32_t kBytesElement = 0;

// Elements in a tensor of `dims` (1 for rank 0). INVALID_ARGUMENT for a negative dim or a count
// past 2^53 (what a JS number holds exactly). `what` names the tensor in messages.
Status ElementCount(const int64_t* dims, size_t rank, std::string_view what, int64_t* count);

// Checks that `t` holds exactly the elements its shape says: byte_size == count * element_size,
// or for BYTES that `count` length-prefixed elements end exactly at byte_size. INVALID_ARGUMENT
// naming `what` otherwise. Cost: O(1), or O(elements) for BYTES.
Status CheckTensorBytes(const TensorRef& t, uint32_t element_size, std::string_view what);

// Bytes taken by the first `elements` elements of a tensor that passed CheckTensorBytes (for
// BYTES, walks that many prefixes from `data`).
size_t ElementBytes(const uint8_t* data, uint32_t element_size, int64_t elements);

// A 64-bit hash of `t`'s row shape (dims 1..rank-1, and the rank), folded into `seed`. Equal row
// shapes hash equally; requests whose inputs all hash equally may share a batch, and
// SameRowShape confirms it before a batch is gathered (a collision fails, never mixes shapes).
uint64_t HashRowShape(uint64_t seed, const int64_t* dims, size_t rank);
bool SameRowShape(const int64_t* a, size_t a_rank, const int64_t* b, size_t b_rank);

}  // namespace sluice
