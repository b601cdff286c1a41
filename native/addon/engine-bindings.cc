#include "engine-bindings.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "batcher-registry.h"
#include "graph-convert.h"
#include "js-convert.h"
#include "sluice/batch-executor.h"
#include "sluice/engine-executor.h"
#include "sluice/engine.h"

namespace sluice::addon {
namespace {

constexpr napi_type_tag kEngineTag = {0x736c756963652d65ULL, 0x6e67696e652d3031ULL};

Napi::Array ValueInfosToJs(Napi::Env env, const std::vector<ValueInfo>& infos) {
  Napi::Array out = Napi::Array::New(env, infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", infos[i].name);
    o.Set("dtype", Num(env, static_cast<int64_t>(infos[i].dtype)));
    o.Set("dims", ShapeToJs(env, infos[i].dims.data(), infos[i].dims.size()));
    o.Freeze();
    out.Set(static_cast<uint32_t>(i), o);
  }
  out.Freeze();
  return out;
}

std::vector<std::string> NamesFromJs(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsArray()) ThrowInvalid(env, std::string(what) + " must be an array of names");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    if (!a.Get(i).IsString()) ThrowInvalid(env, std::string(what) + " must be an array of names");
    out[i] = a.Get(i).As<Napi::String>().Utf8Value();
  }
  return out;
}

