# The host side of the virtio guest programs, sourced by tests/guest/run.sh.
# host_pre_<name> runs before the VM and exports what the program's ptvm-args line names
# ($BLK_DISK, $BLK_CMDLINE, ...); host_post_<name> runs after a passing VM and checks what the
# guest did from the outside. Each returns 0, or sets $hook_reason and returns 1 (fail) or
# 77 (skip, the reason says what is missing).

GUEST_TMP=$logdir/tmp
mkdir -p "$GUEST_TMP"
export GUEST_TMP

# blk_image PATH SEED SECTORS: every 16 bytes of sector s hold (le64 seed, le64 s)
blk_image() {
	python3 - "$@" <<'PY'
import struct, sys
path, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "wb") as f:
    for s in range(n):
        f.write(struct.pack("<QQ", seed, s) * 32)
PY
}

# blk_image_check PATH SEED SECTORS WSTART WCOUNT: sectors [WSTART, WSTART+WCOUNT) hold
# (~seed, s), all others (seed, s); prints the first mismatch
blk_image_check() {
	python3 - "$@" <<'PY'
import struct, sys
path, seed, n, ws, wc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
data = open(path, "rb").read()
if len(data) != n * 512:
    print("image is %d bytes, want %d" % (len(data), n * 512))
    sys.exit(1)
for s in range(n):
    want = ((~seed) & (2**64 - 1)) if ws <= s < ws + wc else seed
    if data[s * 512:(s + 1) * 512] != struct.pack("<QQ", want, s) * 32:
        got = struct.unpack_from("<QQ", data, s * 512)
        print("sector %d holds (0x%x, %d), want (0x%x, %d)" % (s, got[0], got[1], want, s))
        sys.exit(1)
PY
}

blk_setup() {
	BLK_SEED=$(python3 -c 'import random; print(random.getrandbits(48))')
	BLK_SECTORS=8192
	BLK_SERIAL=ptvm-$((BLK_SEED % 1000000))
	BLK_CMDLINE="seed=$BLK_SEED sectors=$BLK_SECTORS serial=$BLK_SERIAL"
	BLK_DISK="path=$GUEST_TMP/$1.img,serial=$BLK_SERIAL"
	export BLK_SEED BLK_SECTORS BLK_SERIAL BLK_CMDLINE BLK_DISK
	if ! blk_image "$GUEST_TMP/$1.img" "$BLK_SEED" "$BLK_SECTORS"; then
		hook_reason="cannot create $GUEST_TMP/$1.img"
		return 1
	fi
}

host_pre_virtio_blk() { blk_setup virtio_blk; }
host_pre_virtio_blk_ro() { blk_setup virtio_blk_ro; }

# blk_post NAME WSTART WCOUNT: the image holds what the guest wrote there, nothing else changed
blk_post() {
	if ! hook_reason=$(blk_image_check "$GUEST_TMP/$1.img" "$BLK_SEED" "$BLK_SECTORS" "$2" \
		"$3"); then
		hook_reason="the host's check of $1.img after the VM: $hook_reason"
		return 1
	fi
	rm -f "$GUEST_TMP/$1.img"
}

# the guest wrote sectors 1000-1063 with (~seed, s) and flushed; the read-only disk is intact
host_post_virtio_blk() { blk_post virtio_blk 1000 64; }
host_post_virtio_blk_ro() { blk_post virtio_blk_ro 0 0; }

# ---- virtio_net: a tap, and a peer on it that answers the guest's ping ----

# net_peer TAP NONCE READY RESULT: answers every "PTVM-PING NONCE ..." frame (ethertype
# 0x88b5) arriving from the tap with "PTVM-PONG NONCE" sent to its source MAC; writes the
# source MAC of the first ping to RESULT. Runs until killed (or 60 s).
net_peer() {
	python3 - "$@" <<'PY'
import socket, struct, sys, time
tap, nonce, ready, result = sys.argv[1:5]
ETH = 0x88b5
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH))
s.bind((tap, ETH))
s.settimeout(0.5)
me = bytes.fromhex("02aabbccddee")
open(ready, "w").write("ready\n")
want = ("PTVM-PING %s " % nonce).encode()
end = time.time() + 60
seen = False
while time.time() < end:
    try:
        f = s.recv(4096)
    except socket.timeout:
        continue
    if len(f) < 14 + len(want) or struct.unpack("!H", f[12:14])[0] != ETH:
        continue
    if not f[14:].startswith(want):
        continue
    src = f[6:12]
    reply = src + me + struct.pack("!H", ETH) + ("PTVM-PONG %s" % nonce).encode()
    s.send(reply.ljust(60, b"\0"))
    if not seen:
        open(result, "w").write(":".join("%02x" % b for b in src) + "\n")
        seen = True
PY
}

