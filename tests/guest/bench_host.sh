# The host side of the bench_* guest programs that need one, sourced by tests/guest/run.sh
# (host_pre_/host_post_/host_cleanup_<name>, as in virtio_host.sh: 0, or $hook_reason and 1 to
# fail or 77 to skip). tests/bench/bench.py drives the same peer with large counts itself.

BENCH_PEER=tests/bench/net_peer.py
BENCH_TMP=${GUEST_TMP:-${logdir:-/tmp}/tmp}
mkdir -p "$BENCH_TMP"

# bench_net: a tap, and tests/bench/net_peer.py on it counting and sending frames
host_pre_bench_net() {
	BNET_TAP=ptvmn$$
	if [ "$(id -u)" != 0 ]; then
		hook_reason="needs root to create tap $BNET_TAP"
		return 77
	fi
	if [ ! -c /dev/net/tun ]; then
		hook_reason="/dev/net/tun missing"
		return 77
	fi
	if ! command -v ip >/dev/null || ! command -v python3 >/dev/null; then
		hook_reason="needs ip (iproute2) and python3"
		return 77
	fi
	if ! err=$(ip tuntap add dev "$BNET_TAP" mode tap 2>&1); then
		hook_reason="ip tuntap add dev $BNET_TAP failed: $err"
		return 77
	fi
	sysctl -qw "net.ipv6.conf.$BNET_TAP.disable_ipv6=1" 2>/dev/null
	ip link set "$BNET_TAP" up
	BNET_NONCE=$(python3 -c 'import random; print(random.getrandbits(31))')
	BNET_N=200
	BNET_OPTS="tap=$BNET_TAP"
	BNET_CMDLINE="nonce=$BNET_NONCE n=$BNET_N"
	export BNET_TAP BNET_NONCE BNET_OPTS BNET_CMDLINE
	rm -f "$BENCH_TMP/bnet.ready" "$BENCH_TMP/bnet.result"
	python3 "$BENCH_PEER" "$BNET_TAP" "$BNET_NONCE" "$BENCH_TMP/bnet.ready" \
		"$BENCH_TMP/bnet.result" >"$BENCH_TMP/bnet.peer.log" 2>&1 &
	BNET_PEER_PID=$!
	i=0
	while [ ! -f "$BENCH_TMP/bnet.ready" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ ! -f "$BENCH_TMP/bnet.ready" ]; then
		hook_reason="the tap peer did not start: $(tail -n 1 "$BENCH_TMP/bnet.peer.log")"
		return 1
	fi
}

# the peer saw every frame the guest sent, of both sizes, and sent both receive phases
host_post_bench_net() {
	kill "$BNET_PEER_PID" 2>/dev/null # SIGTERM: it writes its counts
	wait "$BNET_PEER_PID" 2>/dev/null
	BNET_PEER_PID=""
	got=$(tr '\n' ';' <"$BENCH_TMP/bnet.result" 2>/dev/null)
	want="tx 60 $BNET_N;tx 1514 $BNET_N;rx 0 60 $BNET_N;rx 1 1514 $BNET_N;"
	if [ "$(echo "$got" | sed 's/\(rx [0-9]* [0-9]* [0-9]*\) [0-9.]*;/\1;/g')" != "$want" ]; then
		hook_reason="the tap peer counted \"$got\", want \"$want\" (plus seconds)"
		return 1
	fi
}

host_cleanup_bench_net() {
	if [ -n "$BNET_PEER_PID" ]; then
		kill "$BNET_PEER_PID" 2>/dev/null
		wait "$BNET_PEER_PID" 2>/dev/null
		BNET_PEER_PID=""
	fi
	[ -n "$BNET_TAP" ] && ip link del "$BNET_TAP" 2>/dev/null
	rm -f "$BENCH_TMP/bnet.ready" "$BENCH_TMP/bnet.result" "$BENCH_TMP/bnet.peer.log"
}
