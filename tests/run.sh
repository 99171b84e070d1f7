#!/usr/bin/env bash
# run: install dependencies, build, run every test.
#   1. gcc build: unit, integration and fault tests through ctest (descriptor links over
#      ZeroMQ, the default), then the fault tests again over shared-memory links
#   2. an ASan + UBSan build with clang: the unit tests again under it. It is also the clang
#      build that must be warning-free (-Werror, every target; a plain clang build would compile
#      the same code with the same flags minus the sanitizers). The gcc build is the gcc one.
#      (A second sanitizer build with gcc ran here until the suite neared its 15-minute budget;
#      `cmake -DUSTACK_SANITIZE=ON -DCMAKE_C_COMPILER=gcc` still builds it.)
# Build trees live under build/ (USTACK_BUILD_ROOT to move them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_ROOT=${USTACK_BUILD_ROOT:-$ROOT/build}
JOBS=$(nproc)

deploy/install-deps.sh

echo "== gcc build"
cmake -S . -B "$BUILD_ROOT/gcc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build "$BUILD_ROOT/gcc" -j"$JOBS"

echo "== ASan + UBSan build (clang)"
cmake -S . -B "$BUILD_ROOT/clang-asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	-DUSTACK_SANITIZE=ON >/dev/null
cmake --build "$BUILD_ROOT/clang-asan" -j"$JOBS"

status=0
echo "== unit tests under ASan + UBSan (clang)"
# Two at a time: many unit tests wait (timeouts, restarts), so the pair fills both CPUs.
(cd "$BUILD_ROOT/clang-asan" && ASAN_OPTIONS=detect_leaks=1 ctest -L unit -j2 --output-on-failure) ||
	status=1

echo "== unit tests (gcc build)"
(cd "$BUILD_ROOT/gcc" && ctest -L unit -j2 --output-on-failure) || status=1

echo "== integration and fault tests (gcc build)"
# One at a time: each brings up a whole stack and a namespace, and several time what they see.
(cd "$BUILD_ROOT/gcc" && ctest -LE unit --output-on-failure) || status=1

echo "== fault tests over shared-memory links (gcc build, [stack] link = shm)"
(cd "$BUILD_ROOT/gcc" && USTACK_TEST_LINK=shm ctest -L fault --output-on-failure) || status=1
exit $status
