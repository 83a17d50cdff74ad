#!/bin/sh
# Fetches a Debian kernel package into a folder without installing it (nothing in /boot or
# /lib/modules changes): the versioned package that the metapackage META depends on is
# downloaded through the private apt configuration (tests/apt-private.sh) and unpacked,
# modules.dep is generated, and on x86 the uncompressed vmlinux is cut out of the bzImage.
# By default this is the Debian 12 cloud kernel: the test host's kernel and the Linux guest
# ptvm boots.
#
# env: OUT      where to unpack (build/testhost/kernel)
#      META     the metapackage (linux-image-cloud-amd64; e.g. linux-image-amd64 for the
#               generic kernel, linux-image-arm64 for arm64)
#      RELEASE  bookworm (default), trixie or bookworm-backports
#      ARCH     amd64 (default) or arm64
# Output:
#   $OUT/release   kernel release, e.g. 6.1.0-57-cloud-amd64 (written last: the cache stamp)
#   $OUT/bzImage   amd64: symlink to boot/vmlinuz-<release>
#   $OUT/vmlinux   amd64: the uncompressed ELF (has the PVH note)
#   $OUT/Image     arm64: symlink to boot/vmlinuz-<release> (a plain, uncompressed Image)
#   $OUT/boot/, $OUT/lib/modules/<release>/  the unpacked package
# A second run finds $OUT/release and does nothing.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-build/testhost/kernel}
META=${META:-linux-image-cloud-amd64}
RELEASE=${RELEASE:-bookworm}
ARCH=${ARCH:-amd64}
APT="$HERE/../apt-private.sh"
export APT_PRIVATE=${APT_PRIVATE:-$(pwd)/build/apt}

case $ARCH in
amd64) [ -s "$OUT/release" ] && [ -s "$OUT/vmlinux" ] && [ -e "$OUT/bzImage" ] && exit 0 ;;
arm64) [ -s "$OUT/release" ] && [ -e "$OUT/Image" ] && exit 0 ;;
*) echo "fetch-kernel: ARCH=$ARCH: amd64 or arm64" >&2; exit 1 ;;
esac
for tool in apt-get apt-cache dpkg-deb depmod lz4 zstd xz od; do
	command -v $tool >/dev/null || { echo "fetch-kernel: '$tool' not found (run tests/install-deps.sh)" >&2; exit 1; }
done

# bookworm is the private configuration's default: no -t, so that bookworm-security and
# bookworm-updates count (-t bookworm would mean the point release only)
TREL=
[ "$RELEASE" = bookworm ] || TREL="-t $RELEASE"
# shellcheck disable=SC2086
PKG=$("$APT" apt-cache $TREL depends "$META:$ARCH" 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*$/\1/p' | head -1)
[ -n "$PKG" ] || { echo "fetch-kernel: cannot resolve the package $META:$ARCH ($RELEASE) depends on" >&2; exit 1; }
REL=${PKG#linux-image-}

rm -rf "$OUT"
echo "fetch-kernel: downloading $PKG:$ARCH ($RELEASE)" >&2
# PKG/RELEASE: the version -t RELEASE chose above (trixie and bookworm-backports are one suite
# each in the private configuration); bookworm goes without, as there
SPEC=$PKG:$ARCH
[ "$RELEASE" = bookworm ] || SPEC=$SPEC/$RELEASE
"$APT" unpack "$OUT" "$SPEC" >&2
BZ=$OUT/boot/vmlinuz-$REL
[ -s "$BZ" ] || { echo "fetch-kernel: $BZ missing from $PKG:$ARCH" >&2; exit 1; }
# trixie's packages keep modules under usr/lib (merged /usr); depmod -b looks in lib/
if [ ! -d "$OUT/lib/modules" ] && [ -d "$OUT/usr/lib/modules" ]; then
	ln -s usr/lib "$OUT/lib"
fi
depmod -b "$OUT" "$REL"

if [ "$ARCH" = arm64 ]; then
	ln -sf "boot/vmlinuz-$REL" "$OUT/Image"
	echo "$REL" > "$OUT/release"
	echo "fetch-kernel: $REL in $OUT (Image $(stat -c %s "$BZ") bytes)" >&2
	exit 0
fi

# The bzImage payload is one compressed stream (LZ4 in Debian 12's kernels, zstd or xz in
# later ones); its magic marks the start, as scripts/extract-vmlinux finds it.
extract() { # $1 magic as grep -P bytes, $2 decompressor
	OFF=$(LC_ALL=C grep -obUaP "$1" "$BZ" | head -1 | cut -d: -f1)
	[ -n "$OFF" ] || return 1
	# decompressors complain about the bytes trailing the stream; the ELF check is what counts
	tail -c +$((OFF + 1)) "$BZ" | $2 > "$OUT/vmlinux.tmp" 2>/dev/null || true
	[ "$(head -c 4 "$OUT/vmlinux.tmp" | od -A n -t x1 | tr -d ' ')" = 7f454c46 ]
}
extract '\x02\x21\x4c\x18' 'lz4 -dc' || extract '\x28\xb5\x2f\xfd' 'zstd -dcq' ||
	extract '\xfd\x37\x7a\x58\x5a\x00' 'xz -dcq' || {
	echo "fetch-kernel: no LZ4, zstd or xz stream in $BZ decompressed to an ELF" >&2
	exit 1
}
mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
ln -sf "boot/vmlinuz-$REL" "$OUT/bzImage"
echo "$REL" > "$OUT/release"
echo "fetch-kernel: $REL in $OUT (bzImage $(stat -c %s "$BZ") bytes, vmlinux $(stat -c %s "$OUT/vmlinux") bytes)" >&2
