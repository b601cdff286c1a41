// The engine's operator interface (private to native/core). An Op is built once per graph node at
// load time from the node's attributes (CreateOp); after that it is immutable and shared by all
// concurrent runs. The engine calls Infer to type and shape outputs (at load with the dynamic
// dims probed, and once per input-shape signature), and Run with buffers the planner placed.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "sluice/dtype.h"
#include "sluice/graph.h"
#include "sluice/status.h"
#include "sluice/thread-pool.h"

namespace sluice::engine {

// An op input. dtype kUndefined marks an omitted optional input. `data` is null during
// inference unless the value is a constant (ops that need a value at inference, such as
// Reshape's shape, require it to be constant); during Run it is always set for present inputs.
struct TensorRef {
  DType dtype = DType::kUndefined;
  const Shape* shape = nullptr;
  const void* data = nullptr;

  bool present() const { return dtype != DType::kUndefined; }
};

struct OutRef {
  DType dtype = DType::kUndefined;
  const Shape* shape = nullptr;
  void* data = nullptr;
};

struct TensorType {
  DType dtype = DType::kUndefined;
  Shape shape;
};

struct RunEnv {
  ThreadPool* pool = nullptr;  // never null; the engine's pool
  void* scratch = nullptr;     // ScratchBytes() bytes, 64-byte aligned, valid during this Run only
};

// How an op's output 0 may share memory with its input 0.
enum class Aliasing {
  kNone,
  kView,     // output 0 IS input 0's bytes (Reshape, Flatten, Identity): Run is never called
  kInPlace,  // Run tolerates out[0].data == in[0].data (same byte size)
};

class Op {
 public:
  virtual ~Op() = default;

  // Output dtypes and shapes; `out` arrives sized to the node's outputs. Errors: INVALID_ARGUMENT
  // for shape/attribute mismatches, UNIMPLEMENTED for valid ONNX the engine does not support.
  virtual Status Infer(const std::vector<TensorRef>& in, std::vector<TensorType>* out) const = 0;
  // Computes outputs; shapes are those Infer returned for these input shapes.
  virtual Status Run(const std::vector<TensorRef>& in, const std::vector<OutRef>& out,
                     const RunEnv& env) const = 0;

  // Called once at load, after Infer succeeded, with the data of constant inputs set (others
  // null): ops that multiply by constant weights prepare them here (linear-kernel.h). Load-time
  // only, on one thread; after it the op is immutable.
  virtual Status Prepare(const std::vector<TensorRef>& /*in*/) { return Status::Ok(); }

  virtual Aliasing aliasing() const { return Aliasing::kNone; }
  // Whether row r (index r along axis 0) of every output is computed from row r of the inputs
  // marked `batched` and from the other inputs whole, so that a batch may run in row chunks
  // (engine-chunk.h). The engine has already checked that batched inputs and outputs have the
  // batch as axis 0 and no other dim that follows it; this answers what shapes cannot show
  // (a Softmax over axis 0 keeps its shape but mixes rows). `in` has shapes, and data for
  // constants. Default: no.
  virtual bool RowWise(const std::vector<TensorRef>& /*in*/,
                       const std::vector<bool>& /*batched*/) const {
    return false;
  }
  // Temporary bytes Run needs for these (concrete) input shapes.
  virtual size_t ScratchBytes(const std::vector<TensorRef>& /*in*/) const { return 0; }
  // Op-specific details for Engine::Describe ("act=Relu", "perm=[0,2,1,3]"); may be empty.
  virtual std::string Details() const { return {}; }
};

// Builds the op for `node` (default domain, or kInternalDomain for fused ops). Unknown ops and
// unsupported attribute values are UNIMPLEMENTED; malformed attributes are INVALID_ARGUMENT.
// Messages do not name the node: callers prefix NodeLabel().
Status CreateOp(const Node& node, int64_t opset, std::unique_ptr<Op>* out);

// Domain of the engine's own fused ops (FusedLinear, QuantizedLinear). Refused in user graphs.
inline constexpr const char* kInternalDomain = "sluice.internal";

}  // namespace sluice::engine
