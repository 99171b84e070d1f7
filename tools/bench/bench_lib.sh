# bench_lib.sh: what the transport benchmarks (udp_bench.sh, tcp_bench.sh) set up alike, sourced
# after they set BENCH (their name, for messages), CTL, INST, NS_STACK, NS_A, NS_B, NET (the
# stack's /24: NET.2 the stack, NET.1 the kernel in NS_STACK), ADDR_A and ADDR_B (the veth pair
# between NS_A and NS_B, the kernel-to-kernel reference):
#   bench_up        the stack instance in NS_STACK, the veth pair, both paths pinged;
#   bench_stack_up INST NS NET LINK
#                   one more stack instance (a benchmark comparing link kinds), pinged;
#   cleanup         (on EXIT) ends PIDS and SINK_PID by PID, takes the instances down, removes
#                   the namespaces and TMP;
#   wait_ready F    until a server has printed "ready" in F;
#   kv F KEY        the value of KEY=... on the last result line of F.
# BENCH_LINK (environment): the instance's descriptor links, zmq (default) or shm.
# BENCH_BUSY_POLL (environment): each layer's busy polling in µs ([stack] busy_poll_us), 0 off.
# BENCH_CPUS (environment): a CPU list (such as 1). Everything of the run is placed there alike:
#   the stack's layers (ustackctl up --cpus), its applications and kernel peers, and both kernel
#   ends of the reference; the benchmark re-executes itself under taskset so that every process
#   it starts inherits the list. Unset (the default): nothing is pinned, as an application would
#   not be.
BENCH_LINK=${BENCH_LINK:-zmq}
BENCH_BUSY_POLL=${BENCH_BUSY_POLL:-0}
BENCH_CPUS=${BENCH_CPUS:-}
if [[ -n $BENCH_CPUS && -z ${BENCH_PINNED:-} ]]; then
	BENCH_PINNED=1 exec taskset -c "$BENCH_CPUS" "$0" "$@"
fi
bench_placement() { # the placement, as the headers print it
	if [[ -n $BENCH_CPUS ]]; then echo "everything on CPU $BENCH_CPUS"; else echo "nothing pinned"; fi
}
TMP=""
PIDS=()   # servers alive for the whole run
STACKS=() # "instance namespace" of every stack brought up
SINK_PID= # the sink of the run in progress

cleanup() {
	local p
	for p in "${PIDS[@]:-}"; do
		[[ -n "$p" ]] && kill "$p" 2>/dev/null || true
	done
	[[ -n "$SINK_PID" ]] && kill "$SINK_PID" 2>/dev/null || true
	local st
	for st in "${STACKS[@]:-}"; do
		[[ -n "$st" ]] || continue
		"$CTL" down --instance "${st% *}" >/dev/null 2>&1 || true
		ip netns del "${st#* }" 2>/dev/null || true
	done
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	[[ -n "$TMP" ]] && rm -rf "$TMP"
}

bench_stack_up() { # INST NS NET LINK
	STACKS+=("$1 $2")
	"$CTL" up --instance "$1" --netns "$2" --addr "$3.2/24" --peer "$3.1" \
		--link "$4" --busy-poll "$BENCH_BUSY_POLL" ${BENCH_CPUS:+--cpus "$BENCH_CPUS"} >/dev/null
	ip netns exec "$2" ping -c 2 -W 2 "$3.2" >/dev/null
}

bench_up() {
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	TMP=$(mktemp -d "/tmp/$BENCH.XXXXXX")
	export USTACK_INSTANCE="$INST"
	bench_stack_up "$INST" "$NS_STACK" "$NET" "$BENCH_LINK"
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip -n "$NS_A" link add veth0 type veth peer name veth1 netns "$NS_B"
	ip -n "$NS_A" addr add "$ADDR_A/24" dev veth0
	ip -n "$NS_B" addr add "$ADDR_B/24" dev veth1
	ip -n "$NS_A" link set veth0 up
	ip -n "$NS_B" link set veth1 up
	ip netns exec "$NS_A" ping -c 2 -W 2 "$ADDR_B" >/dev/null
}

wait_ready() {
	for _ in $(seq 100); do
		grep -q ready "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "$BENCH: no 'ready' in $1" >&2
	return 1
}

kv() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$1" | tail -n 1; }
