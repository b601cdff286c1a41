// INT8 GEMM throughput against the machine's own VNNI peak, measured in the same run.
//
// Peak: a register-only loop of 16 independent VPDPBUSD ZMM chains per thread (no memory
// operands), on 1 and 2 threads. GEMM: uint8 activations (per-row zero points and scales),
// packed int8 weights, float output with bias, i.e. the engine's dynamic-quantization MatMul;
// the "+quant" rows also include quantizing float activations (QuantizeRowsUint8). Packing is
// done once outside the timing (it happens at model load).
//
// Every round measures, per shape, the peak and then the GEMM right after it; the ratio is
// taken within the round, so slow changes in the load of a shared machine cancel. Each figure
// is the median over rounds, with [min..max].
// TOPS count 2 operations per multiply-add.
//
//   cmake --build build-ctest --target sluice_int8_gemm_bench && build-ctest/sluice_int8_gemm_bench
//   options: --rounds R (default 7), --kernel generic|avx2|avx512vnni|auto (default auto)
// GCC 12 warns that the intrinsics' internal _mm512_undefined_*() values are uninitialised
// (GCC bug 105593, fixed in GCC 13); the warning points into the header, not at this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sluice/cpu_features.h"
#include "sluice/int8-gemm.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// VPDPBUSD ops retired per second by one thread: 16 chains, 64 multiply-adds each.
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vnni"), noinline)) double PeakLoop(int64_t iterations) {
  constexpr int kChains = 16;
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  __m512i a = _mm512_set1_epi32(0x01010101), b = _mm512_set1_epi32(0x01020304);
  const auto start = Clock::now();
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    __asm__ volatile("" : "+v"(a), "+v"(b));  // keeps the operands opaque, not the chains
  }
  const double seconds = Seconds(start);
  __m512i sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  volatile int sink = _mm512_reduce_add_epi32(sum);
  (void)sink;
  return 2.0 * 64 * kChains * static_cast<double>(iterations) / seconds;
}
#endif

// Peak ops/s of `threads` threads running PeakLoop at once.
double PeakOps(sluice::ThreadPool& pool) {
#if defined(__x86_64__)
  std::vector<double> rates(pool.size());
  pool.ParallelFor(pool.size(), [&](size_t i) { rates[i] = PeakLoop(5'000'000); });
  double total = 0;
  for (double r : rates) total += r;
  return total;
#else
  (void)pool;
  return 0;
#endif
}

struct Shape {
  int64_t m, k, n;
  bool headline;  // part of the acceptance figures (the others are for information)
};

// One shape's buffers; Run() times `reps` GEMMs (optionally with quantization) and returns ops/s.
class Case {
 public:
  explicit Case(const Shape& s) : s_(s) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> real(-1.0f, 1.0f);
    std::uniform_int_distribution<int> byte(-128, 127);
    x_.resize(static_cast<size_t>(s.m * s.k));
    for (auto& v : x_) v = real(rng);
    std::vector<int8_t> b(static_cast<size_t>(s.k * s.n));
    for (auto& v : b) v = static_cast<int8_t>(byte(rng));
    std::vector<float> b_scale(static_cast<size_t>(s.n), 0.01f);
    bias_.assign(static_cast<size_t>(s.n), 0.5f);
    a_.resize(x_.size());
    scale_.resize(static_cast<size_t>(s.m));
    zp_.resize(static_cast<size_t>(s.m));
    c_.resize(static_cast<size_t>(s.m * s.n));
    if (!sluice::PackInt8Weights(b.data(), s.k, s.n, sluice::Int8WeightLayout::kKxN, b_scale.data(),
                                 &packed_)
             .ok() ||
        !Quantize(nullptr, sluice::Int8GemmKernel::kAuto)) {
      std::fprintf(stderr, "setup failed\n");
      std::exit(1);
    }
  }

  double Run(sluice::ThreadPool* pool, sluice::Int8GemmKernel kernel, bool quantize) {
    // About 0.1 s of work per measurement at ~0.5 TOPS.
    const double ops = 2.0 * static_cast<double>(s_.m * s_.n * s_.k);
    const int reps = std::max(3, static_cast<int>(5e10 / ops));
    Gemm(pool, kernel);  // warm caches and the pool
    const auto start = Clock::now();
    for (int r = 0; r < reps; ++r) {
      if (quantize && !Quantize(pool, kernel)) std::exit(1);
      if (!Gemm(pool, kernel)) std::exit(1);
    }
    return ops * reps / Seconds(start);
  }

  const Shape& shape() const { return s_; }

 private:
  bool Quantize(sluice::ThreadPool* pool, sluice::Int8GemmKernel kernel) {
    return sluice::QuantizeRowsUint8(x_.data(), s_.m, s_.k, s_.k, a_.data(), s_.k, scale_.data(),
                                     zp_.data(), pool, kernel)
        .ok();
  }
  bool Gemm(sluice::ThreadPool* pool, sluice::Int8GemmKernel kernel) {
    sluice::Int8GemmInput in;
    in.data = a_.data();
    in.m = s_.m;
    in.k = s_.k;
    in.lda = s_.k;
    in.quantization = sluice::Int8Quantization::kPerRow;
    in.scale = scale_.data();
    in.zero_point = zp_.data();
    sluice::Int8GemmOutput out{sluice::Int8GemmOutputType::kFloat, c_.data(), s_.n, s_.n};
    out.bias = bias_.data();
    return sluice::Int8Gemm(in, packed_, out, pool, kernel).ok();
  }

  Shape s_;
  std::vector<float> x_, bias_, scale_, c_;
  std::vector<uint8_t> a_;
  std::vector<int32_t> zp_;
  sluice::PackedInt8Weights packed_;
};

