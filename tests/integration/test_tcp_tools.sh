#!/usr/bin/env bash
# The TCP tools against the Linux kernel in the test namespace, through tcpd:
#   - the kernel's curl fetches files of 0 bytes to 12 MiB from `ustack-http serve`, one at a
#     time, several over one kept-alive connection, and 8 at once; sha256 compared; HEAD,
#     404 and refused traversal as the server must answer them;
#   - `ustack-http get` fetches the same sizes from the kernel's `python3 -m http.server`,
#     sha256 compared; a 404 fails the command and leaves no file;
#   - `ustack-echo --tcp` echoes 8 concurrent kernel clients byte-exact;
#   - `ustackctl sockets` shows the listeners, an established connection with its peer, owner
#     and TCP figures, a UDP socket, and queues as Linux reports them (an application stopped
#     with SIGSTOP: its listener's accept queue, the unread bytes, a UDP socket's unread
#     datagrams); --json parses and says the same.
source "$(dirname "$0")/../lib/stack.sh"
PEER_PY="$(dirname "$0")/../lib/tcp_peer.py"
HTTP="$BUILD/bin/ustack-http"
ECHO="$BUILD/bin/ustack-echo"
export USTACK_INSTANCE="$T_INST"
HTTP_PORT=8080
KHTTP_PORT=8000

[[ -x "$BUILD/bin/ustack-tcpd" ]] || fail "no ustack-tcpd in $BUILD/bin: these tests need tcpd"

WORK=$(mktemp -d "/tmp/ustack-$T_INST-tools.XXXXXX")
trap 'rc=$?; set +e; rm -rf "$WORK"; (exit $rc); t_cleanup' EXIT
mkdir "$WORK/www" "$WORK/kwww" "$WORK/out"

stack_up

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (10 s)
wait_for() {
	for _ in $(seq 100); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$2' in $1: $(tail -n 5 "$1" 2>/dev/null)"
}

SIZES="0 1 1460 65537 1048576 12582917" # 12582917: > 10 MB, not a multiple of anything
for n in $SIZES; do
	head -c "$n" /dev/urandom >"$WORK/www/f$n"
	head -c "$n" /dev/urandom >"$WORK/kwww/k$n"
done

# --- curl -> ustack-http serve --------------------------------------------------------------
"$HTTP" serve --port "$HTTP_PORT" --root "$WORK/www" >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
T_PIDS+=($HTTP_PID)
wait_for "$WORK/http.log" ready

for n in $SIZES; do
	in_ns curl -sS --fail --max-time 60 -o "$WORK/out/f$n" "http://$T_ADDR:$HTTP_PORT/f$n" ||
		fail "curl f$n"
	[[ $(sha256sum <"$WORK/out/f$n") == $(sha256sum <"$WORK/www/f$n") ]] || fail "curl f$n: content differs"
done
pass "curl fetched $SIZES bytes from ustack-http, sha256 equal"

# three files over one connection: curl reuses it (num_connects 0 after the first)
conns=$(in_ns curl -sS --fail --max-time 60 -w '%{num_connects} ' \
	-o "$WORK/out/a" "http://$T_ADDR:$HTTP_PORT/f1460" \
	-o "$WORK/out/b" "http://$T_ADDR:$HTTP_PORT/f1048576" \
	-o "$WORK/out/c" "http://$T_ADDR:$HTTP_PORT/f0") || fail "curl keep-alive"
[[ "$conns" == "1 0 0 " ]] || fail "curl keep-alive: connections per transfer '$conns'"
cmp -s "$WORK/out/b" "$WORK/www/f1048576" || fail "keep-alive: second file differs"
pass "keep-alive: three files over one connection"

head=$(in_ns curl -sS --max-time 10 -I "http://$T_ADDR:$HTTP_PORT/f65537" | tr -d '\r')
grep -q '^HTTP/1.1 200 OK$' <<<"$head" || fail "HEAD: $head"
grep -qi '^Content-Length: 65537$' <<<"$head" || fail "HEAD: no Content-Length 65537: $head"
code() { in_ns curl -s --max-time 10 --path-as-is -o /dev/null -w '%{http_code}' "$@"; }
[[ $(code "http://$T_ADDR:$HTTP_PORT/missing") == 404 ]] || fail "404"
[[ $(code "http://$T_ADDR:$HTTP_PORT/../../etc/passwd") == 400 ]] || fail "traversal with .."
[[ $(code "http://$T_ADDR:$HTTP_PORT/%2e%2e/%2e%2e/etc/passwd") == 400 ]] || fail "traversal %2e%2e"
[[ $(code -X POST -d x=1 "http://$T_ADDR:$HTTP_PORT/f1") == 405 ]] || fail "POST"
pass "HEAD (Content-Length), 404, traversal refused (400), POST (405)"

