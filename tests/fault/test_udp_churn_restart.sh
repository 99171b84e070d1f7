#!/usr/bin/env bash
# Restart contract for udpd's state (docs/ARCHITECTURE.md: "a kill in the middle of an update loses
# that record at most, never the table"; libsock's re-sent requests are idempotent). Several
# applications churn socket/bind/connect/disconnect/setsockopt/close (udp_churn.c) while udpd is
# SIGKILLed in a loop: every other kill through systemd (`ustackctl kill`) at a random moment,
# the others inside a request: txn_kill stops udpd at the start of a request's work and kills
# it a random number of instructions later (mid-update, mid-commit, between the commit and the
# reply, after the reply), where a kill from outside almost never lands. Every call must
# succeed and every getsockname match what the application believes, at once and at the end,
# when every socket must also carry a datagram to a kernel echo server and back. Then udpd's
# socket table must hold exactly the sockets the applications hold (none leaked, none lost),
# recovery must never have had to drop a record (the journal rolled back every unfinished
# update), and the pool must return to idle.
source "$(dirname "$0")/../lib/stack.sh"
PEER_PY="$(dirname "$0")/../lib/udp_peer.py"
CHURN="$BUILD/bin/udp_churn"
TXN_KILL="$BUILD/bin/txn_kill"
UDPD="$BUILD/bin/ustack-udpd"
export USTACK_INSTANCE="$T_INST"
APPS=4
CHURN_S=15    # seconds of churn; udpd is killed during all but the last one
ECHO_PORT=9000
LOGS=$(mktemp -d "/tmp/ustack-$T_INST-churn.XXXXXX")
churn_cleanup() {
	local rc=$?
	set +e # errexit would end the trap at the first failing command, before t_cleanup
	if ((rc != 0)); then
		for f in "$LOGS"/app*.log; do
			[[ -f "$f" ]] && echo "--- $f" && tail -n 20 "$f"
		done
	fi
	rm -rf "$LOGS"
	(exit $rc)
	t_cleanup
}
trap churn_cleanup EXIT

restarts() {
	"$CTL" status --instance "$T_INST" |
		awk '$1=="udpd" {for(i=1;i<NF;i++) if($i=="restarts") print $(i+1)}'
}
udpd_serving() { "$CTL" status --instance "$T_INST" | grep -q '^udpd  serving'; }
udpd_pid() {
	"$CTL" status --instance "$T_INST" |
		awk '$1=="udpd" {for(i=1;i<NF;i++) if($i=="pid") print $(i+1)}'
}

# Where a request's work starts: the transaction (udpd_store.c) and the core calls in it.
REQ_SYMS=()
for s in udpd_store_txn_begin udp_socket_open udp_bind udp_connect udp_disconnect udp_setopt \
	udp_socket_close; do
	off=$(nm "$UDPD" | awk -v s="$s" '$3==s && ($2=="T" || $2=="t") {print "0x" $1}')
	[[ -n "$off" ]] && REQ_SYMS+=("$s=$off")
done
[[ -x "$TXN_KILL" && ${REQ_SYMS[0]%=*} == udpd_store_txn_begin ]] ||
	fail "txn_kill or udpd's symbols missing"

stack_up
ip netns exec "$T_NS" "$PY" "$PEER_PY" echo-server "$ECHO_PORT" 120 &
T_PIDS+=($!)
for _ in $(seq 50); do
	in_ns ss -Hlun "sport = :$ECHO_PORT" | grep -q . && break
	sleep 0.05
done
in_ns ss -Hlun "sport = :$ECHO_PORT" | grep -q . || fail "the echo server did not start"
idle_free=$(stat pool.free)
r0=$(restarts)

APP_PIDS=()
for a in $(seq "$APPS"); do
	"$CHURN" "$a" "$T_ADDR" "$T_PEER" "$ECHO_PORT" "$CHURN_S" >"$LOGS/app$a.log" 2>&1 &
	APP_PIDS+=($!)
	T_PIDS+=($!)
done

