#!/bin/sh
# check_exports: libsock's only global symbols are the us_* API, in libsock.so and libsock.a.
# usage: check_exports.sh libsock.so libsock.a
set -eu
so=$1
a=$2
syms_so=$(nm -D --defined-only "$so" | awk 'NF == 3 {sub(/@.*/, "", $3); print $3}')
syms_a=$(nm --defined-only "$a" | awk 'NF == 3 && $2 ~ /^[A-Z]$/ {print $3}')
fail=0
for f in so a; do
	eval "syms=\$syms_$f"
	bad=$(printf '%s\n' "$syms" | grep -v -e '^us_' -e '^LIBSOCK_0$' -e '^$' || true)
	if [ -n "$bad" ]; then
		echo "libsock.$f exports more than us_*:" $bad
		fail=1
	fi
	for s in us_socket us_sendto us_recvfrom us_poll us_close; do
		printf '%s\n' "$syms" | grep -qx "$s" || { echo "libsock.$f lacks $s"; fail=1; }
	done
done
exit $fail
