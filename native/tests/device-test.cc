#include "sluice/device.h"

#include "test-harness.h"

// SLUICE_TEST_CUDA_COMPILED is 1 when CMakeLists.txt built native/cuda/device.cu, 0 for the stub.

TEST(CompiledInReflectsTheBuild) {
  EXPECT_EQ(sluice::GetCudaInfo().compiled_in, SLUICE_TEST_CUDA_COMPILED == 1);
}

// Holds with and without a GPU: either there are devices, or there is a reason why not.
TEST(NoDevicesComesWithAReason) {
  const sluice::CudaInfo& info = sluice::GetCudaInfo();
  EXPECT_EQ(info.device_count() == 0, !info.error.empty());
  std::printf("  compiled_in=%d device_count=%d error=\"%s\"\n", info.compiled_in,
              info.device_count(), info.error.c_str());
}

TEST(DevicesAreDescribed) {
  const sluice::CudaInfo& info = sluice::GetCudaInfo();
  if (info.devices.empty()) SKIP("no CUDA device");
  for (const sluice::CudaDevice& d : info.devices) {
    EXPECT_TRUE(!d.name.empty());
    EXPECT_TRUE(d.cc_major > 0);
    EXPECT_TRUE(d.total_memory_bytes > 0);
    std::printf("  %s sm_%d%d %llu bytes\n", d.name.c_str(), d.cc_major, d.cc_minor,
                static_cast<unsigned long long>(d.total_memory_bytes));
  }
}

TEST(QueriedOnce) { EXPECT_TRUE(&sluice::GetCudaInfo() == &sluice::GetCudaInfo()); }

TEST(ComputeCapabilityString) {
  sluice::CudaDevice d;
  d.cc_major = 9;
  d.cc_minor = 0;
  EXPECT_EQ(d.ComputeCapability(), std::string("9.0"));
}

int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
