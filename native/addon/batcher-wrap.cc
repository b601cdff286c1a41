#include "batcher-wrap.h"

#include <string>
#include <utility>

#include "batcher-registry.h"
#include "completion-sink.h"
#include "js-convert.h"

namespace sluice::addon {
namespace {

constexpr napi_type_tag kBatcherTag = {0x736c756963652d62ULL, 0x6174636865722d31ULL};

// The stage timings that counters() reports for the whole batcher and per batch size.
void SetComputeNs(Napi::Object o, int64_t input_ns, int64_t infer_ns, int64_t output_ns) {
  Napi::Env env = o.Env();
  o.Set("computeInputNs", Num(env, input_ns));
  o.Set("computeInferNs", Num(env, infer_ns));
  o.Set("computeOutputNs", Num(env, output_ns));
}

}  // namespace

// --- BatcherState -----------------------------------------------------------------------------

std::shared_ptr<BatcherState> BatcherState::Create(Napi::Env env, BatcherConfig config,
                                                   Napi::Function on_complete) {
  std::shared_ptr<BatcherState> state(new BatcherState());
  state->env_ = env;
  state->pool_ = std::make_shared<CompletionPool>();
  state->sink_ = std::make_shared<JsCompletionSink>(state->pool_);
  state->input_count_ = config.input_element_sizes.size();
  const std::string name = config.name;
  ThrowIfError(env,
               Batcher::Create(std::move(config), state->sink_, state->pool_, &state->batcher_));
  state->pins_ = Napi::Persistent(Napi::Array::New(env));

  auto* context = new std::shared_ptr<BatcherState>(state);
  napi_threadsafe_function tsfn = nullptr;
  const napi_status s = napi_create_threadsafe_function(
      env, on_complete, nullptr, Napi::String::New(env, "sluice.batcher:" + name), 0, 1, context,
      FinalizeTsfn, context, CallJs, &tsfn);
  if (s != napi_ok) {
    delete context;
    state->batcher_->Close();
    throw StatusError(env, StatusCode::INTERNAL,
                      "cannot create the completion callback of " + name);
  }
  state->sink_->Connect(tsfn);
  state->sink_->Ref(env, false);  // idle: keeps nothing alive until a request is outstanding
  state->id_ = RegisterBatcher(state->batcher_);
  return state;
}

void BatcherState::FinalizeTsfn(napi_env, void* data, void*) {
  auto* context = static_cast<std::shared_ptr<BatcherState>*>(data);
  (*context)->sink_->Disconnect();
  (*context)->released_ = true;
  delete context;  // may destroy the state (and its pins) if the wrap is gone too
}

void BatcherState::CallJs(napi_env env, napi_value callback, void* context, void* data) {
  std::unique_ptr<CompletionBatch> batch(static_cast<CompletionBatch*>(data));
  // No env: the TSFN is being torn down and `context` may already be freed. Drop the batch.
  if (env == nullptr || context == nullptr || batch == nullptr) return;
  BatcherState& self = **static_cast<std::shared_ptr<BatcherState>*>(context);
  napi_value completions = nullptr;
  napi_value error = nullptr;
  try {
    completions = CompletionsToJs(env, *batch);
  } catch (const Napi::Error& e) {
    error = e.Value();
  } catch (...) {
    napi_value message;
    napi_create_string_utf8(env, "cannot build the completions of a batch", NAPI_AUTO_LENGTH,
                            &message);
    napi_create_error(env, nullptr, message, &error);
  }
  // Inputs are released here, on this thread, whether or not the JS side could be built. No
  // exception may leave this function (Node-API calls it from the event loop).
  try {
    for (const CompletedRequest& c : batch->requests) self.Unpin(env, c.owner);
    const size_t delivered = batch->requests.size();
    self.pool_->Give(std::move(batch));
    self.Settle(env, delivered);
  } catch (...) {
  }
  if (completions != nullptr && callback != nullptr) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    // onComplete does not throw (VersionScheduler rethrows its sinks' errors from a microtask):
    // an exception left pending here is dropped by Node 20's default policy with a DEP0168
    // warning, not reported as uncaught.
    napi_call_function(env, undefined, callback, 1, &completions, nullptr);
  } else if (error != nullptr) {
    napi_throw(env, error);
  }
}

