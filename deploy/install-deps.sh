#!/usr/bin/env bash
# install-deps: every Debian package ustack needs to build, run and test. Idempotent: installs
# only what is missing, so repeated runs (quickstart, tests/run.sh) cost a dpkg query each.
set -euo pipefail

PACKAGES=(
	# build
	cmake gcc clang make pkg-config
	libzmq3-dev libprotobuf-c-dev protobuf-c-compiler liburing-dev libsystemd-dev libinih-dev libsodium-dev libpcap-dev
	check
	# run: systemd for the units (a private manager where PID 1 is not systemd), iproute2 for
	# namespaces and the TAP
	systemd iproute2 procps
	# test: the Linux kernel as the peer; clang's sanitizer and libFuzzer runtime
	iputils-ping arping netcat-openbsd python3 python3-scapy libclang-rt-14-dev
	# demo and test: the kernel's HTTP client against ustack-http (quickstart, test_tcp_tools.sh)
	curl
	# test: a capture read back by the reference reader (test_pcap.sh)
	tcpdump
	# test: the TAP's offload features as the kernel side sees them (test_offload.sh)
	ethtool
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
