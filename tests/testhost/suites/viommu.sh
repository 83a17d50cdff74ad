# Suite "viommu": ptvm's virtio-iommu (--iommu virtio, ACPI VIOT) with real VFIO and with a
# stock Linux guest: Debian 13's cloud kernel (virtio_iommu, ACPI_VIOT), carried into the test
# host as /guest/linux-trixie when this suite runs, its image with guest/linux/viommu-checks.sh.
#
#   viommu-edu-two-domains  guest/viommu_edu.elf with both edu devices behind the vIOMMU, each
#                           in a domain of its own: DMA reaches only the domain's page, DMA
#                           outside it leaves DMAR faults in the test host's log, ptvm
#                           survives; --report shows two vIOMMU containers, each following its
#                           own domain with exactly its one mapping
#   viommu-linux-virtio     Linux with virtio-blk (ext4 checksum, a file written back), virtio-
#                           net (pings with data to the test host's tap) and virtio-rng behind
#                           the vIOMMU, iommu.strict=1: the devices in the guest's own
#                           /sys/kernel/iommu_groups, data correct
#   viommu-linux-nvme-strict  the test host's NVMe passed through behind the vIOMMU,
#                           iommu.strict=1: in the guest's IOMMU groups, O_DIRECT I/O with
#                           checksums; --report shows its container following the guest domain
#   viommu-nvme-bench-MODE  (TH_BENCH=1, make bench) the same NVMe through guest/linux/blkbench.c
#                           with no vIOMMU, and behind it strict (iommu.strict=1), lazy
#                           (iommu.strict=0) and iommu.passthrough=1: 4 KiB random-read IOPS and
#                           1 MiB sequential MiB/s, plus ptvm's vIOMMU request counts
#
# Knobs (test-host command line): TH_VIOMMU_TIMEOUT (s per boot, 180), TH_VIOMMU_NVME_MIB (32),
# TH_LINUX_CMDLINE ("quiet").
. /testhost/lib.sh

TMO=${TH_VIOMMU_TIMEOUT:-180}
NVME_MIB=${TH_VIOMMU_NVME_MIB:-32}
CMDLINE_EXTRA=${TH_LINUX_CMDLINE-quiet}
G=/guest/linux-trixie
W=/tmp/viommu
TAP=vitap0
HOST_IP=10.0.3.1
GUEST_IP=10.0.3.15
MAC=52:54:00:12:34:57
mkdir -p $W /mnt/vicheck

# vfio_bind VENDOR DEVICE|CLASS: binds every matching function to vfio-pci; prints the BDFs
vfio_bind() {
	for d in /sys/bus/pci/devices/*; do
		case $2 in
		0x????) [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ] || continue ;;
		*) [ "$(cat "$d/class")" = "$2" ] || continue ;;
		esac
		bdf=${d##*/}
		drv=$(basename "$(readlink "$d/driver" 2>/dev/null)")
		if [ "$drv" != vfio-pci ]; then
			[ -n "$drv" ] && echo "$bdf" > "$d/driver/unbind"
			echo vfio-pci > "$d/driver_override"
			echo "$bdf" > /sys/bus/pci/drivers_probe
		fi
		[ "$(basename "$(readlink "$d/driver" 2>/dev/null)")" = vfio-pci ] && printf '%s ' "$bdf"
	done
}

# report_container REPORT SPACE: the container object of ptvm's --report that follows SPACE
report_container() {
	sed 's/{"index":/\n{"index":/g' "$1" | grep "\"space\":\"$2\""
}

# report_mappings OBJECT: how many mappings a container object lists
report_mappings() {
	echo "$1" | sed 's/.*"mappings":\[\(.*\)\],"stats".*/\1/' | grep -o '"iova"' | wc -l
}

# verdict TEST LOG: the boot's failure, if any, into ERR
boot_err() {
	ERR=
	if [ "$TH_TIMEDOUT" = 1 ]; then
		ERR="timeout after $TMO s (last line: $(tail -n 2 "$1" | head -n 1))"
	elif ! th_has "$1" '^PTVM-GUEST-INIT'; then
		ERR="the guest init never printed PTVM-GUEST-INIT: $(th_last_err "$1")"
	fi
}

# check_result TEST LOG NAME [HOST-ERR] [HOST-DETAIL]: the guest's CHECK NAME line as a result
check_result() {
	_line=$(sed -n "s/^[0-9.]* \(CHECK $3 .*\)/\1/p" "$2" | head -n 1)
	if [ -n "$ERR" ]; then
		th_fail "$1" "$ERR" "$2"
	elif [ -z "$_line" ]; then
		th_fail "$1" "the guest printed no 'CHECK $3' line" "$2"
	elif [ "${_line#CHECK $3 FAIL}" != "$_line" ]; then
		th_fail "$1" "guest: ${_line#CHECK $3 FAIL }${4:+; host: $4}" "$2"
	elif [ -n "${4:-}" ]; then
		th_fail "$1" "guest ok (${_line#CHECK $3 ok }) but host: $4" "$2"
	else
		th_pass "$1" "${_line#CHECK $3 ok }${5:+; $5}" "$2"
	fi
}

