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
#   - the TCP path (ustack-echo --tcp, a kernel client, one request in flight): every hop both
#     ways counted, p50 <= p99, each p50 within the round trip and the p50s' sum too, the two
#     hops with the application counting the same requests, nothing refused from libsock;
#   - a lying application (tcp_stamp_lies: future TX stamps, an inflated then lowered
#     statistics bucket) is counted in tcpd's named counters, believed no further than the
#     stamps tcpd published, and never makes tcpd restart;
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
udp = text[:text.index("TCP path")]  # the TCP path follows; no TCP traffic yet
sums = re.findall(r"sum of the hops" + r"\s+([\d.]+)\s+([\d.]+)\s*$", udp, re.M)
assert len(sums) == 2, "a UDP path without its sum"
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

# ---- TCP: the same path through tcpd (ustack-echo --tcp, a kernel client, one 64-byte
# request in flight on one connection, TCP_NODELAY) ----
"$BUILD/bin/ustack-echo" --tcp --port 7 >"$WORK/techo.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do grep -q "tcp port 7 ready" "$WORK/techo.log" && break; sleep 0.1; done
grep -q "tcp port 7 ready" "$WORK/techo.log" || fail "ustack-echo --tcp: $(cat "$WORK/techo.log")"

tcp_client() {
	in_ns "$PY" - "$T_ADDR" 7 "$1" <<'EOF'
import socket, sys, time
addr, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((addr, port), timeout=2.0)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
end = time.monotonic() + secs
i = 0
while time.monotonic() < end:
    msg = i.to_bytes(8, "big") * 8
    t0 = time.monotonic_ns()
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = s.recv(len(msg) - len(got))
        assert d, "EOF from the echo"
        got += d
    assert got == msg, "the echo differs"
    rtts.append((time.monotonic_ns() - t0) / 1000.0)
    i += 1
    time.sleep(0.002)
s.close()
rtts.sort()
print(len(rtts), rtts[len(rtts) // 2] if rtts else 0)
EOF
}

tcp_client 0.3 >/dev/null || fail "TCP warm-up client"
tcp_client 3 >"$WORK/tclient.out" &
CLIENT=$!
sleep 0.5
"$CTL" latency --instance "$T_INST" --interval 2 >"$WORK/tlat.txt" 2>"$WORK/tlat.err" ||
	fail "latency: $(cat "$WORK/tlat.err")"
wait "$CLIENT" || fail "TCP client"
read -r TN TRTT50 <"$WORK/tclient.out"
log "TCP client: $TN round trips, p50 $TRTT50 us"
cat "$WORK/tlat.txt"
((TN > 100)) || fail "TCP client made only $TN round trips"

"$PY" - "$WORK/tlat.txt" "$TRTT50" <<'EOF' || fail "TCP latency table"
import re, sys
text = open(sys.argv[1]).read()
rtt50 = float(sys.argv[2])
assert "UDP path" in text and "TCP path" in text, "both transports' paths"
tcp = text[text.index("TCP path"):]
hops = [("nicd", "frame read -> sent to ipd"), ("link", "nicd -> ipd"),
        ("ipd", "arrived -> sent to tcpd"), ("link", "ipd -> tcpd"),
        ("tcpd", "arrived -> in the app's ring"), ("link", "tcpd -> app (app-reported)"),
        ("link", "app -> tcpd"),
        ("tcpd", "released -> sent to ipd"), ("link", "tcpd -> ipd"),
        ("ipd", "arrived -> sent to nicd"), ("link", "ipd -> nicd"),
        ("nicd", "arrived -> TAP write submitted")]
row = r"\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s*$"
total = 0.0
n_app = {}
for who, what in hops:
    m = re.search(r"^\s+" + re.escape(who) + r"\s+" + re.escape(what) + row, tcp, re.M)
    assert m, f"no TCP row for {who} {what}"
    n, p50, p99 = int(m[1]), float(m[2]), float(m[3])
    # 2 s of a client with a round trip every ~2-3 ms: each hop sees every request or answer
    assert n >= 100, f"{who} {what}: only {n} packets"
    assert 0 < p50 <= p99, f"{who} {what}: p50 {p50} p99 {p99}"
    # a plausible bound: no hop's median is longer than the whole round trip, no p99 a second
    assert p50 <= rtt50 * 1.125, f"{who} {what}: p50 {p50} us, round trip {rtt50} us"
    assert p99 < 1e6, f"{who} {what}: p99 {p99} us"
    if who == "link" and "app" in what:
        n_app[what] = n
    total += p50
assert total <= rtt50 * 1.125 + 1, f"TCP hops' p50s add up to {total} us, more than the round trip {rtt50} us"
for what, who in (("wire -> app's ring", "tcpd"), ("stack entry -> TAP write", "nicd")):
    m = re.search(r"measured " + re.escape(what) + r" \(" + who + r"\)" + row, tcp, re.M)
    assert m, f"no TCP measured row {what}"
    assert int(m[1]) >= 100 and 0 < float(m[2]) <= float(m[3]) and float(m[2]) <= rtt50 * 1.125
# One request in flight: each is read once and answered once, so the two hops with the
# application count about the same stamps (the interval's edges may cut a few).
a, b = n_app["tcpd -> app (app-reported)"], n_app["app -> tcpd"]
assert abs(a - b) <= 5, f"app-reported reads {a}, take-ups {b}"
print(f"TCP hops' p50s add up to {total:.1f} us of the client's {rtt50:.1f} us round trip")
EOF
pass "latency: every hop of the TCP path counted both ways, the application's two among them, p50 <= p99, within the round trip"
for c in tx_stamp_bad app_hist_over_credit app_hist_went_down; do
	v=$(stat "tcpd.$c")
	((v == 0)) || fail "tcpd.$c is $v with an honest libsock"
done
for k in inside_to_app total_to_app transit_from_app app_transit_from_tcpd inside_to_ipd; do
	v=$(stat "tcpd.latency.$k.count")
	((v > 0)) || fail "stats: tcpd.latency.$k.count is $v after TCP traffic"
done
pass "TCP: no stamp or app-reported sample refused from an honest libsock; tcpd's histograms in stats"

# ---- a lying application (tcp_stamp_lies): garbage stamps and statistics reach only tcpd's
# histograms and named counters ----
PEER="$(dirname "$0")/../lib/tcp_peer.py"
ip netns exec "$T_NS" "$PY" "$PEER" echo-server 7302 1 >"$WORK/k_echo" 2>&1 &
T_PIDS+=($!)
wait_for() { # FILE WORD
	for _ in $(seq 200); do grep -q "^$2" "$WORK/$1" && return 0; sleep 0.05; done
	cat "$WORK/$1"
	fail "$1: no '$2'"
}
wait_for k_echo listening
gen0=$(stat tcpd.state_generation)
bad0=$(stat tcpd.tx_stamp_bad)
over0=$(stat tcpd.app_hist_over_credit)
down0=$(stat tcpd.app_hist_went_down)
app0=$(stat tcpd.latency.app_transit_from_tcpd.count)
mkfifo "$WORK/go"
"$BUILD/bin/tcp_stamp_lies" "$T_PEER" 7302 <"$WORK/go" >"$WORK/lies" 2>&1 &
LIES=$!
T_PIDS+=($LIES)
exec 3>"$WORK/go"
wait_for lies lying
# Until tcpd counts a lie: which stamp a take-up reads is the scheduler's race (tcp_stamp_lies).
for _ in $(seq 400); do
	bad1=$(stat tcpd.tx_stamp_bad)
	((bad1 > bad0)) && break
	sleep 0.05
done
echo go >&3
wait_for lies inflated
over1=$(stat tcpd.app_hist_over_credit)
app1=$(stat tcpd.latency.app_transit_from_tcpd.count)
echo go >&3
wait_for lies lowered
down1=$(stat tcpd.app_hist_went_down)
echo go >&3
exec 3>&-
wait "$LIES" || fail "tcp_stamp_lies: $(cat "$WORK/lies")"
grep -q "^done" "$WORK/lies" || fail "tcp_stamp_lies: $(cat "$WORK/lies")"
lied=$(awk '$1 == "lied" {print $2}' "$WORK/lies")
log "lies: $lied round trips lying, tx_stamp_bad +$((bad1 - bad0)), over_credit +$((over1 - over0)), app-reported +$((app1 - app0)), went_down +$((down1 - down0))"
((bad1 > bad0)) || fail "no lying TX stamp counted (tx_stamp_bad $bad0 -> $bad1)"
# 1,000,000 claimed; tcpd believes no more than the RX stamps it published: one per placement,
# and a 64-byte echo arrives in one segment, two at most (20 honest round trips, then the lying
# ones)
credits=$((2 * (20 + lied)))
((over1 - over0 >= 1000000 - credits)) ||
	fail "app_hist_over_credit grew by $((over1 - over0)), less than 1,000,000 - $credits"
((app1 - app0 <= credits)) ||
	fail "app_transit_from_tcpd took $((app1 - app0)) samples from a liar (at most $credits believable)"
((down1 > down0)) || fail "a bucket that went down was not counted"
(($(stat tcpd.state_generation) == gen0)) || fail "tcpd restarted while an application lied"
pass "TCP: lying stamps and statistics counted (tx_stamp_bad, app_hist_over_credit, app_hist_went_down), the connection served throughout, tcpd never restarted"

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
hop_n() { awk '/^  nicd  frame read -> sent to ipd/ {print $(NF-2); exit}' "$1"; }
(($(hop_n "$WORK/cum.txt") >= $(hop_n "$WORK/lat.txt"))) || fail "cumulative count below the interval's"
pass "latency: cumulative by default; bad --interval is a usage error"
