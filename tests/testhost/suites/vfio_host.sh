# Suite "vfio_host": ptvm's VFIO host side (iommu/) against the real kernel VFIO and the emulated
# intel-iommu of the test host, with its two edu devices: `vfio list/bind/unbind` (through
# /bin/vfio_hostcheck, and through ptvm once `ptvm vfio` exists), containers and groups, the
# DMA listener (map, hot-add, unmap with a DMA that must fault, reserved-range refusal, RLIMIT_MEMLOCK
# message) and the time to DMA-map 256 MiB of guest RAM with 4 KiB pages, THP and hugetlb.
. /testhost/lib.sh

HC=/bin/vfio_hostcheck
TMO=${TH_VFIO_TIMEOUT:-120}
# The IOMMU's MSI window (a reserved IOVA range of type msi) and how its faults are logged: the
# intel-iommu's interrupt range on x86; on arm64 the window the SMMUv3 driver reserves for
# mapping the host's ITS doorbell (MSI_IOVA_BASE, 1 MiB)
# The IOMMU units' names in /sys/class/iommu and the kernel option that turns them on (none on
# arm64: the device tree names the SMMUv3). On arm64 a device gets its IOMMU group from its first
# driver's probe (of_dma_configure), so the edu devices are listed once bound.
# RAM_GPA: where vfio_hostcheck puts its guest RAM, as ptvm's machine does (arch_ram_layout).
if [ "$(uname -m)" = aarch64 ]; then
	MSI_WIN=0x8000000 MSI_END=0x80fffff FAULT_RE='arm-smmu-v3.*event' FAULT_WHAT=SMMU
	UNIT_RE=smmu IOMMU_OPT= LIST_AFTER_BIND=1 RAM_GPA=0x40000000
else
	MSI_WIN=0xfee00000 MSI_END=0xfeefffff FAULT_RE='DMAR.*fault' FAULT_WHAT=DMAR
	UNIT_RE=dmar IOMMU_OPT=intel_iommu=on LIST_AFTER_BIND=0 RAM_GPA=0x0
fi

if [ ! -x $HC ]; then
	echo "FAIL vfio-host: $HC is not in the test host image (tests/testhost/testhost.mk builds it)"
	exit 0
fi

EDU=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] && EDU="$EDU ${d##*/}"
done
set -- $EDU
E1=${1:-}
E2=${2:-}
if [ -z "$E2" ]; then
	echo "FAIL vfio-host: the test host should have two edu devices, found:${EDU:- none}"
	exit 0
fi

out() { sed -n 's/^[0-9.]* //p' "$1"; } # a th_run log without its timestamps
result() { # result LOG KEY: the value of KEY= on the RESULT lines, one per line
	out "$1" | sed -n "s/^RESULT.* $2=\([^ ]*\).*/\1/p"
}
checks_ok() { # checks_ok LOG: every CHECK ok (and at least one)
	out "$1" | grep -q '^CHECK ' && ! out "$1" | grep -q '^CHECK [^ ]* FAIL'
}
first_failed_check() { out "$1" | grep -m1 '^CHECK [^ ]* FAIL' | cut -d' ' -f2-; }

# ---- list ----
list_test() {
	log=$TH_LOGS/vfio-host-list.log
	th_run "$log" "$TMO" $HC list
	if [ $? != 0 ]; then
		th_fail vfio-host-list "vfio_hostcheck list failed: $(th_last_err "$log")" "$log"
	elif ! th_has "$log" "^  $E1 1234:11e8 " || ! th_has "$log" "^  $E2 1234:11e8 "; then
		th_fail vfio-host-list "the edu devices $E1 $E2 are not listed as 1234:11e8" "$log"
	elif ! th_has "$log" "^host IOMMU units .*$UNIT_RE" || ! th_has "$log" "vfio/vfio: present" ||
		! th_has "$log" "IOMMU options: .*$IOMMU_OPT"; then
		th_fail vfio-host-list "the host IOMMU state ($UNIT_RE unit, /dev/vfio/vfio${IOMMU_OPT:+, $IOMMU_OPT}) is missing" "$log"
	else
		th_pass vfio-host-list "$(out "$log" | grep -c '^group ') groups; edu in groups $(th_group_of "$E1") and $(th_group_of "$E2")" "$log"
	fi
	[ "${TH_VERBOSE:-0}" = 1 ] || th_show "$log" 40
}
[ $LIST_AFTER_BIND = 1 ] || list_test

