// Engine: the public face over LoadModel (engine-load.cc), the per-signature plan cache
// (engine-plan.h) and a pool of run arenas. Lock rules: plans_mu_ guards the plan cache only;
// states_mu_ guards the idle run states only; neither is held while kernels run.
#include "sluice/engine.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "engine-arena.h"
#include "engine-chunk.h"
#include "engine-model.h"
#include "engine-plan.h"
#include "op-util.h"

namespace sluice {

using engine::Location;
using engine::Plan;

namespace {

// A batch whose rows the threads split between them (EngineImpl::ChunkedBatch), as measured on
// 2 Zen 4 cores (1 MiB L2 each, 32 MiB L3) against splitting every op: 784->256->128->10 MLP
// (0.9 MiB of FP32 weights) +12-54% at 8 to 256 rows, FP32 and INT8; a transformer encoder layer
// (3 MiB) +45% (FP32) and +6% (INT8) at 8 sequences; 512->2048->2048->512 (25 MiB) +6-8% at 32
// and 256 rows but -21% (FP32) at 8, where each thread streaming all the weights for 4 rows
// costs more than it saves.
constexpr size_t kSplitWeightBytes = size_t{4} << 20;  // weights this small: split any batch
constexpr int64_t kSplitMinRows = 16;                  // else: at least this many rows per thread

// Plans kept per engine; past this, the cache is emptied (a client cycling through shapes must
// not grow memory without bound; plans in use stay alive through their shared_ptr).
constexpr size_t kMaxCachedPlans = 64;

// A row chunk's output has the chunk's `rows` on axis 0 (engine-chunk.h); else a bug, INTERNAL.
Status CheckChunkRows(const Shape& shape, size_t rows) {
  if (shape.empty() || shape[0] != static_cast<int64_t>(rows))
    return Internal("a row chunk's output " + engine::ShapeString(shape) + " lost its rows");
  return Status::Ok();
}

struct AlignedDelete {
  void operator()(uint8_t* p) const {
    ::operator delete(p, std::align_val_t(engine::kArenaAlignment));
  }
};

}  // namespace

namespace engine {

// Per-run mutable state, reused across runs: the arena and the argument vectors, so after
// warm-up the engine itself allocates nothing per run but the outputs (kernels may). One per
// concurrent Run.
struct RunState {
  std::unique_ptr<uint8_t, AlignedDelete> arena;
  size_t arena_bytes = 0;
  std::vector<const void*> data;  // per value
  std::vector<TensorView> chunk;  // the inputs' rows of the current chunk
  std::vector<engine::TensorRef> in;
  std::vector<engine::OutRef> out;
  std::vector<int64_t> plan_key;  // input-shape signature of the current run

  // Grows the arena to `bytes`; RESOURCE_EXHAUSTED (not an exception) when memory runs out,
  // since the size follows the client's shapes.
  Status Reserve(size_t bytes) {
    if (bytes <= arena_bytes) return Status::Ok();
    arena.reset(static_cast<uint8_t*>(
        ::operator new(bytes, std::align_val_t(kArenaAlignment), std::nothrow)));
    arena_bytes = arena != nullptr ? bytes : 0;
    if (arena == nullptr) {
      return Status(StatusCode::RESOURCE_EXHAUSTED,
                    "cannot allocate a " + std::to_string(bytes) + "-byte arena");
    }
    return Status::Ok();
  }
};

}  // namespace engine

using engine::RunState;

class EngineImpl {
 public:
  explicit EngineImpl(size_t threads) : pool_(threads) {}

