# Suite "virtio": the Debian cloud kernel under ptvm with every virtio device. The guest's init
# checks the devices from inside (guest/linux/init, ptvm.hvc= ptvm.ext4= ... on its command
# line); this side checks what the host can see: ptvm's stdout (hvc0), the disk images once ptvm
# has ended, ptvm's RSS around balloon inflation, the tap it pings the guest through.
#
# Three boots. The first has every device and powers off cleanly; where the host has to act in
# between, the guest prints "SYNC <step>" on the serial console and waits for "ACK <step>" on
# hvc0, which is ptvm's stdin (a FIFO here). The next crashes with virtio-net up (ptvm must end
# with the reboot status). The last writes random data to a raw disk with
# fsync, prints its sha256, and is killed with SIGKILL right then (durability).
#
# Knobs (test-host command line): TH_VIRTIO_TIMEOUT (s per boot, 150), TH_VIRTIO_BENCH_MIB (64),
# TH_LINUX_CMDLINE ("quiet").
. /testhost/lib.sh

TMO=${TH_VIRTIO_TIMEOUT:-150}
MEM_MIB=256
BALLOON_TARGET_MIB=128 # the guest's size after inflation: the balloon takes 128 MiB
BENCH_MIB=${TH_VIRTIO_BENCH_MIB:-64}
DURABLE_KIB=4096
CMDLINE_EXTRA=${TH_LINUX_CMDLINE-quiet}
G=/guest/linux
W=/tmp/virtio
TAP=vtap0
HOST_IP=10.0.2.1
GUEST_IP=10.0.2.15
MAC=52:54:00:12:34:56

# ---- the files and the tap

mkdir -p $W /mnt/vcheck
SETUP_ERR=
gunzip -c /testhost/virtio/ext4.img.gz > $W/ext4.img || SETUP_ERR="cannot unpack /testhost/virtio/ext4.img.gz"
cp $W/ext4.img $W/ro.img
RO_SHA=$(sha256sum $W/ro.img | cut -d' ' -f1)
HELLO_SHA=$(cat /testhost/virtio/hello.sha256)
# written out, not sparse: the guest's reads and the host's for-scale read see real pages
dd if=/dev/zero of=$W/raw.img bs=1M count=$BENCH_MIB 2> /dev/null
if [ -z "$SETUP_ERR" ]; then
	[ -c /dev/net/tun ] || SETUP_ERR="no /dev/net/tun in the test host (tun module: $(lsmod | grep -c '^tun ') loaded)"
fi
NET_ERR=
if ! err=$(tunctl -t $TAP 2>&1); then
	NET_ERR="tunctl -t $TAP: $err"
elif ! err=$({ ip addr add $HOST_IP/24 dev $TAP && ip link set $TAP up; } 2>&1); then
	NET_ERR="configuring $TAP: $err"
fi

# ---- boot 1: every device, checks, power-off

HVC_OUT=$(th_token)
HVC_IN=$(th_token)
FILE_TOKEN=$(th_token)
CMD="console=ttyS0 panic=-1 $CMDLINE_EXTRA ptvm.test=1 ptvm.cpus=1 ptvm.defer=virtio_balloon"
CMD="$CMD ptvm.hvc=$HVC_OUT,$HVC_IN ptvm.rng=1 ptvm.ext4=ext4,$HELLO_SHA,$FILE_TOKEN"
CMD="$CMD ptvm.ro=ro,$HELLO_SHA ptvm.bench=raw,$BENCH_MIB ptvm.net=$MAC,$GUEST_IP/24,$HOST_IP"
CMD="$CMD ptvm.balloon=$((MEM_MIB - BALLOON_TARGET_MIB))"
vm_start $TH_LOGS/virtio.log "$TMO" run --kernel $TH_GUEST_KERNEL --initrd $G/initramfs.cpio.gz \
	--memory ${MEM_MIB}M --cpus 1 --cmdline "$CMD" \
	--disk path=$W/ext4.img,serial=ext4 --disk path=$W/ro.img,readonly=on,serial=ro \
	--disk path=$W/raw.img,serial=raw --net tap=$TAP,mac=$MAC --console virtio --rng \
	--balloon target=${BALLOON_TARGET_MIB}M

