// JS compact graph (src/native/binding.ts NativeGraph, made by src/onnx/graph-import.ts) -> the
// engine's Graph. Everything is copied (initializer bytes included), so the result outlives the
// JS objects and can move to another thread. Throws INVALID_ARGUMENT naming the bad field.
// JS-thread only.
#pragma once

#include <napi.h>

#include "sluice/graph.h"

namespace sluice::addon {

Graph GraphFromJs(Napi::Env env, Napi::Value value);

}  // namespace sluice::addon
