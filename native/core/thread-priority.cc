#include "sluice/thread-priority.h"

#include <cstdlib>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#endif

namespace sluice {

int ComputeNiceIncrement() {
  static const int increment = [] {
    const char* raw = std::getenv("SLUICE_COMPUTE_NICE");
    if (raw == nullptr || *raw == '\0') return kDefaultComputeNice;
    char* end = nullptr;
    const long v = std::strtol(raw, &end, 10);
    return (*end == '\0' && v >= 0 && v <= 19) ? static_cast<int>(v) : kDefaultComputeNice;
  }();
  return increment;
}

namespace {

#if defined(__linux__)
id_t OwnTid() { return static_cast<id_t>(syscall(SYS_gettid)); }

// -1 = not read yet. Nice values are -20..19.
thread_local int cached_nice = -100;
#endif

}  // namespace

int ThreadNice() {
#if defined(__linux__)
  if (cached_nice == -100) {
    errno = 0;
    const int v = getpriority(PRIO_PROCESS, OwnTid());
    cached_nice = (v == -1 && errno != 0) ? 0 : v;
  }
  return cached_nice;
#else
  return 0;
#endif
}

void RaiseThreadNiceTo(int nice) {
#if defined(__linux__)
  nice = std::min(19, nice);
  if (nice <= ThreadNice()) return;
  // On Linux, PRIO_PROCESS with a thread id sets that one thread's nice value. On failure (a
  // sandbox that forbids it) the cache keeps the old value and the next call tries again.
  if (setpriority(PRIO_PROCESS, OwnTid(), nice) == 0) cached_nice = nice;
#else
  (void)nice;
#endif
}

void LowerThreadPriorityForCompute() {
  thread_local bool done = false;
  if (done) return;
  done = true;
  const int increment = ComputeNiceIncrement();
  if (increment > 0) RaiseThreadNiceTo(ThreadNice() + increment);
}

}  // namespace sluice
