#!/usr/bin/env bash
# Malformed frames injected from the kernel side while the kernel keeps pinging: each kind is
# dropped and counted under its own counter, the pings keep being answered, and the pool is back
# to its idle free count afterwards.
source "$(dirname "$0")/../lib/stack.sh"
INJECT="$(dirname "$0")/inject_malformed.py"
N=5

stack_up
MAC=$(stack_mac)
[[ -n "$MAC" ]] || fail "kernel did not resolve the stack's MAC"
ping_ok 56 3
sleep 0.3
idle_free=$(stat pool.free)

ip netns exec "$T_NS" ping -n -i 0.05 -c 200 -W 2 "$T_ADDR" >"/tmp/ustack-$T_INST-ping.log" 2>&1 &
T_PIDS+=($!)
PING_PID=$!

# kind → counter that must grow by exactly N
declare -A EXPECT=(
	[eth_short]=ipd.eth_drop_ethertype
	[ip_no_room]=ipd.ip_in_drop_short
	[ihl_below_5]=ipd.ip_in_drop_ihl
	[ihl_15_no_room]=ipd.ip_in_drop_ihl
	[totlen_beyond_frame]=ipd.ip_in_drop_total_len
	[totlen_below_ihl]=ipd.ip_in_drop_total_len
	[bad_checksum]=ipd.ip_in_drop_csum
	[version_6]=ipd.ip_in_drop_version
	[opt_len_0]=ipd.ip_in_drop_options
	[opt_len_1]=ipd.ip_in_drop_options
	[opt_past_ihl]=ipd.ip_in_drop_options
	[icmp_short]=ipd.icmp_in_drop_short
	[arp_bad_hlen]=ipd.arp_drop_bad_hw
	[arp_bad_plen]=ipd.arp_drop_bad_proto
	[frag_oversize]=ipd.ip_reasm_oversize
)
for kind in eth_short ip_no_room ihl_below_5 ihl_15_no_room totlen_beyond_frame totlen_below_ihl \
	bad_checksum version_6 opt_len_0 opt_len_1 opt_past_ihl icmp_short arp_bad_hlen \
	arp_bad_plen frag_oversize; do
	counter=${EXPECT[$kind]}
	before=$(stat "$counter")
	in_ns "$PY" "$INJECT" "$T_IF" "$MAC" "$T_PEER" "$T_ADDR" "$kind" "$N" || fail "inject $kind"
	after=$before
	for _ in $(seq 50); do # the frames cross two processes: give them up to 1 s
		after=$(stat "$counter")
		((after >= before + N)) && break
		sleep 0.02
	done
	((after == before + N)) || fail "$kind: $counter went $before -> $after, expected +$N"
	pass "$kind: $N dropped, counted in $counter"
done

wait "$PING_PID" || true
grep -q " 200 received" "/tmp/ustack-$T_INST-ping.log" ||
	fail "pings were disturbed: $(grep transmitted "/tmp/ustack-$T_INST-ping.log")"
rm -f "/tmp/ustack-$T_INST-ping.log"
pass "200 of 200 pings answered during the injection"

sleep 0.3
pool_settles "$idle_free" || fail "pool free count $(stat pool.free), idle was $idle_free"
free=$idle_free
pass "pool back to its idle free count ($free)"
