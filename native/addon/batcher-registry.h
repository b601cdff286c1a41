// Process-wide registry of native batchers, so that a worker thread (another Node environment)
// can attach to a batcher created on the main thread by its numeric id. Holds weak references:
// a batcher lives as long as its creator's wrap or an attached source holds it.
// Thread-safe (one mutex, held only for the map operation).
#pragma once

#include <cstdint>
#include <memory>

#include "sluice/batcher.h"

namespace sluice::addon {

// Registers `batcher` under a new id (1, 2, ...; never reused in the process).
uint32_t RegisterBatcher(const std::shared_ptr<Batcher>& batcher);
// The batcher registered as `id`, or null when it was never registered, was unregistered, or
// is gone.
std::shared_ptr<Batcher> FindBatcher(uint32_t id);
void UnregisterBatcher(uint32_t id);

}  // namespace sluice::addon
