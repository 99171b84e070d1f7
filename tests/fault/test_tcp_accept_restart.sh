#!/usr/bin/env bash
# A listener's queue survives a tcpd kill with the data its connections already received.
# Twelve kernel clients connect to a stack listener whose application has not called accept()
# yet, and each sends a request at once (64 bytes of header and 20,000 more: several segments,
# two pages of the stage), which tcpd acknowledges and keeps for the connection it will hand
# over (tcpd_stage.h). Then tcpd is killed; the standby takes over, and only then does the
# application accept: all twelve connections, each with its request byte for byte, which it
# echoes back. Before the stage outlived tcpd, recovery had to reset them (their peers had been
# told the bytes arrived), and the fault campaign lost one dial in 250 tcpd kills that way. The
# new tcpd reports the twelve as kept (tcpd.state_early_kept) and none reset; once the
# connections close the pool is back to its idle free count and no early data stays staged.
# Twelve stages of a 128 KiB receive buffer each outgrow the 1 MiB the stage keeps touched
# (TCPD_STAGE_KEEP_PAGES): the runs above it are given back to the system when their
# connections are accepted (tcpd.stage_returned_bytes), and the segment's file holds fewer
# blocks than while they were staged.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib/stack.sh" "$@"

PORT=7204
N=12
OUT=$(mktemp -d "/tmp/ustack-$T_INST-acceptrestart.XXXXXX")
trap 'rc=$?; set +e; ((rc)) && tail -n 20 "$OUT"/*.log; rm -rf "$OUT"; (exit $rc); t_cleanup' EXIT

stack_up
idle=$(stat pool.free)

# The application: listens, waits for the go file, then accepts N connections and echoes each
# request (the header says its length).
cat >"$OUT/app.py" <<EOF
import os, socket, struct, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", $PORT))
s.listen(16)
print("listening", flush=True)
while not os.path.exists("$OUT/go"):
    time.sleep(0.02)
s.settimeout(20)
for i in range($N):
    c, peer = s.accept()
    c.settimeout(20)
    head = c.recv(64, socket.MSG_WAITALL)
    n = struct.unpack("!I", head[4:8])[0]
    body = c.recv(n, socket.MSG_WAITALL) if n else b""
    c.sendall(head + body)
    print("echoed", i, len(head) + len(body), flush=True)
    c.close()
print("done", flush=True)
EOF
"$CTL" exec --instance "$T_INST" -- "$PY" "$OUT/app.py" >"$OUT/app.log" 2>&1 &
T_PIDS+=($!)
APP=$!
for _ in $(seq 100); do grep -q '^listening' "$OUT/app.log" && break; sleep 0.05; done
grep -q '^listening' "$OUT/app.log" || fail "the application never listened: $(cat "$OUT/app.log")"

# The kernel's clients: connect and send at once, then wait for their echoes.
cat >"$OUT/clients.py" <<EOF
import os, socket, struct, sys
conns = []
for i in range($N):
    c = socket.create_connection(("$T_ADDR", $PORT), timeout=10)
    body = bytes((i * 31 + k * 7) & 0xff for k in range(20000))
    head = b"UACR" + struct.pack("!II", len(body), i) + bytes(52)
    c.sendall(head + body)
    conns.append((c, head + body))
print("sent", flush=True)
for i, (c, msg) in enumerate(conns):
    c.settimeout(30)
    got = b""
    while len(got) < len(msg):
        b = c.recv(len(msg) - len(got))
        if not b:
            break
        got += b
    if got != msg:
        print("client", i, "got", len(got), "bytes, differ", got != msg[:len(got)], flush=True)
        sys.exit(1)
    print("client", i, "echo ok", flush=True)
EOF
ip netns exec "$T_NS" "$PY" "$OUT/clients.py" >"$OUT/clients.log" 2>&1 &
T_PIDS+=($!)
CLIENTS=$!
for _ in $(seq 200); do grep -q '^sent' "$OUT/clients.log" && break; sleep 0.05; done
grep -q '^sent' "$OUT/clients.log" || fail "the clients did not send: $(cat "$OUT/clients.log")"
# Every byte is in: tcpd staged (and acknowledged) all of it before it dies.
want=$((N * 20064))
for _ in $(seq 200); do (($(stat tcpd.stage_bytes) >= want)) && break; sleep 0.02; done
(($(stat tcpd.stage_bytes) >= want)) || fail "tcpd staged $(stat tcpd.stage_bytes) of $want bytes"
log "$N connections in the accept queue with $want bytes of early data"
seg=$(ls -d /dev/shm/ustack-"$T_INST".*/tcpstage-state) || fail "no stage segment"
staged_blocks=$(command stat -c %b "$seg")

old=$("$CTL" status --instance "$T_INST" | awk '$1=="tcpd" {print $4}')
"$CTL" fault --instance "$T_INST" kill tcpd >/dev/null
"$CTL" wait --instance "$T_INST" --timeout 10 >/dev/null || fail "the stack does not serve again"
new=$("$CTL" status --instance "$T_INST" | awk '$1=="tcpd" {print $4}')
[[ -n "$new" && "$new" != "$old" ]] || fail "tcpd was not replaced ($old, $new)"
log "tcpd $old killed, $new serves"
(($(stat tcpd.state_early_kept) == N)) ||
	fail "the new tcpd kept $(stat tcpd.state_early_kept) connections' early data, not $N"
(($(stat tcpd.state_early_reset) == 0)) || fail "it reset $(stat tcpd.state_early_reset)"

touch "$OUT/go"
wait "$CLIENTS" || fail "a client lost its connection or its data: $(cat "$OUT/clients.log")"
wait "$APP" || fail "the application failed: $(cat "$OUT/app.log")"
grep -q '^done' "$OUT/app.log" || fail "the application did not accept all: $(cat "$OUT/app.log")"
pass "$N connections accepted after the kill, each with its early data"
(($(stat tcpd.stage_returned_bytes) > 0)) || fail "no stage page above the kept ones given back"
blocks=$(command stat -c %b "$seg")
((blocks < staged_blocks)) || fail "the stage segment holds $blocks blocks, $staged_blocks while staged"
pass "$(stat tcpd.stage_returned_bytes) bytes of stage given back: $staged_blocks -> $blocks blocks"

pool_settles "$idle" || fail "pool.free $(stat pool.free), idle $idle"
(($(stat tcpd.staged_bytes) == 0)) || fail "$(stat tcpd.staged_bytes) bytes still staged"
pass "the pool is idle again and nothing stays staged"