void BatcherState::Unpin(napi_env env, uint64_t owner) {
  napi_value pins = pins_.Value();
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t i = 0; i < input_count_; ++i) {
    napi_set_element(env, pins, static_cast<uint32_t>(owner * input_count_ + i), undefined);
  }
  free_owners_.push_back(static_cast<uint32_t>(owner));
}

void BatcherState::Settle(napi_env env, size_t delivered) {
  outstanding_ = delivered > outstanding_ ? 0 : outstanding_ - delivered;
  if (outstanding_ > 0) return;
  sink_->Ref(env, false);
  MaybeRelease();
}

void BatcherState::MaybeRelease() {
  if (released_ || outstanding_ > 0 || (!closed_ && wrap_alive_)) return;
  if (!closed_) {
    closed_ = true;
    batcher_->Close();  // nothing is queued: this only turns attached sources away
  }
  // Still registered: a worker attaching late gets a source that answers 'closed'. The
  // registry's weak entry lapses once the wrap, this state and every source are gone.
  released_ = true;
  sink_->Release();
}

Napi::Value BatcherState::Enqueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowInvalid(env, "enqueue: the request must be an object");
  Napi::Object request = info[0].As<Napi::Object>();
  Napi::Value inputs_value = request.Get("inputs");
  if (!inputs_value.IsArray()) ThrowInvalid(env, "enqueue: request.inputs must be an array");
  Napi::Array inputs = inputs_value.As<Napi::Array>();
  if (inputs.Length() != input_count_) {
    ThrowInvalid(env, "enqueue: expected " + std::to_string(input_count_) + " inputs, got " +
                          std::to_string(inputs.Length()));
  }
  EnqueueArgs args;
  args.rows = ToInteger(env, request.Get("rows"), "request.rows", 1, 0x7fffffff);
  Napi::Value priority = request.Get("priority");
  args.priority =
      priority.IsUndefined() ? 0 : ToInteger(env, priority, "request.priority", 0, 0xffffffffLL);
  Napi::Value timeout = request.Get("timeoutUs");
  args.timeout_us =
      timeout.IsUndefined() ? 0 : ToInteger(env, timeout, "request.timeoutUs", 0, kMaxSafeInteger);

  dims_.clear();
  ranks_.clear();
  refs_.resize(input_count_);
  views_.resize(input_count_);
  for (uint32_t i = 0; i < input_count_; ++i) {
    Napi::Value t = inputs.Get(i);
    if (!t.IsObject()) {
      ThrowInvalid(env, "request.inputs[" + std::to_string(i) + "] must be an object");
    }
    Napi::Value data = t.As<Napi::Object>().Get("data");
    ViewBytes(env, data, FieldName{"request.inputs", i, "data"}, &refs_[i].data,
              &refs_[i].byte_size);
    ranks_.push_back(ReadShape(env, t.As<Napi::Object>().Get("shape"),
                               FieldName{"request.inputs", i, "shape"}, &dims_));
    views_[i] = data;
  }
  size_t offset = 0;  // dims_ is complete: point the refs into it
  for (size_t i = 0; i < input_count_; ++i) {
    refs_[i].dims = dims_.data() + offset;
    refs_[i].rank = ranks_[i];
    offset += ranks_[i];
  }

  uint32_t owner;
  if (!free_owners_.empty()) {
    owner = free_owners_.back();
    free_owners_.pop_back();
  } else {
    owner = owners_++;
  }
  Napi::Array pins = pins_.Value();
  for (size_t i = 0; i < input_count_; ++i) {
    pins.Set(static_cast<uint32_t>(owner * input_count_ + i), views_[i]);
  }
  args.inputs = refs_.data();
  args.input_count = input_count_;
  args.owner = owner;
  uint64_t id = 0;
  const Status s = batcher_->Enqueue(args, &id);
  if (!s.ok()) {
    // Returned, not thrown: under overload thousands of requests a second are refused here
    // (queue full), and a thrown Error cost ~17 us more per refusal than an accepted enqueue.
    Unpin(env, owner);
    return StatusObject(env, s);
  }
  if (outstanding_++ == 0) sink_->Ref(env, true);  // a pending request keeps the loop alive
  return Num(env, id);
}

