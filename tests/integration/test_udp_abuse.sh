#!/usr/bin/env bash
# Hostile applications against udpd (docs/ARCHITECTURE.md, Security): malformed requests get an
# error or a closed session, never a crash; hostile session handovers are refused without leaking a
# descriptor or a mapping; a broken ring ends exactly its own session; one application cannot
# read or disturb another's sockets, nor starve it of the shared pool; no application can stall
# udpd (a huge ring and a producer that never stops, against a CLOSE and a session's end) or
# hoard what every user needs (handshake places, sessions, sockets: each uid gets its share). A
# libsock application exchanges datagrams with the kernel the whole time, and udpd stays the
# same process (pid and systemd restart count unchanged: it never missed its watchdog), idle,
# with the pool back to idle at the end.
# udp_abuse.c holds the cases; this script runs its modes and checks udpd's counters.
source "$(dirname "$0")/../lib/stack.sh"
PEER_PY="$(dirname "$0")/../lib/udp_peer.py"
ABUSE="$BUILD/bin/udp_abuse"
export USTACK_INSTANCE="$T_INST"
T_TMP=$(mktemp -d "/tmp/ustack-$T_INST-abuse.XXXXXX")
# stack.sh's cleanup runs after ours, with the exit status intact (set +e: under errexit the
# (exit $rc) that hands it on would end the trap before the cleanup).
HP_FILE=/proc/sys/vm/nr_hugepages
HP0=""
abuse_cleanup() {
	rm -rf "$T_TMP"
	[[ -z "$HP0" ]] || echo "$HP0" >$HP_FILE
}
trap 'rc=$?; set +e; abuse_cleanup; (exit $rc); t_cleanup' EXIT
ECHO_PORT=9000
FAILED=0

# A failed check is reported and the other modes still run; the test fails at the end.
soft_fail() {
	echo "FAIL: $*"
	FAILED=1
}

stats_snap() { "$CTL" stats --instance "$T_INST" >"$1" 2>/dev/null || true; }
stats_val() { awk -v k="$2" '$1==k {print $2}' "$1"; }

# udpd's "pid N" and "restarts N" from ustackctl status.
udpd_field() {
	"$CTL" status --instance "$T_INST" 2>/dev/null |
		awk -v f="$1" '$1=="udpd" {for(i=1;i<NF;i++) if($i==f) print $(i+1)}'
}

# run_mode NAME ARGS...: run udp_abuse, show its output, then check every "expect-eq/-ge NAME N"
# line it printed against the change of udpd's counter NAME over the run.
run_mode() {
	local name=$1 out="$T_TMP/$1.out" rc=0
	shift
	stats_snap "$T_TMP/before"
	"$ABUSE" "$@" >"$out" 2>&1 || rc=$?
	stats_snap "$T_TMP/after"
	grep -v '^expect-' "$out" | sed 's/^/    /'
	if ((rc != 0)); then
		soft_fail "$name: udp_abuse exited $rc"
		return
	fi
	local kind key want b a ok=1
	while read -r kind key want; do
		b=$(stats_val "$T_TMP/before" "$key")
		a=$(stats_val "$T_TMP/after" "$key")
		if [[ -z "$b" || -z "$a" ]]; then
			soft_fail "$name: counter $key not reported"
			ok=0
		elif [[ $kind == expect-eq ]] && ((a - b != want)); then
			soft_fail "$name: $key grew by $((a - b)), expected $want"
			ok=0
		elif [[ $kind == expect-ge ]] && ((a - b < want)); then
			soft_fail "$name: $key grew by $((a - b)), expected at least $want"
			ok=0
		fi
	done < <(grep '^expect-' "$out")
	local n_exp
	n_exp=$(grep -c '^expect-' "$out" || true)
	if grep -q '^skip:' "$out"; then
		echo "SKIP: $name: $(sed -n 's/^skip: //p' "$out")"
	elif ((ok && n_exp > 0)); then
		pass "$name (and $n_exp of udpd's counters as expected)"
	elif ((ok)); then
		pass "$name"
	fi
}

stack_up

# Not through in_ns: a backgrounded function is a subshell, and killing it would leave the
# server running (and ctest waiting for it); ip netns exec execs the server in place.
ip netns exec "$T_NS" "$PY" "$PEER_PY" echo-server $ECHO_PORT 90 &
T_PIDS+=($!)
for _ in $(seq 50); do
	in_ns ss -Hlun "sport = :$ECHO_PORT" | grep -q . && break
	sleep 0.05
done

pid0=$(udpd_field pid)
restarts0=$(udpd_field restarts)
[[ -n "$pid0" ]] || fail "udpd is not serving"
log "udpd pid $pid0, restarts $restarts0"

# The well-behaved bystander, throughout the hostile modes.
CLIENT_LOG="$T_TMP/client.out"
"$ABUSE" client "$T_PEER" $ECHO_PORT >"$CLIENT_LOG" 2>&1 &
CLIENT=$!
T_PIDS+=($CLIENT)
for _ in $(seq 100); do grep -q ready "$CLIENT_LOG" && break; sleep 0.05; done
grep -q ready "$CLIENT_LOG" || fail "the libsock client did not start: $(cat "$CLIENT_LOG")"

