#!/usr/bin/env bash
# udp_bench: UDP through ustack (a libsock application, udpd, ipd, nicd, the TAP) against the
# same between two kernel namespaces over a veth, measured in one run with the two alternating:
# a 64-byte request/response round trip (p50, p99) and the one-way datagram rate delivered at the
# receiver (64 and 1472 bytes), printed with the ratios ustack/kernel. A benchmark, not a test:
# it asserts nothing about speed.
#
# Both sides run the same program, tools/bench/udp_rr.c: ustack-udp-rr on libsock for the stack's
# end, kernel-udp-rr (the same source on kernel sockets) for every kernel end. The stack's peer is
# the kernel inside the stack's namespace (behind the TAP); the baseline runs between namespaces
# A and B. The one-way rate through the stack is measured both ways: kernel -> stack is the
# stack's receive path, stack -> kernel its transmit path (one kernel baseline serves both: the
# veth is symmetric). Senders are blocking sockets sending as fast as they are let; the rate
# counted is what the sink received, and every datagram sent but not received is looked for in
# the stack's drop counters and the kernel's (TAP queue, UDP receive buffer of the namespace):
# "unaccounted" is what neither counted.
#
# Nothing is pinned, as an application would not be. On these 2-vCPU guests that makes the
# kernel's round trip bimodal: ~5 us when the scheduler keeps client and echo server on one CPU,
# ~70 us when each wakes the other across CPUs (an idle vCPU is slow to wake). The per-round p50s
# are printed so that a ratio taken from a lucky or unlucky round can be seen as such.
#
# The stack runs once per link kind, one instance each, alternating with the kernel in the same
# rounds: descriptors over ZeroMQ (the default) and over shared-memory rings (link = shm).
# UDP_BENCH_LINKS (default "zmq shm") picks the kinds; BENCH_BUSY_POLL=US has each layer
# busy-poll that long after work (default 0, off); BENCH_CPUS=LIST runs everything (the stacks,
# their applications and kernel peers, both kernel ends of the reference) on LIST, so that the
# two are compared in one placement without the scheduler's luck (bench_lib.sh).
#
# usage: tools/bench/udp_bench.sh BUILD_DIR [ROUNDS]
#   UDP_BENCH_SECONDS (default 2): length of each one-way run
#   UDP_BENCH_RR_N (default 3000): round trips per request/response run
#   UDP_BENCH_PARTS (default "rr oneway"): which parts run; "oneway" alone skips the round trips
#   UDP_BENCH_SIZES (default "64 1472"): the datagram sizes of the one-way runs
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [ROUNDS]}
ROUNDS=${2:-3}
SECS=${UDP_BENCH_SECONDS:-2}
RR_N=${UDP_BENCH_RR_N:-3000}
CTL="$BUILD/bin/ustackctl"
US="$BUILD/bin/ustack-udp-rr"
KS="$BUILD/bin/kernel-udp-rr"
LINKS=(${UDP_BENCH_LINKS:-zmq shm})
PARTS=" ${UDP_BENCH_PARTS:-rr oneway} "
SIZES=(${UDP_BENCH_SIZES:-64 1472})
for p in $PARTS; do
	[[ $p == rr || $p == oneway ]] || { echo "udp_bench: UDP_BENCH_PARTS: '$p' is not rr or oneway" >&2; exit 1; }
done
has() { [[ $PARTS == *" $1 "* ]]; }
declare -A K_INST K_NS K_NET K_IF
for i in "${!LINKS[@]}"; do
	k=${LINKS[$i]}
	[[ $k == zmq || $k == shm ]] || { echo "udp_bench: UDP_BENCH_LINKS: '$k' is not zmq or shm" >&2; exit 1; }
	K_INST[$k]="ubench$$$k"
	K_NS[$k]="ustk-ubench$$$k"
	K_NET[$k]="10.$((205 + 2 * i)).$(($$ % 200 + 1))" # 10.205.x, 10.207.x (10.206 is the veth's)
