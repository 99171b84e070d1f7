#!/usr/bin/env bash
# test_fault_kill_hang: `ustackctl fault kill` and `fault hang` (either link kind,
# USTACK_TEST_LINK), with ping and a UDP echo through the stack as the witnesses:
#   - kill ipd: SIGKILL to the unit's MainPID; systemd restarts it (restarts + 1, a new pid)
#     and the stack serves again;
#   - hang udpd 0.8 s (below WatchdogSec=3s): udpd answers nothing while stopped (judged by
#     the order of answer and state, not by time), then the same process serves again (no
#     restart), nothing left stopped;
#   - hang udpd 30 s: status shows the hang; clear ends it at once, before the watchdog would;
#   - hang nicd 8 s (past WatchdogSec): systemd's watchdog restarts it; the helper's SIGCONT
#     later never touches another process; the stack serves again;
#   - the pool returns to its idle free count.
source "$(dirname "$0")/../lib/stack.sh" "$1"

export USTACK_INSTANCE="$T_INST"
WORK=$(mktemp -d "/tmp/ustack-$T_INST-kh.XXXXXX")
trap 'rc=$?; rm -rf "$WORK"; set +e; (exit $rc); t_cleanup' EXIT

stack_up
udp_echo_up 9 "$WORK/uecho.log"

# no_echo_while_stopped PID: a datagram sent to the echo while PID is stopped gets no answer
# while it stays stopped. The answer may come once the hang ends: what is checked is the order,
# udpd's state read after each answer, so the verdict does not depend on how fast this runs.
no_echo_while_stopped() {
	in_ns "$PY" - "$T_ADDR" "$1" <<'PYEOF'
import select, socket, sys, time
addr, pid = sys.argv[1], sys.argv[2]
def stopped():
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"while stopped", (addr, 9))
end = time.monotonic() + 10
while time.monotonic() < end:
    r, _, _ = select.select([s], [], [], 0.01)
    if r:
        s.recvfrom(100)
        sys.exit(1 if stopped() else 0)  # answered while still stopped: something is wrong
    if not stopped():
        sys.exit(0)  # the hang ended with nothing answered during it
sys.exit(0)
PYEOF
}
field() { # field LAYER WORD: the value after WORD on LAYER's status line (status fails while a
	  # layer is down: the line may still be there)
	{ "$CTL" status --instance "$T_INST" 2>/dev/null || true; } |
		awk -v l="$1" -v w="$2" '$1==l {for(i=1;i<NF;i++) if($i==w) print $(i+1)}'
}
# wait_serving SECONDS: every layer serves again (status exit 0) within SECONDS.
wait_serving() {
	for _ in $(seq $(($1 * 10))); do
		"$CTL" status --instance "$T_INST" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
stopped() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == T ]]; }
# stops PID: PID reaches the stopped state within 200 ms. kill(SIGSTOP) returns before the
# target has run to take the signal; on a loaded machine that is some milliseconds later, and
# a look at once saw it still sleeping (1 run in 11 at load 5).
stops() {
	for _ in $(seq 40); do
		stopped "$1" && return 0
		sleep 0.005
	done
	return 1
}

udp_echo_ok || fail "echo before any fault"
ping_ok 56 3
sleep 0.3
idle_free=$(stat pool.free)

# ---- kill
pid0=$(field ipd pid)
r0=$(field ipd restarts)
"$CTL" fault --instance "$T_INST" kill ipd || fail "fault kill ipd"
wait_serving 10 || fail "the stack does not serve again after kill ipd"
pid1=$(field ipd pid)
r1=$(field ipd restarts)
((r1 == r0 + 1 && pid1 != pid0)) || fail "ipd: pid $pid0 -> $pid1, restarts $r0 -> $r1"
udp_echo_ok || fail "echo after kill ipd"
ping_ok 56 3
pass "fault kill ipd: restarted by systemd (pid $pid0 -> $pid1), serving again"

# ---- hang below the watchdog
# The loop feeds the watchdog every 1.5 s (half of WatchdogSec=3s), so a hang of 0.8 s ends at
# most 2.3 s after the last feed: systemd must not restart udpd for it.
pid=$(field udpd pid)
r0=$(field udpd restarts)
"$CTL" fault --instance "$T_INST" hang udpd 0.8 || fail "fault hang udpd"
stops "$pid" || fail "udpd $pid is not stopped"
no_echo_while_stopped "$pid" || fail "a datagram was echoed while udpd was stopped"
for _ in $(seq 50); do stopped "$pid" || break; sleep 0.1; done
stopped "$pid" && fail "udpd $pid still stopped 5 s after its 0.8 s hang"
wait_serving 5 || fail "udpd does not serve again after the hang"
(($(field udpd pid) == pid && $(field udpd restarts) == r0)) || fail "udpd restarted for a short hang"
udp_echo_ok || fail "echo after the hang"
[[ -e "/run/ustack/$T_INST/fault-hang-udpd" ]] && fail "the hang's record was left behind"
pass "fault hang udpd 0.8: stopped, nothing echoed meanwhile, then the same process serves again"

# ---- a long hang is shown, and clear ends it early (within WatchdogSec, so no restart)
"$CTL" fault --instance "$T_INST" hang udpd 30 >/dev/null || fail "fault hang udpd 30"
stops "$pid" || fail "udpd not stopped"
st=$("$CTL" status --instance "$T_INST" 2>&1) && fail "status says every layer serves while udpd hangs"
# status waits 1 s for the stopped udpd; systemd's watchdog acts 1.5-3 s after the stop
stopped "$pid" || fail "udpd $pid no longer stopped after status (took it over 1.5 s?)"
grep >/dev/null "fault hang: pid $pid stopped" <<<"$st" || fail "status does not show the hang: $st"
"$CTL" fault --instance "$T_INST" clear udpd >/dev/null || fail "clear udpd"
stopped "$pid" && fail "clear did not end the hang"
wait_serving 5 || fail "udpd does not serve after clear"
(($(field udpd pid) == pid)) || fail "udpd was restarted: the hang was not cleared in time"
udp_echo_ok || fail "echo after clear"
pass "fault hang udpd 30: shown in status; clear ends it at once"

# ---- hang past the watchdog: systemd restarts the layer
pid=$(field nicd pid)
r0=$(field nicd restarts)
"$CTL" fault --instance "$T_INST" hang nicd 8 >/dev/null || fail "fault hang nicd 8"
restarted=0
for _ in $(seq 150); do
	r=$(field nicd restarts)
	[[ -n "$r" && $r -gt $r0 ]] && restarted=1 && break
	sleep 0.1
done
((restarted)) || fail "nicd hung past WatchdogSec was not restarted"
npid=$(field nicd pid)
log "nicd restarted by its watchdog: pid $pid -> $npid"
kill -0 "$pid" 2>/dev/null && fail "the hung nicd $pid is still there"
wait_serving 10 || fail "the stack does not serve after nicd's restart"
udp_echo_ok || fail "echo after nicd's watchdog restart"
ping_ok 56 3
pass "fault hang nicd past WatchdogSec: restarted by systemd, serving again"

sleep 0.5
pool_settles "$idle_free" || fail "pool free $(stat pool.free), idle was $idle_free"
pass "pool back to its idle free count"
