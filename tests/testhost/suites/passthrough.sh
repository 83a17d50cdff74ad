# Suite "passthrough": real devices of the test host (tests/testhost/pt-devices.sh: QEMU nvme,
# two virtio-net-pci NICs with iommu_platform=on joined by a hub, ivshmem-plain with an 8 GiB
# 64-bit prefetchable BAR, a 64 KiB ROM on the first NIC, all behind intel-iommu) passed by ptvm
# to a stock Linux guest (the Debian cloud kernel, guest/linux/pt-init as its init), which
# drives them with its own drivers (nvme, virtio_net). The guest prints "CHECK <name> ok|FAIL"
# lines; this side checks what the test host sees before and after.
#
#   boot A  NVMe, 2 vCPUs: reads what the test host wrote, O_DIRECT and buffered writes,
#           multi-queue MSI-X (vectors counted in the guest and in ptvm's log); the DMA gate
#           (guest RAM mapped in the background, the bus-master enables counted at ptvm's end)
#   (between: ptvm reset the controller at exit: CSTS.RDY is 0)
#   boot B  NVMe again (the same device in a second VM: reads boot A's data), the NIC (rom=on)
#           and the ivshmem BAR (p2p=on) together: ping both ways, a TCP transfer each way
#           (sha256 on both ends), the ROM's sha256, the BAR above RAM, patterns both ways
#   (after: the NVMe back on the host's nvme driver, the host reads the guests' data)
#   boot C  the guest unbinds and binds its nvme driver TH_PT_REBINDS times (100): ptvm's open
#           fds, and its KVM MSI routes and irqfds (its --log-level debug lines "kvm: MSI route
#           gsi N -> ..." / "kvm: MSI route gsi N removed", "kvm: irqfd F -> gsi N" /
#           "kvm: irqfd F off gsi N"), the same before and after
#   bad input: the NVMe while the host's nvme driver has it, a group that holds a device on a
#   host driver (pci-pf-stub), RLIMIT_MEMLOCK below the guest's RAM without CAP_IPC_LOCK: one
#   error line each naming the device, group or limit, status 1, the devices left as they were
#
# Knobs (test-host command line): TH_PT_TIMEOUT (s per boot, 240; the rebind boot gets 60 + 8 s
# a round more), TH_PT_REBINDS (100),
# TH_PT_MIB (MiB per NVMe data region, 8), TH_PT_NET_MIB (MiB each way over the NIC, 16),
# TH_LINUX_CMDLINE ("quiet"). TH_PT_ROM_SHA256 comes from run.sh (the ROM file's sha256).
. /testhost/lib.sh

TMO=${TH_PT_TIMEOUT:-240}
REBINDS=${TH_PT_REBINDS:-100}
MIB=${TH_PT_MIB:-8}
NET_MIB=${TH_PT_NET_MIB:-16}
G=/guest/linux
CMD0="console=ttyS0 panic=-1 ${TH_LINUX_CMDLINE-quiet} rdinit=/pt/init"
W=/tmp/pt
HOST_IP=10.77.0.1
GUEST_IP=10.77.0.2
MAC_PT=52:54:00:70:74:01
MAC_HOST=52:54:00:70:74:02
mkdir -p $W

pci_find() { # pci_find VENDOR DEVICE: the BDFs of those functions
	for _d in /sys/bus/pci/devices/*; do
		[ "$(cat "$_d/vendor")" = "$1" ] && [ "$(cat "$_d/device")" = "$2" ] && echo "${_d##*/}"
	done
}
sysdev() { echo "/sys/bus/pci/devices/$1"; }
group_size() { ls "/sys/kernel/iommu_groups/$(th_group_of "$1")/devices" | wc -l; }
hex() { printf '0x%x' "$1"; }

fds() { ls /proc/$VM_PID/fd 2> /dev/null | wc -l; }

