#!/usr/bin/env bash
# test_fault_link: `ustackctl fault link|slow|clear` under real UDP traffic, the Linux kernel in
# the namespace as the client and ustack-echo --udp as the server (either link kind,
# USTACK_TEST_LINK):
#   - drop + duplicate + corrupt on ipd -> udpd: the injector's counters move, the receiver
#     refuses exactly the damaged descriptors (udpd's rx_drop_corrupt = ipd's corrupted) and the
#     duplicates (rx_drop_stale = duplicated), no datagram reaches the application twice or
#     altered, and about the share the probabilities leave gets through;
#   - seeded: the same seed over the same datagrams answers exactly the same ones, another seed
#     others;
#   - the fault shows in `ustackctl status` with its seed and counts;
#   - a delay on nicd -> ipd holds every datagram that long (no round trip is shorter) while the
#     layer keeps serving its control socket; slow on udpd makes each batch take longer;
#   - after clear, every datagram is answered again and the pool returns to its idle free
#     count: nothing leaked;
#   - malformed requests get a clear error and change nothing.
source "$(dirname "$0")/../lib/stack.sh" "$1"

export USTACK_INSTANCE="$T_INST"
WORK=$(mktemp -d "/tmp/ustack-$T_INST-fault.XXXXXX")
trap 'rc=$?; rm -rf "$WORK"; set +e; (exit $rc); t_cleanup' EXIT

stack_up

udp_echo_up 9 "$WORK/uecho.log"

# blast COUNT RATE: COUNT datagrams numbered 0.. at RATE/s, each 64 bytes derived from its
# number; prints "answered dup bad" and the answered numbers, one per line, to $WORK/answered.
blast() {
	in_ns "$PY" - "$T_ADDR" 9 "$1" "$2" "$WORK/answered" <<'PYEOF'
import hashlib, socket, sys, time
addr, port, count, rate, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
def body(i):
    return i.to_bytes(4, "big") + (hashlib.sha256(i.to_bytes(4, "big")).digest() * 2)[:60]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.setblocking(False)
seen, dup, bad = {}, 0, 0
def drain():
    global dup, bad
    while True:
        try:
            data, _ = s.recvfrom(2048)
        except BlockingIOError:
            return
        i = int.from_bytes(data[:4], "big")
        if len(data) != 64 or i >= count or data != body(i):
            bad += 1
        elif i in seen:
            dup += 1
        else:
            seen[i] = 1
start = time.monotonic()
for i in range(count):
    s.sendto(body(i), (addr, port))
    drain()
    delay = start + (i + 1) / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
end = time.monotonic() + 1.0
while time.monotonic() < end:
    drain()
    time.sleep(0.01)
with open(out, "w") as f:
    for i in sorted(seen):
        f.write("%d\n" % i)
print(len(seen), dup, bad)
PYEOF
}

