// Offset assignment for the run-time arena: every intermediate buffer gets a byte offset in
// one block so that buffers alive at the same time never overlap, and buffers whose lifetimes
// are disjoint reuse the same bytes. A pure function, tested on its own (engine-plan-test.cc).
#pragma once

#include <cstddef>
#include <vector>

namespace sluice::engine {

inline constexpr size_t kArenaAlignment = 64;  // bytes; a cache line, and AVX-512 loads

struct BufferLifetime {
  size_t bytes = 0;
  size_t first = 0;  // step that writes it
  size_t last = 0;   // last step that reads it (inclusive; >= first)
};

struct ArenaLayout {
  std::vector<size_t> offsets;  // one per buffer, multiples of kArenaAlignment
  size_t bytes = 0;             // arena size
};

// Greedy by size: the largest buffers are placed first, each at the lowest aligned offset that
// does not overlap a placed buffer with an intersecting lifetime. O(n^2) for n buffers.
ArenaLayout PlaceBuffers(const std::vector<BufferLifetime>& buffers);

}  // namespace sluice::engine