# pt_boot LOG CMDLINE PTVM-ARGS...: ptvm boots the guest with /pt/init in the background;
# INIT_AT once its init runs
pt_boot() {
	_log=$1
	_cmd=$2
	shift 2
	vm_start "$_log" "$TMO" run --kernel $G/vmlinux --initrd $G/initramfs-pt.cpio.gz \
		--memory 512M "$@" --cmdline "$CMD0 $_cmd"
	INIT_AT=
	vm_wait '^PTVM-GUEST-INIT' 150 && INIT_AT=$(vm_when '^PTVM-GUEST-INIT')
}

# pt_end: after the boot's last step: its checks done, ptvm ended; BOOT_ERR for all its tests
pt_end() {
	vm_wait '^CHECKS DONE' 120
	vm_finish 30
	vm_boot_verdict
	[ -n "$SETUP_ERR" ] && BOOT_ERR="test-host setup: $SETUP_ERR"
	[ "$VM_TIMEDOUT" = 1 ] && [ -z "$BOOT_ERR" ] && BOOT_ERR="timeout: ptvm still running 30 s after the last step"
}

# ---- the devices

NVME=$(pci_find 0x1b36 0x0010 | head -n 1)
SHM=$(pci_find 0x1af4 0x1110 | head -n 1)
for m in $(cat /lib/modules/deferred-order); do
	case $m in virtio* | failover | net_failover) insmod /lib/modules/$m.ko 2> /dev/null ;; esac
done
NIC=
HOST_IF=
i=0
while { [ -z "$NIC" ] || [ -z "$HOST_IF" ]; } && [ $i -lt 50 ]; do
	for n in /sys/class/net/*; do
		case $(cat "$n/address") in
		$MAC_PT) NIC=$(basename "$(readlink -f "$n/device/..")") ;;
		$MAC_HOST) HOST_IF=${n##*/} ;;
		esac
	done
	[ -n "$NIC" ] && [ -n "$HOST_IF" ] || sleep 0.1
	i=$((i + 1))
done

