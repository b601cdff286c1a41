// The native engine behind the batcher: a BatchExecutor that runs each formed batch with
// Engine::Run. Batch inputs arrive in config order and outputs leave in config order; the model's
// own order may differ (a config may list tensors in any order), so both are mapped by name once.
//
// Thread safety: Execute may run on several executor threads at once (Engine::Run is); each
// thread's outputs live in storage of that thread until its next Execute, as batch-executor.h
// requires.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sluice/batch-executor.h"
#include "sluice/engine.h"
#include "sluice/status.h"

namespace sluice {

// INVALID_ARGUMENT when the config's input or output names are not exactly the engine's.
Status MakeEngineExecutor(std::shared_ptr<const Engine> engine,
                          const std::vector<std::string>& config_inputs,
                          const std::vector<std::string>& config_outputs,
                          std::shared_ptr<BatchExecutor>* out);

}  // namespace sluice
