#!/usr/bin/env bash
# Restart contract for udpd: SIGKILL it while a libsock application exchanges datagrams with the
# kernel. systemd restarts it, the application's socket keeps working without being reopened,
# at most the datagrams in flight are lost, and the pool returns to its idle free count.
source "$(dirname "$0")/../lib/stack.sh"
PEER_PY="$(dirname "$0")/../lib/udp_peer.py"
PROBE="$BUILD/bin/udp_probe"
export USTACK_INSTANCE="$T_INST"

stack_up
ip netns exec "$T_NS" "$PY" "$PEER_PY" echo-server 9000 30 &
T_PIDS+=($!)
sleep 0.3
idle_free=$(stat pool.free)
LOG="/tmp/ustack-$T_INST-udp-restart.log"
"$PROBE" restart-client "$T_PEER" 9000 8 >"$LOG" 2>&1 &
CLIENT=$!
T_PIDS+=($CLIENT)
sleep 3
r0=$("$CTL" status --instance "$T_INST" | awk '$1=="udpd" {for(i=1;i<NF;i++) if($i=="restarts") print $(i+1)}')
"$CTL" kill --instance "$T_INST" udpd SIGKILL || fail "kill udpd"
log "SIGKILL udpd"
wait "$CLIENT" || fail "the application saw errors: $(cat "$LOG")"
r1=$("$CTL" status --instance "$T_INST" | awk '$1=="udpd" {for(i=1;i<NF;i++) if($i=="restarts") print $(i+1)}')
((r1 == r0 + 1)) || fail "udpd restarts $r0 -> $r1"
read -r _ sent _ answered _ errs < <(grep '^sent' "$LOG")
log "client: sent $sent answered $answered send errors $errs"
rm -f "$LOG"
# Datagrams sent while udpd is down wait in the application's ring and go out after the
# restart; at most those in flight inside udpd or on its links at the kill are lost.
((answered >= sent - 20)) || fail "only $answered of $sent answered across the restart"
pass "the socket kept working across the udpd restart ($answered of $sent answered)"
sleep 0.5
pool_settles "$idle_free" || fail "pool free $(stat pool.free), idle was $idle_free"
pass "pool back to its idle free count"