pids=()
for i in $(seq 8); do
	ip netns exec "$T_NS" curl -sS --fail --max-time 120 -o "$WORK/out/p$i" \
		"http://$T_ADDR:$HTTP_PORT/f12582917" &
	pids+=($!)
done
for i in $(seq 8); do
	wait "${pids[$((i - 1))]}" || fail "concurrent curl $i"
	cmp -s "$WORK/out/p$i" "$WORK/www/f12582917" || fail "concurrent curl $i: content differs"
done
pass "8 concurrent curls of 12 MiB, byte-exact"

# --- ustack-http get <- python3 -m http.server ----------------------------------------------
ip netns exec "$T_NS" "$PY" -m http.server "$KHTTP_PORT" --bind "$T_PEER" \
	--directory "$WORK/kwww" >"$WORK/khttp.log" 2>&1 &
T_PIDS+=($!)
for _ in $(seq 100); do
	in_ns curl -s -o /dev/null "http://$T_PEER:$KHTTP_PORT/" && break
	sleep 0.1
done
for n in $SIZES; do
	"$HTTP" get "http://$T_PEER:$KHTTP_PORT/k$n" -o "$WORK/out/k$n" --timeout 60 --quiet ||
		fail "ustack-http get k$n"
	[[ $(sha256sum <"$WORK/out/k$n") == $(sha256sum <"$WORK/kwww/k$n") ]] ||
		fail "ustack-http get k$n: content differs"
done
pass "ustack-http get fetched $SIZES bytes from the kernel's http.server, sha256 equal"
if "$HTTP" get "http://$T_PEER:$KHTTP_PORT/nothing" -o "$WORK/out/nothing" 2>"$WORK/get.err"; then
	fail "get of a missing file succeeded"
fi
grep -q "answered 404" "$WORK/get.err" || fail "get 404: $(cat "$WORK/get.err")"
[[ ! -e "$WORK/out/nothing" ]] || fail "get 404 left a file"
"$HTTP" get "http://$T_PEER:9/x" -o "$WORK/out/refused" 2>"$WORK/get.err" && fail "closed port"
grep -q "Connection refused" "$WORK/get.err" || fail "closed port: $(cat "$WORK/get.err")"
pass "ustack-http get: 404 and a closed port fail with status 1 and leave no file"

# --- ustack-echo --tcp ----------------------------------------------------------------------
"$ECHO" --tcp --port 7 >"$WORK/echo.log" 2>&1 &
ECHO_PID=$!
T_PIDS+=($ECHO_PID)
wait_for "$WORK/echo.log" "tcp port 7 ready"
in_ns "$PY" "$PEER_PY" echo-clients "$T_ADDR" 7 8 1048576 || fail "echo clients"
pass "ustack-echo --tcp: 8 concurrent kernel clients, 1 MiB each, echoed byte-exact"

# --- ustackctl sockets ----------------------------------------------------------------------
"$ECHO" --udp --port 9 >"$WORK/uecho.log" 2>&1 &
UECHO_PID=$!
T_PIDS+=($UECHO_PID)
wait_for "$WORK/uecho.log" "udp port 9 ready"
ip netns exec "$T_NS" "$PY" "$PEER_PY" exchange "$T_ADDR" 7 60 >"$WORK/hold1.log" 2>&1 &
T_PIDS+=($!)
wait_for "$WORK/hold1.log" "^local "
LPORT1=$(awk '$1=="local" {print $2}' "$WORK/hold1.log")