  // The cached plan for the inputs' shapes, built on first sight. `key` is caller scratch.
  Status GetPlan(const std::vector<TensorView>& inputs, std::vector<int64_t>* key,
                 std::shared_ptr<const Plan>* out);
  // Runs the plan's steps; their kernels split work across `pool`.
  Status Execute(const Plan& plan, const std::vector<TensorView>& inputs, RunState* state,
                 ThreadPool* pool) const;
  // Batch rows when `inputs` run in row chunks (engine-chunk.h): when the batch has more rows
  // than a chunk, or when the threads split its rows (kSplitWeightBytes); 0 = run them whole.
  size_t ChunkedBatch(const std::vector<TensorView>& inputs) const;
  Status RunWhole(const std::vector<TensorView>& inputs, RunState* state,
                  std::vector<OwnedTensor>* outputs);
  Status RunChunks(const std::vector<TensorView>& inputs, size_t rows, RunState* state,
                   std::vector<OwnedTensor>* outputs);
  // Chunk `c` of `chunks` (rows [c * rows / chunks, (c + 1) * rows / chunks)), its output rows
  // copied into `outputs` (sized for all rows) at the chunk's offset.
  Status RunChunk(const std::vector<TensorView>& inputs, size_t rows, size_t chunks, size_t c,
                  RunState* state, ThreadPool* pool, std::vector<OwnedTensor>* outputs);
  std::unique_ptr<RunState> AcquireState();
  void ReleaseState(std::unique_ptr<RunState> state);

  engine::Model model_;
  size_t chunk_rows_ = 0;  // rows per chunk (engine-chunk.h); 0 = never chunk
  size_t weight_bytes_ = 0;  // the model's constants (weights, biases, tables)
  mutable ThreadPool pool_;
  // Runs every kernel on its caller: for row chunks that run side by side, one per thread.
  mutable ThreadPool serial_pool_{1};

 private:
  std::mutex plans_mu_;
  std::map<std::vector<int64_t>, std::shared_ptr<const Plan>> plans_;  // key: rank, dims, ...
  std::mutex states_mu_;
  std::vector<std::unique_ptr<RunState>> idle_states_;
};

Status EngineImpl::GetPlan(const std::vector<TensorView>& inputs, std::vector<int64_t>* key,
                           std::shared_ptr<const Plan>* out) {
  key->clear();
  for (const TensorView& t : inputs) {
    key->push_back(static_cast<int64_t>(t.shape.size()));
    key->insert(key->end(), t.shape.begin(), t.shape.end());
  }
  {
    std::lock_guard<std::mutex> lock(plans_mu_);
    auto it = plans_.find(*key);
    if (it != plans_.end()) {
      *out = it->second;
      return Status::Ok();
    }
  }
  // Built outside the lock: two threads may race to build the same plan; both are valid.
  std::vector<Shape> shapes;
  for (const TensorView& t : inputs) shapes.push_back(t.shape);
  auto plan = std::make_shared<Plan>();
  RETURN_IF_ERROR(engine::BuildPlan(model_, shapes, plan.get()));
  std::lock_guard<std::mutex> lock(plans_mu_);
  if (plans_.size() >= kMaxCachedPlans) plans_.clear();
  *out = plans_.emplace(*key, std::move(plan)).first->second;
  return Status::Ok();
}

std::unique_ptr<RunState> EngineImpl::AcquireState() {
  std::lock_guard<std::mutex> lock(states_mu_);
  if (idle_states_.empty()) return std::make_unique<RunState>();
  std::unique_ptr<RunState> state = std::move(idle_states_.back());
  idle_states_.pop_back();
  return state;
}

void EngineImpl::ReleaseState(std::unique_ptr<RunState> state) {
  std::lock_guard<std::mutex> lock(states_mu_);
  idle_states_.push_back(std::move(state));
}

Status EngineImpl::Execute(const Plan& plan, const std::vector<TensorView>& inputs,
                           RunState* state, ThreadPool* pool) const {
  RETURN_IF_ERROR(state->Reserve(plan.arena_bytes));
  uint8_t* arena = state->arena.get();
  const size_t n_values = model_.values.size();
  state->data.resize(n_values);
  for (size_t v = 0; v < n_values; ++v) {
    const Location& loc = plan.locations[v];
    switch (loc.kind) {
      case Location::Kind::kInput: state->data[v] = inputs[loc.at].data; break;
      case Location::Kind::kConstant: state->data[v] = model_.constants[loc.at].bytes.data(); break;
      case Location::Kind::kArena: state->data[v] = arena + loc.at; break;
    }
  }
  for (size_t s = 0; s < model_.steps.size(); ++s) {
    if (!plan.runs[s]) continue;
    const engine::Step& step = model_.steps[s];
    state->in.assign(step.inputs.size(), engine::TensorRef{});
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const int v = step.inputs[i];
      if (v >= 0) state->in[i] = {model_.values[v].dtype, &plan.shapes[v], state->data[v]};
    }
    state->out.resize(step.outputs.size());
    for (size_t i = 0; i < step.outputs.size(); ++i) {
      const int v = step.outputs[i];
      // Outputs are always arena values, so casting away const is writing our own arena.
      state->out[i] = {model_.values[v].dtype, &plan.shapes[v], const_cast<void*>(state->data[v])};
    }
    Status s_run = step.op->Run(state->in, state->out, {pool, arena + plan.scratch_offsets[s]});
    if (!s_run.ok()) return Status(s_run.code(), step.label + ": " + s_run.message());
  }
  return Status::Ok();
}

