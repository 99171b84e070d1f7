#!/usr/bin/env bash
# quickstart: from a fresh Debian 12 machine (as root) to a running ustack instance "demo" in its
# own network namespace, answering the kernel's pings.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
INSTANCE=demo
NETNS=demo
ADDR=10.77.0.2
PEER=10.77.0.1

deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX="$PREFIX" >/dev/null
cmake --build build -j"$(nproc)"
cmake --install build >/dev/null
ldconfig
echo "== installed to $PREFIX"

# A previous quickstart's instance is replaced, not duplicated.
"$PREFIX/bin/ustackctl" down --instance "$INSTANCE" >/dev/null 2>&1 || true
"$PREFIX/bin/ustackctl" up --instance "$INSTANCE" --netns "$NETNS" --addr "$ADDR/24" \
	--peer "$PEER" --gateway "$PEER"
echo "== ustackctl status --instance $INSTANCE"
"$PREFIX/bin/ustackctl" status --instance "$INSTANCE"
echo "== the kernel in namespace $NETNS pings the stack at $ADDR"
ip netns exec "$NETNS" ping -c 3 -i 0.2 "$ADDR"
ip netns exec "$NETNS" ping -c 1 -s 8000 "$ADDR"
echo "== ustackctl arp --instance $INSTANCE"
"$PREFIX/bin/ustackctl" arp --instance "$INSTANCE"
cat <<MSG

ustack instance '$INSTANCE' is serving $ADDR inside network namespace '$NETNS'.
  counters:  ustackctl stats --instance $INSTANCE
  ping it:   ip netns exec $NETNS ping $ADDR
  stop it:   ustackctl down --instance $INSTANCE
MSG
