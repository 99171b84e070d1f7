#!/usr/bin/env bash
# offload_bench: the kernel -> stack UDP path with [nic] offload on and off, measured in one run:
# two instances side by side (one `ustackctl up`, one `ustackctl up --offload off`, each in its
# own namespace), rounds alternating between them, so both see the same machine. With offload
# on the kernel's UDP arrives with partial checksums (nothing to verify in udpd) and nicd's reads
# are chained READVs of 30 buffers; off, plain frames into single-buffer READ_FIXEDs, checksums
# computed by the kernel and verified by udpd. A benchmark, not a test: it asserts nothing.
#
# Per round and instance, all from the kernel in the instance's namespace to a libsock program
# on the stack (tools/bench/udp_rr.c, as udp_bench.sh uses):
#   echo 1472 / 64   request/response round trips with a libsock echo server: p50, mean, and
#                    the echo rate (round trips per second, 1 / mean)
#   rx 1472 / 64     one-way rate delivered to a libsock sink (blocking kernel sender)
#
# usage: tools/bench/offload_bench.sh BUILD_DIR [ROUNDS]
#   OFFLOAD_BENCH_SECONDS (default 2): each one-way run;  OFFLOAD_BENCH_RR_N (default 3000)
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [ROUNDS]}
ROUNDS=${2:-3}
SECS=${OFFLOAD_BENCH_SECONDS:-2}
RR_N=${OFFLOAD_BENCH_RR_N:-3000}
CTL="$BUILD/bin/ustackctl"
US="$BUILD/bin/ustack-udp-rr"
KS="$BUILD/bin/kernel-udp-rr"
ECHO_PORT=9000
SINK_PORT=9100
TMP=""
PIDS=()
SINK_PID=
for f in "$CTL" "$US" "$KS"; do
	[[ -x "$f" ]] || { echo "offload_bench: $f missing" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "offload_bench: needs root (namespaces, TAP)" >&2; exit 1; }

declare -A INST NS NET
for mode in on off; do
	INST[$mode]="ob$mode$$"
	NS[$mode]="ustk-ob$mode$$"
done
NET[on]="10.207.$(($$ % 200 + 1))"
NET[off]="10.208.$(($$ % 200 + 1))"

cleanup() {
	local p m
	for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
	[[ -n "$SINK_PID" ]] && kill "$SINK_PID" 2>/dev/null || true
	for m in on off; do
		"$CTL" down --instance "${INST[$m]}" >/dev/null 2>&1 || true
		ip netns del "${NS[$m]}" 2>/dev/null || true
	done
	[[ -n "$TMP" ]] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TMP=$(mktemp -d /tmp/offload_bench.XXXXXX)

wait_ready() {
	for _ in $(seq 100); do
		grep -q ready "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "offload_bench: no 'ready' in $1" >&2
	return 1
}
kv() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$1" | tail -n 1; }

for mode in on off; do
	"$CTL" up --instance "${INST[$mode]}" --netns "${NS[$mode]}" --addr "${NET[$mode]}.2/24" \
		--peer "${NET[$mode]}.1" --offload "$mode" >/dev/null
	ip netns exec "${NS[$mode]}" ping -c 2 -W 2 "${NET[$mode]}.2" >/dev/null
	USTACK_INSTANCE="${INST[$mode]}" "$US" echo "$ECHO_PORT" 3600 >"$TMP/echo.$mode" &
	PIDS+=($!)
	wait_ready "$TMP/echo.$mode"
	ip netns exec "${NS[$mode]}" "$KS" rr "${NET[$mode]}.2" "$ECHO_PORT" 200 64 >/dev/null
done

# rr MODE SIZE: "p50_us mean_us rate lost" appended to $TMP/rr.MODE.SIZE
rr() {
	local out="$TMP/run.rr"
	ip netns exec "${NS[$1]}" "$KS" rr "${NET[$1]}.2" "$ECHO_PORT" "$RR_N" "$2" >"$out"
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
	     END { printf "%.1f %.1f %.0f %d\n", v["p50_ns"] / 1e3, v["mean_ns"] / 1e3, 1e9 / v["mean_ns"], v["lost"] }' \
		"$out" >>"$TMP/rr.$1.$2"
}
# rx MODE SIZE: "sent recv pps" appended to $TMP/rx.MODE.SIZE
rx() {
	local out="$TMP/run"
	USTACK_INSTANCE="${INST[$1]}" "$US" sink "$SINK_PORT" $((SECS + 5)) >"$out.sink" &
	SINK_PID=$!
	wait_ready "$out.sink"
	ip netns exec "${NS[$1]}" "$KS" send "${NET[$1]}.2" "$SINK_PORT" "$SECS" "$2" >"$out.send"
	wait "$SINK_PID" || true
	SINK_PID=
	echo "$(kv "$out.send" sent) $(kv "$out.sink" received) $(kv "$out.sink" pps)" >>"$TMP/rx.$1.$2"
}

t0=$SECONDS
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then order="on off"; else order="off on"; fi
	for mode in $order; do
		rr "$mode" 1472
		rr "$mode" 64
		rx "$mode" 1472
		rx "$mode" 64
	done
done
elapsed=$((SECONDS - t0))

med() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$1"; }
rounds() { awk -v c="$2" -v d="$3" '{ printf "%s%.0f", (NR > 1 ? " " : ""), $c / d }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

printf "kernel -> stack UDP, [nic] offload on vs off: %d rounds alternating (%d s), medians\n\n" \
	"$ROUNDS" "$elapsed"
printf "%-26s %9s %9s %10s %6s   %s\n" "echo (kernel rr -> app)" "p50 us" "mean us" "echoes/s" \
	"lost" "echoes/s per round"
for size in 1472 64; do
	for mode in on off; do
		f="$TMP/rr.$mode.$size"
		printf "%-26s %9.1f %9.1f %10.0f %6d   %s\n" "$size B, offload $mode" \
			"$(col "$f" 1 | med)" "$(col "$f" 2 | med)" "$(col "$f" 3 | med)" \
			"$(awk '{ s += $4 } END { print s + 0 }' "$f")" "$(rounds "$f" 3 1)"
	done
	printf "%-26s %9s %9s %10s\n" "  on/off" "" "" \
		"$(ratio "$(col "$TMP/rr.on.$size" 3 | med)" "$(col "$TMP/rr.off.$size" 3 | med)")"
done
printf "\n%-26s %10s %10s %8s   %s\n" "one-way rx (kernel -> app)" "sent/s" "recv/s" "Mbit/s" \
	"recv k/s per round"
for size in 1472 64; do
	for mode in on off; do
		f="$TMP/rx.$mode.$size"
		pps=$(col "$f" 3 | med)
		printf "%-26s %10.0f %10.0f %8.1f   %s\n" "$size B, offload $mode" \
			"$(awk -v s="$SECS" '{ print $1 / s }' "$f" | med)" "$pps" \
			"$(awk -v p="$pps" -v n="$size" 'BEGIN { print p * n * 8 / 1e6 }')" \
			"$(rounds "$f" 3 1000)"
	done
	printf "%-26s %10s %10s\n" "  on/off" "" \
		"$(ratio "$(col "$TMP/rx.on.$size" 3 | med)" "$(col "$TMP/rx.off.$size" 3 | med)")"
done
for mode in on off; do
	printf "\nnicd (offload %s):" "$mode"
	"$CTL" stats --instance "${INST[$mode]}" |
		awk '$1 ~ /^nicd\.(rx_frames|rx_csum_partial|rx_reads|offload_rx|rx_drop_nobuf)$/ { printf " %s %s", substr($1, 6), $2 }'
done
echo
