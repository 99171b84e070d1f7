#!/usr/bin/env bash
# [stack] cpus: `ustackctl up --cpus LIST` binds every layer, and every thread a layer starts
# (ZeroMQ's I/O threads, io_uring's workers), to LIST, and the stack serves so bound. A list that
# names no CPU of this machine is refused by up before anything starts.
source "$(dirname "$0")/../lib/stack.sh"

# The last CPU this shell may use: on a machine with one CPU that is CPU 0, and the test still
# shows that the list reaches every thread.
cpu=$(awk '/^Cpus_allowed_list/ { n = split($2, r, /[-,]/); print r[n] }' /proc/self/status)
[[ $cpu =~ ^[0-9]+$ ]] || fail "cannot read this shell's CPUs"

out=$("$CTL" up --instance "$T_INST" --netns "$T_NS" --addr "$T_ADDR/24" --cpus 1023 2>&1) &&
	fail "up --cpus 1023 succeeded"
grep -q "names no CPU" <<<"$out" || fail "up --cpus 1023: no clear error: $out"
[[ ! -e "/etc/ustack/$T_INST.conf" ]] || fail "up --cpus 1023 wrote a config"
out=$("$CTL" up --instance "$T_INST" --netns "$T_NS" --addr "$T_ADDR/24" --cpus 1-0 2>&1) &&
	fail "up --cpus 1-0 succeeded"
grep -q "not a CPU list" <<<"$out" || fail "up --cpus 1-0: no clear error: $out"
pass "lists naming no CPU of this machine, or malformed, are refused with a clear error"

stack_up --cpus "$cpu"
grep -qx "cpus = $cpu" "/etc/ustack/$T_INST.conf" || fail "the config does not say cpus = $cpu"
ping_ok 56 3
threads=0
for layer in nicd ipd udpd tcpd; do
	pid=$("$CTL" status --instance "$T_INST" | awk -v l="$layer" '$1 == l { print $4 }')
	[[ $pid =~ ^[0-9]+$ ]] || fail "no pid for $layer"
	for task in /proc/"$pid"/task/*; do
		got=$(awk '/^Cpus_allowed_list/ { print $2 }' "$task/status")
		[[ $got == "$cpu" ]] || fail "$layer thread ${task##*/} ($(cat "$task/comm")) may run on $got, not $cpu"
		threads=$((threads + 1))
	done
done
((threads >= 8)) || fail "only $threads threads seen in four layers"
pass "all $threads threads of the four layers run on CPU $cpu only, and the stack answers pings"
