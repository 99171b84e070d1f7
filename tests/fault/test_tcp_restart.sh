#!/usr/bin/env bash
# Restart contract under TCP load: while one connection carries data stack -> kernel and another
# kernel -> stack, SIGKILL nicd and let systemd restart it, then ipd, then tcpd itself, and
# again, each kill only once both connections are seen moving (bytes_acked / bytes_received in
# `ustackctl sockets`), so the dead layer takes full rings, TSO super-segments and GRO
# super-frames with it. Both connections must survive (tcpd retransmits what died in nicd and
# ipd, the kernel's TCP does the same for its side; a restarted tcpd finds both connections in
# its state segment, its applications resume their sessions, and TCP recovers what died with it)
# and move again once the layer is back; the data must arrive byte-exact (SHA-256 of what each
# side sent and received); systemd must have restarted each killed layer exactly once per kill;
# ARP and the routes come back after each ipd restart. A stack listener made before the kills,
# its application blocked in accept() through every one of them, must then accept and echo
# three new connections from the kernel. Once the transfers end the pool is back to its idle
# free count (nothing the dead layers held in flight leaked). Run with offload on (two rounds of
# kills), then off (plain frames, one round); each run ends with nicd and ipd killed together.
#
# The transfers run at full speed until the test has seen both move again after the last
# restart (then it creates the stop file the senders check), so each lasts as long as the kills
# need whatever the machine's speed: some hundreds of MB each way on the reference machine.
#   TCP_RESTART_ROUNDS overrides the number of nicd, ipd, tcpd kill rounds with offload on
#   (default 2), TCP_RESTART_OFF_ROUNDS with offload off (default 1); TCP_RESTART_OFF_ONLY=1
#   skips the offload-on run.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

PROBE="$BUILD/bin/tcp_probe"
PEER="$HERE/../lib/tcp_peer.py"
ROUNDS=${TCP_RESTART_ROUNDS:-2}
UP_PORT=7201   # stack -> kernel
DOWN_PORT=7202 # kernel -> stack
LISTEN_PORT=7203 # the stack's listener that must keep accepting
MB=1000000
OUT=$(mktemp -d "/tmp/ustack-$T_INST-tcprestart.XXXXXX")
trap 'rc=$?; set +e; ((rc)) && tail -n 5 "$OUT"/*; rm -rf "$OUT"; (exit $rc); t_cleanup' EXIT
export USTACK_INSTANCE="$T_INST"

wait_listening() {
	for _ in $(seq 100); do grep -q '^listening' "$OUT/$1" && return 0; sleep 0.05; done
	fail "$1 never listened: $(cat "$OUT/$1")"
}
field() { awk -v w="$2" -v f="$3" '$1==w {print $f; exit}' "$OUT/$1"; }
since() { awk -v a="${2:-$(date +%s.%N)}" -v b="$1" 'BEGIN {printf "%.2f", a - b}'; }
layer_field() { # LAYER WORD: the value after WORD on LAYER's status line
	"$CTL" status --instance "$T_INST" |
		awk -v l="$1" -v w="$2" '$1==l {for(i=1;i<NF;i++) if($i==w) print $(i+1)}'
}

# progress: "UP DOWN", the bytes the kernel acknowledged on the upward connection and the bytes
# tcpd received on the downward one; empty if a connection is not in tcpd's table, or if
# `ustackctl sockets` failed (what it said is then in $OUT/sockets.err). Across a kill the query
# must still answer: ZeroMQ holds it until the new tcpd serves, and the control socket's name
# is never missing meanwhile (common/runtime_sock.h).
progress() {
	local json
	json=$("$CTL" sockets --instance "$T_INST" --json 2>"$OUT/sockets.err") || return 0
	jq -r --argjson u "$UP_PORT" --argjson d "$DOWN_PORT" \
		'[(.sockets[] | select(.peer_port == $u) | .tcp.bytes_acked),
		(.sockets[] | select(.peer_port == $d) | .tcp.bytes_received)] |
		if length == 2 then "\(.[0]) \(.[1])" else "" end' <<<"$json"
}
# why progress came back empty
gone() { echo "a connection is gone from tcpd's table${1:-} ($(cat "$OUT/sockets.err" 2>/dev/null))"; }

# wait_flowing WHAT: both connections move by at least 1 MB (from now) within 10 s; FLOW is
# where they were then.
wait_flowing() {
	local p u0 d0 u d
	p=$(progress)
	[[ -n "$p" ]] || fail "$1: $(gone)"
	read -r u0 d0 <<<"$p"
	for _ in $(seq 500); do
		p=$(progress)
		[[ -n "$p" ]] || fail "$1: $(gone)"
		read -r u d <<<"$p"
		((u - u0 >= MB && d - d0 >= MB)) && { FLOW="$u $d"; return 0; }
		sleep 0.02
	done
	fail "$1: no progress in 10 s (up $u0 -> $u, down $d0 -> $d)"
}

