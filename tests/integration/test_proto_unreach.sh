#!/usr/bin/env bash
# RFC 1122 3.2.2.1: a datagram for a protocol no transport serves is answered with ICMP
# destination unreachable, code 2 (protocol), quoting the offending header.
source "$(dirname "$0")/../lib/stack.sh"

stack_up
ping_ok 56 1
before=$(stat ipd.icmp_out_dest_unreachs)
in_ns "$PY" - "$T_ADDR" <<'PYEOF' || fail "no protocol unreachable"
import sys
from scapy.all import IP, ICMP, Raw, sr1, conf
conf.verb = 0
dst = sys.argv[1]
ans = sr1(IP(dst=dst, proto=253) / Raw(b"ustack-probe"), timeout=3)
assert ans is not None, "no answer"
assert ans.haslayer(ICMP), ans.summary()
icmp = ans[ICMP]
assert (icmp.type, icmp.code) == (3, 2), (icmp.type, icmp.code)
quoted = bytes(icmp.payload)
assert quoted[9] == 253, "quoted header is not ours"
assert quoted[20:28] == b"ustack-p", "quote lacks the first 8 payload bytes"
print("protocol unreachable with quote")
PYEOF
after=$(stat ipd.icmp_out_dest_unreachs)
((after == before + 1)) || fail "icmp_out_dest_unreachs went $before -> $after"
(($(stat ipd.ip_in_unknown_protos) >= 1)) || fail "ip_in_unknown_protos not counted"
pass "protocol 253 answered with ICMP 3/2 and counted"