# ---- bind / unbind ----
ok=1
why=
for e in $E1 $E2; do
	log=$TH_LOGS/vfio-host-bind-$e.log
	th_run "$log" "$TMO" $HC bind "$e"
	rc=$?
	if [ $rc != 0 ] || [ "$(th_driver_of "$e")" != vfio-pci ] || [ ! -e "/dev/vfio/$(th_group_of "$e")" ]; then
		ok=0
		why="$e: status $rc, driver $(th_driver_of "$e"): $(th_last_err "$log")"
		break
	fi
done
if [ $ok = 1 ]; then
	th_pass vfio-host-bind "$E1 and $E2 on vfio-pci, /dev/vfio/$(th_group_of "$E1") and /dev/vfio/$(th_group_of "$E2") present" "$log"
else
	th_fail vfio-host-bind "$why" "$log"
fi

log=$TH_LOGS/vfio-host-unbind.log
th_run "$log" "$TMO" $HC unbind "$E2"
rc=$?
drv=$(th_driver_of "$E2")
ovr=$(cat "/sys/bus/pci/devices/$E2/driver_override")
if [ $rc = 0 ] && [ "$drv" != vfio-pci ] && [ "$ovr" = "(null)" ]; then
	th_pass vfio-host-unbind "$E2 left vfio-pci (now: $drv), driver_override cleared" "$log"
else
	th_fail vfio-host-unbind "status $rc, driver $drv, driver_override '$ovr'" "$log"
fi
# bad input against the real tree: a BDF that does not exist, a device not on vfio-pci
log=$TH_LOGS/vfio-host-bad-input.log
th_run "$log" "$TMO" $HC attach 0000:00:1e.7 "$E2"
if th_has "$log" "no PCI device 0000:00:1e.7 " &&
	th_has "$log" "$E2 has no driver, not vfio-pci: run .ptvm vfio bind $E2. first" &&
	[ "$(out "$log" | grep -c '^ptvm: error')" = 2 ]; then
	th_pass vfio-host-bad-input "one error line each for a missing BDF and a device off vfio-pci" "$log"
else
	th_fail vfio-host-bad-input "the missing BDF or the unbound device was not refused by name" "$log"
fi
$HC bind "$E2" > /dev/null 2>&1
[ $LIST_AFTER_BIND = 0 ] || list_test

# a group that holds a device bound to a host driver and another one: binding must be refused
victim=
for g in /sys/kernel/iommu_groups/*; do
	host=
	other=
	for d in "$g"/devices/*; do
		b=${d##*/}
		case $(th_driver_of "$b") in
		none | vfio-pci) other=$b ;;
		*) if [ -z "$host" ]; then host=$b; else other=$b; fi ;;
		esac
	done
	if [ -n "$host" ] && [ -n "$other" ]; then
		victim=$other
		break
	fi
