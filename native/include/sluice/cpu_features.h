// CPU features that select kernel variants. Detected once per process; a feature is reported
// only when the CPU has it AND the OS saves its register state (XGETBV), so a kernel chosen from
// here never faults. Non-x86 builds report every feature as false.
#pragma once

#include <cstdint>

namespace sluice {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;  // VPDPBUSD on ZMM: the INT8 GEMM fast path.
  bool avxvnni = false;     // The VEX (256-bit) encoding of VNNI, on CPUs without AVX-512.
};

// Detected on first call (thread-safe), then a reference to the cached value for the process.
const CpuFeatures& GetCpuFeatures();

// Raw CPUID / XCR0 words, split out so decoding is a pure function that tests can feed
// synthetic inputs (e.g. AVX-512 present but ZMM state disabled by the OS).
struct CpuidWords {
  uint32_t max_leaf = 0;     // CPUID.0:EAX
  uint32_t leaf1_ecx = 0;    // CPUID.1:ECX   (FMA, OSXSAVE, AVX)
  uint32_t leaf7_eax = 0;    // CPUID.7.0:EAX (highest subleaf of leaf 7)
  uint32_t leaf7_ebx = 0;    // CPUID.7.0:EBX (AVX2, AVX512F/BW/VL)
  uint32_t leaf7_ecx = 0;    // CPUID.7.0:ECX (AVX512_VNNI)
  uint32_t leaf7_1_eax = 0;  // CPUID.7.1:EAX (AVX_VNNI)
  uint64_t xcr0 = 0;         // XGETBV(0); only meaningful when OSXSAVE is set
};

CpuFeatures DecodeCpuFeatures(const CpuidWords& words);

}  // namespace sluice
