#!/usr/bin/env bash
# ARP table flood (issue 6 §4): echo requests from 200 made-up on-link sources each make the
# stack resolve a neighbour that never answers. Right after the flood, and while a second one
# runs, traffic through the gateway (the kernel pinging from an off-link address, a fragmented
# ping, a fragmented UDP echo) and to a new on-link neighbour must be answered at the first try:
# the gateway's entry is pinned, unresolved entries are bounded apart from the rest and evict
# each other oldest first. The evictions are counted, nothing is refused, the pool goes idle.
source "$(dirname "$0")/../lib/stack.sh"
FLOOD="$(dirname "$0")/flood.py"
ECHO="$BUILD/bin/ustack-echo"
FAR=198.51.100.7     # off-link (TEST-NET-2): the stack reaches it through its gateway, $T_PEER
NEAR="$T_NET.250"    # a second kernel address on the link, first used after the flood
N=200                # flood sources $T_NET.10 .. $T_NET.209

stack_up
"$ECHO" --udp --port 7 --instance "$T_INST" &
T_PIDS+=($!)
in_ns ip link set lo up
in_ns ip addr add "$FAR/32" dev lo
MAC=$(stack_mac)
[[ -n "$MAC" ]] || fail "kernel did not resolve the stack's MAC"
for _ in $(seq 50); do
	in_ns "$PY" "$FLOOD" udp-echo "$T_PEER" "$T_ADDR" 7 8 0.1 >/dev/null 2>&1 && break
done
in_ns ping -n -q -c 1 -W 2 -I "$FAR" "$T_ADDR" >/dev/null || fail "ping from $FAR before the flood"
"$CTL" arp --instance "$T_INST" | grep -q "^$T_PEER lladdr .* REACHABLE" ||
	fail "gateway not resolved before the flood: $("$CTL" arp --instance "$T_INST")"
sleep 0.3
idle_free=$(stat pool.free)

# far_ping SIZE COUNT: every echo from $FAR answered within a second, at the first try.
far_ping() {
	local out
	out=$(in_ns ping -n -q -c "$2" -i 0.2 -w 10 -s "$1" -I "$FAR" "$T_ADDR" 2>&1) || true
	grep -q " $2 received" <<<"$out" || fail "ping -s $1 -I $FAR: $(grep -E 'transmitted' <<<"$out")"
}

echos0=$(stat ipd.icmp_in_echos)
evict0=$(stat ipd.arp_evict_incomplete)
drops0=$(stat ipd.arp_evict_drops)
failed0=$(stat ipd.arp_resolve_failed)
full0=$(stat ipd.arp_table_full)
lost0=$(in_drops)
in_ns "$PY" "$FLOOD" echo "$T_IF" "$MAC" "$T_NET" "$T_ADDR" 10 "$N" || fail "echo flood"
# The frames reach the stack in order through one TAP queue: what follows comes after the flood.
far_ping 56 3
pass "ping from $FAR through the gateway: 3/3 answered right after the flood"
far_ping 4000 2
pass "fragmented ping (-s 4000) through the gateway: 2/2 answered"
in_ns "$PY" "$FLOOD" udp-echo "$FAR" "$T_ADDR" 7 8000 1 || fail "UDP echo through the gateway"
pass "fragmented UDP echo (8,000 bytes) through the gateway at the first try"
in_ns ip addr add "$NEAR/32" dev "$T_IF"
out=$(in_ns ping -n -q -c 2 -i 0.2 -w 10 -I "$NEAR" "$T_ADDR" 2>&1) || true
grep -q " 2 received" <<<"$out" || fail "new neighbour $NEAR: $(grep transmitted <<<"$out")"
pass "a new on-link neighbour ($NEAR) resolved and answered at once"

# The flood's requests that arrived: all but what a burst lost on the way in (counted), less
# the 7 legitimate ones above. Each made one INCOMPLETE entry with one queued reply, which
# is now still waiting, or was evicted, or (on a slow run, 4 s on) gave up.
# One snapshot of the counters: an entry may give up between two separate reads.
snap=$("$CTL" stats --instance "$T_INST")
at() { awk -v k="$1" '$1==k {print $2}' <<<"$snap"; }
flood=$(($(at ipd.icmp_in_echos) - echos0 - 7))
lost=$(($(in_drops) - lost0))
((flood + lost >= N && flood > 64)) || fail "$flood of the $N flood requests arrived, $lost counted lost"
incomplete=$(at ipd.arp_table.incomplete)
((incomplete <= 32)) || fail "$incomplete INCOMPLETE entries, the bound is 32"
table=$("$CTL" arp --instance "$T_INST")
(($(grep -c INCOMPLETE <<<"$table") <= 32)) || fail "ustackctl arp lists more than 32 INCOMPLETE"
grep -q "^$T_PEER lladdr .* REACHABLE" <<<"$table" || fail "gateway lost: $table"
evicted=$(($(at ipd.arp_evict_incomplete) - evict0))
dropped=$(($(at ipd.arp_evict_drops) - drops0))
failed=$(($(at ipd.arp_resolve_failed) - failed0))
((evicted == flood - incomplete - failed)) ||
	fail "$flood flood entries: $evicted evicted + $incomplete waiting + $failed given up"
((dropped == evicted)) || fail "$dropped queued replies dropped with $evicted evicted entries"
(($(at ipd.arp_table_full) == full0)) || fail "arp_table_full moved: a new entry was refused"
pass "$flood unresolvable entries: $evicted evicted oldest first, $incomplete left (bound 32), gateway kept"

# A flood that goes on (300 sources a second for 2 s, 3 rounds over the same 200 addresses)
# while the kernel pings through the gateway: every ping answered.
ip netns exec "$T_NS" "$PY" "$FLOOD" echo "$T_IF" "$MAC" "$T_NET" "$T_ADDR" 10 "$N" 300 3 \
	>/dev/null &
FLOOD_PID=$!
T_PIDS+=($FLOOD_PID)
evict1=$(stat ipd.arp_evict_incomplete)
for _ in $(seq 150); do # scapy takes a moment to start: wait until the flood is evicting
	(($(stat ipd.arp_evict_incomplete) > evict1)) && break
	sleep 0.02
done
evict1=$(stat ipd.arp_evict_incomplete)
out=$(in_ns ping -n -q -c 15 -i 0.1 -w 10 -I "$FAR" "$T_ADDR" 2>&1) || true
grep -q " 15 received" <<<"$out" || fail "ping during the flood: $(grep transmitted <<<"$out")"
(($(stat ipd.arp_evict_incomplete) > evict1)) || fail "no eviction while the pings ran: no flood?"
wait "$FLOOD_PID" || fail "second flood"
pass "15/15 pings through the gateway answered while the flood went on"
(($(stat ipd.arp_table_full) == full0)) || fail "arp_table_full moved during the second flood"

# Every unresolved entry gives up after 4 s (1 request + 3 retries) and frees its queue; then
# the pool is as it was.
for _ in $(seq 60); do
	(($(stat ipd.arp_table.incomplete) == 0)) && break
	sleep 0.1
done
(($(stat ipd.arp_table.incomplete) == 0)) || fail "unresolved entries still there after 6 s"
(($(stat ipd.arp_table.queued_bufs) == 0)) || fail "buffers still queued with no entry waiting"
pool_settles "$idle_free" || fail "pool free $(stat pool.free), idle was $idle_free"
pass "pool back to its idle free count after the unresolved entries expired"
