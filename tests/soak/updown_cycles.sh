#!/usr/bin/env bash
# updown_cycles: the long run of tests/integration/test_updown_cycles.sh (200 fresh instances,
# about five minutes). Not part of tests/run.sh.   usage: tests/soak/updown_cycles.sh BUILD_DIR [N]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
USTACK_CYCLES=${2:-200} exec bash "$HERE/../integration/test_updown_cycles.sh" "${1:?usage: $0 BUILD_DIR [N]}"
