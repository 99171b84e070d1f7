#!/usr/bin/env bash
# test_latency: every hop measured (issue 8). With ustack-echo --udp answering a kernel client in
# the namespace (one datagram in flight at a time, its round trip timed by the client):
#   - `ustackctl latency --interval` prints every hop of the UDP path, both ways, with packets
#     counted (at least the client's round trips of the interval) and p50 <= p99;
#   - the hops' p50s add up to no more than the round trip the client measured (with the
#     buckets' 12.5 % resolution): the stack cannot spend more time than the whole trip;
#   - the hops between the application and udpd are in it (issue 8: the receive path ends when
#     the application takes the datagram, the send path starts when it commits its answer):
#     "link udpd -> app (app-reported)" and "link app -> udpd", each with 0 < p50 <= the round
#     trip, counting the same datagrams, and no stamp or app-reported sample refused (an honest
#     libsock);
#   - the one-histogram measurements (wire -> app at udpd, entry -> wire at nicd) agree;
#   - ping: an echo reply inherits its request's entry time, so nicd counts it wire to wire;
#   - `ustackctl stats` prints p50/p99 per layer and link, and `--json` carries them;
#   - usage errors: --interval out of range, --interval on another command.
source "$(dirname "$0")/../lib/stack.sh" "$1"

export USTACK_INSTANCE="$T_INST"
WORK=$(mktemp -d "/tmp/ustack-$T_INST-lat.XXXXXX")
# set +e: under errexit a failing `(exit $rc)` would end the trap before t_cleanup, leaving the
# instance up after a failure.
trap 'rc=$?; rm -rf "$WORK"; set +e; (exit $rc); t_cleanup' EXIT

stack_up

udp_echo_up 9 "$WORK/uecho.log"