struct Stats {
  double median, min, max;
};
Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  sluice::Int8GemmKernel kernel = sluice::Int8GemmKernel::kAuto;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--kernel") == 0) {
      for (auto k : {sluice::Int8GemmKernel::kGeneric, sluice::Int8GemmKernel::kAvx2,
                     sluice::Int8GemmKernel::kAvx512Vnni, sluice::Int8GemmKernel::kAuto}) {
        if (std::strcmp(argv[i + 1], sluice::Int8GemmKernelName(k)) == 0) kernel = k;
      }
    }
  }
  const sluice::CpuFeatures& f = sluice::GetCpuFeatures();
  if (!f.avx512vnni || !sluice::Int8GemmKernelSupported(kernel)) {
    std::fprintf(stderr, "needs AVX-512 VNNI (peak loop) and kernel %s\n",
                 sluice::Int8GemmKernelName(kernel));
    return 1;
  }
  // The last two are the first two layers of the engine bench's mlp-784 (784->256->128->10) at
  // batch 256: how close its INT8 cells can come to the peak.
  const Shape shapes[] = {{1024, 1024, 1024, true}, {32, 2048, 2048, true},
                          {1, 2048, 2048, false},   {8, 2048, 2048, false},
                          {256, 2048, 2048, false}, {256, 784, 256, false}, {256, 256, 128, false}};
  std::vector<Case> cases;
  for (const Shape& s : shapes) cases.emplace_back(s);

  std::printf("kernel %s, %d rounds; TOPS = 2 ops per multiply-add; median [min..max] over rounds\n",
              sluice::Int8GemmKernelName(kernel), rounds);
  for (size_t threads : {1, 2}) {
    sluice::ThreadPool pool(threads);
    // Per case: peak, gemm and gemm+quant TOPS, and the two ratios to the peak measured just
    // before them in the same round (pairing cancels slow drifts in machine load).
    std::vector<std::vector<double>> peak(cases.size()), gemm(cases.size()), quant(cases.size()),
        gemm_ratio(cases.size()), quant_ratio(cases.size());
    for (int r = 0; r < rounds; ++r) {
      for (size_t c = 0; c < cases.size(); ++c) {
        const double p = PeakOps(pool);
        const double g = cases[c].Run(&pool, kernel, false), q = cases[c].Run(&pool, kernel, true);
        peak[c].push_back(p / 1e12);
        gemm[c].push_back(g / 1e12);
        quant[c].push_back(q / 1e12);
        gemm_ratio[c].push_back(100 * g / p);
        quant_ratio[c].push_back(100 * q / p);
      }
    }
    std::printf("\n%zu thread(s)\n  %-15s %-22s %-22s %-19s %-22s %-19s %s\n", threads, "M x K x N",
                "peak TOPS", "gemm TOPS", "gemm/peak %", "+quant TOPS", "+quant/peak %",
                "best/best %");
    for (size_t c = 0; c < cases.size(); ++c) {
      const Shape& s = cases[c].shape();
      char name[32];
      std::snprintf(name, sizeof name, "%lldx%lldx%lld", static_cast<long long>(s.m),
                    static_cast<long long>(s.k), static_cast<long long>(s.n));
      std::printf("  %-15s", name);
      for (const auto* v : {&peak[c], &gemm[c], &gemm_ratio[c], &quant[c], &quant_ratio[c]}) {
        const Stats st = Summarize(*v);
        const bool percent = v == &gemm_ratio[c] || v == &quant_ratio[c];
        std::printf(percent ? " %5.1f [%5.1f..%5.1f]" : " %.3f [%.3f..%.3f]", st.median, st.min, st.max);
      }
      // The fastest GEMM over the fastest peak: the least disturbed estimate on a busy machine.
      std::printf(" %5.1f%s\n", 100 * Summarize(gemm[c]).max / Summarize(peak[c]).max,
                  s.headline ? "  (target)" : "");
    }
  }
  return 0;
}
