# Suite "soak" (`make soak`, not part of `make test`): for SOAK_SECONDS (the test-host command
# line; make soak passes SOAK_MINUTES * 60) a Linux guest keeps every virtio device busy
# (guest/linux/init ptvm.soak=: 2 MiB O_DIRECT writes read back with sha256 on virtio-blk,
# virtio-rng reads, lines both ways on virtio-console, a ping flood both ways over virtio-net,
# the balloon deflated and inflated every third round) while a second VM has a passed-through
# edu device DMA without end (guest/edu_soak.c: every byte checked). Balloon and passthrough
# are separate VMs because ptvm refuses to inflate a balloon while a device is passed through.
# The test host samples both ptvm processes every 10 s: RSS and open fds, reported as
# first/last/max. Results:
#   soak-linux   the guest's own verdict (no error, all data read back intact) and, after its
#                power-off, every 2 MiB slot of the disk image holds what the guest last wrote
#   soak-edu     the edu VM still running at the end, its DMA rounds counting up, no FAIL
#   soak-ptvm-resources  no growth for both VMs: the largest sample of the second half at most
#                the largest of the first (fds; they move with the balloon driver's load and
#                unload) or 16 MiB above it (RSS, kB in the message)
# SOAK_ONLY=balloon (make soak SOAK_ONLY=balloon SOAK_CYCLES=N): only balloon cycles, nothing
# else: guest/balloon_cycles.c in 3 runs of 3 cycles (soak-balloon-kit), then the Linux guest's
# balloon inflated and deflated N times (default 20), with 32 MiB of data kept in its page
# cache and checked after each cycle (soak-balloon-cycles).
. /testhost/lib.sh

if [ "${SOAK_ONLY:-}" = balloon ]; then
	n=${SOAK_CYCLES:-20}
	# the guest/ program first, in 3 runs of 3 cycles (each a RUN line for run.sh's silence
	# watchdog): patterns in 32 MiB, about 30% of it ballooned per cycle, a second vCPU
	# writing beside the holes
	kerr=
	kdone=0
	for r in 1 2 3; do
		klog=$TH_LOGS/soak-balloon-kit-$r.log
		th_run "$klog" 200 ptvm run --kernel /guest/elf/balloon_cycles.elf --debug-exit \
			--serial stdio --cpus 2 --memory 192M --balloon stats-period=0 \
			--cmdline "cycles=3 pool_mib=32"
		rc=$?
		kdone=$((kdone + $(grep -c 'balloon_cycles: cycle [0-9]* done' "$klog")))
		if [ $rc != 0 ] || ! grep -q ' PASS balloon_cycles' "$klog"; then
			kerr="run $r: ptvm $(th_status_reason $rc) after $(tail -n 1 "$klog" | cut -d' ' -f1) s: $(grep -E 'FAIL|cycle [0-9]* done' "$klog" | tail -n 1 | sed 's/^[0-9.]* //')"
			break
		fi
	done
	if [ -z "$kerr" ]; then
		th_pass soak-balloon-kit "$kdone cycles in 3 runs: $(sed -n 's/^[0-9.]* balloon_cycles: \([0-9]* cycles.*\)/\1/p' "$klog") (each run $(tail -n 1 "$klog" | cut -d' ' -f1) s)" "$klog"
	else
		th_fail soak-balloon-kit "$kerr ($kdone cycles done)" "$klog"
	fi
	# then Linux, in the background with a heartbeat on the console every 30 s
	vm_start $TH_LOGS/soak-balloon-cycles.log $((n * 60 + 120)) run --kernel /guest/linux/vmlinux \
		--initrd /guest/linux/initramfs.cpio.gz --memory 384M --cpus 2 \
		--cmdline "console=ttyS0 panic=-1 quiet ptvm.test=1 ptvm.cpus=2 ptvm.bcycles=$n,64,32" \
		--balloon target=320M
	next=$(($(cut -d. -f1 /proc/uptime) + 30))
	while vm_alive && [ "$(cut -d. -f1 /proc/uptime)" -lt "$VM_DEADLINE" ]; do
		if [ "$(cut -d. -f1 /proc/uptime)" -ge $next ]; then
			echo "  | soak: $(th_elapsed "$VM_T0") s: $(grep -c ' BCYCLE [0-9]* errors=' "$VM_LOG.raw") of $n balloon cycles"
			next=$((next + 30))
		fi
		sleep 1
	done
	vm_finish 10
	line=$(sed -n 's/^[0-9.]* CHECK bcycles //p' "$VM_LOG" | tail -n 1)
	done_n=$(grep -c ' BCYCLE [0-9]* errors=' "$VM_LOG")
	if [ "${line#ok}" != "$line" ] && [ "$VM_RC" = 0 ]; then
		th_pass soak-balloon-cycles "$line" "$VM_LOG"
	else
		th_fail soak-balloon-cycles "ptvm $(th_status_reason "$VM_RC") after $done_n of $n cycles ($VM_END s): ${line:-no CHECK bcycles line}" "$VM_LOG"
	fi
	exit 0
