#!/bin/sh
# The QEMU that runs the x86 test host: Debian's QEMU 10 from bookworm-backports, downloaded
# through the private apt configuration (tests/apt-private.sh) and unpacked under
# build/qemu/ (nothing is installed; it needs no library that bookworm's qemu-system-x86,
# which tests/install-deps.sh installs, does not already bring).
#
# Why not bookworm's QEMU 7.2: the test host is TCG emulating an AMD CPU with SVM, and the test
# host's kvm-amd runs ptvm's guests on that emulated SVM. Under 7.2 the test host's kernel failed
# about once in three full runs with no ptvm error before it (a panic inside KVM_RUN, an RCU stall
# whose CPU ignored the NMI, a corrupted stack end in the scheduler, a halted CPU with its timer
# interrupt pending in IRR), with one vCPU and with two. The same runs under QEMU 10 are in
# tests/testhost/README.md ("QEMU 10 for the x86 test host").
#
# usage: tests/testhost/fetch-qemu.sh     (BUILD=build; cached: does nothing once it runs)
# Result: $BUILD/qemu/bin/qemu-system-x86_64 and its firmware in $BUILD/qemu/share/qemu.
set -eu
BUILD=${BUILD:-build}
DIR=$BUILD/qemu
BIN=$DIR/root/usr/bin/qemu-system-x86_64
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
	exit 0
fi
TOP=$(pwd)
mkdir -p "$DIR"
cd "$DIR"
rm -rf root
if ! APT_PRIVATE="$TOP/$BUILD/apt" "$TOP/tests/apt-private.sh" unpack root \
	qemu-system-x86/bookworm-backports qemu-system-common/bookworm-backports \
	qemu-system-data/bookworm-backports >download.log 2>&1; then
	echo "fetch-qemu: cannot download qemu-system-x86 from bookworm-backports (see $DIR/download.log)" >&2
	exit 1
fi
if ! root/usr/bin/qemu-system-x86_64 --version >version.txt 2>&1; then
	echo "fetch-qemu: $DIR/root/usr/bin/qemu-system-x86_64 does not run: $(head -1 version.txt)" >&2
	exit 1
fi
echo "fetch-qemu: $(head -1 version.txt) in $DIR" >&2