done
# None by nature here (the q35 functions at 00:1f share a group but have no drivers): put one of
# them on pci-pf-stub, a host driver that claims what driver_override hands it.
stub=
if [ -z "$victim" ] && [ -f /lib/modules/pci-pf-stub.ko ]; then
	insmod /lib/modules/pci-pf-stub.ko 2> /dev/null
	for g in /sys/kernel/iommu_groups/*; do
		set -- "$g"/devices/*
		[ $# -ge 2 ] || continue
		[ "$(th_driver_of "${1##*/}")" = none ] || continue
		stub=${1##*/}
		victim=${2##*/}
		echo pci-pf-stub > "/sys/bus/pci/devices/$stub/driver_override"
		echo "$stub" > /sys/bus/pci/drivers_probe
		break
	done
	if [ -n "$stub" ] && [ "$(th_driver_of "$stub")" != pci-pf-stub ]; then
		echo "TESTHOST pci-pf-stub did not take $stub (driver: $(th_driver_of "$stub"))"
		victim=
	fi
fi
if [ -n "$victim" ]; then
	log=$TH_LOGS/vfio-host-bind-refused.log
	before=$(th_driver_of "$victim")
	th_run "$log" "$TMO" $HC bind "$victim"
	rc=$?
	if [ $rc != 0 ] && th_has "$log" "refusing $victim: IOMMU group" && [ "$(th_driver_of "$victim")" = "$before" ]; then
		th_pass vfio-host-bind-refused "$(out "$log" | grep -m1 refusing | cut -c1-160)" "$log"
	else
		th_fail vfio-host-bind-refused "bind $victim (group shared with a host-bound device): status $rc, driver now $(th_driver_of "$victim")" "$log"
	fi
else
	echo "TESTHOST skip vfio-host-bind-refused: no IOMMU group here holds a host-bound device next to another one, and pci-pf-stub.ko is not in the image to make one"
fi
if [ -n "$stub" ]; then
	echo > "/sys/bus/pci/devices/$stub/driver_override"
	echo "$stub" > /sys/bus/pci/drivers/pci-pf-stub/unbind
fi

# ---- containers and groups: both edu devices in one VM ----
log=$TH_LOGS/vfio-host-two.log
th_run "$log" "$TMO" $HC attach "$E1" "$E2"
rc=$?
conts=$(result "$log" container | sort -u | wc -l)
json=$(out "$log" | sed -n 's/^JSON //p')
want_map='"mappings":[{"name":"ram-low","iova":"'$RAM_GPA'","size":"0x4000000",'
if [ $rc = 0 ] && checks_ok "$log" && [ "$(result "$log" container | wc -l)" = 2 ] &&
	! echo "$json" | grep -q -F "$want_map"; then
	th_fail vfio-host-two-devices "the JSON report lacks $want_map: $json" "$log"
elif [ $rc = 0 ] && checks_ok "$log" && [ "$(result "$log" container | wc -l)" = 2 ]; then
	if [ "$conts" = 1 ]; then
		how="groups $(th_group_of "$E1") and $(th_group_of "$E2") share container0 (the kernel accepted VFIO_GROUP_SET_CONTAINER)"
	else
		how="groups $(th_group_of "$E1") and $(th_group_of "$E2") in $conts containers (the kernel refused sharing)"
	fi
	th_pass vfio-host-two-devices "$how" "$log"
else
	th_fail vfio-host-two-devices "status $rc: $(first_failed_check "$log") $(th_last_err "$log")" "$log"
fi

# ---- the DMA listener with a real device: map, hot-add, unmap (the DMA must fault) ----
log=$TH_LOGS/vfio-host-edu.log
th_run "$log" "$TMO" $HC attach --edu "$E1"
rc=$?
if [ $rc = 0 ] && checks_ok "$log" && th_has "$log" "^CHECK edu-dma-unmapped ok"; then
	th_pass vfio-host-dma-listener "edu DMA through RAM mapped at gpa, hot-added RAM mapped, removed RAM unmapped (DMA there faulted: $(dmesg | grep -c -i "$FAULT_RE") $FAULT_WHAT fault lines)" "$log"
else
	th_fail vfio-host-dma-listener "status $rc: $(first_failed_check "$log") $(th_last_err "$log")" "$log"
fi

# ---- refusals: reserved IOVA range, the same device twice, RLIMIT_MEMLOCK ----
log=$TH_LOGS/vfio-host-reserved.log
th_run "$log" "$TMO" $HC attach --fake-ram $MSI_WIN:1024 "$E1"
msg=$(out "$log" | grep -m1 'collides with reserved IOVA range')
if [ -n "$msg" ] && echo "$msg" | grep -q "fake-ram \[$MSI_WIN-$MSI_END\] collides with reserved IOVA range \[$MSI_WIN-$MSI_END\] (msi, IOMMU group"; then
	th_pass vfio-host-reserved "${msg#ptvm: }" "$log"
else
	th_fail vfio-host-reserved "RAM at $MSI_WIN was not refused with the ranges named" "$log"
fi

log=$TH_LOGS/vfio-host-twice.log
th_run "$log" "$TMO" $HC attach --twice "$E1"
if checks_ok "$log" && th_has "$log" "is given twice"; then
	th_pass vfio-host-twice "$(out "$log" | grep -m1 'given twice' | sed 's/^ptvm: //')" "$log"
else
	th_fail vfio-host-twice "$(first_failed_check "$log")" "$log"
fi

log=$TH_LOGS/vfio-host-memlock.log
th_run "$log" "$TMO" $HC attach --memlock 1024 --ram 64 "$E1"
msg=$(out "$log" | grep -m1 'RLIMIT_MEMLOCK of at least')
if [ -n "$msg" ]; then
	th_pass vfio-host-memlock "$(echo "$msg" | sed 's/.*pinning/pinning/' | cut -c1-150)" "$log"
else
	th_fail vfio-host-memlock "no RLIMIT_MEMLOCK advice after pinning 64 MiB under a 1 MiB limit without CAP_IPC_LOCK" "$log"
fi

# ---- time to DMA-map 256 MiB of guest RAM ----
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
old_thp=$(sed 's/.*\[\(.*\)\].*/\1/' $thp 2>/dev/null)
[ -w $thp ] && echo advise > $thp
echo 160 > /proc/sys/vm/nr_hugepages
times=
ok=1
for mode in 4k thp hugetlb; do
	for pf in "" --prefault; do
		log=$TH_LOGS/vfio-host-time-$mode$pf.log
		th_run "$log" "$TMO" $HC attach --ram 256 --mode $mode $pf "$E1"
		rc=$?
		ms=$(result "$log" container_map_ms)
		if [ $rc != 0 ] || [ -z "$ms" ]; then
			ok=0
			times="$times $mode${pf:+ prefaulted}: failed ($(th_last_err "$log"));"
		else
			times="$times $mode${pf:+ prefaulted} ${ms} ms;"
		fi
		[ "${TH_VERBOSE:-0}" = 1 ] && th_show "$log"
	done
done
[ -n "$old_thp" ] && [ -w $thp ] && echo "$old_thp" > $thp
echo 0 > /proc/sys/vm/nr_hugepages
if [ $ok = 1 ]; then
	th_pass vfio-host-map-time "VFIO_IOMMU_MAP_DMA of 256 MiB:$times"
else
	th_fail vfio-host-map-time "$times"
fi

# ---- ptvm vfio list/bind/unbind, once the CLI has them ----
log=$TH_LOGS/vfio-host-ptvm-list.log
th_run "$log" "$TMO" ptvm vfio list
if [ $? != 0 ] && ! th_has "$log" "^group "; then
	echo "TESTHOST skip vfio-host-ptvm-cli: ptvm has no working 'vfio list' yet ($(out "$log" | head -n 1))"
else
	ok=1
	why=
	th_has "$log" "^  $E1 1234:11e8 vfio-pci" || { ok=0; why="list does not show $E1 on vfio-pci"; }
	log2=$TH_LOGS/vfio-host-ptvm-unbind.log
	if [ $ok = 1 ]; then
		th_run "$log2" "$TMO" ptvm vfio unbind "$E2"
		[ $? = 0 ] && [ "$(th_driver_of "$E2")" != vfio-pci ] || { ok=0; why="ptvm vfio unbind $E2: driver $(th_driver_of "$E2")"; }
	fi
	if [ $ok = 1 ]; then
		th_run "$log2" "$TMO" ptvm vfio bind "$E2"
		[ $? = 0 ] && [ "$(th_driver_of "$E2")" = vfio-pci ] || { ok=0; why="ptvm vfio bind $E2: driver $(th_driver_of "$E2")"; }
	fi
	if [ $ok = 1 ]; then
		th_run "$log2" "$TMO" ptvm vfio bind 0000:7f:00.0
		[ $? != 0 ] && th_has "$log2" "no PCI device 0000:7f:00.0" || { ok=0; why="ptvm vfio bind of a missing device was not refused by name"; }
	fi
	if [ $ok = 1 ]; then
		th_pass vfio-host-ptvm-cli "ptvm vfio list shows the edu devices; unbind/bind $E2 moved it; a missing BDF refused" "$log"
	else
		th_fail vfio-host-ptvm-cli "$why" "$log2"
	fi
fi
