# Suite "bench_pt" (tests/bench, make bench): passthrough figures inside the test host, ptvm
# side by side with QEMU q35 -device vfio-pci (carried into the image by make bench, as for
# bench_boot). A benchmark, not a test: without TH_BENCH=1 it only says it skipped. Lines:
#
#   PASS bench-pt-start-<vmm>-<mem>M-<none|nvme> (first M ms, init M ms, exit M ms, map M ms; runs ...)
#       exec of the VMM to its first KVM_RUN entering the guest (ftrace in the test host:
#       sched_process_exec to the first kvm:kvm_entry of the process, trace clock mono), to the
#       guest init's PTVM-GUEST-INIT line and to the VMM's exit after the guest powered off;
#       medians of TH_BENCH_REPS runs (the VMMs, sizes and devices taking turns). The guest is
#       the Debian cloud kernel with guest/linux's image ("ptvm.test=1 quiet", 1 vCPU), with
#       the NVMe passed through or not. map: ptvm's own DMA-map time (its info line).
#       <vmm> ptvmpf2: ptvm with --memory ...,prefault-threads=2 (guest RAM faulted in by
#       two threads before it is pinned; auto gives none on a test host with one CPU).
#   PASS bench-pt-io-<where> (randread iops=I lat_us=L; seqread mbps=M; runs ...)
#       medians of TH_BENCH_REPS rounds of 4 KiB random reads and 1 MiB sequential reads, O_DIRECT, queue depth 1, TH_BENCH_IO_S
#       seconds each within the first 256 MiB of the NVMe (written with random data first):
#       where = host-dma / host-dma-fq / host-identity (the test host's own nvme driver with
#       its IOMMU group's default domain DMA (strict: what intel_iommu=on gives here, QEMU's
#       IOMMU having caching mode), DMA-FQ (lazy, when the kernel allows it) and identity (what
#       iommu=pt gives every device)), ptvm-pt / qemu-pt (the guest's nvme driver on the
#       passed-through NVMe; 512 MiB, 1 vCPU), ptvm-virtio / qemu-virtio (the guest's
#       virtio-blk on the test host's /dev/nvme0n1, both through its page cache, dropped
#       before each boot).
. /testhost/lib.sh

if [ "${TH_BENCH:-0}" != 1 ]; then
	th_skip bench-pt "a benchmark for make bench (runs with TH_BENCH=1 only)"
	exit 0
fi
REPS=${TH_BENCH_REPS:-3}
IO_S=${TH_BENCH_IO_S:-5}
SPAN=256
TMO=${TH_BENCH_TIMEOUT:-120} # per boot: well below run.sh's TH_SILENCE
G=/guest/linux
QEMU=$(command -v qemu-system-x86_64 || true)
CMD_BOOT="console=ttyS0 panic=-1 quiet ptvm.test=1 ptvm.cpus=1"
CMD_PT="console=ttyS0 panic=-1 quiet rdinit=/pt/init"
R=$TH_LOGS/bench-pt
mkdir -p $R
rm -f $R/*

NVME=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor)" = 0x1b36 ] && [ "$(cat $d/device)" = 0x0010 ] && NVME=${d##*/} && break
done
if [ -z "$NVME" ]; then
	th_fail bench-pt "no NVMe (1b36:0010) in the test host (tests/testhost/pt-devices.sh)"
	exit 0
fi
GROUP=$(th_group_of $NVME)
VMMS="ptvm ptvmpf2"
if [ -n "$QEMU" ]; then
	VMMS="ptvm ptvmpf2 qemu"
else
	th_skip bench-pt-qemu "qemu-system-x86_64 is not in this image (make bench carries it)"
fi