# Kill udpd at random moments, a fresh kill only once systemd has it serving again (so every
# kill hits a udpd with sockets and sessions to lose), until a second before the churn ends.
kills=0
in_request=0
replayed=0 # requests each udpd answered from a reply its predecessor had committed
stop=$(($(date +%s%N) + (CHURN_S - 1) * 1000000000))
while (($(date +%s%N) < stop)); do
	replayed=$((replayed + $(stat udpd.req_replayed)))
	if ((kills % 2 == 0)); then
		sleep "0.$((RANDOM % 300 + 100))"
		"$CTL" kill --instance "$T_INST" udpd SIGKILL >/dev/null 2>&1 && kills=$((kills + 1))
	else
		# A request's transaction spans ~1,500 instructions from these symbols and its
		# reply a few hundred more, the store that tears a record is one: as many kills
		# in each octave of 1 .. 4,095 instructions, so short windows are hit too.
		sym=${REQ_SYMS[RANDOM % ${#REQ_SYMS[@]}]}
		e=$((RANDOM % 12))
		steps=$(((1 << e) - 1 + RANDOM % (1 << e)))
		if ((in_request % 2 == 0)); then
			# Certainly inside the transaction: its first record is saved ~100
			# instructions after its start, and sealing alone takes longer than 600.
			sym=${REQ_SYMS[0]}
			steps=$((150 + RANDOM % 450))
		fi
		rc=0
		out=$("$TXN_KILL" "$UDPD" "$(udpd_pid)" "${sym#*=}" "$steps" 2000 2>&1) || rc=$?
		if ((rc == 0)); then
			kills=$((kills + 1))
			in_request=$((in_request + 1))
			echo "${sym%=*}: $out" >>"$LOGS/kills.log"
		elif ((rc != 3)); then # 3: no request came within the timeout
			fail "txn_kill: $out"
		fi
	fi
	for _ in $(seq 100); do
		udpd_serving && break
		sleep 0.02
	done
done
replayed=$((replayed + $(stat udpd.req_replayed)))
log "udpd killed $kills times during the churn, $in_request of them inside a request;" \
	"$replayed re-sent requests answered from their reply"
((kills >= 10 && in_request >= 5)) || fail "only $kills kills landed, $in_request in a request"

# Every application verifies its sockets, then holds them.
for a in $(seq "$APPS"); do
	for _ in $(seq 300); do
		grep -q '^holding' "$LOGS/app$a.log" && break
		kill -0 "${APP_PIDS[a - 1]}" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^holding' "$LOGS/app$a.log" || fail "application $a: $(cat "$LOGS/app$a.log")"
	log "application $a: $(grep '^ops' "$LOGS/app$a.log"), $(grep '^holding' "$LOGS/app$a.log")"
done
pass "every call of $APPS applications succeeded across $kills kills; every socket each" \
	"believes it has has its name and buffer and carries datagrams"

held=$(cat "$LOGS"/app*.log | awk '$1=="holding" {n += $2} END {print n + 0}')
in_use=$(stat udpd.sockets_in_use)
((in_use == held)) || fail "udpd has $in_use sockets, the applications hold $held"
pass "udpd's table holds exactly the $held sockets the applications hold"

r1=$(restarts)
((r1 - r0 >= kills)) || fail "udpd restarts $r0 -> $r1 for $kills kills"
for c in udpd.state_records_dropped udpd.state_sessions_dropped udpd.state_slots_cleared \
	udpd.state_orphans_closed udpd.state_journal_bad_entries udpd.state_journal_overflows; do
	(($(stat "$c") == 0)) ||
		fail "$c is $(stat "$c"): recovery had to drop what it should have rolled back"
done
rolled=$(stat udpd.state_journal_rolled_back)
log "recovery rolled back $rolled records of unfinished updates," \
	"$(stat udpd.cork_lost_restart) corked datagrams lost"
# The kills aimed inside a transaction must have landed there (else this test did not test
# what it says: if requests got much shorter, aim them anew).
((rolled > 0)) || fail "no kill landed inside a transaction"
pass "no restart had to drop a record; every unfinished update was rolled back"
[[ -n "${CHURN_VERBOSE:-}" ]] && cat "$LOGS/kills.log"

for p in "${APP_PIDS[@]}"; do
	kill -USR1 "$p"
done
for a in $(seq "$APPS"); do
	wait "${APP_PIDS[a - 1]}" || fail "application $a at the end: $(cat "$LOGS/app$a.log")"
	grep -q '^closed' "$LOGS/app$a.log" || fail "application $a did not close its sockets"
done
for _ in $(seq 60); do
	(($(stat udpd.sockets_in_use) == 0 && $(stat udpd.sessions_in_use) == 0)) && break
	sleep 0.05
done
(($(stat udpd.sockets_in_use) == 0)) ||
	fail "$(stat udpd.sockets_in_use) sockets left after every application closed its own"
(($(stat udpd.sessions_in_use) == 0)) || fail "$(stat udpd.sessions_in_use) sessions left"
pass "every socket closed, every session ended"
pool_settles "$idle_free" || fail "pool free $(stat pool.free), idle was $idle_free"
pass "pool back to its idle free count"
