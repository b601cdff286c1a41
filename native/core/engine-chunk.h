// Row chunking: a batch whose intermediates outgrow the caches runs as consecutive chunks of
// rows, each through the same plan, so every op's working set stays cache-resident (unchunked, a
// transformer layer at 4,096 tokens ran 25% slower per token than at 1,024 on 2 MiB L2 / 32 MiB
// L3 cores: 659 vs 879 sequences of 128 per second). Sound only for a model whose every output row depends on the same input row alone:
// decided once at load from the ops (Op::RowWise) and from shapes inferred at two probe batch
// sizes.
#pragma once

#include <cstddef>

#include "engine-model.h"

namespace sluice::engine {

// Rows per chunk for `model`: the most rows whose arena fits `arena_budget_bytes`, at least 1;
// 0 when the model cannot run in chunks (an input whose axis 0 is not a dynamic batch, or a
// step that mixes rows: a per-tensor dynamic quantizer, a Softmax over axis 0, a reduction
// over the batch, ...) or when the budget is 0.
size_t ChunkRows(const Model& model, size_t arena_budget_bytes);

}  // namespace sluice::engine