INIT_AT=
vm_wait '^PTVM-GUEST-INIT' 90 && INIT_AT=$(vm_when '^PTVM-GUEST-INIT')

# hvc0: the guest's line must be on ptvm's stdout; the answer goes back in through stdin
HVC_ERR="the guest never got to its hvc step (no 'SYNC hvc')"
if [ -n "$INIT_AT" ] && vm_wait '^SYNC hvc' 60; then
	if vm_wait "HVC-OUT $HVC_OUT" 5; then
		HVC_ERR=
	else
		HVC_ERR="'HVC-OUT $HVC_OUT' never showed on ptvm's stdout"
	fi
	vm_send "ACK hvc $HVC_IN"
fi

# the host pings the guest once the guest has pinged the host
NET_HOST_ERR="the guest never got to its net step (no 'SYNC net')"
NET_HOST=
if [ -n "$NET_ERR" ]; then
	NET_HOST_ERR=$NET_ERR
	vm_wait '^SYNC net' 90 && vm_send "ACK net"
elif vm_wait '^SYNC net' 90; then
	th_ping $GUEST_IP
	vm_send "ACK net"
	if [ $TH_PING_OK = 1 ]; then
		NET_HOST_ERR=
		NET_HOST="test host -> guest over $TAP: $TH_PING"
	else
		NET_HOST_ERR="ping $GUEST_IP from the test host: $TH_PING"
	fi
fi

# balloon: ptvm's RSS after the guest touched (and freed) most of its RAM, then after inflation
RSS1=
RSS2=
if vm_wait '^SYNC balloon-touched' 90; then
	RSS1=$(vm_rss)
	vm_send "ACK balloon-touched"
	if vm_wait '^SYNC balloon-inflated' 90; then
		RSS2=$(vm_rss)
		vm_send "ACK balloon-inflated"
	fi
fi

vm_wait '^CHECKS DONE' 60
vm_finish 30
vm_boot_verdict
[ "$VM_TIMEDOUT" = 1 ] && [ -z "$BOOT_ERR" ] &&
	BOOT_ERR="timeout: ptvm still running 30 s after the last step (last line: $(sed 's/^[0-9.]* //' "$VM_LOG.raw" | grep -v -E '^(TH-EXIT|$)' | tail -n 1))"
[ -n "$SETUP_ERR" ] && BOOT_ERR="test-host setup: $SETUP_ERR"

vm_result virtio-console hvc "$HVC_ERR" "the test host saw the line on ptvm's stdout and sent the answer on its stdin"
vm_result virtio-rng rng ""

vm_result virtio-blk-ext4 ext4-read "" "init at $INIT_AT s"