median() { # median of the numbers on stdin, "-" when none
	sort -n | awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

nvme_wait() { # until /dev/nvme0n1 is back (the host's nvme driver probes asynchronously)
	_i=0
	while [ ! -b /dev/nvme0n1 ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	[ -b /dev/nvme0n1 ]
}

# ---- ftrace: the exec of the VMM and its first entry into the guest

TR=/sys/kernel/tracing
[ -d $TR/instances ] || mount -t tracefs nodev $TR 2> /dev/null
I=$TR/instances/bench-pt
rmdir $I 2> /dev/null
TRACE=0
if mkdir $I 2> /dev/null && echo mono > $I/trace_clock && echo 1 > $I/options/event-fork &&
	echo 1 > $I/events/sched/sched_process_exec/enable && echo 1 > $I/events/kvm/kvm_entry/enable &&
	echo traceoff > $I/events/kvm/kvm_entry/trigger && echo 0 > $I/tracing_on &&
	echo 1 > $I/set_event_pid; then
	TRACE=1
else
	echo "TESTHOST bench-pt: no ftrace instance with kvm:kvm_entry: exec to first instruction not measured"
fi

# traced LOG CMD...: runs CMD in the background (vm_start), its exec and first KVM entry traced
traced() {
	_log=$1
	shift
	if [ $TRACE = 1 ]; then
		# only init until the wrapper puts itself there; its children follow (event-fork)
		echo 1 > $I/set_event_pid
		echo > $I/trace
		echo 1 > $I/tracing_on
		vm_start_cmd "$_log" "$TMO" sh -c 'echo $$ > "$0/set_event_pid" && exec "$@"' $I "$@"
	else
		vm_start_cmd "$_log" "$TMO" "$@"
	fi
}

# run_times: after vm_finish, "FIRST INIT EXIT" in ms since the VMM's exec ("-" where unknown)
run_times() {
	_exec=
	_entry=
	if [ $TRACE = 1 ]; then
		echo 0 > $I/tracing_on
		# the wrapper (a busybox applet: /proc/self/exe) execs the VMM: the last exec of its pid
		_exec=$(awk -v p="pid=$VM_PID" '/sched_process_exec:/ && $0 ~ p" " { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { sub(/:$/, "", $i); t = $i } } END { print t }' $I/trace)
		_entry=$(awk '/kvm_entry:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { sub(/:$/, "", $i); print $i; exit } }' $I/trace)
	fi
	# without a trace, the start of the run stands for the exec (a few ms early)
	[ -n "$_exec" ] || _exec=$VM_T0
	_init=$(awk '{ t = $1; sub(/^[^ ]* /, "") } /^PTVM-GUEST-INIT/ { print t; exit }' "$VM_LOG.raw")
	_end=$(awk '{ t = $1; sub(/^[^ ]* /, "") } /^TH-EXIT/ { print t; exit }' "$VM_LOG.raw")
	awk -v x="$_exec" -v f="$_entry" -v i="$_init" -v e="$_end" 'function ms(t) { return t == "" ? "-" : sprintf("%.0f", (t - x) * 1000) }
		BEGIN { print ms(f), ms(i), ms(e) }'
}

# ---- the NVMe's data: 256 MiB of random data, written by the test host

if ! nvme_wait || ! dd if=/dev/urandom of=/dev/nvme0n1 bs=1M count=$SPAN oflag=direct 2> /dev/null; then
	th_fail bench-pt "cannot write the NVMe's first $SPAN MiB from the test host (driver $(th_driver_of $NVME))"
	exit 0
fi

# ---- I/O, TH_BENCH_REPS rounds: the test host itself under each IOMMU domain type, then the
# guests (virtio-blk on /dev/nvme0n1, then the NVMe passed through); medians at the end

# io_record NAME RANDREAD-LINE SEQREAD-LINE: one run's "iops lat_us mbps" into $R/io-NAME.runs
io_record() {
	_v=$(echo "$2 $3" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == "iops" && !io) io = kv[2]; if (kv[1] == "lat_us" && !lat) lat = kv[2];
		if (kv[1] == "mbps") mb = kv[2] } } END { if (io && mb) print io, lat, mb }')
	if [ -n "$_v" ]; then
		echo "$_v" >> $R/io-$1.runs
	else
		th_fail "bench-pt-io-$1" "no figures in: $2 $3"
		: > $R/io-$1.failed
	fi
}

io_host() { # io_host NAME: the test host's own reads of /dev/nvme0n1
	if r=$(ptio io /dev/nvme0n1 randread 4096 $IO_S $SPAN 2>&1) &&
		q=$(ptio io /dev/nvme0n1 seqread 1048576 $IO_S $SPAN 2>&1); then
		io_record "$1" "$r" "$q"
	else
		th_fail "bench-pt-io-$1" "$r $q"
		: > $R/io-$1.failed
	fi
}

# set_type TYPE: the NVMe's IOMMU group's default domain (the driver must let go meanwhile)
set_type() {
	echo $NVME > /sys/bus/pci/drivers/nvme/unbind
	_err=$(echo "$1" 2>&1 > /sys/kernel/iommu_groups/$GROUP/type)
	echo $NVME > /sys/bus/pci/drivers/nvme/bind
	nvme_wait && [ "$(cat /sys/kernel/iommu_groups/$GROUP/type)" = "$1" ]
}
lower() { echo "$1" | tr 'A-Z' 'a-z'; }

