#!/usr/bin/env bash
# test_tcp_thousand: 1,000 stack connections open at the same time, every one echoing
# byte-exact. A libsock process holds at most 64 stream sockets (one region of
# REGION_SLOTS_MAX slots per session), so 16 applications (15 x 63 + 55) connect to one kernel
# echo server; each echoes a line on every connection, then holds them all open. With all 16
# holding, the test counts the connections established on both sides — 1,000 in
# `ustackctl sockets`, 1,000 in the kernel's `ss` — then lets them go on: a second line echoed on
# every connection, close. All of it fits the defaults: one uid's share of tcpd's sockets
# (limit_uid_sockets, 25 % of the table) is above 1,000, its 32 sessions above 16.
# Afterwards every slot is released and the pool is back to its idle count.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

PROBE="$BUILD/bin/tcp_probe"
PEER="$HERE/../lib/tcp_peer.py"
[[ -x "$PROBE" ]] || fail "no $PROBE"
OUT=$(mktemp -d "/tmp/ustack-$T_INST-1000.XXXXXX")
APPS=16
TOTAL=1000
trap 'rc=$?; set +e; for f in "${GO[@]:-}"; do [[ -n "$f" ]] && eval "exec $f>&-"; done; rm -rf "$OUT"; (exit $rc); t_cleanup' EXIT

wait_for() { # FILE WORD TRIES(50 ms)
	for _ in $(seq "${3:-200}"); do grep -q "^$2" "$OUT/$1" && return 0; sleep 0.05; done
	cat "$OUT/$1"
	fail "$1: no '$2'"
}

stack_up
export USTACK_INSTANCE="$T_INST"
ping_ok 56 2
idle=$(stat pool.free)
opens=$(stat tcpd.active_opens)
(($(stat tcpd.limit_uid_sockets) >= TOTAL)) ||
	fail "one uid's share of sockets is $(stat tcpd.limit_uid_sockets), below $TOTAL"
t0=$SECONDS

ip netns exec "$T_NS" "$PY" "$PEER" echo-server 7401 "$TOTAL" >"$OUT/k_echo" 2>&1 &
kp=$!
T_PIDS+=($kp)
wait_for k_echo listening
GO=()
PIDS=()
left=$TOTAL
for i in $(seq "$APPS"); do
	n=$((i < APPS ? 63 : left))
	left=$((left - n))
	mkfifo "$OUT/go.$i"
	"$PROBE" many-hold "$T_PEER" 7401 "$n" <"$OUT/go.$i" >"$OUT/app.$i" 2>&1 &
	PIDS+=($!)
	T_PIDS+=($!)
	exec {fd}>"$OUT/go.$i"
	GO+=("$fd")
done
((left == 0)) || fail "the applications' counts do not add up to $TOTAL"
for i in $(seq "$APPS"); do wait_for "app.$i" holding 1200; done
estab_stack=$("$CTL" sockets --instance "$T_INST" | grep -c '^tcp  *ESTAB .*:7401 ')
estab_kernel=$(in_ns ss -Htn state established '( sport = :7401 )' | wc -l)
echo "all $APPS applications holding after $((SECONDS - t0)) s: $estab_stack established in ustackctl sockets, $estab_kernel in the kernel"
((estab_stack == TOTAL && estab_kernel == TOTAL)) ||
	fail "established at once: $estab_stack on the stack, $estab_kernel in the kernel; expected $TOTAL"
(($(stat tcpd.curr_estab) == TOTAL)) || fail "tcpd.curr_estab $(stat tcpd.curr_estab)"

for fd in "${GO[@]}"; do echo go >&"$fd"; done
for i in $(seq "$APPS"); do
	wait "${PIDS[$((i - 1))]}" || { cat "$OUT/app.$i"; fail "application $i"; }
	grep -q '^echoed .* connections twice' "$OUT/app.$i" || { cat "$OUT/app.$i"; fail "application $i"; }
done
wait "$kp" || { cat "$OUT/k_echo"; fail "kernel echo server"; }
(($(stat tcpd.active_opens) - opens == TOTAL)) ||
	fail "active_opens +$(($(stat tcpd.active_opens) - opens)), expected $TOTAL"
pass "$TOTAL connections open at once from $APPS applications, each echoed twice byte-exact ($((SECONDS - t0)) s, listen overflows retried: $(stat tcpd.tcp_syn_retrans) SYN retransmissions)"

for _ in $(seq 100); do (($(stat tcpd.slots_bound) == 0)) && break; sleep 0.05; done
(($(stat tcpd.slots_bound) == 0)) || fail "slots still bound: $(stat tcpd.slots_bound)"
pool_settles "$idle" || fail "pool.free $(stat pool.free), idle $idle"
pass "every slot released, the pool idle"
