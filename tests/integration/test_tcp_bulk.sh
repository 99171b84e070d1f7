#!/usr/bin/env bash
# test_tcp_bulk: 100 MB each way between the stack and the kernel, byte-exact (SHA-256 of what
# each side sent and received), the stack as client and as server, with the instance's offload
# on (TSO super-segments down, GRO super-frames up, partial checksums both ways) and then off
# (plain frames, every checksum in software). What went through is checked on the counters
# (super-segments and super-frames with offload on, none with it off), and the pool is back to
# its idle count after each run.
#   TCP_BULK_BYTES overrides the size (default 100,000,000).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

PROBE="$BUILD/bin/tcp_probe"
PEER="$HERE/../lib/tcp_peer.py"
N=${TCP_BULK_BYTES:-100000000}
OUT=$(mktemp -d "/tmp/ustack-$T_INST-bulk.XXXXXX")
trap 'rc=$?; set +e; rm -rf "$OUT"; (exit $rc); t_cleanup' EXIT

wait_listening() {
	for _ in $(seq 100); do grep -q '^listening' "$OUT/$1" && return 0; sleep 0.05; done
	cat "$OUT/$1"
	fail "$1 never listened"
}
field() { awk -v w="$2" -v f="$3" '$1==w {print $f; exit}' "$OUT/$1"; }
check_same() { # NAME_A WORD_A NAME_B WORD_B WHAT
	local a b
	a=$(field "$1" "$2" 3)
	b=$(field "$3" "$4" 3)
	[[ -n "$a" && "$a" == "$b" && "$(field "$1" "$2" 2)" == "$N" && "$(field "$3" "$4" 2)" == "$N" ]] ||
		{ cat "$OUT/$1" "$OUT/$3"; fail "$5: not byte-exact ($a vs $b)"; }
	echo "  $5: $N bytes, sha256 $a, $(field "$1" "$2" 6) Mbit/s"
}

# run_all LABEL: the four transfers.
run_all() {
	ip netns exec "$T_NS" "$PY" "$PEER" recv 7101 >"$OUT/k1" 2>&1 &
	local kp=$!
	T_PIDS+=($kp)
	wait_listening k1
	timeout 240 "$PROBE" send "$T_PEER" 7101 "$N" 11 >"$OUT/s1" 2>&1 || { cat "$OUT/s1"; fail "$1: stack client send"; }
	wait "$kp" || { cat "$OUT/k1"; fail "$1: kernel server recv"; }
	check_same s1 sent k1 received "$1 stack client -> kernel server"

	ip netns exec "$T_NS" "$PY" "$PEER" serve-send 7102 "$N" >"$OUT/k2" 2>&1 &
	kp=$!
	T_PIDS+=($kp)
	wait_listening k2
	timeout 240 "$PROBE" recv "$T_PEER" 7102 >"$OUT/s2" 2>&1 || { cat "$OUT/s2"; fail "$1: stack client recv"; }
	wait "$kp" || { cat "$OUT/k2"; fail "$1: kernel server send"; }
	check_same s2 received k2 sent "$1 kernel server -> stack client"

	"$PROBE" serve-recv 7103 >"$OUT/s3" 2>&1 &
	local sp=$!
	T_PIDS+=($sp)
	wait_listening s3
	timeout 240 ip netns exec "$T_NS" "$PY" "$PEER" send "$T_ADDR" 7103 "$N" >"$OUT/k3" 2>&1 ||
		{ cat "$OUT/k3"; fail "$1: kernel client send"; }
	wait "$sp" || { cat "$OUT/s3"; fail "$1: stack server recv"; }
	check_same s3 received k3 sent "$1 kernel client -> stack server"

	"$PROBE" serve-send 7104 "$N" 12 >"$OUT/s4" 2>&1 &
	sp=$!
	T_PIDS+=($sp)
	wait_listening s4
	timeout 240 ip netns exec "$T_NS" "$PY" "$PEER" recv-from "$T_ADDR" 7104 >"$OUT/k4" 2>&1 ||
		{ cat "$OUT/k4"; fail "$1: kernel client recv"; }
	wait "$sp" || { cat "$OUT/s4"; fail "$1: stack server send"; }
	check_same s4 sent k4 received "$1 stack server -> kernel client"
}

# Counters that must stay 0: anything the stack lost or refused on the way.
no_errors() {
	local k
	for k in tcpd.in_csum_errors tcpd.rx_place_errors tcpd.rx_place_nowhere tcpd.tx_drop_unbound \
		tcpd.tx_drop_ring tcpd.tx_drop_nobuf tcpd.rx_drop_detached ipd.ip_out_drop_gso \
		ipd.ip_out_drop_gso_mtu ipd.ip_in_drop_offload; do
		(($(stat "$k") == 0)) || fail "$1: $k = $(stat "$k")"
	done
}

stack_up
export USTACK_INSTANCE="$T_INST"
ping_ok 56 2
idle=$(stat pool.free)
run_all "offload on:"
(($(stat tcpd.tx_tso) > 0)) || fail "offload on: no TSO super-segment sent"
(($(stat tcpd.rx_gro_frames) > 0)) || fail "offload on: no GRO super-frame received"
(($(stat nicd.tx_gso_frames) > 0)) || fail "offload on: nicd wrote no super-segment"
no_errors "offload on"
pool_settles "$idle" || fail "offload on: pool.free $(stat pool.free), idle $idle"
pass "offload on: 4 x $N bytes byte-exact ($(stat tcpd.tx_tso) TSO super-segments, $(stat tcpd.rx_gro_frames) GRO super-frames, $(stat tcpd.retrans_segs) retransmitted segments)"

"$CTL" down --instance "$T_INST" >/dev/null || fail "ustackctl down"
stack_up --offload off
idle=$(stat pool.free)
run_all "offload off:"
(($(stat tcpd.tx_tso) == 0 && $(stat tcpd.rx_gro_frames) == 0)) ||
	fail "offload off: super-segments $(stat tcpd.tx_tso), super-frames $(stat tcpd.rx_gro_frames)"
(($(stat tcpd.rx_csum_checked) > 0)) || fail "offload off: no checksum verified in tcpd"
no_errors "offload off"
pool_settles "$idle" || fail "offload off: pool.free $(stat pool.free), idle $idle"
pass "offload off: 4 x $N bytes byte-exact, plain frames, checksums in software"
