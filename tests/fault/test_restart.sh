#!/usr/bin/env bash
# Restart contract: while the kernel is pinged at 100/s (tests/lib/pinger.py), SIGKILL ipd, then nicd, through systemd.
# Each layer's standby (its twin unit's process, waiting on the layer's lock) takes over, and
# systemd restarts the killed unit into the next standby (nicd's, holding the TAP's file handed
# over by the serving process, reads on from it); replies resume within 1 s of each
# kill, and the pool's free count returns to its idle value (everything the dead process held
# was reclaimed).
source "$(dirname "$0")/../lib/stack.sh"

stack_up
ping_ok 56 3
sleep 0.5
idle_free=$(stat pool.free)
log "idle pool free count: $idle_free"

PING_LOG="/tmp/ustack-$T_INST-restart.log"
ip netns exec "$T_NS" "$PY" "$(dirname "$0")/../lib/pinger.py" "$T_ADDR" 100 11 "$PING_LOG" &
T_PIDS+=($!)
PING_PID=$!

field() { "$CTL" status --instance "$T_INST" | awk -v l="$1" -v f="$2" '$1==l {for(i=1;i<NF;i++) if($i==f) print $(i+1)}'; }
restarts() { field "$1" restarts; }

sleep 2
declare -A KILLED_AT
for layer in ipd nicd; do
	r0=$(restarts "$layer")
	pid0=$(field "$layer" pid)
	standby0=$(field "$layer" standby)
	[[ $standby0 =~ ^[0-9]+$ && $standby0 != "$pid0" ]] ||
		fail "$layer: no standby beside pid $pid0 (standby '$standby0')"
	"$CTL" kill --instance "$T_INST" "$layer" SIGKILL || fail "ustackctl kill $layer"
	# systemctl kill returns once the signal is delivered: the process is gone from here on.
	KILLED_AT[$layer]=$(date +%s.%N)
	log "SIGKILL $layer"
	for _ in $(seq 100); do
		"$CTL" status --instance "$T_INST" >/dev/null 2>&1 && break
		sleep 0.05
	done
	"$CTL" status --instance "$T_INST" >/dev/null || fail "$layer did not come back"
	r1=$(restarts "$layer")
	((r1 == r0 + 1)) || fail "$layer: systemd restarts $r0 -> $r1"
	pid1=$(field "$layer" pid)
	[[ $pid1 == "$standby0" ]] || fail "$layer: pid $pid1 serves, not the standby $standby0"
	for _ in $(seq 100); do
		standby1=$(field "$layer" standby)
		[[ $standby1 =~ ^[0-9]+$ ]] && break
		sleep 0.05
	done
	[[ $standby1 =~ ^[0-9]+$ && $standby1 != "$pid0" && $standby1 != "$pid1" ]] ||
		fail "$layer: no new standby after the takeover (standby '$standby1')"
	pass "$layer: standby $standby0 took over from $pid0, $standby1 stands by (restarts $r0 -> $r1)"
	if [[ $layer == nicd ]]; then
		# The standby held the serving process's TAP file (drivers/nic_handoff.h): it read on
		# from it at once, without waiting for the dead process's ring to let go of the device.
		[[ $(stat nicd.handed_over) == 1 ]] ||
			fail "nicd: the standby opened the TAP itself, not with the file handed over"
		for _ in $(seq 100); do
			(($(stat nicd.handoff_given) >= 1)) && break
			sleep 0.05
		done
		(($(stat nicd.handoff_given) >= 1)) ||
			fail "nicd: pid $pid1 never handed its TAP file to the new standby $standby1"
		pass "nicd: the standby took over with the TAP file handed over, and handed it on"
	fi
	sleep 3
done
wait "$PING_PID" || true

# The pinger logs "reply SEQ SENT_AT RECEIVED_AT": the first echo sent after the kill that was
# answered, and when its answer came.
for layer in ipd nicd; do
	t=${KILLED_AT[$layer]}
	first=$(awk -v t="$t" '$1 == "reply" && $3 + 0 > t + 0 { print $4; exit }' "$PING_LOG")
	[[ -n "$first" ]] || fail "no reply after killing $layer"
	gap=$(awk -v a="$first" -v b="$t" 'BEGIN { printf "%.3f", a - b }')
	awk -v g="$gap" 'BEGIN { exit !(g <= 1.0) }' || fail "$layer: replies resumed after ${gap}s"
	pass "$layer: replies resumed ${gap}s after SIGKILL"
done
sent=$(awk '$1 == "sent" { print $2 }' "$PING_LOG")
received=$(grep -c "^reply" "$PING_LOG")
log "pinger: $sent sent, $received answered"
((sent >= 1000)) || fail "the pinger sent only $sent echoes in 11 s at 100/s"
# Each outage may cost up to the 1 s allowed above: 100 echoes per kill.
((received >= sent - 200)) || fail "only $received of $sent echoes answered"
rm -f "$PING_LOG"

sleep 0.5
pool_settles "$idle_free" ||
	fail "pool free count $(stat pool.free) after the restarts, idle was $idle_free"
free=$idle_free
pass "pool back to its idle free count ($free) after both restarts"
