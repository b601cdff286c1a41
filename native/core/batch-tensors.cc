#include "sluice/batch-tensors.h"

#include <cstring>
#include <string>

namespace sluice {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 53;

uint32_t ReadU32Le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

uint64_t Mix(uint64_t h, uint64_t v) {
  // splitmix64's finaliser over h ^ v: cheap, and every input bit reaches every output bit.
  uint64_t x = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Status ElementCount(const int64_t* dims, size_t rank, std::string_view what, int64_t* count) {
  int64_t n = 1;
  bool zero = false;
  for (size_t i = 0; i < rank; ++i) {
    if (dims[i] < 0) {
      return InvalidArgument(std::string(what) + ": dim " + std::to_string(i) + " is " +
                             std::to_string(dims[i]) + "; dims must not be negative");
    }
    if (dims[i] == 0) zero = true;
    // Keep multiplying the non-zero dims so that an absurd shape is refused even with a 0 in it.
    if (dims[i] > 0 && n > kMaxElements / dims[i]) {
      return InvalidArgument(std::string(what) + ": shape has more than 2^53 elements");
    }
    if (dims[i] > 0) n *= dims[i];
  }
  *count = zero ? 0 : n;
  return Status::Ok();
}

Status CheckTensorBytes(const TensorRef& t, uint32_t element_size, std::string_view what) {
  int64_t count = 0;
  RETURN_IF_ERROR(ElementCount(t.dims, t.rank, what, &count));
  if (element_size != kBytesElement) {
    const uint64_t want = static_cast<uint64_t>(count) * element_size;
    if (t.byte_size != want) {
      return InvalidArgument(std::string(what) + ": " + std::to_string(t.byte_size) +
                             " bytes do not match its shape (" + std::to_string(count) +
                             " elements of " + std::to_string(element_size) + " bytes = " +
                             std::to_string(want) + ")");
    }
    return Status::Ok();
  }
  size_t pos = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (t.byte_size - pos < 4) {
      return InvalidArgument(std::string(what) + ": BYTES element " + std::to_string(i) +
                             " has no complete 4-byte length prefix (the shape holds " +
                             std::to_string(count) + " elements)");
    }
    const uint32_t len = ReadU32Le(t.data + pos);
    pos += 4;
    if (t.byte_size - pos < len) {
      return InvalidArgument(std::string(what) + ": BYTES element " + std::to_string(i) +
                             " declares " + std::to_string(len) + " bytes but only " +
                             std::to_string(t.byte_size - pos) + " remain");
    }
    pos += len;
  }
  if (pos != t.byte_size) {
    return InvalidArgument(std::string(what) + ": " + std::to_string(t.byte_size - pos) +
                           " bytes follow the last of its " + std::to_string(count) +
                           " BYTES elements");
  }
  return Status::Ok();
}

size_t ElementBytes(const uint8_t* data, uint32_t element_size, int64_t elements) {
  if (element_size != kBytesElement) return static_cast<size_t>(elements) * element_size;
  size_t pos = 0;
  for (int64_t i = 0; i < elements; ++i) pos += 4 + ReadU32Le(data + pos);
  return pos;
}

uint64_t HashRowShape(uint64_t seed, const int64_t* dims, size_t rank) {
  uint64_t h = Mix(seed, rank);
  for (size_t i = 1; i < rank; ++i) h = Mix(h, static_cast<uint64_t>(dims[i]));
  return h;
}

bool SameRowShape(const int64_t* a, size_t a_rank, const int64_t* b, size_t b_rank) {
  if (a_rank != b_rank) return false;
  return a_rank <= 1 || std::memcmp(a + 1, b + 1, (a_rank - 1) * sizeof(int64_t)) == 0;
}

}  // namespace sluice