# ---- edu: two domains, two containers, DMA outside a domain blocked

# shellcheck disable=SC2046 # a list by design
set -- $(vfio_bind 0x1234 0x11e8)
EDU0=${1:-}
EDU1=${2:-}
if [ -z "$EDU1" ]; then
	th_skip viommu-edu-two-domains "needs two edu devices bound to vfio-pci (have: ${EDU0:-none})"
else
	LOG=$TH_LOGS/viommu-edu.log
	REP=$W/edu-report.json
	t0=$(th_now)
	th_run "$LOG" 60 ptvm run --kernel /guest/elf/viommu_edu.elf --debug-exit --serial stdio \
		--memory 128M --iommu virtio --device "vfio=$EDU0" --device "vfio=$EDU1" \
		--report $REP --log-level info
	RC=$?
	TOOK=$(th_elapsed "$t0")
	fault=$(dmesg | grep -i -E 'DMAR.*(fault|DMA (Read|Write))|fault addr' | head -n 2 | tr '\n' '|')
	c1=$(report_container $REP viommu-domain1)
	c2=$(report_container $REP viommu-domain2)
	if [ "$TH_TIMEDOUT" = 1 ] || [ $RC != 0 ] || ! th_has "$LOG" '^PASS viommu_edu$'; then
		th_fail viommu-edu-two-domains "$(sed -n 's/^[0-9.]* FAIL viommu_edu: //p' "$LOG" | head -n 1) [ptvm $(th_status_reason $RC)]: $(th_last_err "$LOG")" "$LOG"
	elif [ -z "$fault" ]; then
		th_fail viommu-edu-two-domains "the guest passed but the test host logged no DMAR fault: was the DMA really blocked?" "$LOG"
	elif [ -z "$c1" ] || [ -z "$c2" ]; then
		th_fail viommu-edu-two-domains "--report lacks a container following viommu-domain1 or -2: $(cat $REP)" "$LOG"
	elif [ "$c1" = "$c2" ] || [ "$(report_mappings "$c1")" != 1 ] || [ "$(report_mappings "$c2")" != 1 ]; then
		th_fail viommu-edu-two-domains "want two containers with one mapping each: $(cat $REP)" "$LOG"
	else
		th_pass viommu-edu-two-domains "$TOOK s; two containers, one mapping each ($(echo "$c1" | sed -n 's/.*"mappings":\[{"name":"\([^"]*\)","iova":"\([^"]*\)".*/\2 -> \1/p'), $(echo "$c2" | sed -n 's/.*"mappings":\[{"name":"\([^"]*\)","iova":"\([^"]*\)".*/\2 -> \1/p')); blocked: $fault" "$LOG"
	fi
fi

# ---- Linux with virtio devices behind the vIOMMU

if [ ! -e $G/bzImage ] || [ ! -e $G/initramfs.cpio.gz ]; then
	th_skip viommu-linux-virtio "no Debian 13 guest in the image ($G: the image carries it when the viommu suite is named)"
	th_skip viommu-linux-nvme-strict "no Debian 13 guest in the image"
	exit 0
fi
gunzip -c /testhost/virtio/ext4.img.gz > $W/ext4.img
HELLO_SHA=$(cat /testhost/virtio/hello.sha256)
TOKEN=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
NET_ERR=
if ! err=$(tunctl -t $TAP 2>&1); then
	NET_ERR="tunctl -t $TAP: $err"
elif ! err=$({ ip addr add $HOST_IP/24 dev $TAP && ip link set $TAP up; } 2>&1); then
	NET_ERR="configuring $TAP: $err"
fi
LOG=$TH_LOGS/viommu-linux-virtio.log
CMD="console=ttyS0 panic=-1 $CMDLINE_EXTRA iommu.strict=1 ptvm.test=1 ptvm.cpus=1 ptvm.iommu=3"
CMD="$CMD ptvm.ext4=vext4,$HELLO_SHA,$TOKEN ptvm.rng=1 ptvm.vnet=$MAC,$GUEST_IP/24,$HOST_IP"
th_run "$LOG" "$TMO" ptvm run --kernel $G/bzImage --initrd $G/initramfs.cpio.gz --memory 256M \
	--cmdline "$CMD" --iommu virtio --disk path=$W/ext4.img,serial=vext4 \
	--net tap=$TAP,mac=$MAC --rng --report $W/virtio-report.json
