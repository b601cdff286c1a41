// A fixed pool of compute threads for kernels: ParallelFor(n, fn) runs fn(i) for every i in
// [0, n) across the pool and the calling thread, and returns when all are done.
//
// Thread affinity: any thread may call ParallelFor; calls are serialised (one job at a time), so
// two executor threads sharing an engine take turns rather than oversubscribing the cores.
// Workers spin briefly after a job (back-to-back layers of one batch start without a wake-up),
// then sleep on a condition variable, so an idle pool costs no CPU.
// Contract: fn must not throw (kernels report errors through Status before or after the loop).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice {

class ThreadPool {
 public:
  // `threads` is the total parallelism including the caller; 0 means one per hardware thread.
  // A pool of 1 starts no thread and runs everything on the caller.
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size() + 1; }

  template <typename Fn>
  void ParallelFor(size_t n, const Fn& fn) {
    if (n == 0) return;
    if (n == 1 || workers_.empty()) {
      for (size_t i = 0; i < n; ++i) fn(i);
      return;
    }
    Run(n, [](const void* ctx, size_t i) { (*static_cast<const Fn*>(ctx))(i); }, &fn);
  }

 private:
  using TaskFn = void (*)(const void* ctx, size_t index);
  void Run(size_t n, TaskFn fn, const void* ctx);
  void WorkerLoop();
  void Drain(TaskFn fn, const void* ctx, size_t n);

  std::vector<std::thread> workers_;
  std::mutex submit_mu_;  // one job at a time

  // The current job; written under mu_ before generation_ is bumped, read by workers under mu_.
  TaskFn fn_ = nullptr;
  const void* ctx_ = nullptr;
  size_t n_ = 0;
  int nice_ = 0;  // the caller's nice value (thread-priority.h)
  std::atomic<size_t> next_{0};
  std::atomic<size_t> done_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> busy_{0};  // workers inside the current job

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
};

// Splits [0, total) into `parts` nearly equal ranges; range i is [begin, end).
inline void SplitRange(size_t total, size_t parts, size_t i, size_t* begin, size_t* end) {
  const size_t base = total / parts, extra = total % parts;
  *begin = i * base + (i < extra ? i : extra);
  *end = *begin + base + (i < extra ? 1 : 0);
}

// Runs fn(begin, end) over [0, n), split into contiguous ranges across `pool` (nullable) when
// the job touches at least `min_work` elements (`work`): one range per thread, and no more than
// one per min_work / 2 elements; below that a wake-up costs more than the split saves.
template <typename Fn>
void ForRanges(size_t n, size_t work, size_t min_work, ThreadPool* pool, const Fn& fn) {
  size_t parts = 1;
  if (pool != nullptr && work >= min_work) {
    parts = std::min({pool->size(), n, work / (min_work / 2)});
  }
  if (parts <= 1) {
    fn(size_t{0}, n);
    return;
  }
  pool->ParallelFor(parts, [&](size_t part) {
    size_t begin, end;
    SplitRange(n, parts, part, &begin, &end);
    fn(begin, end);
  });
}

}  // namespace sluice
