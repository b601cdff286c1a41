#include "sluice/engine-executor.h"

#include <chrono>
#include <utility>

namespace sluice {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// For each name in `wanted`, its index in `have`; false (with a message) on any mismatch.
Status MapByName(const std::vector<std::string>& wanted, const std::vector<ValueInfo>& have,
                 const char* what, std::vector<size_t>* out) {
  if (wanted.size() != have.size()) {
    return InvalidArgument(std::string("the config has ") + std::to_string(wanted.size()) + " " +
                           what + "s, the model " + std::to_string(have.size()));
  }
  out->clear();
  for (const std::string& name : wanted) {
    size_t i = 0;
    while (i < have.size() && have[i].name != name) ++i;
    if (i == have.size()) {
      return InvalidArgument(std::string("config ") + what + " '" + name + "' is not a model " + what);
    }
    out->push_back(i);
  }
  return Status::Ok();
}

class EngineExecutor : public BatchExecutor {
 public:
  EngineExecutor(std::shared_ptr<const Engine> engine, std::vector<size_t> input_of_config,
                 std::vector<size_t> output_of_config)
      : engine_(std::move(engine)),
        input_of_config_(std::move(input_of_config)),
        output_of_config_(std::move(output_of_config)) {}

  Status Execute(const TakenBatch& batch, std::vector<TensorRef>* outputs,
                 BatchTimings* timings) override {
    // Per thread: the views handed back must outlive this call until the thread's next one.
    thread_local std::vector<TensorView> inputs;
    thread_local std::vector<OwnedTensor> results;
    const int64_t start = NowNs();
    const std::vector<ValueInfo>& model_inputs = engine_->inputs();
    if (batch.inputs.size() != input_of_config_.size()) {
      return Internal("the batch has " + std::to_string(batch.inputs.size()) + " inputs, the engine " +
                      std::to_string(input_of_config_.size()));
    }
    inputs.resize(model_inputs.size());
    for (size_t c = 0; c < batch.inputs.size(); ++c) {
      const BatchInput& in = batch.inputs[c];
      TensorView& view = inputs[input_of_config_[c]];
      view.dtype = model_inputs[input_of_config_[c]].dtype;
      view.shape = in.dims;
      view.data = in.data;
      view.bytes = in.byte_size;
    }
    const int64_t ran = NowNs();
    RETURN_IF_ERROR(engine_->Run(inputs, &results));
    const int64_t done = NowNs();
    outputs->clear();
    for (size_t model_index : output_of_config_) {
      const OwnedTensor& t = results[model_index];
      TensorRef ref;
      ref.data = t.bytes.data();
      ref.byte_size = t.bytes.size();
      ref.dims = t.shape.data();
      ref.rank = t.shape.size();
      outputs->push_back(ref);
    }
    timings->compute_input_ns = ran - start;
    timings->compute_infer_ns = done - ran;
    timings->compute_output_ns = NowNs() - done;
    return Status::Ok();
  }

 private:
  std::shared_ptr<const Engine> engine_;
  std::vector<size_t> input_of_config_;   // config input index -> engine input index
  std::vector<size_t> output_of_config_;  // config output index -> engine output index
};

}  // namespace

Status MakeEngineExecutor(std::shared_ptr<const Engine> engine,
                          const std::vector<std::string>& config_inputs,
                          const std::vector<std::string>& config_outputs,
                          std::shared_ptr<BatchExecutor>* out) {
  if (engine == nullptr) return InvalidArgument("no engine");
  std::vector<size_t> inputs, outputs;
  RETURN_IF_ERROR(MapByName(config_inputs, engine->inputs(), "input", &inputs));
  RETURN_IF_ERROR(MapByName(config_outputs, engine->outputs(), "output", &outputs));
  *out = std::make_shared<EngineExecutor>(std::move(engine), std::move(inputs), std::move(outputs));
  return Status::Ok();
}

}  // namespace sluice
