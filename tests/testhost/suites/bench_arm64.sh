# Suite "bench_arm64" (make bench, the arm64 test host): ptvm against QEMU -M virt -accel kvm
# (carried into the image under /qemu by tests/bench/bench.py) booting the same Debian arm64
# Image and guest/linux image, 512 MiB, 1 and 2 vCPUs, TH_BENCH_REPS times each (default 3), the
# VMMs taking turns. The guest powers off right after its init's first line (ptvm.boot=poweroff)
# so that both VMMs run the same guest work. Per VMM and vCPU count one line
#   PASS bench-arm64-<vmm>-<N>cpu (first M ms, init M s, exit M s; runs F/I/E ...)
# with the medians of: the VMM's exec to its first KVM_RUN entering the guest (ftrace:
# sched_process_exec to the first kvm_entry event), to the init's PTVM-GUEST-INIT line, and to
# the VMM's exit. Then per VMM
#   PASS bench-arm64-memory-<vmm> (pss M MiB, rss M MiB, guest-ram M MiB)
# the VMM's Pss and Rss minus its guest RAM mapping's Pss while the guest idles after init
# (ptvm.boot=hold, 1 vCPU). A benchmark, not a test: without TH_BENCH=1 it only skips.
. /testhost/lib.sh

if [ "${TH_BENCH:-0}" != 1 ]; then
	th_skip bench-arm64 "a benchmark for make bench (runs with TH_BENCH=1 only)"
	exit 0
fi
REPS=${TH_BENCH_REPS:-3}
TMO=${TH_LINUX_TIMEOUT:-90}
MEM_MIB=512
G=/guest/linux
Q=/qemu
VMMS=ptvm
if [ -x $Q/bin/qemu-system-aarch64 ]; then
	VMMS="ptvm qemu-virt"
else
	th_skip bench-arm64-qemu "$Q/bin/qemu-system-aarch64 is not in this image (make bench carries it)"
fi

# the first guest entry, by ftrace: the exec of the VMM, then the first kvm_entry of any vCPU
# (one VM at a time here); a buffer that stops when full keeps the first events
TR=/sys/kernel/tracing
[ -e $TR/trace ] || mount -t tracefs nodev $TR 2> /dev/null
TRACE=0
if [ -w $TR/events/kvm/kvm_entry/enable ] && [ -w $TR/events/sched/sched_process_exec/enable ]; then
	TRACE=1
	echo 0 > $TR/tracing_on
	echo 0 > $TR/options/overwrite
	echo 1 > $TR/events/sched/sched_process_exec/enable
	echo 1 > $TR/events/kvm/kvm_entry/enable
else
	th_skip bench-arm64-first "no kvm_entry / sched_process_exec trace events in $TR"
fi

trace_start() {
	[ $TRACE = 1 ] || return 0
	echo 0 > $TR/tracing_on
	echo > $TR/trace
	echo 1 > $TR/tracing_on
}

trace_first_ms() { # trace_first_ms EXE: ms from the exec of EXE to the first kvm_entry, or -
	[ $TRACE = 1 ] || { echo -; return; }
	echo 0 > $TR/tracing_on
	awk -v exe="filename=$1 " '
		function ts(   i) { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) return substr($i, 1, length($i) - 1) }
		/sched_process_exec:/ && t0 == "" && index($0 " ", exe) { t0 = ts() }
		/kvm_entry:/ && t0 != "" && t1 == "" { t1 = ts() }
		END { if (t0 != "" && t1 != "") printf "%.2f\n", (t1 - t0) * 1000; else print "-" }' $TR/trace
}

vmm_exe() { # the file the VMM's process execs
	case $1 in
	ptvm) echo /bin/ptvm ;;
	qemu-virt) echo $Q/lib/ld-linux-aarch64.so.1 ;;
	esac
}