missing=
[ -n "$NVME" ] || missing="$missing NVMe (1b36:0010)"
[ -n "$SHM" ] || missing="$missing ivshmem (1af4:1110)"
[ -n "$NIC" ] || missing="$missing the NIC with MAC $MAC_PT"
[ -n "$HOST_IF" ] || missing="$missing the NIC with MAC $MAC_HOST"
if [ -n "$missing" ]; then
	th_fail pt-devices "the test host lacks$missing (tests/testhost/pt-devices.sh; TH_PT_DEVICES=0?); PCI: $(for d in /sys/bus/pci/devices/*; do printf '%s=%s:%s ' "${d##*/}" "$(cat $d/vendor)" "$(cat $d/device)"; done)"
	exit 0
fi
set -- $(sed -n 3p "$(sysdev $SHM)/resource")
SHM_SIZE=$(($2 - $1 + 1))
SHM_FLAGS=$3
set -- $(sed -n 7p "$(sysdev $NIC)/resource")
ROM_SIZE=$(($2 - $1 + 1))
NVME_DRV=$(th_driver_of $NVME)
bad=
for d in $NVME $NIC $SHM; do
	[ "$(group_size $d)" = 1 ] || bad="$bad $d shares IOMMU group $(th_group_of $d) with $(ls /sys/kernel/iommu_groups/$(th_group_of $d)/devices | tr '\n' ' ');"
done
if [ "$NVME_DRV" != nvme ] || [ ! -b /dev/nvme0n1 ]; then
	th_fail pt-devices "NVMe $NVME has driver '$NVME_DRV' and /dev/nvme0n1 $([ -b /dev/nvme0n1 ] || echo 'is missing'): the test host's nvme driver should have it"
elif [ $SHM_SIZE -le $((4 << 30)) ] || [ $((SHM_FLAGS & 0x2000)) = 0 ] || [ $((SHM_FLAGS & 0x100000)) = 0 ]; then
	th_fail pt-devices "ivshmem $SHM BAR2 is $SHM_SIZE bytes, flags $SHM_FLAGS: want a 64-bit prefetchable BAR above 4 GiB"
elif [ $ROM_SIZE != 65536 ] || [ -z "${TH_PT_ROM_SHA256:-}" ]; then
	th_fail pt-devices "NIC $NIC ROM BAR is $ROM_SIZE bytes (want 65536), TH_PT_ROM_SHA256 '${TH_PT_ROM_SHA256:-}'"
elif [ -n "$bad" ]; then
	th_fail pt-devices "each passthrough device should be alone in its IOMMU group:$bad"
else
	th_pass pt-devices "NVMe $NVME (nvme, $(($(cat /sys/block/nvme0n1/size) / 2048)) MiB, group $(th_group_of $NVME)); NIC $NIC (virtio-pci, $MAC_PT, ROM 64 KiB, group $(th_group_of $NIC)) joined to $HOST_IF ($MAC_HOST); ivshmem $SHM BAR2 $((SHM_SIZE >> 30)) GiB 64-bit prefetchable (group $(th_group_of $SHM)); each alone in its IOMMU group"
fi

# ---- bad input first: the NVMe still on the host's nvme driver

log=$TH_LOGS/pt-bad-host-driver.log
th_run "$log" 30 ptvm run --kernel $G/vmlinux --initrd $G/initramfs-pt.cpio.gz --memory 128M \
	--cmdline "$CMD0" --device vfio=$NVME
rc=$?
errs=$(sed -n 's/^[0-9.]* //p' "$log" | grep -c '^ptvm: error')
line=$(sed -n 's/^[0-9.]* //p' "$log" | grep -m1 '^ptvm: error')
if [ $rc = 1 ] && [ "$errs" = 1 ] && echo "$line" | grep -q "$NVME is bound to nvme.*ptvm vfio bind $NVME" &&
	[ "$(th_driver_of $NVME)" = nvme ] && dd if=/dev/nvme0n1 of=/dev/null bs=4k count=1 2> /dev/null; then
	th_pass pt-bad-host-driver "${line#ptvm: }; status 1, still on nvme and readable"
else
	th_fail pt-bad-host-driver "status $rc, $errs error lines ($line), driver now $(th_driver_of $NVME)" "$log"
fi

# a group that still holds a device bound to a host driver: the q35 functions at 00:1f share
# one; one of them goes to vfio-pci (by hand: ptvm vfio bind would refuse), another to
# pci-pf-stub
victim=
stub=
for g in /sys/kernel/iommu_groups/*; do
	set -- "$g"/devices/*
	[ $# -ge 2 ] && [ "$(th_driver_of "${1##*/}")" = none ] && [ "$(th_driver_of "${2##*/}")" = none ] || continue
	stub=${1##*/}
	victim=${2##*/}
	break
done
log=$TH_LOGS/pt-bad-group.log
if [ -z "$victim" ]; then
	th_fail pt-bad-group "no IOMMU group with two driverless devices to build the case from"
elif ! insmod /lib/modules/pci-pf-stub.ko 2> /dev/null && [ ! -d /sys/bus/pci/drivers/pci-pf-stub ]; then
	th_fail pt-bad-group "pci-pf-stub.ko would not load (mkhost.sh carries it)"
else
	echo pci-pf-stub > "$(sysdev $stub)/driver_override"
	echo vfio-pci > "$(sysdev $victim)/driver_override"
	echo $stub > /sys/bus/pci/drivers_probe
	echo $victim > /sys/bus/pci/drivers_probe
	g=$(th_group_of $victim)
	th_run "$log" 30 ptvm run --kernel $G/vmlinux --initrd $G/initramfs-pt.cpio.gz --memory 128M \
		--cmdline "$CMD0" --device vfio=$victim
	rc=$?
	errs=$(sed -n 's/^[0-9.]* //p' "$log" | grep -c '^ptvm: error')
	line=$(sed -n 's/^[0-9.]* //p' "$log" | grep -m1 '^ptvm: error')
	if [ "$(th_driver_of $stub)" != pci-pf-stub ] || [ "$(th_driver_of $victim)" != vfio-pci ]; then
		th_fail pt-bad-group "setup: $stub has $(th_driver_of $stub), $victim has $(th_driver_of $victim) (want pci-pf-stub, vfio-pci)" "$log"
	elif [ $rc = 1 ] && [ "$errs" = 1 ] && echo "$line" | grep -q "IOMMU group $g is not viable: $stub (bound to pci-pf-stub).*vfio-pci"; then
		th_pass pt-bad-group "${line#ptvm: }; status 1, both devices left on their drivers"
	else
		th_fail pt-bad-group "status $rc, $errs error lines ($line)" "$log"
	fi
	for d in $stub $victim; do
		echo > "$(sysdev $d)/driver_override"
		[ -e "$(sysdev $d)/driver" ] && echo $d > "$(sysdev $d)/driver/unbind"
	done
fi

# ---- boot A: the NVMe alone

# the test host writes MIB MiB of random data at the start of the namespace and hashes what the
# device then holds, before the bind
head -c $((MIB << 20)) /dev/urandom > $W/host.bin
dd if=$W/host.bin of=/dev/nvme0n1 bs=1M oflag=direct conv=notrunc 2> /dev/null
HOST_SHA=$(dd if=/dev/nvme0n1 bs=1M count=$MIB iflag=direct 2> /dev/null | sha256sum | cut -d' ' -f1)
SETUP_ERR=
[ "$HOST_SHA" = "$(sha256sum $W/host.bin | cut -d' ' -f1)" ] || SETUP_ERR="the test host's own write to /dev/nvme0n1 did not read back"
rm -f $W/host.bin
bind_all() { # bind_all BDF...: to vfio-pci through ptvm vfio bind; SETUP_ERR on failure
	for _b in "$@"; do
		_out=$(ptvm vfio bind "$_b" 2>&1) || SETUP_ERR="${SETUP_ERR:+$SETUP_ERR; }ptvm vfio bind $_b: $_out"
	done
}
bind_all $NVME

# bad input: RLIMIT_MEMLOCK below the guest's RAM, without CAP_IPC_LOCK (an unprivileged user)
log=$TH_LOGS/pt-bad-memlock.log
th_run "$log" 30 ptio memlock 16384 ptvm run --kernel $G/vmlinux --initrd $G/initramfs-pt.cpio.gz \
	--memory 128M --cmdline "$CMD0" --device vfio=$NVME
rc=$?
errs=$(sed -n 's/^[0-9.]* //p' "$log" | grep -c '^ptvm: error')
line=$(sed -n 's/^[0-9.]* //p' "$log" | grep -m1 '^ptvm: error')
if [ $rc = 1 ] && [ "$errs" = 1 ] && echo "$line" | grep -q "RLIMIT_MEMLOCK of at least 128 MiB.*16 MiB.*raise" &&
	[ "$(th_driver_of $NVME)" = vfio-pci ]; then
	th_pass pt-bad-memlock "${line#ptvm: }; status 1, $NVME still on vfio-pci"
else
	th_fail pt-bad-memlock "status $rc, $errs error lines ($line), $NVME on $(th_driver_of $NVME)" "$log"
fi

# guest RAM faulted in by two threads before it is pinned (iommu/dma_prefault.h; auto gives
# none on this one-CPU test host), under the sandbox as always: the NVMe's checks below run on it
pt_boot $TH_LOGS/pt-nvme.log "pt.cpus=2 pt.nvme=$HOST_SHA,$MIB pt.msix=1" \
	--cpus 2 --log-level info --memory 512M,prefault-threads=2 --device vfio=$NVME
pt_end
vm_result pt-nvme-read nvme-read "" "init at $INIT_AT s"
SHA_DIRECT=$(vm_grep '^CHECK nvme-write-direct ok' | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')
SHA_BUFFERED=$(vm_grep '^CHECK nvme-write-buffered ok' | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')
vm_result pt-nvme-write-direct nvme-write-direct ""
vm_result pt-nvme-write-buffered nvme-write-buffered ""
# ptvm's side of MSI-X: the vectors it routed for the NVMe
gvec=$(vm_grep '^CHECK nvme-msix ok' | sed -n 's/.*ok \([0-9]*\) MSI-X vectors.*/\1/p')
pvec=$(sed 's/^[0-9.]* //' "$VM_LOG.raw" | sed -n "s/.*vfio-pci $NVME: MSI-X vector \([0-9]*\) -> gsi.*/\1/p" | sort -u | wc -l)
nvec=$(sed 's/^[0-9.]* //' "$VM_LOG.raw" | sed -n "s/.*vfio-pci $NVME: MSI-X enabled, \([0-9]*\) vectors.*/\1/p" | tail -n 1)
MSIX_ERR=
[ -n "$gvec" ] && [ "$pvec" -lt "$gvec" ] && MSIX_ERR="the guest uses $gvec vectors but ptvm routed only $pvec (MSI-X vector N -> gsi lines)"
vm_result pt-nvme-msix nvme-msix "$MSIX_ERR" "ptvm routed $pvec distinct vectors of the $nvec the device offers"
# the DMA gate, from the figures ptvm logs at its end: guest RAM all mapped in the background,
# and the guest's bus-master enables went through the gate (each counted, waiting or not)
gate=$(sed 's/^[0-9.]* //' "$VM_LOG.raw" | grep 'container0:   mapped in the background:' | tail -n 1)
if [ -n "$BOOT_ERR" ]; then
	th_fail pt-nvme-dma-gate "$BOOT_ERR" "$VM_LOG"
else
	case $gate in
	*"all in place"*"enable "[1-9]*) th_pass pt-nvme-dma-gate "${gate#*container0:   }" ;;
	*) th_fail pt-nvme-dma-gate "ptvm's last background-mapping line is '${gate:-missing}': want all in place and at least one bus-master enable" "$VM_LOG" ;;
	esac
fi
pf=$(sed 's/^[0-9.]* //' "$VM_LOG.raw" | grep 'container0:   faulted in before pinning' | tail -n 1)
if [ -n "$BOOT_ERR" ]; then
	th_fail pt-nvme-prefault "$BOOT_ERR" "$VM_LOG"
else
	case $pf in
	*"by up to 2 threads: 512 MiB"*) th_pass pt-nvme-prefault "${pf#*container0:   }; the NVMe's reads, writes and MSI-X above ran on that RAM" ;;
	*) th_fail pt-nvme-prefault "ptvm's prefault line is '${pf:-missing}': want 512 MiB faulted in by 2 threads (--memory 512M,prefault-threads=2)" "$VM_LOG" ;;
	esac
fi
[ $VM_RC = 0 ] || [ -n "$BOOT_ERR" ] || th_fail pt-nvme-exit "ptvm ended with $(th_status_reason $VM_RC) after the guest's power-off" "$VM_LOG"

# ---- between: the controller the guest had enabled is disabled again (ptvm's reset at exit)

# CSTS (offset 0x1c) of the NVMe's BAR0, through sysfs; memory decoding on for the read
cfg=$(sysdev $NVME)/config
cmd=$(dd if=$cfg bs=1 skip=4 count=1 2> /dev/null | od -An -tu1 | tr -d ' ')
printf "\\$(printf %o $((cmd | 2)))" | dd of=$cfg bs=1 seek=4 conv=notrunc 2> /dev/null
regs=$(ptio mem "$(sysdev $NVME)/resource0" 0 4096 read32 0x14 0x1c 2>&1)
printf "\\$(printf %o "$cmd")" | dd of=$cfg bs=1 seek=4 conv=notrunc 2> /dev/null
cc=$(echo "$regs" | sed -n 's/.* 0x14=\(0x[0-9a-f]*\).*/\1/p')
csts=$(echo "$regs" | sed -n 's/.* 0x1c=\(0x[0-9a-f]*\).*/\1/p')
resets=$(vm_count "vfio-pci $NVME: reset")
if [ -z "$cc" ] || [ -z "$csts" ]; then
	th_fail pt-nvme-reset "cannot read the NVMe's CC/CSTS through $(sysdev $NVME)/resource0: $regs"
elif [ $((cc & 1)) != 0 ] || [ $((csts & 1)) != 0 ]; then
	th_fail pt-nvme-reset "after ptvm exited the controller is still enabled: CC $cc CSTS $csts (ptvm should reset the device at exit)"
else
	th_pass pt-nvme-reset "after boot A the NVMe controller is disabled again (CC $cc, CSTS $csts: EN=0, RDY=0), ready for the next VM"
fi

# ---- boot B: three devices in one VM: the NVMe again, the NIC, the big BAR

SETUP_ERR=
NET_ERR=
ip addr add $HOST_IP/24 dev $HOST_IF 2> /dev/null
ip link set $HOST_IF up || NET_ERR="cannot bring $HOST_IF up"
# the host's data for the guest to receive, and listeners for both transfers
head -c $((NET_MIB << 20)) /dev/urandom > $W/net-host.bin
NET_HOST_SHA=$(sha256sum $W/net-host.bin | cut -d' ' -f1)
rm -f $W/net-rx.bin
ptio listen 5001 recv $W/net-rx.bin > $W/listen-rx.out 2>&1 &
L1=$!
ptio listen 5002 send $W/net-host.bin > $W/listen-tx.out 2>&1 &
L2=$!
# the test host's pattern in the BAR (at 5 GiB, beyond what 32 bits reach), before the bind
SHM_HOSTOFF=$((5 << 30))
SHM_HOSTSEED=$(($(od -An -N4 -tu4 /dev/urandom) + 1))
SHM_SEED=$(($(od -An -N4 -tu4 /dev/urandom) + 1))
out=$(ptio mem "$(sysdev $SHM)/resource2" $SHM_HOSTOFF 1048576 fill $SHM_HOSTSEED 2>&1) || SETUP_ERR="ptio mem fill of the ivshmem BAR: $out"
bind_all $NVME $NIC $SHM

pt_boot $TH_LOGS/pt-three.log "pt.nvmesum=$MIB,$MIB,$SHA_DIRECT pt.net=$MAC_PT,$GUEST_IP/24,$HOST_IP,$NET_MIB pt.rom=1af4:1041,$TH_PT_ROM_SHA256 pt.shm=1af4:1110,$SHM_SIZE,$SHM_HOSTOFF,$SHM_HOSTSEED,$SHM_SEED" \
	--cpus 1 --log-level info \
	--device vfio=$NVME --device vfio=$NIC,rom=on --device vfio=$SHM,p2p=on
NET_HOST_ERR="the guest never got to its net step (no 'SYNC net')"
NET_HOST=
if vm_wait '^SYNC net' 120; then
	th_ping $GUEST_IP
	vm_send "ACK net"
	if [ $TH_PING_OK = 1 ]; then
		NET_HOST_ERR=
		NET_HOST="test host -> guest: $TH_PING"
	else
		NET_HOST_ERR="ping $GUEST_IP from the test host: $TH_PING"
	fi
fi
pt_end
kill $L1 $L2 2> /dev/null
wait $L1 $L2 2> /dev/null
[ -n "$NET_ERR" ] && BOOT_ERR="test-host network: $NET_ERR"
vm_result pt-two-vms-in-a-row nvme-sum "" "boot B read boot A's O_DIRECT data"
vm_result pt-net-ping net-ping "$NET_HOST_ERR" "$NET_HOST"
# guest -> host: what the listener received has the guest's hash
gsha=$(vm_grep '^CHECK net-tx ok' | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')
hsha=$(sha256sum $W/net-rx.bin 2> /dev/null | cut -d' ' -f1)
TX_ERR=
[ "$gsha" = "$hsha" ] || TX_ERR="the test host received sha256 ${hsha:-nothing} ($(cat $W/listen-rx.out | tr '\n' ' '))"
vm_result pt-net-tx net-tx "$TX_ERR" "the test host received the same ($(tail -n 1 $W/listen-rx.out))"
gsha=$(vm_grep '^CHECK net-rx ok' | sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p')
RX_ERR=
[ "$gsha" = "$NET_HOST_SHA" ] || RX_ERR="the test host sent sha256 $NET_HOST_SHA ($(cat $W/listen-tx.out | tr '\n' ' '))"
vm_result pt-net-rx net-rx "$RX_ERR" "what the test host sent"
rm -f $W/net-rx.bin $W/net-host.bin
vm_result pt-rom rom "" "rom=on"
# the BAR: placed by ptvm in its 64-bit window, and mapped for peer-to-peer DMA
p2p=$(vm_grep "mapped vfio ${SHM#0000:} bar2[^ ]* iova 0x[0-9a-f]* size $(hex $SHM_SIZE)")
BAR_ERR=
[ -n "$p2p" ] || BAR_ERR="no 'mapped vfio ${SHM#0000:} bar2 ... size $(hex $SHM_SIZE)' line from ptvm's DMA listener: the BAR was not DMA-mapped for peer-to-peer (p2p=on)"
vm_result pt-bigbar-placed shm-bar "$BAR_ERR" "DMA-mapped for peer-to-peer: $(echo "$p2p" | sed 's/.*: mapped //')"
vm_result pt-bigbar-host-to-guest shm-read ""
# guest -> host: the guest's patterns, read by the test host through its own mapping of the BAR
SHM_ERR=
i=0
for off in 0 $((SHM_SIZE / 2)) $((SHM_SIZE - 1048576)); do
	out=$(ptio mem "$(sysdev $SHM)/resource2" $off 1048576 check $((SHM_SEED + i)) 2>&1) || SHM_ERR="$SHM_ERR $out;"
	i=$((i + 1))
done
vm_result pt-bigbar-guest-to-host shm-write "$SHM_ERR" "the test host read all three back through its own mapping of BAR2 (the backing file)"
[ $VM_RC = 0 ] || [ -n "$BOOT_ERR" ] || th_fail pt-three-exit "ptvm ended with $(th_status_reason $VM_RC) after the guest's power-off" "$VM_LOG"

# ---- after: the NVMe back on the host's nvme driver; the host reads what the guests wrote

log=$TH_LOGS/pt-unbind.log
th_run "$log" 30 ptvm vfio unbind $NVME
i=0
while [ ! -b /dev/nvme0n1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
d=$(dd if=/dev/nvme0n1 bs=1M skip=$MIB count=$MIB iflag=direct 2> /dev/null | sha256sum | cut -d' ' -f1)
b=$(dd if=/dev/nvme0n1 bs=1M skip=$((2 * MIB)) count=$MIB iflag=direct 2> /dev/null | sha256sum | cut -d' ' -f1)
if [ "$(th_driver_of $NVME)" != nvme ] || [ ! -b /dev/nvme0n1 ]; then
	th_fail pt-nvme-host-reads-guest-data "after ptvm vfio unbind $NVME the driver is '$(th_driver_of $NVME)', /dev/nvme0n1 $([ -b /dev/nvme0n1 ] && echo present || echo missing)" "$log"
elif [ -z "$SHA_DIRECT" ] || [ -z "$SHA_BUFFERED" ]; then
	th_fail pt-nvme-host-reads-guest-data "boot A did not report what it wrote"
elif [ "$d" != "$SHA_DIRECT" ] || [ "$b" != "$SHA_BUFFERED" ]; then
	th_fail pt-nvme-host-reads-guest-data "the host's nvme driver reads sha256 $d / $b where the guest wrote $SHA_DIRECT (O_DIRECT) / $SHA_BUFFERED (buffered)"
else
	th_pass pt-nvme-host-reads-guest-data "ptvm vfio unbind gave $NVME back to nvme; the host reads both regions boot A wrote (O_DIRECT and buffered, sha256 ok)"
fi

# ---- boot C: the guest unbinds and binds its nvme driver REBINDS times

SETUP_ERR=
bind_all $NVME
# this boot's limit covers its rounds: the whole-run limit TMO is for a boot and a few checks,
# and 100 rounds took 50-66 s idle, 138-273 s beside CPU hogs (load 8-10), and were killed at
# TMO (then 240 s) or timed out waiting 60 + 2 s a round while still rebinding. The wait for
# rebind-end now goes on while the guest reports rounds (a stuck one fails 60 s after its
# last); the boot's limit, 60 + 8 s a round more, is left for a guest that crawls
TMO_BOOT=$TMO
TMO=$((TMO + 60 + REBINDS * 8))
pt_boot $TH_LOGS/pt-rebind.log "pt.rebind=$REBINDS" --cpus 2 --log-level debug --device vfio=$NVME
TMO=$TMO_BOOT
FD0=
FD1=
if vm_wait '^SYNC rebind-start' 120; then
	FD0=$(fds)
	vm_send "ACK rebind-start"
	if vm_wait_moving '^SYNC rebind-end' '^REBIND [0-9]+ ' 60; then
		FD1=$(fds)
		vm_send "ACK rebind-end"
	fi
fi
pt_end
from='^SYNC rebind-start'
to='^SYNC rebind-end'
# the KVM side's debug lines (not rate-limited: --log-level debug asks for every one), and
# VFIO's MSI-X SET_IRQS with eventfds (one per enable; the device's "MSI-X enabled" info lines
# are rate-limited)
r_new=$(vm_count 'kvm: MSI route gsi [0-9]+ -> addr' "$from" "$to")
r_del=$(vm_count 'kvm: MSI route gsi [0-9]+ removed' "$from" "$to")
i_add=$(vm_count 'kvm: irqfd [0-9]+ -> gsi' "$from" "$to")
i_del=$(vm_count 'kvm: irqfd [0-9]+ off gsi' "$from" "$to")
en=$(vm_count "$NVME: VFIO_DEVICE_SET_IRQS index 2 action 0x20 vectors .0, .[1-9]" "$from" "$to")
gsi_max=$(sed 's/^[0-9.]* //' "$VM_LOG.raw" | sed -n 's/.*kvm: MSI route gsi \([0-9]*\) -> .*/\1/p' | sort -n | tail -n 1)
LEAK=
if [ -z "$FD0" ] || [ -z "$FD1" ]; then
	LEAK="no fd counts (the guest never reached SYNC rebind-start/rebind-end)"
elif [ "$FD0" != "$FD1" ]; then
	LEAK="ptvm had $FD0 open fds before the rounds and $FD1 after"
elif [ "$en" -lt "$REBINDS" ]; then
	LEAK="VFIO got MSI-X eventfds $en times for $REBINDS rounds: the guest did not enable MSI-X each round"
elif [ "$r_new" -lt "$REBINDS" ] || [ "$r_new" != "$r_del" ]; then
	# at least one route per round: routes exist only while MSI-X is enabled
	LEAK="KVM MSI routes: $r_new created, $r_del removed over $REBINDS rounds"
elif [ "$i_add" != "$i_del" ]; then
	LEAK="irqfds: $i_add assigned, $i_del deassigned over $REBINDS rounds"
fi
vm_result pt-nvme-rebind nvme-rebind "$LEAK" "ptvm: MSI-X enabled $en times, $r_new KVM MSI routes created and $r_del removed, $i_add irqfds assigned and $i_del deassigned, open fds $FD0 before and $FD1 after; highest GSI $gsi_max"
rm -rf $W
