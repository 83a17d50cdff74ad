#!/bin/sh
# Fetches QEMU for arm64 (qemu-system-aarch64, Debian's qemu-system-arm:arm64) with every arm64
# shared library it loads, for the arm64 test host's benchmark (tests/testhost/suites/
# bench_arm64.sh): nothing is installed, the packages come through the private apt
# configuration (tests/apt-private.sh) and are unpacked under OUT. The libraries are found by
# following the binaries' DT_NEEDED entries: each soname's package is the one that ships it on
# this (amd64) host, as installed with qemu-system-x86, downloaded for arm64.
#
# usage: tests/bench/fetch-qemu-arm64.sh OUT   (cached: OUT/.stamp)
# Result: OUT/bin/qemu-system-aarch64, OUT/lib/ (ld-linux-aarch64.so.1 and the libraries);
# run it as OUT/lib/ld-linux-aarch64.so.1 --library-path OUT/lib OUT/bin/qemu-system-aarch64.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUT" >&2; exit 1; }
OUT=$1
[ -e "$OUT/.stamp" ] && exit 0
export APT_PRIVATE=${APT_PRIVATE:-$(pwd)/build/apt}
APT="$HERE/../apt-private.sh"
for tool in readelf dpkg-query dpkg-deb; do
	command -v $tool > /dev/null || { echo "fetch-qemu-arm64: $tool not found" >&2; exit 1; }
done
rm -rf "$OUT"
mkdir -p "$OUT/fetched" "$OUT/root" "$OUT/bin" "$OUT/lib"
OUT=$(cd "$OUT" && pwd)

fetch() { # fetch PKG: download PKG:arm64 once and unpack it into root/ (fetched/PKG says so)
	[ -e "$OUT/fetched/$1" ] && return 0
	"$APT" unpack "$OUT/root" "$1:arm64" > /dev/null ||
		{ echo "fetch-qemu-arm64: apt-get download $1:arm64 failed" >&2; exit 1; }
	: > "$OUT/fetched/$1"
}

# a soname's package: the one that has it on this host (same name for arm64)
pkg_of() {
	dpkg-query -S "*/$1" 2> /dev/null | grep -v -e '-dev' -e 'i386' -e '-cross' | head -n 1 |
		sed 's/:.*//; s/, .*//'
}

fetch qemu-system-arm
fetch libc6
todo="$OUT/root/usr/bin/qemu-system-aarch64"
seen=" "
while [ -n "$todo" ]; do
	next=
	for f in $todo; do
		for so in $(readelf -d "$f" 2> /dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
			case "$seen" in *" $so "*) continue ;; esac
			seen="$seen$so "
			lib=$(find "$OUT/root" -name "$so" \( -type f -o -type l \) | head -n 1)
			if [ -z "$lib" ]; then
				p=$(pkg_of "$so")
				[ -n "$p" ] || { echo "fetch-qemu-arm64: no package on this host ships $so" >&2; exit 1; }
				fetch "$p"
				lib=$(find "$OUT/root" -name "$so" \( -type f -o -type l \) | head -n 1)
				[ -n "$lib" ] || { echo "fetch-qemu-arm64: $p:arm64 has no $so" >&2; exit 1; }
			fi
			next="$next $(readlink -f "$lib")"
		done
	done
	todo=$next
done
cp "$OUT/root/usr/bin/qemu-system-aarch64" "$OUT/bin/"
for so in $seen; do
	cp -L "$(find "$OUT/root" -name "$so" \( -type f -o -type l \) | head -n 1)" "$OUT/lib/$so"
done
cp -L "$OUT/root/lib/ld-linux-aarch64.so.1" "$OUT/lib/"
rm -rf "$OUT/root" "$OUT/fetched"
echo "$(ls "$OUT/lib" | wc -l) libraries" > "$OUT/.stamp"
echo "fetch-qemu-arm64: qemu-system-aarch64 and $(ls "$OUT/lib" | wc -l) libraries in $OUT ($(du -sm "$OUT" | cut -f1) MB)" >&2
