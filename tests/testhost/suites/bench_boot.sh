# Suite "bench_boot" (tests/bench, figure 4): the Debian kernel with the guest/linux image, booted
# TH_BENCH_REPS times (default 3) per configuration by ptvm and, when the image carries it
# (make bench puts it there through mkhost.sh's EXTRA_FILES), by QEMU -M microvm and -M q35 with
# -accel kvm, the same kernel, initrd and command line; vmlinux (PVH entry in both VMMs) and
# bzImage, 1 and 2 vCPUs; the VMMs take turns. Per configuration one line
#   PASS bench-boot-<vmm>-<vmlinux|bzimage>-<N>cpu (init M s, exit M s; runs I/E I/E ...)
# with the medians of the seconds from the VMM's exec to the guest init's PTVM-GUEST-INIT line
# and to the VMM's exit after the guest's poweroff -f. A benchmark, not a test: without
# TH_BENCH=1 (which tests/bench/bench.py sets) it only says it skipped. To look into a figure:
# TH_BENCH_VMMS="ptvm qemu-q35", TH_BENCH_CONFIGS="vmlinux-1", TH_BENCH_CMDLINE (default "quiet";
# empty shows the kernel's messages), TH_BENCH_SHOW=1 (every run's timestamped log).
. /testhost/lib.sh

if [ "${TH_BENCH:-0}" != 1 ]; then
	th_skip bench-boot "a benchmark for make bench (runs with TH_BENCH=1 only)"
	exit 0
fi
REPS=${TH_BENCH_REPS:-3}
TMO=${TH_LINUX_TIMEOUT:-90}
MEM=512M
G=/guest/linux
CMDLINE="console=ttyS0 panic=-1 ${TH_BENCH_CMDLINE-quiet} ptvm.test=1"
VMMS=ptvm
QEMU=$(command -v qemu-system-x86_64 || true)
if [ -n "$QEMU" ]; then
	VMMS=${TH_BENCH_VMMS:-ptvm qemu-microvm qemu-q35}
else
	th_skip bench-boot-qemu "qemu-system-x86_64 is not in this image (make bench carries it)"
fi

boot() { # boot VMM KERNEL CPUS LOG
	k=$G/vmlinux
	[ "$2" = bzimage ] && k=$G/bzImage
	case $1 in
	ptvm)
		th_run "$4" "$TMO" ptvm run --kernel "$k" --initrd $G/initramfs.cpio.gz \
			--memory $MEM --cpus "$3" --cmdline "$CMDLINE ptvm.cpus=$3"
		;;
	qemu-*)
		th_run "$4" "$TMO" "$QEMU" -M "${1#qemu-}" -accel kvm -cpu host -m $MEM -smp "$3" \
			-L /usr/share/qemu -kernel "$k" -initrd $G/initramfs.cpio.gz \
			-append "$CMDLINE ptvm.cpus=$3" -display none -nodefaults -no-reboot \
			-serial stdio
		;;
	esac
}

median() { # median of the numbers on stdin, "-" when none
	sort -n | awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

CONFIGS=${TH_BENCH_CONFIGS:-vmlinux-1 vmlinux-2 bzimage-1 bzimage-2}
R=$TH_LOGS/bench-boot
mkdir -p $R
rm -f $R/*.runs $R/*.failed
i=0
while [ $i -lt "$REPS" ]; do
	for c in $CONFIGS; do
		for v in $VMMS; do
			name=$v-${c%-*}-${c#*-}cpu
			[ -f $R/$name.failed ] && continue
			log=$TH_LOGS/bench-boot-$name-$i.log
			boot "$v" "${c%-*}" "${c#*-}" "$log"
			rc=$?
			init=$(th_when "$log" '^PTVM-GUEST-INIT')
			end=$(th_when "$log" '^TH-EXIT ')
			if [ -z "$init" ] || [ "$TH_TIMEDOUT" = 1 ] || [ "$rc" != 0 ]; then
				th_fail "bench-boot-$name" "run $i: ${init:+init at $init s, }status $rc$([ "$TH_TIMEDOUT" = 1 ] && echo " (timed out after $TMO s)")${init:-, no PTVM-GUEST-INIT}: $(th_last_err "$log")" "$log"
				: > $R/$name.failed
				continue
			fi
			echo "$init $end" >> $R/$name.runs
			[ "${TH_BENCH_SHOW:-0}" = 1 ] && th_show "$log"
		done
	done
	i=$((i + 1))
done
for c in $CONFIGS; do
	for v in $VMMS; do
		name=$v-${c%-*}-${c#*-}cpu
		[ -f $R/$name.failed ] && continue
		th_pass "bench-boot-$name" "init $(cut -d' ' -f1 $R/$name.runs | median) s, exit $(cut -d' ' -f2 $R/$name.runs | median) s; runs $(tr ' \n' '/ ' < $R/$name.runs)"
	done
done
