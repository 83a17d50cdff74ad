#!/bin/sh
# Builds the test host's initramfs: busybox, kvm-amd, the vfio modules, tun and loop (taps and
# loop mounts for the virtio suite), virtio_pci, virtio_net and pci-pf-stub carried for the
# suites to load (the passthrough suite's NIC that stays with the test host; a host driver to
# make a group unviable with), ptvm (with the shared libraries it links), the tools in
# $BUILD/testhost/bin (kvmprobe, the suites' helpers), the guest/ test programs with their ptvm
# arguments and host-side hooks, the Linux guest (vmlinux, bzImage, its busybox image and the
# passthrough suite's variant of it), the suites and the virtio suite's ext4 image.
#
# usage: mkhost.sh OUT   (env: BUILD=build, PTVM=$BUILD/ptvm, COMPRESS=none|gzip, EXTRA_FILES,
#                        MACHINE=x86|arm64)
# MACHINE=arm64 (make ARCH=arm64, BUILD=build/arm64): the arm64 test host's image: its busybox
# (BUSYBOX), no kvm module to load (KVM is built into Debian's arm64 kernel), the guest's Image
# instead of vmlinux and bzImage, no guest/ test programs (they are x86 PVH ELFs).
# The image is left uncompressed by default: gzip -1 saves 50 MB of a 77 MB image but costs
# 1.5 s to build and 0.4 s more to boot under TCG (measured), and the image never leaves build/.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 1; }
OUT=$1
BUILD=${BUILD:-build}
PTVM=${PTVM:-$BUILD/ptvm}
KROOT=$BUILD/testhost/kernel
GUEST_IMG=$BUILD/guest/linux-initramfs.cpio.gz
MACHINE=${MACHINE:-x86}
case $MACHINE in
x86)
	KERNEL_FILES="vmlinux bzImage"
	HOST_MODULES="kvm-amd vfio_iommu_type1 vfio-pci tun loop"
	;;
arm64)
	KERNEL_FILES="Image"
	HOST_MODULES="vfio_iommu_type1 vfio-pci tun loop ext4 crc32c_generic"
	;;
*) echo "mkhost: MACHINE=$MACHINE: x86 or arm64" >&2; exit 1 ;;
esac
KFILES=
for k in $KERNEL_FILES; do
	KFILES="$KFILES $KROOT/$k"
done

# shellcheck disable=SC2086 # KFILES is a list
for f in "$PTVM" "$BUILD/testhost/bin/kvmprobe" "$BUILD/testhost/bin/ptio" $KFILES "$GUEST_IMG"; do
	[ -e "$f" ] || { echo "mkhost: $f missing (build it first: make test-testhost does)" >&2; exit 1; }
done

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/elf"
# Each guest program with its "/* ptvm-args: ... */" line, as tests/guest/run.sh reads it.
# This tree's programs (guest/*.c), not whatever .elf another branch left in this build/; none
# are built for an arm64 test host.
for src in "$TOP"/guest/*.c; do
	name=$(basename "$src" .c)
	elf=$BUILD/guest/$name.elf
	[ -f "$elf" ] || continue
	cp "$elf" "$STAGE/elf/"
	args=
	# as tests/guest/run.sh: the build's copy wins, else the line in the source; the suite
	# expands it the same way (eval, after the program's host-side hook)
	if [ -f "$BUILD/guest/$name.args" ]; then
		args=$(cat "$BUILD/guest/$name.args")
	elif [ -f "$src" ]; then
		args=$(sed -n 's|.*ptvm-args:\(.*\)|\1|p' "$src" | sed 's|\*/.*||' | head -n 1)
	fi
	printf '%s\n' "$args" > "$STAGE/elf/$name.args"
done

