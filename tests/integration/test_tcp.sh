#!/usr/bin/env bash
# test_tcp: stream sockets over ustack-tcpd against the kernel's TCP in the namespace, call by
# call (tests/integration/tcp_probe.c on libsock, tests/lib/tcp_peer.py on the kernel):
#   - a few streams each way, byte-exact (SHA-256 on both sides), the stack as client and as
#     server;
#   - 100 kernel connections at once to a stack listener (backlog 128, then 8: SYN cookies and
#     the kernel's retransmissions take the overflow), all accepted and echoed;
#   - connect to a closed port: ECONNREFUSED (blocking, and non-blocking through poll and
#     SO_ERROR), the socket connects again;
#   - a reset by the kernel: ECONNRESET, then EPIPE, POLLHUP;
#   - close with unread data and SO_LINGER 0: the kernel sees a reset;
#   - shutdown(SHUT_WR) half-close both ways: the other side answers after the FIN;
#   - every slot released and the pool back to its idle count at the end.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

PROBE="$BUILD/bin/tcp_probe"
PEER="$HERE/../lib/tcp_peer.py"
[[ -x "$PROBE" ]] || fail "no $PROBE"
OUT=$(mktemp -d "/tmp/ustack-$T_INST-tcp.XXXXXX")
trap 'rc=$?; set +e; rm -rf "$OUT"; (exit $rc); t_cleanup' EXIT

stack_up
export USTACK_INSTANCE="$T_INST"
ping_ok 56 2
idle=$(stat pool.free)

# peer_bg NAME ARGS...: the kernel side in the background, output in $OUT/NAME.
peer_bg() {
	local name=$1
	shift
	ip netns exec "$T_NS" "$PY" "$PEER" "$@" >"$OUT/$name" 2>&1 &
	T_PIDS+=($!)
	PEER_PID=$!
}
# probe_bg NAME ARGS...: the stack side in the background.
probe_bg() {
	local name=$1
	shift
	"$PROBE" "$@" >"$OUT/$name" 2>&1 &
	T_PIDS+=($!)
	PROBE_PID=$!
}
wait_listening() {
	for _ in $(seq 100); do grep -q '^listening' "$OUT/$1" && return 0; sleep 0.05; done
	cat "$OUT/$1"
	fail "$1 never listened"
}
# hash_of NAME WORD: the SHA-256 on the line starting with WORD.
hash_of() { awk -v w="$2" '$1==w {print $3; exit}' "$OUT/$1"; }
count_of() { awk -v w="$2" '$1==w {print $2; exit}' "$OUT/$1"; }
same_stream() {
	local a b n
	a=$(hash_of "$1" "$2")
	b=$(hash_of "$3" "$4")
	n=$(count_of "$1" "$2")
	[[ -n "$a" && "$a" == "$b" && "$n" == "$5" ]] ||
		{ cat "$OUT/$1" "$OUT/$3"; fail "$6: $n bytes, sha $a vs $b"; }
}

# ---- streams ----------------------------------------------------------------------------------
N=3000000
peer_bg k_recv recv 7001
wait_listening k_recv
"$PROBE" send "$T_PEER" 7001 "$N" >"$OUT/s_send" 2>&1 || { cat "$OUT/s_send"; fail "stack send"; }
wait "$PEER_PID" || { cat "$OUT/k_recv"; fail "kernel receiver"; }
same_stream s_send sent k_recv received "$N" "stack -> kernel"

peer_bg k_send serve-send 7002 "$N"
wait_listening k_send
"$PROBE" recv "$T_PEER" 7002 >"$OUT/s_recv" 2>&1 || { cat "$OUT/s_recv"; fail "stack recv"; }
wait "$PEER_PID" || { cat "$OUT/k_send"; fail "kernel sender"; }
same_stream s_recv received k_send sent "$N" "kernel -> stack (stack connects)"

probe_bg s_srv serve-recv 7003
wait_listening s_srv
ip netns exec "$T_NS" "$PY" "$PEER" send "$T_ADDR" 7003 "$N" >"$OUT/k_cli" 2>&1 ||
	{ cat "$OUT/k_cli"; fail "kernel client send"; }
wait "$PROBE_PID" || { cat "$OUT/s_srv"; fail "stack server recv"; }
same_stream s_srv received k_cli sent "$N" "kernel -> stack (stack accepts)"

probe_bg s_srv2 serve-send 7004 "$N"
wait_listening s_srv2
ip netns exec "$T_NS" "$PY" "$PEER" recv-from "$T_ADDR" 7004 >"$OUT/k_cli2" 2>&1 ||
	{ cat "$OUT/k_cli2"; fail "kernel client recv"; }
wait "$PROBE_PID" || { cat "$OUT/s_srv2"; fail "stack server send"; }
same_stream s_srv2 sent k_cli2 received "$N" "stack -> kernel (stack accepts)"
pass "streams both ways, the stack connecting and accepting: $N bytes each, byte-exact"

