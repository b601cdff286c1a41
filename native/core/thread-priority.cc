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

void LowerThreadPriorityForCompute() {
#if defined(__linux__)
  thread_local bool done = false;
  if (done) return;
  done = true;
  const int increment = ComputeNiceIncrement();
  if (increment == 0) return;
  // On Linux, PRIO_PROCESS with a thread id sets that one thread's nice value.
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (current == -1 && errno != 0) return;
  (void)setpriority(PRIO_PROCESS, tid, std::min(19, current + increment));
#endif
}

}  // namespace sluice