vmm_cmd() { # vmm_cmd VMM CPUS BOOT: the command line
	case $1 in
	ptvm)
		echo ptvm run --kernel $G/Image --initrd $G/initramfs.cpio.gz --memory ${MEM_MIB}M \
			--cpus "$2" --cmdline "'console=ttyS0 panic=-1 quiet ptvm.boot=$3'"
		;;
	qemu-virt)
		echo $Q/lib/ld-linux-aarch64.so.1 --library-path $Q/lib $Q/bin/qemu-system-aarch64 \
			-M virt,gic-version=3 -accel kvm -cpu host -m ${MEM_MIB}M -smp "$2" \
			-kernel $G/Image -initrd $G/initramfs.cpio.gz \
			-append "'console=ttyAMA0 panic=-1 quiet ptvm.boot=$3'" \
			-display none -nodefaults -no-reboot -serial stdio
		;;
	esac
}

median() { # median of the numbers on stdin ("-" ignored), "-" when none
	grep -v '^-$' | sort -n | awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

R=$TH_LOGS/bench-arm64
mkdir -p $R
rm -f $R/*
i=0
while [ $i -lt "$REPS" ]; do
	for cpus in 1 2; do
		for v in $VMMS; do
			name=$v-${cpus}cpu
			[ -f $R/$name.failed ] && continue
			log=$TH_LOGS/bench-arm64-$name-$i.log
			trace_start
			eval "th_run $log $TMO $(vmm_cmd $v $cpus poweroff)"
			rc=$?
			first=$(trace_first_ms "$(vmm_exe $v)")
			init=$(th_when "$log" '^PTVM-GUEST-INIT')
			end=$(th_when "$log" '^TH-EXIT ')
			if [ -z "$init" ] || [ "$TH_TIMEDOUT" = 1 ] || [ "$rc" != 0 ]; then
				th_fail "bench-arm64-$name" "run $i: ${init:+init at $init s, }status $rc${init:-, no PTVM-GUEST-INIT}: $(th_last_err "$log")" "$log"
				: > $R/$name.failed
				continue
			fi
			echo "$first $init $end" >> $R/$name.runs
		done
	done
	i=$((i + 1))
done
for cpus in 1 2; do
	for v in $VMMS; do
		name=$v-${cpus}cpu
		[ -f $R/$name.failed ] && continue
		th_pass "bench-arm64-$name" "first $(cut -d' ' -f1 $R/$name.runs | median) ms, init $(cut -d' ' -f2 $R/$name.runs | median) s, exit $(cut -d' ' -f3 $R/$name.runs | median) s; runs $(tr ' \n' '/ ' < $R/$name.runs)"
	done
done

# ---- memory: the VMM's own footprint while the guest idles ----
smaps_mib() { # smaps_mib PID: "PSS RSS RAM-PSS" in MiB (RAM: the mappings of MEM_MIB MiB)
	awk -v ram=$((MEM_MIB * 1024)) '
		/^Size:/ { size = $2 }
		/^Pss:/ { pss += $2; if (size == ram) rampss += $2 }
		/^Rss:/ { rss += $2 }
		END { printf "%.1f %.1f %.1f\n", pss / 1024, rss / 1024, rampss / 1024 }' /proc/$1/smaps
}

for v in $VMMS; do
	log=$TH_LOGS/bench-arm64-memory-$v.log
	echo "RUN bench-arm64-memory-$v"
	# exec: the background job is the VMM itself, whose smaps are read
	eval "exec $(vmm_cmd $v 1 hold)" < /dev/null > $log 2>&1 &
	pid=$!
	n=0
	while ! grep -q '^HOLD' $log && kill -0 $pid 2> /dev/null && [ $n -lt $((TMO * 10)) ]; do
		sleep 0.1
		n=$((n + 1))
	done
	sleep 0.5 # the VMM's threads settle
	if grep -q '^HOLD' $log && kill -0 $pid 2> /dev/null; then
		set -- $(smaps_mib $pid)
		th_pass "bench-arm64-memory-$v" "pss $(awk -v a="$1" -v b="$3" 'BEGIN { printf "%.1f", a - b }') MiB, rss $(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", a - b }') MiB, guest-ram $3 MiB"
	else
		th_fail "bench-arm64-memory-$v" "the guest never printed HOLD within $TMO s" "$log"
	fi
	kill $pid 2> /dev/null
	wait $pid 2> /dev/null
done
[ $TRACE = 1 ] && echo 0 > $TR/events/kvm/kvm_entry/enable && echo 0 > $TR/events/sched/sched_process_exec/enable
