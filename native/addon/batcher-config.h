// NativeBatcherConfig (src/native/binding.ts) -> sluice::BatcherConfig. Checks types here;
// ranges and consistency are checked by Batcher::Create. JS-thread only; throws JS errors with
// code INVALID_ARGUMENT. The environment variable SLUICE_BATCHER_SPIN_US (0 to 1000000) overrides
// the sources' spin budget (default kDefaultSpinNs); an unparsable value is ignored.
#pragma once

#include <napi.h>

#include "sluice/batcher.h"

namespace sluice::addon {

BatcherConfig ParseBatcherConfig(Napi::Env env, Napi::Value value);

}  // namespace sluice::addon