fi

SECS=${SOAK_SECONDS:-600}
TMO=$((SECS + 240))
MEM_MIB=384
BALLOON_MIB=64
DISK_MIB=64
G=/guest/linux
W=/tmp/soak
TAP=stap0
HOST_IP=10.0.3.1
GUEST_IP=10.0.3.15
MAC=52:54:00:12:34:57
mkdir -p $W

SETUP_ERR=
dd if=/dev/zero of=$W/disk.img bs=1M count=$DISK_MIB 2> /dev/null || SETUP_ERR="cannot make $W/disk.img"
if ! err=$({ tunctl -t $TAP && ip addr add $HOST_IP/24 dev $TAP && ip link set $TAP up; } 2>&1); then
	SETUP_ERR="tap $TAP: $err"
fi
EDU=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor" 2> /dev/null)" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
	EDU=${d##*/}
	drv=$(basename "$(readlink "$d/driver" 2> /dev/null)")
	if [ "$drv" != vfio-pci ]; then
		[ -n "$drv" ] && echo "$EDU" > "$d/driver/unbind"
		echo vfio-pci > "$d/driver_override"
		echo "$EDU" > /sys/bus/pci/drivers_probe
	fi
	break
done
[ -n "$EDU" ] && [ "$(basename "$(readlink "/sys/bus/pci/devices/$EDU/driver" 2> /dev/null)")" = vfio-pci ] ||
	SETUP_ERR="${SETUP_ERR:+$SETUP_ERR; }no edu device bound to vfio-pci (${EDU:-none found})"
if [ -n "$SETUP_ERR" ]; then
	th_fail soak "test-host setup: $SETUP_ERR"
	exit 0
fi
echo "  | soak: $SECS s; Linux guest ${MEM_MIB} MiB with blk/net/console/rng/balloon, edu $EDU in a second VM"

# the edu VM: in the background, its output stamped like th_run's
EDU_LOG=$TH_LOGS/soak-edu.log
{
	ptvm run --kernel /guest/elf/edu_soak.elf --debug-exit --serial stdio --memory 128M \
		--device "vfio=$EDU" --cmdline soak=1 < /dev/null 2>&1 &
	echo $! > $W/edu.pid
	wait $!
	echo "TH-EXIT $?"
} | while IFS= read -r _l; do
	read -r _t _ < /proc/uptime
	echo "$_t ${_l%"$TH_CR"}"
done > "$EDU_LOG" &
EDU_JOB=$!
while [ ! -s $W/edu.pid ]; do sleep 0.05; done
read -r EDU_PID < $W/edu.pid

CMD="console=ttyS0 panic=-1 quiet ptvm.test=1 ptvm.cpus=2"
CMD="$CMD ptvm.soak=$SECS,soak,$MAC,$GUEST_IP/24,$HOST_IP,$BALLOON_MIB"
vm_start $TH_LOGS/soak-linux.log $TMO run --kernel $G/vmlinux --initrd $G/initramfs.cpio.gz \
	--memory ${MEM_MIB}M --cpus 2 --cmdline "$CMD" --disk path=$W/disk.img,serial=soak \
	--net tap=$TAP,mac=$MAC --console virtio --rng --balloon target=$((MEM_MIB - BALLOON_MIB))M

# samples: "<seconds> <linux rss kB> <linux fds> <edu rss kB> <edu fds>"
sample() { # only while both VMs run: a VM that ended has no figures
	vm_alive || return 0
	_rss=$(vm_rss)
	_erss=$(awk '/^VmRSS:/ { print $2 }' /proc/$EDU_PID/status 2> /dev/null)
	[ -n "$_rss" ] && [ -n "$_erss" ] || return 0
	echo "$(th_elapsed "$VM_T0") $_rss $(vm_fds) $_erss $(ls /proc/$EDU_PID/fd 2> /dev/null | wc -l)" >> $W/samples
}
: > $W/samples
LIN_ERR=
if vm_wait '^SOAK START' 120; then
	# where guest RAM sits in ptvm: places the kvm trace's host invalidations in guest memory
	echo "  | soak: ptvm's guest RAM mappings: $(grep -i -E 'memfd|ptvm' /proc/$VM_PID/maps | awk '{ print $1, $6 }' | tr '\n' ';')"
	ping -A -q -w "$SECS" $GUEST_IP > $W/ping.out 2>&1 &
	PING_PID=$!
	n=0
	next=0
	while vm_alive && ! vm_grep '^CHECK soak ' > /dev/null; do
		n=$((n + 1))
		vm_send "SOAK-IN $n"
		now=$(cut -d. -f1 /proc/uptime)
		if [ "$now" -ge $next ]; then
			sample
			# a heartbeat on the console (run.sh takes a long silence for a hung test host)
			echo "  | soak: $(th_elapsed "$VM_T0") s: $(tail -n 1 $W/samples | awk '{ printf "linux RSS %d MiB, %d fds; edu RSS %d MiB, %d fds", $2 / 1024, $3, $4 / 1024, $5 }'); $(sed 's/^[0-9.]* //' "$VM_LOG.raw" | grep '^SOAK round=' | tail -n 1); $(grep -c . "$EDU_LOG") edu lines"
			next=$((now + 10))
		fi
		[ "$now" -lt "$VM_DEADLINE" ] || break
		sleep 0.5
	done
	wait $PING_PID
else
	LIN_ERR="the guest never started its soak (no 'SOAK START'): $(sed 's/^[0-9.]* //' "$VM_LOG.raw" | grep -E 'CHECK .* FAIL' | tail -n 1)"
fi
vm_wait '^CHECKS DONE' 60
vm_finish 30
# the edu VM must still be running, then it is stopped
EDU_ERR=
if [ -r /proc/$EDU_PID/stat ] && [ "$(cut -d' ' -f3 /proc/$EDU_PID/stat)" != Z ]; then
	kill $EDU_PID
else
	EDU_ERR="the edu VM ended before the soak did"
fi
wait $EDU_JOB
tunctl -d $TAP > /dev/null 2>&1

# soak-linux: the guest's verdict, the disk image as the guest last wrote it, the host's pings
line=$(vm_grep '^CHECK soak ')
bad_slots=0
slots=0
for s in $(sed -n 's/^[0-9.]* SOAK-BLK \([0-9]*\) .*/\1/p' "$VM_LOG" | sort -n -u); do
	want=$(sed -n "s/^[0-9.]* SOAK-BLK $s \([0-9a-f]*\)$/\1/p" "$VM_LOG" | tail -n 1)
	got=$(dd if=$W/disk.img bs=1M skip=$((s * 2)) count=2 2> /dev/null | sha256sum | cut -d' ' -f1)
	slots=$((slots + 1))
	[ "$got" = "$want" ] || bad_slots=$((bad_slots + 1))
done
tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' $W/ping.out 2> /dev/null)
rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' $W/ping.out 2> /dev/null)
hvc_out=$(grep -c ' SOAK-OUT ' "$VM_LOG")
if [ -n "$LIN_ERR" ]; then
	th_fail soak-linux "$LIN_ERR" "$VM_LOG"
elif [ -z "$line" ]; then
	th_fail soak-linux "no 'CHECK soak' line (ptvm $(th_status_reason "$VM_RC") after $VM_END s)" "$VM_LOG"
elif [ "${line#CHECK soak ok}" = "$line" ]; then
	th_fail soak-linux "guest: ${line#CHECK soak }; $(grep 'SOAK ERROR' "$VM_LOG" | head -n 3 | sed 's/^[0-9.]* //' | tr '\n' ';')" "$VM_LOG"
elif [ "$VM_RC" != 0 ]; then
	th_fail soak-linux "ptvm ended with $(th_status_reason "$VM_RC") after the guest's power-off, want 0" "$VM_LOG"
elif [ $slots = 0 ] || [ $bad_slots != 0 ]; then
	th_fail soak-linux "$bad_slots of $slots disk slots in the image differ from what the guest last wrote there" "$VM_LOG"
elif [ -z "$rx" ] || [ "${tx:-0}" = 0 ] || [ $((rx * 100)) -lt $((tx * 99)) ]; then
	th_fail soak-linux "ping flood test host -> guest: $(tr '\n' ' ' < $W/ping.out)" "$VM_LOG"
elif [ "$hvc_out" -lt 1 ]; then
	th_fail soak-linux "no SOAK-OUT line from the guest's hvc0 on ptvm's stdout" "$VM_LOG"
else
	th_pass soak-linux "${line#CHECK soak ok }; test host: $slots disk slots intact after power-off, $hvc_out hvc0 lines received, ping flood to the guest $tx sent $rx received" "$VM_LOG"
fi

# soak-edu
rounds=$(sed -n 's/^[0-9.]* SOAK edu rounds=\([0-9]*\)$/\1/p' "$EDU_LOG" | tail -n 1)
efail=$(sed -n 's/^[0-9.]* \(FAIL edu_soak: .*\)$/\1/p' "$EDU_LOG" | head -n 1)
if [ -n "$efail" ]; then
	th_fail soak-edu "$efail" "$EDU_LOG"
elif [ -n "$EDU_ERR" ]; then
	th_fail soak-edu "$EDU_ERR ($(th_last_err "$EDU_LOG"))" "$EDU_LOG"
elif [ -z "$rounds" ]; then
	th_fail soak-edu "no 'SOAK edu rounds=' line: the edu VM never finished 64 DMA rounds" "$EDU_LOG"
else
	th_pass soak-edu "edu $EDU: $rounds rounds of 6 DMA round trips (1..4095 bytes, every byte checked), still running at the end" "$EDU_LOG"
fi

# soak-ptvm-resources: first/last/max of RSS and fds, growth between the halves
res=$(awk -v half="$((SECS / 2))" '
	NR == 1 { for (i = 2; i <= 5; i++) { first[i] = $i; max[i] = $i } }
	{ for (i = 2; i <= 5; i++) { last[i] = $i; if ($i > max[i]) max[i] = $i }
	  h = ($1 < half) ? 1 : 2
	  for (i = 2; i <= 5; i++) if ($i > m[h, i]) m[h, i] = $i }
	END {
		printf "linux RSS first/last/max %d/%d/%d MiB, fds %d/%d/%d; edu RSS %d/%d/%d MiB, fds %d/%d/%d; samples %d|",
			first[2] / 1024, last[2] / 1024, max[2] / 1024, first[3], last[3], max[3],
			first[4] / 1024, last[4] / 1024, max[4] / 1024, first[5], last[5], max[5], NR
		err = ""
		if (NR < 4) err = err "only " NR " samples; "
		split("2 3 4 5", col, " ")
		split("linux RSS,linux fds,edu RSS,edu fds", what, ",")
		for (k = 1; k <= 4; k++) {
			i = col[k]
			slack = (i == 2 || i == 4) ? 16384 : 0
			if (m[2, i] > m[1, i] + slack)
				err = err what[k] " grew: max " m[1, i] " in the first half, " m[2, i] " in the second; "
		}
		print err
	}' $W/samples)
figures=${res%%|*}
rerr=${res#*|}
if [ -n "$rerr" ]; then
	th_fail soak-ptvm-resources "$rerr($figures)"
else
	th_pass soak-ptvm-resources "$figures"
fi
rm -rf $W
