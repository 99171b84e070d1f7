#!/usr/bin/env bash
# ARP (RFC 826) against the kernel: arping gets replies, the kernel learns the stack's MAC, the
# stack learns the kernel's, and the stack announced itself with a gratuitous ARP at start.
source "$(dirname "$0")/../lib/stack.sh"

stack_up
out=$(in_ns arping -c 3 -w 5 -I "$T_IF" "$T_ADDR" 2>&1) || fail "arping: $out"
grep -Eq "3 packets received|Received 3 response" <<<"$out" || fail "arping: $out"
pass "arping: 3 of 3 answered"

mac=$(stack_mac)
conf_mac=$(awk -F' *= *' '$1=="mac"{print $2}' "/etc/ustack/$T_INST.conf")
[[ "$mac" == "$conf_mac" ]] || fail "kernel learned '$mac', stack's MAC is '$conf_mac'"
pass "kernel resolved the stack to $mac"

kmac=$(in_ns cat "/sys/class/net/$T_IF/address")
"$CTL" arp --instance "$T_INST" | grep -i "$T_PEER" | grep -qi "$kmac" ||
	fail "stack's ARP cache lacks $T_PEER at $kmac: $("$CTL" arp --instance "$T_INST")"
pass "stack resolved $T_PEER to $kmac"

(($(stat ipd.arp_tx_gratuitous) >= 1)) || fail "no gratuitous ARP counted"
(($(stat ipd.arp_tx_replies) >= 3)) || fail "fewer than 3 ARP replies counted"
pass "gratuitous ARP sent at start; replies counted"