# io_guest NAME VMM-CMD...: one guest boot that benchmarks a disk (pt.io= on its command line)
io_guest() {
	_name=$1
	shift
	[ -f $R/io-$_name.failed ] && return
	sync
	echo 3 > /proc/sys/vm/drop_caches
	_log=$R/io-$_name-$i.log
	th_run "$_log" "$TMO" "$@"
	_rc=$?
	_line=$(sed -n 's/^[0-9.]* CHECK io //p' "$_log")
	case $_line in
	ok*) io_record "$_name" "${_line%%; IO seqread*}" "IO seqread${_line#*; IO seqread}" ;;
	*)
		th_fail "bench-pt-io-$_name" "run $i: ${_line:-no CHECK io line} (status $_rc: $(th_last_err "$_log"))" "$_log"
		: > $R/io-$_name.failed
		;;
	esac
}

# as booted (intel_iommu=on: DMA, strict, with QEMU's caching-mode IOMMU), then the others
TYPE0=$(cat /sys/kernel/iommu_groups/$GROUP/type)
IO_NAMES="host-$(lower "$TYPE0")"
i=0
while [ $i -lt "$REPS" ]; do
	io_host "host-$(lower "$TYPE0")"
	for t in identity DMA-FQ DMA; do
		[ $t = "$TYPE0" ] && continue
		if set_type $t; then
			io_host "host-$(lower $t)"
			[ $i = 0 ] && IO_NAMES="$IO_NAMES host-$(lower $t)"
		elif [ $i = 0 ]; then
			# the kernel may refuse a type this IOMMU cannot give
			echo "TESTHOST bench-pt: IOMMU group $GROUP cannot become $t (it is $(cat /sys/kernel/iommu_groups/$GROUP/type))${_err:+: $_err}"
		fi
	done
	set_type "$TYPE0" || { th_fail bench-pt-io "IOMMU group $GROUP back to $TYPE0 failed (now $(cat /sys/kernel/iommu_groups/$GROUP/type))"; break; }

	io_guest ptvm-virtio ptvm run --kernel $G/vmlinux --initrd $G/initramfs-pt.cpio.gz \
		--memory 512M --disk path=/dev/nvme0n1 --cmdline "$CMD_PT pt.io=vda,$IO_S,$SPAN"
	[ -n "$QEMU" ] && io_guest qemu-virtio $QEMU -M q35 -accel kvm -cpu host -m 512M -smp 1 \
		-L /usr/share/qemu -kernel $G/vmlinux -initrd $G/initramfs-pt.cpio.gz -display none \
		-nodefaults -no-reboot -serial stdio -append "$CMD_PT pt.io=vda,$IO_S,$SPAN" \
		-drive file=/dev/nvme0n1,if=none,id=d0,format=raw,cache=writeback \
		-device virtio-blk-pci,drive=d0,disable-legacy=on
	out=$(ptvm vfio bind $NVME 2>&1) || { th_fail bench-pt-io "ptvm vfio bind $NVME: $out"; break; }
	io_guest ptvm-pt ptvm run --kernel $G/vmlinux --initrd $G/initramfs-pt.cpio.gz \
		--memory 512M --device vfio=$NVME --cmdline "$CMD_PT pt.io=nvme0n1,$IO_S,$SPAN"
	[ -n "$QEMU" ] && io_guest qemu-pt $QEMU -M q35 -accel kvm -cpu host -m 512M -smp 1 \
		-L /usr/share/qemu -kernel $G/vmlinux -initrd $G/initramfs-pt.cpio.gz -display none \
		-nodefaults -no-reboot -serial stdio -append "$CMD_PT pt.io=nvme0n1,$IO_S,$SPAN" \
		-device vfio-pci,host=$NVME
	out=$(ptvm vfio unbind $NVME 2>&1) && nvme_wait || { th_fail bench-pt-io "ptvm vfio unbind $NVME: $out"; break; }
	i=$((i + 1))
done
for n in $IO_NAMES ptvm-virtio qemu-virtio ptvm-pt qemu-pt; do
	f=$R/io-$n.runs
	[ -f $R/io-$n.failed ] || [ ! -f $f ] && continue
	th_pass "bench-pt-io-$n" "randread iops=$(cut -d' ' -f1 $f | median) lat_us=$(cut -d' ' -f2 $f | median); seqread mbps=$(cut -d' ' -f3 $f | median); runs $(tr ' \n' '/ ' < $f)"