# Counters that must stay 0 whatever dies: payload misplaced or refused inside tcpd, corrupt
# segments, super-segments ipd could not handle. (Drops on the links to a dead layer,
# tcpd.tx_drop_link and *_tx_drop_full, and a restarted tcpd's sends before its applications
# resumed, tcpd.tx_drop_detached and rx_drop_detached, are expected: TCP resends those.)
no_errors() {
	local k
	for k in tcpd.in_csum_errors tcpd.rx_place_errors tcpd.rx_place_nowhere tcpd.tx_drop_unbound \
		tcpd.tx_drop_ring tcpd.tx_drop_nobuf ipd.ip_out_drop_gso \
		ipd.ip_out_drop_gso_mtu ipd.ip_in_drop_offload; do
		(($(stat "$k") == 0)) || fail "$1: $k = $(stat "$k")"
	done
}

# kill_restart WHAT LAYER...: SIGKILL each LAYER (back to back) while both connections move;
# both move again, systemd restarted each once, ARP and routes are back; then both move again
# from there.
kill_restart() {
	local what=$1 layer r1 tk k u d u0 d0 resumed started="" up1="" down1=""
	shift
	local -A r0
	wait_flowing "$what: before the kill"
	for layer in "$@"; do r0[$layer]=$(layer_field "$layer" restarts); done
	for layer in "$@"; do
		"$CTL" kill --instance "$T_INST" "$layer" SIGKILL >/dev/null || fail "$what: ustackctl kill $layer"
	done
	# systemctl kill returns once the signal is delivered: the process is gone from here on.
	tk=$(date +%s.%N)
	k=$(progress)
	[[ -n "$k" ]] || fail "$what: $(gone " after the kill")"
	read -r u0 d0 <<<"$k"
	resumed=""
	for _ in $(seq 500); do
		k=$(progress)
		[[ -n "$k" ]] || fail "$what: $(gone)"
		read -r u d <<<"$k"
		[[ -z "$up1" ]] && ((u - u0 >= 65536)) && up1=$(since "$tk")
		[[ -z "$down1" ]] && ((d - d0 >= 65536)) && down1=$(since "$tk")
		((u - u0 >= MB && d - d0 >= MB)) && { resumed=$(since "$tk"); break; }
		sleep 0.02
	done
	[[ -n "$resumed" ]] || fail "$what: stalled: no 1 MB each way in 10 s (up $u0 -> $u, down $d0 -> $d)"
	"$CTL" status --instance "$T_INST" >/dev/null || fail "$what: not every layer serves"
	for layer in "$@"; do
		r1=$(layer_field "$layer" restarts)
		((r1 == r0[$layer] + 1)) || fail "$what: $layer: systemd restarts ${r0[$layer]} -> $r1"
		# when the new process started: its uptime (to 0.1 s) back from now
		started+=" $layer ~$(awk -v n="$(date +%s.%N)" -v u="$(layer_field "$layer" up)" -v k="$tk" \
			'BEGIN {t = n - u - k; printf "%.1f", t < 0 ? 0 : t}') s"
	done
	if [[ " $* " == *" ipd "* ]]; then
		"$CTL" arp --instance "$T_INST" | grep -qF "$T_PEER " || fail "$what: no ARP entry for $T_PEER"
		[[ "$("$CTL" route --instance "$T_INST")" == "$ROUTES" ]] || fail "$what: routes differ"
	fi
	wait_flowing "$what: after the restart"
	log "$what: killed at up/down $u0 $d0; restarted:$started; 64 KiB up/down ${up1}/${down1} s, 1 MB each way ${resumed} s after the kill"
}

