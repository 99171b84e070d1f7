#!/usr/bin/env bash
# test_tcp_netem: TCP between the stack and the kernel over an impaired wire, one case each:
# 5 % loss, 25 % reordering (10 ms delay, 25 % of frames ahead of it), 5 % duplication, 1 %
# corruption, 50 ms delay. In each case two connections at once, 20 MB each way (the stack
# sending on one, receiving on the other), byte-exact (SHA-256 on both sides); then the counters
# that say the impairment was met the way TCP should meet it (retransmissions under loss,
# checksum drops under corruption, D-SACKs under duplication, ...), and the pool back to its idle
# count. And in each case the applications the issue names interoperate through the same wire:
# the kernel's curl fetches a file from `ustack-http serve` on the stack, and `ustack-http get`
# fetches one from the kernel's `python3 -m http.server`, both byte-exact.
#
# The impairment: this kernel has no sch_netem, so tests/integration/netem_relay.c does netem's
# work in userspace, in both directions: it owns the kernel's side of the wire (a TAP of its own
# holding $T_PEER) and relays frames to and from the stack's TAP, which the kernel itself ignores
# (it is the only port of a bridge that stays down). The stack runs with offload off, plain frames on the wire.
#   TCP_NETEM_BYTES overrides the size (default 20,000,000).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

PROBE="$BUILD/bin/tcp_probe"
RELAY="$BUILD/bin/netem_relay"
HTTP="$BUILD/bin/ustack-http"
HTTP_PORT=8080
KHTTP_PORT=8000
HTTP_BYTES=2000000
PEER="$HERE/../lib/tcp_peer.py"
[[ -x "$PROBE" && -x "$RELAY" && -x "$HTTP" ]] || fail "no $PROBE, $RELAY or $HTTP"
N=${TCP_NETEM_BYTES:-20000000}
OUT=$(mktemp -d "/tmp/ustack-$T_INST-netem.XXXXXX")
KIF="rly$$"
trap 'rc=$?; set +e; rm -rf "$OUT"; (exit $rc); t_cleanup' EXIT

wait_for() { # FILE WORD
	for _ in $(seq 100); do grep -q "^$2" "$OUT/$1" && return 0; sleep 0.05; done
	cat "$OUT/$1"
	fail "$1: no '$2'"
}
field() { awk -v w="$2" -v f="$3" '$1==w {print $f; exit}' "$OUT/$1"; }
check_same() { # NAME_A WORD_A NAME_B WORD_B WHAT
	local a b
	a=$(field "$1" "$2" 3)
	b=$(field "$3" "$4" 3)
	[[ -n "$a" && "$a" == "$b" && "$(field "$1" "$2" 2)" == "$N" && "$(field "$3" "$4" 2)" == "$N" ]] ||
		{ cat "$OUT/$1" "$OUT/$3"; fail "$5: not byte-exact ($a vs $b)"; }
	echo "  $5: $N bytes byte-exact, $(field "$1" "$2" 6) Mbit/s"
}
# snap: every counter now, for delta.
snap() { "$CTL" stats --instance "$T_INST" >"$OUT/stats.$1"; }
delta() { # NAME from snap a to snap b
	local a b
	a=$(awk -v k="$1" '$1==k {print $2}' "$OUT/stats.a")
	b=$(awk -v k="$1" '$1==k {print $2}' "$OUT/stats.b")
	[[ -n "$b" ]] || fail "counter $1 not reported"
	echo $((b - ${a:-0}))
}
relay_stat() { # DIR WORD: from the relay's report
	awk -v d="$1" -v w="$2" '$1==d {for (i=2;i<NF;i++) if ($i==w) print $(i+1)}' "$OUT/$RLOG"
}

