#!/usr/bin/env bash
# ustackctl pcap: the frames nicd moves, both ways, in a pcap file that tcpdump reads back as
# what the kernel peer sent and the stack answered, with tcpdump's own filters; live through a
# pipe; following a nicd restart; nothing left subscribed afterwards.
source "$(dirname "$0")/../lib/stack.sh"

command -v tcpdump >/dev/null || fail "tcpdump is not installed (deploy/install-deps.sh)"
TMP=$(mktemp -d "/tmp/ustack-$T_INST-pcap.XXXXXX")
trap 'rc=$?; set +e; rm -rf "$TMP"; (exit $rc); t_cleanup' EXIT

# Usage errors, before anything is touched: exit 2 and a reason.
usage_fails() {
	local out rc=0
	out=$("$CTL" "$@" 2>&1) || rc=$?
	((rc == 2)) || fail "ustackctl $*: exit $rc, not 2 ($out)"
	grep -q "$1\|pcap" <<<"$out" || fail "ustackctl $*: no reason given: $out"
}
usage_fails pcap --instance nosuch
usage_fails pcap --instance nosuch --write "$TMP/x" --count 0
usage_fails pcap --instance nosuch --write "$TMP/x" --snaplen 70000
usage_fails stats --instance nosuch --write "$TMP/x"
out=$("$CTL" pcap --instance nosuch --write "$TMP/x" 2>&1) && fail "pcap of a missing instance succeeded"
grep -q "no capture socket" <<<"$out" || fail "pcap of a missing instance: $out"
pass "usage errors and a missing instance are refused with a reason"

stack_up
"$CTL" pcap --instance "$T_INST" --write "$TMP/x" 'tcp port' >"$TMP/bad" 2>&1 && fail "a bad filter was taken"
grep -q "filter 'tcp port'" "$TMP/bad" || fail "a bad filter: $(cat "$TMP/bad")"
pass "a filter tcpdump would refuse is refused, naming it"

# wait_capturing LOG: until the client says every frame from now on is in its file.
wait_capturing() {
	for _ in $(seq 100); do
		grep -q "capturing on" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "the capture never started: $(cat "$1")"
}

# 1. Six ICMP frames: the kernel's three echo requests and the stack's three replies.
"$CTL" pcap --instance "$T_INST" --write "$TMP/icmp.pcap" --count 6 --seconds 30 icmp \
	2>"$TMP/icmp.err" &
cap=$!
T_PIDS+=($cap)
wait_capturing "$TMP/icmp.err"
in_ns ping -n -q -c 3 -i 0.1 -w 10 "$T_ADDR" >/dev/null || fail "ping"
wait "$cap" || fail "pcap exited $?: $(cat "$TMP/icmp.err")"
grep -q "6 frames written, [0-9]* seen, 0 lost" "$TMP/icmp.err" || fail "summary: $(cat "$TMP/icmp.err")"
tcpdump -n -r "$TMP/icmp.pcap" >"$TMP/icmp.txt" 2>/dev/null || fail "tcpdump cannot read the file"
req=$(grep -c "$T_PEER > $T_ADDR: ICMP echo request" "$TMP/icmp.txt" || true)
rep=$(grep -c "$T_ADDR > $T_PEER: ICMP echo reply" "$TMP/icmp.txt" || true)
((req == 3 && rep == 3)) || fail "expected 3 requests and 3 replies: $(cat "$TMP/icmp.txt")"
for s in 1 2 3; do
	grep -q "echo request, id [0-9]*, seq $s," "$TMP/icmp.txt" &&
		grep -q "echo reply, id [0-9]*, seq $s," "$TMP/icmp.txt" || fail "seq $s missing: $(cat "$TMP/icmp.txt")"
done
# The link layer is the real one: the reply goes from the stack's MAC to the kernel's.
mac=$(stack_mac)
tcpdump -e -n -r "$TMP/icmp.pcap" 2>/dev/null | grep "echo reply" | grep -q "^.*$mac >" ||
	fail "the replies do not come from the stack's MAC $mac"
