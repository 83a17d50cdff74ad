# Suite "vfio": ptvm passes the test host's edu devices (QEMU edu behind intel-iommu) to its
# own guests through real kernel VFIO. It binds every edu function to vfio-pci, then runs each
# guest/edu_* program twice, BAR0 mmap'd into a memslot (bar-mmap=on) and trapped
# (bar-mmap=off), building the --device arguments itself from the BDFs it found (the programs'
# ptvm-args name $EDU0/$EDU1 for other runners). Per run: PASS/FAIL, and for edu_id and
# edu_dma the MMIO exits per edu operation (ptvm's trapped-access count for BAR0, logged at
# info when the device is destroyed). edu_dma_unmapped must also leave a DMAR fault in the
# test host's kernel log. Last, a Linux guest must see the device in /sys/bus/pci with its IDs
# and BAR0 size (guest/linux/init's ptvm.pcidev= check).
. /testhost/lib.sh

TMO=${TH_VFIO_TIMEOUT:-60}
MEM=128M # edu reaches 28 bits of IOVA: all guest RAM below 256 MiB

EDUS=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor" 2>/dev/null)" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
	bdf=${d##*/}
	drv=$(basename "$(readlink "$d/driver" 2>/dev/null)")
	if [ "$drv" != vfio-pci ]; then
		[ -n "$drv" ] && echo "$bdf" > "$d/driver/unbind"
		echo vfio-pci > "$d/driver_override"
		echo "$bdf" > /sys/bus/pci/drivers_probe
	fi
	if [ "$(basename "$(readlink "$d/driver" 2>/dev/null)")" = vfio-pci ]; then
		EDUS="$EDUS $bdf"
	else
		echo "  | vfio: $bdf would not bind to vfio-pci: $(dmesg | tail -n 3 | tr '\n' '|')"
	fi
done
# shellcheck disable=SC2086 # a list by design
set -- $EDUS
EDU0=${1:-}
EDU1=${2:-}
echo "  | vfio: edu devices bound to vfio-pci:${EDUS:- none} (iommu groups: $(for b in $EDUS; do basename "$(readlink /sys/bus/pci/devices/$b/iommu_group)"; done | tr '\n' ' '))"

# bar0_exits LOG BDF: BAR0's trapped-access count that ptvm logged for BDF at exit
bar0_exits() {
	sed -n "s/.*vfio-pci $2: BAR0: size [^,]*, mmap'd [^,]*, \([0-9]*\) trapped accesses.*/\1/p" "$1" | tail -n 1
}

# edu_run TEST PROGRAM MODE NDEV: one run; sets LOG, RC and OK (1 when the program passed)
edu_run() {
	test=$1 prog=$2 mode=$3 ndev=$4
	LOG=$TH_LOGS/$test.log
	OK=0
	devs="--device vfio=$EDU0,bar-mmap=$mode"
	[ "$ndev" = 2 ] && devs="$devs --device vfio=$EDU1,bar-mmap=$mode"
	t0=$(th_now)
	# shellcheck disable=SC2086 # devs is a list of options
	# shellcheck disable=SC2046 # TH_PTVM and th_jail_args are lists of words
	th_run "$LOG" "$TMO" $TH_PTVM run $(th_jail_args) --kernel "/guest/elf/$prog.elf" --debug-exit \
		--serial stdio --memory $MEM --log-level info $devs
	RC=$?
	TOOK=$(th_elapsed "$t0")
	why=$(sed -n "s/^[0-9.]* FAIL $prog: //p" "$LOG" | head -n 1)
	if [ ! -e "/guest/elf/$prog.elf" ]; then
		th_fail "$test" "/guest/elf/$prog.elf is not in the image"
	elif [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail "$test" "timeout after $TMO s ($devs)" "$LOG"
	elif [ $RC != 0 ]; then
		th_fail "$test" "${why:+$why [}ptvm $(th_status_reason $RC)${why:+]}: $(th_last_err "$LOG")" "$LOG"
	elif ! th_has "$LOG" "^PASS $prog\$"; then
		th_fail "$test" "ptvm exited 0 but the guest printed no 'PASS $prog' line" "$LOG"
	else
		OK=1
	fi
}

if [ -z "$EDU0" ]; then
	echo "FAIL vfio: no edu device could be bound to vfio-pci (lspci: $(ls /sys/bus/pci/devices | tr '\n' ' '))"
	dmesg | grep -i -E 'vfio|dmar|iommu' | tail -n 10 | sed 's/^/  | dmesg: /'
else
	for mode in on off; do
		# edu_id: exits per liveness round trip (a write and a read of BAR0)
		edu_run "vfio-edu_id-mmap-$mode" edu_id "$mode" 1
		if [ $OK = 1 ]; then
			ops=$(sed -n 's/.*EDU_OPS=\([0-9]*\) .*/\1/p' "$LOG" | head -n 1)
			cyc=$(sed -n 's/.* \([0-9]*\) TSC cycles each.*/\1/p' "$LOG" | head -n 1)
			ex=$(bar0_exits "$LOG" "$EDU0")
			per=$(awk -v e="${ex:-0}" -v o="${ops:-1}" 'BEGIN { printf "%.2f", e / o }')
			if [ -z "$ex" ] || [ -z "$ops" ]; then
				th_fail "vfio-edu_id-mmap-$mode" "no BAR0 exit count or op count in the log (want 'vfio-pci $EDU0: BAR0: ... N trapped accesses' from ptvm at info)" "$LOG"
			elif [ $mode = on ] && [ "$ex" -ge "$ops" ]; then
				th_fail "vfio-edu_id-mmap-$mode" "BAR0 should be mmap'd, but $ex accesses trapped for $ops round trips" "$LOG"
			elif [ $mode = off ] && [ "$ex" -lt $((2 * ops)) ]; then
				th_fail "vfio-edu_id-mmap-$mode" "BAR0 should be trapped, but only $ex accesses trapped for $ops round trips (2 accesses each)" "$LOG"
			else
				th_pass "vfio-edu_id-mmap-$mode" "$TOOK s; $ex BAR0 MMIO exits for $ops liveness round trips = $per exits/op, $cyc TSC cycles/op" "$LOG"
			fi
		fi
		edu_run "vfio-edu_dma-mmap-$mode" edu_dma "$mode" 1
		if [ $OK = 1 ]; then
			ex=$(bar0_exits "$LOG" "$EDU0")
			# 6 sizes x 2 directions; each DMA is 4 register writes plus polls of the command
			th_pass "vfio-edu_dma-mmap-$mode" "$TOOK s; ${ex:-?} BAR0 MMIO exits for 12 DMAs = $(awk -v e="${ex:-0}" 'BEGIN { printf "%.1f", e / 12 }') exits/DMA" "$LOG"
		fi
		edu_run "vfio-edu_msi-mmap-$mode" edu_msi "$mode" 1
		if [ $OK = 1 ]; then
			if th_has "$LOG" "MSI vector 0 -> gsi" && th_has "$LOG" "INTx pin A -> gsi"; then
				th_pass "vfio-edu_msi-mmap-$mode" "$TOOK s; $(sed -n 's/^[0-9.]* edu_msi: //p' "$LOG" | tr '\n' ';')" "$LOG"
			else
				th_fail "vfio-edu_msi-mmap-$mode" "the guest passed but ptvm logged no MSI route or no INTx route" "$LOG"
			fi
		fi
		if [ -n "$EDU1" ]; then
			edu_run "vfio-edu_two-mmap-$mode" edu_two "$mode" 2
			[ $OK = 1 ] && th_pass "vfio-edu_two-mmap-$mode" "$TOOK s; $EDU0 and $EDU1" "$LOG"
		else
			th_skip "vfio-edu_two-mmap-$mode" "only one edu device bound to vfio-pci"
		fi
		edu_run "vfio-edu_dma_unmapped-mmap-$mode" edu_dma_unmapped "$mode" 1
		if [ $OK = 1 ]; then
			fault=$(dmesg | grep -i -E 'DMAR.*(fault|DMA (Read|Write))|fault addr' | head -n 2 | tr '\n' '|')
			if [ -n "$fault" ]; then
				th_pass "vfio-edu_dma_unmapped-mmap-$mode" "$TOOK s; blocked, ptvm survived: $fault" "$LOG"
			else
				th_fail "vfio-edu_dma_unmapped-mmap-$mode" "the guest passed but the test host logged no DMAR fault: was the DMA really blocked?" "$LOG"
			fi
		fi
	done

	# A Linux guest sees the device: IDs and BAR0 size from inside (guest/linux/init).
	test=vfio-linux-sysfs
	LOG=$TH_LOGS/$test.log
	# shellcheck disable=SC2046
	th_run "$LOG" "${TH_LINUX_TIMEOUT:-60}" $TH_PTVM run $(th_jail_args) --kernel /guest/linux/vmlinux \
		--initrd /guest/linux/initramfs.cpio.gz --memory 512M --cpus 1 --log-level info \
		--device "vfio=$EDU0" \
		--cmdline "console=ttyS0 panic=-1 quiet ptvm.test=1 ptvm.cpus=1 ptvm.pcidev=1234:11e8:0x100000"
	RC=$?
	if [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail $test "timeout (last line: $(sed -n 's/^[0-9.]* //p' "$LOG" | grep -v '^TH-EXIT' | tail -n 1))" "$LOG"
	elif th_has "$LOG" '^CHECK pcidev ok'; then
		th_pass $test "$(sed -n 's/^[0-9.]* CHECK pcidev ok//p' "$LOG") ptvm $(th_status_reason $RC)" "$LOG"
	elif th_has "$LOG" '^CHECK pcidev FAIL'; then
		th_fail $test "$(sed -n 's/^[0-9.]* CHECK pcidev FAIL //p' "$LOG")" "$LOG"
	elif th_has "$LOG" '^CHECKS DONE'; then
		th_fail $test "the guest ran its checks but has no pcidev check (guest/linux/init needs ptvm.pcidev=VENDOR:DEVICE:BAR0SIZE)" "$LOG"
	else
		th_fail $test "the guest never finished its checks (ptvm $(th_status_reason $RC): $(th_last_err "$LOG"))" "$LOG"
	fi
fi
