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

# MSI and MSI-X enable/disable rounds per attack. A route or eventfd leaked per round shows in
# the --report after one round (routes in use, open fds) and beyond 64 in the routes' peak: 1,000
# is plenty. Each round is VFIO_DEVICE_SET_IRQS, KVM_SET_GSI_ROUTING and KVM_IRQFD calls in the
# test host's kernel, which runs under TCG (vfio-pci's request_irq/free_irq, interrupt
# remapping through QEMU's emulated intel-iommu, SRCU syncs): 30 ms (edu MSI) to 57 ms (NVMe
# MSI-X) a round on the loaded development machine, so the guest's default of 10,000 rounds
# outlasted the attack's watchdog (stopped after 6,000 and 2,000 rounds).
PT_ATTACK_TOGGLES=${TH_PT_ATTACK_TOGGLES:-1000}

# pt_attack NAME BDF VENDOR:DEVICE: guest/pt_attack against the device at BDF, one VM per
# attack (each well inside the test host's silence watchdog), one result line each
pt_attack() {
	for attack in bars command msi msix rom config; do
		pt_attack_one "$1" "$2" "$3" $attack
	done
}

# pt_attack_one NAME BDF VENDOR:DEVICE ATTACK
pt_attack_one() {
	test=vfio-pt_attack-$1-$4
	LOG=$TH_LOGS/$test.log
	REPORT=$TH_LOGS/$test.json
	t0=$(th_now)
	# shellcheck disable=SC2046 # TH_PTVM and th_jail_args are lists of words
	th_run "$LOG" "${TH_VFIO_ATTACK_TIMEOUT:-200}" $TH_PTVM run $(th_jail_args) \
		--kernel /guest/elf/pt_attack.elf --debug-exit --serial stdio --memory $MEM --device "vfio=$2,rom=on" --report "$REPORT" \
		--cmdline "dev=$3 attack=$4 msi=$PT_ATTACK_TOGGLES"
	RC=$?
	TOOK=$(th_elapsed "$t0")
	# ptvm's lines (warn and error: the default level) between the attack's begin/end markers
	n=$(awk '/pt_attack: begin /{n=0; inside=1; next} /pt_attack: end /{inside=0; next}
		inside && / ptvm: /{n++} END{print n+0}' "$LOG")
	total=$(grep -c ' ptvm: ' "$LOG")
	ops=$(sed -n 's/^[0-9.]* pt_attack: end [a-z]* (\([0-9]*\) ops)/\1/p' "$LOG")
	routes=$(sed -n 's/.*"msi_routes": {"in_use": \([0-9]*\), "peak": \([0-9]*\)}.*/\1 \2/p' "$REPORT" 2>/dev/null)
	# the eventfds MSI-X keeps from one enable to the next are the device's, not a leak
	fds=$(sed -n 's/.*"open_fds": {"start": \([0-9]*\), "exit": \([0-9]*\), "msix_eventfds": \([0-9]*\)}.*/\1 \2 \3/p' "$REPORT" 2>/dev/null)
	kept=0
	[ -n "$fds" ] && kept=${fds##* } && fds=${fds% *}
	# one KVM route per vector the device offers, at most (the guest reads the counts)
	vectors=$(sed -n 's/.* vectors MSI \([0-9]*\) MSI-X \([0-9]*\)$/\1 \2/p' "$LOG" | head -n 1)
	max_routes=0
	[ -n "$vectors" ] && max_routes=$((${vectors% *} + ${vectors#* }))
	if [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail $test "timeout after $TOOK s (last line: $(sed -n 's/^[0-9.]* //p' "$LOG" | grep -v '^TH-EXIT' | tail -n 1))" "$LOG"
	elif [ $RC != 0 ] || ! th_has "$LOG" '^PASS pt_attack$'; then
		th_fail $test "ptvm $(th_status_reason $RC): $(sed -n 's/^[0-9.]* FAIL pt_attack: //p' "$LOG" | head -n 1) $(th_last_err "$LOG")" "$LOG"
	elif th_has "$LOG" "pt_attack: no MSI-X capability"; then
		th_skip $test "$3 has no MSI-X capability"
	elif th_has "$LOG" "pt_attack: no MSI capability"; then
		th_skip $test "$3 has no MSI capability"
	elif [ "$n" -gt 100 ]; then
		th_fail $test "ptvm logged $n lines during the attack (at most 100)" "$LOG"
	elif [ -z "$vectors" ]; then
		th_fail $test "the guest did not say the device's vector counts" "$LOG"
	elif [ -z "$routes" ] || [ "${routes% *}" != 0 ] || [ "${routes#* }" -gt "$max_routes" ]; then
		th_fail $test "MSI routes in use/peak at exit: '${routes:-no report}' (want 0 in use, at most one per vector ever: $max_routes)" "$LOG"
	elif [ -z "$fds" ] || [ $((${fds% *} + kept)) != "${fds#* }" ]; then
		th_fail $test "open fds at start/exit: '${fds:-no report}', $kept MSI-X eventfds kept for reuse (an eventfd leaked?)" "$LOG"
	else
		th_pass $test "$TOOK s, ${ops:-0} hostile accesses; ptvm survived with $n log lines during the attack ($total in all), the device answers as before$([ "$1" = edu ] && echo ' (DMA and an MSI too)'); MSI routes in use/peak at exit ${routes% *}/${routes#* }, fds start/exit ${fds% *}/${fds#* } ($kept MSI-X eventfds kept for reuse)" "$LOG"
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

	# A hostile guest against a passed-through device (guest/pt_attack.c, issue 8): BARs moved
	# onto RAM, the LAPIC, ECAM, ...; command register games; MSI and MSI-X on/off 1,000 times
	# each; the ROM BAR; garbage over the capabilities ptvm hides. ptvm must survive, say at
	# most 100 lines per attack at its default log level, give back every MSI route and eventfd
	# (the --report it writes at exit), and the device must answer afterwards (edu: DMA and
	# MSI too, and edu_dma in the next VM).
	pt_attack edu "$EDU0" 1234:11e8
	# and the next VM gets a working device (reset in between)
	edu_run vfio-pt_attack-edu-after edu_dma on 1
	[ $OK = 1 ] && th_pass vfio-pt_attack-edu-after "$TOOK s; edu_dma in a new VM after the attacks" "$LOG"
	# an NVMe when the test host has one (MSI-X), taken from the host's driver and given back
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/class")" = 0x010802 ] || continue
		nvme=${d##*/}
		drv=$(basename "$(readlink "$d/driver" 2>/dev/null)")
		[ -n "$drv" ] && [ "$drv" != vfio-pci ] && echo "$nvme" > "$d/driver/unbind"
		echo vfio-pci > "$d/driver_override"
		echo "$nvme" > /sys/bus/pci/drivers_probe
		pt_attack nvme "$nvme" "$(sed 's/0x//' "$d/vendor"):$(sed 's/0x//' "$d/device")"
		echo > "$d/driver_override"
		echo "$nvme" > /sys/bus/pci/drivers/vfio-pci/unbind
		[ -n "$drv" ] && [ "$drv" != vfio-pci ] && echo "$nvme" > /sys/bus/pci/drivers_probe
		break
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
