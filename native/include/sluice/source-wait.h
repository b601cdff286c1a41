// How idle batch sources wait for the batcher's queue to change: spin for a short budget, then
// sleep on a condition variable. At most one source spins at a time (on a 2-core machine a
// second spinner would take the core the JS thread needs); the others sleep at once. The budget
// runs from the batcher's last activity (a push, a batch taken or finished), not from the start
// of each wait, so a source that polls an idle batcher in short slices does not spin each time.
//
// Why spin at all: waking a thread that sleeps in a condition variable costs a futex wake plus
// the scheduler's wake-up latency, tens of microseconds here, which is the whole low-load
// latency budget. A spinning source sees a push within about a microsecond.
// Measured with bench/native/batcher-bench.cc (enqueue -> Next() returns with the batch,
// empty queue, one waiting source, producer and source pinned to the 2 vCPUs of the shared
// reference VM, 5000 samples per cell; the VM's co-tenants kept its load at 3-5, which is what
// the p99 column mostly measures):
//                                  gap 20 us        gap 100 us       gap 1000 us
//                                  p50     p90      p50     p90      p50     p90
//   condvar only                   15 us   21 us    19 us   27 us    29 us   43 us
//   spin 50 us, then condvar       0.7 us  0.9 us   18 us   55 us    33 us   51 us
//   spin 200 us, then condvar      0.7 us  0.9 us   0.7 us  1.9 us   33 us   52 us
// A gap inside the budget costs well under a microsecond; past it, the sleeping source costs
// what condvar-only costs. (p99: 0.3-4 ms in every row on that loaded VM, i.e. preemption;
// one unpinned run at load ~2 gave 26-34 us for the spinning cells.) The default budget, 200 us,
// covers a closed-loop client with a round trip up to ~200 us (gRPC at concurrency 1 here) and
// costs at most 200 us of one core per idle period. In the addon a model's parameter
// sluice.idle_spin_us, else SLUICE_BATCHER_SPIN_US, overrides it (a window longer than the gaps
// between requests keeps the source spinning through them: the lowest low-load latency, one core
// busy while idle).
//
// A sleeping source costs more the longer it slept: at 5 ms gaps (--gaps 5000,1000, 1000 samples,
// pinned) condvar-only took p50 62 us, p90 83 us, against p50 30 us at 1 ms gaps in the same run.
// Unpinned, as in the addon, the JS micro-benchmark's 5 ms gaps measure p50 ~14 us. No sleeping
// wait measured here gets under ~10 us at such gaps; spinning through the gap does.
//
// Adaptive extension: requests that keep arriving at a steady gap longer than the budget (a
// client at ~1 ms intervals) would find the source asleep every time. So the window is twice
// the recent mean gap between pushes (an EWMA) when that is longer than the budget but at most
// kMaxSpinNs: the next request is then likely to find the source spinning. Longer gaps keep the
// plain budget (spinning through them would burn a core for nothing). The cost is bounded: at
// most kMaxSpinNs of one core per request, only while requests come at least every 1.25 ms.
//
// Tried and reverted: forecasting a steady stream's next request (running means of the gaps and
// of their spread) and spinning through a window around it after a timed sleep. Pinned
// (batcher-bench --gaps 5000, 400 samples x 2 rounds) it worked: p50 5.9 us, p99 16 us, against
// 73 / 143 us for condvar only. Unpinned, in the JS micro-benchmark (requests ~5.5 ms apart), it
// did not: p50 12-19 us in 9 runs of its variants, as without it (~16 us). The push and the
// spinner's return ran on the same CPU (sched_getcpu()) for 211 of 224 pushes: the JS thread ran
// where the source was spinning, and the source saw the push only once the JS thread blocked
// again, 12-17 us after it. Moving the spinner off the pusher's last CPU for the window
// (sched_setaffinity) did not help: p50 19-24 us in 2 runs, and the JS thread followed it in 66
// of 145 pushes. A source that never stops spinning (idle_spin_us past the gaps) keeps its CPU
// and sees the push at once (p50 2.7 us).
//
// Lock rules: the caller owns one std::mutex (the batcher's), passed in as a unique_lock.
// Changed() must be called with it held; Wait() is entered and left with it held and releases
// it while spinning or sleeping; Notify*() must be called without it (after unlocking).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace sluice {

// Monotonic clock of the batcher, nanoseconds (any epoch).
int64_t MonotonicNowNs();

constexpr int64_t kDefaultSpinNs = 200'000;
// The longest adaptive window: twice a mean gap of up to 1.25 ms.
constexpr int64_t kMaxSpinNs = 2'500'000;

class SourceWait {
 public:
  // spin_ns: how long one waiting source spins before it sleeps; 0 = always sleep.
  explicit SourceWait(int64_t spin_ns) : spin_ns_(spin_ns < 0 ? 0 : spin_ns) {}

  // The change counter a waiter compares against; read it under the lock before deciding.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // Records a change (a push, a cancellation, a close) at now_ns. Lock held. Returns whether a
  // sleeping source must be woken with NotifyOne(): only when some source sleeps and none spins
  // (a spinner sees the change by itself).
  bool Changed(int64_t now_ns);
  // Records activity that is not a change to wait for (a batch taken or finished): it restarts
  // the spin budget. Lock held.
  void Touch(int64_t now_ns) { last_activity_ns_ = now_ns; }

  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

  // Returns once version() != seen or MonotonicNowNs() >= until_ns (kNoDeadline: no limit);
  // may return early (spurious), so callers re-check their state. Lock held on entry and return.
  void Wait(std::unique_lock<std::mutex>* lock, uint64_t seen, int64_t until_ns);

  // Sources sleeping now; read under the lock.
  int sleepers() const { return sleepers_; }

 private:
  // Spins without the lock until a change or `until_ns`; true if it saw a change.
  bool Spin(uint64_t seen, int64_t until_ns) const;
  // The spin window now (see the header comment); lock held.
  int64_t SpinWindowNs() const;

  const int64_t spin_ns_;
  int64_t last_change_ns_ = 0;        // guarded by the caller's lock
  int64_t gap_ewma_ns_ = 0;           // mean gap between changes, 1/8 weight per change; lock
  std::atomic<uint64_t> version_{0};  // written under the lock, read without it by the spinner
  std::atomic<bool> spinning_{false};
  int sleepers_ = 0;                  // guarded by the caller's lock
  int64_t last_activity_ns_ = 0;      // guarded by the caller's lock
  std::condition_variable cv_;
};

}  // namespace sluice
