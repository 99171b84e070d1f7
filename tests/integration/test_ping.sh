#!/usr/bin/env bash
# The Linux kernel pings the stack with payloads that fit one frame and payloads that are
# fragmented both ways (8000 and 65000 bytes: the kernel fragments the request, the stack
# reassembles it, replies, and fragments the reply).
source "$(dirname "$0")/../lib/stack.sh"

stack_up
for size in 56 1472 8000 65000; do
	ping_ok "$size" 5
	pass "ping -s $size: 5/5 answered"
done

reasm=$(stat ipd.ip_reasm_oks)
frags=$(stat ipd.ip_frag_creates)
((reasm >= 10)) || fail "expected >= 10 reassembled datagrams, ipd counted $reasm"
((frags >= 10 * 5)) || fail "expected the replies to be fragmented, ipd created $frags fragments"
pass "reassembled $reasm datagrams, created $frags fragments"

echos=$(stat ipd.icmp_in_echos)
reps=$(stat ipd.icmp_out_echo_reps)
((echos == reps && echos >= 20)) || fail "echo requests $echos vs replies $reps"
pass "icmp: $echos echo requests, $reps replies"

"$CTL" arp --instance "$T_INST" | grep -q "$T_PEER" || fail "ustackctl arp does not list the peer"
# Captured first: grep -q stops reading at the match, and the lines after it (lo's routes) would
# meet a closed pipe.
routes=$("$CTL" route --instance "$T_INST")
grep -q "default via $T_PEER" <<<"$routes" || fail "no default route shown"
grep -q "local 127.0.0.0/8 dev lo" <<<"$routes" || fail "no loopback route shown"
"$CTL" status --instance "$T_INST" >/dev/null || fail "ustackctl status not serving"
"$CTL" stats --instance "$T_INST" --json | "$PY" -m json.tool >/dev/null || fail "stats --json is not JSON"
pass "ustackctl arp, route, status and stats --json"
