#!/usr/bin/env bash
# Offload through the TAP's virtio-net header ([nic] offload), with the kernel as the peer:
#  (a) on (the default): nicd has TUN_F_CSUM | TUN_F_TSO4 set on the TAP, which `ethtool -k`
#      on the kernel side shows as checksumming and TSO on, UDP segmentation off;
#  (b) the kernel's UDP to the stack now arrives with partial checksums (CHECKSUM_PARTIAL: the
#      checksum field holds the pseudo-header sum), and a libsock echo server still echoes every
#      size byte-exact, fragmented ones included, with no checksum error anywhere; a UDP_SEGMENT
#      send arrives as ordinary datagrams: without TUN_F_USO the kernel cuts it before the TAP,
#      so no UDP GSO frame ever reaches nicd (nic_vnet.c would drop one, counted); a TCP
#      super-frame as the kernel's TSO makes them crosses nicd and ipd whole (as one GRO frame
#      in a buffer chain), and every buffer comes back;
#  (c) off (`ustackctl up --offload off`): the TAP's offloads are off, every frame plain, the
#      same echoes work, and the same super-frame is cut by the kernel before it reaches us.
# End-to-end TSO from the stack needs tcpd; the unit tests (test_nic_tap) show the kernel
# taking and cutting our super-segments.
source "$(dirname "$0")/../lib/stack.sh"
PEER_PY="$(dirname "$0")/../lib/udp_peer.py"
INJECT="$(dirname "$0")/inject_tso.py"
ECHO="$BUILD/bin/ustack-echo"
export USTACK_INSTANCE="$T_INST"
command -v ethtool >/dev/null || fail "ethtool missing (deploy/install-deps.sh installs it)"

ECHO_PID=
echo_start() {
	"$ECHO" --udp --port 7 --instance "$T_INST" &
	ECHO_PID=$!
	T_PIDS+=("$ECHO_PID")
	for _ in $(seq 50); do
		in_ns "$PY" -c "
import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.1)
s.sendto(b'hi',('$T_ADDR',7)); s.recv(10)" 2>/dev/null && return 0
	done
	fail "the echo server does not answer"
}
echo_stop() {
	kill "$ECHO_PID" 2>/dev/null || true
	wait "$ECHO_PID" 2>/dev/null || true
}

# feature NAME: on/off as ethtool -k reports it for the TAP's kernel side.
feature() { in_ns ethtool -k "$T_IF" | awk -v k="$1:" '$1 == k { print $2 }'; }

# UDP_SEGMENT: one send of 5 x 1000 bytes; 5 echoes of 1000 bytes each, byte-exact.
udp_gso_echo() {
	in_ns "$PY" - "$T_ADDR" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, 103, 1000)  # UDP_SEGMENT
s.settimeout(2)
data = bytes((i * 13) & 0xFF for i in range(5000))
s.sendto(data, (sys.argv[1], 7))
got = sorted(s.recv(65535) for _ in range(5))
want = sorted(data[i:i + 1000] for i in range(0, 5000, 1000))
sys.exit(0 if got == want else 1)
EOF
}

idle_pool() {
	local idle
	idle=$(($(stat pool.count) - $(stat pool.held.nicd)))
	pool_settles "$idle" || fail "pool free $(stat pool.free), idle $idle"
}

# ---- (a) on ---------------------------------------------------------------------------------
stack_up
[[ $(feature tx-checksumming) == on ]] || fail "tx-checksumming is $(feature tx-checksumming)"
[[ $(feature tcp-segmentation-offload) == on ]] ||
	fail "tcp-segmentation-offload is $(feature tcp-segmentation-offload)"
[[ $(feature tx-udp-segmentation) == off ]] || fail "tx-udp-segmentation is on"
(($(stat nicd.offload_rx) == 3 && $(stat nicd.offload_refused) == 0)) ||
	fail "nicd got offloads $(stat nicd.offload_rx), refused $(stat nicd.offload_refused)"
reads=$(stat nicd.rx_reads)
((reads > 0 && reads < 256)) || fail "chained reads: $reads"
pass "offload on: ethtool -k shows checksum and TCP segmentation offload on the TAP (UDP off); nicd posts $reads chained reads"

