#!/usr/bin/env bash
# The whole test suite: sets up and builds lore with warnings as errors, runs every test,
# then builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs them again.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)

"$root/tools/setup.sh" "$root/build-test" -DLORE_WERROR=ON
(cd "$root/build-test" && ctest --output-on-failure -j"$jobs")

"$root/tools/setup.sh" "$root/build-asan" -DLORE_WERROR=ON -DLORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
# detect_leaks stays on; OpenMP's runtime keeps its thread pool alive at exit by design.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd "$root/build-asan" && ctest --output-on-failure -j"$jobs")
