#!/usr/bin/env bash
# Order on the link: numbered UDP datagrams, small (64 bytes) and MTU-sized (1472), as fast as
# the sender goes, from the kernel in the namespace to a libsock receiver on the stack and from
# a libsock sender to the kernel, with offload on and off. A datagram arriving after a
# higher-numbered one is an inversion: on one point-to-point link that is reordering, and it
# must never happen (it costs TCP spurious fast retransmits and SACK work). Losses are allowed
# (UDP under overload: the TAP's queue, the pool, the links) and only reported.
# Flat out, the TAP's queue is never empty and nicd's reads never wait; paced (25,000 a second
# in bursts of 16) they wait for frames in io_uring's poll, which is where reordering came
# from (nic_tap.c, "Receive order").
source "$(dirname "$0")/../lib/stack.sh"
ORDER="$BUILD/bin/udp_order"
export USTACK_INSTANCE="$T_INST"
COUNT=${ORDER_COUNT:-200000}
# Paced runs: 4 s each at 25,000/s. The driver that reordered did it 3-19 times per 100,000
# datagrams at 20,000/s, so each of the four paced runs would see it.
PACED_COUNT=${ORDER_PACED_COUNT:-100000}
LOG="/tmp/ustack-$T_INST-order.log"

# wait_ready FILE: the receiver bound its socket.
wait_ready() {
	for _ in $(seq 100); do
		grep -q ready "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "receiver not ready: $(cat "$1")"
}

# check WHAT N: the receiver's line in $LOG has 0 inversions and 0 duplicates (of N sent).
check() {
	local line rx inv dup
	line=$(grep '^received' "$LOG") || fail "$1: no result: $(cat "$LOG")"
	read -r _ rx _ _ _ inv _ dup <<<"$line"
	((rx > $2 / 100)) || fail "$1: only $rx of $2 arrived"
	((inv == 0 && dup == 0)) || fail "$1: $line ($(grep first "$LOG" || true))"
	pass "$1: $line"
}

# kernel_to_stack SIZE PORT [RATE]
kernel_to_stack() {
	local what="flat out" n=$COUNT
	[[ -n "${3:-}" ]] && what="at $3/s" n=$PACED_COUNT
	"$ORDER" stack-recv "$2" "$n" 60 >"$LOG" &
	local r=$!
	T_PIDS+=("$r")
	wait_ready "$LOG"
	in_ns "$ORDER" kernel-send "$T_ADDR" "$2" "$n" "$1" ${3:-} >/dev/null || fail "kernel-send"
	wait "$r" || fail "stack-recv: $(cat "$LOG")"
	check "offload $OFFLOAD, kernel -> stack $what, $n x $1 bytes" "$n"
}

# stack_to_kernel SIZE PORT
stack_to_kernel() {
	ip netns exec "$T_NS" "$ORDER" kernel-recv "$2" "$COUNT" 60 >"$LOG" &
	local r=$!
	T_PIDS+=("$r")
	wait_ready "$LOG"
	"$ORDER" stack-send "$T_PEER" "$2" "$COUNT" "$1" >/dev/null || fail "stack-send"
	wait "$r" || fail "kernel-recv: $(cat "$LOG")"
	check "offload $OFFLOAD, stack -> kernel, $COUNT x $1 bytes" "$COUNT"
}

run_all() {
	# The first datagram to the kernel waits for ARP; resolve it first so none is held back.
	ping_ok 56 1
	kernel_to_stack 64 6000
	kernel_to_stack 1472 6001
	kernel_to_stack 64 6004 25000
	kernel_to_stack 1472 6005 25000
	stack_to_kernel 64 6002
	stack_to_kernel 1472 6003
}

OFFLOAD=on
stack_up
run_all
"$CTL" down --instance "$T_INST" >/dev/null || fail "ustackctl down"
OFFLOAD=off
stack_up --offload off
run_all
rm -f "$LOG"
