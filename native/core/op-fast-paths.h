// Fast paths of the engine's data-parallel ops (private to native/core): float binaries whose
// operands are the full output or a tile repeated along it (same shape, row/bias broadcast,
// scalar), and Transposes that reduce to contiguous block copies or a batched 2-D transpose.
// Each returns false, touching nothing, when the case is not one it handles; the caller then runs
// the reference kernel. Results are bitwise those of the reference kernels (same float ops, one
// per element). Large tensors are split across `pool`.
#pragma once

#include <cstdint>
#include <vector>

#include "sluice/dtype.h"
#include "sluice/kernels/reference.h"
#include "sluice/thread-pool.h"

namespace sluice::engine {

// out = a OP b (Add, Sub, Mul, Div) for float operands broadcast to `out_shape`.
bool FastBinaryF32(kernels::BinaryOp op, const float* a, const Shape& a_shape, const float* b,
                   const Shape& b_shape, const Shape& out_shape, float* out, ThreadPool* pool);

// The same for any float operands: FastBinaryF32 where it applies, else the reference kernel.
Status BinaryF32(kernels::BinaryOp op, const float* a, const Shape& a_shape, const float* b,
                 const Shape& b_shape, const Shape& out_shape, float* out, ThreadPool* pool);

// Transpose of x (`shape`, elements of `elem` bytes) by `perm` (a valid permutation; empty =
// reverse) into out.
bool FastTranspose(size_t elem, const void* x, const Shape& shape, const std::vector<int64_t>& perm,
                   void* out, ThreadPool* pool);

}  // namespace sluice::engine
