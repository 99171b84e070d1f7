#!/usr/bin/env bash
# tcp_bench: TCP through ustack (a libsock application, tcpd, ipd, nicd, the TAP) against the
# same between two kernel namespaces over a veth, measured in one run with the two alternating:
#   bulk   one connection, 128 KiB writes for SECONDS, rate at the receiver (first byte to EOF),
#          both ways through the stack: tx = stack app -> kernel, rx = kernel -> stack app
#          (one kernel baseline serves both: the veth is symmetric)
#   rr     64-byte request/response on one connection (TCP_NODELAY): p50, p99 of the round trip
#   crr    connections per second: connect, 64 bytes there and back, the server closes first,
#          the client reads the EOF and closes (the HTTP/1.0 pattern; TIME-WAIT stays with the
#          server, so the client never runs out of ephemeral ports); through the stack with the
#          libsock application as the client (connect) and as the server (accept)
# printed per round and as medians over rounds with the ratios ustack/kernel. A benchmark, not a
# test (tests/run.sh never runs it): it asserts nothing about speed.
#
# Both sides run the same program, tools/bench/tcp_rr.c: ustack-tcp-rr on libsock for the
# stack's end, kernel-tcp-rr (the same source on kernel sockets) for every kernel end. The
# stack's peer is the kernel inside the stack's namespace (behind the TAP); the baseline runs
# between namespaces A and B over a veth (MTU 1500, the veth's default offloads: TSO/GRO on, as
# the instance's `[nic] offload` is). Nothing is pinned. On a 2-vCPU guest the stack's four
# processes and the application share two CPUs with the kernel's softirq work: quote the load.
#
# For bulk runs the deltas of a few stack counters (retransmissions, TSO super-segments out,
# GRO super-frames in, drops) are printed, so a slow run can be told from a lossy one.
#
# BENCH_LINK=shm runs the stack with shared-memory links between its layers (default zmq);
# BENCH_BUSY_POLL=US has each layer busy-poll that long after work (default 0, off).
#
# usage: tools/bench/tcp_bench.sh BUILD_DIR [ROUNDS]
#   TCP_BENCH_SECONDS (default 3): each bulk and connection-rate run
#   TCP_BENCH_RR_N (default 5000): round trips per request/response run
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [ROUNDS]}
ROUNDS=${2:-3}
SECS=${TCP_BENCH_SECONDS:-3}
RR_N=${TCP_BENCH_RR_N:-5000}
CTL="$BUILD/bin/ustackctl"
US="$BUILD/bin/ustack-tcp-rr"
KS="$BUILD/bin/kernel-tcp-rr"
INST="tbench$$"
NS_STACK="ustk-$INST"
NS_A="ustk-$INST-a"
NS_B="ustk-$INST-b"
NET="10.209.$(($$ % 200 + 1))"
ADDR_A=10.210.0.1
ADDR_B=10.210.0.2
ECHO_PORT=9000
CRR_PORT=9001
CRR_STACK_PORT=9002
SINK_PORT=9100
for f in "$CTL" "$US" "$KS"; do
	[[ -x "$f" ]] || { echo "tcp_bench: $f missing (build targets ustackctl, ustack-tcp-rr, kernel-tcp-rr)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "tcp_bench: needs root (namespaces, TAP)" >&2; exit 1; }

BENCH=tcp_bench
. "$(dirname "$0")/bench_lib.sh"
bench_up

# Servers for rr and crr, kernel sockets in the stack's namespace and in B, alive for the run.
for ns in "$NS_STACK" "$NS_B"; do
	ip netns exec "$ns" "$KS" echo "$ECHO_PORT" 86400 >"$TMP/srv.echo.$ns" &
	PIDS+=($!)
	ip netns exec "$ns" "$KS" crr-serve "$CRR_PORT" 86400 64 >"$TMP/srv.crr.$ns" &
	PIDS+=($!)
	wait_ready "$TMP/srv.echo.$ns"
	wait_ready "$TMP/srv.crr.$ns"
done
"$US" crr-serve "$CRR_STACK_PORT" 86400 64 >"$TMP/srv.crr.stack" &
PIDS+=($!)
wait_ready "$TMP/srv.crr.stack"
# Warm-up: ARP on both sides, libsock's session, caches.
"$US" rr "$NET.1" "$ECHO_PORT" 200 64 >/dev/null
ip netns exec "$NS_A" "$KS" rr "$ADDR_B" "$ECHO_PORT" 200 64 >/dev/null

# The stack counters worth seeing next to a bulk rate (names as `ustackctl stats` prints them).
BULK_COUNTERS='tcpd\.(in_segs|out_segs|retrans_segs|tcp_timeouts|tcp_fast_retrans|tx_tso|rx_gro_frames|[a-z_]*drop[a-z_]*)|(nicd|ipd)\.[a-z_]*drop[a-z_]*'
snap() { "$CTL" stats --instance "$INST" >"$1" 2>/dev/null || : >"$1"; }
# deltas BEFORE AFTER: "name delta" of the bulk counters that moved.
deltas() {
	awk -v re="^($BULK_COUNTERS)$" 'NR == FNR { a[$1] = $2; next }
	     $1 ~ re && $1 != "ipd.eth_drop_not_for_us" { d = $2 - a[$1]; if (d) printf " %s=%d", $1, d }' "$1" "$2"
}

# bulk NAME: one run; "mbit" appended to $TMP/bulk.NAME, counter deltas to $TMP/bulk.NAME.ctr
bulk() {
	local name=$1 out="$TMP/run"
	rm -f "$out".*
	snap "$out.before"
	case $name in
	rx) # kernel -> stack: kernel sender in the stack's namespace, libsock sink
		"$US" sink "$SINK_PORT" "$SECS" >"$out.sink" &
		SINK_PID=$!
		wait_ready "$out.sink"
		ip netns exec "$NS_STACK" "$KS" send "$NET.2" "$SINK_PORT" "$SECS" >"$out.send"
		;;
	tx) # stack -> kernel: libsock sender, kernel sink in the stack's namespace
		ip netns exec "$NS_STACK" "$KS" sink "$SINK_PORT" "$SECS" >"$out.sink" &
		SINK_PID=$!
		wait_ready "$out.sink"
		"$US" send "$NET.1" "$SINK_PORT" "$SECS" >"$out.send"
		;;
	kernel) # namespace A -> namespace B over the veth
		ip netns exec "$NS_B" "$KS" sink "$SINK_PORT" "$SECS" >"$out.sink" &
		SINK_PID=$!
		wait_ready "$out.sink"
		ip netns exec "$NS_A" "$KS" send "$ADDR_B" "$SINK_PORT" "$SECS" >"$out.send"
		;;
	esac
	wait "$SINK_PID" || echo "tcp_bench: bulk $name: sink exited with $?" >&2
	SINK_PID=
	kv "$out.sink" mbit >>"$TMP/bulk.$name"
	if [[ $name != kernel ]]; then
		snap "$out.after"
		echo "$(deltas "$out.before" "$out.after")" >>"$TMP/bulk.$name.ctr"
	fi
}

