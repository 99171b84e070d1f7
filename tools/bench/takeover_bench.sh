#!/usr/bin/env bash
# takeover_bench: how long a killed layer leaves the stack without it, with the layer's standby
# (its twin unit's process takes over) and without (the twin units stopped, so systemd restarts
# the killed unit), measured in one run on one instance, alternating.
#
# Two figures per kill:
#   resumed  from the SIGKILL (the return of `ustackctl fault kill`) to the first ICMP echo
#            reply to a ping sent after it (a pinger at 500/s in the kernel's namespace, tests/lib/pinger.py):
#            nicd and ipd, the layers an echo crosses;
#   start    with a standby, the new process's own "took over: serving N ms after the lock was
#            free" (the kernel frees the lock as the dead process's files close): every layer.
# The ratio printed is standby / systemd of the same run (the kernel has no layer to restart,
# so it has no figure here). A benchmark, not a test: it asserts nothing about speed.
# BENCH_LINK: zmq (default) or shm.
#
# usage: tools/bench/takeover_bench.sh BUILD_DIR [KILLS_PER_LAYER]
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [KILLS_PER_LAYER]}
BUILD=$(cd "$BUILD" && pwd)
KILLS=${2:-5}
LINK=${BENCH_LINK:-zmq}
CTL="$BUILD/bin/ustackctl"
PINGER="$(cd "$(dirname "$0")/../.." && pwd)/tests/lib/pinger.py"
INST="tkover$$"
NS="ustk-$INST"
NET="10.205.$(($$ % 200 + 1))"
TMP=$(mktemp -d "/tmp/takeover_bench.XXXXXX")
PINGER_PID=
cleanup() {
	[[ -n "$PINGER_PID" ]] && kill "$PINGER_PID" 2>/dev/null || true
	"$CTL" down --instance "$INST" >/dev/null 2>&1 || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$CTL" up --instance "$INST" --netns "$NS" --addr "$NET.2/24" --peer "$NET.1" --link "$LINK" \
	>/dev/null
ip netns exec "$NS" ping -c 2 -W 2 "$NET.2" >/dev/null
RT="${USTACK_RUNTIME_DIR:-/run/ustack}/$INST"
MLOG="$RT/manager/manager.log"
sysctl_user() { XDG_RUNTIME_DIR="$RT/manager" systemctl --user "$@"; }
field() { "$CTL" status --instance "$INST" | awk -v l="$1" -v f="$2" '$1==l {for(i=1;i<NF;i++) if($i==f) print $(i+1)}'; }
wait_serving() { "$CTL" wait --instance "$INST" --timeout 10 >/dev/null; }
median() { sort -n | awk '{v[NR]=$1} END {if (!NR) {print "-"; exit} printf "%.1f", (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
range() { sort -n | awk 'NR==1{a=$1} {b=$1} END {if (NR) printf "%.1f-%.1f", a, b; else print "-"}'; }

# One kill of LAYER: its resume time (ms) into $TMP/resumed.MODE.LAYER, and with a standby the
# new process's start into $TMP/start.LAYER.
kill_once() { # MODE LAYER
	local mode=$1 layer=$2 log="$TMP/ping" n0 t
	n0=$(wc -l <"$MLOG")
	ip netns exec "$NS" "$PINGER" "$NET.2" 500 3 "$log" &
	PINGER_PID=$!
	sleep 0.5
	# fault kill returns once kill(2) is done: what it takes before that (asking the layer and
	# the manager which unit serves) is not the layer's outage
	"$CTL" fault --instance "$INST" kill "$layer" >/dev/null
	t=$(date +%s.%N)
	wait "$PINGER_PID" || true
	PINGER_PID=
	if [[ $layer == nicd || $layer == ipd ]]; then
		awk -v t="$t" '$1 == "reply" && $3 + 0 > t + 0 { printf "%.1f\n", ($4 - t) * 1000; exit }' \
			"$log" >>"$TMP/resumed.$mode.$layer"
	fi
	if [[ $mode == standby ]]; then
		tail -n +$((n0 + 1)) "$MLOG" | grep "ustack-$layer\[.*took over: serving" |
			sed -n 's/.*serving \([0-9.]*\) ms.*/\1/p' | head -1 >>"$TMP/start.$layer"
	fi
	wait_serving
	sleep 0.5
}

# The twin standing by, stopped (MODE systemd) or started again (MODE standby).
twins() { # MODE
	local l pid u
	for l in nicd ipd tcpd udpd; do
		if [[ $1 == systemd ]]; then
			pid=$(field "$l" standby)
			[[ $pid =~ ^[0-9]+$ ]] || { echo "takeover_bench: $l has no standby" >&2; exit 1; }
			stopped=
			for u in "ustack-$l@$INST.service" "ustack-$l-twin@$INST.service"; do
				if [[ $(sysctl_user show -p MainPID --value "$u") == "$pid" ]]; then
					sysctl_user stop "$u"
					stopped=$u
				fi
			done
			# Else the "systemd" rows would silently measure the standby again.
			[[ -n $stopped ]] || { echo "takeover_bench: no unit of $l runs pid $pid" >&2; exit 1; }
		else
			sysctl_user start "ustack-$l@$INST.service" "ustack-$l-twin@$INST.service"
		fi
	done
	wait_serving
}

echo "layer takeover after SIGKILL (links $LINK, $KILLS kills per layer and mode, alternating)"
for ((i = 0; i < KILLS; i++)); do
	for mode in standby systemd; do
		twins "$mode"
		for layer in nicd ipd tcpd udpd; do
			kill_once "$mode" "$layer"
		done
	done
done
twins standby

printf "\n%-6s %-30s %-30s %-7s %s\n" layer "echo replies resumed, standby" \
	"... restart by systemd" "ratio" "standby's start"
for layer in nicd ipd tcpd udpd; do
	s=- r=- ratio=- st=-
	if [[ -s $TMP/resumed.standby.$layer ]]; then
		ms=$(median <"$TMP/resumed.standby.$layer")
		mr=$(median <"$TMP/resumed.systemd.$layer")
		s="p50 $ms ms ($(range <"$TMP/resumed.standby.$layer"))"
		r="p50 $mr ms ($(range <"$TMP/resumed.systemd.$layer"))"
		ratio=$(awk -v a="$ms" -v b="$mr" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
	fi
	[[ -s $TMP/start.$layer ]] &&
		st="p50 $(median <"$TMP/start.$layer") ms ($(range <"$TMP/start.$layer"))"
	printf "%-6s %-30s %-30s %-7s %s\n" "$layer" "$s" "$r" "$ratio" "$st"
done