S="$WORK/sockets.txt"
"$CTL" sockets --instance "$T_INST" >"$S" || fail "ustackctl sockets: $(cat "$S")"
expect_line() { grep -Eq -- "$1" "$S" || fail "ustackctl sockets: no line like '$1' in:
$(cat "$S")"; }
expect_line "^tcp +LISTEN +0 +128 +0\.0\.0\.0:$HTTP_PORT +0\.0\.0\.0:\* +users:\(\(\"ustack-http\",pid=$HTTP_PID\)\) uid:0$"
expect_line "^tcp +LISTEN +0 +128 +0\.0\.0\.0:7 +0\.0\.0\.0:\* +users:\(\(\"ustack-echo\",pid=$ECHO_PID\)\)"
expect_line "^tcp +ESTAB +0 +0 +$T_ADDR:7 +$T_PEER:$LPORT1 +users:\(\(\"ustack-echo\",pid=$ECHO_PID\)\) uid:0$"
expect_line "^udp +UNCONN +0 +0 +0\.0\.0\.0:9 +0\.0\.0\.0:\* +users:\(\(\"ustack-echo\",pid=$UECHO_PID\)\)"
info=$(grep -A1 -E "^tcp +ESTAB .* $T_PEER:$LPORT1 " "$S" | tail -n 1)
for k in "rtt:" "cwnd:" "retrans:" "mss:" "bytes_received:"; do
	grep -q -- " $k" <<<"$info" || fail "sockets -i line lacks $k: '$info'"
done
pass "ustackctl sockets: listeners, the established connection with its peer and owner, TCP figures, UDP"

"$CTL" sockets --instance "$T_INST" --json >"$WORK/sockets.json" || fail "sockets --json"
"$PY" - "$WORK/sockets.json" "$T_ADDR" "$T_PEER" "$LPORT1" "$ECHO_PID" "$HTTP_PID" "$UECHO_PID" <<'EOF' || fail "sockets --json: $(cat "$WORK/sockets.json")"
import json, sys
path, addr, peer, lport, echo_pid, http_pid, uecho_pid = sys.argv[1:]
socks = json.load(open(path))["sockets"]
def one(**kw):
    m = [s for s in socks if all(s.get(k) == v for k, v in kw.items())]
    assert len(m) == 1, "%d sockets like %s" % (len(m), kw)
    return m[0]
one(netid="tcp", state="LISTEN", local_port=8080, pid=int(http_pid), process="ustack-http", send_q=128)
one(netid="tcp", state="LISTEN", local_port=7, pid=int(echo_pid))
e = one(netid="tcp", state="ESTAB", local_addr=addr, local_port=7, peer_addr=peer,
        peer_port=int(lport), pid=int(echo_pid), uid=0)
t = e["tcp"]
assert t["rtt_us"] > 0 and t["cwnd"] > 0 and t["snd_mss"] > 0, t
assert t["bytes_received"] >= 65536 and t["bytes_acked"] >= 65536, t
assert t["cc"] in ("cubic", "reno"), t
one(netid="udp", state="UNCONN", local_port=9, pid=int(uecho_pid), drops=0)
EOF
pass "ustackctl sockets --json parses and says the same"

# Queues: the echo server stopped, a client connects and sends 1000 bytes nobody reads.
kill -STOP "$ECHO_PID"
ip netns exec "$T_NS" "$PY" "$PEER_PY" hold "$T_ADDR" 7 1000 60 >"$WORK/hold2.log" 2>&1 &
T_PIDS+=($!)
wait_for "$WORK/hold2.log" "^local "
LPORT2=$(awk '$1=="local" {print $2}' "$WORK/hold2.log")
ok=0
for _ in $(seq 100); do
	"$CTL" sockets --instance "$T_INST" >"$S" || fail "sockets"
	if grep -Eq "^tcp +LISTEN +1 +128 +0\.0\.0\.0:7 " "$S" &&
		grep -Eq "^tcp +ESTAB +1000 +0 +$T_ADDR:7 +$T_PEER:$LPORT2 *$" "$S"; then
		ok=1
		break
	fi
	sleep 0.1
done
((ok)) || fail "queues: no LISTEN Recv-Q 1 / ESTAB Recv-Q 1000 without owner in:
$(cat "$S")"
kill -STOP "$UECHO_PID"
in_ns "$PY" -c "
import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for _ in range(3): s.sendto(b'q'*100,('$T_ADDR',9))"
ok=0
for _ in $(seq 100); do
	"$CTL" sockets --instance "$T_INST" >"$S" || fail "sockets"
	q=$(awk '$1=="udp" && $5=="0.0.0.0:9" {print $3}' "$S")
	if [[ -n "$q" ]] && ((q >= 300)); then
		ok=1
		break
	fi
	sleep 0.1
done
((ok)) || fail "queues: udp Recv-Q below 300 after 3 datagrams of 100 bytes:
$(cat "$S")"
kill -CONT "$ECHO_PID" "$UECHO_PID"
pass "ustackctl sockets: accept queue and unread bytes (TCP), unread datagrams (UDP), as Linux counts them"

# More than a page: 150 listeners of three applications, each listed once with its owner.
HPIDS=()
for b in 30000 30100 30200; do
	"$BUILD/bin/sock_hold" tcp "$b" 50 >"$WORK/hold$b.log" 2>&1 &
	HPIDS+=($!)
	T_PIDS+=($!)
done
for b in 30000 30100 30200; do wait_for "$WORK/hold$b.log" "^ready"; done
"$CTL" sockets --instance "$T_INST" >"$S" || fail "sockets"
for i in 0 1 2; do
	k=$(grep -Ec "^tcp +LISTEN +0 +16 +0\.0\.0\.0:30$i[0-9]{2} +0\.0\.0\.0:\* +users:\(\(\"sock_hold\",pid=${HPIDS[$i]}\)\) uid:0$" "$S")
	((k == 50)) || fail "sock_hold $i: $k of 50 listeners listed"
done
dups=$(awk '$1=="tcp" {print $2, $5, $6}' "$S" | sort | uniq -d)
[[ -z "$dups" ]] || fail "listed twice: $dups"
kill -TERM "${HPIDS[@]}"
pass "150 listeners over two pages, each once, with its owner"

# --- the servers stop cleanly and say what they did ------------------------------------------
kill -TERM "$HTTP_PID" "$ECHO_PID"
wait "$HTTP_PID" || fail "ustack-http exit status"
wait "$ECHO_PID" || fail "ustack-echo exit status"
grep -q "stopping: .* 0 5xx" "$WORK/http.log" || fail "http summary: $(tail -n 1 "$WORK/http.log")"
grep -Eq "stopping: [0-9]+ connections .* [0-9]+ bytes echoed" "$WORK/echo.log" ||
	fail "echo summary: $(tail -n 1 "$WORK/echo.log")"
echoed=$(sed -nE 's/.* ([0-9]+) bytes echoed/\1/p' "$WORK/echo.log")
((echoed >= 8 * 1048576 + 65536)) || fail "echo counted $echoed bytes"
pass "SIGTERM: both servers exit 0 with their counters ($echoed bytes echoed)"

# --- ustackctl snmp: the MIB lines as /proc/net/snmp and /proc/net/netstat lay them out -------
"$CTL" snmp --instance "$T_INST" >"$WORK/snmp.txt" || fail "ustackctl snmp: $(cat "$WORK/snmp.txt")"
"$CTL" stats --instance "$T_INST" >"$WORK/stats.txt" || fail "ustackctl stats"
"$PY" - "$WORK/snmp.txt" "$WORK/stats.txt" <<'EOF2' || fail "snmp: $(cat "$WORK/snmp.txt")"
import sys
lines = open(sys.argv[1]).read().splitlines()
stats = dict(l.split() for l in open(sys.argv[2]) if len(l.split()) == 2)
mib = {}
assert len(lines) % 2 == 0, "header and value lines come in pairs"
for names, values in zip(lines[0::2], lines[1::2]):
    p, n = names.split(":", 1)
    q, v = values.split(":", 1)
    assert p == q, (p, q)
    n, v = n.split(), v.split()
    assert len(n) == len(v), (p, len(n), len(v))
    mib[p] = dict(zip(n, map(int, v)))
assert list(mib) == ["Tcp", "Udp", "TcpExt"], list(mib)
t = mib["Tcp"]
assert (t["RtoAlgorithm"], t["RtoMin"], t["RtoMax"], t["MaxConn"]) == (1, 200, 120000, -1), t
# The counters only grow, and stats was asked after snmp: snmp <= stats, and the run opened
# connections both ways (curl to ustack-http, ustack-http get to the kernel).
for m, c in (("ActiveOpens", "active_opens"), ("PassiveOpens", "passive_opens"),
             ("InSegs", "in_segs"), ("OutSegs", "out_segs")):
    assert 0 < t[m] <= int(stats["tcpd." + c]), (m, t[m], stats["tcpd." + c])
assert mib["Udp"]["InDatagrams"] >= 3, mib["Udp"]
assert "SyncookiesSent" in mib["TcpExt"] and "TCPChallengeACK" in mib["TcpExt"], mib["TcpExt"]
EOF2
pass "ustackctl snmp: Tcp:, Udp: and TcpExt: lines as the kernel prints them, equal to stats"