// Settles a promise from a libuv worker thread's result.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      status_ = Run();
    } catch (const std::bad_alloc&) {
      status_ = Status(StatusCode::RESOURCE_EXHAUSTED, "out of memory");
    } catch (const std::exception& e) {
      status_ = Internal(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusError(env, status_).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  virtual Status Run() = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;

 private:
  Napi::Promise::Deferred deferred_;
  Status status_;
};

// One loaded engine, and the executor threads serving a batcher once attached.
class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<EngineWrap>::DefineClass(
        env, "NativeEngine",
        {
            InstanceAccessor<&EngineWrap::Inputs>("inputs", napi_enumerable),
            InstanceAccessor<&EngineWrap::Outputs>("outputs", napi_enumerable),
            InstanceAccessor<&EngineWrap::RowChunk>("rowChunk", napi_enumerable),
            InstanceMethod<&EngineWrap::Describe>("describe", napi_enumerable),
            InstanceMethod<&EngineWrap::Run>("run", napi_enumerable),
            InstanceMethod<&EngineWrap::Time>("time", napi_enumerable),
            InstanceMethod<&EngineWrap::Attach>("attach", napi_enumerable),
            InstanceMethod<&EngineWrap::Close>("close", napi_enumerable),
        });
  }

  explicit EngineWrap(const Napi::CallbackInfo& info) : ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw StatusError(env, StatusCode::FAILED_PRECONDITION, "NativeEngine is made by loadEngine()");
    }
    engine_ = *info[0].As<Napi::External<std::shared_ptr<const Engine>>>().Data();
    info.This().As<Napi::Object>().TypeTag(&kEngineTag);
  }

 private:
  const Engine& Checked(const Napi::CallbackInfo& info) {
    CheckTypeTag(info, kEngineTag, "NativeEngine");
    if (engine_ == nullptr) throw StatusError(info.Env(), StatusCode::FAILED_PRECONDITION, "the engine is closed");
    return *engine_;
  }

  Napi::Value Inputs(const Napi::CallbackInfo& info) {
    return Guarded(info.Env(), [&]() -> Napi::Value { return ValueInfosToJs(info.Env(), Checked(info).inputs()); });
  }
  Napi::Value Outputs(const Napi::CallbackInfo& info) {
    return Guarded(info.Env(), [&]() -> Napi::Value { return ValueInfosToJs(info.Env(), Checked(info).outputs()); });
  }
  Napi::Value RowChunk(const Napi::CallbackInfo& info) {
    return Guarded(info.Env(), [&]() -> Napi::Value {
      return Napi::Number::New(info.Env(), static_cast<double>(Checked(info).row_chunk()));
    });
  }
  Napi::Value Describe(const Napi::CallbackInfo& info) {
    return Guarded(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), Checked(info).Describe()); });
  }

  // run([{ dtype, shape, data }]) -> Promise<[{ dtype, shape, data: Uint8Array }]>. The input
  // buffers are referenced until the promise settles; the engine reads them in place.
  class RunWorker : public PromiseWorker {
   public:
    RunWorker(Napi::Env env, std::shared_ptr<const Engine> engine, int64_t iterations)
        : PromiseWorker(env, "sluice:engine.run"), engine_(std::move(engine)), iterations_(iterations) {}
    std::vector<TensorView> inputs;
    std::vector<Napi::ObjectReference> keep;

   private:
    Status Run() override {
      if (iterations_ == 0) return engine_->Run(inputs, &outputs_);
      const auto start = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < iterations_; ++i) RETURN_IF_ERROR(engine_->Run(inputs, &outputs_));
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
      ns_per_run_ = static_cast<double>(ns.count()) / static_cast<double>(iterations_);
      return Status::Ok();
    }
    Napi::Value Result(Napi::Env env) override {
      if (iterations_ > 0) return Napi::Number::New(env, ns_per_run_);
      Napi::Array out = Napi::Array::New(env, outputs_.size());
      for (size_t i = 0; i < outputs_.size(); ++i) {
        const OwnedTensor& t = outputs_[i];
        Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, t.bytes.size());
        if (!t.bytes.empty()) std::memcpy(buffer.Data(), t.bytes.data(), t.bytes.size());
        Napi::Object o = Napi::Object::New(env);
        o.Set("dtype", Num(env, static_cast<int64_t>(t.dtype)));
        o.Set("shape", ShapeToJs(env, t.shape.data(), t.shape.size()));
        o.Set("data", Napi::Uint8Array::New(env, t.bytes.size(), buffer, 0));
        out.Set(static_cast<uint32_t>(i), o);
      }
      return out;
    }
    std::shared_ptr<const Engine> engine_;
    const int64_t iterations_;
    double ns_per_run_ = 0;
    std::vector<OwnedTensor> outputs_;
  };

  Napi::Value Run(const Napi::CallbackInfo& info) { return StartRun(info, 0); }
  Napi::Value Time(const Napi::CallbackInfo& info) {
    const int64_t iterations = ToInteger(info.Env(), info[1], "time: iterations", 1, 1 << 30);
    return StartRun(info, iterations);
  }

  // run() (iterations 0) or time() (runs `iterations` times, resolves the nanoseconds per run).
  Napi::Value StartRun(const Napi::CallbackInfo& info, int64_t iterations) {
    Napi::Env env = info.Env();
    return Guarded(env, [&]() -> Napi::Value {
      Checked(info);
      if (!info[0].IsArray()) ThrowInvalid(env, "run: inputs must be an array");
      Napi::Array list = info[0].As<Napi::Array>();
      auto* worker = new RunWorker(env, engine_, iterations);
      std::unique_ptr<RunWorker> guard(worker);  // until queued
      for (uint32_t i = 0; i < list.Length(); ++i) {
        if (!list.Get(i).IsObject()) ThrowInvalid(env, "run: inputs[" + std::to_string(i) + "] must be an object");
        Napi::Object o = list.Get(i).As<Napi::Object>();
        TensorView view;
        view.dtype = static_cast<DType>(ToInteger(env, o.Get("dtype"), "run: inputs[].dtype", 0, 64));
        ReadShape(env, o.Get("shape"), FieldName{"inputs", i, "shape"}, &view.shape);
        const uint8_t* data = nullptr;
        ViewBytes(env, o.Get("data"), FieldName{"inputs", i, "data"}, &data, &view.bytes);
        view.data = data;
        worker->inputs.push_back(std::move(view));
        worker->keep.push_back(Napi::Persistent(o.Get("data").As<Napi::Object>()));
      }
      Napi::Promise promise = worker->Promise();
      guard.release()->Queue();
      return promise;
    });
  }

  // attach(batcherId, configInputs, configOutputs, threads): executor threads of this engine
  // serve that batcher until close().
  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guarded(env, [&]() -> Napi::Value {
      Checked(info);
      if (executors_ != nullptr) throw StatusError(env, StatusCode::FAILED_PRECONDITION, "attach: already attached");
      const int64_t id = ToInteger(env, info[0], "attach: batcherId", 1, 0xffffffffLL);
      const std::vector<std::string> inputs = NamesFromJs(env, info[1], "attach: configInputs");
      const std::vector<std::string> outputs = NamesFromJs(env, info[2], "attach: configOutputs");
      const int64_t threads = ToInteger(env, info[3], "attach: threads", 1, 256);
      std::shared_ptr<Batcher> batcher = FindBatcher(static_cast<uint32_t>(id));
      if (batcher == nullptr) {
        throw StatusError(env, StatusCode::NOT_FOUND, "attach: no batcher " + std::to_string(id));
      }
      std::shared_ptr<BatchExecutor> executor;
      ThrowIfError(env, MakeEngineExecutor(engine_, inputs, outputs, &executor));
      ThrowIfError(env, ExecutorThreads::Start(std::move(batcher), std::move(executor),
                                               static_cast<size_t>(threads), &executors_));
      return env.Undefined();
    });
  }

  // close() -> Promise<void>: closes the attached batcher, lets running batches finish, joins
  // the executor threads (off the JS thread) and releases the engine. Idempotent.
  class CloseWorker : public PromiseWorker {
   public:
    CloseWorker(Napi::Env env, std::unique_ptr<ExecutorThreads> executors, std::shared_ptr<const Engine> engine)
        : PromiseWorker(env, "sluice:engine.close"), executors_(std::move(executors)), engine_(std::move(engine)) {}

   private:
    Status Run() override {
      executors_.reset();
      engine_.reset();
      return Status::Ok();
    }
    Napi::Value Result(Napi::Env env) override { return env.Undefined(); }
    std::unique_ptr<ExecutorThreads> executors_;
    std::shared_ptr<const Engine> engine_;
  };

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guarded(env, [&]() -> Napi::Value {
      CheckTypeTag(info, kEngineTag, "NativeEngine");
      auto* worker = new CloseWorker(env, std::move(executors_), std::move(engine_));
      Napi::Promise promise = worker->Promise();
      worker->Queue();
      return promise;
    });
  }

  std::shared_ptr<const Engine> engine_;
  std::unique_ptr<ExecutorThreads> executors_;
};

