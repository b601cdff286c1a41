#!/usr/bin/env bash
# Every node:test suite against the addon built with AddressSanitizer + UBSan: a memory error
# anywhere the tests reach through Node (the addon, the engine on imported models, the batcher
# under the servers that e2e tests start in child processes, which inherit the environment)
# stops the test with the sanitizer's report. Not part of `npm test` (the ASan build takes a few
# minutes on 2 cores); run after changing native code.
#   build-asan-addon/  the addon (cmake-js, SLUICE_SANITIZE=ON), reused when present
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
npx cmake-js compile --out build-asan-addon --CDSLUICE_SANITIZE=ON --log-level warn
npx tsc -p tsconfig.json
# Node itself is not instrumented, so the runtimes are preloaded; leaks are not checked (V8 and
# Node keep memory until exit by design).
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export SLUICE_ADDON_PATH="$root/build-asan-addon/Release/sluice.node"
# A hung test file fails after 10 minutes (npm test allows 2; instrumented runs are slower).
node --test --test-concurrency=1 --test-timeout=600000 dist/test/