stack_up --offload off
export USTACK_INSTANCE="$T_INST"
ping_ok 56 2
# The kernel ignores the stack's TAP from now on: it becomes the only port of a bridge that stays
# down (whose rx handler drops every frame), while the relay hears it (AF_PACKET taps run before
# the rx handler) and speaks for the kernel through a TAP of its own. (No nft or iptables here.)
# The relay's TAP takes over the kernel's MAC too, so the stack's ARP entry stays right.
KMAC=$(in_ns cat "/sys/class/net/$T_IF/address")
in_ns ip addr flush dev "$T_IF"
in_ns ip link set "$T_IF" address 02:6e:65:74:65:6d || fail "new MAC for $T_IF"
in_ns ip link add "br$$" type bridge || fail "bridge"
in_ns ip link set "$T_IF" master "br$$" || fail "bridge port"
# The HTTP ends, for the whole run: ustack-http on the stack, the kernel's http.server (on every
# address: $T_PEER moves to each case's relay TAP).
mkdir "$OUT/www" "$OUT/kwww" "$OUT/got"
head -c "$HTTP_BYTES" /dev/urandom >"$OUT/www/s.bin"
head -c "$HTTP_BYTES" /dev/urandom >"$OUT/kwww/k.bin"
"$HTTP" serve --port "$HTTP_PORT" --root "$OUT/www" --quiet >"$OUT/http.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$OUT/http.log" && break; sleep 0.05; done
grep -q ready "$OUT/http.log" || { cat "$OUT/http.log"; fail "ustack-http serve: not ready"; }
(cd "$OUT/kwww" && exec ip netns exec "$T_NS" "$PY" -m http.server "$KHTTP_PORT" \
	>"$OUT/khttp.log" 2>&1) &
T_PIDS+=($!)
idle=$(stat pool.free)
bound0=$(stat tcpd.slots_bound) # ustack-http's listener
CASE=0

# http_both LABEL: curl from ustack-http, ustack-http get from the kernel, sha256 compared.
http_both() {
	local got
	in_ns curl -sS --fail --max-time 120 -o "$OUT/got/c.$CASE" "http://$T_ADDR:$HTTP_PORT/s.bin" ||
		fail "$1: curl from ustack-http"
	got=$(sha256sum <"$OUT/got/c.$CASE")
	[[ "$got" == "$(sha256sum <"$OUT/www/s.bin")" ]] || fail "$1: curl got different bytes"
	"$HTTP" get "http://$T_PEER:$KHTTP_PORT/k.bin" -o "$OUT/got/g.$CASE" --timeout 120 --quiet ||
		fail "$1: ustack-http get from the kernel's http.server"
	got=$(sha256sum <"$OUT/got/g.$CASE")
	[[ "$got" == "$(sha256sum <"$OUT/kwww/k.bin")" ]] || fail "$1: ustack-http get got different bytes"
	echo "  HTTP: curl <- ustack-http and ustack-http get <- http.server, $HTTP_BYTES bytes each, byte-exact"
}

# impaired LABEL RELAY_ARGS...: the relay with those impairments, both transfers through it.
impaired() {
	local label=$1 t0=$SECONDS
	shift
	# a new file for each case: waiting on the last one's would race the truncation
	CASE=$((CASE + 1))
	RLOG="relay.$CASE"
	ip netns exec "$T_NS" "$RELAY" "$T_IF" "$KIF" "$KMAC" "$@" >"$OUT/$RLOG" 2>&1 &
	local rp=$!
	T_PIDS+=($rp)
	wait_for "$RLOG" ready
	in_ns ip link set "$KIF" mtu "$(in_ns cat "/sys/class/net/$T_IF/mtu")" up
	in_ns ip addr add "$T_PEER/24" dev "$KIF"
	snap a

	ip netns exec "$T_NS" "$PY" "$PEER" recv $((7200 + 2 * CASE)) >"$OUT/k1.$CASE" 2>&1 &
	local k1=$!
	ip netns exec "$T_NS" "$PY" "$PEER" serve-send $((7201 + 2 * CASE)) "$N" >"$OUT/k2.$CASE" 2>&1 &
	local k2=$!
	T_PIDS+=($k1 $k2)
	wait_for k1.$CASE listening
	wait_for k2.$CASE listening
	timeout 120 "$PROBE" send "$T_PEER" $((7200 + 2 * CASE)) "$N" 21 >"$OUT/s1.$CASE" 2>&1 &
	local s1=$!
	timeout 120 "$PROBE" recv "$T_PEER" $((7201 + 2 * CASE)) >"$OUT/s2.$CASE" 2>&1 &
	local s2=$!
	T_PIDS+=($s1 $s2)
	wait "$s1" || { cat "$OUT/s1.$CASE" "$OUT/k1.$CASE"; fail "$label: stack sender"; }
	wait "$s2" || { cat "$OUT/s2.$CASE" "$OUT/k2.$CASE"; fail "$label: stack receiver"; }
	wait "$k1" || { cat "$OUT/k1.$CASE"; fail "$label: kernel receiver"; }
	wait "$k2" || { cat "$OUT/k2.$CASE"; fail "$label: kernel sender"; }
	http_both "$label"
	# The wire stays until every connection has let its slot go (its FIN acknowledged): taking
	# it away earlier would leave one retransmitting its FIN into nothing.
	for _ in $(seq 200); do (($(stat tcpd.slots_bound) == bound0)) && break; sleep 0.05; done
	(($(stat tcpd.slots_bound) == bound0)) || fail "$label: slots still bound: $(stat tcpd.slots_bound), $bound0 before"
	snap b
	kill -TERM "$rp"
	wait "$rp" || { cat "$OUT/$RLOG"; fail "$label: relay"; }
	echo "$label ($((SECONDS - t0)) s):"
	check_same s1.$CASE sent k1.$CASE received "stack -> kernel"
	check_same s2.$CASE received k2.$CASE sent "kernel -> stack"
	grep -v ready "$OUT/$RLOG" | sed 's/^/  relay /'
	local k
	for k in tcpd.retrans_segs tcpd.tcp_fast_retrans tcpd.tcp_timeouts tcpd.tcp_loss_probes \
		tcpd.tcp_loss_probe_recovery tcpd.tcp_rack_overflow tcpd.tcp_dsack_undo \
		tcpd.tcp_sack_recovery tcpd.tcp_dsack_recv tcpd.tcp_dsack_sent tcpd.tcp_ofo_queue \
		tcpd.in_csum_errors ipd.ip_in_drop_csum tcpd.paws_estab_rejected; do
		grep -q "^$k " "$OUT/stats.b" && echo "  $k +$(delta "$k")"
	done
	(($(relay_stat to-stack overflow) == 0 && $(relay_stat to-kernel overflow) == 0)) ||
		fail "$label: the relay overflowed (the test's own loss)"
	pool_settles "$idle" || fail "$label: pool.free $(stat pool.free), idle $idle"
}

