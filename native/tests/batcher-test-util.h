// Shared by batcher-test.cc and batcher-stress-test.cc: requests whose bytes the test owns, a
// fake completion sink that records every completion, and an echo executor.
#pragma once

#include "sluice/batcher.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sluice/batch-executor.h"
#include "test-harness.h"

namespace batcher_test {

using sluice::Batcher;
using sluice::BatcherConfig;
using sluice::BatchTimings;
using sluice::CompletionBatch;
using sluice::CompletionPool;
using sluice::EnqueueArgs;
using sluice::NextResult;
using sluice::Status;
using sluice::StatusCode;
using sluice::TakenBatch;
using sluice::TensorRef;

using Clock = std::chrono::steady_clock;

inline int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// A request's inputs, owned by the test until its completion arrives. Input 0 is INT32-sized
// [rows, width], input 1 (when present) BYTES [rows, 2].
struct Request {
  int64_t rows = 1;
  std::vector<std::vector<int64_t>> dims;
  std::vector<std::vector<uint8_t>> data;
  std::vector<TensorRef> refs;

  void Refresh() {
    refs.resize(data.size());
    for (size_t i = 0; i < data.size(); ++i) {
      refs[i] = TensorRef{data[i].data(), data[i].size(), dims[i].data(), dims[i].size()};
    }
  }
};

inline void AppendBytesElement(std::vector<uint8_t>* out, const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(n >> (8 * i)));
  out->insert(out->end(), s.begin(), s.end());
}

inline Request MakeRequest(int64_t rows, int64_t width, bool with_bytes, std::mt19937* rng) {
  Request r;
  r.rows = rows;
  r.dims.push_back({rows, width});
  r.data.emplace_back(static_cast<size_t>(rows * width * 4));
  for (uint8_t& b : r.data[0]) b = static_cast<uint8_t>((*rng)());
  if (with_bytes) {
    r.dims.push_back({rows, 2});
    r.data.emplace_back();
    for (int64_t e = 0; e < rows * 2; ++e) {
      std::string s((*rng)() % 9, 'a');
      for (char& c : s) c = static_cast<char>('a' + (*rng)() % 26);
      AppendBytesElement(&r.data[1], s);
    }
  }
  r.Refresh();
  return r;
}

// What the fake sink saw for one request.
struct Seen {
  int times = 0;
  StatusCode code = StatusCode::OK;
  std::string message;
  int64_t batch_rows = 0;
  std::vector<std::vector<uint8_t>> outputs;
  std::vector<std::vector<int64_t>> output_dims;
};

class FakeSink : public sluice::CompletionSink {
 public:
  explicit FakeSink(std::shared_ptr<CompletionPool> pool) : pool_(std::move(pool)) {}

  void Deliver(std::unique_ptr<CompletionBatch> batch) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    ++deliveries_;
    batch_sizes_.push_back(batch->requests.size());
    for (const auto& c : batch->requests) {
      Seen& s = seen_[c.owner];
      ++s.times;
      s.code = c.status.code();
      s.message = c.status.message();
      s.batch_rows = c.batch_rows;
      if (c.status.ok()) {
        for (size_t k = 0; k < batch->output_count; ++k) {
          const auto& slice = batch->outputs[c.outputs_begin + k];
          const uint8_t* p = batch->data->data() + slice.offset;
          s.outputs.emplace_back(p, p + slice.byte_size);
          const int64_t* d = batch->dims.data() + slice.dims_begin;
          s.output_dims.emplace_back(d, d + slice.rank);
        }
      }
    }
    completed_ += batch->requests.size();
    cv_.notify_all();
    pool_->Give(std::move(batch));
  }

  // Waits until `n` requests have completed in all; false after 10 s.
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return completed_ >= n; });
  }
  Seen Get(uint64_t owner) {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_[owner];
  }
  size_t completed() {
    std::lock_guard<std::mutex> lock(mu_);
    return completed_;
  }
  size_t deliveries() {
    std::lock_guard<std::mutex> lock(mu_);
    return deliveries_;
  }
  std::vector<size_t> batch_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_sizes_;
  }
  std::map<uint64_t, Seen> all() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  std::shared_ptr<CompletionPool> pool_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Seen> seen_;
  size_t completed_ = 0;
  size_t deliveries_ = 0;
  std::vector<size_t> batch_sizes_;
};

inline BatcherConfig Config(int64_t max_batch, bool with_bytes) {
  BatcherConfig c;
  c.name = "m:1";
  c.policy.max_batch_size = max_batch;
  c.input_names = {"x"};
  c.input_element_sizes = {4};
  c.output_names = {"y"};
  c.output_element_sizes = {4};
  if (with_bytes) {
    c.input_names.push_back("s");
    c.input_element_sizes.push_back(0);
    c.output_names.push_back("t");
    c.output_element_sizes.push_back(0);
  }
  c.reserve_requests = 16;
  return c;
}

struct Fixture {
  std::shared_ptr<CompletionPool> pool = std::make_shared<CompletionPool>();
  std::shared_ptr<FakeSink> sink = std::make_shared<FakeSink>(pool);
  std::shared_ptr<Batcher> batcher;

  explicit Fixture(BatcherConfig config) {
    const Status s = Batcher::Create(std::move(config), sink, pool, &batcher);
    if (!s.ok()) std::fprintf(stderr, "Create: %s\n", s.ToString().c_str());
  }

  Status Enqueue(Request* r, uint64_t owner, uint64_t priority = 0, int64_t timeout_us = 0,
                 uint64_t* id = nullptr) {
    EnqueueArgs a;
    a.inputs = r->refs.data();
    a.input_count = r->refs.size();
    a.rows = r->rows;
    a.priority = priority;
    a.timeout_us = timeout_us;
    a.owner = owner;
    uint64_t ignored;
    return batcher->Enqueue(a, id != nullptr ? id : &ignored);
  }
};

// Hands a batch's inputs back as its outputs (input k -> output k): every request must then get
// exactly its own bytes back.
inline Status EchoComplete(Batcher* b, const TakenBatch& batch, BatchTimings timings = {}) {
  std::vector<TensorRef> outs;
  for (const auto& in : batch.inputs) {
    outs.push_back(TensorRef{in.data, in.byte_size, in.dims.data(), in.dims.size()});
  }
  return b->Complete(batch.id, outs.data(), outs.size(), timings);
}

class EchoExecutor : public sluice::BatchExecutor {
 public:
  std::atomic<int> max_rows{0};
  std::atomic<int> fail_every{0};  // fail every n-th batch (0 = never)
  std::atomic<int> batches{0};

  Status Execute(const TakenBatch& batch, std::vector<TensorRef>* outputs,
                 BatchTimings* timings) override {
    const int n = ++batches;
    int m = max_rows.load();
    while (batch.rows > m && !max_rows.compare_exchange_weak(m, static_cast<int>(batch.rows))) {
    }
    if (fail_every > 0 && n % fail_every == 0) return sluice::Internal("injected failure");
    for (const auto& in : batch.inputs) {
      outputs->push_back(TensorRef{in.data, in.byte_size, in.dims.data(), in.dims.size()});
    }
    timings->compute_infer_ns = 1000;
    return Status::Ok();
  }
};

}  // namespace batcher_test