log "requests: malformed socket requests on udpd.sock"
run_mode requests requests "$T_ADDR" "$T_PEER"
log "zmtp: bytes that are not a ZeroMQ peer on udpd.sock"
run_mode zmtp zmtp
log "handover: hostile hellos on udpd.session"
run_mode handover handover
log "ring: hostile rings"
run_mode ring ring "$T_PEER" $ECHO_PORT
log "isolation: another application against a socket not its own"
run_mode isolation isolation "$T_PEER" $ECHO_PORT
log "drain: a 512 MiB ring of empty datagrams and an endless producer, a CLOSE, the session's end"
run_mode drain drain "$T_PEER" $ECHO_PORT 512
log "hoard: another uid takes every handshake place, session and socket it can"
run_mode hoard hoard "$T_PEER" $ECHO_PORT

kill -TERM "$CLIENT" 2>/dev/null || true
crc=0
wait "$CLIENT" || crc=$?
read -r _ sent _ answered _ errs < <(grep '^sent' "$CLIENT_LOG" || echo "sent 0 answered 0 x 0")
if ((crc == 0 && sent > 100 && answered == sent)); then
	pass "libsock bystander: all $answered of $sent datagrams echoed during the abuse"
else
	soft_fail "libsock bystander: $answered of $sent echoed, $errs errors (exit $crc)"
	sed 's/^/    /' "$CLIENT_LOG"
fi

# With the libsock bystander gone, nothing wakes udpd's TX round but the CLOSE itself.
log "close-quiet: a CLOSE behind 200,000 records, nothing else going on"
run_mode close-quiet close-quiet "$T_PEER"

# With the libsock bystander gone (this mode has its own): while the hog holds its corks and
# floods, the pool is drained, if udpd lets it.
log "hog: another uid corks on every socket it gets and floods while a bystander exchanges datagrams"
# Where a bystander's datagram could be lost outside udpd: the kernel peer's counters and the
# TAP's, kept to be shown if the mode fails.
kernel_snap() {
	in_ns nstat -az 2>/dev/null | awk '$2 != 0 {print $1, $2}' >"$1.nstat"
	in_ns ip -s -s link show "$T_IF" >"$1.link"
	cat /proc/net/softnet_stat >"$1.softnet"
}
kernel_snap "$T_TMP/hog0"
failed_before=$FAILED
run_mode hog hog "$T_PEER" $ECHO_PORT 8
if ((FAILED != failed_before)); then
	kernel_snap "$T_TMP/hog1"
	echo "    the kernel peer's counters that moved during the hog mode:"
	join -a2 -e0 -o 0,1.2,2.2 <(sort "$T_TMP/hog0.nstat") <(sort "$T_TMP/hog1.nstat") |
		awk '$3 != $2 {printf "      %s %d\n", $1, $3 - $2}'
	echo "    the TAP, before and after:"
	sed 's/^/      /' "$T_TMP/hog0.link" "$T_TMP/hog1.link"
	echo "    softnet_stat before and after:"
	sed 's/^/      /' "$T_TMP/hog0.softnet" "$T_TMP/hog1.softnet"
	"$CTL" sockets --instance "$T_INST" | sed 's/^/      /'
	diff <(grep -v ' 0$' "$T_TMP/before") <(grep -v ' 0$' "$T_TMP/after") |
		grep -E 'drop|err|fail|lost|overrun|full' | sed 's/^/      /'
fi

# udpd: the same process, never restarted, all sessions and sockets gone, idle, pool idle.
pid1=$(udpd_field pid)
restarts1=$(udpd_field restarts)
if [[ "$pid1" == "$pid0" && "$restarts1" == "$restarts0" ]]; then
	pass "udpd survived everything: pid $pid1, systemd restarts $restarts1"
else
	soft_fail "udpd pid $pid0 -> $pid1, restarts $restarts0 -> $restarts1"
fi
sleep 0.3
sess=$(stat udpd.sessions_in_use)
socks=$(stat udpd.sockets_in_use)
((sess == 0 && socks == 0)) && pass "no session or socket left in udpd" ||
	soft_fail "udpd still holds $sess sessions and $socks sockets"
t0=$(awk '{print $14 + $15}' "/proc/$pid1/stat")
sleep 1
t1=$(awk '{print $14 + $15}' "/proc/$pid1/stat")
(((t1 - t0) < 20)) && pass "udpd idle afterwards ($((t1 - t0)) ticks of CPU in 1 s)" ||
	soft_fail "udpd busy while idle: $((t1 - t0)) ticks of CPU in 1 s (a source left spinning?)"
idle=$(($(stat pool.count) - $(stat pool.held.nicd)))
pool_settles "$idle" && pass "pool back to idle" ||
	soft_fail "pool free $(stat pool.free), idle $idle"

# Last, because it may take udpd down: a region on hugetlbfs whose page the application punches
# out and takes elsewhere. It needs two free huge pages: vm.nr_hugepages is raised by two for
# this mode only and put back (USTACK_TEST_NO_HUGEPAGES=1 skips that).
if [[ -z "${USTACK_TEST_NO_HUGEPAGES:-}" && -w $HP_FILE ]]; then
	HP0=$(cat $HP_FILE)
	echo $((HP0 + 2)) >$HP_FILE 2>/dev/null || true
fi
log "hugetlb: a region whose memory the application takes back"
run_mode hugetlb hugetlb
if [[ -n "$HP0" ]]; then
	echo "$HP0" >$HP_FILE
	HP0=""
fi
restarts2=$(udpd_field restarts)
[[ "$restarts2" == "$restarts1" ]] ||
	soft_fail "udpd was restarted by systemd ($restarts1 -> $restarts2 restarts)"

((FAILED == 0)) || exit 1
