#!/usr/bin/env bash
# Unmodified programs on the stack through libsock-preload.so, against the Linux kernel in the
# test namespace. Each preloaded program runs in a network namespace of its own with nothing
# in it (unshare -n: lo down, no routes), so a call the shim let through to the kernel could
# reach nothing: every byte that arrives went through the stack.
#   - Debian's curl fetches a file from the kernel's python3 -m http.server (poll,
#     non-blocking connect, SO_ERROR, send/recv); sha256 compared;
#   - Debian's python3 -m http.server, preloaded, serves the kernel's curl (bind, listen,
#     accept4, poll, a 4 MiB response through send); sha256 compared;
#   - netcat-openbsd, started by `ustackctl exec`, sends a file to the kernel's nc -l
#     (read/write on the socket, shutdown);
#   - tests/lib/preload_calls.py walks select, poll, read/write/readv/writev,
#     sendmsg/recvmsg, FIONBIO timeouts, dup/dup2, AF_UNIX passing through, SOCK_RAW refused,
#     epoll over stack and kernel sockets, and an asyncio client (epoll) echoing 300 KB;
#   - without USTACK_INSTANCE the shim says so and IPv4 sockets fail;
#   - tcpd and udpd counted the traffic, and hold no session or socket once the programs left.
source "$(dirname "$0")/../lib/stack.sh"
PRELOAD="$BUILD/lib/libsock-preload.so"
KHTTP_PORT=8000
SHTTP_PORT=8081
NC_PORT=9200
UECHO_PORT=9000
TECHO_PORT=9300
[[ -f "$PRELOAD" ]] || fail "no $PRELOAD"
[[ -x "$BUILD/bin/ustack-tcpd" ]] || fail "no ustack-tcpd in $BUILD/bin: these tests need tcpd"

WORK=$(mktemp -d "/tmp/ustack-$T_INST-preload.XXXXXX")
trap 'rc=$?; set +e; rm -rf "$WORK"; (exit $rc); t_cleanup' EXIT
mkdir "$WORK/www" "$WORK/out"
head -c 3000017 /dev/urandom >"$WORK/www/blob"
head -c 4194304 /dev/urandom >"$WORK/www/big"
head -c 500009 /dev/urandom >"$WORK/nc.in"
same() { [[ $(sha256sum <"$1") == $(sha256sum <"$2") ]]; }

# app CMD...: CMD preloaded, in an empty network namespace of its own, served by our instance.
# Backgrounded, not through the function (a backgrounded function is a subshell whose PID is not
# the program's): "${APP[@]}" CMD &, where unshare and env exec in place.
APP=(unshare -n env USTACK_INSTANCE="$T_INST" LD_PRELOAD="$PRELOAD")
app() { "${APP[@]}" "$@"; }

stack_up
stats0=$("$CTL" stats --instance "$T_INST")
# counter_in STATS NAME: NAME's value in a saved `ustackctl stats` (fails the test if absent).
counter_in() {
	local v
	v=$(awk -v k="$2" '$1==k {print $2}' <<<"$1")
	[[ -n "$v" ]] || fail "counter $2 not reported"
	echo "$v"
}

# --- curl through the stack -> the kernel's http.server ---------------------------------------
ip netns exec "$T_NS" "$PY" -m http.server "$KHTTP_PORT" --bind "$T_PEER" \
	--directory "$WORK/www" >"$WORK/khttp.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do
	in_ns ss -Hltn "sport = :$KHTTP_PORT" | grep -q . && break
	sleep 0.05
done
app curl -sS --fail --max-time 60 -o "$WORK/out/blob" "http://$T_PEER:$KHTTP_PORT/blob" ||
	fail "curl (preloaded) from the kernel's http.server"
same "$WORK/out/blob" "$WORK/www/blob" || fail "curl (preloaded): content differs"
pass "curl, preloaded, fetched 3,000,017 bytes from the kernel's http.server, sha256 equal"

# --- the kernel's curl -> python3 -m http.server through the stack ----------------------------
"${APP[@]}" "$PY" -m http.server "$SHTTP_PORT" --bind 0.0.0.0 --directory "$WORK/www" \
	>"$WORK/shttp.log" 2>&1 &
T_PIDS+=($!)
ok=0
for _ in $(seq 100); do
	if in_ns curl -sS --fail --max-time 30 -o "$WORK/out/big" \
		"http://$T_ADDR:$SHTTP_PORT/big" 2>/dev/null; then
		ok=1
		break
	fi
	sleep 0.1
done
((ok)) || fail "the kernel's curl got nothing from the preloaded http.server: $(cat "$WORK/shttp.log")"
same "$WORK/out/big" "$WORK/www/big" || fail "http.server (preloaded): content differs"
in_ns curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "http://$T_ADDR:$SHTTP_PORT/none" \
	>"$WORK/code" || true
