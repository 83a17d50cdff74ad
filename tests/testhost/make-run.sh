#!/bin/sh
# `make run`: boot the Debian kernel with a busybox shell on the serial console under ptvm.
# Directly on this machine's /dev/kvm when it runs guest ring-0 code at hardware speed; where it
# does not (a nested KVM that emulates ring 0, about 1000 times slower: Linux would take hours),
# the same VM runs inside the emulated test host, whose nested KVM is fast. Says which and why.
#
# usage: make-run.sh   (env: BUILD=build, CPUS=2, MEMORY=512M, RUN_ON=auto|host|testhost)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
CPUS=${CPUS:-2}
MEMORY=${MEMORY:-512M}
MAX_NS=50 # ring-0 loop iteration cost above which this host's KVM counts as emulating
K=$BUILD/testhost/kernel
IMG=$BUILD/guest/linux-initramfs.cpio.gz

where=${RUN_ON:-auto}
if [ "$where" = auto ]; then
	if [ ! -w /dev/kvm ]; then
		where=testhost
		why="/dev/kvm is missing or not writable here"
	elif probe=$("$BUILD/testhost/bin/kvmprobe" 2>&1); then
		ns=$(echo "$probe" | sed -n 's/^kvmprobe: \([0-9.]*\) ns.*/\1/p')
		if [ "$(awk -v n="$ns" -v m=$MAX_NS 'BEGIN { print (n > m) }')" = 1 ]; then
			where=testhost
			why="this host's KVM runs a ring-0 loop iteration in $ns ns (> $MAX_NS ns: it emulates ring 0, a Linux guest would crawl)"
		else
			where=host
			why="this host's KVM runs a ring-0 loop iteration in $ns ns (<= $MAX_NS ns: hardware speed)"
		fi
	else
		where=testhost
		why="the KVM probe failed on this host: $probe"
	fi
else
	why="RUN_ON=$where"
fi

if [ "$where" = host ]; then
	echo "make run: booting on this machine's /dev/kvm: $why"
	echo "make run: Ctrl-A x quits ptvm; 'exit' in the shell powers the guest off"
	# the machine's own kernel: arm64's Image (make ARCH=arm64 run on an arm64 host), else vmlinux
	kernel=$K/vmlinux
	[ -e "$K/Image" ] && kernel=$K/Image
	exec "$BUILD/ptvm" run --kernel "$kernel" --initrd "$IMG" --memory "$MEMORY" \
		--cpus "$CPUS" --cmdline "console=ttyS0 ptvm.cpus=$CPUS"
fi
echo "make run: booting inside the emulated test host (QEMU TCG with nested KVM): $why"
echo "make run: the test host boots first (a few seconds), then ptvm boots the guest inside it;"
echo "make run: Ctrl-A x quits ptvm and with it the test host"
BUILD=$BUILD "$HERE/mkhost.sh" "$BUILD/testhost/host-initramfs.cpio"
exec env BUILD="$BUILD" "$HERE/run.sh" --shell --cpus "$CPUS" --machine "${TH_MACHINE_TYPE:-x86}"
