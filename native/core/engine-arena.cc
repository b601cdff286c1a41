#include "engine-arena.h"

#include <algorithm>
#include <numeric>

namespace sluice::engine {
namespace {

size_t AlignUp(size_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

}  // namespace

ArenaLayout PlaceBuffers(const std::vector<BufferLifetime>& buffers) {
  ArenaLayout layout;
  layout.offsets.assign(buffers.size(), 0);
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });
  std::vector<size_t> placed;
  std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) byte ranges live alongside
  for (size_t i : order) {
    const BufferLifetime& b = buffers[i];
    if (b.bytes == 0) continue;
    busy.clear();
    for (size_t j : placed) {
      const BufferLifetime& o = buffers[j];
      if (o.first <= b.last && b.first <= o.last)
        busy.emplace_back(layout.offsets[j], layout.offsets[j] + o.bytes);
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + b.bytes <= begin) break;  // fits in the gap before this range
      offset = std::max(offset, AlignUp(end));
    }
    layout.offsets[i] = offset;
    layout.bytes = std::max(layout.bytes, offset + b.bytes);
    placed.push_back(i);
  }
  layout.bytes = AlignUp(layout.bytes);
  return layout;
}

}  // namespace sluice::engine
