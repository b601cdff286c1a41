// NativeBatcherConfig (src/native/binding.ts) -> sluice::BatcherConfig. Checks types here;
// ranges and consistency are checked by Batcher::Create. JS-thread only; throws JS errors with
// code INVALID_ARGUMENT. The sources' spin budget is config.idleSpinUs when given (0 to 1000000),
// else the environment variable SLUICE_BATCHER_SPIN_US (same range; an unparsable value is
// ignored), else kDefaultSpinNs.
#pragma once

#include <napi.h>

#include "sluice/batcher.h"

namespace sluice::addon {

BatcherConfig ParseBatcherConfig(Napi::Env env, Napi::Value value);

}  // namespace sluice::addon
