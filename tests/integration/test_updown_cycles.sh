#!/usr/bin/env bash
# test_updown_cycles: `up` → ping → `down` of fresh instances, again and again: every `up` must
# succeed, every ping be answered, and every `down` leave nothing behind (processes, namespace,
# TAP, shared memory, runtime dir, config). USTACK_CYCLES sets the count (12 here: the suite's time
# budget, with both variants below at least twice; the 200-cycle
# run is tests/soak/updown_cycles.sh). Two variants are mixed in: every 5th cycle starts with an
# `up` that fails half-way (a device with the TAP's name is already in the namespace), whose
# `down` must clean what it made and after which `up` must work; every 4th cycle ends with the
# private manager SIGKILLed before `down` (a crashed manager: its layers die with it).
#
# It guards the private manager's start: `up` used to judge a just-spawned `systemd --user` by
# its /proc/PID/environ, which reads empty until the kernel has loaded the new image, so half
# of all `up`s called a live manager dead and started a second one that nothing ever ended.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
CTL="$BUILD/bin/ustackctl"
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/leftovers.sh"
CYCLES=${USTACK_CYCLES:-12}
[[ $(id -u) -eq 0 ]] || { echo "FAIL: needs root (network namespaces, TAP)"; exit 1; }

cur_inst=""
cur_ns=""
cleanup() {
	local rc=$?
	if [[ -n "$cur_inst" ]]; then
		"$CTL" down --instance "$cur_inst" >/dev/null 2>&1 || true
		ip netns del "$cur_ns" 2>/dev/null || true
	fi
	exit $rc
}
trap cleanup EXIT

net="10.203.$(($$ % 200 + 1))"
start=$(date +%s)
for i in $(seq 1 "$CYCLES"); do
	cur_inst="cy$$-$i"
	cur_ns="ustk-$cur_inst"
	ifname="ust-${cur_inst:0:11}"
	if ((i % 5 == 0)); then
		ip netns add "$cur_ns"
		ip -n "$cur_ns" tuntap add dev "$ifname" mode tun
		if "$CTL" up --instance "$cur_inst" --netns "$cur_ns" --addr "$net.2/24" \
			--peer "$net.1" >/dev/null 2>&1; then
			echo "FAIL: cycle $i: up succeeded over an existing device $ifname"
			exit 1
		fi
		"$CTL" down --instance "$cur_inst" >/dev/null 2>&1 || true
		ip -n "$cur_ns" link show "$ifname" >/dev/null ||
			{ echo "FAIL: cycle $i: down of a failed up removed a device it did not make"; exit 1; }
		ip netns del "$cur_ns"
		instance_leftovers "$cur_inst" "$cur_ns" "$ifname" ||
			{ echo "FAIL: cycle $i: a failed up left the above behind"; exit 1; }
	fi
	if ! out=$("$CTL" up --instance "$cur_inst" --netns "$cur_ns" --addr "$net.2/24" \
		--peer "$net.1" 2>&1); then
		echo "$out"
		echo "FAIL: cycle $i: ustackctl up"
		exit 1
	fi
	if ! ip netns exec "$cur_ns" ping -n -q -c 1 -W 2 "$net.2" >/dev/null; then
		"$CTL" status --instance "$cur_inst" || true
		echo "FAIL: cycle $i: no answer to ping"
		exit 1
	fi
	if ((i % 4 == 0)); then
		mpid=$(awk -F= '$1=="manager_pid"{print $2}' "${USTACK_RUNTIME_DIR:-/run/ustack}/$cur_inst/up.state")
		[[ $mpid -gt 1 ]] || { echo "FAIL: cycle $i: no manager pid recorded"; exit 1; }
		kill -KILL "$mpid"
	fi
	if ! out=$("$CTL" down --instance "$cur_inst" 2>&1); then
		echo "$out"
		echo "FAIL: cycle $i: ustackctl down"
		exit 1
	fi
	if ! instance_leftovers "$cur_inst" "$cur_ns" "$ifname"; then
		echo "FAIL: cycle $i: down left the above behind"
		exit 1
	fi
	cur_inst=""
done
echo "PASS: $CYCLES up/ping/down cycles in $(($(date +%s) - start)) s, nothing left behind"