done

# ---- start-up: 1 and 2 GiB, with the NVMe passed through and without

out=$(ptvm vfio bind $NVME 2>&1) || { th_fail bench-pt "ptvm vfio bind $NVME: $out"; exit 0; }

i=0
while [ $i -lt "$REPS" ]; do
	for mem in 1024 2048; do
		for dev in none nvme; do
			for v in $VMMS; do
				name=$v-${mem}M-$dev
				[ -f $R/$name.failed ] && continue
				# ptvmpf2: guest RAM faulted in by 2 threads before it is pinned (what
				# auto chooses where 2 CPUs are left beside the vCPU): with the device only
				[ $v = ptvmpf2 ] && [ $dev = none ] && continue
				log=$R/start-$name-$i.log
				# every run from the same memory state: no page cache to reclaim, free
				# memory compacted for the huge pages both VMMs' RAM asks for
				sync
				echo 3 > /proc/sys/vm/drop_caches
				echo 1 > /proc/sys/vm/compact_memory 2> /dev/null
				if [ $v = ptvm ] || [ $v = ptvmpf2 ]; then
					traced "$log" ptvm run --kernel $G/vmlinux --initrd $G/initramfs.cpio.gz \
						--memory ${mem}M$([ $v = ptvmpf2 ] && echo ,prefault-threads=2) \
						--log-level info --cmdline "$CMD_BOOT" \
						$([ $dev = nvme ] && echo "--device vfio=$NVME")
				else
					traced "$log" $QEMU -M q35 -accel kvm -cpu host -m ${mem}M -smp 1 \
						-L /usr/share/qemu -kernel $G/vmlinux -initrd $G/initramfs.cpio.gz \
						-append "$CMD_BOOT" -display none -nodefaults -no-reboot -serial stdio \
						$([ $dev = nvme ] && echo "-device vfio-pci,host=$NVME")
				fi
				vm_wait '^TH-EXIT' "$TMO"
				vm_finish 30
				set -- $(run_times)
				# the DMA mapping of guest RAM: in the background while the guest boots (then
				# also how long the guest's bus-master enable waited for it), or before it;
				# the figures ptvm logs at its end (the last such line: the one at start-up
				# has seen no bus-master enable yet)
				map=$(sed -n 's/.*container0:   mapped in the background: all in place \([0-9.]*\) ms after it began.*/\1/p' "$VM_LOG" | tail -n 1)
				bmwait=$(sed -n 's/.*container0:   mapped in the background: .*enable [0-9]* time(s), \([0-9.]*\) ms in all.*/\1/p' "$VM_LOG" | tail -n 1)
				[ -n "$map" ] || map=$(sed -n 's/.*container0: [0-9]* DMA mappings, [0-9]* MiB pinned in \([0-9.]*\) ms.*/\1/p' "$VM_LOG" | head -n 1)
				if [ "$VM_RC" != 0 ] || [ "$2" = - ] || [ "$VM_TIMEDOUT" = 1 ]; then
					th_fail "bench-pt-start-$name" "run $i: status $VM_RC, init ${2} ms: $(th_last_err "$VM_LOG")" "$VM_LOG"
					: > $R/$name.failed
					continue
				fi
				echo "$1 $2 $3 ${map:--} ${bmwait:--}" >> $R/$name.runs
			done
		done
	done
	i=$((i + 1))
done
for mem in 1024 2048; do
	for dev in none nvme; do
		for v in $VMMS; do
			name=$v-${mem}M-$dev
			f=$R/$name.runs
			[ -f $R/$name.failed ] || [ ! -f $f ] && continue
			th_pass "bench-pt-start-$name" "first $(cut -d' ' -f1 $f | grep -v -- - | median) ms, init $(cut -d' ' -f2 $f | median) ms, exit $(cut -d' ' -f3 $f | median) ms, map $(cut -d' ' -f4 $f | grep -v -- - | median) ms, bus-master wait $(cut -d' ' -f5 $f | grep -v -- - | median) ms; runs $(tr ' \n' '/ ' < $f)"
		done
	done
done

ptvm vfio unbind $NVME > /dev/null 2>&1
if [ $TRACE = 1 ]; then
	echo 0 > $I/tracing_on
	echo '!traceoff' > $I/events/kvm/kvm_entry/trigger
	echo 0 > $I/events/enable
	rmdir $I
fi