# rtt_min_p50 COUNT: one datagram at a time, each answered before the next; the shortest and
# the median round trip in microseconds.
rtt_min_p50() {
	in_ns "$PY" - "$T_ADDR" 9 "$1" <<'PYEOF'
import socket, sys, time
addr, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
rtts = []
for i in range(count):
    msg = i.to_bytes(8, "big") * 8
    t0 = time.monotonic_ns()
    s.sendto(msg, (addr, port))
    try:
        while s.recvfrom(2048)[0] != msg:
            pass
    except socket.timeout:
        continue
    rtts.append((time.monotonic_ns() - t0) // 1000)
rtts.sort()
print(rtts[0] if rtts else 0, rtts[len(rtts) // 2] if rtts else 0)
PYEOF
}

# Warm-up: ARP both ways, the socket's first lookups.
read -r ok dup bad < <(blast 50 500) || fail "warm-up"
((ok == 50 && dup == 0 && bad == 0)) || fail "warm-up: $ok of 50 answered, $dup dup, $bad bad"
sleep 0.3
idle_free=$(stat pool.free)
log "idle pool free: $idle_free"

# ---- usage errors: a clear message, exit status 2, nothing changed
usage_err() {
	local want=$1
	shift
	local out rc=0
	out=$("$CTL" fault --instance "$T_INST" "$@" 2>&1) || rc=$?
	((rc == 2)) || fail "fault $*: exit $rc, expected 2 ($out)"
	grep -qi -- "$want" <<<"$out" || fail "fault $*: '$out' does not say '$want'"
}
usage_err "unknown layer" link ipd foo --drop 0.1
usage_err "not a probability" link ipd udpd --drop 1.5
usage_err "not a probability" link ipd udpd --corrupt -0.1
usage_err "not a probability" link ipd udpd --dup nan
usage_err "no link from nicd to udpd" link nicd udpd --drop 0.1
usage_err "0..1000000" link ipd udpd --delay-us 2000000
usage_err "64-bit" link ipd udpd --seed -3
usage_err "only valid with 'fault link'" slow udpd 100 --drop 0.1
out=$("$CTL" stats --instance "$T_INST" --drop 0.1 2>&1) && fail "stats --drop accepted"
grep -q "only valid with 'fault link'" <<<"$out" || fail "stats --drop: $out"
usage_err "unknown fault" explode ipd
usage_err "usage" hang ipd
usage_err "0.001..3600" hang ipd 0
usage_err "0..1000000" slow ipd 5000000
"$CTL" status --instance "$T_INST" | grep >/dev/null "fault" && fail "a refused request left a fault"
pass "malformed fault requests refused with a clear error"

# ---- drop + duplicate + corrupt on ipd -> udpd
c0=$(stat udpd.link_from_ipd_rx_drop_corrupt)
s0=$(stat udpd.link_from_ipd_rx_drop_stale)
N=1500
"$CTL" fault --instance "$T_INST" link ipd udpd --drop 0.2 --dup 0.2 --corrupt 0.2 --seed 42 ||
	fail "fault link"
read -r ok dup bad < <(blast $N 1000) || fail "blast under faults"
cp "$WORK/answered" "$WORK/answered.42a"
log "under drop/dup/corrupt 0.2: $ok of $N answered, $dup duplicated, $bad altered"
((dup == 0)) || fail "$dup datagrams reached the application twice"
((bad == 0)) || fail "$bad datagrams arrived altered"
# P(through) = 0.8 (not dropped) * 0.8 (not damaged) = 0.64
((ok > N * 54 / 100 && ok < N * 74 / 100)) || fail "$ok of $N answered, expected about 64 %"
st=$("$CTL" status --instance "$T_INST")
echo "$st"
grep -q "fault link ipd->udpd  drop 0.2 dup 0.2 corrupt 0.2 delay 0us seed 42" <<<"$st" ||
	fail "status does not show the fault"
descs=$(stat ipd.fault_to_udpd_descs)
dropped=$(stat ipd.fault_to_udpd_dropped)
dupd=$(stat ipd.fault_to_udpd_duplicated)
corr=$(stat ipd.fault_to_udpd_corrupted)
log "ipd -> udpd: $descs descs, $dropped dropped, $dupd duplicated, $corr corrupted"
((descs >= N)) || fail "the injector saw $descs descriptors of $N datagrams"
((dropped > 0 && dupd > 0 && corr > 0)) || fail "counters did not move"
((ok == descs - dropped - corr)) || fail "$ok answered, but $descs - $dropped - $corr passed"
c1=$(stat udpd.link_from_ipd_rx_drop_corrupt)
s1=$(stat udpd.link_from_ipd_rx_drop_stale)
((c1 - c0 == corr)) || fail "udpd refused $((c1 - c0)) damaged descriptors, $corr were damaged"
((s1 - s0 == dupd)) || fail "udpd refused $((s1 - s0)) stale descriptors, $dupd were duplicated"
pass "drop/dup/corrupt: counted on both ends exactly, nothing delivered twice or altered"

# Same seed, same datagrams: the same ones answered. Another seed: others.
"$CTL" fault --instance "$T_INST" link ipd udpd --drop 0.2 --dup 0.2 --corrupt 0.2 --seed 42 \
	>/dev/null || fail "fault link again"
blast $N 1000 >/dev/null || fail "blast, seed 42 again"
cmp -s "$WORK/answered" "$WORK/answered.42a" || fail "seed 42 twice answered different datagrams"
"$CTL" fault --instance "$T_INST" link ipd udpd --drop 0.2 --dup 0.2 --corrupt 0.2 --seed 43 \
	>/dev/null || fail "fault link seed 43"
blast $N 1000 >/dev/null || fail "blast, seed 43"
cmp -s "$WORK/answered" "$WORK/answered.42a" && fail "seeds 42 and 43 answered the same datagrams"
pass "seeded: the same seed answers the same datagrams, another seed others"

# Both directions and the wire link at once, then clear: everything answered again.
"$CTL" fault --instance "$T_INST" link udpd ipd --drop 0.1 --corrupt 0.1 --dup 0.1 --seed 5 \
	>/dev/null || fail "fault link udpd ipd"
"$CTL" fault --instance "$T_INST" link nicd ipd --drop 0.05 --corrupt 0.05 --dup 0.1 --seed 6 \
	>/dev/null || fail "fault link nicd ipd"
"$CTL" fault --instance "$T_INST" link ipd nicd --corrupt 0.05 --dup 0.1 --seed 7 \
	>/dev/null || fail "fault link ipd nicd"
read -r ok dup bad < <(blast $N 1000) || fail "blast, four links"
log "four links impaired: $ok of $N answered, $dup duplicated, $bad altered"
((dup == 0 && bad == 0 && ok > 0)) || fail "four links: $ok answered, $dup dup, $bad altered"
for k in nicd.fault_to_ipd_corrupted ipd.fault_to_nicd_corrupted udpd.fault_to_ipd_corrupted; do
	(($(stat $k) > 0)) || fail "$k did not move"
done
"$CTL" fault --instance "$T_INST" clear || fail "clear"
"$CTL" status --instance "$T_INST" | grep >/dev/null "  fault" && fail "status shows faults after clear"
read -r ok dup bad < <(blast 500 500) || fail "blast after clear"
((ok == 500 && dup == 0 && bad == 0)) || fail "after clear: $ok of 500 answered"
pass "after clear every datagram is answered again"

# ---- delay: held on the loop's timer, the layer serves meanwhile
# A delay or a slow batch is a lower bound on every round trip it touches, so the checks are on
# the shortest round trip. Comparing medians to an undisturbed one is not: on a loaded machine
# the undisturbed median alone was once 6.5 ms, and a 40 ms delay then "added" 36 ms.
read -r base_min base < <(rtt_min_p50 20) || fail "round trips, undisturbed"
"$CTL" fault --instance "$T_INST" link nicd ipd --delay-us 40000 --seed 1 >/dev/null ||
	fail "fault link --delay-us"
t0=$(date +%s%N)
"$CTL" status --instance "$T_INST" >/dev/null || fail "status under a delay"
t1=$(date +%s%N)
read -r slow_min slow < <(rtt_min_p50 20) || fail "round trips under a delay"
"$CTL" status --instance "$T_INST" | grep >/dev/null "fault link nicd->ipd .*delay 40000us" ||
	fail "status does not show the delay"
delayed=$(stat nicd.fault_to_ipd_delayed)
log "round trip min/p50 $base_min/$base us, with a 40 ms delay on nicd -> ipd $slow_min/$slow us; $delayed delayed"
((slow_min >= 40000 && slow < base + 200000)) ||
	fail "delay: round trip min/p50 $base_min/$base -> $slow_min/$slow us"
((delayed >= 20)) || fail "only $delayed descriptors delayed"
"$CTL" fault --instance "$T_INST" clear nicd >/dev/null || fail "clear nicd"
pass "a 40 ms delay holds every round trip at least 40 ms, counted; status answered in $(((t1 - t0) / 1000000)) ms meanwhile"

# ---- slow: each batch udpd takes costs it 20 ms more
"$CTL" fault --instance "$T_INST" slow udpd 20000 >/dev/null || fail "fault slow"
read -r slow_min slow < <(rtt_min_p50 10) || fail "round trips with udpd slowed"
slowed=$(stat udpd.fault_slowed_batches)
"$CTL" status --instance "$T_INST" | grep >/dev/null "fault slow 20000us per batch" ||
	fail "status does not show slow"
log "round trip min/p50 with udpd slowed by 20 ms per batch: $slow_min/$slow us; $slowed batches slowed"
((slow_min >= 20000 && slow < base + 200000)) || fail "slow: round trip min/p50 $slow_min/$slow us"
((slowed >= 10)) || fail "only $slowed batches slowed"
"$CTL" fault --instance "$T_INST" clear udpd >/dev/null || fail "clear udpd"
pass "slow udpd: every round trip takes at least 20 ms"

# ---- nothing leaked: the pool is back at its idle free count
read -r ok dup bad < <(blast 200 500) || fail "blast at the end"
((ok == 200)) || fail "at the end: $ok of 200 answered"
pool_settles "$idle_free" || fail "pool free $(stat pool.free), idle was $idle_free"
pass "pool back to its idle free count ($idle_free)"