done
INST=${K_INST[${LINKS[0]}]}
NS_STACK=${K_NS[${LINKS[0]}]}
NET=${K_NET[${LINKS[0]}]}
BENCH_LINK=${LINKS[0]}
NS_A="ustk-ubench$$-a"
NS_B="ustk-ubench$$-b"
ADDR_A=10.206.0.1
ADDR_B=10.206.0.2
ECHO_PORT=9000
SINK_PORT=9100
for f in "$CTL" "$US" "$KS"; do
	[[ -x "$f" ]] || { echo "udp_bench: $f missing (build targets ustackctl, ustack-udp-rr, kernel-udp-rr)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "udp_bench: needs root (namespaces, TAP)" >&2; exit 1; }

BENCH=udp_bench
. "$(dirname "$0")/bench_lib.sh"
bench_up
for k in "${LINKS[@]:1}"; do
	bench_stack_up "${K_INST[$k]}" "${K_NS[$k]}" "${K_NET[$k]}" "$k"
done

# use KIND: the stack instance the next runs go through.
use() {
	INST=${K_INST[$1]}
	NS_STACK=${K_NS[$1]}
	NET=${K_NET[$1]}
	IF=${K_IF[$1]}
	export USTACK_INSTANCE="$INST"
}

# Echo servers for the round trips, alive for the whole run; warm-up: ARP on both sides,
# libsock's session, caches.
ip netns exec "$NS_B" "$KS" echo "$ECHO_PORT" 3600 >"$TMP/echo.kernel" &
PIDS+=($!)
wait_ready "$TMP/echo.kernel"
ip netns exec "$NS_A" "$KS" rr "$ADDR_B" "$ECHO_PORT" 200 64 >/dev/null
for k in "${LINKS[@]}"; do
	K_IF[$k]=$(awk -F' *= *' '$1=="ifname"{print $2}' "/etc/ustack/${K_INST[$k]}.conf")
	use "$k"
	ip netns exec "$NS_STACK" "$KS" echo "$ECHO_PORT" 3600 >"$TMP/echo.$k" &
	PIDS+=($!)
	wait_ready "$TMP/echo.$k"
	"$US" rr "$NET.1" "$ECHO_PORT" 200 64 >/dev/null
done

# snap OUT: every stack counter, then the kernel's in the stack namespace, as "name value".
snap() {
	{
		"$CTL" stats --instance "$INST"
		local c
		for c in tx_dropped rx_dropped; do
			echo "kernel.tap_$c $(ip netns exec "$NS_STACK" cat "/sys/class/net/$IF/statistics/$c")"
		done
		ip netns exec "$NS_STACK" awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) n[i] = $i; h = 1 }
			else for (i = 2; i <= NF; i++) print "kernel.udp_" n[i], $i }' /proc/net/snmp
	} >"$1"
}
# drops BEFORE AFTER: the deltas of the counters that each count a datagram lost, one per line.
# Left out: counters that repeat others (udpd.in_errors and udpd.sndbuf_errors are sums,
# udpd.tx_drop_link is udpd.link_to_ipd_tx_drop_full under the UDP layer's name, the kernel's
# InErrors sums RcvbufErrors and InCsumErrors), nicd.rx_drop_nobuf (a read slot left empty, not a frame: the frame waits in the TAP
# queue and is counted there if it overflows) and ipd.eth_drop_not_for_us (the kernel's own
# multicast chatter, not our datagrams).
drops() {
	awk 'NR == FNR { a[$1] = $2; next }
	     ($1 ~ /(_drop_|_drops$|_errors$|_discards$|_fails$|_dropped$|Errors$)/ &&
	      $1 !~ /^(udpd\.in_errors|udpd\.sndbuf_errors|udpd\.tx_drop_link|nicd\.rx_drop_nobuf|ipd\.eth_drop_not_for_us|kernel\.udp_InErrors|kernel\.udp_InCsumErrors)$/) {
		d = $2 - a[$1]; if (d) print $1, d }' "$1" "$2"
}

