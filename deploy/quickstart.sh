#!/usr/bin/env bash
# quickstart: from a fresh Debian 12 machine (as root) to a running ustack instance "demo" in its
# own network namespace, answering the kernel's pings, and a libsock echo server answering the
# kernel's nc -u.
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
# The layers' system user (ustackctl up would also make it when missing).
systemd-sysusers "$PREFIX/lib/sysusers.d/ustack.conf"
echo "== installed to $PREFIX"

# A previous quickstart's instance is replaced, not duplicated (its echo server ended by PID).
if [[ -f "/run/ustack/$INSTANCE/ustack-echo.pid" ]]; then
	kill "$(cat "/run/ustack/$INSTANCE/ustack-echo.pid")" 2>/dev/null || true
fi
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

# A libsock application on the stack: the UDP echo server, detached so it outlives this script.
ECHO_PID_FILE="/run/ustack/$INSTANCE/ustack-echo.pid"
setsid "$PREFIX/bin/ustack-echo" --udp --port 7 --instance "$INSTANCE" \
	>"/run/ustack/$INSTANCE/ustack-echo.log" 2>&1 </dev/null &
echo $! >"$ECHO_PID_FILE"
for _ in $(seq 50); do grep -q ready "/run/ustack/$INSTANCE/ustack-echo.log" && break; sleep 0.1; done
echo "== the kernel's nc -u talks to ustack-echo on $ADDR:7"
reply=$(echo "hello, ustack" | ip netns exec "$NETNS" nc -u -w 1 "$ADDR" 7)
echo "sent 'hello, ustack', got back '$reply'"
[[ "$reply" == "hello, ustack" ]]

cat <<MSG

ustack instance '$INSTANCE' is serving $ADDR inside network namespace '$NETNS',
with ustack-echo (pid $(cat "$ECHO_PID_FILE")) answering UDP on port 7.
  counters:  ustackctl stats --instance $INSTANCE
  ping it:   ip netns exec $NETNS ping $ADDR
  talk:      ip netns exec $NETNS nc -u $ADDR 7
  stop it:   kill $(cat "$ECHO_PID_FILE"); ustackctl down --instance $INSTANCE
MSG