# The kernel client: one 64-byte request at a time for SECS seconds, each answered before the
# next; prints the count and the p50 of the round trips in microseconds.
client() {
	in_ns "$PY" - "$T_ADDR" 9 "$1" <<'EOF'
import socket, sys, time
addr, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
rtts, lost = [], 0
end = time.monotonic() + secs
i = 0
while time.monotonic() < end:
    msg = i.to_bytes(8, "big") * 8
    t0 = time.monotonic_ns()
    s.sendto(msg, (addr, port))
    try:
        while True:
            data, _ = s.recvfrom(2048)
            if data == msg:
                break
    except socket.timeout:
        lost += 1
        continue
    rtts.append((time.monotonic_ns() - t0) / 1000.0)
    i += 1
    time.sleep(0.002)
rtts.sort()
print(len(rtts), lost, rtts[len(rtts) // 2] if rtts else 0)
EOF
}

# Warm-up (ARP, the first datagram's socket lookups), then the measured run: the interval of
# `latency` lies inside the client's run.
client 0.3 >/dev/null || fail "warm-up client"
client 3 >"$WORK/client.out" &
CLIENT=$!
sleep 0.5
"$CTL" latency --instance "$T_INST" --interval 2 >"$WORK/lat.txt" 2>"$WORK/lat.err" ||
	fail "latency: $(cat "$WORK/lat.err")"
wait "$CLIENT" || fail "client"
read -r N LOST RTT50 <"$WORK/client.out"
log "client: $N round trips, $LOST lost, p50 $RTT50 us"
cat "$WORK/lat.txt"
((N > 100)) || fail "client made only $N round trips"

"$PY" - "$WORK/lat.txt" "$RTT50" <<'EOF' || fail "latency table"
import re, sys
text = open(sys.argv[1]).read()
rtt50 = float(sys.argv[2])
hops = [("nicd", "frame read -> sent to ipd"), ("link", "nicd -> ipd"),
        ("ipd", "arrived -> sent to udpd"), ("link", "ipd -> udpd"),
        ("udpd", "arrived -> in the app's ring"), ("link", "udpd -> app (app-reported)"),
        ("link", "app -> udpd"),
        ("udpd", "record taken -> sent to ipd"), ("link", "udpd -> ipd"),
        ("ipd", "arrived -> sent to nicd"), ("link", "ipd -> nicd"),
        ("nicd", "arrived -> TAP write submitted")]
row = r"\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s*$"
total = 0.0
hop_n = {}
for who, what in hops:
    m = re.search(r"^\s+" + re.escape(who) + r"\s+" + re.escape(what) + row, text, re.M)
    assert m, f"no row for {who} {what}"
    n, p50, p99 = int(m[1]), float(m[2]), float(m[3])
    # 2 s of a client that makes a round trip every ~2-3 ms: well over 100 in the interval
    assert n >= 100, f"{who} {what}: only {n} packets"
    assert p50 <= p99, f"{who} {what}: p50 {p50} > p99 {p99}"
    if what in ("udpd -> app (app-reported)", "app -> udpd"):
        # The application's hops: real (> 0) and inside the round trip at the median (the
        # client's p50 bounds every hop's p50; a hop's p99 can be one late wake-up).
        assert 0 < p50 <= rtt50 * 1.125, f"{who} {what}: p50 {p50} us, round trip {rtt50} us"
        hop_n[what] = n
    total += p50
assert total <= rtt50 * 1.125 + 1, f"hops' p50s add up to {total} us, more than the round trip {rtt50} us"
for what in ("wire -> app's ring", "stack entry -> TAP write"):
    m = re.search(r"measured " + re.escape(what) + r" \(\w+\)" + row, text, re.M)
    assert m, f"no measured row {what}"
    assert int(m[1]) >= 100 and float(m[2]) <= float(m[3]) and float(m[2]) <= rtt50 * 1.125
sums = re.findall(r"sum of the hops" + r"\s+([\d.]+)\s+([\d.]+)\s*$", text, re.M)
assert len(sums) == 2, "a path without its sum"
# One datagram in flight: the echo takes each request it gets and answers each, so the two
# application hops count the same datagrams (the interval's edges may cut one or two).
a, b = hop_n["udpd -> app (app-reported)"], hop_n["app -> udpd"]
assert abs(a - b) <= 3, f"app-reported takes {a}, records sent {b}"
assert "between taking a datagram and its next send is not measured" in " ".join(text.split())
print(f"hops' p50s add up to {total:.1f} us of the client's {rtt50:.1f} us round trip")
EOF
pass "latency: every hop of both paths counted, the application's two among them, p50 <= p99, the hops' p50s within the round trip"
for c in tx_stamp_bad app_hist_over_credit app_hist_went_down; do
	v=$(stat "udpd.$c")
	((v == 0)) || fail "udpd.$c is $v with an honest libsock"
done
pass "no stamp refused, no app-reported sample refused"

# ICMP: the reply ipd makes inherits the request's entry time, so nicd measures wire to wire.
before=$(stat nicd.latency.total_to_wire.count)
ping_ok 56 20
after=$(stat nicd.latency.total_to_wire.count)
((after >= before + 20)) || fail "nicd.latency.total_to_wire counted $((after - before)) of 20 echo replies"
pass "ping: echo replies measured wire to wire at nicd"

"$CTL" stats --instance "$T_INST" >"$WORK/stats.txt" || fail "stats"
for k in nicd.latency.inside_to_ipd ipd.latency.transit_from_nicd ipd.latency.inside_to_udpd \
	udpd.latency.transit_from_ipd udpd.latency.inside_to_app udpd.latency.inside_to_ipd \
	udpd.latency.transit_from_app udpd.latency.app_transit_from_udpd \
	ipd.latency.transit_from_udpd ipd.latency.inside_to_nicd nicd.latency.transit_from_ipd \
	nicd.latency.inside_to_wire tcpd.latency.transit_from_ipd; do
	for q in count p50_ns p99_ns; do
		grep -q "^$k\.$q [0-9]\+$" "$WORK/stats.txt" || fail "stats: no $k.$q"
	done
done
"$CTL" stats --instance "$T_INST" --json >"$WORK/stats.json" || fail "stats --json"
"$PY" - "$WORK/stats.json" <<'EOF' || fail "stats --json: $(head -c 800 "$WORK/stats.json")"
import json, sys
st = json.load(open(sys.argv[1]))
want = {"nicd": ["inside_to_ipd", "transit_from_ipd", "inside_to_wire", "total_to_wire"],
        "ipd": ["transit_from_nicd", "inside_to_nicd", "transit_from_udpd", "inside_to_udpd"],
        "udpd": ["transit_from_ipd", "inside_to_ipd", "inside_to_app", "total_to_app",
                 "transit_from_app", "app_transit_from_udpd"]}
for layer, names in want.items():
    lat = st[layer]["latency"]
    for n in names:
        h = lat[n]
        assert h["count"] > 0, f"{layer}.{n}: no samples"
        assert 0 < h["p50_ns"] <= h["p99_ns"], f"{layer}.{n}: {h}"
assert "transit_from_ipd" in st["tcpd"]["latency"]
EOF
pass "stats prints count/p50/p99 per layer and link, --json carries them"

set +e
"$CTL" latency --instance "$T_INST" --interval 0 >/dev/null 2>&1
rc1=$?
"$CTL" stats --instance "$T_INST" --interval 1 >/dev/null 2>&1
rc2=$?
set -e
((rc1 == 2 && rc2 == 2)) || fail "usage errors exit $rc1 and $rc2, not 2"
# Cumulative: at least what the interval saw (a file, not a pipe into grep -q, whose early exit
# would make pipefail report ustackctl's SIGPIPE).
"$CTL" latency --instance "$T_INST" >"$WORK/cum.txt" || fail "latency without --interval"
grep -q "since each layer started" "$WORK/cum.txt" || fail "cumulative latency: $(head -3 "$WORK/cum.txt")"
hop_n() { awk '/^  nicd  frame read -> sent to ipd/ {print $(NF-2)}' "$1"; }
(($(hop_n "$WORK/cum.txt") >= $(hop_n "$WORK/lat.txt"))) || fail "cumulative count below the interval's"
pass "latency: cumulative by default; bad --interval is a usage error"
