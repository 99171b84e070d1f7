# stack.sh: shared by the integration and fault tests. Source it with the build dir as $1.
# Brings one ustack instance up in a namespace of its own and guarantees that everything it made
# (units, manager, TAP, namespace, shared memory, config) is removed when the test exits.
set -Eeuo pipefail
# A command that fails where set -e ends the test says so (it would end it without a word: a
# query inside $(...) under pipefail), and so does fail() called inside $(...), whose stdout
# is captured: both write to stderr. Not where set -e is off (cleanup traps, checked failures),
# nor inside a subshell: a $(...) that fails is reported by the command that used it, and a
# <(...) that finds nothing is no failure.
trap 'T_ERR_RC=$?; [[ $- != *e* || $BASH_SUBSHELL != 0 ]] ||
	echo "error: ${BASH_SOURCE[0]##*/}:$LINENO: \"$BASH_COMMAND\" exited $T_ERR_RC" >&2' ERR

BUILD=${1:?usage: $0 BUILD_DIR}
CTL="$BUILD/bin/ustackctl"
PY=/usr/bin/python3 # Debian's python3, which has scapy (a pyenv python may not)
T_INST="t$$"
T_NS="ustk-$T_INST"
T_NET="10.201.$(($$ % 200 + 1))"
T_ADDR="$T_NET.2"
T_PEER="$T_NET.1"
T_IF=""
T_PIDS=()

log() { echo "[$(date +%T.%3N)] $*"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
pass() { echo "PASS: $*"; }

t_cleanup() {
	local rc=$?
	for p in "${T_PIDS[@]:-}"; do
		[[ -n "$p" ]] && kill "$p" 2>/dev/null || true
	done
	if [[ $rc -ne 0 && -x "$CTL" ]]; then
		echo "--- diagnostics (exit $rc)"
		"$CTL" status --instance "$T_INST" 2>&1 || true
		"$CTL" stats --instance "$T_INST" 2>&1 | grep -v ' 0$' || true
		local mlog="/run/ustack/$T_INST/manager/manager.log"
		[[ -f "$mlog" ]] && tail -n 40 "$mlog"
		# The whole log of every layer, for chasing an intermittent failure by hand.
		if [[ -n "${USTACK_TEST_KEEP_LOGS:-}" && -f "$mlog" ]]; then
			mkdir -p "$USTACK_TEST_KEEP_LOGS" &&
				cp "$mlog" "$USTACK_TEST_KEEP_LOGS/$T_INST.manager.log" &&
				echo "(the layers' whole log: $USTACK_TEST_KEEP_LOGS/$T_INST.manager.log)"
		fi
	fi
	"$CTL" down --instance "$T_INST" >/dev/null 2>&1 || echo "warning: ustackctl down failed"
	ip netns del "$T_NS" 2>/dev/null || true
	exit $rc
}
trap t_cleanup EXIT

# The descriptor links between the layers: zmq (the default) or shm, from USTACK_TEST_LINK
# (tests/run.sh runs the fault tests with both).
T_LINK=${USTACK_TEST_LINK:-zmq}
[[ $T_LINK == zmq || $T_LINK == shm ]] || fail "USTACK_TEST_LINK must be zmq or shm, not $T_LINK"

# Bring the instance up; extra ustackctl up arguments may follow.
stack_up() {
	[[ $(id -u) -eq 0 ]] || fail "needs root (network namespaces, TAP)"
	"$CTL" up --instance "$T_INST" --netns "$T_NS" --addr "$T_ADDR/24" --peer "$T_PEER" \
		--gateway "$T_PEER" --link "$T_LINK" "$@" || fail "ustackctl up"
	log "instance $T_INST: links $T_LINK"
	T_IF=$(awk -F' *= *' '$1=="ifname"{print $2}' "/etc/ustack/$T_INST.conf")
	[[ -n "$T_IF" ]] || fail "no ifname in the instance config"
}

# udp_echo_up PORT LOG: ustack-echo --udp on PORT (a libsock application of the instance in
# USTACK_INSTANCE, ended by t_cleanup), logging to LOG; returns once it is ready.
udp_echo_up() {
	"$BUILD/bin/ustack-echo" --udp --port "$1" >"$2" 2>&1 &
	T_PIDS+=($!)
	for _ in $(seq 100); do
		grep -q "udp port $1 ready" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "ustack-echo --udp did not start: $(cat "$2")"
}

# udp_echo_ok [TRIES]: a datagram from the kernel through the whole stack to the echo on port 9
# (udp_echo_up 9 ...) and back, within TRIES (10) tries of 0.3 s each.
udp_echo_ok() {
	in_ns "$PY" - "$T_ADDR" "${1:-10}" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.3)
for i in range(int(sys.argv[2])):
    s.sendto(b"hello %d" % i, (sys.argv[1], 9))
    try:
        if s.recvfrom(100)[0] == b"hello %d" % i:
            sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
PYEOF
}

# Run a command in the test namespace. Background ones with `ip netns exec "$T_NS" CMD &`
# instead: a backgrounded shell function is a subshell, and killing its PID would leave CMD running.
in_ns() { ip netns exec "$T_NS" "$@"; }

# stat LAYER.NAME → its value from `ustackctl stats` (fails the test if absent).
stat() {
	local v
	v=$("$CTL" stats --instance "$T_INST" | awk -v k="$1" '$1==k {print $2}')
	[[ -n "$v" ]] || fail "counter $1 not reported"
	echo "$v"
}

# ping_ok SIZE COUNT: every echo answered.
# -w, not -W: with replies coming, ping waits only two round trips for the last one (ping(8)),
# so one reply delayed on a loaded machine read as lost; -w waits for all COUNT up to 10 s.
ping_ok() {
	local out
	out=$(in_ns ping -n -q -c "$2" -i 0.05 -w 10 -s "$1" "$T_ADDR" 2>&1) || true
	grep -q " $2 received" <<<"$out" || fail "ping -s $1: $(grep -E 'transmitted|100%' <<<"$out")"
}

# Our MAC as the kernel learned it.
stack_mac() {
	in_ns ping -c 1 -W 2 "$T_ADDR" >/dev/null || true
	in_ns ip neigh show "$T_ADDR" dev "$T_IF" | awk '{for(i=1;i<=NF;i++) if($i=="lladdr") print $(i+1)}'
}

# pool_settles IDLE: true once pool.free equals IDLE, polling for up to 3 s (a packet may still
# be on its way or waiting for ARP when traffic has just stopped; a leak never settles).
pool_settles() {
	for _ in $(seq 60); do
		(($(stat pool.free) == $1)) && return 0
		sleep 0.05
	done
	return 1
}

# in_drops: frames sent from the kernel side that never reached ipd, as counted on the way (the
# TAP's queue, nicd, the nicd->ipd link). A burst may overrun them as it would a NIC's ring; a
# test that counts what arrived adds these to account for every frame it sent.
in_drops() {
	local out sum k v
	out=$("$CTL" stats --instance "$T_INST")
	sum=$(in_ns cat "/sys/class/net/$T_IF/statistics/tx_dropped")
	for k in nicd.link_to_ipd_tx_drop_full ipd.link_from_nicd_rx_drop_stale; do
		v=$(awk -v k="$k" '$1==k {print $2}' <<<"$out")
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