[[ $(cat "$WORK/code") == 404 ]] || fail "http.server (preloaded): /none gave $(cat "$WORK/code"), not 404"
pass "python3 -m http.server, preloaded, served 4 MiB and a 404 to the kernel's curl"

# --- nc: read/write on a socket, shutdown at EOF ----------------------------------------------
ip netns exec "$T_NS" nc -l "$T_PEER" "$NC_PORT" >"$WORK/out/nc" 2>"$WORK/nc.log" &
NC_PID=$!
T_PIDS+=($NC_PID)
for _ in $(seq 100); do
	in_ns ss -Hltn "sport = :$NC_PORT" | grep -q . && break
	sleep 0.05
done
# through ustackctl exec, which sets the same two variables
unshare -n "$CTL" exec --instance "$T_INST" -- nc -N -w 20 "$T_PEER" "$NC_PORT" <"$WORK/nc.in" ||
	fail "nc (ustackctl exec) to the kernel's nc -l"
wait "$NC_PID" || fail "the kernel's nc -l ended with an error: $(cat "$WORK/nc.log")"
same "$WORK/out/nc" "$WORK/nc.in" || fail "nc (preloaded): $(stat -c %s "$WORK/out/nc") bytes arrived, content differs"
pass "nc, through ustackctl exec, sent 500,009 bytes to the kernel's nc -l, sha256 equal"

# --- the calls curl and nc do not make --------------------------------------------------------
ip netns exec "$T_NS" "$PY" "$(dirname "$0")/../lib/udp_peer.py" echo-server "$UECHO_PORT" 60 &
T_PIDS+=($!)
ip netns exec "$T_NS" "$PY" "$(dirname "$0")/../lib/tcp_peer.py" echo-server "$TECHO_PORT" 3 \
	>"$WORK/techo.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do
	in_ns ss -Hltn "sport = :$TECHO_PORT" | grep -q . &&
		in_ns ss -Hlun "sport = :$UECHO_PORT" | grep -q . && break
	sleep 0.05
done
out=$(app "$PY" "$(dirname "$0")/../lib/preload_calls.py" "$T_PEER" "$UECHO_PORT" "$TECHO_PORT" 2>&1) ||
	fail "preload_calls.py: $out"
[[ $out =~ ^ok\ ([0-9]+)$ ]] || fail "preload_calls.py: $out"
pass "preload_calls.py, preloaded: ${BASH_REMATCH[1]} checks of select, poll, read/write, readv/writev, sendmsg/recvmsg, timeouts, dup/dup2, epoll, asyncio, AF_UNIX, SOCK_RAW"

# --- no instance named, or none up ------------------------------------------------------------
if out=$("$CTL" exec --instance "nope$$" -- true 2>&1); then
	fail "ustackctl exec ran a program on an instance that is not up"
fi
grep -q "is not up" <<<"$out" || fail "ustackctl exec, no such instance: $out"
pass "ustackctl exec refuses an instance that is not up"

if out=$(unshare -n env -u USTACK_INSTANCE LD_PRELOAD="$PRELOAD" "$PY" -c \
	'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)' 2>&1); then
	fail "a preloaded program without USTACK_INSTANCE got an IPv4 socket"
fi
grep -q "USTACK_INSTANCE is not set" <<<"$out" && grep -q "Invalid argument" <<<"$out" ||
	fail "without USTACK_INSTANCE: $out"
pass "without USTACK_INSTANCE the shim says so and socket() fails with EINVAL"

# --- the stack did the work, and was left clean -----------------------------------------------
stats1=$("$CTL" stats --instance "$T_INST")
segs=$(($(counter_in "$stats1" tcpd.out_segs) - $(counter_in "$stats0" tcpd.out_segs)))
dgrams=$(($(counter_in "$stats1" udpd.out_datagrams) - $(counter_in "$stats0" udpd.out_datagrams)))
((segs > 1000 && dgrams >= 3)) ||
	fail "the stack did not carry the traffic: tcpd sent $segs segments, udpd $dgrams datagrams"
pass "tcpd sent $segs segments and udpd $dgrams datagrams for them"
kill "${T_PIDS[@]}" 2>/dev/null || true
for _ in $(seq 100); do
	(($(stat tcpd.sessions_in_use) == 0 && $(stat udpd.sessions_in_use) == 0 &&
		$(stat udpd.sockets_in_use) == 0)) && break
	sleep 0.1
done
(($(stat tcpd.sessions_in_use) == 0 && $(stat udpd.sessions_in_use) == 0 &&
	$(stat udpd.sockets_in_use) == 0)) ||
	fail "sessions left: tcpd $(stat tcpd.sessions_in_use), udpd $(stat udpd.sessions_in_use) ($(stat udpd.sockets_in_use) sockets)"
pass "no session left in tcpd or udpd once the programs ended"