size_t EngineImpl::ChunkedBatch(const std::vector<TensorView>& inputs) const {
  if (chunk_rows_ == 0 || inputs.empty() || inputs[0].shape.empty()) return 0;
  const int64_t rows = inputs[0].shape[0];
  for (const TensorView& t : inputs) {
    if (t.shape.empty() || t.shape[0] != rows) return 0;  // Execute reports the mismatch
  }
  if (rows > static_cast<int64_t>(chunk_rows_)) return static_cast<size_t>(rows);
  // Rows split across the threads instead of every op: each thread then reads the weights whole,
  // cheap while they stay in cache or while each thread has enough rows to reuse them. At least
  // 2 rows each: a 1-row chunk would take the matrix-vector path.
  const int64_t threads = static_cast<int64_t>(pool_.size());
  const bool split = threads > 1 && rows >= 2 * threads &&
                     (weight_bytes_ <= kSplitWeightBytes || rows >= threads * kSplitMinRows);
  return split ? static_cast<size_t>(rows) : 0;
}

Status EngineImpl::RunWhole(const std::vector<TensorView>& inputs, RunState* state,
                            std::vector<OwnedTensor>* outputs) {
  std::shared_ptr<const Plan> plan;
  RETURN_IF_ERROR(GetPlan(inputs, &state->plan_key, &plan));
  RETURN_IF_ERROR(Execute(*plan, inputs, state, &pool_));
  outputs->resize(model_.output_values.size());
  for (size_t i = 0; i < model_.output_values.size(); ++i) {
    const int v = model_.output_values[i];
    OwnedTensor& o = (*outputs)[i];
    o.dtype = model_.values[v].dtype;
    o.shape = plan->shapes[v];
    const size_t bytes = static_cast<size_t>(engine::NumElements(o.shape)) * DTypeSize(o.dtype);
    const uint8_t* src = static_cast<const uint8_t*>(state->data[v]);
    o.bytes.assign(src, src + bytes);
  }
  return Status::Ok();
}

