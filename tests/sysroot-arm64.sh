#!/bin/sh
# Unpacks the arm64 libraries a cross build of ptvm links (libfdt, libseccomp for the sandbox,
# and cmocka for the unit tests), and the busybox the arm64 test host and its Linux guest run,
# into a sysroot (DIR/bin/busybox), without installing anything: the packages are downloaded
# through the private apt configuration (tests/apt-private.sh; never dpkg --add-architecture)
# and unpacked with dpkg-deb -x. The C library, its headers and the kernel's UAPI headers (asm/kvm.h for
# arm64) come with the cross toolchain (libc6-dev-arm64-cross, linux-libc-dev-arm64-cross).
#
# usage: tests/sysroot-arm64.sh DIR     (e.g. build/arm64/sysroot; cached: DIR/.stamp)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 1; }
DIR=$1
PKGS="libfdt-dev libfdt1 libcmocka-dev libcmocka0 libseccomp-dev libseccomp2 busybox-static"
[ -e "$DIR/.stamp" ] && [ "$(cat "$DIR/.stamp")" = "$PKGS" ] && exit 0
export APT_PRIVATE=${APT_PRIVATE:-$(pwd)/build/apt}
rm -rf "$DIR"
# shellcheck disable=SC2046
"$HERE/apt-private.sh" unpack "$DIR" $(for p in $PKGS; do echo "$p:arm64"; done) >&2
[ -s "$DIR/usr/lib/aarch64-linux-gnu/libfdt.a" ] || { echo "sysroot-arm64: no libfdt.a in $DIR" >&2; exit 1; }
[ -x "$DIR/bin/busybox" ] || { echo "sysroot-arm64: no bin/busybox in $DIR" >&2; exit 1; }
echo "$PKGS" > "$DIR/.stamp"
echo "sysroot-arm64: $PKGS (arm64) in $DIR" >&2