# run_phase LABEL ROUNDS [ustackctl up options]: a stack, the two transfers and a listener,
# ROUNDS x (nicd, ipd, tcpd) kills, then every check.
run_phase() {
	local label=$1 rounds=$2 idle tcpd_restarts up_k down_k up_s down_s lis t0 round
	shift 2
	stack_up "$@"
	ping_ok 56 2
	idle=$(stat pool.free)
	tcpd_restarts=$(layer_field tcpd restarts)
	ROUTES=$("$CTL" route --instance "$T_INST")
	grep -q . <<<"$ROUTES" || fail "$label: no routes"
	rm -f "$OUT"/*

	ip netns exec "$T_NS" "$PY" "$PEER" recv "$UP_PORT" >"$OUT/up_k" 2>&1 &
	up_k=$!
	ip netns exec "$T_NS" "$PY" "$PEER" serve-send-until "$DOWN_PORT" "$OUT/stop" >"$OUT/down_k" 2>&1 &
	down_k=$!
	T_PIDS+=($up_k $down_k)
	wait_listening up_k
	wait_listening down_k
	t0=$(date +%s.%N)
	"$PROBE" send-until "$T_PEER" "$UP_PORT" "$OUT/stop" 31 >"$OUT/up_s" 2>&1 &
	up_s=$!
	"$PROBE" recv "$T_PEER" "$DOWN_PORT" >"$OUT/down_s" 2>&1 &
	down_s=$!
	T_PIDS+=($up_s $down_s)
	"$PROBE" serve-echo "$LISTEN_PORT" 3 8 >"$OUT/lis" 2>&1 &
	lis=$!
	T_PIDS+=($lis)
	for _ in $(seq 100); do [[ -n "$(progress)" ]] && break; sleep 0.05; done
	[[ -n "$(progress)" ]] || fail "$label: the connections did not show up in tcpd's table"

	for round in $(seq "$rounds"); do
		kill_restart "$label nicd ($round)" nicd
		kill_restart "$label ipd ($round)" ipd
		kill_restart "$label tcpd ($round)" tcpd
	done
	# both dead at once: the longest outage, tcpd's retransmission timer backed off furthest
	kill_restart "$label nicd+ipd" nicd ipd

	touch "$OUT/stop"
	wait "$up_s" || fail "$label: stack sender: $(cat "$OUT/up_s")"
	wait "$up_k" || fail "$label: kernel receiver: $(cat "$OUT/up_k")"
	wait "$down_k" || fail "$label: kernel sender: $(cat "$OUT/down_k")"
	wait "$down_s" || fail "$label: stack receiver: $(cat "$OUT/down_s")"
	local pair a wa b wb what ha n
	for pair in "up_s sent up_k received stack->kernel" "down_k sent down_s received kernel->stack"; do
		read -r a wa b wb what <<<"$pair"
		ha=$(field "$a" "$wa" 3)
		n=$(field "$a" "$wa" 2)
		[[ -n "$ha" && "$ha" == "$(field "$b" "$wb" 3)" && "$n" == "$(field "$b" "$wb" 2)" ]] ||
			fail "$label $what: not byte-exact: $(cat "$OUT/$a" "$OUT/$b")"
		pass "$label $what: $n bytes byte-exact across $rounds x (nicd, ipd, tcpd) + (nicd+ipd) kills in $(since "$t0") s, sha256 ${ha:0:16}..."
	done

	# the listener, made before the kills, accepts after them
	local echoed
	echoed=$(ip netns exec "$T_NS" "$PY" "$PEER" echo-clients "$T_ADDR" "$LISTEN_PORT" 3 1000 2>&1) ||
		fail "$label: clients of the stack's listener: $echoed"
	grep -q "^3 of 3 clients echoed 1000 bytes byte-exact" <<<"$echoed" || fail "$label: listener: $echoed"
	wait "$lis" || fail "$label: stack listener: $(cat "$OUT/lis")"
	grep -q "^echoed 3 connections" "$OUT/lis" || fail "$label: listener: $(cat "$OUT/lis")"
	pass "$label: the listener made before the kills accepted 3 connections after them, each echoed byte-exact"

	(($(layer_field tcpd restarts) == tcpd_restarts + rounds)) ||
		fail "$label: tcpd restarts $tcpd_restarts -> $(layer_field tcpd restarts), $rounds kills"
	# counted by the tcpd running since the last tcpd kill: the nicd+ipd kill came after it
	(($(stat tcpd.retrans_segs) > 0)) || fail "$label: tcpd retransmitted nothing: what died in flight?"
	# A batch ZeroMQ refused right after ipd's reconnect (it happens: EAGAIN 0.1 ms after
	# the event) may carry the path kick's retransmission: each such drop is followed by
	# another kick (drops within 2 ms of each other share one), never left to a doubled RTO.
	local rdrops rekicks
	rdrops=$(stat tcpd.tx_drop_link_reconnect)
	rekicks=$(stat tcpd.path_rekicks)
	((rdrops == 0 ? rekicks == 0 : rekicks >= 1 && rekicks <= rdrops)) ||
		fail "$label: $rdrops batches dropped after ipd reconnected, $rekicks kicks again"
	no_errors "$label"
	pool_settles "$idle" || fail "$label: pool.free $(stat pool.free), idle $idle"
	pass "$label: $rounds tcpd kills survived; $(stat tcpd.retrans_segs) segments retransmitted and $(stat tcpd.tcp_timeouts) timeouts since the last, $(stat tcpd.tx_drop_detached) sends before its applications resumed; pool back to idle ($idle free; reclaimed at start: nicd $(stat nicd.pool_reclaimed_at_start), ipd $(stat ipd.pool_reclaimed_at_start), tcpd $(stat tcpd.pool_reclaimed_at_start))"
}

[[ ${TCP_RESTART_OFF_ONLY:-} ]] || run_phase "offload on" "$ROUNDS"
"$CTL" down --instance "$T_INST" >/dev/null || fail "ustackctl down"
run_phase "offload off" ${TCP_RESTART_OFF_ROUNDS:-1} --offload off