# The test-host tools (kvmprobe and the suites' helpers, static), into /bin.
TOOLS=
for t in "$BUILD"/testhost/bin/*; do
	TOOLS="$TOOLS -f $t=/bin/$(basename "$t")"
done

# ptvm is linked dynamically: carry its loader and libraries at the paths it was linked with.
LIBS=
for lib in $(ldd "$PTVM" 2>/dev/null | grep -o -E '/[^ ]+\.so[^ ]*'); do
	LIBS="$LIBS -f $lib=$lib"
done

# The virtio suite's disk: an ext4 image with a known file, made here with mkfs.ext4 -d (no
# mount needed), gzipped (16 MiB of mostly zeros: the suite unpacks it into /tmp), and the
# file's sha256 beside it.
mkdir -p "$STAGE/ext4root" "$STAGE/virtio"
head -c 262144 /dev/urandom > "$STAGE/ext4root/hello.bin"
MKFS=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4 || true)
[ -n "$MKFS" ] || { echo "mkhost: mkfs.ext4 not found (install e2fsprogs)" >&2; exit 1; }
"$MKFS" -q -F -L ptvm -E root_owner=0:0 -d "$STAGE/ext4root" "$STAGE/ext4.img" 16M > /dev/null
gzip -1 -c "$STAGE/ext4.img" > "$STAGE/virtio/ext4.img.gz"
sha256sum "$STAGE/ext4root/hello.bin" | cut -d' ' -f1 > "$STAGE/virtio/hello.sha256"

# The host sides of guest programs that need one (tests/guest/run.sh sources the same files).
HOOKS=
for h in "$TOP"/tests/guest/*_host.sh; do
	[ -f "$h" ] && HOOKS="$HOOKS -f $h=/testhost/guest/$(basename "$h")"
done

# The passthrough suite's guest image: the Linux guest image with an overlay archive appended
# (the kernel unpacks concatenated archives in turn): its init (guest/linux/pt-init, booted with
# rdinit=/pt/init) and ptio.
mkdir -p "$STAGE/ptov/pt" "$STAGE/ptov/bin"
cp "$TOP/guest/linux/pt-init" "$STAGE/ptov/pt/init"
cp "$BUILD/testhost/bin/ptio" "$STAGE/ptov/bin/ptio"
(cd "$STAGE/ptov" && find . | sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) > "$STAGE/ptov.cpio.gz"
cat "$GUEST_IMG" "$STAGE/ptov.cpio.gz" > "$STAGE/initramfs-pt.cpio.gz"

# Opt-in, for tests/bench (QEMU inside the test host): EXTRA_FILES="SRC=DEST ..." carries more.
EXTRA=
for spec in ${EXTRA_FILES:-}; do
	EXTRA="$EXTRA -f $spec"
done

# The guest kernels, under /guest/linux/ by their names (vmlinux, bzImage; Image on arm64).
GUEST_KERNELS=
for k in $KERNEL_FILES; do
	GUEST_KERNELS="$GUEST_KERNELS -f $KROOT/$k=/guest/linux/$k"
done

# shellcheck disable=SC2086 # LIBS, HOOKS, EXTRA and GUEST_KERNELS are lists of options by design
"$TOP/guest/linux/mkinitramfs.sh" -k "$KROOT" -i "$HERE/init" -z "${COMPRESS:-none}" \
	-m "$HOST_MODULES" -d "virtio_pci virtio_net pci-pf-stub" \
	-f "$PTVM=/bin/ptvm" $TOOLS $LIBS \
	-f "$STAGE/elf=/guest/elf" $GUEST_KERNELS \
	-f "$GUEST_IMG=/guest/linux/initramfs.cpio.gz" \
	-f "$STAGE/initramfs-pt.cpio.gz=/guest/linux/initramfs-pt.cpio.gz" \
	-f "$HERE/lib.sh=/testhost/lib.sh" -f "$HERE/suites=/testhost/suites" $HOOKS \
	-f "$STAGE/virtio=/testhost/virtio" $EXTRA \
	"$OUT"
