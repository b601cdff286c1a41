#include "sluice/cpu_features.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "test-harness.h"

using sluice::CpuFeatures;
using sluice::CpuidWords;
using sluice::DecodeCpuFeatures;

namespace {

// A CPU with every feature Sluice looks at (e.g. Sapphire Rapids), before OS support.
CpuidWords AllFeatureBits() {
  CpuidWords w;
  w.max_leaf = 0x20;
  w.leaf1_ecx = (1u << 12) | (1u << 27) | (1u << 28);               // FMA, OSXSAVE, AVX
  w.leaf7_eax = 1;                                                  // subleaf 1 exists
  w.leaf7_ebx = (1u << 5) | (1u << 16) | (1u << 30) | (1u << 31);  // AVX2, 512F, BW, VL
  w.leaf7_ecx = 1u << 11;                                           // AVX512_VNNI
  w.leaf7_1_eax = 1u << 4;                                          // AVX_VNNI
  return w;
}

bool Any(const CpuFeatures& f) {
  return f.avx2 || f.fma || f.avx512f || f.avx512bw || f.avx512vl || f.avx512vnni || f.avxvnni;
}

}  // namespace

TEST(DecodeEverythingWhenOsSavesZmm) {
  CpuidWords w = AllFeatureBits();
  w.xcr0 = 0xE7;  // x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
  CpuFeatures f = DecodeCpuFeatures(w);
  EXPECT_TRUE(f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl);
  EXPECT_TRUE(f.avx512vnni && f.avxvnni);
}

TEST(DecodeNoAvx512WithoutZmmState) {
  CpuidWords w = AllFeatureBits();
  w.xcr0 = 0x7;  // the OS saves YMM but not ZMM: AVX-512 instructions would fault
  CpuFeatures f = DecodeCpuFeatures(w);
  EXPECT_TRUE(f.avx2 && f.fma && f.avxvnni);
  EXPECT_TRUE(!f.avx512f && !f.avx512bw && !f.avx512vl && !f.avx512vnni);
}

TEST(DecodeNothingWithoutOsxsave) {
  CpuidWords w = AllFeatureBits();
  w.leaf1_ecx &= ~(1u << 27);
  w.xcr0 = 0xE7;  // ignored: XGETBV cannot be trusted (or even run) without OSXSAVE
  EXPECT_TRUE(!Any(DecodeCpuFeatures(w)));
}

TEST(DecodeIgnoresLeaf7BeyondMaxLeaf) {
  CpuidWords w = AllFeatureBits();
  w.max_leaf = 6;
  w.xcr0 = 0xE7;
  CpuFeatures f = DecodeCpuFeatures(w);
  EXPECT_TRUE(f.fma);  // leaf 1 is still valid
  EXPECT_TRUE(!f.avx2 && !f.avx512f && !f.avx512vnni && !f.avxvnni);
}

TEST(DecodeVnniNeedsFoundation) {
  CpuidWords w = AllFeatureBits();
  w.leaf7_ebx &= ~(1u << 16);  // no AVX512F
  w.xcr0 = 0xE7;
  CpuFeatures f = DecodeCpuFeatures(w);
  EXPECT_TRUE(!f.avx512vnni && !f.avx512bw && !f.avx512vl);
}

TEST(DetectedFeaturesAreConsistent) {
  const CpuFeatures& f = sluice::GetCpuFeatures();
  if (f.avx512vnni || f.avx512bw || f.avx512vl) EXPECT_TRUE(f.avx512f);
  EXPECT_TRUE(&f == &sluice::GetCpuFeatures());  // detected once, cached
  std::printf("  avx2=%d fma=%d avx512f=%d avx512bw=%d avx512vl=%d avx512vnni=%d avxvnni=%d\n",
              f.avx2, f.fma, f.avx512f, f.avx512bw, f.avx512vl, f.avx512vnni, f.avxvnni);
}

// The kernel applies the same OS-support rules when it prints flags, so the two must agree.
TEST(MatchesProcCpuinfo) {
#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string flag; words >> flag;) flags.insert(flag);
    break;  // the first CPU is enough: Linux requires the same features on every CPU
  }
  if (flags.empty()) SKIP("no flags line in /proc/cpuinfo");
  const CpuFeatures& f = sluice::GetCpuFeatures();
  EXPECT_EQ(f.avx2, flags.count("avx2") == 1);
  EXPECT_EQ(f.fma, flags.count("fma") == 1);
  EXPECT_EQ(f.avx512f, flags.count("avx512f") == 1);
  EXPECT_EQ(f.avx512bw, flags.count("avx512bw") == 1);
  EXPECT_EQ(f.avx512vl, flags.count("avx512vl") == 1);
  EXPECT_EQ(f.avx512vnni, flags.count("avx512_vnni") == 1);
  EXPECT_EQ(f.avxvnni, flags.count("avx_vnni") == 1);
#else
  SKIP("not x86 Linux");
#endif
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
