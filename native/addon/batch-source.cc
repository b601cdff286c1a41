#include "batch-source.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "js-convert.h"

namespace sluice::addon {
namespace {

constexpr napi_type_tag kSourceTag = {0x736c756963652d73ULL, 0x6f757263652d3031ULL};
constexpr int64_t kNsPerMs = 1'000'000;

// True once this thread's environment is stopping (worker.terminate(), process exit): Node-API
// then refuses calls that could run JS, which is what this probe makes.
bool EnvStopping(napi_env env, napi_value object) {
  bool has = false;
  return napi_has_named_property(env, object, "next", &has) != napi_ok;
}

BatchTimings ReadTimings(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) ThrowInvalid(env, "complete(): timings must be an object");
  Napi::Object t = value.As<Napi::Object>();
  BatchTimings timings;
  const auto ns = [&](const char* key, const char* what) {
    return static_cast<int64_t>(ToNonNegative(env, t.Get(key), what));
  };
  timings.compute_input_ns = ns("computeInputNs", "timings.computeInputNs");
  timings.compute_infer_ns = ns("computeInferNs", "timings.computeInferNs");
  timings.compute_output_ns = ns("computeOutputNs", "timings.computeOutputNs");
  return timings;
}

}  // namespace

// --- SourceState ------------------------------------------------------------------------------

SourceState::~SourceState() { Shutdown("the batch source was destroyed"); }

Napi::Value SourceState::Next(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t deadline = kNoDeadline;
  const bool forever = info[0].IsNumber() && std::isinf(info[0].As<Napi::Number>().DoubleValue()) &&
                       info[0].As<Napi::Number>().DoubleValue() > 0;
  if (!forever) {
    const double ms = ToNonNegative(env, info[0], "next(): timeoutMs");
    const double ns = ms * static_cast<double>(kNsPerMs);
    if (ns < 9e18) deadline = MonotonicNowNs() + static_cast<int64_t>(ns);
  }
  if (batcher_ == nullptr) return Napi::String::New(env, "closed");
  for (;;) {
    const int64_t now = MonotonicNowNs();
    const int64_t slice = std::max<int64_t>(0, std::min(deadline - now, kNextSliceMs * kNsPerMs));
    NextResult result;
    ThrowIfError(env, batcher_->Next(slice, &result, &taken_));
    if (result == NextResult::kBatch) return BatchToJs(env);
    if (result == NextResult::kClosed) return Napi::String::New(env, "closed");
    if (MonotonicNowNs() >= deadline || EnvStopping(env, info.This())) return env.Null();
  }
}

Napi::Value SourceState::BatchToJs(Napi::Env env) {
  try {
    held_.emplace_back();
    held_.back().id = taken_.id;
    Napi::Object batch = Napi::Object::New(env);
    batch.Set("id", Napi::Number::New(env, static_cast<double>(taken_.id)));
    batch.Set("rows", Napi::Number::New(env, static_cast<double>(taken_.rows)));
    batch.Set("requests", Napi::Number::New(env, static_cast<double>(taken_.requests)));
    Napi::Array inputs = Napi::Array::New(env, taken_.inputs.size());
    for (size_t i = 0; i < taken_.inputs.size(); ++i) {
      const BatchInput& in = taken_.inputs[i];
      Napi::ArrayBuffer ab = BlockArrayBuffer(env, in.storage, in.data, in.byte_size,
                                              "an input buffer");
      held_.back().views.push_back(Napi::Persistent(ab));
      Napi::Object t = Napi::Object::New(env);
      t.Set("data", Napi::Uint8Array::New(env, in.byte_size, ab, 0));
      t.Set("shape", ShapeToJs(env, in.dims.data(), in.dims.size()));
      inputs.Set(static_cast<uint32_t>(i), t);
    }
    batch.Set("inputs", inputs);
    return batch;
  } catch (...) {
    // The batch was taken: fail it rather than leave its requests waiting.
    (void)batcher_->Fail(taken_.id,
                         Internal("cannot hand the batch to JS: " + CurrentExceptionMessage()));
    Release(env, taken_.id);
    throw;
  }
}