# tap_with_peer TAP READY PEER-CMD...: creates TAP (up, no IPv6 chatter), starts the peer
# command on it in the background (its pid in $TAP_PEER_PID) and waits for it to create the
# READY file. 0, or $hook_reason and 77 (this host cannot) or 1 (the peer did not start).
# Shared by the virtio_net and bench_net hooks.
tap_with_peer() {
	_tap=$1
	_ready=$2
	shift 2
	if [ "$(id -u)" != 0 ]; then
		hook_reason="needs root to create tap $_tap"
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
	if ! err=$(ip tuntap add dev "$_tap" mode tap 2>&1); then
		hook_reason="ip tuntap add dev $_tap failed: $err"
		return 77
	fi
	# no IPv6 chatter from the host on the tap; the guests ignore what is not their answer
	sysctl -qw "net.ipv6.conf.$_tap.disable_ipv6=1" 2>/dev/null
	ip link set "$_tap" up
	rm -f "$_ready"
	"$@" >"$_ready.peer.log" 2>&1 &
	TAP_PEER_PID=$!
	_i=0
	while [ ! -f "$_ready" ] && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if [ ! -f "$_ready" ]; then
		hook_reason="the tap peer did not start: $(tail -n 1 "$_ready.peer.log")"
		return 1
	fi
}

# tap_peer_stop TAP PID READY [FILE...]: undoes tap_with_peer (stops the peer, deletes the
# tap, removes READY, its peer log and the files named)
tap_peer_stop() {
	_tap=$1
	_pid=$2
	_ready=$3
	shift 3
	if [ -n "$_pid" ]; then
		kill "$_pid" 2>/dev/null
		wait "$_pid" 2>/dev/null
	fi
	[ -n "$_tap" ] && ip link del "$_tap" 2>/dev/null
	rm -f "$_ready" "$_ready.peer.log" "$@"
}

host_pre_virtio_net() {
	NET_TAP=ptvmg$$
	NET_NONCE=$(python3 -c 'import random; print(random.getrandbits(32))' 2>/dev/null)
	NET_MAC=52:54:00:$(python3 -c 'import random; print(":".join("%02x" % random.getrandbits(8) for _ in range(3)))' 2>/dev/null)
	NET_OPTS="tap=$NET_TAP,mac=$NET_MAC"
	NET_CMDLINE="nonce=$NET_NONCE mac=$NET_MAC"
	export NET_TAP NET_NONCE NET_MAC NET_OPTS NET_CMDLINE
	rm -f "$GUEST_TMP/net.result"
	tap_with_peer "$NET_TAP" "$GUEST_TMP/net.ready" \
		net_peer "$NET_TAP" "$NET_NONCE" "$GUEST_TMP/net.ready" "$GUEST_TMP/net.result"
	_st=$?
	NET_PEER_PID=$TAP_PEER_PID
	return $_st
}

# the peer saw the guest's ping, from the MAC the guest was given
host_post_virtio_net() {
	got=$(cat "$GUEST_TMP/net.result" 2>/dev/null)
	if [ "$got" != "$NET_MAC" ]; then
		hook_reason="the tap peer saw ${got:-no ping} (want a ping from $NET_MAC)"
		return 1
	fi
}

host_cleanup_virtio_net() {
	tap_peer_stop "$NET_TAP" "$NET_PEER_PID" "$GUEST_TMP/net.ready" "$GUEST_TMP/net.result"
	NET_PEER_PID=""
}

# virtio_console: ptvm's stdin is a FIFO that gets CONSOLE_TOKENS tokens "%08d " at once, more
# than the console's 64 KiB input buffer; the guest reads them all after 2 s, and ptvm must not
# have dropped (or warned about) any
CONSOLE_TOKENS=12000
host_pre_virtio_console() {
	CONSOLE_FIFO=$GUEST_TMP/virtio_console.fifo
	CONSOLE_WRITER=""
	rm -f "$CONSOLE_FIFO"
	if ! mkfifo "$CONSOLE_FIFO"; then
		hook_reason="cannot make the FIFO $CONSOLE_FIFO"
		return 1
	fi
	# blocks until ptvm's stdin opens the FIFO, writes everything, closes (EOF)
	awk -v n="$CONSOLE_TOKENS" 'BEGIN { for (i = 0; i < n; i++) printf "%08d ", i }' \
		>"$CONSOLE_FIFO" &
	CONSOLE_WRITER=$!
	GUEST_STDIN=$CONSOLE_FIFO
	CONSOLE_CMDLINE="tokens=$CONSOLE_TOKENS"
	export GUEST_STDIN CONSOLE_CMDLINE
}
host_post_virtio_console() {
	if grep -q 'ptvm: ' "$log"; then
		hook_reason="ptvm logged: $(grep 'ptvm: ' "$log" | head -n 1)"
		return 1
	fi
}
host_cleanup_virtio_console() {
	if [ -n "$CONSOLE_WRITER" ]; then
		kill "$CONSOLE_WRITER" 2>/dev/null
		wait "$CONSOLE_WRITER" 2>/dev/null
	fi
	rm -f "$CONSOLE_FIFO"
	unset GUEST_STDIN
}
