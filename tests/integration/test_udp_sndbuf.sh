#!/usr/bin/env bash
# SO_SNDBUF on libsock sockets, enforced as Linux does for UDP (udp_sndbuf.c semantics: EAGAIN
# when full and non-blocking, POLLOUT, a blocking send waits for room, SO_SNDTIMEO), and the
# point of it: a blocking sender loses nothing inside the stack. Every datagram send() accepted
# must reach the kernel receiver in the namespace or be counted dropped by that kernel: its
# /proc/net/snmp Udp InDatagrams (read by the receiver) + RcvbufErrors (its buffer full), and
# the TAP's rx_dropped (the kernel's backlog full when nicd writes faster than it takes
# frames), and no drop counter of udpd, ipd or nicd may move.
source "$(dirname "$0")/../lib/stack.sh"
PEER_PY="$(dirname "$0")/../lib/udp_peer.py"
PROG="$BUILD/bin/udp_sndbuf"
export USTACK_INSTANCE="$T_INST"
T_TMP=$(mktemp -d "/tmp/ustack-$T_INST-sndbuf.XXXXXX")
trap 'rc=$?; set +e; rm -rf "$T_TMP"; (exit $rc); t_cleanup' EXIT
SINK_PORT=9100

udpd_field() {
	"$CTL" status --instance "$T_INST" 2>/dev/null |
		awk -v f="$1" '$1=="udpd" {for(i=1;i<NF;i++) if($i==f) print $(i+1)}'
}
# The namespace kernel's Udp counter NAME (the second Udp: line of /proc/net/snmp).
snmp() {
	in_ns awk -v k="$1" '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) n[i] = $i; h = 1 }
		else for (i = 2; i <= NF; i++) if (n[i] == k) print $i }' /proc/net/snmp
}
# A kernel receiver counting for SECONDS, in the background; "ready" once bound.
sink_start() {
	# Emptied here, not only by the redirection below: that one happens in the forked child,
	# maybe after the loop below has found the previous receiver's "ready" in the file.
	: >"$T_TMP/sink"
	ip netns exec "$T_NS" "$PY" "$PEER_PY" count $SINK_PORT "$1" >"$T_TMP/sink" &
	SINK=$!
	T_PIDS+=($SINK)
	for _ in $(seq 100); do grep -q ready "$T_TMP/sink" && return 0; sleep 0.05; done
	fail "the kernel receiver did not start"
}
tap_dropped() { in_ns cat "/sys/class/net/$T_IF/statistics/rx_dropped"; }
snap_kernel() {
	IN0=$(snmp InDatagrams)
	RB0=$(snmp RcvbufErrors)
	TD0=$(tap_dropped)
}
# accounted SENT: wait (up to 10 s) until the kernel has delivered or counted dropped SENT
# datagrams since snap_kernel; prints "delivered rcvbuf_dropped tap_dropped".
accounted() {
	local in rb td
	for _ in $(seq 200); do
		in=$(($(snmp InDatagrams) - IN0))
		rb=$(($(snmp RcvbufErrors) - RB0))
		td=$(($(tap_dropped) - TD0))
		((in + rb + td >= $1)) && break
		sleep 0.05
	done
	echo "$in $rb $td"
}
stack_drops() { # BEFORE AFTER: every drop counter of the stack's layers that moved
	awk 'NR == FNR { a[$1] = $2; next }
	     $1 ~ /^(nicd|ipd|udpd)\./ && $1 ~ /(_drop_|_drops$|_errors$|_full$|_dropped$)/ &&
	     $1 != "ipd.eth_drop_not_for_us" { d = $2 - a[$1]; if (d) print $1, d }' "$1" "$2"
}

stack_up
in_ns ping -c 1 -W 2 "$T_ADDR" >/dev/null || fail "the stack does not answer ping"
pid0=$(udpd_field pid)
[[ -n "$pid0" ]] || fail "udpd is not serving"

log "semantics: a full send buffer, with udpd stopped"
sink_start 8
snap_kernel
rc=0
"$PROG" semantics "$T_PEER" $SINK_PORT "$pid0" >"$T_TMP/sem" 2>&1 || rc=$?
sed 's/^/    /' "$T_TMP/sem"
((rc == 0)) && pass "SO_SNDBUF: EAGAIN, POLLOUT, SO_SNDTIMEO and a blocking send as Linux" ||
	fail "SO_SNDBUF semantics (exit $rc)"
sent=$(awk '$1=="sent" {print $2}' "$T_TMP/sem")
read -r in rb td < <(accounted "$sent")
((in == sent && rb == 0 && td == 0)) &&
	pass "every one of the $sent datagrams send() accepted arrived" ||
	fail "$sent sent, $in arrived, $rb + $td dropped by the receiving kernel"
wait "$SINK" || true

for spec in "200000 64" "30000 1472"; do
	read -r count size <<<"$spec"
	log "lossless: a blocking sender, $count datagrams of $size bytes"
	sink_start 30
	"$CTL" stats --instance "$T_INST" >"$T_TMP/before"
	snap_kernel
	t0=$(date +%s.%N)
	out=$("$PROG" blast "$T_PEER" $SINK_PORT "$count" "$size") || fail "blast: $out"
	t1=$(date +%s.%N)
	sent=$(awk '$1=="sent" {print $2}' <<<"$out")
	read -r in rb td < <(accounted "$sent")
	"$CTL" stats --instance "$T_INST" >"$T_TMP/after"
	kill "$SINK" 2>/dev/null || true
	wait "$SINK" 2>/dev/null || true
	rate=$(awk -v n="$sent" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
	log "$sent sent ($rate/s), $in received; dropped by the receiving kernel: $rb for its" \
		"receive buffer, $td at the TAP"
	drops=$(stack_drops "$T_TMP/before" "$T_TMP/after")
	ok=1
	[[ -z "$drops" ]] && pass "no drop inside the stack ($size bytes)" || {
		echo "FAIL: drops inside the stack ($size bytes): $(tr '\n' ' ' <<<"$drops")"
		ok=0
	}
	((sent == count && in + rb + td == sent)) &&
		pass "every datagram send() accepted arrived or was counted dropped by the kernel" || {
		echo "FAIL: $count to send, $sent accepted, $in arrived, $((rb + td)) counted dropped:" \
			"$((sent - in - rb - td)) lost"
		ok=0
	}
	if ((!ok)); then
		awk 'NR == FNR { a[$1] = $2; next } { d = $2 - a[$1]; if (d) print "    " $1, d }' \
			"$T_TMP/before" "$T_TMP/after"
		in_ns cat /proc/net/snmp
		fail "a blocking sender lost datagrams ($size bytes)"
	fi
done

pid1=$(udpd_field pid)
restarts=$(udpd_field restarts)
[[ "$pid1" == "$pid0" && "$restarts" == 0 ]] && pass "udpd the same process, never restarted" ||
	fail "udpd pid $pid0 -> $pid1, restarts $restarts"
