#!/usr/bin/env bash
# test_shm_squat: a local user who pre-creates every shared-memory name an instance ever used, or
# could be guessed to use, neither stops the instance nor reads a byte of its traffic.
#
# The squatter (uid nobody) makes /dev/shm/ustack-<instance>-{pool,udp-state,tcp-state} (mode
# 0666, with a marker) and a look-alike private directory, and tries to make the runtime
# directory. `up` must come up anyway; pings carrying a recognisable pattern then flow; the
# squatter must not be able to open the real pool, list the private directory, or connect to
# any socket of the instance but the two that applications use; and the squatter's own objects
# must be untouched (the stack never opened them).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

SQUAT=(setpriv --reuid=65534 --regid=65534 --clear-groups)
SQ_FILES=("/dev/shm/ustack-$T_INST-pool" "/dev/shm/ustack-$T_INST-udp-state" "/dev/shm/ustack-$T_INST-tcp-state")
SQ_DIR="/dev/shm/ustack-$T_INST.AAAAAA"
RT="${USTACK_RUNTIME_DIR:-/run/ustack}/$T_INST"
sq_cleanup() { rm -rf "${SQ_FILES[@]}" "$SQ_DIR"; }
trap 'rc=$?; set +e; sq_cleanup; (exit $rc); t_cleanup' EXIT

log "squatter (uid 65534) pre-creates the names"
for f in "${SQ_FILES[@]}"; do
	"${SQUAT[@]}" sh -c "umask 0; printf 'SQUAT' > '$f'" || fail "squatter could not create $f"
done
"${SQUAT[@]}" sh -c "umask 0; mkdir '$SQ_DIR'" || fail "squatter could not create $SQ_DIR"
before=$(sha256sum "${SQ_FILES[@]}")
if "${SQUAT[@]}" mkdir -p "$RT" 2>/dev/null; then
	fail "the squatter could create the runtime directory $RT"
fi

stack_up
ping_ok 56 5
log "pings with a recognisable payload"
in_ns ping -n -q -c 20 -i 0.02 -w 10 -p 5155415454455253 -s 1000 "$T_ADDR" >/dev/null ||
	fail "pings with a pattern were not answered"

log "the squatter tries the real objects"
[[ -L "$RT/shm" ]] || fail "no shm link in $RT"
real=$(readlink "$RT/shm")
[[ "$real" == /dev/shm/ustack-$T_INST.* && "$real" != "$SQ_DIR" ]] || fail "shm link points to $real"
[[ $(command stat -c '%a' "$real") == 700 ]] || fail "$real has mode $(command stat -c '%a' "$real")"
[[ -f "$real/pool" ]] || fail "no pool in $real"
if "${SQUAT[@]}" cat "$real/pool" >/dev/null 2>&1 || "${SQUAT[@]}" cat "$RT/shm/pool" >/dev/null 2>&1; then
	fail "the squatter could read the pool"
fi
if "${SQUAT[@]}" ls "$real" >/dev/null 2>&1; then
	fail "the squatter could list $real"
fi
for seg in "$real"/*; do
	"${SQUAT[@]}" cat "$seg" >/dev/null 2>&1 && fail "the squatter could read $seg"
done

# Every socket of the instance but the applications' two must refuse the squatter.
n_sock=0
while IFS= read -r s; do
	base=$(basename "$s")
	n_sock=$((n_sock + 1))
	if "${SQUAT[@]}" $PY -c 'import socket,sys
for t in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
    s = socket.socket(socket.AF_UNIX, t)
    try:
        s.connect(sys.argv[1])
        sys.exit(0)
    except PermissionError:
        sys.exit(1)
    except OSError:
        pass
sys.exit(1)' "$s"; then
		case "$base" in
		udpd.sock | udpd.session | tcpd.sock | tcpd.session) ;;
		*) fail "the squatter could connect to $s" ;;
		esac
	fi
done < <(find "$RT" -maxdepth 1 -type s)
((n_sock >= 4)) || fail "only $n_sock sockets in $RT: the check saw nothing"

after=$(sha256sum "${SQ_FILES[@]}")
[[ "$before" == "$after" ]] || fail "the squatter's objects changed: the stack used them"
[[ -z "$(ls -A "$SQ_DIR")" ]] || fail "something was put into the squatter's directory"
ping_ok 56 3
pass "squatted names ignored; pool, segments and sockets closed to uid 65534 ($n_sock sockets checked)"