// Balanced chunks (rows spread evenly, so no tiny last chunk); every chunk size is a plan of its
// own, cached like any shape. With more than one thread the chunks run side by side, each on one
// thread with an arena of its own, in whole rounds of chunks per thread: each chunk's ops then
// read what the same core just wrote. Splitting every op across the threads instead moved the
// intermediates between cores: for a transformer encoder layer at 256 sequences of 32 tokens
// (chunks of 36-37), the head transposes and residual adds took 2-10x longer on 2 threads than
// on one, and the layer ran 1.48x faster than on one thread; as chunks side by side, 1.98x.
Status EngineImpl::RunChunks(const std::vector<TensorView>& inputs, size_t rows, RunState* state,
                             std::vector<OwnedTensor>* outputs) {
  const size_t threads = pool_.size();
  size_t chunks = (rows + chunk_rows_ - 1) / chunk_rows_;
  chunks = std::min(rows, std::max<size_t>(1, (chunks + threads - 1) / threads) * threads);
  // The outputs' shapes and row sizes from the first chunk's plan (every chunk's rows are alike:
  // engine-chunk.h), allocated for all rows before any chunk writes its part.
  state->chunk = inputs;
  const size_t first_rows = rows / chunks;
  for (TensorView& view : state->chunk) view.shape[0] = static_cast<int64_t>(first_rows);
  std::shared_ptr<const Plan> plan;
  RETURN_IF_ERROR(GetPlan(state->chunk, &state->plan_key, &plan));
  outputs->assign(model_.output_values.size(), OwnedTensor{});
  for (size_t i = 0; i < model_.output_values.size(); ++i) {
    const int v = model_.output_values[i];
    const Shape& shape = plan->shapes[v];
    RETURN_IF_ERROR(CheckChunkRows(shape, first_rows));
    OwnedTensor& o = (*outputs)[i];
    o.dtype = model_.values[v].dtype;
    o.shape = shape;
    o.shape[0] = static_cast<int64_t>(rows);
    o.bytes.resize(static_cast<size_t>(engine::NumElements(o.shape)) * DTypeSize(o.dtype));
  }
  if (threads == 1) {
    for (size_t c = 0; c < chunks; ++c)
      RETURN_IF_ERROR(RunChunk(inputs, rows, chunks, c, state, &pool_, outputs));
    return Status::Ok();
  }
  std::atomic<size_t> next{0};
  std::mutex failed_mu;
  Status failed = Status::Ok();
  pool_.ParallelFor(threads, [&](size_t part) {
    std::unique_ptr<RunState> own = part == 0 ? nullptr : AcquireState();
    RunState* st = part == 0 ? state : own.get();
    for (size_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      Status s = RunChunk(inputs, rows, chunks, c, st, &serial_pool_, outputs);
      if (!s.ok()) {
        next.store(chunks, std::memory_order_relaxed);  // the others stop after their chunk
        std::lock_guard<std::mutex> lock(failed_mu);
        if (failed.ok()) failed = std::move(s);
        break;
      }
    }
    if (own != nullptr) ReleaseState(std::move(own));
  });
  return failed;
}

Status EngineImpl::RunChunk(const std::vector<TensorView>& inputs, size_t rows, size_t chunks,
                            size_t c, RunState* state, ThreadPool* pool,
                            std::vector<OwnedTensor>* outputs) {
  const size_t begin = c * rows / chunks, n = (c + 1) * rows / chunks - begin;
  state->chunk = inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const size_t row_bytes = inputs[i].bytes / rows;
    TensorView& view = state->chunk[i];
    view.shape[0] = static_cast<int64_t>(n);
    view.data = static_cast<const uint8_t*>(inputs[i].data) + begin * row_bytes;
    view.bytes = n * row_bytes;
  }
  std::shared_ptr<const Plan> plan;
  RETURN_IF_ERROR(GetPlan(state->chunk, &state->plan_key, &plan));
  RETURN_IF_ERROR(Execute(*plan, state->chunk, state, pool));
  for (size_t i = 0; i < model_.output_values.size(); ++i) {
    const int v = model_.output_values[i];
    const Shape& shape = plan->shapes[v];
    RETURN_IF_ERROR(CheckChunkRows(shape, n));
    OwnedTensor& o = (*outputs)[i];
    const size_t row_bytes = o.bytes.size() / rows;
    if (static_cast<size_t>(engine::NumElements(shape)) * DTypeSize(o.dtype) != n * row_bytes) {
      return Internal("a row chunk's output " + engine::ShapeString(shape) +
                      " has rows of another size");
    }
    std::memcpy(o.bytes.data() + begin * row_bytes, state->data[v], n * row_bytes);
  }
  return Status::Ok();
}

