#!/bin/sh
# Builds a busybox initramfs: busybox-static with every applet linked, an init, kernel modules
# (with their dependencies, resolved through modules.dep, listed in load order in
# /lib/modules/load-order for the init to insmod), and extra files.
#
# usage: mkinitramfs.sh [-k KERNEL_ROOT] [-i INIT] [-m "MODULE ..."] [-d "MODULE ..."] [-f SRC=DEST]... [-z gzip|none] OUT
#        (env BUSYBOX: the busybox-static to carry, default the host's)
#   -k  the unpacked kernel package (default build/testhost/kernel, see tests/testhost/fetch-kernel.sh)
#   -i  the file that becomes /init (default guest/linux/init beside this script)
#   -m  modules to carry (default: $GUEST_MODULES below; names as in modules.dep, - or _ alike)
#   -d  modules to carry for later: with the dependencies -m does not bring, in load order in
#       /lib/modules/deferred-order, which the init leaves alone (a suite insmods them)
#   -f  copy SRC to DEST inside the image (repeatable); SRC may be a directory
#   -z  compression (default gzip -1: the guest image is small and boots many times)
# Used for the Linux guest image (guest/linux/init) and, with other options, by the test host.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)

# Modules the Linux guest loads at boot: the virtio drivers for ptvm's devices, which the
# Debian cloud kernel has as modules (8250, the PCI host bridge, ACPI, ext4 with crc32c, are
# built in), and ext4 with its checksum driver (crc32c_generic, which ext4 asks the crypto API
# for by name) and nvme (for a passed-through NVMe), modules in Debian's generic arm64 kernel.
# A module the kernel has built in (modules.builtin) is left out. The guest's init loads the
# device drivers only when their device is there.
GUEST_MODULES="virtio_pci virtio_blk virtio_net virtio_console virtio_balloon virtio_rng ext4 \
crc32c_generic nvme"

KROOT=build/testhost/kernel
INIT=$HERE/init
MODULES=$GUEST_MODULES
COMPRESS=gzip
FILES=""
DEFERRED=""
usage() {
	echo "usage: $0 [-k KERNEL_ROOT] [-i INIT] [-m \"MODULE ...\"] [-d \"MODULE ...\"] [-f SRC=DEST]... [-z gzip|none] OUT" >&2
	exit 1
}
while getopts k:i:m:d:f:z: opt; do
	case $opt in
	k) KROOT=$OPTARG ;;
	i) INIT=$OPTARG ;;
	m) MODULES=$OPTARG ;;
	d) DEFERRED=$OPTARG ;;
	f) FILES="$FILES
$OPTARG" ;;
	z) COMPRESS=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
DEST=$1
case $COMPRESS in gzip | none) ;; *) echo "mkinitramfs: -z $COMPRESS: want gzip or none" >&2; exit 1 ;; esac

# BUSYBOX: another architecture's busybox-static (the arm64 test host's, from
# tests/sysroot-arm64.sh); its applet list is the host's busybox's (the same Debian release)
BUSYBOX=${BUSYBOX:-$(command -v busybox || true)}
[ -n "$BUSYBOX" ] || { echo "mkinitramfs: busybox not found (install busybox-static)" >&2; exit 1; }
ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic' ||
	{ echo "mkinitramfs: $BUSYBOX is not static (install busybox-static)" >&2; exit 1; }
[ -f "$INIT" ] || { echo "mkinitramfs: init $INIT not found" >&2; exit 1; }

R=$(mktemp -d)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R/bin" "$R/sbin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/run" "$R/lib/modules"
cp "$BUSYBOX" "$R/bin/busybox"
APPLETS=$("$BUSYBOX" --list 2>/dev/null || busybox --list)
for a in $APPLETS; do
	[ "$a" = busybox ] || ln -s busybox "$R/bin/$a"
done
cp "$INIT" "$R/init"
chmod 755 "$R/init"
: > "$R/lib/modules/load-order"
: > "$R/lib/modules/deferred-order"

if [ -n "$MODULES$DEFERRED" ]; then
	[ -s "$KROOT/release" ] || { echo "mkinitramfs: no kernel in $KROOT (run tests/testhost/fetch-kernel.sh)" >&2; exit 1; }
	MODDIR=$KROOT/lib/modules/$(cat "$KROOT/release")
	[ -s "$MODDIR/modules.dep" ] || { echo "mkinitramfs: $MODDIR/modules.dep missing" >&2; exit 1; }
fi
# add REL: carry the module at path REL (as in modules.dep) after the modules it depends on,
# listed in $ORDER.
add() {
	name=$(basename "$1")
	name=${name%%.ko*}
	grep -qx "$name" "$R/lib/modules/load-order" "$R/lib/modules/deferred-order" && return 0
	line=$(grep -E "^$1:" "$MODDIR/modules.dep")
	# modules.dep lists dependencies last-loaded first
	for d in $(echo "${line#*:}" | tr ' ' '\n' | tac); do
		add "$d"
	done
	name=$(basename "$1")
	name=${name%%.ko*}
	case $1 in
	*.xz) xz -dc "$MODDIR/$1" ;;
	*.zst) zstd -qdc "$MODDIR/$1" ;;
	*.gz) gzip -dc "$MODDIR/$1" ;;
	*) cat "$MODDIR/$1" ;;
	esac > "$R/lib/modules/$name.ko"
	echo "$name" >> "$R/lib/modules/$ORDER"
}
carry() { # carry ORDER MODULE...: add each by name
	ORDER=$1
	shift
	for m in "$@"; do
		pat=$(echo "$m" | sed 's/[-_]/[-_]/g')
		# built into this kernel (trixie's virtio_pci, nvme): nothing to carry
		grep -qE "(^|/)$pat\.ko$" "$MODDIR/modules.builtin" 2>/dev/null && continue
		rel=$(grep -E "(^|/)$pat\.ko(\.xz|\.zst|\.gz)?:" "$MODDIR/modules.dep" | head -1 | cut -d: -f1)
		[ -n "$rel" ] || { echo "mkinitramfs: module $m not in $MODDIR/modules.dep" >&2; exit 1; }
		add "$rel"
	done
}
# shellcheck disable=SC2086 # lists of names
carry load-order $MODULES
# shellcheck disable=SC2086
carry deferred-order $DEFERRED

# -f SRC=DEST entries, one per line
echo "$FILES" | while IFS= read -r spec; do
	[ -n "$spec" ] || continue
	src=${spec%%=*}
	dst=${spec#*=}
	[ -e "$src" ] || { echo "mkinitramfs: -f $spec: $src not found" >&2; exit 1; }
	mkdir -p "$R/$(dirname "$dst")"
	cp -rL "$src" "$R/$dst"
done

mkdir -p "$(dirname "$DEST")"
if [ "$COMPRESS" = gzip ]; then
	(cd "$R" && find . | sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) > "$DEST.tmp"
else
	(cd "$R" && find . | sort | cpio -o -H newc -R 0:0 --quiet) > "$DEST.tmp"
fi
mv "$DEST.tmp" "$DEST"
echo "mkinitramfs: $DEST ($(stat -c %s "$DEST") bytes; modules: $(tr '\n' ' ' < "$R/lib/modules/load-order")${DEFERRED:+; deferred: $(tr '\n' ' ' < "$R/lib/modules/deferred-order")})" >&2
