#include "sluice/source-wait.h"

#include <algorithm>
#include <chrono>

#include "sluice/request-queue.h"  // kNoDeadline

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SLUICE_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SLUICE_CPU_RELAX() asm volatile("yield" ::: "memory")
#else
#define SLUICE_CPU_RELAX() ((void)0)
#endif

namespace sluice {

int64_t MonotonicNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool SourceWait::Changed(int64_t now_ns) {
  if (last_change_ns_ != 0) gap_ewma_ns_ += (now_ns - last_change_ns_ - gap_ewma_ns_) / 8;
  last_change_ns_ = now_ns;
  last_activity_ns_ = now_ns;
  version_.fetch_add(1, std::memory_order_release);
  return sleepers_ > 0 && !spinning_.load(std::memory_order_acquire);
}

bool SourceWait::Spin(uint64_t seen, int64_t until_ns) const {
  for (;;) {
    // ~32 pauses (~1-4 us on current x86) between clock reads; the version is read every pause.
    for (int i = 0; i < 32; ++i) {
      if (version_.load(std::memory_order_acquire) != seen) return true;
      SLUICE_CPU_RELAX();
    }
    if (MonotonicNowNs() >= until_ns) return false;
  }
}

int64_t SourceWait::SpinWindowNs() const {
  if (spin_ns_ == 0) return 0;
  const int64_t adaptive = 2 * gap_ewma_ns_;
  return adaptive > spin_ns_ && adaptive <= kMaxSpinNs ? adaptive : spin_ns_;
}

void SourceWait::Wait(std::unique_lock<std::mutex>* lock, uint64_t seen, int64_t until_ns) {
  if (version() != seen) return;
  const int64_t now = MonotonicNowNs();
  if (now >= until_ns) return;
  const int64_t spin_end = last_activity_ns_ + SpinWindowNs();
  bool expected = false;
  if (spin_ns_ > 0 && now < spin_end && spinning_.compare_exchange_strong(expected, true)) {
    const int64_t spin_until = std::min(spin_end, until_ns);
    lock->unlock();
    const bool changed = Spin(seen, spin_until);
    // Cleared before the lock is retaken: from here on a push sees no spinner and wakes a
    // sleeper, and this thread re-checks the version under the lock before it sleeps.
    spinning_.store(false, std::memory_order_release);
    lock->lock();
    if (changed || spin_until == until_ns) return;
    if (version() != seen) return;
  }
  ++sleepers_;
  const auto done = [&] { return version_.load(std::memory_order_acquire) != seen; };
  if (until_ns == kNoDeadline) {
    cv_.wait(*lock, done);
  } else {
    const std::chrono::steady_clock::time_point until{std::chrono::nanoseconds(until_ns)};
    cv_.wait_until(*lock, until, done);
  }
  --sleepers_;
}

}  // namespace sluice
