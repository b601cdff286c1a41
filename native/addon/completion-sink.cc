#include "completion-sink.h"

#include <utility>

#include "js-convert.h"

namespace sluice::addon {
namespace {

// Property names used for every completion of one delivery, created once per delivery.
struct CompletionKeys {
  explicit CompletionKeys(Napi::Env env)
      : request_id(Napi::String::New(env, "requestId")),
        error(Napi::String::New(env, "error")),
        outputs(Napi::String::New(env, "outputs")),
        batch_size(Napi::String::New(env, "batchSize")),
        queue_ns(Napi::String::New(env, "queueNs")),
        input_ns(Napi::String::New(env, "computeInputNs")),
        infer_ns(Napi::String::New(env, "computeInferNs")),
        output_ns(Napi::String::New(env, "computeOutputNs")),
        data(Napi::String::New(env, "data")),
        shape(Napi::String::New(env, "shape")) {}
  Napi::String request_id, error, outputs, batch_size, queue_ns, input_ns, infer_ns, output_ns,
      data, shape;
};

}  // namespace

// --- JsCompletionSink -------------------------------------------------------------------------

void JsCompletionSink::Connect(napi_threadsafe_function tsfn) {
  std::lock_guard<std::mutex> lock(mu_);
  tsfn_ = tsfn;
}

void JsCompletionSink::Deliver(std::unique_ptr<CompletionBatch> batch) noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tsfn_ != nullptr &&
        napi_call_threadsafe_function(tsfn_, batch.get(), napi_tsfn_nonblocking) == napi_ok) {
      batch.release();  // CallJs owns it now
      return;
    }
  }
  pool_->Give(std::move(batch));  // the creating thread is gone: nobody left to tell
}

void JsCompletionSink::Ref(napi_env env, bool ref) {
  std::lock_guard<std::mutex> lock(mu_);
  if (tsfn_ == nullptr) return;
  if (ref) {
    napi_ref_threadsafe_function(env, tsfn_);
  } else {
    napi_unref_threadsafe_function(env, tsfn_);
  }
}

void JsCompletionSink::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  if (tsfn_ == nullptr) return;
  napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
  tsfn_ = nullptr;
}

void JsCompletionSink::Disconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  tsfn_ = nullptr;
}

napi_value CompletionsToJs(napi_env raw_env, const CompletionBatch& batch) {
  Napi::Env env(raw_env);
  const CompletionKeys keys(env);
  Napi::Array out = Napi::Array::New(env, batch.requests.size());
  Napi::ArrayBuffer block;
  if (batch.data != nullptr) {
    // One buffer per batch, shared by every request's views (STYLE.md item 4).
    block = BlockArrayBuffer(env, batch.data, batch.data->data(), batch.data->size(),
                             "an output buffer");
  }
  Napi::Value undefined = env.Undefined();
  for (size_t j = 0; j < batch.requests.size(); ++j) {
    const CompletedRequest& c = batch.requests[j];
    Napi::Object o = Napi::Object::New(env);
    o.Set(keys.request_id, Num(env, c.request_id));
    if (c.status.ok()) {
      o.Set(keys.error, undefined);
      Napi::Array outputs = Napi::Array::New(env, batch.output_count);
      for (size_t k = 0; k < batch.output_count; ++k) {
        const OutputSlice& slice = batch.outputs[c.outputs_begin + k];
        Napi::Object t = Napi::Object::New(env);
        t.Set(keys.data, Napi::Uint8Array::New(env, slice.byte_size, block, slice.offset));
        t.Set(keys.shape, ShapeToJs(env, batch.dims.data() + slice.dims_begin, slice.rank));
        outputs.Set(static_cast<uint32_t>(k), t);
      }
      o.Set(keys.outputs, outputs);
    } else {
      o.Set(keys.error, StatusObject(env, c.status));
      o.Set(keys.outputs, undefined);
    }
    o.Set(keys.batch_size, Num(env, c.batch_rows));
    o.Set(keys.queue_ns, Num(env, c.queue_ns));
    o.Set(keys.input_ns, Num(env, batch.timings.compute_input_ns));
    o.Set(keys.infer_ns, Num(env, batch.timings.compute_infer_ns));
    o.Set(keys.output_ns, Num(env, batch.timings.compute_output_ns));
    out.Set(static_cast<uint32_t>(j), o);
  }
  return out;
}

}  // namespace sluice::addon