# ---- (b) UDP with partial checksums, UDP_SEGMENT, a TSO frame --------------------------------
echo_start
p0=$(stat nicd.rx_csum_partial)
in_ns "$PY" "$PEER_PY" sizes "$T_ADDR" 7 || fail "kernel -> stack echo with offload on"
p1=$(stat nicd.rx_csum_partial)
# Sizes 0..1472 leave the kernel whole with a partial checksum; fragmented ones are completed
# before the kernel fragments them.
((p1 - p0 >= 1473)) || fail "only $((p1 - p0)) datagrams arrived with a partial checksum"
(($(stat udpd.in_csum_errors) == 0)) || fail "udpd counted checksum errors"
pass "kernel -> stack: every size echoed byte-exact; $((p1 - p0)) datagrams came with partial checksums, no checksum error"

g0=$(stat nicd.rx_gso_frames)
udp_gso_echo || fail "UDP_SEGMENT echo"
(($(stat nicd.rx_gso_frames) == g0 && $(stat nicd.rx_drop_vnet_gso) == 0)) ||
	fail "a UDP GSO frame reached nicd"
pass "UDP_SEGMENT: cut by the kernel (no TUN_F_USO), 5 datagrams echoed byte-exact"
echo_stop

mac=$(stack_mac)
[[ -n "$mac" ]] || fail "the kernel has no ARP entry for the stack"
i0=$(stat ipd.ip_in_gso)
f0=$(stat nicd.rx_frames)
in_ns "$PY" "$INJECT" "$T_IF" "$mac" "$T_PEER" "$T_ADDR" 40 1448 || fail "inject"
for _ in $(seq 50); do (($(stat ipd.ip_in_gso) > i0)) && break; sleep 0.05; done
(($(stat nicd.rx_gso_frames) == g0 + 1)) || fail "nicd: $(($(stat nicd.rx_gso_frames) - g0)) super-frames"
(($(stat ipd.ip_in_gso) == i0 + 1)) || fail "ipd: $(($(stat ipd.ip_in_gso) - i0)) super-frames"
(($(stat nicd.rx_frames) - f0 < 40)) || fail "the super-frame arrived cut"
(($(stat ipd.ip_in_drop_offload) == 0)) || fail "ipd refused offload state"
idle_pool
pass "a 57,960-byte TCP super-frame crosses nicd and ipd whole (chained), every buffer back"

# ---- (c) off --------------------------------------------------------------------------------
"$CTL" down --instance "$T_INST" >/dev/null || fail "ustackctl down"
stack_up --offload off
grep -q '^offload = off$' "/etc/ustack/$T_INST.conf" || fail "config: no 'offload = off'"
[[ $(feature tx-checksumming) == off ]] || fail "offload off: tx-checksumming is on"
[[ $(feature tcp-segmentation-offload) == off ]] || fail "offload off: TSO is on"
(($(stat nicd.offload_rx) == 0 && $(stat nicd.rx_reads) == 256)) ||
	fail "offload off: nicd has offloads $(stat nicd.offload_rx), $(stat nicd.rx_reads) reads"
echo_start
in_ns "$PY" "$PEER_PY" sizes "$T_ADDR" 7 || fail "kernel -> stack echo with offload off"
udp_gso_echo || fail "UDP_SEGMENT echo with offload off"
echo_stop
(($(stat nicd.rx_csum_partial) == 0)) || fail "offload off: partial checksums arrived"
mac=$(stack_mac)
f0=$(stat nicd.rx_frames)
in_ns "$PY" "$INJECT" "$T_IF" "$mac" "$T_PEER" "$T_ADDR" 40 1448 || fail "inject"
for _ in $(seq 50); do (($(stat nicd.rx_frames) - f0 >= 40)) && break; sleep 0.05; done
(($(stat nicd.rx_frames) - f0 >= 40)) || fail "offload off: $(($(stat nicd.rx_frames) - f0)) frames"
(($(stat nicd.rx_gso_frames) == 0 && $(stat ipd.ip_in_gso) == 0)) ||
	fail "offload off: a super-frame arrived"
idle_pool
pass "offload off: plain frames only (the kernel cuts the super-frame into 40), echoes byte-exact"
