#!/usr/bin/env bash
# libsock says what Linux says: one scenario of datagram socket calls (sock_parity.c) runs once
# against the kernel's sockets in the test namespace and once against libsock on the stack, and
# the two transcripts of return values, errnos, names, option values and control messages must
# be identical line for line (issue 6, section 7). Each world's peer is the other world: a
# reflector there reports the TTL and TOS that reached it, so IP_TTL and IP_TOS are checked on
# the wire. Neither side has a default route, so a destination beyond the link is unreachable in
# both. Then: datagrams through the stack's loopback interface never reach the kernel's side of
# the TAP.
source "$(dirname "$0")/../lib/stack.sh"
PARITY="$BUILD/bin/sock_parity"
PORT=20000 # below the ephemeral range (32768-60999): an ephemeral port never reads as P+k
OUT="/tmp/ustack-$T_INST-parity"
export USTACK_INSTANCE="$T_INST"

# As stack_up, without a gateway: the kernel side has no default route either.
[[ $(id -u) -eq 0 ]] || fail "needs root (network namespaces, TAP)"
"$CTL" up --instance "$T_INST" --netns "$T_NS" --addr "$T_ADDR/24" --peer "$T_PEER" ||
	fail "ustackctl up"
T_IF=$(awk -F' *= *' '$1=="ifname"{print $2}' "/etc/ustack/$T_INST.conf")
[[ -n "$T_IF" ]] || fail "no ifname in the instance config"
in_ns ip link set lo up # the kernel world's loopback interface
rm -f "$OUT".*

"$PARITY" reflect --world ustack --port "$PORT" --seconds 240 >"$OUT.refl-ustack" 2>&1 &
T_PIDS+=($!)
ip netns exec "$T_NS" "$PARITY" reflect --world kernel --port "$PORT" --seconds 240 \
	>"$OUT.refl-kernel" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do
	grep -q ready "$OUT.refl-ustack" 2>/dev/null && grep -q ready "$OUT.refl-kernel" 2>/dev/null &&
		break
	sleep 0.05
done
grep -q ready "$OUT.refl-ustack" && grep -q ready "$OUT.refl-kernel" || fail "reflectors not ready"

ip netns exec "$T_NS" timeout 120 "$PARITY" run --world kernel --self "$T_PEER" \
	--remote "$T_ADDR" --prefix 24 --port "$PORT" --ifname "$T_IF" >"$OUT.kernel" 2>&1 ||
	fail "the kernel world did not finish: $(tail -n 3 "$OUT.kernel")"
timeout 120 "$PARITY" run --world ustack --self "$T_ADDR" --remote "$T_PEER" --prefix 24 \
	--port "$PORT" >"$OUT.ustack" 2>&1 ||
	fail "the ustack world did not finish: $(tail -n 3 "$OUT.ustack")"
steps=$(grep -c '^[0-9]' "$OUT.kernel")
((steps > 200)) || fail "the kernel transcript has only $steps steps"
if ! diff -u <(grep -v '^# world' "$OUT.kernel") <(grep -v '^# world' "$OUT.ustack") >"$OUT.diff"; then
	cat "$OUT.diff"
	fail "libsock and the kernel differ (above: - kernel, + libsock)"
fi
pass "$steps calls: libsock's transcript is the kernel's, line for line"

# The loopback interface: 2000 datagrams from one stack socket to another through 127.0.0.1.
# ipd's loopback interface carries them, and the kernel's side of the TAP sees none (a stray
# ARP or two may cross meanwhile; 2000 datagrams cannot hide). As everywhere in the stack, a
# full link between two layers drops and counts (a loaded machine can make one): what arrived
# plus what was counted must be what was sent.
tap_rx() { in_ns cat "/sys/class/net/$T_IF/statistics/rx_packets"; }
lo_drops() {
	local sum=0 v
	for k in udpd.tx_drop_link udpd.tx_drop_nobuf udpd.rcvbuf_errors ipd.ip_out_discards \
		ipd.link_to_udpd_tx_drop_full udpd.link_from_ipd_rx_drop_stale; do
		v=$("$CTL" stats --instance "$T_INST" | awk -v k="$k" '$1==k {print $2}')
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
lo0=$(stat ipd.ip_out_loopback)
d0=$(lo_drops)
rx0=$(tap_rx)
res=$("$PARITY" loburst --world ustack --port $((PORT + 50)) --count 2000) || fail "loburst"
rx1=$(tap_rx)
d1=$(lo_drops)
lo1=$(stat ipd.ip_out_loopback)
got=${res#received }
((got + d1 - d0 == 2000)) || fail "through 127.0.0.1: $got received + $((d1 - d0)) counted drops of 2000"
((got >= 1900)) || fail "through 127.0.0.1: only $got of 2000 received"
((lo1 - lo0 >= got)) || fail "ipd.ip_out_loopback grew by $((lo1 - lo0)), $got received"
((rx1 - rx0 <= 5)) || fail "the kernel's side of the TAP received $((rx1 - rx0)) frames meanwhile"
pass "2000 datagrams through 127.0.0.1: $got delivered + $((d1 - d0)) counted drops, by ipd's loopback interface; $((rx1 - rx0)) frames on the wire"

rm -f "$OUT".*
