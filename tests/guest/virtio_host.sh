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

# the guest wrote sectors 1000-1063 with (~seed, s) and flushed
host_post_virtio_blk() {
	if ! hook_reason=$(blk_image_check "$GUEST_TMP/virtio_blk.img" "$BLK_SEED" \
		"$BLK_SECTORS" 1000 64); then
		hook_reason="host check of the image after the guest's write: $hook_reason"
		return 1
	fi
	rm -f "$GUEST_TMP/virtio_blk.img"
}

# nothing may have changed
host_post_virtio_blk_ro() {
	if ! hook_reason=$(blk_image_check "$GUEST_TMP/virtio_blk_ro.img" "$BLK_SEED" \
		"$BLK_SECTORS" 0 0); then
		hook_reason="read-only image changed: $hook_reason"
		return 1
	fi
	rm -f "$GUEST_TMP/virtio_blk_ro.img"
}
