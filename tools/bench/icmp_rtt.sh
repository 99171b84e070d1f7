#!/usr/bin/env bash
# icmp_rtt: ICMP echo round trip through ustack (kernel ping → TAP → nicd → ipd → back), with
# the layers' descriptor links over ZeroMQ (the default) and over shared-memory rings (link =
# shm), against the same between two kernel namespaces over a veth, measured in one run with the
# three alternating, printed as median and p99 with their ratios. A benchmark, not a test: it
# asserts nothing about speed.
#
# BENCH_CPUS (environment): a CPU list; the stacks' layers, the pingers and both kernel ends all
# run there (the script re-executes itself under taskset). Unset: nothing is pinned.
#
# usage: tools/bench/icmp_rtt.sh BUILD_DIR [ROUNDS] [PINGS_PER_ROUND]
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR [ROUNDS] [PINGS_PER_ROUND]}
BENCH_CPUS=${BENCH_CPUS:-}
if [[ -n $BENCH_CPUS && -z ${BENCH_PINNED:-} ]]; then
	BENCH_PINNED=1 exec taskset -c "$BENCH_CPUS" "$0" "$@"
fi
CPUS_ARG=(${BENCH_CPUS:+--cpus "$BENCH_CPUS"})
ROUNDS=${2:-4}
PER=${3:-500}
CTL="$BUILD/bin/ustackctl"
INST="bench$$"
NS_STACK="ustk-$INST"
INST_SHM="bench$$s"
NS_SHM="ustk-$INST_SHM"
NET_SHM="10.204.$(($$ % 200 + 1))"
NS_A="ustk-$INST-a"
NS_B="ustk-$INST-b"
NET="10.202.$(($$ % 200 + 1))"

cleanup() {
	"$CTL" down --instance "$INST" >/dev/null 2>&1 || true
	"$CTL" down --instance "$INST_SHM" >/dev/null 2>&1 || true
	ip netns del "$NS_STACK" 2>/dev/null || true
	ip netns del "$NS_SHM" 2>/dev/null || true
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	rm -f "/tmp/$INST".*
}
trap cleanup EXIT

"$CTL" up --instance "$INST" --netns "$NS_STACK" --addr "$NET.2/24" --peer "$NET.1" "${CPUS_ARG[@]}" >/dev/null
"$CTL" up --instance "$INST_SHM" --netns "$NS_SHM" --addr "$NET_SHM.2/24" --peer "$NET_SHM.1" \
	--link shm "${CPUS_ARG[@]}" >/dev/null
ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link add veth0 type veth peer name veth1 netns "$NS_B"
ip -n "$NS_A" addr add 10.203.0.1/24 dev veth0
ip -n "$NS_B" addr add 10.203.0.2/24 dev veth1
ip -n "$NS_A" link set veth0 up
ip -n "$NS_B" link set veth1 up
ip netns exec "$NS_STACK" ping -c 3 -W 2 "$NET.2" >/dev/null
ip netns exec "$NS_SHM" ping -c 3 -W 2 "$NET_SHM.2" >/dev/null
ip netns exec "$NS_A" ping -c 3 -W 2 10.203.0.2 >/dev/null

rtts() { # NS ADDR OUT: per-echo round trip times in µs appended to OUT
	ip netns exec "$1" ping -n -c "$PER" -i 0.002 -W 1 "$2" 2>/dev/null |
		sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | awk '{ printf "%d\n", $1 * 1000 }' >>"$3"
}
for ((r = 0; r < ROUNDS; r++)); do
	rtts "$NS_STACK" "$NET.2" "/tmp/$INST.stack"
	rtts "$NS_SHM" "$NET_SHM.2" "/tmp/$INST.shm"
	rtts "$NS_A" 10.203.0.2 "/tmp/$INST.kernel"
done

# Flood ping (ping -f) for 2 s per kind: average RTT and rate, and the most threads nicd had
# meanwhile (sampled from /proc every 50 ms; io_uring's workers would show up as iou-wrk-*).
layer_pid() { "$CTL" status --instance "$1" | awk -v l="$2" '$1 == l { print $4 }'; }
flood() { # NS ADDR INSTANCE
	local pid max=0 n
	pid=$(layer_pid "$3" nicd)
	ip netns exec "$1" ping -f -q -w 2 "$2" >"/tmp/$INST.flood" 2>&1 &
	local fp=$!
	while kill -0 "$fp" 2>/dev/null; do
		n=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
		((n > max)) && max=$n
		sleep 0.05
	done
	wait "$fp" || true
	awk -v t="$max" '/packets transmitted/ { sent = $1 } /rtt/ { split($4, v, "/"); avg = v[2] }
		END { printf "%8d %10.0f %8d\n", sent / 2, avg * 1000, t }' "/tmp/$INST.flood"
}

flood_kernel() {
	ip netns exec "$NS_A" ping -f -q -w 2 10.203.0.2 >"/tmp/$INST.flood" 2>&1 || true
	awk '/packets transmitted/ { sent = $1 } /rtt/ { split($4, v, "/"); avg = v[2] }
		END { printf "%8d %10.0f %8s\n", sent / 2, avg * 1000, "-" }' "/tmp/$INST.flood"
}

pct() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p); if (i < 1) i = 1; print v[i] }'; }
avg() { awk '{ s += $1 } END { printf "%d", NR ? s / NR : 0 }' "$1"; }
for k in stack shm kernel; do
	declare "p50_$k=$(pct "/tmp/$INST.$k" 0.50)" "p99_$k=$(pct "/tmp/$INST.$k" 0.99)" \
		"avg_$k=$(avg "/tmp/$INST.$k")"
done
printf "ICMP echo RTT, 56-byte payload, %d rounds x %d echoes each, alternating; %s\n" "$ROUNDS" "$PER" \
	"$(if [[ -n $BENCH_CPUS ]]; then echo "everything on CPU $BENCH_CPUS"; else echo "nothing pinned"; fi)"
printf "%-28s %8s %8s %8s %8s\n" "" "samples" "p50 us" "p99 us" "avg us"
for k in stack shm kernel; do
	case $k in stack) name="ustack, link = zmq" ;; shm) name="ustack, link = shm" ;; *) name="kernel (veth, 2 netns)" ;; esac
	p50=p50_$k p99=p99_$k a=avg_$k
	printf "%-28s %8d %8d %8d %8d\n" "$name" "$(wc -l <"/tmp/$INST.$k")" "${!p50}" "${!p99}" "${!a}"
done
for k in stack shm; do
	p50=p50_$k p99=p99_$k a=avg_$k
	awk -v n="$([[ $k == stack ]] && echo zmq || echo shm)" -v a="${!p50}" -v b="$p50_kernel" \
		-v c="${!p99}" -v d="$p99_kernel" -v e="${!a}" -v f="$avg_kernel" \
		'BEGIN { printf "ratio %s/kernel             p50 %.2fx   p99 %.2fx   avg %.2fx\n", n,
			 a / (b ? b : 1), c / (d ? d : 1), e / (f ? f : 1) }'
done
printf "\nping -f, 2 s each              echo/s     avg us  nicd threads (max)\n"
printf "%-28s %s\n" "ustack, link = zmq" "$(flood "$NS_STACK" "$NET.2" "$INST")"
printf "%-28s %s\n" "ustack, link = shm" "$(flood "$NS_SHM" "$NET_SHM.2" "$INST_SHM")"
printf "%-28s %s\n" "kernel (veth, 2 netns)" "$(flood_kernel)"
