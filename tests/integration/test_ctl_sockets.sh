#!/usr/bin/env bash
# ustackctl sockets over UDP (the TCP side is in test_tcp_tools.sh): 153 sockets of four
# applications, listed exactly once each over several pages, with the right state, addresses,
# peer and owner; a stopped application's unread datagrams as Recv-Q; closed sockets gone;
# --json parses and says the same; an instance that is not up is an error.
source "$(dirname "$0")/../lib/stack.sh"
HOLD="$BUILD/bin/sock_hold"
ECHO="$BUILD/bin/ustack-echo"
export USTACK_INSTANCE="$T_INST"

WORK=$(mktemp -d "/tmp/ustack-$T_INST-sockets.XXXXXX")
trap 'rc=$?; set +e; rm -rf "$WORK"; (exit $rc); t_cleanup' EXIT

stack_up

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (10 s)
wait_for() {
	for _ in $(seq 100); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$2' in $1: $(tail -n 5 "$1" 2>/dev/null)"
}

# three applications of 50 sockets (more than a page of 128 in all), one with 2 connected ones
HPIDS=()
for b in 20000 20100 20200; do
	"$HOLD" udp "$b" 50 >"$WORK/hold$b.log" 2>&1 &
	HPIDS+=($!)
	T_PIDS+=($!)
done
"$HOLD" udp 21000 2 "$T_PEER" 5555 >"$WORK/hold21000.log" 2>&1 &
CPID=$!
T_PIDS+=($CPID)
"$ECHO" --udp --port 9 >"$WORK/echo.log" 2>&1 &
EPID=$!
T_PIDS+=($EPID)
for b in 20000 20100 20200 21000; do wait_for "$WORK/hold$b.log" "^ready"; done
wait_for "$WORK/echo.log" "udp port 9 ready"

S="$WORK/sockets.txt"
"$CTL" sockets --instance "$T_INST" >"$S" || fail "ustackctl sockets: $(cat "$S")"
head -n 1 "$S" | grep -Eq '^Netid +State +Recv-Q +Send-Q +Local Address:Port +Peer Address:Port +Process$' ||
	fail "header: $(head -n 1 "$S")"
n=$(grep -c '^udp ' "$S")
((n == 153)) || fail "$n UDP sockets listed, 153 open"
dups=$(awk '$1=="udp" {print $5}' "$S" | sort | uniq -d)
[[ -z "$dups" ]] || fail "listed twice: $dups"
for i in 0 1 2; do
	b=$((20000 + 100 * i))
	k=$(grep -Ec "^udp +UNCONN +0 +0 +0\.0\.0\.0:$((b / 100))[0-9]{2} +0\.0\.0\.0:\* +users:\(\(\"sock_hold\",pid=${HPIDS[$i]}\)\) uid:0$" "$S")
	((k == 50)) || fail "sock_hold $b: $k of 50 sockets listed with their owner:
$(grep "pid=${HPIDS[$i]}" "$S" | head -n 3)"
done
k=$(grep -Ec "^udp +ESTAB +0 +0 +$T_ADDR:2100[01] +$T_PEER:5555 +users:\(\(\"sock_hold\",pid=$CPID\)\) uid:0$" "$S")
((k == 2)) || fail "connected sockets: $k of 2 ESTAB with their peer:
$(grep 21000 "$S")"
grep -Eq "^udp +UNCONN +0 +0 +0\.0\.0\.0:9 +0\.0\.0\.0:\* +users:\(\(\"ustack-echo\",pid=$EPID\)\)" "$S" ||
	fail "ustack-echo's socket"
pass "153 UDP sockets over two pages, each once, with state, addresses, peer and owner"

"$CTL" sockets --instance "$T_INST" --json >"$WORK/s.json" || fail "sockets --json"
"$PY" - "$WORK/s.json" "$T_ADDR" "$T_PEER" "$CPID" "$EPID" "${HPIDS[@]}" <<'EOF' || fail "--json: $(head -c 600 "$WORK/s.json")"
import json, sys
path, addr, peer, cpid, epid, *hpids = sys.argv[1:]
socks = [s for s in json.load(open(path))["sockets"] if s["netid"] == "udp"]
assert len(socks) == 153, len(socks)
assert len({s["local_port"] for s in socks}) == 153
for i, h in enumerate(hpids):
    mine = [s for s in socks if s["pid"] == int(h)]
    assert len(mine) == 50, (h, len(mine))
    assert sorted(s["local_port"] for s in mine) == list(range(20000 + 100 * i, 20050 + 100 * i))
    assert all(s["state"] == "UNCONN" and s["process"] == "sock_hold" and s["uid"] == 0 and
               s["peer_addr"] == "0.0.0.0" and s["peer_port"] == 0 for s in mine)
conn = [s for s in socks if s["pid"] == int(cpid)]
assert len(conn) == 2 and all(s["state"] == "ESTAB" and s["local_addr"] == addr and
                              s["peer_addr"] == peer and s["peer_port"] == 5555 for s in conn), conn
e = [s for s in socks if s["local_port"] == 9]
assert len(e) == 1 and e[0]["pid"] == int(epid) and e[0]["process"] == "ustack-echo", e
assert all("tcp" not in s and s["drops"] == 0 and s["recv_q"] == 0 for s in socks)
EOF
pass "--json parses and says the same"

# A stopped application's unread datagrams are its Recv-Q; once it reads them, 0 again.
kill -STOP "$EPID"
in_ns "$PY" -c "
import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for _ in range(3): s.sendto(b'q'*100,('$T_ADDR',9))"
q=0
for _ in $(seq 100); do
	q=$("$CTL" sockets --instance "$T_INST" | awk '$1=="udp" && $5=="0.0.0.0:9" {print $3}')
	((q >= 300)) && break
	sleep 0.1
done
((q >= 300)) || fail "Recv-Q $q after 3 datagrams of 100 bytes to a stopped application"
q0=$q
kill -CONT "$EPID"
for _ in $(seq 100); do
	q=$("$CTL" sockets --instance "$T_INST" | awk '$1=="udp" && $5=="0.0.0.0:9" {print $3}')
	((q == 0)) && break
	sleep 0.1
done
((q == 0)) || fail "Recv-Q still $q once the application read"
pass "Recv-Q: a stopped application's unread datagrams ($q0 bytes of records), 0 once read"

# Closed sockets leave the list.
kill -TERM "${HPIDS[1]}"
wait "${HPIDS[1]}" || fail "sock_hold exit status"
for _ in $(seq 100); do
	n=$("$CTL" sockets --instance "$T_INST" | grep -c '^udp ')
	((n == 103)) && break
	sleep 0.1
done
((n == 103)) || fail "$n UDP sockets listed after 50 closed, 103 open"
"$CTL" sockets --instance "$T_INST" | grep -q "pid=${HPIDS[1]}" && fail "closed sockets still listed"
pass "closed sockets are no longer listed"

out=$("$CTL" sockets --instance "nosuch$T_INST" 2>&1) && fail "sockets of an instance that is not up"
grep -q "not running" <<<"$out" || fail "no reason given: $out"
pass "an instance that is not up: exit status 1 and the reason"
