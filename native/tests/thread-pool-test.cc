#include "sluice/thread-pool.h"

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "sluice/thread-priority.h"
#include "test-harness.h"

using sluice::ThreadPool;

TEST(EveryIndexRunsExactlyOnce) {
  for (size_t threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (size_t n : {0, 1, 2, 3, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      for (int round = 0; round < 20; ++round) pool.ParallelFor(n, [&](size_t i) { hits[i]++; });
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 20);
    }
  }
}

TEST(ConcurrentCallersAreSerialised) {
  ThreadPool pool(3);
  std::atomic<long> sum{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int r = 0; r < 200; ++r) pool.ParallelFor(10, [&](size_t i) { sum += static_cast<long>(i); });
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(sum.load(), 4L * 200 * 45);
}

TEST(SplitRangeCoversEverything) {
  for (size_t total : {0, 1, 5, 17, 100}) {
    for (size_t parts : {1, 2, 3, 8}) {
      size_t expect = 0;
      for (size_t i = 0; i < parts; ++i) {
        size_t b = 0, e = 0;
        sluice::SplitRange(total, parts, i, &b, &e);
        EXPECT_EQ(b, expect);
        EXPECT_TRUE(e >= b && e - b <= total / parts + 1);
        expect = e;
      }
      EXPECT_EQ(expect, total);
    }
  }
}

#if defined(__linux__)
int OsThreadNice() {
  return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
}

// Compute threads yield to the event loop: a thread that asks runs ComputeNiceIncrement() nicer
// (once: asking again changes nothing), and the thread that started it is left as it was.
TEST(ComputeThreadsRunAtALowerPriority) {
  const int inc = sluice::ComputeNiceIncrement();
  EXPECT_EQ(inc, std::getenv("SLUICE_COMPUTE_NICE") == nullptr ? sluice::kDefaultComputeNice : inc);
  const int base = OsThreadNice();
  if (base + inc > 19) SKIP("the process already runs at the lowest priority");
  int own = 0, again = 0, cached = 0;
  std::thread t([&] {
    sluice::LowerThreadPriorityForCompute();
    own = OsThreadNice();
    sluice::LowerThreadPriorityForCompute();
    again = OsThreadNice();
    cached = sluice::ThreadNice();
  });
  t.join();
  EXPECT_EQ(own, base + inc);
  EXPECT_EQ(again, base + inc);
  EXPECT_EQ(cached, base + inc);
  EXPECT_EQ(OsThreadNice(), base);
}

// Pool workers take their caller's nice value: a less favoured worker would wait for a core
// while its caller runs, a more favoured one would undo the caller's lower priority.
TEST(PoolWorkersTakeTheCallersPriority) {
  const int base = OsThreadNice();
  if (base + 3 > 19) SKIP("the process already runs at the lowest priority");
  ThreadPool pool(3);
  auto worker_nices = [&] {
    std::mutex mu;
    std::vector<int> seen;
    const long caller = syscall(SYS_gettid);
    // Long enough tasks that the workers claim some of them.
    pool.ParallelFor(64, [&](size_t) {
      if (syscall(SYS_gettid) != caller) {
        std::lock_guard<std::mutex> lock(mu);
        seen.push_back(OsThreadNice());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    });
    return seen;
  };
  for (int nice : worker_nices()) EXPECT_EQ(nice, base);
  std::thread niced([&] {
    sluice::RaiseThreadNiceTo(base + 3);
    const std::vector<int> seen = worker_nices();
    EXPECT_TRUE(!seen.empty());
    for (int nice : seen) EXPECT_EQ(nice, base + 3);
  });
  niced.join();
  EXPECT_EQ(OsThreadNice(), base);
}
#endif

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
