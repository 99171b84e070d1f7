#!/usr/bin/env bash
# test_tcp_user_timeout: an established connection whose path turns into a black hole ends with
# ETIMEDOUT once TCP_USER_TIMEOUT (2 s) has passed (RFC 5482, Linux's semantics): two stack
# connections to a kernel echo server, each echoes a line; then the kernel stops hearing the
# stack at all (its side of the TAP becomes the only port of a bridge that stays down, whose rx
# handler drops every frame: this kernel has no netem and no nft/iptables) and the stack sends.
# The first connection must report the timeout through poll (POLLERR) and recv (ETIMEDOUT, then
# EPIPE), the second through a blocking send or SO_ERROR; both within 2..5 s of the send (not
# before the timeout, and not much after it). tcpd counts both as aborted on timeout, and
# releases every slot and pool buffer.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

PROBE="$BUILD/bin/tcp_probe"
PEER="$HERE/../lib/tcp_peer.py"
[[ -x "$PROBE" ]] || fail "no $PROBE"
OUT=$(mktemp -d "/tmp/ustack-$T_INST-uto.XXXXXX")
trap 'rc=$?; set +e; exec 3>&-; rm -rf "$OUT"; (exit $rc); t_cleanup' EXIT

wait_for() { # FILE WORD
	for _ in $(seq 200); do grep -q "^$2" "$OUT/$1" && return 0; sleep 0.05; done
	cat "$OUT/$1"
	fail "$1: no '$2'"
}

stack_up
export USTACK_INSTANCE="$T_INST"
ping_ok 56 2
idle=$(stat pool.free)
aborts=$(stat tcpd.tcp_abort_on_timeout)

ip netns exec "$T_NS" "$PY" "$PEER" echo-server 7301 2 >"$OUT/k_echo" 2>&1 &
T_PIDS+=($!)
wait_for k_echo listening
mkfifo "$OUT/go"
"$PROBE" user-timeout "$T_PEER" 7301 2000 <"$OUT/go" >"$OUT/probe" 2>&1 &
pp=$!
T_PIDS+=($pp)
exec 3>"$OUT/go"
wait_for probe established
in_ns ip link add "bh$$" type bridge || fail "bridge"
in_ns ip link set "$T_IF" master "bh$$" || fail "black hole"
echo go >&3
wait "$pp" || { cat "$OUT/probe"; fail "the timeout as the stack reports it"; }
cat "$OUT/probe"
(($(stat tcpd.tcp_abort_on_timeout) - aborts == 2)) ||
	fail "tcp_abort_on_timeout +$(($(stat tcpd.tcp_abort_on_timeout) - aborts)), expected +2"
(($(stat tcpd.tcp_timeouts) > 0)) || fail "no retransmission timeout counted"
pass "black hole: ETIMEDOUT after TCP_USER_TIMEOUT through poll, recv, send/SO_ERROR ($(stat tcpd.tcp_timeouts) RTOs)"

for _ in $(seq 100); do (($(stat tcpd.slots_bound) == 0)) && break; sleep 0.05; done
(($(stat tcpd.slots_bound) == 0)) || fail "slots still bound: $(stat tcpd.slots_bound)"
pool_settles "$idle" || fail "pool.free $(stat pool.free), idle $idle"
pass "every slot released, the pool idle"
