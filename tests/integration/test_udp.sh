#!/usr/bin/env bash
# UDP between the Linux kernel (python sockets, nc) in the test namespace and libsock
# applications on the stack: every size both ways, fragmented datagrams, port unreachable in
# both directions, Linux errnos, poll/non-blocking/timeouts, two applications at once, and a
# 10,000-datagram run in which received + counted drops equal sent.
source "$(dirname "$0")/../lib/stack.sh"
PEER_PY="$(dirname "$0")/../lib/udp_peer.py"
PROBE="$BUILD/bin/udp_probe"
ECHO="$BUILD/bin/ustack-echo"
export USTACK_INSTANCE="$T_INST"

stack_up

"$ECHO" --udp --port 7 --instance "$T_INST" &
T_PIDS+=($!)
"$ECHO" --udp --port 8 --instance "$T_INST" &
T_PIDS+=($!)
for _ in $(seq 50); do
	in_ns "$PY" -c "
import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.1)
s.sendto(b'hi',('$T_ADDR',7)); s.recv(10); s.sendto(b'hi',('$T_ADDR',8)); s.recv(10)" 2>/dev/null && break
done

in_ns "$PY" "$PEER_PY" sizes "$T_ADDR" 7 || fail "kernel -> stack echo"
pass "kernel -> stack: every size echoed byte-exact by a libsock application"

out=$(echo "hello over nc" | in_ns nc -u -w 1 "$T_ADDR" 8) || true
[[ "$out" == "hello over nc" ]] || fail "nc -u to the second application: '$out'"
pass "nc -u: the second application (port 8) answers at the same time"

NC_OUT="/tmp/ustack-$T_INST-nc.out"
ip netns exec "$T_NS" timeout 5 nc -u -l -W 1 -p 9100 >"$NC_OUT" &
NC=$!
sleep 0.3
"$PROBE" send "$T_PEER" 9100 "hello from libsock" || fail "send to nc"
wait "$NC" || true
[[ "$(cat "$NC_OUT")" == "hello from libsock" ]] || fail "nc -u -l received '$(cat "$NC_OUT")'"
rm -f "$NC_OUT"
pass "nc -u -l in the kernel receives a libsock application's datagram"

ip netns exec "$T_NS" "$PY" "$PEER_PY" echo-server 9000 60 &
T_PIDS+=($!)
sleep 0.3
"$PROBE" echo-client "$T_PEER" 9000 || fail "stack -> kernel echo"
pass "stack -> kernel: every size echoed byte-exact by a kernel socket"

"$PROBE" refused "$T_PEER" 9999 || fail "ECONNREFUSED"
pass "libsock: ICMP port unreachable from the kernel -> ECONNREFUSED"

before=$(stat udpd.no_ports)
in_ns "$PY" "$PEER_PY" refused "$T_ADDR" 4444 || fail "kernel: no port unreachable"
(($(stat udpd.no_ports) == before + 1)) || fail "udpd.no_ports not counted"
pass "kernel: closed stack port -> ICMP port unreachable (ConnectionRefusedError), counted"

"$PROBE" errors "$T_PEER" || fail "errno checks"
pass "Linux errnos for bad arguments"
"$PROBE" poll "$T_PEER" 9000 || fail "poll/non-blocking/timeouts"
pass "poll over stack and ordinary fds, non-blocking, SO_RCVTIMEO, MSG_PEEK, MSG_TRUNC"
"$PROBE" threads "$T_PEER" 9000 || fail "threads"
pass "4 threads on their own sockets at once"

# An application that sends and exits at once: udpd still sends what send() accepted. A burst
# this size may overrun the links (counted drops, as a NIC ring overruns); what must never
# happen is a datagram that is neither delivered nor counted.
tx_drops() {
	local sum=0 v
	for k in udpd.tx_drop_link udpd.tx_drop_nobuf udpd.tx_drop_no_socket udpd.tx_drop_bad_record \
		ipd.link_to_nicd_tx_drop_full ipd.ip_out_discards nicd.tx_drop_full nicd.tx_errors; do
		v=$("$CTL" stats --instance "$T_INST" | awk -v k="$k" '$1==k {print $2}')
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
t0=$(tx_drops)
COUNT_LOG="/tmp/ustack-$T_INST-count.log"
ip netns exec "$T_NS" "$PY" "$PEER_PY" count 9200 4 >"$COUNT_LOG" &
COUNTER=$!
for _ in $(seq 50); do grep -q ready "$COUNT_LOG" && break; sleep 0.1; done
"$PROBE" burst "$T_PEER" 9200 3000 || fail "burst"
wait "$COUNTER" || true
counted=$(awk '$1=="counted" {print $2}' "$COUNT_LOG")
rm -f "$COUNT_LOG"
t1=$(tx_drops)
((counted + t1 - t0 == 3000)) ||
	fail "an application sent 3000 datagrams and exited: $counted delivered + $((t1 - t0)) counted drops"
pass "an application that exits right after sending: $counted delivered + $((t1 - t0)) counted drops = 3000"

# 10,000 datagrams: what the application received plus what was counted as dropped on the way
# must be exactly what the kernel sent. The way starts at the TAP's queue in the kernel: a burst
# that outruns nicd overflows it as it would a NIC's ring, and the kernel counts those
# (tx_dropped of the TAP's kernel side).
drops() {
	local sum v
	sum=$(in_ns cat "/sys/class/net/$T_IF/statistics/tx_dropped")
	for k in udpd.rcvbuf_errors udpd.in_errors udpd.in_csum_errors ipd.link_to_udpd_tx_drop_full \
		nicd.rx_drop_nobuf nicd.link_to_ipd_tx_drop_full udpd.link_from_ipd_rx_drop_stale; do
		v=$("$CTL" stats --instance "$T_INST" | awk -v k="$k" '$1==k {print $2}')
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
d0=$(drops)
SINK_LOG="/tmp/ustack-$T_INST-sink.log"
"$PROBE" sink 5000 10000 30 >"$SINK_LOG" &
SINK=$!
T_PIDS+=($SINK)
for _ in $(seq 50); do grep -q ready "$SINK_LOG" && break; sleep 0.1; done
in_ns "$PY" "$PEER_PY" blast "$T_ADDR" 5000 10000 5000 >/dev/null || fail "blast"
wait "$SINK" || true
got=$(awk '$1=="received" {print $2}' "$SINK_LOG")
d1=$(drops)
rm -f "$SINK_LOG"
((got + d1 - d0 == 10000)) || fail "10,000 sent: $got received + $((d1 - d0)) counted drops"
pass "10,000 datagrams: $got received + $((d1 - d0)) counted drops = sent"

sleep 0.3
idle=$(($(stat pool.count) - $(stat pool.held.nicd)))
pool_settles "$idle" || fail "pool free $(stat pool.free), idle $idle"
pass "pool back to idle"
