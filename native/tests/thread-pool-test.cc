#include "sluice/thread-pool.h"

#include <atomic>
#include <thread>
#include <vector>

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

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
