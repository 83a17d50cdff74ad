# The host side of the bench_* guest programs that need one, sourced by tests/guest/run.sh
# (host_pre_/host_post_/host_cleanup_<name>, as in virtio_host.sh: 0, or $hook_reason and 1 to
# fail or 77 to skip). tests/bench/bench.py drives the same peer with large counts itself.

BENCH_PEER=tests/bench/net_peer.py
BENCH_TMP=${GUEST_TMP:-${logdir:-/tmp}/tmp}
mkdir -p "$BENCH_TMP"

# bench_net: a tap, and tests/bench/net_peer.py on it counting and sending frames
host_pre_bench_net() {
	BNET_TAP=ptvmn$$
	BNET_NONCE=$(python3 -c 'import random; print(random.getrandbits(31))' 2>/dev/null)
	BNET_N=200
	BNET_OPTS="tap=$BNET_TAP"
	BNET_CMDLINE="nonce=$BNET_NONCE n=$BNET_N"
	export BNET_TAP BNET_NONCE BNET_OPTS BNET_CMDLINE
	rm -f "$BENCH_TMP/bnet.result"
	# tap_with_peer: tests/guest/virtio_host.sh
	tap_with_peer "$BNET_TAP" "$BENCH_TMP/bnet.ready" \
		python3 "$BENCH_PEER" "$BNET_TAP" "$BNET_NONCE" "$BENCH_TMP/bnet.ready" \
		"$BENCH_TMP/bnet.result"
	_st=$?
	BNET_PEER_PID=$TAP_PEER_PID
	return $_st
}

# the peer saw every frame the guest sent, of both sizes, and sent both receive phases
host_post_bench_net() {
	# the peer writes a phase's line after its last frame: the guest may have taken that
	# frame (and ptvm exited) before the line is out, so give it a moment before SIGTERM
	_i=0
	while [ "$(grep -c . "$BENCH_TMP/bnet.result" 2>/dev/null)" -lt 4 ] && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
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
	# tap_peer_stop: tests/guest/virtio_host.sh
	tap_peer_stop "$BNET_TAP" "$BNET_PEER_PID" "$BENCH_TMP/bnet.ready" "$BENCH_TMP/bnet.result"
	BNET_PEER_PID=""
}
