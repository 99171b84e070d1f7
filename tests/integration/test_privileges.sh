#!/usr/bin/env bash
# test_privileges: least privilege, measured.
#   - `systemd-analyze security --offline=true` on the units this tree installs: exposure
#     <= 2.0 for ipd and udpd, <= 4.0 for nicd (printed);
#   - every layer runs as the stack's system user, never root; nicd holds exactly CAP_NET_ADMIN
#     and CAP_IPC_LOCK, ipd and udpd no capability at all;
#   - what the layers create is theirs alone (no group/other bits on sockets but the
#     applications' two, the
#     shared-memory directory 0700);
#   - one process per layer and instance serves: a second one started by hand refuses, saying
#     who holds the layer, and the first keeps serving with its buffers untouched;
#   - each layer's twin unit is the same unit (only its description differs), and the standby
#     process it runs has the same user and capabilities as the serving one.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

USER_NAME=ustack
UNITS="$BUILD/lib/systemd/system"
declare -A LIMIT=([nicd]=4.0 [ipd]=2.0 [udpd]=2.0)
for l in nicd ipd udpd; do
	out=$(systemd-analyze security --offline=true "$UNITS/ustack-$l@.service" 2>&1) ||
		{ echo "$out" | tail -5; fail "systemd-analyze security on ustack-$l@.service"; }
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
	[[ -n "$score" ]] || fail "no exposure level for $l"
	echo "exposure ustack-$l@.service: $score (limit ${LIMIT[$l]})"
	awk -v s="$score" -v m="${LIMIT[$l]}" 'BEGIN { exit !(s <= m) }' ||
		fail "ustack-$l@.service exposure $score > ${LIMIT[$l]}"
done
for l in nicd ipd tcpd udpd; do
	d=$(diff "$UNITS/ustack-$l@.service" "$UNITS/ustack-$l-twin@.service" | grep '^[<>]' | grep -v '^[<>] Description=') &&
		fail "ustack-$l-twin@.service differs from ustack-$l@.service: $d"
done

stack_up
ping_ok 56 3
RT="${USTACK_RUNTIME_DIR:-/run/ustack}/$T_INST"
uid=$(id -u "$USER_NAME") || fail "no user $USER_NAME"
[[ $uid -ne 0 ]] || fail "$USER_NAME is root"

declare -A PID
for l in nicd ipd udpd; do
	line=$("$CTL" status --instance "$T_INST" | awk -v l="$l" '$1==l')
	p=$(awk '{for(i=1;i<NF;i++) if($i=="pid") print $(i+1)}' <<<"$line")
	sb=$(awk '{for(i=1;i<NF;i++) if($i=="standby") print $(i+1)}' <<<"$line")
	[[ -n "$p" ]] || fail "no pid for $l in: $line"
	[[ $sb =~ ^[0-9]+$ ]] || fail "no standby for $l in: $line"
	# Started once, never restarted: READY=1 and the watchdog reach the manager.
	grep -q "restarts 0" <<<"$line" || fail "$l was restarted: $line"
	PID[$l]=$p
	for p in "$p" "$sb"; do
		read -r ruid euid suid fsuid < <(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$p/status")
		for u in "$ruid" "$euid" "$suid" "$fsuid"; do
			[[ $u -eq $uid ]] || fail "$l (pid $p) runs with uid $u, not $USER_NAME ($uid)"
		done
		eff=$(awk '/^CapEff:/ {print $2}' "/proc/$p/status")
		prm=$(awk '/^CapPrm:/ {print $2}' "/proc/$p/status")
		bnd=$(awk '/^CapBnd:/ {print $2}' "/proc/$p/status")
		if [[ $l == nicd ]]; then
			want=0000000000005000 # CAP_NET_ADMIN (12) | CAP_IPC_LOCK (14)
		else
			want=0000000000000000
		fi
		[[ $eff == "$want" && $prm == "$want" && $bnd == "$want" ]] ||
			fail "$l capabilities: effective $eff permitted $prm bounding $bnd, want $want"
		echo "$l: pid $p uid $uid capabilities $eff"
	done
done

# Files the layers made: sockets only for the stack's user, but the applications' two.
while IFS= read -r f; do
	read -r mode owner < <(command stat -c '%a %U' "$f")
	[[ $owner == "$USER_NAME" ]] || fail "$f belongs to $owner"
	case "$(basename "$f")" in
	udpd.sock | udpd.session | tcpd.sock | tcpd.session)
		[[ $mode == 666 ]] || fail "$f has mode $mode, want 666 (applications connect)" ;;
	*) (((8#$mode & 8#077) == 0)) || fail "$f has mode $mode: others may connect" ;;
	esac
done < <(find "$RT" -maxdepth 1 -type s)
shm=$(readlink -f "$RT/shm")
[[ $(command stat -c '%a %U' "$shm") == "700 $USER_NAME" ]] || fail "$shm is $(command stat -c '%a %U' "$shm")"

# A second process of each layer must refuse to start.
free_before=$(stat pool.free)
for l in nicd ipd udpd; do
	set +e
	out=$(timeout 10 setpriv --reuid="$uid" --regid="$(id -g "$USER_NAME")" --clear-groups \
		"$BUILD/bin/ustack-$l" --instance "$T_INST" 2>&1)
	rc=$?
	set -e
	[[ $rc -ne 0 && $rc -ne 124 ]] || fail "a second $l did not refuse (exit $rc): $out"
	grep -q "another ustack-$l of instance $T_INST is running (pid ${PID[$l]}" <<<"$out" ||
		fail "a second $l did not say why: $out"
	kill -0 "${PID[$l]}" || fail "the first $l (pid ${PID[$l]}) is gone"
done
"$CTL" status --instance "$T_INST" >/dev/null || fail "the instance stopped serving"
ping_ok 56 3
pool_settles "$free_before" || fail "pool.free moved from $free_before to $(stat pool.free)"
pass "scores within limits; layers run as $USER_NAME with only the capabilities they need; a second layer refuses"
