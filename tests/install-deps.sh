#!/bin/sh
# Installs the Debian packages ptvm's build, tests and `make run` need; a no-op when all are
# present, so every make target that needs them can call it.
set -e
PKGS="gcc make libc6-dev linux-libc-dev libcmocka-dev acpica-tools qemu-system-x86 \
busybox-static gnuplot-nox cpio clang libclang-rt-14-dev llvm-14 lz4 zstd xz-utils kmod bc e2fsprogs iproute2 \
libseccomp-dev device-tree-compiler qemu-system-arm"
# arm64: natively, libfdt; on x86_64, the cross toolchain (its C library and the arm64 kernel
# headers come with it) and qemu-user for the cross-built unit tests. The arm64 libfdt and
# cmocka of a cross build are unpacked into build/arm64/sysroot (tests/sysroot-arm64.sh).
case $(dpkg --print-architecture) in
arm64) PKGS="$PKGS libfdt-dev" ;;
*) PKGS="$PKGS gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static" ;;
esac
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