class LoadWorker : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, Graph graph, EngineOptions options, Napi::FunctionReference* engine_class)
      : PromiseWorker(env, "sluice:engine.load"),
        graph_(std::move(graph)),
        options_(options),
        engine_class_(engine_class) {}

 private:
  Status Run() override {
    std::unique_ptr<Engine> engine;
    RETURN_IF_ERROR(Engine::Load(std::move(graph_), options_, &engine));
    engine_ = std::move(engine);
    return Status::Ok();
  }
  Napi::Value Result(Napi::Env env) override {
    return engine_class_->New({Napi::External<std::shared_ptr<const Engine>>::New(env, &engine_)});
  }
  Graph graph_;
  EngineOptions options_;
  Napi::FunctionReference* engine_class_;  // the addon instance's; outlives the worker
  std::shared_ptr<const Engine> engine_;
};

}  // namespace

EngineBindings::EngineBindings(Napi::Env env)
    : engine_class_(Napi::Persistent(EngineWrap::DefineClass(env))) {}

Napi::Value EngineBindings::Unsupported(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    const std::vector<std::string> reasons = Engine::Unsupported(GraphFromJs(env, info[0]));
    Napi::Array out = Napi::Array::New(env, reasons.size());
    for (size_t i = 0; i < reasons.size(); ++i) out.Set(static_cast<uint32_t>(i), reasons[i]);
    return out;
  });
}

Napi::Value EngineBindings::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    Graph graph = GraphFromJs(env, info[0]);
    EngineOptions options;
    if (info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (!o.Get("threads").IsUndefined()) {
        options.threads = static_cast<size_t>(ToInteger(env, o.Get("threads"), "loadEngine: threads", 0, 256));
      }
      if (!o.Get("optimize").IsUndefined()) options.optimize = o.Get("optimize").ToBoolean().Value();
      const Napi::Value dq = o.Get("dynamicQuantization");
      if (!dq.IsUndefined()) {
        const std::string mode = dq.IsString() ? dq.As<Napi::String>().Utf8Value() : "";
        if (mode != "per-tensor" && mode != "per-row") {
          ThrowInvalid(env, "loadEngine: dynamicQuantization must be 'per-tensor' or 'per-row'");
        }
        options.dynamic_quantization = mode == "per-row" ? DynamicQuantization::kPerRow
                                                         : DynamicQuantization::kPerTensor;
      }
    }
    auto* worker = new LoadWorker(env, std::move(graph), options, &engine_class_);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace sluice::addon
