// FP32 GEMM micro-benchmark. Measures, in one run, the machine's FP32 FMA peak (register-only
// loop, 1 and 2 threads) and the GEMM (packed weights) on the engine's shapes, and prints
// achieved / peak. Each figure is the median of `reps` timed repetitions, with min-max spread.
// Two clocks: wall time (GFLOP/s as a caller sees it) and this process's CPU time, which stays
// meaningful when other processes share the cores: "cpu%" is FLOPs per CPU-second over the peak
// loop's FLOPs per CPU-second, i.e. the fraction of peak reached while actually on a core.
//
//   build-ctest/sluice_fp32_gemm_bench [reps=7] [isa=auto|avx512|avx2|generic] [shape filter]
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sluice/cpu_features.h"
#include "sluice/fp32-gemm.h"
#include "sluice/thread-pool.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double median, min, max;
};

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Median wall GFLOP/s (with spread) and median GFLOP per CPU-second.
struct Measured {
  Stats wall;
  double per_cpu_s;
};

Stats Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// 24 independent FMA chains (more than latency x throughput on any AVX-512 core), no memory.
// Returns FLOPs done. Compiled for AVX-512 regardless of the file's flags; called only when the
// CPU has it.
__attribute__((target("avx512f,fma"))) double FmaLoopAvx512(long iters) {
  __m512 acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-4f);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 24  // all 24 chains must live in registers
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  float sink = 0;
  for (int i = 0; i < 24; ++i) sink += _mm512_cvtss_f32(acc[i]);
  if (sink == 12345.0f) std::printf(" ");  // keeps the loop alive
  return static_cast<double>(iters) * 24 * 16 * 2;
}

// Peak on `threads` threads (each runs the loop; total FLOPs / time).
Measured PeakGflops(int threads, int reps) {
  const long iters = 20'000'000;
  const double flops = threads * static_cast<double>(iters) * 24 * 16 * 2;
  std::vector<double> wall, cpu;
  for (int r = 0; r < reps; ++r) {
    std::vector<std::thread> pool;
    const double cpu0 = CpuSeconds();
    const auto start = Clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&] { FmaLoopAvx512(iters); });
    for (auto& t : pool) t.join();
    wall.push_back(flops / std::chrono::duration<double>(Clock::now() - start).count() / 1e9);
    cpu.push_back(flops / (CpuSeconds() - cpu0) / 1e9);
  }
  return {Summarise(wall), Summarise(cpu).median};
}

struct Case {
  const char* name;
  size_t m, n, k;
};