pass "tcpdump reads the kernel's 3 echo requests and the stack's 3 replies, from the stack's MAC"

# 2. Live through a pipe, filtered: datagrams to a closed port and nothing else.
("$CTL" pcap --instance "$T_INST" --write - --count 5 'udp dst port 9' 2>"$TMP/udp.err" |
	tcpdump -n -l -r - >"$TMP/udp.txt" 2>/dev/null) &
pipe=$!
T_PIDS+=($pipe)
wait_capturing "$TMP/udp.err"
for i in 1 2 3 4 5; do
	in_ns "$PY" -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x' * $i * 10, ('$T_ADDR', 9))"
done
in_ns ping -n -q -c 2 -i 0.1 -w 10 "$T_ADDR" >/dev/null || fail "ping"
for _ in $(seq 100); do
	kill -0 "$pipe" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$pipe" 2>/dev/null && fail "the piped capture did not end after 5 frames: $(cat "$TMP/udp.err")"
n=$(grep -c "$T_PEER.[0-9]* > $T_ADDR.9: UDP, length" "$TMP/udp.txt" || true)
((n == 5)) || fail "the pipe carried $n datagrams, not 5: $(cat "$TMP/udp.txt")"
grep -q "ICMP" "$TMP/udp.txt" && fail "the filter let ICMP through: $(cat "$TMP/udp.txt")"
for len in 10 20 30 40 50; do
	grep -q "UDP, length $len$" "$TMP/udp.txt" || fail "no datagram of $len bytes: $(cat "$TMP/udp.txt")"
done
pass "through a pipe, tcpdump's filter kept the 5 datagrams to port 9, of the lengths sent"

# 3. A capture follows nicd through a kill: frames after the restart are in the file too.
"$CTL" pcap --instance "$T_INST" --write "$TMP/restart.pcap" --seconds 60 icmp \
	2>"$TMP/restart.err" &
cap=$!
T_PIDS+=($cap)
wait_capturing "$TMP/restart.err"
in_ns ping -n -q -c 1 -w 10 "$T_ADDR" >/dev/null || fail "ping before the kill"
"$CTL" fault --instance "$T_INST" kill nicd >/dev/null || fail "fault kill nicd"
"$CTL" wait --instance "$T_INST" --timeout 20 >/dev/null || fail "the stack did not serve again"
for _ in $(seq 100); do
	grep -q "restarted: capturing again" "$TMP/restart.err" && break
	sleep 0.05
done
grep -q "restarted: capturing again" "$TMP/restart.err" || fail "the capture did not follow the new nicd: $(cat "$TMP/restart.err")"
in_ns ping -n -q -c 2 -i 0.1 -w 10 "$T_ADDR" >/dev/null || fail "ping after the kill"
kill -INT "$cap"
wait "$cap" || fail "pcap exited $? after SIGINT: $(cat "$TMP/restart.err")"
grep -q "1 nicd restarts" "$TMP/restart.err" || fail "summary: $(cat "$TMP/restart.err")"
rep=$(tcpdump -n -r "$TMP/restart.pcap" 2>/dev/null | grep -c "ICMP echo reply" || true)
((rep == 3)) || fail "$rep echo replies in the file, not 3 (1 before the kill, 2 after)"
pass "SIGINT ends a capture cleanly, and it followed nicd through a kill: all 3 replies are in it"

# 4. Nobody is left subscribed: nicd copies nothing any more.
for _ in $(seq 60); do
	(($(stat nicd.capture_clients) == 0)) && break
	sleep 0.05
done
(($(stat nicd.capture_clients) == 0)) || fail "nicd still counts $(stat nicd.capture_clients) capture clients"
f0=$(stat nicd.capture_frames)
ping_ok 56 3
(($(stat nicd.capture_frames) == f0)) || fail "nicd copied frames with no client"
(($(stat nicd.capture_drop) == 0)) || fail "nicd dropped $(stat nicd.capture_drop) captured frames"
pass "once every client has gone nicd copies nothing, and it dropped none"
