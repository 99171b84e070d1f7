#!/usr/bin/env bash
# quickstart: from a fresh Debian 12 machine (as root) to a running ustack instance "demo" in its
# own network namespace, answering the kernel's pings, and a libsock echo server answering the
# kernel's nc -u. Once the stack has TCP (ustack-tcpd installed), also: the kernel's curl
# fetching files from ustack-http on the stack, and the stack's ustack-http get, then Debian's
# own curl through the preload shim, fetching one from the kernel's python3 -m http.server.
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

# A previous quickstart's instance is replaced, not duplicated (its servers ended by PID).
for p in ustack-echo ustack-http kernel-http; do
	if [[ -f "/run/ustack/$INSTANCE/$p.pid" ]]; then
		kill "$(cat "/run/ustack/$INSTANCE/$p.pid")" 2>/dev/null || true
	fi
done
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

if [[ ! -x "$PREFIX/bin/ustack-tcpd" ]]; then
	cat <<MSG

ustack instance '$INSTANCE' is serving $ADDR inside network namespace '$NETNS',
with ustack-echo (pid $(cat "$ECHO_PID_FILE")) answering UDP on port 7.
  counters:  ustackctl stats --instance $INSTANCE
  ping it:   ip netns exec $NETNS ping $ADDR
  talk:      ip netns exec $NETNS nc -u $ADDR 7
  stop it:   kill $(cat "$ECHO_PID_FILE"); ustackctl down --instance $INSTANCE
MSG
	exit 0
fi

# HTTP over the stack's TCP, both ways. The files live in the instance's runtime directory
# (ustackctl down removes them).
RT=/run/ustack/$INSTANCE
HTTP_PORT=8080
KHTTP_PORT=8000
mkdir -p "$RT/www" "$RT/kwww" "$RT/fetched"
echo "hello from ustack-http, served over ustack's TCP" >"$RT/www/index.html"
head -c 4194304 /dev/urandom >"$RT/www/4MiB.bin"
head -c 3145728 /dev/urandom >"$RT/kwww/3MiB.bin"
setsid "$PREFIX/bin/ustack-http" serve --port "$HTTP_PORT" --root "$RT/www" --instance "$INSTANCE" \
	>"$RT/ustack-http.log" 2>&1 </dev/null &
echo $! >"$RT/ustack-http.pid"
for _ in $(seq 50); do grep -q ready "$RT/ustack-http.log" && break; sleep 0.1; done
echo "== the kernel's curl fetches from ustack-http on $ADDR:$HTTP_PORT"
ip netns exec "$NETNS" curl -sS --fail "http://$ADDR:$HTTP_PORT/"
ip netns exec "$NETNS" curl -sS --fail -o "$RT/fetched/4MiB.bin" "http://$ADDR:$HTTP_PORT/4MiB.bin"
cmp "$RT/fetched/4MiB.bin" "$RT/www/4MiB.bin"
echo "4 MiB over curl, sha256 $(sha256sum <"$RT/fetched/4MiB.bin" | cut -c1-16)... equal to the file's"

setsid ip netns exec "$NETNS" python3 -m http.server "$KHTTP_PORT" --bind "$PEER" \
	--directory "$RT/kwww" >"$RT/kernel-http.log" 2>&1 </dev/null &
echo $! >"$RT/kernel-http.pid"
for _ in $(seq 50); do
	ip netns exec "$NETNS" curl -s -o /dev/null "http://$PEER:$KHTTP_PORT/" && break
	sleep 0.1
done
echo "== the stack's ustack-http get fetches from the kernel's python3 -m http.server on $PEER:$KHTTP_PORT"
"$PREFIX/bin/ustack-http" get "http://$PEER:$KHTTP_PORT/3MiB.bin" -o "$RT/fetched/3MiB.bin" \
	--instance "$INSTANCE"
cmp "$RT/fetched/3MiB.bin" "$RT/kwww/3MiB.bin"
echo "3 MiB over ustack-http get, equal to the file"
# An unmodified program: Debian's curl with the preload shim, in a network namespace of its own
# with nothing in it, so only the stack can carry its bytes.
PRELOAD=""
for f in "$PREFIX"/lib/libsock-preload.so "$PREFIX"/lib/*/libsock-preload.so; do
	[[ -f "$f" ]] && PRELOAD=$f && break
done
[[ -n "$PRELOAD" ]] || { echo "quickstart: no libsock-preload.so under $PREFIX/lib" >&2; exit 1; }
echo "== Debian's curl, unmodified, through the stack (LD_PRELOAD=$PRELOAD)"
unshare -n env USTACK_INSTANCE="$INSTANCE" LD_PRELOAD="$PRELOAD" \
	curl -sS --fail -o "$RT/fetched/3MiB.curl" "http://$PEER:$KHTTP_PORT/3MiB.bin"
cmp "$RT/fetched/3MiB.curl" "$RT/kwww/3MiB.bin"
echo "3 MiB over a preloaded curl, equal to the file"
echo "== ustackctl sockets --instance $INSTANCE"
"$PREFIX/bin/ustackctl" sockets --instance "$INSTANCE"

cat <<MSG

ustack instance '$INSTANCE' is serving $ADDR inside network namespace '$NETNS', with
ustack-echo (pid $(cat "$ECHO_PID_FILE")) answering UDP on port 7 and ustack-http
(pid $(cat "$RT/ustack-http.pid")) serving $RT/www over TCP on port $HTTP_PORT.
  counters:  ustackctl stats --instance $INSTANCE
  sockets:   ustackctl sockets --instance $INSTANCE
  ping it:   ip netns exec $NETNS ping $ADDR
  talk:      ip netns exec $NETNS nc -u $ADDR 7
  fetch:     ip netns exec $NETNS curl http://$ADDR:$HTTP_PORT/
  any program through the stack:
             ustackctl exec --instance $INSTANCE -- curl http://$PEER:$KHTTP_PORT/
             (that is: USTACK_INSTANCE=$INSTANCE LD_PRELOAD=$PRELOAD curl ...)
  stop it:   kill $(cat "$ECHO_PID_FILE") $(cat "$RT/ustack-http.pid") $(cat "$RT/kernel-http.pid"); ustackctl down --instance $INSTANCE
MSG
