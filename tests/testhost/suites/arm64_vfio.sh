# Suite "arm64_vfio": passthrough behind the arm64 test host's SMMUv3 and GICv3 ITS.
#   - an NVMe controller (QEMU nvme on the virt machine) bound to vfio-pci with `ptvm vfio bind`
#     (its IOMMU group comes from the SMMUv3 at that probe), driven by the guest's stock nvme
#     driver: data written and read back with O_DIRECT (real DMA both ways, through the SMMUv3),
#     its MSI-X vectors firing through the ITS (KVM routes with the device's ID);
#   - an edu device passed the same way, seen with its 1 MiB BAR0; the guest then points the
#     edu's DMA engine at an IOVA that is not guest RAM: the SMMUv3 must fault (its event in the
#     test host's log) and ptvm must carry on to a clean power-off.
. /testhost/lib.sh

TMO=${TH_LINUX_TIMEOUT:-60}
G=/guest/linux
FAULT_IOVA=0x20000000 # inside ptvm's 32-bit PCI window: never DMA-mapped

EDU=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] && EDU="$EDU ${d##*/}"
done
set -- $EDU
E1=${1:-}
if [ -z "$E1" ]; then
	echo "FAIL arm64-vfio: the test host has no edu device (1234:11e8)"
	exit 0
fi

log=$TH_LOGS/arm64-vfio-bind.log
th_run "$log" 30 ptvm vfio bind "$E1"
rc=$?
group=$(basename "$(readlink /sys/bus/pci/devices/$E1/iommu_group)" 2> /dev/null)
driver=$(basename "$(readlink /sys/bus/pci/devices/$E1/driver)" 2> /dev/null)
if [ $rc = 0 ] && [ "$driver" = vfio-pci ] && [ -n "$group" ] && [ -c /dev/vfio/$group ]; then
	th_pass arm64-vfio-bind "$E1 on vfio-pci, IOMMU group $group from the SMMUv3 ($(ls /sys/kernel/iommu_groups/$group/devices | tr '\n' ' '))" "$log"
else
	th_fail arm64-vfio-bind "ptvm vfio bind $E1: $(th_status_reason $rc), driver '$driver', group '$group'" "$log"
	exit 0
fi

# ---- NVMe with its own driver ----
NVME=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/class")" = 0x010802 ] && NVME=${d##*/} && break
done
if [ -z "$NVME" ]; then
	th_fail arm64-vfio-nvme "the test host has no NVMe controller (class 010802)"
else
	log=$TH_LOGS/arm64-vfio-nvme.log
	ptvm vfio bind "$NVME" > $TH_LOGS/arm64-vfio-nvme-bind.log 2>&1
	th_run "$log" "$TMO" ptvm run --kernel $G/Image --initrd $G/initramfs.cpio.gz --memory 512M \
		--cpus 2 --device vfio="$NVME" --log-level info --cmdline "console=ttyS0 panic=-1 quiet \
ptvm.test=1 ptvm.cpus=2 ptvm.nvme=16"
	rc=$?
	bad=$(sed -n 's/^[0-9.]* \(CHECK [^ ]* FAIL.*\)$/\1/p' "$log" | tr '\n' ';')
	routes=$(grep -c 'MSI-X vector [0-9]* -> gsi' "$log")
	if [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail arm64-vfio-nvme "timeout after $TMO s" "$log"
	elif [ -n "$bad" ]; then
		th_fail arm64-vfio-nvme "$bad" "$log"
	elif ! th_has "$log" '^CHECK nvme ok' || ! th_has "$log" '^CHECK nvme-msix ok'; then
		th_fail arm64-vfio-nvme "no nvme checks from the guest ($(th_status_reason $rc): $(th_last_err "$log"); bind: $(tail -n 1 $TH_LOGS/arm64-vfio-nvme-bind.log))" "$log"
	elif [ $rc != 0 ]; then
		th_fail arm64-vfio-nvme "ptvm exited with $(th_status_reason $rc) after the guest's checks, want 0" "$log"
	else
		th_pass arm64-vfio-nvme "$NVME group $(basename "$(readlink /sys/bus/pci/devices/$NVME/iommu_group)"): $(sed -n 's/^[0-9.]* CHECK nvme ok //p' "$log"); $(sed -n 's/^[0-9.]* CHECK nvme-msix ok //p' "$log") ($routes MSI-X routes in ptvm's log)" "$log"
	fi
	ptvm vfio unbind "$NVME" > /dev/null 2>&1
fi

# ---- edu: seen, and a DMA from an unmapped IOVA ----
log=$TH_LOGS/arm64-vfio-edu.log
th_run "$log" "$TMO" ptvm run --kernel $G/Image --initrd $G/initramfs.cpio.gz --memory 512M \
	--device vfio="$E1" --log-level info --cmdline "console=ttyS0 panic=-1 quiet ptvm.test=1 \
ptvm.cpus=1 ptvm.pcidev=1234:11e8:0x100000 ptvm.edufault=$FAULT_IOVA"
rc=$?
bad=$(sed -n 's/^[0-9.]* \(CHECK [^ ]* FAIL.*\)$/\1/p' "$log" | tr '\n' ';')
if [ "$TH_TIMEDOUT" = 1 ]; then
	th_fail arm64-vfio-edu "timeout after $TMO s" "$log"
elif [ -n "$bad" ]; then
	th_fail arm64-vfio-edu "$bad" "$log"
elif ! th_has "$log" '^CHECK pcidev ok' || ! th_has "$log" '^CHECKS DONE'; then
	th_fail arm64-vfio-edu "the guest did not see the edu ($(th_status_reason $rc): $(th_last_err "$log"))" "$log"
elif [ $rc != 0 ]; then
	th_fail arm64-vfio-edu "ptvm exited with $(th_status_reason $rc) after the guest's checks, want 0" "$log"
else
	th_pass arm64-vfio-edu "$(sed -n 's/^[0-9.]* CHECK pcidev ok //p' "$log"); power-off status 0" "$log"
fi

# The DMA from FAULT_IOVA: the SMMUv3 logs a translation fault (event 0x10) for the edu's stream
# while ptvm went on to power off (the verdict above).
faults=$(dmesg | grep -i 'arm-smmu-v3.*event 0x10' | head -n 1)
if ! th_has "$log" '^CHECK edu-fault ok'; then
	th_fail arm64-vfio-smmu-fault "the guest's DMA from $FAULT_IOVA did not run: $(sed -n 's/^[0-9.]* \(CHECK edu-fault.*\)/\1/p' "$log")" "$log"
elif [ -z "$faults" ]; then
	th_fail arm64-vfio-smmu-fault "no SMMUv3 translation fault (event 0x10) in the test host's log after the DMA from $FAULT_IOVA" "$log"
elif [ $rc != 0 ]; then
	th_fail arm64-vfio-smmu-fault "the SMMU faulted, but ptvm ended with $(th_status_reason $rc)" "$log"
else
	th_pass arm64-vfio-smmu-fault "$(dmesg | grep -c -i 'arm-smmu-v3.*event') SMMU event lines, the first: ${faults#*] }; ptvm survived (status 0)" "$log"
fi
ptvm vfio unbind "$E1" > /dev/null 2>&1