rr() { # SIDE: one request/response run, "p50 p99 mean" in µs appended to $TMP/rr.SIDE
	local out="$TMP/run.rr"
	if [[ $1 == stack ]]; then
		"$US" rr "$NET.1" "$ECHO_PORT" "$RR_N" 64 >"$out"
	else
		ip netns exec "$NS_A" "$KS" rr "$ADDR_B" "$ECHO_PORT" "$RR_N" 64 >"$out"
	fi
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	     END { printf "%.1f %.1f %.1f\n", v["p50_ns"] / 1e3, v["p99_ns"] / 1e3, v["mean_ns"] / 1e3 }' \
		"$out" >>"$TMP/rr.$1"
}

crr() { # SIDE: one connection-rate run, "cps p50_us p99_us errors" appended to $TMP/crr.SIDE
	local out="$TMP/run.crr"
	case $1 in
	stack) "$US" crr "$NET.1" "$CRR_PORT" "$SECS" 64 >"$out" || true ;;
	stack-server) ip netns exec "$NS_STACK" "$KS" crr "$NET.2" "$CRR_STACK_PORT" "$SECS" 64 >"$out" || true ;;
	kernel) ip netns exec "$NS_A" "$KS" crr "$ADDR_B" "$CRR_PORT" "$SECS" 64 >"$out" || true ;;
	esac
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	     END { printf "%.0f %.1f %.1f %d\n", v["cps"], v["p50_ns"] / 1e3, v["p99_ns"] / 1e3, v["errors"] }' \
		"$out" >>"$TMP/crr.$1"
}

