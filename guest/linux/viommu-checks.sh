# Checks for a Linux guest behind ptvm's virtio-iommu, sourced by guest/linux/init when the
# image carries this file as /checks/viommu.sh (the trixie image that
# tests/testhost/suites/viommu.sh boots; Debian 12's kernels have no virtio_iommu). Each prints
# one CHECK line through init's check(); they run before the virtio checks, because the
# endpoints only probe once the vIOMMU is up. Kernel command line (with ptvm.test=1):
#   ptvm.iommu=N      virtio_iommu bound, ACPI VIOT present, and N devices in
#                     /sys/kernel/iommu_groups within 30 s (the groups are listed, with the
#                     IOMMU mode: strict, lazy or passthrough)
#   ptvm.nvme=MIB     the first NVMe namespace: MIB MiB of random data written O_DIRECT in
#                     1 MiB blocks, read back O_DIRECT, sha256 compared; then 4 KiB O_DIRECT
#                     random reads for 5 s: MiB/s and IOPS in the CHECK line
#   ptvm.blkbench=S   the first NVMe namespace through /bin/blkbench (guest/linux/blkbench.c): 4 KiB
#                     O_DIRECT random reads at queue depth 1 for S s, then 1 MiB sequential
#                     reads for S s (the vIOMMU benchmark; works without a vIOMMU too)
#   ptvm.vnet=MAC,ADDR/LEN,PEER  the NIC with MAC gets ADDR, then 20 pings of 1000 bytes to
#                     PEER (the test host's tap) must all come back with their data
V_IOMMU=
V_NVME=
V_VNET=
V_BLKBENCH=
for arg in $(cat /proc/cmdline); do
	case $arg in
	ptvm.iommu=*) V_IOMMU=${arg#ptvm.iommu=} ;;
	ptvm.nvme=*) V_NVME=${arg#ptvm.nvme=} ;;
	ptvm.vnet=*) V_VNET=${arg#ptvm.vnet=} ;;
	ptvm.blkbench=*) V_BLKBENCH=${arg#ptvm.blkbench=} ;;
	esac
done

# iommu_devices: "group:device ..." for every device in an IOMMU group
iommu_devices() {
	for _g in /sys/kernel/iommu_groups/*; do
		[ -d "$_g/devices" ] || continue
		for _d in "$_g"/devices/*; do
			[ -e "$_d" ] && printf '%s:%s ' "${_g##*/}" "${_d##*/}"
		done
	done
}

v_iommu() {
	want=$V_IOMMU
	i=0
	n=0
	while [ $i -lt 300 ]; do
		n=$(iommu_devices | wc -w)
		[ -e /sys/bus/virtio/drivers/virtio_iommu ] && [ "$n" -ge "$want" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	bound=$(ls /sys/bus/virtio/drivers/virtio_iommu 2>/dev/null | grep -c virtio)
	mode=$(dmesg | sed -n 's/.*iommu: Default domain type: \(.*\)/\1/p' | head -n 1)
	tlb=$(dmesg | sed -n 's/.*iommu: DMA domain TLB invalidation policy: \(.*\)/\1/p' | head -n 1)
	if [ ! -e /sys/firmware/acpi/tables/VIOT ]; then
		check FAIL iommu "no ACPI VIOT in /sys/firmware/acpi/tables ($(ls /sys/firmware/acpi/tables | tr '\n' ' '))"
	elif [ "$bound" = 0 ]; then
		check FAIL iommu "virtio_iommu bound to no device; dmesg: $(dmesg | grep -i -E 'viot|virtio_iommu|iommu' | tail -n 4 | tr '\n' '|')"
	elif [ "$n" -lt "$want" ]; then
		check FAIL iommu "$n device(s) in IOMMU groups after 30 s, want $want: $(iommu_devices); dmesg: $(dmesg | grep -i -E 'viot|iommu|defer' | tail -n 4 | tr '\n' '|')"
	else
		check ok iommu "virtio_iommu up, $mode, $tlb; groups: $(iommu_devices)"
	fi
}

v_nvme() {
	mib=$V_NVME
	dev=
	i=0
	while [ $i -lt 300 ]; do
		for d in /dev/nvme*n1; do
			[ -b "$d" ] && dev=$d
		done
		[ -n "$dev" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$dev" ]; then
		check FAIL nvme "no NVMe namespace after 30 s; dmesg: $(dmesg | grep -i -E 'nvme|iommu|DMAR|fault' | tail -n 5 | tr '\n' '|')"
		return
	fi
	bytes=$((mib * 1048576))
	head -c "$bytes" /dev/urandom > /tmp/nvme.in
	want=$(sha256sum /tmp/nvme.in | cut -d' ' -f1)
	t0=$(now)
	werr=$(dd if=/tmp/nvme.in of="$dev" bs=1M count="$mib" oflag=direct 2>&1) || { check FAIL nvme "write: $werr"; return; }
	t1=$(now)
	rerr=$(dd if="$dev" of=/tmp/nvme.out bs=1M count="$mib" iflag=direct 2>&1) || { check FAIL nvme "read: $rerr"; return; }
	t2=$(now)
	got=$(sha256sum /tmp/nvme.out | cut -d' ' -f1)
	rm -f /tmp/nvme.in /tmp/nvme.out
	if [ "$got" != "$want" ]; then
		check FAIL nvme "$dev: read back sha256 $got, wrote $want ($mib MiB)"
		return
	fi
	# 4 KiB O_DIRECT reads at pseudo-random offsets for about 5 s (one dd per batch of 64)
	n=0
	t3=$(now)
	end=$(awk -v a="$t3" 'BEGIN { printf "%d", a + 5 }')
	blocks=$((mib * 256))
	seed=1
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
		seed=$(((seed * 1103515245 + 12345) % 2147483648))
		dd if="$dev" of=/dev/null bs=4096 count=64 skip=$((seed % (blocks - 64))) iflag=direct 2> /dev/null || break
		n=$((n + 64))
	done
	t4=$(now)
	iops=$(awk -v n=$n -v a="$t3" -v b="$t4" 'BEGIN { d = b - a; if (d < 0.01) d = 0.01; printf "%d", n / d }')
	check ok nvme "$dev $mib MiB O_DIRECT bs=1M: write $(mibps $bytes "$t0" "$t1") MiB/s, read $(mibps $bytes "$t1" "$t2") MiB/s, sha256 matches; 4 KiB O_DIRECT reads: $iops IOPS"
}

v_vnet() {
	set -- $(echo "$V_VNET" | tr ',' ' ')
	ifc=
	i=0
	while [ -z "$ifc" ] && [ $i -lt 300 ]; do
		for n in /sys/class/net/*; do
			[ "$(cat "$n/address" 2>/dev/null)" = "$1" ] && ifc=${n##*/}
		done
		[ -n "$ifc" ] || sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$ifc" ]; then
		check FAIL vnet "no NIC with MAC $1 after 30 s ($(cat /sys/class/net/*/address | tr '\n' ' '))"
		return
	fi
	ip addr add "$2" dev "$ifc" && ip link set "$ifc" up
	out=$(ping -c 20 -s 1000 -i 0.05 -W 5 "$3" 2>&1)
	recv=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	if [ "$recv" = 20 ]; then
		check ok vnet "$ifc -> $3: 20/20 pings of 1000 bytes, $(echo "$out" | sed -n 's|.*min/avg/max = \([0-9./]*\) ms.*|rtt \1 ms|p')"
	else
		check FAIL vnet "$ifc -> $3: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
	fi
}

v_blkbench() {
	dev=
	i=0
	while [ -z "$dev" ] && [ $i -lt 300 ]; do
		for d in /dev/nvme*n1; do
			[ -b "$d" ] && dev=$d
		done
		[ -n "$dev" ] || sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$dev" ]; then
		check FAIL blkbench "no NVMe namespace after 30 s"
	elif out=$(/bin/blkbench "$dev" "$V_BLKBENCH" 2>&1); then
		check ok blkbench "$out"
	else
		check FAIL blkbench "$out"
	fi
}

viommu_checks() {
	[ -n "$V_IOMMU" ] && v_iommu
	[ -n "$V_NVME" ] && v_nvme
	[ -n "$V_VNET" ] && v_vnet
	[ -n "$V_BLKBENCH" ] && v_blkbench
	return 0
}
