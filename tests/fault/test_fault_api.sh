#!/usr/bin/env bash
# test_fault_api: the fault API for applications' tests (either link kind, USTACK_TEST_LINK):
#   - `ustackctl wait`: exit 0 once every layer serves (after a nicd kill), exit 1 naming the
#     layer when the timeout passes while udpd is stopped, exit 2 for a bad timeout;
#   - <ustack/test.h> from an application (fault_api.c): argument errors, then kill tcpd, hang
#     udpd (a short wait times out, a long one sees it serve), clear a hang, kill ipd, waiting
#     each time with us_test_wait_serving, while one TCP connection and one UDP socket to
#     kernel echo servers keep working;
#   - the pool back at its idle count.
source "$(dirname "$0")/../lib/stack.sh" "$1"

HERE=$(cd "$(dirname "$0")" && pwd)
API="$BUILD/bin/fault_api"
export USTACK_INSTANCE="$T_INST" USTACK_CTL="$CTL"
OUT=$(mktemp -d "/tmp/ustack-$T_INST-api.XXXXXX")
trap 'rc=$?; set +e; ((rc)) && tail -n 20 "$OUT"/*; rm -rf "$OUT"; (exit $rc); t_cleanup' EXIT

stack_up
ping_ok 56 2
sleep 0.3
idle=$(stat pool.free)

# ---- ustackctl wait
rc=0
"$CTL" wait --instance "$T_INST" --timeout 0 >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "wait --timeout 0 is not a usage error (exit $rc)"
"$CTL" wait --instance "$T_INST" --timeout 5 >"$OUT/w0" || fail "wait on a serving stack: $(cat "$OUT/w0")"
grep -q "every layer serves" "$OUT/w0" || fail "wait said: $(cat "$OUT/w0")"
"$CTL" fault --instance "$T_INST" kill nicd >/dev/null || fail "fault kill nicd"
"$CTL" wait --instance "$T_INST" --timeout 15 >"$OUT/w1" || fail "wait after kill nicd: $(cat "$OUT/w1")"
"$CTL" status --instance "$T_INST" >/dev/null || fail "wait returned but status says not serving"
ping_ok 56 3
pass "ustackctl wait after kill nicd: $(cat "$OUT/w1")"
"$CTL" fault --instance "$T_INST" hang udpd 1.2 >/dev/null || fail "fault hang udpd"
t0=$(date +%s.%N)
rc=0
"$CTL" wait --instance "$T_INST" --timeout 0.3 >"$OUT/w2" 2>&1 || rc=$?
((rc == 1)) || fail "wait with udpd stopped: exit $rc: $(cat "$OUT/w2")"
grep -q "udpd does not serve" "$OUT/w2" || fail "wait did not name udpd: $(cat "$OUT/w2")"
"$CTL" wait --instance "$T_INST" --timeout 15 >"$OUT/w3" || fail "wait after the hang: $(cat "$OUT/w3")"
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
awk -v t="$took" 'BEGIN {exit !(t >= 1.0)}' || fail "served again $took s into a 1.2 s hang"
pass "ustackctl wait: times out naming udpd while it is stopped, returns once it serves (${took} s)"

# ---- the C API from an application
ip netns exec "$T_NS" "$PY" "$HERE/../lib/tcp_peer.py" echo-server 7401 1 >"$OUT/tcp_echo" 2>&1 &
T_PIDS+=($!)
ip netns exec "$T_NS" "$PY" "$HERE/../lib/udp_peer.py" echo-server 7402 120 >"$OUT/udp_echo" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do grep -q '^listening' "$OUT/tcp_echo" && break; sleep 0.05; done
"$API" "$T_PEER" 7401 7402 >"$OUT/api" 2>&1 || fail "fault_api: $(cat "$OUT/api")"
sed 's/^/  /' "$OUT/api"
grep -q "^fault_api: ok" "$OUT/api" || fail "fault_api did not finish"
pass "<ustack/test.h>: kill tcpd, hang udpd, clear, kill ipd; the application's TCP connection and UDP socket kept working"

pool_settles "$idle" || fail "pool.free $(stat pool.free), idle $idle"
pass "pool back to its idle free count ($idle)"
