// Batcher overhead at low load: time from just before Enqueue() to just after a waiting
// source's Next() returns the batch (execution start), with an empty queue and one source.
// Compares wait strategies (condvar only vs spin-then-sleep budgets) at several arrival gaps:
// a gap inside the spin budget finds the source spinning, a longer one finds it asleep. The
// producer waits for each completion before the next gap (closed loop), so every request finds
// an empty queue. Strategies run in interleaved rounds so that bursts of noise on a shared
// machine hit them all alike; the producer and the source are pinned to different CPUs.
//
//   cmake --build build-ctest --target sluice_batcher_bench && build-ctest/sluice_batcher_bench
//   options: --samples N per strategy and gap (default 5000), --rounds R (default 5),
//            --gaps US,US,... arrival gaps in microseconds (default 20,100,1000)
//
// Percentiles use perf_analyzer's nearest-rank rule: index = round(p/100 * (n-1)).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include "sluice/batcher.h"

namespace {

using sluice::Batcher;
using sluice::MonotonicNowNs;

// Counts completions; the producer waits for each before the next request (closed loop), so
// every request finds an empty queue.
class CountingSink : public sluice::CompletionSink {
 public:
  explicit CountingSink(std::shared_ptr<sluice::CompletionPool> pool) : pool_(std::move(pool)) {}
  void Deliver(std::unique_ptr<sluice::CompletionBatch> batch) noexcept override {
    const size_t n = batch->requests.size();
    pool_->Give(std::move(batch));
    completed.fetch_add(n, std::memory_order_release);
  }
  std::atomic<uint64_t> completed{0};

 private:
  std::shared_ptr<sluice::CompletionPool> pool_;
};

double Percentile(const std::vector<int64_t>& sorted, double p) {
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::llround(rank));
  return static_cast<double>(sorted[i]) / 1000.0;
}

void WaitGap(int64_t gap_ns) {
  // Short gaps busy-wait (a sleep cannot be shorter than the timer slack, ~50 us); long ones sleep.
  if (gap_ns >= 200'000) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(gap_ns));
    return;
  }
  const int64_t until = MonotonicNowNs() + gap_ns;
  while (MonotonicNowNs() < until) {
  }
}

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // best effort
}

// Appends `samples` latencies (ns) of one strategy at one gap.
void Run(int64_t spin_ns, int64_t gap_ns, int samples, std::vector<int64_t>* out) {
  sluice::BatcherConfig config;
  config.name = "bench:1";
  config.policy.max_batch_size = 8;
  config.input_names = {"x"};
  config.input_element_sizes = {4};
  config.output_names = {"y"};
  config.output_element_sizes = {4};
  config.spin_ns = spin_ns;
  auto pool = std::make_shared<sluice::CompletionPool>();
  auto sink = std::make_shared<CountingSink>(pool);
  std::shared_ptr<Batcher> batcher;
  const sluice::Status created = Batcher::Create(config, sink, pool, &batcher);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.ToString().c_str());
    std::exit(1);
  }

  std::atomic<int64_t> enqueued_at{0};
  std::vector<int64_t> latencies;
  latencies.reserve(static_cast<size_t>(samples));
  const bool pin = std::thread::hardware_concurrency() >= 2;
  if (pin) PinTo(0);
  std::thread source([&] {
    if (pin) PinTo(1);
    sluice::TakenBatch batch;
    for (;;) {
      sluice::NextResult result;
      if (!batcher->Next(sluice::kNoDeadline, &result, &batch).ok()) return;
      const int64_t started = MonotonicNowNs();
      if (result == sluice::NextResult::kClosed) return;
      if (result != sluice::NextResult::kBatch) continue;
      latencies.push_back(started - enqueued_at.load(std::memory_order_acquire));
      const auto& in = batch.inputs[0];
      sluice::TensorRef out{in.data, in.byte_size, in.dims.data(), in.dims.size()};
      (void)batcher->Complete(batch.id, &out, 1, {});
    }
  });

  float data[16] = {};
  const int64_t dims[] = {1, 16};
  sluice::TensorRef input{reinterpret_cast<const uint8_t*>(data), sizeof(data), dims, 2};
  sluice::EnqueueArgs args;
  args.inputs = &input;
  args.input_count = 1;
  const int warmup = std::min(200, samples / 10);
  for (int i = 0; i < samples + warmup; ++i) {
    WaitGap(gap_ns);
    if (i == warmup) latencies.clear();  // the source is between requests here: no race
    uint64_t id;
    enqueued_at.store(MonotonicNowNs(), std::memory_order_release);
    if (!batcher->Enqueue(args, &id).ok()) std::exit(1);
    while (sink->completed.load(std::memory_order_acquire) < static_cast<uint64_t>(i + 1)) {
      std::this_thread::yield();
    }
  }
  batcher->Close();
  source.join();
  out->insert(out->end(), latencies.begin(), latencies.end());
}

}  // namespace

int main(int argc, char** argv) {
  int samples = 5000;
  int rounds = 5;
  std::vector<int64_t> gaps = {20'000, 100'000, 1'000'000};
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--samples") == 0) samples = std::max(10, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--gaps") == 0) {
      gaps.clear();
      for (const char* p = argv[i + 1]; *p != '\0';) {
        char* end = nullptr;
        const long long us = std::strtoll(p, &end, 10);
        if (end == p || us <= 0) {
          std::fprintf(stderr, "--gaps: expected positive microseconds separated by commas, got '%s'\n",
                       argv[i + 1]);
          return 2;
        }
        gaps.push_back(static_cast<int64_t>(us) * 1000);
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') {
          std::fprintf(stderr, "--gaps: unexpected '%c' in '%s'\n", *end, argv[i + 1]);
          return 2;
        }
      }
    }
  }
  const int64_t spins[] = {0, 50'000, 200'000};
  std::printf(
      "enqueue -> Next() returns, empty queue, one waiting source; %d samples each, %d rounds\n",
      samples, rounds);
  std::printf("%-22s %9s %8s %8s %8s %8s %9s %9s\n", "strategy", "gap", "mean us", "p50 us",
              "p90 us", "p99 us", "p99.9 us", "max us");
  for (int64_t gap : gaps) {
    std::vector<std::vector<int64_t>> latencies(std::size(spins));
    for (int round = 0; round < rounds; ++round) {
      for (size_t s = 0; s < std::size(spins); ++s) {
        Run(spins[s], gap, samples / rounds, &latencies[s]);
      }
    }
    for (size_t s = 0; s < std::size(spins); ++s) {
      std::vector<int64_t>& l = latencies[s];
      std::sort(l.begin(), l.end());
      double mean = 0;
      for (int64_t v : l) mean += static_cast<double>(v);
      mean /= static_cast<double>(l.size()) * 1000.0;
      const std::string name =
          spins[s] == 0 ? std::string("condvar only")
                        : "spin " + std::to_string(spins[s] / 1000) + " us + condvar";
      std::printf("%-22s %6lld us %8.2f %8.2f %8.2f %8.2f %8.2f %9.2f\n", name.c_str(),
                  static_cast<long long>(gap / 1000), mean, Percentile(l, 50), Percentile(l, 90),
                  Percentile(l, 99), Percentile(l, 99.9), static_cast<double>(l.back()) / 1000.0);
    }
    std::fflush(stdout);
  }
  return 0;
}