Measured GemmGflops(const Case& c, sluice::KernelIsa isa, sluice::ThreadPool* pool, int reps) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> a(c.m * c.k), b(c.k * c.n), bias(c.n), out(c.m * c.n);
  for (float& x : a) x = dist(rng);
  for (float& x : b) x = dist(rng);
  for (float& x : bias) x = dist(rng);
  sluice::PackedFp32Weights w;
  if (!sluice::PackedFp32Weights::Pack(b.data(), c.k, c.n, c.n, false, &w).ok()) std::abort();
  sluice::Fp32GemmArgs args;
  args.m = c.m, args.n = c.n, args.k = c.k;
  args.a = a.data(), args.lda = c.k, args.c = out.data(), args.ldc = c.n;
  args.epilogue.bias_kind = sluice::BiasKind::kPerColumn;  // the Gemm/MatMul+Add case
  args.epilogue.bias = bias.data();
  args.isa = isa;
  const double flops = 2.0 * c.m * c.n * c.k;
  // Calls per repetition: enough for ~50 ms, after one warm-up call.
  if (!sluice::Fp32GemmPacked(args, w, pool).ok()) std::abort();
  auto t0 = Clock::now();
  if (!sluice::Fp32GemmPacked(args, w, pool).ok()) std::abort();
  const double one = std::chrono::duration<double>(Clock::now() - t0).count();
  const long calls = std::max(1L, static_cast<long>(0.05 / std::max(one, 1e-7)));
  std::vector<double> wall, cpu;
  for (int r = 0; r < reps; ++r) {
    const double cpu0 = CpuSeconds();
    t0 = Clock::now();
    for (long i = 0; i < calls; ++i) (void)sluice::Fp32GemmPacked(args, w, pool);
    wall.push_back(flops * calls / std::chrono::duration<double>(Clock::now() - t0).count() / 1e9);
    cpu.push_back(flops * calls / (CpuSeconds() - cpu0) / 1e9);
  }
  return {Summarise(wall), Summarise(cpu).median};
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(3, std::atoi(argv[1])) : 7;
  sluice::KernelIsa isa = sluice::KernelIsa::kAuto;
  if (argc > 2) {
    using sluice::KernelIsa;
    for (KernelIsa v : {KernelIsa::kGeneric, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
      if (std::strcmp(argv[2], sluice::KernelIsaName(v)) == 0) isa = v;
    }
  }
  const sluice::CpuFeatures& f = sluice::GetCpuFeatures();
  if (!f.avx512f) {
    std::printf("no AVX-512: the peak loop needs it\n");
    return 1;
  }
  std::printf("fp32 gemm bench: isa=%s, %d reps per figure (median [min-max])\n",
              sluice::KernelIsaName(isa), reps);
  const Measured peak[2] = {PeakGflops(1, reps), PeakGflops(2, reps)};
  for (int t = 0; t < 2; ++t) {
    std::printf("peak FMA, %d thread%s: %7.1f GFLOP/s wall [%.1f-%.1f], %.1f GFLOP per CPU-second\n", t + 1,
                t ? "s" : " ", peak[t].wall.median, peak[t].wall.min, peak[t].wall.max, peak[t].per_cpu_s);
  }
  const Case cases[] = {
      {"square 1024^3", 1024, 1024, 1024}, {"M=1   N=K=2048", 1, 2048, 2048},
      {"M=8   N=K=2048", 8, 2048, 2048},   {"M=32  N=K=2048", 32, 2048, 2048},
      {"M=256 N=K=2048", 256, 2048, 2048}, {"mlp M=1   K=512  N=2048", 1, 2048, 512},
      {"mlp M=32  K=512  N=2048", 32, 2048, 512},   {"mlp M=256 K=512  N=2048", 256, 2048, 512},
      {"mlp M=1   K=2048 N=2048", 1, 2048, 2048},   {"mlp M=32  K=2048 N=2048", 32, 2048, 2048},
      {"mlp M=256 K=2048 N=2048", 256, 2048, 2048}, {"mlp M=1   K=2048 N=512", 1, 512, 2048},
      {"mlp M=32  K=2048 N=512", 32, 512, 2048},    {"mlp M=256 K=2048 N=512", 256, 512, 2048},
      {"m784 M=32  K=784  N=256", 32, 256, 784},    {"m784 M=256 K=784  N=256", 256, 256, 784},
      {"m784 M=256 K=256  N=128", 256, 128, 256},   {"enc M=32  K=256  N=768", 32, 768, 256},
      {"enc M=32  K=1024 N=256", 32, 256, 1024},    {"enc M=256 K=256  N=1024", 256, 1024, 256},
  };
  sluice::ThreadPool pool2(2);
  std::printf("%-24s | %-38s | %-38s\n", "shape (packed B, +bias)", "1 thread: GFLOP/s wall, %peak, cpu%",
              "2 threads: GFLOP/s wall, %peak, cpu%");
  for (const Case& c : cases) {
    if (argc > 3 && std::strstr(c.name, argv[3]) == nullptr) continue;
    std::printf("%-24s", c.name);
    for (int t = 0; t < 2; ++t) {
      const Measured g = GemmGflops(c, isa, t == 0 ? nullptr : &pool2, reps);
      std::printf(" | %6.1f [%5.1f-%5.1f] %4.0f%% %4.0f%%", g.wall.median, g.wall.min, g.wall.max,
                  100 * g.wall.median / peak[t].wall.median, 100 * g.per_cpu_s / peak[0].per_cpu_s);
    }
    std::printf("\n");
  }
  return 0;
}