# written, synced, powered off: the file must be in the image, as the guest wrote it
gsha=$(vm_grep '^CHECK ext4-write ok' | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')
EXT4_ERR=
if [ "$VM_RC" != 0 ]; then
	EXT4_ERR="ptvm ended with $(th_status_reason "$VM_RC") after the guest's power-off, want 0"
elif ! err=$(mount -t ext4 -o loop,ro $W/ext4.img /mnt/vcheck 2>&1); then
	EXT4_ERR="mount -o loop $W/ext4.img in the test host: $err"
else
	got=$(cat /mnt/vcheck/fromguest.txt 2>&1)
	hsha=$(sha256sum /mnt/vcheck/guest.bin 2>&1 | cut -d' ' -f1)
	if [ "$got" != "$FILE_TOKEN" ]; then
		EXT4_ERR="fromguest.txt in the image holds '$got', want '$FILE_TOKEN'"
	elif [ "$hsha" != "$gsha" ]; then
		EXT4_ERR="guest.bin in the image has sha256 $hsha, the guest wrote $gsha"
	fi
	umount /mnt/vcheck
fi
vm_result virtio-blk-ext4-poweroff ext4-write "$EXT4_ERR" \
	"after power-off (ptvm status 0 at $VM_END s) the test host loop-mounted the image: fromguest.txt and guest.bin as written"

RO_ERR=
[ "$(sha256sum $W/ro.img | cut -d' ' -f1)" = "$RO_SHA" ] || RO_ERR="the readonly=on image changed on the host"
vm_result virtio-blk-readonly readonly "$RO_ERR" "the image file is unchanged"

# for scale: the same file read by the test host itself (tmpfs, page cache)
t0=$(th_now)
dd if=$W/raw.img of=/dev/null bs=1M 2> /dev/null
t1=$(th_now)
host_read=$(awk -v b=$BENCH_MIB -v a="$t0" -v c="$t1" 'BEGIN { d = c - a; if (d < 0.01) d = 0.01; printf "%.0f", b / d }')
vm_result virtio-blk-throughput blk-bench "" "for scale, the test host reads the same file (tmpfs) at $host_read MiB/s"

vm_result virtio-net net "$NET_HOST_ERR" "$NET_HOST"

# Inflation must give at least half of what the balloon took back to the host: the guest
# touched nearly all its free RAM first, so most pages the balloon gets were resident.
BALLOON_ERR=
BALLOON_HOST=
want=$(((MEM_MIB - BALLOON_TARGET_MIB) * 1024 / 2))
if [ -z "$RSS1" ] || [ -z "$RSS2" ]; then
	BALLOON_ERR="no RSS figures (the guest never reached 'SYNC balloon-touched'/'SYNC balloon-inflated')"
elif [ $((RSS1 - RSS2)) -lt $want ]; then
	BALLOON_ERR="ptvm's VmRSS went $((RSS1 / 1024)) -> $((RSS2 / 1024)) MiB, want a drop of at least $((want / 1024)) MiB"
else
	BALLOON_HOST="ptvm VmRSS $((RSS1 / 1024)) -> $((RSS2 / 1024)) MiB"
fi
vm_result virtio-balloon balloon "$BALLOON_ERR" "$BALLOON_HOST"

# any other failed guest check (cpus, PCI, ACPI, console) is a failure of this boot too
other=$(sed 's/^[0-9.]* //' "$VM_LOG.raw" | grep -E '^CHECK (cpus|pci-host-bridge|acpi-tables|device-tree|serial-console) FAIL' | tr '\n' ';')
[ -n "$other" ] && th_fail virtio-boot "$other" "$VM_LOG"

# ---- boot 1b: a guest that dies with virtio-net running. A panic (or a triple fault) skips the
# driver's reset, so ptvm's teardown on its main thread resets the device, which turns the
# tap's offloads off: that ioctl must be on the main thread's seccomp list. It was not: a guest
# of the jail suite once panicked, and ptvm ended with 68 (a forbidden call), not 64.
test=virtio-net-guest-panic
log=$TH_LOGS/$test.log
if [ -n "$NET_ERR" ]; then
	th_fail $test "$NET_ERR"
else
	# shellcheck disable=SC2046 # TH_PTVM and th_jail_args are lists of words
	th_run "$log" "$TMO" $TH_PTVM run $(th_jail_args) --kernel $TH_GUEST_KERNEL \
		--initrd $G/initramfs.cpio.gz --memory ${MEM_MIB}M --cpus 1 --log-level debug \
		--cmdline "console=ttyS0 panic=-1 quiet ptvm.boot=panic" --net tap=$TAP,mac=$MAC
	rc=$?
	if [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail $test "timeout after $TMO s: the panicked guest did not end ptvm" "$log"
	elif ! grep -q 'offloads 0x[0-9a-f]* on' "$log"; then
		th_fail $test "ptvm never turned the tap's offloads on (no 'offloads 0x.. on' line; ptvm $(th_status_reason $rc)): nothing to prove" "$log"
	elif ! grep -q 'Kernel panic' "$log"; then
		th_fail $test "no kernel panic seen (ptvm $(th_status_reason $rc))" "$log"
	elif [ "$rc" != 64 ]; then
		th_fail $test "ptvm exited $(th_status_reason $rc), want 64 (the panicked guest's reboot)" "$log"
	elif ! grep -q 'offloads off' "$log"; then
		th_fail $test "ptvm ended with 64 but its teardown never turned the tap's offloads off" "$log"
	else
		th_pass $test "the guest crashed (sysrq c) with virtio-net up and the tap's offloads on; ptvm's teardown turned them off and it ended with 64, the reboot" "$log"
	fi
fi

[ -z "$NET_ERR" ] && tunctl -d $TAP > /dev/null 2>&1

# ---- boot 2: durability. Write, fsync, SIGKILL as soon as the guest says so, read the file.

CMD="console=ttyS0 panic=-1 $CMDLINE_EXTRA ptvm.test=1 ptvm.cpus=1 ptvm.durable=dur,$DURABLE_KIB"
vm_start $TH_LOGS/virtio-durable.log "$TMO" run --kernel $TH_GUEST_KERNEL --initrd $G/initramfs.cpio.gz \
	--memory ${MEM_MIB}M --cpus 1 --cmdline "$CMD" --disk path=$W/raw.img,serial=dur
INIT_AT=
vm_wait '^PTVM-GUEST-INIT' 90 && INIT_AT=$(vm_when '^PTVM-GUEST-INIT')
KILLED=0
if [ -n "$INIT_AT" ] && vm_wait '^DURABLE ' 60 && vm_alive; then
	kill -9 $VM_PID
	KILLED=1
	t_kill=$(awk -v a="$VM_T0" -v b="$(th_now)" 'BEGIN { printf "%.2f", b - a }')
fi
vm_finish 10
vm_boot_verdict
line=$(vm_grep '^DURABLE ')
dfail=$(vm_grep '^CHECK durable FAIL')
if [ -n "$BOOT_ERR" ]; then
	th_fail virtio-blk-durability "$BOOT_ERR" "$VM_LOG"
elif [ -n "$dfail" ]; then
	th_fail virtio-blk-durability "guest: ${dfail#CHECK durable FAIL }" "$VM_LOG"
elif [ -z "$line" ]; then
	th_fail virtio-blk-durability "the guest never printed its DURABLE line (ptvm $(th_status_reason "$VM_RC"))" "$VM_LOG"
elif [ $KILLED != 1 ]; then
	th_fail virtio-blk-durability "ptvm had already ended ($(th_status_reason "$VM_RC")) when the guest's DURABLE line was seen" "$VM_LOG"
else
	want=$(echo "$line" | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')
	bytes=$(echo "$line" | sed -n 's/.* bytes=\([0-9]*\).*/\1/p')
	got=$(head -c "$bytes" $W/raw.img | sha256sum | cut -d' ' -f1)
	if [ "$VM_RC" != 137 ]; then
		th_fail virtio-blk-durability "ptvm ended with $(th_status_reason "$VM_RC"), want 137 (SIGKILL)" "$VM_LOG"
	elif [ "$got" != "$want" ]; then
		th_fail virtio-blk-durability "the first $bytes bytes of the image have sha256 $got after SIGKILL, the guest wrote and flushed $want" "$VM_LOG"
	else
		th_pass virtio-blk-durability "$bytes random bytes written with fsync, ptvm SIGKILLed $(awk -v a="$(vm_when '^DURABLE ')" -v b="$t_kill" 'BEGIN { printf "%.2f", b - a }') s after the guest said so (at $t_kill s), the image holds them (sha256 ok)" "$VM_LOG"
	fi
fi
rm -rf $W