# oneway NAME SIZE [KIND]: one run, appending "sent received errors window pps unaccounted" to
# $TMP/NAME[.KIND].SIZE (and the drop counters of stack runs to ....drops); NAME rx and tx go
# through the stack of link kind KIND.
oneway() {
	local name=$1 size=$2 out="$TMP/run" res="$TMP/$1"
	rm -f "$out".*
	if [[ -n "${3:-}" ]]; then
		use "$3"
		res="$TMP/$1.$3"
	fi
	case $name in
	rx) # kernel -> stack: kernel sender in the stack's namespace, libsock sink
		snap "$out.before"
		"$US" sink "$SINK_PORT" $((SECS + 5)) >"$out.sink" &
		SINK_PID=$!
		wait_ready "$out.sink"
		ip netns exec "$NS_STACK" "$KS" send "$NET.2" "$SINK_PORT" "$SECS" "$size" >"$out.send"
		;;
	tx) # stack -> kernel: libsock sender, kernel sink in the stack's namespace
		snap "$out.before"
		ip netns exec "$NS_STACK" "$KS" sink "$SINK_PORT" $((SECS + 5)) >"$out.sink" &
		SINK_PID=$!
		wait_ready "$out.sink"
		"$US" send "$NET.1" "$SINK_PORT" "$SECS" "$size" >"$out.send"
		;;
	kernel) # namespace A -> namespace B over the veth
		ip netns exec "$NS_B" "$KS" sink "$SINK_PORT" $((SECS + 5)) >"$out.sink" &
		SINK_PID=$!
		wait_ready "$out.sink"
		ip netns exec "$NS_A" "$KS" send "$ADDR_B" "$SINK_PORT" "$SECS" "$size" >"$out.send"
		;;
	esac
	wait "$SINK_PID" || echo "udp_bench: $name $size: sink exited with $?" >&2
	SINK_PID=
	local sent recv counted=0
	sent=$(kv "$out.send" sent)
	recv=$(kv "$out.sink" received)
	if [[ $name != kernel ]]; then
		snap "$out.after"
		drops "$out.before" "$out.after" >"$out.drops"
		cat "$out.drops" >>"$res.$size.drops"
		counted=$(awk '{ s += $2 } END { print s + 0 }' "$out.drops")
	fi
	echo "$sent $recv $(kv "$out.send" errors) $(kv "$out.sink" window_s) $(kv "$out.sink" pps)" \
		"$((sent - recv - counted))" >>"$res.$size"
}

rr() { # stack KIND | kernel: one request/response run, "p50 p99 mean lost" in µs appended to
	# $TMP/rr.stack.KIND or $TMP/rr.kernel
	local out="$TMP/run.rr" res="$TMP/rr.kernel"
	if [[ $1 == stack ]]; then
		use "$2"
		res="$TMP/rr.stack.$2"
		# The per-hop breakdown of the first run through each stack (ustackctl latency over
		# the second it takes): where each microsecond of a round trip goes inside it.
		if [[ ! -e "$TMP/latency.$2" ]]; then
			"$CTL" latency --instance "$INST" --interval 1 >"$TMP/latency.$2" 2>&1 &
			LAT_PIDS+=($!)
		fi
		"$US" rr "$NET.1" "$ECHO_PORT" "$RR_N" 64 >"$out"
	else
		ip netns exec "$NS_A" "$KS" rr "$ADDR_B" "$ECHO_PORT" "$RR_N" 64 >"$out"
	fi
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	     END { printf "%.1f %.1f %.1f %d\n", v["p50_ns"] / 1e3, v["p99_ns"] / 1e3, v["mean_ns"] / 1e3, v["lost"] }' \
		"$out" >>"$res"
}

