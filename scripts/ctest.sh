#!/usr/bin/env bash
# Native unit tests, no Node involved: configure, build and run ctest twice —
#   build-ctest/  Release
#   build-asan/   Debug with AddressSanitizer + UBSan (SLUICE_SANITIZE=ON)
# Build directories are reused when present (incremental). Exits non-zero on the first failure.
# CUDA is compiled into both when nvcc is found; CMakeLists.txt sets the ASan option CUDA needs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc 2>/dev/null || echo 2)"

# run_config DIR [cmake -D options...]
run_config() {
  local name="$1"
  local dir="$root/$1"
  shift
  local generator=()
  # The generator is fixed when a build directory is created; naming it again is an error.
  if [[ ! -f "$dir/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
    generator=(-G Ninja)
  fi
  local start=$SECONDS
  echo "== $name: $*"
  cmake -S "$root" -B "$dir" "${generator[@]}" "$@" --log-level=WARNING
  cmake --build "$dir" --parallel "$jobs"
  ctest --test-dir "$dir" --output-on-failure --parallel "$jobs"
  echo "== $name: configured, built and tested in $((SECONDS - start)) s"
}

run_config build-ctest -DCMAKE_BUILD_TYPE=Release -DSLUICE_SANITIZE=OFF
run_config build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON
