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
#include <atomic>
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

// Sums n floats (n a multiple of 64) with 4 independent chains: a streaming read.
__attribute__((target("avx512f"))) float SumAvx512(const float* p, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < n; i += 64) {
    s0 = _mm512_add_ps(s0, _mm512_load_ps(p + i));
    s1 = _mm512_add_ps(s1, _mm512_load_ps(p + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_load_ps(p + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_load_ps(p + i + 48));
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  return lanes[0] + lanes[15];  // keeps the loads alive
}

struct Layer {
  size_t k, n;
};

// The weight stream at batch 1: `layers` run back to back at M = 1 (the engine's matrix-vector
// path), against a streaming read of as many bytes split across the same threads, measured
// alternately in each repetition. Prints GB/s of weights for both and their ratio.
void WeightStream(const char* name, const std::vector<Layer>& layers, sluice::KernelIsa isa, int reps) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  size_t widest = 0, bytes = 0;
  for (const Layer& l : layers) widest = std::max({widest, l.k, l.n}), bytes += l.k * l.n * sizeof(float);
  std::vector<float> x(widest), y(widest);
  for (float& v : x) v = dist(rng);
  std::vector<sluice::PackedFp32Weights> packed(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    std::vector<float> b(layers[i].k * layers[i].n);
    for (float& v : b) v = dist(rng);
    if (!sluice::PackedFp32Weights::Pack(b.data(), layers[i].k, layers[i].n, layers[i].n, false, &packed[i]).ok()) {
      std::abort();
    }
  }
  const size_t floats = (bytes / sizeof(float) + 127) / 128 * 128;  // two halves of whole 64s
  float* stream = static_cast<float*>(std::aligned_alloc(64, floats * sizeof(float)));
  for (size_t i = 0; i < floats; ++i) stream[i] = dist(rng);
  std::printf("weight stream at batch 1, %s (%.1f MB of weights)\n", name, bytes / 1e6);
  for (int threads = 1; threads <= 2; ++threads) {
    sluice::ThreadPool pool(static_cast<size_t>(threads));
    auto run_model = [&] {
      for (size_t i = 0; i < layers.size(); ++i) {
        sluice::Fp32GemmArgs args;
        args.m = 1, args.n = layers[i].n, args.k = layers[i].k;
        args.a = x.data(), args.lda = layers[i].k, args.c = y.data(), args.ldc = layers[i].n;
        args.isa = isa;
        if (!sluice::Fp32GemmPacked(args, packed[i], threads > 1 ? &pool : nullptr).ok()) std::abort();
      }
    };
    std::atomic<float> sink{0};
    auto read_all = [&] {  // each thread its contiguous share, through the same pool
      const size_t share = floats / static_cast<size_t>(threads);
      pool.ParallelFor(static_cast<size_t>(threads),
                       [&](size_t t) { sink = sink + SumAvx512(stream + t * share, share); });
    };
    // ~30 ms per timed side; each side warmed first (its bytes back in cache).
    auto timed = [](const auto& fn, long calls) {
      fn();
      const auto t0 = Clock::now();
      for (long i = 0; i < calls; ++i) fn();
      return std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(calls);
    };
    const long calls = std::max(1L, static_cast<long>(0.03 / std::max(timed(run_model, 1), 1e-6)));
    std::vector<double> model_gbs, read_gbs, ratio;
    for (int r = 0; r < reps; ++r) {
      const double model_s = timed(run_model, calls), read_s = timed(read_all, calls);
      model_gbs.push_back(bytes / model_s / 1e9);
      read_gbs.push_back(bytes / read_s / 1e9);
      ratio.push_back(read_s / model_s);
    }
    const Stats m = Summarise(model_gbs), s = Summarise(read_gbs), q = Summarise(ratio);
    std::printf("  %d thread%s: model %6.1f GB/s [%.1f-%.1f] (%.0f us/run), streaming read %6.1f GB/s [%.1f-%.1f]; "
                "model / read %.2f [%.2f-%.2f]\n",
                threads, threads > 1 ? "s" : " ", m.median, m.min, m.max, bytes / m.median / 1e3, s.median, s.min,
                s.max, q.median, q.min, q.max);
    if (sink.load() == 12345.0f) std::printf(" ");
  }
  std::free(stream);
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
      {"enc M=128 K=256  N=256", 128, 256, 256},    {"enc M=128 K=256  N=1024", 128, 1024, 256},
      {"enc M=128 K=1024 N=256", 128, 256, 1024},
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
  if (argc <= 3 || std::strstr("weight stream", argv[3]) != nullptr) {
    WeightStream("mlp-2048 512x2048, 2048x2048, 2048x512", {{512, 2048}, {2048, 2048}, {2048, 512}}, isa, reps);
  }
  return 0;
}
