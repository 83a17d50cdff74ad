# Suite "jail" (issue 8): ptvm's privilege drop under real guests, devices and passthrough.
#
# 1. The linux (one vCPU), virtio and vfio suites once more, every ptvm started as root with
#    --jail (a fresh empty directory) --user 65534:65534 and run through jailcheck, which
#    checks from /proc, once ptvm has sandboxed itself, that it runs as 65534:65534 with no
#    groups, no capabilities (bounding set too), no_new_privs, a seccomp filter, an empty root
#    with one mount, its own mount and network namespaces and no core dumps. A test passes only
#    if its own checks pass and jailcheck said ok; its name ends in "-jail".
# 2. ptvm started by an unprivileged user (uid 65534) who was given /dev/kvm and, for
#    passthrough, the VFIO group's /dev/vfio/N and RLIMIT_MEMLOCK for guest RAM (README: "Running
#    ptvm unprivileged"), with --jail: its namespaces come from a user namespace. A Linux boot
#    and an edu DMA guest; names end in "-unprivileged".
. /testhost/lib.sh

JAIL_ID=65534
export TH_JAIL=1 TH_JAIL_USER=$JAIL_ID:$JAIL_ID TH_SUFFIX=-jail
export TH_PTVM_WRAP="jailcheck --uid $JAIL_ID --gid $JAIL_ID"
TH_LINUX_CPUS=1 sh /testhost/suites/linux.sh
sh /testhost/suites/virtio.sh
sh /testhost/suites/vfio.sh

# ---- 2: started unprivileged
export TH_SUFFIX=-unprivileged TH_JAIL_USER=
export TH_PTVM_WRAP="jailcheck --uid $JAIL_ID --gid $JAIL_ID --setuid $JAIL_ID:$JAIL_ID"
TH_PTVM="$TH_PTVM_WRAP ptvm"
MEM=128M # the edu device reaches 28 bits of IOVA

# what an administrator grants: the KVM device, the VFIO group, enough locked memory (and the
# image's root, which mkinitramfs leaves 0700, must let others reach /bin)
root_mode=$(stat -c %a /)
chmod 755 /
kvm_mode=$(stat -c %a /dev/kvm)
chmod 666 /dev/kvm
EDU=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor" 2>/dev/null)" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] &&
		[ "$(basename "$(readlink "$d/driver" 2>/dev/null)")" = vfio-pci ] && EDU=${d##*/} && break
done
GROUP=
[ -n "$EDU" ] && GROUP=/dev/vfio/$(basename "$(readlink /sys/bus/pci/devices/$EDU/iommu_group)")
[ -n "$GROUP" ] && chown $JAIL_ID "$GROUP"
ulimit -l $((256 * 1024)) # KiB: 128 MiB of guest RAM pinned, with room

test=linux-vmlinux-pvh-1cpu
LOG=$TH_LOGS/$test-unprivileged.log
# shellcheck disable=SC2046,SC2086
th_run "$LOG" "${TH_LINUX_TIMEOUT:-60}" $TH_PTVM run $(th_jail_args) --kernel /guest/linux/vmlinux \
	--initrd /guest/linux/initramfs.cpio.gz --memory 512M --cpus 1 \
	--cmdline "console=ttyS0 panic=-1 quiet ptvm.test=1 ptvm.cpus=1"
RC=$?
if [ "$TH_TIMEDOUT" = 1 ]; then
	th_fail $test "timeout" "$LOG"
elif [ $RC != 0 ] || ! th_has "$LOG" '^CHECKS DONE'; then
	th_fail $test "no CHECKS DONE (ptvm $(th_status_reason $RC): $(th_last_err "$LOG"))" "$LOG"
elif th_has "$LOG" '^CHECK [^ ]* FAIL'; then
	th_fail $test "$(sed -n 's/^[0-9.]* \(CHECK [^ ]* FAIL.*\)$/\1/p' "$LOG" | tr '\n' ';')" "$LOG"
else
	th_pass $test "uid $JAIL_ID with /dev/kvm, jail in a user namespace; init at $(th_when "$LOG" '^PTVM-GUEST-INIT') s" "$LOG"
fi

test=vfio-edu_dma
LOG=$TH_LOGS/$test-unprivileged.log
if [ -z "$GROUP" ]; then
	th_fail $test "no edu device bound to vfio-pci (the vfio suite binds them)"
else
	# shellcheck disable=SC2046,SC2086
	th_run "$LOG" "${TH_VFIO_TIMEOUT:-60}" $TH_PTVM run $(th_jail_args) \
		--kernel /guest/elf/edu_dma.elf --debug-exit --serial stdio --memory $MEM \
		--device "vfio=$EDU"
	RC=$?
	if [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail $test "timeout" "$LOG"
	elif [ $RC != 0 ] || ! th_has "$LOG" '^PASS edu_dma$'; then
		th_fail $test "ptvm $(th_status_reason $RC): $(th_last_err "$LOG")" "$LOG"
	else
		th_pass $test "uid $JAIL_ID with /dev/kvm, $GROUP and RLIMIT_MEMLOCK 256 MiB; DMA through the IOMMU" "$LOG"
	fi
fi

chmod "$kvm_mode" /dev/kvm
chmod "$root_mode" /
[ -n "$GROUP" ] && chown 0 "$GROUP"