# ---- many connections, backlog, accept ---------------------------------------------------------
# 100 kernel connections at once to one stack listener: a libsock process holds 64 sockets, so
# the rest wait in the listener's queue until closed ones give their slots back (backlog 128,
# then 8: the queue overflows and SYN cookies and the kernel's retransmissions take the rest).
for backlog in 128 8; do
	probe_bg s_echo serve-echo 7010 100 "$backlog"
	wait_listening s_echo
	ip netns exec "$T_NS" "$PY" "$PEER" many "$T_ADDR" 7010 100 >"$OUT/k_many" 2>&1 ||
		{ cat "$OUT/k_many" "$OUT/s_echo"; fail "100 connections (backlog $backlog)"; }
	wait "$PROBE_PID" || { cat "$OUT/s_echo"; fail "stack echo server (backlog $backlog)"; }
	grep -q '^echoed 100 connections' "$OUT/s_echo" || { cat "$OUT/s_echo"; fail "echo count"; }
done
(($(stat tcpd.passive_opens) >= 200)) || fail "passive_opens $(stat tcpd.passive_opens)"
pass "100 kernel connections at once, all accepted and echoed (backlog 128 and 8: overflows $(stat tcpd.listen_overflows), cookies $(stat tcpd.syncookies_sent))"
# And 100 stack connections at once: two applications of 50, to a kernel echo server.
peer_bg k_echo echo-server 7011 100
wait_listening k_echo
probe_bg s_many1 many "$T_PEER" 7011 50
p1=$PROBE_PID
"$PROBE" many "$T_PEER" 7011 50 >"$OUT/s_many2" 2>&1 || { cat "$OUT/s_many2"; fail "50 stack connections"; }
wait "$p1" || { cat "$OUT/s_many1"; fail "50 stack connections (the other application)"; }
wait "$PEER_PID" || { cat "$OUT/k_echo"; fail "kernel echo server"; }
pass "100 stack connections at once from two applications, echoed"

# ---- errors ----------------------------------------------------------------------------------
"$PROBE" refused "$T_PEER" 7099 >"$OUT/refused" 2>&1 || { cat "$OUT/refused"; fail "refused"; }
pass "closed port: ECONNREFUSED (blocking, non-blocking with SO_ERROR), and again"

peer_bg k_rst reset-server 7020
wait_listening k_rst
"$PROBE" reset "$T_PEER" 7020 >"$OUT/reset" 2>&1 || { cat "$OUT/reset"; fail "reset"; }
wait "$PEER_PID" || fail "kernel reset server"
pass "reset by the peer: ECONNRESET, then EPIPE, POLLHUP"

peer_bg k_unread unread-server 7021
wait_listening k_unread
"$PROBE" unread-close "$T_PEER" 7021 >"$OUT/unread" 2>&1 || { cat "$OUT/unread"; fail "unread close"; }
wait "$PEER_PID" || { cat "$OUT/k_unread"; fail "the kernel saw no reset for close with unread data"; }
(($(stat tcpd.tcp_abort_on_close) >= 1)) || fail "tcp_abort_on_close not counted"
pass "close with unread data: the kernel sees a reset"

peer_bg k_l0 expect-reset-server 7022
wait_listening k_l0
"$PROBE" linger0 "$T_PEER" 7022 >"$OUT/linger0" 2>&1 || { cat "$OUT/linger0"; fail "linger0"; }
wait "$PEER_PID" || { cat "$OUT/k_l0"; fail "the kernel saw no reset for SO_LINGER 0"; }
grep -q "peer reset after b'abc'" "$OUT/k_l0" || { cat "$OUT/k_l0"; fail "data before the reset"; }
pass "SO_LINGER 0: the data, then a reset"

peer_bg k_half halfclose-server 7023
wait_listening k_half
"$PROBE" halfclose "$T_PEER" 7023 >"$OUT/half" 2>&1 || { cat "$OUT/half"; fail "half-close (stack client)"; }
wait "$PEER_PID" || { cat "$OUT/k_half"; fail "kernel half-close server"; }
probe_bg s_half serve-halfclose 7024
wait_listening s_half
ip netns exec "$T_NS" "$PY" "$PEER" halfclose-client "$T_ADDR" 7024 >"$OUT/k_half2" 2>&1 ||
	{ cat "$OUT/k_half2" "$OUT/s_half"; fail "half-close (kernel client)"; }
wait "$PROBE_PID" || { cat "$OUT/s_half"; fail "stack half-close server"; }
pass "shutdown(SHUT_WR): the answer comes after the FIN, both ways"

# ---- nothing left behind ---------------------------------------------------------------------
for _ in $(seq 100); do (($(stat tcpd.slots_bound) == 0)) && break; sleep 0.05; done
(($(stat tcpd.slots_bound) == 0)) || fail "slots still bound: $(stat tcpd.slots_bound)"
pool_settles "$idle" || fail "pool.free $(stat pool.free), idle $idle"
for k in tcpd.in_csum_errors tcpd.rx_place_errors tcpd.rx_place_nowhere tcpd.tx_drop_unbound \
	tcpd.tx_drop_ring tcpd.sessions_closed_hostile; do
	(($(stat "$k") == 0)) || fail "$k = $(stat "$k")"
done
pass "every slot released, the pool idle, no checksum or placement errors"
