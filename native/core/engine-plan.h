// The execution plan for one input-shape signature: every value's shape and where its bytes
// live, with intermediates placed in one arena (engine-arena.h) by liveness. Views (Reshape,
// Flatten, Identity) share their input's bytes; unary ops write in place over an input whose
// last reader they are. Built once per signature and cached by the engine; immutable after.
#pragma once

#include <cstddef>
#include <vector>

#include "engine-model.h"

namespace sluice::engine {

struct Location {
  enum class Kind { kInput, kConstant, kArena };
  Kind kind = Kind::kArena;
  size_t at = 0;  // kInput: input index; kConstant: Model::constants index; kArena: byte offset
};

struct Plan {
  std::vector<Shape> shapes;            // per value id
  std::vector<Location> locations;      // per value id; a view has its source's location
  std::vector<bool> runs;               // per step: false for views (nothing to compute)
  std::vector<size_t> scratch_offsets;  // per step: arena offset of its scratch bytes
  size_t arena_bytes = 0;
  size_t intermediate_bytes = 0;  // sum of the arena buffers' sizes, i.e. the arena without reuse
};

// Infers shapes for `input_shapes` (already checked against the model's inputs) and lays out
// the arena. Shape errors name the step.
Status BuildPlan(const Model& model, const std::vector<Shape>& input_shapes, Plan* plan);

}  // namespace sluice::engine
