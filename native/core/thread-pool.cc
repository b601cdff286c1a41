#include "sluice/thread-pool.h"

#include <chrono>

#include "sluice/thread-priority.h"

namespace sluice {
namespace {
// How long an idle worker keeps polling for the next job before it sleeps. Layers of one batch
// follow each other within microseconds; a condition-variable wake-up costs ~30 us here.
constexpr auto kSpin = std::chrono::microseconds(100);
}  // namespace

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) {
    const unsigned hw = std::thread::hardware_concurrency();
    threads = hw == 0 ? 1 : hw;
  }
  workers_.reserve(threads - 1);
  for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Drain(TaskFn fn, const void* ctx, size_t n) {
  // A worker that snapshot an already finished job (n == 0) must not claim: next_ may already
  // count the following job's indices, and a claim it does not run would never be done.
  if (n == 0) return;
  for (;;) {
    const size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n) return;
    fn(ctx, i);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::Run(size_t n, TaskFn fn, const void* ctx) {
  std::lock_guard<std::mutex> submit(submit_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    nice_ = ThreadNice();
    next_.store(0, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  Drain(fn, ctx, n);
  while (done_.load(std::memory_order_acquire) < n) std::this_thread::yield();
  {
    // A worker waking late takes an empty job, never this one's (ctx dies when we return).
    std::lock_guard<std::mutex> lock(mu_);
    n_ = 0;
  }
  // Workers still inside Drain() make one more claim; next_ must not be reset under them.
  while (busy_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  TaskFn fn = nullptr;
  const void* ctx = nullptr;
  size_t n = 0;
  int nice = 0;
  for (;;) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpin;
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spin_until) {
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
      if (stop_) return;
      seen = generation_.load(std::memory_order_acquire);
      fn = fn_;
      ctx = ctx_;
      n = n_;
      nice = nice_;
      busy_.fetch_add(1, std::memory_order_acq_rel);
    }
    RaiseThreadNiceTo(nice);  // as favoured as the caller, never more (thread-priority.h)
    Drain(fn, ctx, n);
    busy_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace sluice