Engine::Engine(std::unique_ptr<EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::vector<std::string> Engine::Unsupported(const Graph& graph) {
  Graph copy = graph;  // folding rewrites the graph
  std::vector<Status> problems;
  engine::ValueTypes types;
  engine::FoldOptions options;
  options.collect_all = true;
  engine::FoldAndCheck(&copy, options, &problems, &types);
  std::vector<std::string> reasons;
  for (const Status& s : problems) reasons.push_back(s.message());
  return reasons;
}

Status Engine::Load(Graph graph, const EngineOptions& options, std::unique_ptr<Engine>* out) {
  auto impl = std::make_unique<EngineImpl>(options.threads);
  RETURN_IF_ERROR(engine::LoadModel(std::move(graph), options, &impl->model_));
  impl->chunk_rows_ = engine::ChunkRows(impl->model_, options.row_chunk_bytes);
  for (const TensorData& c : impl->model_.constants) impl->weight_bytes_ += c.bytes.size();
  out->reset(new Engine(std::move(impl)));
  return Status::Ok();
}

const std::vector<ValueInfo>& Engine::inputs() const { return impl_->model_.inputs; }
const std::vector<ValueInfo>& Engine::outputs() const { return impl_->model_.outputs; }
size_t Engine::row_chunk() const { return impl_->chunk_rows_; }

namespace {

Status CheckInput(const ValueInfo& info, const TensorView& t) {
  const std::string what = "input '" + info.name + "'";
  if (t.dtype != info.dtype) {
    return InvalidArgument(what + ": dtype " + DTypeName(t.dtype) + ", expected " +
                           DTypeName(info.dtype));
  }
  if (t.shape.size() != info.dims.size()) {
    return InvalidArgument(what + ": shape " + engine::ShapeString(t.shape) + ", expected rank " +
                           std::to_string(info.dims.size()) + " " + engine::ShapeString(info.dims));
  }
  for (size_t d = 0; d < t.shape.size(); ++d) {
    if (info.dims[d] >= 0 && t.shape[d] != info.dims[d]) {
      return InvalidArgument(what + ": shape " + engine::ShapeString(t.shape) + ", expected " +
                             engine::ShapeString(info.dims));
    }
  }
  int64_t n = 0;
  const size_t elem = DTypeSize(t.dtype);
  if (!ElementCount(t.shape, elem, &n))
    return InvalidArgument(what + ": invalid shape " + engine::ShapeString(t.shape));
  if (t.bytes != static_cast<size_t>(n) * elem) {
    return InvalidArgument(what + ": " + std::to_string(t.bytes) + " bytes, expected " +
                           std::to_string(static_cast<size_t>(n) * elem));
  }
  if (t.data == nullptr && t.bytes != 0) return InvalidArgument(what + ": data is null");
  return Status::Ok();
}

}  // namespace

Status Engine::Run(const std::vector<TensorView>& inputs, std::vector<OwnedTensor>* outputs) const {
  const engine::Model& model = impl_->model_;
  if (inputs.size() != model.inputs.size()) {
    return InvalidArgument("expected " + std::to_string(model.inputs.size()) + " inputs, got " +
                           std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    RETURN_IF_ERROR(CheckInput(model.inputs[i], inputs[i]));
  std::unique_ptr<RunState> state = impl_->AcquireState();
  const size_t rows = impl_->ChunkedBatch(inputs);
  Status status = rows == 0 ? impl_->RunWhole(inputs, state.get(), outputs)
                            : impl_->RunChunks(inputs, rows, state.get(), outputs);
  impl_->ReleaseState(std::move(state));
  return status;
}

std::string Engine::Describe() const {
  const engine::Model& model = impl_->model_;
  auto value_name = [&](int v) { return v < 0 ? std::string("-") : model.values[v].name; };
  std::string text;
  for (size_t s = 0; s < model.steps.size(); ++s) {
    const engine::Step& step = model.steps[s];
    std::string line = std::to_string(s) + ": " + step.op_type;
    const std::string details = step.op->Details();
    if (!details.empty()) line += "[" + details + "]";
    line += " '" + step.name + "' (";
    for (size_t i = 0; i < step.inputs.size(); ++i)
      line += (i ? ", " : "") + value_name(step.inputs[i]);
    line += ") ->";
    for (int v : step.outputs) {
      line += " " + value_name(v) + ":" + DTypeName(model.values[v].dtype) +
              engine::ShapeString(model.values[v].dims);
    }
    text += line + "\n";
  }
  return text;
}

}  // namespace sluice
