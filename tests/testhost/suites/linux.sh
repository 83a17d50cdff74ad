# Suite "linux": the Debian cloud kernel booted by ptvm with the guest/linux busybox image, whose
# init checks the machine from inside (guest/linux/init) and powers off. One test per boot
# protocol and vCPU count; each reports the time from `ptvm run` to the guest's init and to
# ptvm's exit. "quiet" (by default) saves 3.5-4 s a boot of serial output; "panic=-1" turns a
# guest panic into a reboot, so ptvm ends (status 64) instead of the test waiting for its timeout.
. /testhost/lib.sh

TMO=${TH_LINUX_TIMEOUT:-60} # a boot takes 8-10 s here
RERUNS=1
MEM=${TH_LINUX_MEMORY:-512M}
CMDLINE_EXTRA=${TH_LINUX_CMDLINE-quiet}
G=/guest/linux

linux_boot() { # linux_boot TEST CPUS PTVM-ARGS...
	test=$1
	cpus=$2
	shift 2
	log=$TH_LOGS/$test.log
	# shellcheck disable=SC2046 # TH_PTVM and th_jail_args are lists of words
	th_run "$log" "$TMO" $TH_PTVM run "$@" $(th_jail_args) --initrd $G/initramfs.cpio.gz --memory "$MEM" \
		--cpus "$cpus" --cmdline "console=ttyS0 panic=-1 $CMDLINE_EXTRA ptvm.test=1 ptvm.cpus=$cpus"
	rc=$?
	init=$(th_when "$log" '^PTVM-GUEST-INIT')
	done=$(th_when "$log" '^CHECKS DONE')
	end=$(th_when "$log" '^TH-EXIT ')
	bad=$(sed -n 's/^[0-9.]* \(CHECK [^ ]* FAIL.*\)$/\1/p' "$log" | tr '\n' ';')
	nchecks=$(grep -c -E '^[0-9.]* CHECK [^ ]* ok( |$)' "$log")
	if [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail "$test" "timeout after $TMO s (${init:+init at $init s, }last line: $(sed -n 's/^[0-9.]* //p' "$log" | grep -v '^TH-EXIT' | tail -n 1))" "$log"
	elif [ -z "$init" ]; then
		th_fail "$test" "the guest init never printed PTVM-GUEST-INIT (ptvm $(th_status_reason $rc): $(th_last_err "$log"))" "$log"
	elif [ -n "$bad" ]; then
		th_fail "$test" "$bad" "$log"
	elif [ -z "$done" ]; then
		th_fail "$test" "no CHECKS DONE (ptvm $(th_status_reason $rc): $(th_last_err "$log"))" "$log"
	elif [ "$nchecks" -lt 4 ]; then
		th_fail "$test" "only $nchecks CHECK lines ok, want 4" "$log"
	elif [ $rc != 0 ]; then
		th_fail "$test" "checks passed but ptvm exited with $(th_status_reason $rc) after poweroff, want 0: $(th_last_err "$log")" "$log"
	else
		th_pass "$test" "init $init s, exit $end s" "$log"
		return
	fi
	# A boot that never reached init ran with "quiet": boot it once more without, to show how
	# far the kernel got (the verdict above stands).
	# Once per suite: a boot that hangs costs its whole timeout again.
	if [ -z "$init" ] && [ $RERUNS -gt 0 ] && [ -n "$CMDLINE_EXTRA" ]; then
		RERUNS=$((RERUNS - 1))
		echo "  | booting $test once more without '$CMDLINE_EXTRA', for the kernel's messages:"
		extra=$CMDLINE_EXTRA
		CMDLINE_EXTRA=
		linux_boot "$test-verbose" "$cpus" "$@" |
			sed -n -E '/^  \| /p; s/^(PASS|FAIL) /  | rerun: \1 /p'
		CMDLINE_EXTRA=$extra
	fi
}

for cpus in ${TH_LINUX_CPUS:-1 2}; do
	if [ "$(uname -m)" = aarch64 ]; then
		# arm64: the Image, its device tree, PSCI bringing up the secondaries
		linux_boot "linux-image-${cpus}cpu" "$cpus" --kernel $G/Image
		continue
	fi
	linux_boot "linux-vmlinux-pvh-${cpus}cpu" "$cpus" --kernel $G/vmlinux
	linux_boot "linux-vmlinux-linux64-${cpus}cpu" "$cpus" --kernel $G/vmlinux --boot-protocol linux64
	linux_boot "linux-bzimage-${cpus}cpu" "$cpus" --kernel $G/bzImage
done

# A guest that panics (here: no init to run) with panic=-1 reboots at once; on x86 Linux's last
# resort is a jump to the real-mode reset vector, where ptvm's stub resets through the ACPI
# reset register, on arm64 a PSCI SYSTEM_RESET: ptvm must end with the reboot status (64), not
# hang.
log=$TH_LOGS/linux-panic-reboots.log
# shellcheck disable=SC2046
th_run "$log" "$TMO" $TH_PTVM run $(th_jail_args) --kernel $TH_GUEST_KERNEL \
	--initrd $G/initramfs.cpio.gz --memory "$MEM" \
	--cmdline "console=ttyS0 panic=-1 quiet rdinit=/nonexistent"
rc=$?
if [ "$TH_TIMEDOUT" = 1 ]; then
	th_fail linux-panic-reboots "timeout after $TMO s: the panicked guest did not end ptvm" "$log"
elif ! grep -q 'Kernel panic' "$log"; then
	th_fail linux-panic-reboots "no kernel panic seen (ptvm $(th_status_reason $rc))" "$log"
elif [ "$rc" != 64 ]; then
	th_fail linux-panic-reboots "ptvm exited $(th_status_reason $rc), want 64 (guest reboot)" "$log"
else
	th_pass linux-panic-reboots "panic -> reboot, ptvm status 64 at $(th_when "$log" '^TH-EXIT ') s" "$log"
fi

# A triple fault is x86's: an arm64 guest that breaks this way takes its exception at EL1 (the
# panic above covers its end).
[ "$(uname -m)" = aarch64 ] && exit 0

# A guest that triple-faults (Linux's reboot=t: an empty IDT, then int3) ends ptvm with status 65,
# and the harness finds where it faulted: on AMD, KVM resets the vCPU on the SHUTDOWN intercept,
# so ptvm sees only the reset vector and must say so; the rip is in the test host's kvm trace
# (the SHUTDOWN exit), which th_kvm_trace shows for any test that fails with a triple fault.
test=linux-triple-fault-traced
log=$TH_LOGS/$test.log
# shellcheck disable=SC2046 # TH_PTVM and th_jail_args are lists of words
th_run "$log" "$TMO" $TH_PTVM run $(th_jail_args) --kernel $G/vmlinux --initrd $G/initramfs.cpio.gz \
	--memory "$MEM" --cmdline "console=ttyS0 panic=-1 reboot=t quiet rdinit=/nonexistent"
rc=$?
rm -f "$log.kvmtrace"
# what th_pass shows and checks (jailcheck's line under the jail suite) is ptvm's log with the
# kvm trace after it
{ cat "$log"; th_kvm_trace "$log"; } > "$log.shown"
rip=$(sed -n 's/.*kvm_exit:.*reason [A-Za-z_]*[Ss][Hh][Uu][Tt][Dd][Oo][Ww][Nn] rip \(0x[0-9a-f]*\).*/\1/p' "$log.kvmtrace" 2> /dev/null | tail -n 1)
if [ "$TH_TIMEDOUT" = 1 ]; then
	th_fail $test "timeout after $TMO s: the triple fault did not end ptvm" "$log"
elif [ "$rc" != 65 ]; then
	th_fail $test "ptvm exited $(th_status_reason $rc), want 65 (triple fault)" "$log"
elif ! th_has "$log" 'triple fault'; then
	th_fail $test "ptvm exited 65 but printed no 'triple fault' line" "$log"
elif [ ! -e /sys/kernel/tracing/trace ]; then
	th_skip $test "the test host has no kvm trace (ptvm.kvmtrace=0 or no tracefs)"
elif [ -z "$rip" ]; then
	th_fail $test "no SHUTDOWN exit in the test host's kvm trace ($(grep -c . "$log.kvmtrace" 2> /dev/null) events kept)" "$log"
elif [ "$rip" = 0xfff0 ]; then
	th_fail $test "the kvm trace's SHUTDOWN exit has rip 0xfff0 too" "$log"
else
	th_pass $test "status 65, $(th_last_err "$log" | cut -c1-60)...; SHUTDOWN exit traced at rip $rip" "$log.shown"
fi
