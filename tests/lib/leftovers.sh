# leftovers.sh: what of an instance is still on the machine. Source it; then
#   instance_leftovers INSTANCE [NETNS] [IFNAME]
# prints one line per thing left (processes, namespace, TAP, shared memory, runtime dir, config)
# and returns 1 if there is any, 0 if the instance left nothing behind.

# PIDs of processes that belong to INSTANCE: a layer started with "--instance INSTANCE", or a
# private manager whose XDG_RUNTIME_DIR is the instance's.
instance_pids() {
	local inst=$1 rt=${USTACK_RUNTIME_DIR:-/run/ustack}/$1/manager d pid
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ $pid == "$$" || $pid == "${BASHPID:-}" ]] && continue
		# argv and environ are NUL-separated: "--instance" followed by exactly the name.
		if grep -zx -A1 -- "--instance" "$d/cmdline" 2>/dev/null | tr '\0' '\n' | grep -qx -- "$inst" ||
			grep -qzx -- "XDG_RUNTIME_DIR=$rt" "$d/environ" 2>/dev/null; then
			echo "$pid"
		fi
	done
	return 0
}

instance_leftovers() {
	local inst=$1 ns=${2:-} ifname=${3:-} left=0 p
	for p in $(instance_pids "$inst"); do
		echo "left: process $p ($(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null))"
		left=1
	done
	if [[ -n "$ns" ]] && ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
		echo "left: namespace $ns"
		left=1
	fi
	if [[ -n "$ifname" ]] && ip link show "$ifname" >/dev/null 2>&1; then
		echo "left: device $ifname in the root namespace"
		left=1
	fi
	for p in /tmp/systemd-private-*-ustack-*@"$inst".service-* /var/tmp/systemd-private-*-ustack-*@"$inst".service-*; do
		[[ -e "$p" ]] || continue
		echo "left: a unit's private /tmp $p"
		left=1
	done
	for p in /dev/shm/ustack-"$inst".* /dev/shm/ustack-"$inst"-*; do
		[[ -e "$p" ]] || continue
		echo "left: shared memory $p"
		left=1
	done
	local rt=${USTACK_RUNTIME_DIR:-/run/ustack}/$inst
	[[ -e "$rt" ]] && {
		echo "left: runtime dir $rt"
		left=1
	}
	local conf=${USTACK_CONF_DIR:-/etc/ustack}/$inst.conf
	[[ -e "$conf" ]] && {
		echo "left: config $conf"
		left=1
	}
	return $left
}