Napi::Value BatcherState::Cancel(const Napi::CallbackInfo& info) {
  const int64_t id = ToInteger(info.Env(), info[0], "requestId", 0, kMaxSafeInteger);
  return Napi::Boolean::New(info.Env(), batcher_->Cancel(static_cast<uint64_t>(id)));
}

Napi::Value BatcherState::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const BatcherCounters c = batcher_->Counters();
  Napi::Object o = Napi::Object::New(env);
  o.Set("queued", Num(env, c.queued));
  o.Set("executing", Num(env, c.executing));
  o.Set("requestsSucceeded", Num(env, c.requests_succeeded));
  o.Set("requestsFailed", Num(env, c.requests_failed));
  o.Set("inferenceCount", Num(env, c.inference_count));
  o.Set("executionCount", Num(env, c.execution_count));
  o.Set("queueNs", Num(env, c.queue_ns));
  SetComputeNs(o, c.compute_input_ns, c.compute_infer_ns, c.compute_output_ns);
  Napi::Array stats = Napi::Array::New(env, c.batch_stats.size());
  for (size_t i = 0; i < c.batch_stats.size(); ++i) {
    const BatchSizeStats& b = c.batch_stats[i];
    Napi::Object s = Napi::Object::New(env);
    s.Set("batchSize", Num(env, b.batch_size));
    s.Set("count", Num(env, b.count));
    SetComputeNs(s, b.compute_input_ns, b.compute_infer_ns, b.compute_output_ns);
    stats.Set(static_cast<uint32_t>(i), s);
  }
  o.Set("batchStats", stats);
  return o;
}

void BatcherState::Close() {
  if (!closed_) {
    closed_ = true;
    batcher_->Close();  // queued requests fail through the TSFN; they are outstanding until then
  }
  MaybeRelease();
}

void BatcherState::WrapCollected() {
  wrap_alive_ = false;
  MaybeRelease();
}

void BatcherState::Teardown() {
  closed_ = true;
  batcher_->Close();
  UnregisterBatcher(id_);
  released_ = true;
  sink_->Release();
}

// --- BatcherWrap ------------------------------------------------------------------------------

Napi::Function BatcherWrap::DefineClass(Napi::Env env) {
  return ObjectWrap<BatcherWrap>::DefineClass(
      env, "NativeBatcher",
      {
          InstanceMethod<&BatcherWrap::Enqueue>("enqueue"),
          InstanceMethod<&BatcherWrap::Cancel>("cancel"),
          InstanceMethod<&BatcherWrap::Counters>("counters"),
          InstanceMethod<&BatcherWrap::Close>("close"),
      });
}

BatcherWrap::BatcherWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BatcherWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw StatusError(env, StatusCode::FAILED_PRECONDITION,
                      "use createBatcher() to make a batcher");
  }
  state_ = *info[0].As<Napi::External<std::shared_ptr<BatcherState>>>().Data();
  Napi::Object self = info.This().As<Napi::Object>();
  self.TypeTag(&kBatcherTag);
  self.DefineProperty(Napi::PropertyDescriptor::Value(
      "id", Napi::Number::New(env, state_->id()), napi_enumerable));
}

BatcherWrap::~BatcherWrap() {
  if (state_ != nullptr) state_->WrapCollected();
}

BatcherState& BatcherWrap::State(const Napi::CallbackInfo& info) {
  CheckTypeTag(info, kBatcherTag, "NativeBatcher");
  return *state_;
}

Napi::Value BatcherWrap::Enqueue(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] { return State(info).Enqueue(info); });
}

Napi::Value BatcherWrap::Cancel(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] { return State(info).Cancel(info); });
}

Napi::Value BatcherWrap::Counters(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&] { return State(info).Counters(info); });
}

Napi::Value BatcherWrap::Close(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    State(info).Close();
    return info.Env().Undefined();
  });
}

}  // namespace sluice::addon
