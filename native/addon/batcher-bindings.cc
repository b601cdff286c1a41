#include "batcher-bindings.h"

#include <algorithm>
#include <string>

#include "batch-source.h"
#include "batcher-config.h"
#include "batcher-registry.h"
#include "batcher-wrap.h"
#include "js-convert.h"

namespace sluice::addon {
namespace {

template <typename T>
void DropExpired(std::vector<std::weak_ptr<T>>* list) {
  list->erase(std::remove_if(list->begin(), list->end(),
                             [](const std::weak_ptr<T>& p) { return p.expired(); }),
              list->end());
}

}  // namespace

BatcherBindings::BatcherBindings(Napi::Env env)
    : batcher_class_(Napi::Persistent(BatcherWrap::DefineClass(env))),
      source_class_(Napi::Persistent(BatchSourceWrap::DefineClass(env))) {
  // Registered at module load, after Node-API's own hook for this environment, so it runs
  // before the environment (and the wraps' finalizers) go away. The addon instance that owns
  // this object lives until that same teardown, so the hook is never removed.
  env.AddCleanupHook(OnTeardown, this);
}

Napi::Value BatcherBindings::CreateBatcher(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    BatcherConfig config = ParseBatcherConfig(env, info[0]);
    if (!info[1].IsFunction()) ThrowInvalid(env, "createBatcher: onComplete must be a function");
    std::shared_ptr<BatcherState> state =
        BatcherState::Create(env, std::move(config), info[1].As<Napi::Function>());
    DropExpired(&batchers_);
    batchers_.push_back(state);
    return batcher_class_.New({Napi::External<std::shared_ptr<BatcherState>>::New(env, &state)});
  });
}

Napi::Value BatcherBindings::AttachBatchSource(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    const int64_t id = ToInteger(env, info[0], "attachBatchSource: id", 1, 0xffffffffLL);
    std::shared_ptr<Batcher> batcher = FindBatcher(static_cast<uint32_t>(id));
    if (batcher == nullptr) {
      throw StatusError(env, StatusCode::NOT_FOUND,
                        "attachBatchSource: no batcher " + std::to_string(id) +
                            " (never created, or released after its environment exited)");
    }
    auto state = std::make_shared<SourceState>(std::move(batcher));
    DropExpired(&sources_);
    sources_.push_back(state);
    return source_class_.New({Napi::External<std::shared_ptr<SourceState>>::New(env, &state)});
  });
}

void BatcherBindings::OnTeardown(BatcherBindings* self) {
  for (const auto& weak : self->sources_) {
    if (auto source = weak.lock()) source->Shutdown("the thread that held the batch exited");
  }
  for (const auto& weak : self->batchers_) {
    if (auto batcher = weak.lock()) batcher->Teardown();
  }
  self->sources_.clear();
  self->batchers_.clear();
}

}  // namespace sluice::addon