RC=$?
boot_err "$LOG"
check_result viommu-linux-virtio-groups "$LOG" iommu
EXT4_ERR=
if [ -z "$ERR" ] && [ "$RC" = 0 ]; then
	if err=$(mount -t ext4 -o loop,ro $W/ext4.img /mnt/vicheck 2>&1); then
		[ "$(cat /mnt/vicheck/fromguest.txt 2>&1)" = "$TOKEN" ] ||
			EXT4_ERR="fromguest.txt in the image is not what the guest wrote"
		umount /mnt/vicheck
	else
		EXT4_ERR="mount -o loop in the test host: $err"
	fi
fi
check_result viommu-linux-virtio-blk "$LOG" ext4-read
check_result viommu-linux-virtio-blk-write "$LOG" ext4-write "$EXT4_ERR" "the test host found the file in the image"
check_result viommu-linux-virtio-rng "$LOG" rng
check_result viommu-linux-virtio-net "$LOG" vnet "$NET_ERR"

# ---- Linux with the test host's NVMe passed through behind the vIOMMU

# shellcheck disable=SC2046
set -- $(vfio_bind 0x1b36 0x0010 2> /dev/null) $(vfio_bind 0x8086 0x5845 2> /dev/null)
NVME=${1:-}
# Later suites (passthrough) expect the NVMe on the test host's own driver, as it booted:
# every controller bound here goes back when this suite ends, however it ends.
NVME_BOUND="$*"
trap 'for b in $NVME_BOUND; do ptvm vfio unbind "$b" > /dev/null 2>&1; done' EXIT
if [ -z "$NVME" ]; then
	th_skip viommu-linux-nvme-strict "no NVMe controller bound to vfio-pci in the test host ($(cat /sys/bus/pci/devices/*/class | sort | uniq -c | tr '\n' ' '))"
	exit 0
fi
LOG=$TH_LOGS/viommu-linux-nvme.log
REP=$W/nvme-report.json
CMD="console=ttyS0 panic=-1 $CMDLINE_EXTRA iommu.strict=1 ptvm.test=1 ptvm.cpus=1 ptvm.iommu=1"
CMD="$CMD ptvm.nvme=$NVME_MIB"
th_run "$LOG" "$TMO" ptvm run --kernel $G/bzImage --initrd $G/initramfs.cpio.gz --memory 256M \
	--cmdline "$CMD" --iommu virtio --device "vfio=$NVME" --report $REP --log-level info
RC=$?
boot_err "$LOG"
REP_ERR=
c=$(sed 's/{"index":/\n{"index":/g' $REP 2>/dev/null | grep '"viommu":true')
if [ -z "$c" ]; then
	REP_ERR="--report has no vIOMMU container: $(cat $REP 2>&1)"
elif [ "$RC" != 0 ]; then
	REP_ERR="ptvm $(th_status_reason "$RC")"
fi
check_result viommu-linux-nvme-groups "$LOG" iommu
check_result viommu-linux-nvme-strict "$LOG" nvme "$REP_ERR" \
	"container $(echo "$c" | sed -n 's/.*"index":\([0-9]*\).*/\1/p') follows $(echo "$c" | sed -n 's/.*"space":\("[^"]*"\|null\).*/\1/p') at exit: $(grep -o '"maps":[0-9]*,"unmaps":[0-9]*' $REP | tail -n 1)"

# ---- make bench: the cost of DMA protection on the NVMe

[ "${TH_BENCH:-0}" = 1 ] || exit 0
SECS=${TH_VIOMMU_BENCH_SECONDS:-5}
for mode in none strict lazy passthrough; do
	LOG=$TH_LOGS/viommu-nvme-bench-$mode.log
	REP=$W/bench-$mode.json
	CMD="console=ttyS0 panic=-1 $CMDLINE_EXTRA ptvm.test=1 ptvm.cpus=1 ptvm.blkbench=$SECS"
	IOMMU="--iommu virtio"
	case $mode in
	none) IOMMU= ;;
	strict) CMD="$CMD iommu.strict=1" ;;
	lazy) CMD="$CMD iommu.strict=0" ;;
	passthrough) CMD="$CMD iommu.passthrough=1" ;;
	esac
	# shellcheck disable=SC2086 # IOMMU is empty or two words
	th_run "$LOG" "$TMO" ptvm run --kernel $G/bzImage --initrd $G/initramfs.cpio.gz \
		--memory 256M --cmdline "$CMD" $IOMMU --device "vfio=$NVME" --report $REP
	boot_err "$LOG"
	stats=$(grep -o '"attaches":[0-9]*,"detaches":[0-9]*,"maps":[0-9]*,"unmaps":[0-9]*' $REP 2>/dev/null | tail -n 1)
	check_result "viommu-nvme-bench-$mode" "$LOG" blkbench "" "${stats:-no vIOMMU}"
done
