// A header-only unit-test harness for native/tests (gtest is not a dependency). Each *-test.cc
// is its own executable and one ctest entry; cases run in file order, and a failing check
// marks its case failed and keeps going (EXPECT_*) or leaves the case (ASSERT_*, SKIP).
//
//   TEST(StatusDefaultsToOk) { EXPECT_TRUE(sluice::Status().ok()); }
//   int main(int argc, char** argv) { return sluice::test::RunAll(argc, argv); }
//
// `./x-test NAME` runs only the cases whose name contains NAME.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice::test {

// Element-wise |got - want| <= tol * (1 + |want|), NaN matching NaN; prints the first mismatch.
inline bool NearFloats(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-6f) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool ok = std::isnan(want[i]) ? std::isnan(got[i])
                                        : std::fabs(got[i] - want[i]) <= tol * (1 + std::fabs(want[i]));
    if (!ok) {
      std::fprintf(stderr, "  [%zu] got %.9g want %.9g\n", i, got[i], want[i]);
      return false;
    }
  }
  return true;
}

struct Case {
  const char* name;
  void (*fn)();
};

inline std::vector<Case>& Registry() {
  static std::vector<Case> cases;
  return cases;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { Registry().push_back({name, fn}); }
};

// Outcome of the case that is running; RunAll resets it before each case.
enum class Outcome { kPassed, kFailed, kSkipped };
inline Outcome& Current() {
  static Outcome outcome = Outcome::kPassed;
  return outcome;
}

inline void Fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: failure: %s\n", file, line, what.c_str());
  Current() = Outcome::kFailed;
}

inline void Skip() {
  if (Current() != Outcome::kFailed) Current() = Outcome::kSkipped;
}

template <typename T, typename = void>
struct IsStreamable : std::false_type {};
template <typename T>
struct IsStreamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<T>())>>
    : std::true_type {};

// Printable form of a checked value, for failure messages.
template <typename T>
std::string Show(const T& v) {
  std::ostringstream out;
  if constexpr (std::is_enum_v<T>) {
    out << static_cast<std::underlying_type_t<T>>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    out << (v ? "true" : "false");
  } else if constexpr (IsStreamable<T>::value) {
    out << v;
  } else {
    out << "<unprintable>";
  }
  return out.str();
}

inline int RunAll(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : "";
  int passed = 0, failed = 0, skipped = 0;
  for (const Case& c : Registry()) {
    if (std::strstr(c.name, filter) == nullptr) continue;
    Current() = Outcome::kPassed;
    c.fn();
    switch (Current()) {
      case Outcome::kPassed: ++passed; std::printf("[  OK  ] %s\n", c.name); break;
      case Outcome::kFailed: ++failed; std::printf("[ FAIL ] %s\n", c.name); break;
      case Outcome::kSkipped: ++skipped; std::printf("[ SKIP ] %s\n", c.name); break;
    }
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed == 0 && passed + skipped > 0 ? 0 : 1;  // an empty filter match is a failure
}

}  // namespace sluice::test

#define TEST(name)                                                       \
  static void name();                                                    \
  static const ::sluice::test::Registrar name##_registrar(#name, name); \
  static void name()

#define EXPECT_TRUE(cond)                                                           \
  do {                                                                              \
    if (!(cond)) ::sluice::test::Fail(__FILE__, __LINE__, "EXPECT_TRUE(" #cond ")"); \
  } while (false)

#define EXPECT_EQ(a, b)                                                                    \
  do {                                                                                     \
    const auto& sluice_a_ = (a);                                                           \
    const auto& sluice_b_ = (b);                                                           \
    if (!(sluice_a_ == sluice_b_))                                                         \
      ::sluice::test::Fail(__FILE__, __LINE__,                                             \
                           "EXPECT_EQ(" #a ", " #b "): " + ::sluice::test::Show(sluice_a_) + \
                               " != " + ::sluice::test::Show(sluice_b_));                  \
  } while (false)

// Leaves the current case (only usable in the TEST body itself, which returns void).
#define ASSERT_TRUE(cond)                                                             \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      ::sluice::test::Fail(__FILE__, __LINE__, "ASSERT_TRUE(" #cond ")");            \
      return;                                                                         \
    }                                                                                 \
  } while (false)

// Leaves the current case; a case that already failed stays failed.
#define SKIP(reason)                                       \
  do {                                                     \
    std::printf("  skipped: %s\n", reason);               \
    ::sluice::test::Skip();                                \
    return;                                                \
  } while (false)
