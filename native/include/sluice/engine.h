// The native CPU inference engine: loads a Graph (validated, constants folded, fused), then runs
// it. Shapes are resolved per distinct input-shape signature; the resulting plan (every tensor's
// shape and its offset in one arena) is cached, and each concurrent Run borrows an arena that is
// reused across runs, so after warm-up a Run allocates only its outputs.
//
// Thread safety: after Load, every const member and Run may be called from any number of threads
// at once. One Run uses the engine's ThreadPool, which takes one job at a time: its kernels split
// their work across it, or, for a batch of independent rows, its threads each run whole chunks of
// rows (Engine::Run).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/dtype.h"
#include "sluice/graph.h"
#include "sluice/status.h"

namespace sluice {

// How fused dynamically quantized linear layers (ONNX Runtime's quantize_dynamic pattern:
// DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul) quantize their activations.
//   kPerTensor: ONNX semantics: one scale and zero point from the min/max of the WHOLE input
//     tensor. Under dynamic batching that range spans every request in the batch, so a
//     request's result depends on what it was batched with.
//   kPerRow: each row (each token / sample) gets its own scale and zero point: a request's
//     result no longer depends on its batch neighbours, and precision is usually better, but
//     results differ from ONNX Runtime's (and from the unfused graph) within quantization error.
// Only fused layers are affected: with optimize=false, or where the pattern does not fuse, the
// graph's own DynamicQuantizeLinear runs per tensor.
enum class DynamicQuantization { kPerTensor, kPerRow };

struct EngineOptions {
  size_t threads = 0;    // kernel parallelism including the calling thread; 0 = hardware
  bool optimize = true;  // fusion passes (constant folding always runs: shapes depend on it)
  DynamicQuantization dynamic_quantization = DynamicQuantization::kPerTensor;
  // Arena bytes a batch may take before it runs as row chunks that each fit (models whose rows
  // are independent only); with more than one thread, the chunks run side by side, and a batch
  // of such a model may also be split into one chunk per thread (Engine::Run). Results are the
  // same as run whole, except that an FP32 matrix product may round differently (~1e-6) where a
  // chunk's row count picks another kernel path or blocking. 0 = always run a batch whole. The
  // default (measured on 2 MiB L2 / 32 MiB L3 Zen 4 cores) made transformer layers at 8,192
  // tokens (64 x 128, 256 x 32) 10-40% faster per token, INT8 and FP32, 1 and 2 threads.
  size_t row_chunk_bytes = size_t{8} << 20;
};

// A caller-owned input; `data` must stay valid for the duration of Run.
struct TensorView {
  DType dtype = DType::kUndefined;
  Shape shape;
  const void* data = nullptr;
  size_t bytes = 0;  // must equal ElementCount(shape) * DTypeSize(dtype)
};

// An output, owned by the caller after Run.
struct OwnedTensor {
  DType dtype = DType::kUndefined;
  Shape shape;
  std::vector<uint8_t> bytes;  // dense row-major, little-endian
};

class EngineImpl;

class Engine {
 public:
  // Reasons the engine cannot run `graph`, one per problem, each naming the node or tensor
  // ("unsupported op LSTM", "node 'add' (Add): input dtype string not supported",
  // "opset 7 < 13 minimum"); empty = Load would succeed. For `backend: auto` fallback.
  static std::vector<std::string> Unsupported(const Graph& graph);

  // Validates, folds constants, optimizes (options.optimize) and plans `graph`. A malformed or
  // unsupported graph is INVALID_ARGUMENT / UNIMPLEMENTED naming the first problem.
  static Status Load(Graph graph, const EngineOptions& options, std::unique_ptr<Engine>* out);

  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Graph inputs (initializers excluded) and outputs, in graph order. Output dims are inferred:
  // -1 where they follow a dynamic input dim.
  const std::vector<ValueInfo>& inputs() const;
  const std::vector<ValueInfo>& outputs() const;
  // Rows per chunk when a batch of more rows runs in row chunks (EngineOptions::row_chunk_bytes);
  // 0 = this model always runs a batch whole (its rows are not independent, or nothing grows).
  size_t row_chunk() const;

  // Runs the graph on `inputs` (in inputs() order; count, dtype, rank, fixed dims and byte sizes
  // are checked) and replaces *outputs with one tensor per output, in outputs() order. A batch of
  // independent rows (row_chunk() > 0) runs in row chunks when it outgrows a chunk, and with more
  // than one thread also when the threads can split it: at least 2 rows per thread, and either
  // weights of at most 4 MiB or at least 16 rows per thread. Each chunk then runs on one thread.
  // Otherwise the batch runs whole, its kernels split across the threads.
  Status Run(const std::vector<TensorView>& inputs, std::vector<OwnedTensor>* outputs) const;

  // The optimized plan, one line per step: op (with fused parts), inputs -> outputs and their
  // inferred shapes ("?" = dynamic). For `sluice inspect`.
  std::string Describe() const;

 private:
  explicit Engine(std::unique_ptr<EngineImpl> impl);
  std::unique_ptr<EngineImpl> impl_;
};

}  // namespace sluice
