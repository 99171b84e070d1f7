#!/usr/bin/env bash
# Reassembly flood (issue 6 §4): hundreds of incomplete fragmented datagrams with distinct ids
# from a made-up source fill first every reassembly slot (one-fragment datagrams), then all the
# reassembly memory (ten-fragment ones). Right after each flood, and while a third one runs,
# fragmented UDP echoes and fragmented pings from the kernel must be answered at the first try:
# the least recently fed datagram is evicted to make room. Every datagram the flood started is
# still held or counted as evicted, none is refused, and the bounds hold.
source "$(dirname "$0")/../lib/stack.sh"
FLOOD="$(dirname "$0")/flood.py"
ECHO="$BUILD/bin/ustack-echo"
JUNK="$T_NET.200" # the flood's made-up source: nobody answers for it, nothing it sends completes
SLOTS=64          # IP_REASS_SLOTS
MAX_BUFS=512      # reass_max_buffers

stack_up
"$ECHO" --udp --port 7 --instance "$T_INST" &
T_PIDS+=($!)
MAC=$(stack_mac)
[[ -n "$MAC" ]] || fail "kernel did not resolve the stack's MAC"
for _ in $(seq 50); do
	in_ns "$PY" "$FLOOD" udp-echo "$T_PEER" "$T_ADDR" 7 8 0.1 >/dev/null 2>&1 && break
done
in_ns "$PY" "$FLOOD" udp-echo "$T_PEER" "$T_ADDR" 7 8000 1 >/dev/null || fail "echo before the flood"
sleep 0.3
idle_free=$(stat pool.free)
(($(stat ipd.reasm_table.datagrams) == 0)) || fail "reassembly not empty before the flood"

# settle REQDS0 DROPS0 FRAMES: wait (up to 2 s) until each of the FRAMES the flood sent has
# reached reassembly or been counted as dropped on the way in; GOT is how many arrived.
settle() {
	for _ in $(seq 100); do
		GOT=$(($(stat ipd.ip_reasm_reqds) - $1))
		((GOT + $(in_drops) - $2 >= $3)) && return 0
		sleep 0.02
	done
	fail "$3 frames sent, $GOT arrived, $(($(in_drops) - $2)) counted as dropped"
}

# echo_ok SIZE COUNT WHAT: COUNT fragmented UDP echoes and 2 fragmented pings, first try each.
echo_ok() {
	local out
	in_ns "$PY" "$FLOOD" udp-echo "$T_PEER" "$T_ADDR" 7 "$1" 1 "$2" || fail "UDP echo $3"
	out=$(in_ns ping -n -q -c 2 -i 0.2 -w 10 -s "$1" "$T_ADDR" 2>&1) || true
	grep -q " 2 received" <<<"$out" || fail "ping -s $1 $3: $(grep transmitted <<<"$out")"
}

evicted0=$(stat ipd.ip_reasm_evicted)
mem0=$(stat ipd.ip_reasm_mem_drops)
oks0=$(stat ipd.ip_reasm_oks)

# 1. The slot bound: 300 datagrams of one 1,480-byte fragment each (a burst may overrun the way
# in: what arrived is what counts).
reqds=$(stat ipd.ip_reasm_reqds)
drops=$(in_drops)
in_ns "$PY" "$FLOOD" frags "$T_IF" "$MAC" "$JUNK" "$T_ADDR" 1000 300 1 || fail "slot flood"
settle "$reqds" "$drops" 300
got=$GOT
held=$(stat ipd.reasm_table.datagrams)
evicted=$(($(stat ipd.ip_reasm_evicted) - evicted0))
((got > SLOTS + 100)) || fail "only $got of 300 fragments arrived"
((held == SLOTS)) || fail "$held datagrams held after $got, the table has $SLOTS slots"
((evicted == got - SLOTS)) || fail "$evicted evicted, expected $((got - SLOTS))"
echo_ok 8000 3 "after the slot flood"
pass "$got one-fragment datagrams: $evicted evicted oldest first; 8,000-byte UDP echoes and pings answered at once"

# 2. The memory bound: 100 datagrams of ten 1,480-byte fragments (a buffer each), 1,000 buffers.
d0=$(stat ipd.reasm_table.datagrams)
e0=$(stat ipd.ip_reasm_evicted)
reqds=$(stat ipd.ip_reasm_reqds)
drops=$(in_drops)
in_ns "$PY" "$FLOOD" frags "$T_IF" "$MAC" "$JUNK" "$T_ADDR" 2000 100 10 || fail "memory flood"
settle "$reqds" "$drops" 1000
got=$GOT
bufs=$(stat ipd.reasm_table.bufs)
d1=$(stat ipd.reasm_table.datagrams)
evicted=$(($(stat ipd.ip_reasm_evicted) - e0))
((got > 600)) || fail "only $got of 1000 fragments arrived"
((bufs <= MAX_BUFS && bufs > MAX_BUFS - 10)) || fail "$bufs buffers held, the bound is $MAX_BUFS"
# Nothing of the flood completes: each datagram it started is held, or was evicted. A datagram
# is started by any of its fragments, so only one whose ten all were lost is not.
lost=$((1000 - got))
((evicted <= 100 + d0 - d1 && evicted >= 100 - lost / 10 + d0 - d1)) ||
	fail "$evicted evicted; $d0 held before, 100 started ($lost frames lost), $d1 held after"
echo_ok 30000 3 "after the memory flood"
pass "$got fragments of 100 ten-fragment datagrams: $bufs of $MAX_BUFS buffers held, $evicted evicted; 30,000-byte echoes answered at once"

# 3. A flood that goes on (one-fragment datagrams, 600 a second for 2 s) while the kernel
# sends fragmented echoes: each one is reassembled, both ways, at the first try.
ip netns exec "$T_NS" "$PY" "$FLOOD" frags "$T_IF" "$MAC" "$JUNK" "$T_ADDR" 5000 1200 1 600 \
	>/dev/null &
FLOOD_PID=$!
T_PIDS+=($FLOOD_PID)
e0=$(stat ipd.ip_reasm_evicted)
for _ in $(seq 150); do # scapy takes a moment to start: wait until the flood is evicting
	(($(stat ipd.ip_reasm_evicted) > e0)) && break
	sleep 0.02
done
e0=$(stat ipd.ip_reasm_evicted)
echo_ok 8000 10 "during the flood"
(($(stat ipd.ip_reasm_evicted) > e0 + 50)) || fail "the flood did not run while the echoes did"
wait "$FLOOD_PID" || fail "third flood"
pass "10 fragmented UDP echoes and 2 fragmented pings answered while the flood went on"

(($(stat ipd.ip_reasm_mem_drops) == mem0)) || fail "fragments refused: ip_reasm_mem_drops moved"
((($(stat ipd.ip_reasm_oks) - oks0) >= 3 + 2 + 3 + 2 + 10 + 2)) || fail "too few reassembled"
(($(stat ipd.reasm_table.bufs) <= MAX_BUFS)) || fail "reassembly over its bound"
# What is not free in the pool is exactly what the flood's datagrams still hold (they time out
# after 30 s; the pool goes back to idle then).
for _ in $(seq 60); do
	out=$("$CTL" stats --instance "$T_INST")
	free=$(awk '$1=="pool.free" {print $2}' <<<"$out")
	bufs=$(awk '$1=="ipd.reasm_table.bufs" {print $2}' <<<"$out")
	((free + bufs == idle_free)) && break
	sleep 0.05
done
((free + bufs == idle_free)) || fail "pool free $free + reassembly $bufs != idle $idle_free"
pass "no fragment refused; the pool holds exactly the flood's $bufs buffers beyond idle"