# Without corruption, no frame may fail a checksum.
no_csum_errors() {
	(($(delta tcpd.in_csum_errors) == 0 && $(delta ipd.ip_in_drop_csum) == 0)) ||
		fail "checksum errors without corruption: tcp $(delta tcpd.in_csum_errors), ip $(delta ipd.ip_in_drop_csum)"
}

impaired "5 % loss" --loss 5
(($(relay_stat to-stack lost) > 0 && $(relay_stat to-kernel lost) > 0)) || fail "loss: nothing lost"
(($(delta tcpd.retrans_segs) > 0)) || fail "loss: no retransmission"
no_csum_errors
(($(delta tcpd.tcp_ofo_queue) > 0)) || fail "loss: nothing held out of order"
pass "5 % loss both ways: 20 MB each way byte-exact, $(delta tcpd.retrans_segs) segments retransmitted"

impaired "25 % reordering" --delay 10 --reorder 25
(($(relay_stat to-stack reordered) > 0)) || fail "reorder: nothing reordered"
(($(delta tcpd.tcp_ofo_queue) > 0)) || fail "reorder: nothing held out of order"
no_csum_errors
pass "25 % reordering: byte-exact, $(delta tcpd.tcp_ofo_queue) segments queued out of order"

impaired "5 % duplication" --dup 5
(($(relay_stat to-stack dup) > 0)) || fail "dup: nothing duplicated"
(($(delta tcpd.tcp_dsack_sent) > 0)) || fail "dup: no D-SACK sent for duplicate data"
no_csum_errors
pass "5 % duplication: byte-exact, $(delta tcpd.tcp_dsack_sent) D-SACKs sent"

impaired "1 % corruption" --corrupt 1
(($(relay_stat to-stack corrupt) > 0)) || fail "corrupt: nothing corrupted"
(($(delta tcpd.in_csum_errors) > 0)) || fail "corrupt: no TCP checksum error counted"
(($(delta tcpd.retrans_segs) > 0)) || fail "corrupt: no retransmission"
pass "1 % corruption: byte-exact, $(delta tcpd.in_csum_errors) TCP checksum errors dropped"

impaired "50 ms delay" --delay 50
(($(delta tcpd.retrans_segs) == 0 && $(delta tcpd.tcp_timeouts) == 0)) ||
	fail "delay: $(delta tcpd.retrans_segs) retransmissions, $(delta tcpd.tcp_timeouts) timeouts on a lossless path"
no_csum_errors
pass "50 ms delay each way: byte-exact, no retransmission"

for _ in $(seq 100); do (($(stat tcpd.slots_bound) == bound0)) && break; sleep 0.05; done
(($(stat tcpd.slots_bound) == bound0)) || fail "slots still bound: $(stat tcpd.slots_bound), $bound0 before"
pool_settles "$idle" || fail "pool.free $(stat pool.free), idle $idle"
pass "every slot released, the pool idle"