load() { awk '{ print $1, $2, $3 }' /proc/loadavg; }
echo "tcp_bench: load average before: $(load)" >&2
t0=$SECONDS
for ((r = 0; r < ROUNDS; r++)); do
	# Alternate, and swap who goes first every other round so that neither side always runs
	# right after the other's load.
	if ((r % 2 == 0)); then
		bulk tx; bulk kernel; bulk rx
		rr stack; rr kernel
		crr stack; crr kernel; crr stack-server
	else
		bulk rx; bulk kernel; bulk tx
		rr kernel; rr stack
		crr stack-server; crr kernel; crr stack
	fi
	echo "tcp_bench: round $((r + 1))/$ROUNDS done, load average $(load)" >&2
done
elapsed=$((SECONDS - t0))

med() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$1"; }
rounds() { awk -v c="$2" '{ printf "%s%s", (NR > 1 ? " " : ""), $c }' "$1"; } # FILE COL
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

printf "TCP through ustack (libsock app, tcpd, ipd, nicd, TAP; link = %s, busy poll %s us; %s) vs kernel<->kernel over a veth\n" "$BENCH_LINK" "$BENCH_BUSY_POLL" "$(bench_placement)"
printf "%d rounds alternating, %d s per bulk and crr run, %d round trips per rr run; medians over rounds (%d s)\n" \
	"$ROUNDS" "$SECS" "$RR_N" "$elapsed"
printf "%s, %s CPUs, load average at the end %s\n\n" "$(uname -r)" "$(nproc)" "$(load)"

kb=$(col "$TMP/bulk.kernel" 1 | med)
printf "%-36s %10s %8s   %s\n" "bulk, one connection" "Mbit/s" "ratio" "Mbit/s per round"
for name in tx rx kernel; do
	case $name in
	tx) label="ustack tx (stack app -> kernel)" ;;
	rx) label="ustack rx (kernel -> stack app)" ;;
	kernel) label="kernel (veth, 2 netns)" ;;
	esac
	m=$(col "$TMP/bulk.$name" 1 | med)
	printf "%-36s %10.0f %8s   %s\n" "$label" "$m" "$(ratio "$m" "$kb")" "$(rounds "$TMP/bulk.$name" 1)"
done
printf "\n%-36s %9s %9s %9s   %s\n" "request/response, 64 B" "p50 us" "p99 us" "mean us" "p50 us per round"
for side in stack kernel; do
	f="$TMP/rr.$side"
	label=$([[ $side == stack ]] && echo "ustack (app on libsock)" || echo "kernel (veth, 2 netns)")
	printf "%-36s %9.1f %9.1f %9.1f   %s\n" "$label" "$(col "$f" 1 | med)" "$(col "$f" 2 | med)" \
		"$(col "$f" 3 | med)" "$(rounds "$f" 1)"
done
printf "%-36s %9s %9s %9s\n" "ratio ustack/kernel" \
	"$(ratio "$(col "$TMP/rr.stack" 1 | med)" "$(col "$TMP/rr.kernel" 1 | med)")" \
	"$(ratio "$(col "$TMP/rr.stack" 2 | med)" "$(col "$TMP/rr.kernel" 2 | med)")" \
	"$(ratio "$(col "$TMP/rr.stack" 3 | med)" "$(col "$TMP/rr.kernel" 3 | med)")"
printf "\n%-36s %9s %9s %9s %6s   %s\n" "connections/s (connect, 64 B, close)" "conn/s" "p50 us" \
	"p99 us" "errors" "conn/s per round (ratio of medians to the kernel)"
kc=$(col "$TMP/crr.kernel" 1 | med)
for side in stack stack-server kernel; do
	f="$TMP/crr.$side"
	case $side in
	stack) label="ustack client (libsock connects)" ;;
	stack-server) label="ustack server (libsock accepts)" ;;
	kernel) label="kernel (veth, 2 netns)" ;;
	esac
	c=$(col "$f" 1 | med)
	printf "%-36s %9.0f %9.1f %9.1f %6d   %s (%s)\n" "$label" "$c" "$(col "$f" 2 | med)" \
		"$(col "$f" 3 | med)" "$(awk '{ s += $4 } END { print s + 0 }' "$f")" "$(rounds "$f" 1)" \
		"$(ratio "$c" "$kc")"
done

printf "\nstack counters that moved during the bulk runs, per round\n"
for name in tx rx; do
	awk -v n="$name" '{ printf "  %s round %d:%s\n", n, NR, $0 }' "$TMP/bulk.$name.ctr"
done
