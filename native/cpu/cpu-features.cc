// CPUID decoding follows the Intel SDM vol. 2A (CPUID) and vol. 1 ch. 13 (XSAVE feature set).
#include "sluice/cpu_features.h"

// GCC/Clang only (<cpuid.h>, inline asm): the toolchains Sluice builds with.
#if defined(__x86_64__) || defined(__i386__)
#define SLUICE_X86 1
#include <cpuid.h>
#endif

namespace sluice {
namespace {

constexpr bool Bit(uint32_t word, int bit) { return ((word >> bit) & 1u) != 0; }

// XCR0 state components the OS must enable before the registers may be used.
constexpr uint64_t kXcr0Ymm = 0x6;   // SSE (bit 1) + AVX upper halves (bit 2)
constexpr uint64_t kXcr0Zmm = 0xE0;  // opmask (5), ZMM0-15 upper halves (6), ZMM16-31 (7)

#ifdef SLUICE_X86
void Cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
  __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
}

uint64_t Xgetbv0() {
  // Raw encoding of XGETBV so the file builds without -mxsave.
  uint32_t eax = 0, edx = 0;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuidWords ReadCpuidWords() {
  CpuidWords w;
  uint32_t r[4];
  Cpuid(0, 0, r);
  w.max_leaf = r[0];
  if (w.max_leaf >= 1) {
    Cpuid(1, 0, r);
    w.leaf1_ecx = r[2];
  }
  if (w.max_leaf >= 7) {
    Cpuid(7, 0, r);
    w.leaf7_eax = r[0];
    w.leaf7_ebx = r[1];
    w.leaf7_ecx = r[2];
    if (w.leaf7_eax >= 1) {
      Cpuid(7, 1, r);
      w.leaf7_1_eax = r[0];
    }
  }
  // XGETBV is an invalid opcode unless the OS set CR4.OSXSAVE, which CPUID.1:ECX.27 mirrors.
  if (Bit(w.leaf1_ecx, 27)) w.xcr0 = Xgetbv0();
  return w;
}
#endif

CpuFeatures Detect() {
#ifdef SLUICE_X86
  return DecodeCpuFeatures(ReadCpuidWords());
#else
  return CpuFeatures{};
#endif
}

}  // namespace

CpuFeatures DecodeCpuFeatures(const CpuidWords& w) {
  CpuFeatures f;
  const bool osxsave = Bit(w.leaf1_ecx, 27);
  const bool avx = Bit(w.leaf1_ecx, 28) && osxsave && (w.xcr0 & kXcr0Ymm) == kXcr0Ymm;
  if (!avx) return f;  // every feature below needs at least YMM state

  f.fma = Bit(w.leaf1_ecx, 12);
  const bool leaf7 = w.max_leaf >= 7;
  f.avx2 = leaf7 && Bit(w.leaf7_ebx, 5);
  f.avxvnni = leaf7 && w.leaf7_eax >= 1 && Bit(w.leaf7_1_eax, 4);

  const bool zmm = (w.xcr0 & kXcr0Zmm) == kXcr0Zmm;
  f.avx512f = leaf7 && zmm && Bit(w.leaf7_ebx, 16);
  // The other AVX-512 extensions are meaningless without the foundation.
  f.avx512bw = f.avx512f && Bit(w.leaf7_ebx, 30);
  f.avx512vl = f.avx512f && Bit(w.leaf7_ebx, 31);
  f.avx512vnni = f.avx512f && Bit(w.leaf7_ecx, 11);
  return f;
}

const CpuFeatures& GetCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

}  // namespace sluice
