#!/usr/bin/env bash
# test_nicd_hang_restart: nicd hung past its watchdog, again and again, under traffic (issue 9,
# campaign fault 221: a nicd restarted this way served but moved no frame either way). Either
# link kind (USTACK_TEST_LINK). NICD_HANGS rounds (default 6), each:
#   - a ping flood and a UDP stream from the kernel side run while nicd is stopped
#     (`ustackctl fault hang nicd 3.5`, past WatchdogSec=3s) and restarted by systemd's
#     watchdog, so the TAP's queue is full and the old ring has work when it dies;
#   - then: exactly one restart, the hung process gone, the new nicd reclaimed the old one's
#     buffers; frames move both ways through the new nicd (its rx_frames and tx_frames grow
#     across a UDP echo through the whole stack and a ping), and the pool returns to its idle
#     free count (nothing held twice, nothing lost).
# Last, the TAP deleted under a serving nicd (the kernel detaches its file: every read and
# write then fails -EBADFD): nicd must not serve on with nothing moving; it exits, systemd
# restarts it, it creates the device again and, once the kernel side has its address back,
# the stack answers ping again.
source "$(dirname "$0")/../lib/stack.sh" "$1"

export USTACK_INSTANCE="$T_INST"
ROUNDS=${NICD_HANGS:-6}
HANG_S=3.5 # WatchdogSec=3s (deploy/ustack-nicd@.service.in): the watchdog restarts nicd
WORK=$(mktemp -d "/tmp/ustack-$T_INST-nh.XXXXXX")
trap 'rc=$?; rm -rf "$WORK"; set +e; (exit $rc); t_cleanup' EXIT

stack_up
udp_echo_up 9 "$WORK/uecho.log"

field() { # field LAYER WORD: the value after WORD on LAYER's status line
	{ "$CTL" status --instance "$T_INST" 2>/dev/null || true; } |
		awk -v l="$1" -v w="$2" '$1==l {for(i=1;i<NF;i++) if($i==w) print $(i+1)}'
}
wait_serving() { # wait_serving SECONDS: every layer serves (status exit 0) within SECONDS
	for _ in $(seq $(($1 * 10))); do
		"$CTL" status --instance "$T_INST" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
# wait_restart R0 SECONDS: nicd's restart count passes R0 within SECONDS.
wait_restart() {
	local r
	for _ in $(seq $(($2 * 20))); do
		r=$(field nicd restarts)
		[[ -n "$r" && $r -gt $1 ]] && return 0
		sleep 0.05
	done
	return 1
}
# traffic_start / traffic_stop: a ping flood and a UDP stream to the echo (datagrams of 1,200
# bytes, ~10,000/s), from the kernel side.
TRAFFIC=()
traffic_start() {
	ip netns exec "$T_NS" ping -n -q -i 0.002 "$T_ADDR" >/dev/null 2>&1 &
	TRAFFIC+=($!)
	ip netns exec "$T_NS" "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    for _ in range(20):
        s.sendto(b"x" * 1200, (sys.argv[1], 9))
    time.sleep(0.002)
' "$T_ADDR" >/dev/null 2>&1 &
	TRAFFIC+=($!)
	T_PIDS+=("${TRAFFIC[@]}")
}
traffic_stop() {
	for p in "${TRAFFIC[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${TRAFFIC[@]}"; do wait "$p" 2>/dev/null || true; done
	TRAFFIC=()
}

udp_echo_ok || fail "echo before any fault"
ping_ok 56 3
sleep 0.3
idle=$(stat pool.free)

for round in $(seq "$ROUNDS"); do
	pid=$(field nicd pid)
	r0=$(field nicd restarts)
	traffic_start
	sleep 0.3
	"$CTL" fault --instance "$T_INST" hang nicd "$HANG_S" >/dev/null || fail "round $round: fault hang nicd"
	wait_restart "$r0" 10 || fail "round $round: nicd $pid hung past WatchdogSec was not restarted"
	wait_serving 10 || fail "round $round: the stack does not serve after nicd's restart"
	sleep 0.3 # traffic through the restarted nicd's first moments too
	traffic_stop
	npid=$(field nicd pid)
	(($(field nicd restarts) == r0 + 1)) || fail "round $round: restarts $r0 -> $(field nicd restarts)"
	kill -0 "$pid" 2>/dev/null && fail "round $round: the hung nicd $pid is still there"
	reclaimed=$(stat nicd.pool_reclaimed_at_start)
	((reclaimed > 0)) || fail "round $round: nicd $npid reclaimed nothing from $pid"
	rx0=$(stat nicd.rx_frames) tx0=$(stat nicd.tx_frames)
	udp_echo_ok || fail "round $round: no echo through nicd $npid"
	ping_ok 56 3
	rx1=$(stat nicd.rx_frames) tx1=$(stat nicd.tx_frames)
	((rx1 >= rx0 + 4 && tx1 >= tx0 + 4)) ||
		fail "round $round: nicd $npid moved rx $rx0 -> $rx1, tx $tx0 -> $tx1"
	pool_settles "$idle" || fail "round $round: pool free $(stat pool.free), idle $idle"
	log "round $round: nicd $pid -> $npid (reclaimed $reclaimed), rx +$((rx1 - rx0)) tx +$((tx1 - tx0)), pool idle"
done
pass "nicd hung past WatchdogSec $ROUNDS times under traffic: each restart moves frames both ways, pool back to idle ($idle)"

# ---- the TAP deleted under nicd
pid=$(field nicd pid)
r0=$(field nicd restarts)
in_ns ip link del "$T_IF"
wait_restart "$r0" 10 || fail "nicd $pid served on after its TAP was deleted"
wait_serving 10 || fail "the stack does not serve after nicd's restart for a deleted TAP"
in_ns ip link show "$T_IF" >/dev/null 2>&1 || fail "the restarted nicd did not create $T_IF again"
grep -aq "ustack-nicd\[$pid\]: .*the device is gone" "/run/ustack/$T_INST/manager/manager.log" ||
	fail "nicd $pid did not say why it exited"
in_ns ip addr add "$T_PEER/24" dev "$T_IF"
in_ns ip link set "$T_IF" up
ping_ok 56 3
pass "TAP deleted: nicd $pid exited, its successor $(field nicd pid) created the device again and serves"