Napi::Value SourceState::Complete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto id = static_cast<BatchId>(ToInteger(env, info[0], "complete(): batchId", 0, kMaxSafeInteger));
  BatchTimings timings;
  outputs_.clear();
  dims_.clear();
  ranks_.clear();
  try {
    if (!info[1].IsArray()) ThrowInvalid(env, "complete(): outputs must be an array");
    Napi::Array outputs = info[1].As<Napi::Array>();
    outputs_.resize(outputs.Length());
    for (uint32_t k = 0; k < outputs.Length(); ++k) {
      Napi::Value t = outputs.Get(k);
      if (!t.IsObject()) {
        ThrowInvalid(env, "complete(): outputs[" + std::to_string(k) + "] must be an object");
      }
      ViewBytes(env, t.As<Napi::Object>().Get("data"), FieldName{"outputs", k, "data"},
                &outputs_[k].data, &outputs_[k].byte_size);
      ranks_.push_back(ReadShape(env, t.As<Napi::Object>().Get("shape"),
                                 FieldName{"outputs", k, "shape"}, &dims_));
    }
    timings = ReadTimings(env, info[2]);
  } catch (...) {
    // complete() finishes the batch either way: malformed outputs fail its requests.
    if (batcher_ != nullptr) {
      (void)batcher_->Fail(id, Internal("the batch source's outputs are malformed: " +
                                        CurrentExceptionMessage()));
    }
    Release(env, id);
    throw;
  }
  size_t offset = 0;
  for (size_t k = 0; k < outputs_.size(); ++k) {
    outputs_[k].dims = dims_.data() + offset;
    outputs_[k].rank = ranks_[k];
    offset += ranks_[k];
  }
  const Status s = batcher_ == nullptr
                       ? Unavailable("the batch source is closed")
                       : batcher_->Complete(id, outputs_.data(), outputs_.size(), timings);
  Release(env, id);  // after Complete: the outputs may be views of the inputs (an echo)
  ThrowIfError(env, s);
  return env.Undefined();
}

Napi::Value SourceState::Fail(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto id = static_cast<BatchId>(ToInteger(env, info[0], "fail(): batchId", 0, kMaxSafeInteger));
  const std::string name = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  std::string message = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  StatusCode code;
  if (!StatusCodeFromName(name, &code) || code == StatusCode::OK) {
    message = "batch failed with code '" + name + "': " + message;
    code = StatusCode::UNKNOWN;
  }
  const Status s = batcher_ == nullptr ? Unavailable("the batch source is closed")
                                       : batcher_->Fail(id, Status(code, std::move(message)));
  Release(env, id);
  ThrowIfError(env, s);
  return env.Undefined();
}

void SourceState::Release(Napi::Env env, BatchId id) {
  auto it = std::find_if(held_.begin(), held_.end(), [&](const Held& h) { return h.id == id; });
  if (it == held_.end()) return;
  for (Napi::Reference<Napi::ArrayBuffer>& view : it->views) {
    napi_detach_arraybuffer(env, view.Value());  // a failure leaves a view on live storage
  }
  if (it != held_.end() - 1) *it = std::move(held_.back());
  held_.pop_back();
}

void SourceState::Shutdown(const char* why) {
  if (batcher_ == nullptr) return;
  for (const Held& h : held_) (void)batcher_->Fail(h.id, Unavailable(why));
  held_.clear();
  batcher_.reset();
}

// --- BatchSourceWrap --------------------------------------------------------------------------

Napi::Function BatchSourceWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<BatchSourceWrap>::DefineClass(
      env, "NativeBatchSource",
      {
          InstanceMethod<&BatchSourceWrap::Next>("next"),
          InstanceMethod<&BatchSourceWrap::Complete>("complete"),
          InstanceMethod<&BatchSourceWrap::Fail>("fail"),
      });
}

BatchSourceWrap::BatchSourceWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<BatchSourceWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw StatusError(info.Env(), StatusCode::FAILED_PRECONDITION,
                      "use attachBatchSource() to make a batch source");
  }
  state_ = *info[0].As<Napi::External<std::shared_ptr<SourceState>>>().Data();
  info.This().As<Napi::Object>().TypeTag(&kSourceTag);
}

BatchSourceWrap::~BatchSourceWrap() {
  if (state_ != nullptr) {
    state_->Shutdown("the batch source was garbage-collected while holding a batch");
  }
}

SourceState& BatchSourceWrap::State(const Napi::CallbackInfo& info) {
  CheckTypeTag(info, kSourceTag, "NativeBatchSource");
  return *state_;
}

Napi::Value BatchSourceWrap::Next(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] { return State(info).Next(info); });
}

Napi::Value BatchSourceWrap::Complete(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] { return State(info).Complete(info); });
}

Napi::Value BatchSourceWrap::Fail(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] { return State(info).Fail(info); });
}

}  // namespace sluice::addon