t0=$SECONDS
LAT_PIDS=()
for ((r = 0; r < ROUNDS; r++)); do
	# Alternate, and swap who goes first every other round so that no side always runs right
	# after another's load.
	if ((r % 2 == 0)); then
		if has rr; then
			for k in "${LINKS[@]}"; do rr stack "$k"; done
			rr kernel
		fi
		has oneway || continue
		for size in "${SIZES[@]}"; do
			for k in "${LINKS[@]}"; do oneway rx $size "$k"; oneway tx $size "$k"; done
			oneway kernel $size
		done
	else
		if has rr; then
			rr kernel
			for ((j = ${#LINKS[@]} - 1; j >= 0; j--)); do rr stack "${LINKS[$j]}"; done
		fi
		has oneway || continue
		for size in "${SIZES[@]}"; do
			oneway kernel $size
			for ((j = ${#LINKS[@]} - 1; j >= 0; j--)); do
				oneway tx $size "${LINKS[$j]}"
				oneway rx $size "${LINKS[$j]}"
			done
		done
	fi
done
elapsed=$((SECONDS - t0))

med() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$1"; }
rounds() { awk -v c="$2" -v d="$3" '{ printf "%s%.0f", (NR > 1 ? " " : ""), $c / d }' "$1"; } # FILE COL DIV
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

printf "UDP through ustack (libsock app, udpd, ipd, nicd, TAP; links %s; busy poll %s us; %s) vs kernel<->kernel over a veth\n" "${LINKS[*]}" "$BENCH_BUSY_POLL" "$(bench_placement)"
printf "%d rounds alternating, %d round trips and %d s per one-way run; medians over rounds (%d s)\n\n" \
	"$ROUNDS" "$RR_N" "$SECS" "$elapsed"
if has rr; then
	printf "%-34s %9s %9s %9s %6s   %s\n" "request/response, 64 B" "p50 us" "p99 us" "mean us" "lost" \
		"p50 us per round"
	for side in "${LINKS[@]/#/stack.}" kernel; do
		f="$TMP/rr.$side"
		label=$([[ $side == kernel ]] && echo "kernel (veth, 2 netns)" || echo "ustack, link = ${side#stack.}")
		printf "%-34s %9.1f %9.1f %9.1f %6d   %s\n" "$label" "$(col "$f" 1 | med)" "$(col "$f" 2 | med)" \
			"$(col "$f" 3 | med)" "$(awk '{ s += $4 } END { print s + 0 }' "$f")" "$(rounds "$f" 1 1)"
	done
	for k in "${LINKS[@]}"; do
		printf "%-34s %9s %9s %9s\n" "ratio link = $k / kernel" \
			"$(ratio "$(col "$TMP/rr.stack.$k" 1 | med)" "$(col "$TMP/rr.kernel" 1 | med)")" \
			"$(ratio "$(col "$TMP/rr.stack.$k" 2 | med)" "$(col "$TMP/rr.kernel" 2 | med)")" \
			"$(ratio "$(col "$TMP/rr.stack.$k" 3 | med)" "$(col "$TMP/rr.kernel" 3 | med)")"
	done
	echo
fi

if has oneway; then
	printf "%-34s %5s %10s %10s %8s %7s %11s %7s   %s\n" "one-way, delivered at the sink" "size" \
		"sent/s" "recv/s" "Mbit/s" "loss" "unaccounted" "ratio" "recv k/s per round"
	for size in "${SIZES[@]}"; do
		kpps=$(col "$TMP/kernel.$size" 5 | med)
		for name in "${LINKS[@]/#/rx.}" "${LINKS[@]/#/tx.}" kernel; do
			f="$TMP/$name.$size"
			case $name in
			rx.*) label="${name#rx.} rx (kernel -> stack app)" ;;
			tx.*) label="${name#tx.} tx (stack app -> kernel)" ;;
			kernel) label="kernel (veth, 2 netns)" ;;
			esac
			pps=$(col "$f" 5 | med)
			sent_rate=$(awk -v s="$SECS" '{ print $1 / s }' "$f" | med)
			loss=$(awk '{ s += $1; r += $2 } END { printf "%.1f%%", s ? 100 * (s - r) / s : 0 }' "$f")
			unacc=$([[ $name == kernel ]] && echo - || awk '{ s += $6 } END { print s + 0 }' "$f")
			printf "%-34s %5d %10.0f %10.0f %8.1f %7s %11s %7s   %s\n" "$label" "$size" "$sent_rate" \
				"$pps" "$(awk -v p="$pps" -v n="$size" 'BEGIN { print p * n * 8 / 1e6 }')" "$loss" \
				"$unacc" "$([[ $name == kernel ]] && echo 1.00x || ratio "$pps" "$kpps")" \
				"$(rounds "$f" 5 1000)"
		done
	done
	printf "(ratio: recv/s ustack/kernel; sent/s is what the sender's socket accepted; send errors: %s)\n\n" \
		"$(for size in "${SIZES[@]}"; do cat "$TMP"/rx.*."$size" "$TMP"/tx.*."$size" "$TMP/kernel.$size"; done |
			awk '{ s += $3 } END { print s + 0 }')"
fi

if has rr; then
	wait "${LAT_PIDS[@]}" || true
	for k in "${LINKS[@]}"; do
		printf "inside the stack, link = %s, during its first request/response run (ustackctl latency):\n" "$k"
		sed 's/^/  /' "$TMP/latency.$k"
		echo
	done
fi

if has oneway; then
	printf "where the stack paths lost datagrams (counter deltas summed over rounds)\n"
	for size in "${SIZES[@]}"; do
		for name in "${LINKS[@]/#/rx.}" "${LINKS[@]/#/tx.}"; do
			f="$TMP/$name.$size.drops"
			printf "  %-6s %4d B:" "$name" "$size"
			if [[ -s "$f" ]]; then
				awk '{ s[$1] += $2 } END { for (k in s) printf " %s %d\n", k, s[k] }' "$f" | sort -k2,2nr |
					awk '{ printf " %s %d", $1, $2 }'
			fi
			echo
		done
	done
fi
