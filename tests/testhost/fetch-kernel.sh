#!/bin/sh
# Fetches the Debian cloud kernel into build/testhost/kernel/ without installing it (nothing in
# /boot or /lib/modules changes): the package that linux-image-cloud-amd64 depends on is
# downloaded and unpacked, modules.dep is generated, and the uncompressed vmlinux is cut out of
# the bzImage. The same kernel is the test host's kernel and the Linux guest ptvm boots.
#
# Output (OUT=build/testhost/kernel by default):
#   $OUT/release   kernel release, e.g. 6.1.0-56-cloud-amd64 (written last: the cache stamp)
#   $OUT/bzImage   symlink to boot/vmlinuz-<release>
#   $OUT/vmlinux   the uncompressed ELF (has the PVH note)
#   $OUT/boot/, $OUT/lib/modules/<release>/  the unpacked package
# A second run finds $OUT/release and does nothing.
set -eu
OUT=${OUT:-build/testhost/kernel}
META=linux-image-cloud-amd64

if [ -s "$OUT/release" ] && [ -s "$OUT/vmlinux" ] && [ -e "$OUT/bzImage" ]; then
	exit 0
fi
for tool in apt-get apt-cache dpkg-deb depmod lz4 od; do
	command -v $tool >/dev/null || { echo "fetch-kernel: '$tool' not found (run tests/install-deps.sh)" >&2; exit 1; }
done

# The metapackage names the versioned kernel package; an empty answer means no package lists yet.
resolve() {
	apt-cache depends "$META" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1
}
PKG=$(resolve)
if [ -z "$PKG" ]; then
	echo "fetch-kernel: $META unknown to apt, running apt-get update" >&2
	apt-get update -q >/dev/null
	PKG=$(resolve)
fi
[ -n "$PKG" ] || { echo "fetch-kernel: cannot resolve the package $META depends on" >&2; exit 1; }
REL=${PKG#linux-image-}

rm -rf "$OUT"
mkdir -p "$OUT/deb"
echo "fetch-kernel: downloading $PKG" >&2
# apt-get download writes into the current directory; as root it warns about the _apt sandbox.
(cd "$OUT/deb" && apt-get download -q "$PKG" 2>&1 | grep -v -e '^W: Download is performed unsandboxed' >&2 || true)
DEB=$(ls "$OUT"/deb/"$PKG"_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || { echo "fetch-kernel: apt-get download $PKG produced no .deb" >&2; exit 1; }
dpkg-deb -x "$DEB" "$OUT"
rm -rf "$OUT/deb"
BZ=$OUT/boot/vmlinuz-$REL
[ -s "$BZ" ] || { echo "fetch-kernel: $BZ missing from $DEB" >&2; exit 1; }
depmod -b "$OUT" "$REL"

# The bzImage payload is one LZ4 legacy-frame stream; its magic 02 21 4c 18 marks the start.
OFF=$(LC_ALL=C grep -obUaP '\x02\x21\x4c\x18' "$BZ" | head -1 | cut -d: -f1)
[ -n "$OFF" ] || { echo "fetch-kernel: no LZ4 stream (02 21 4c 18) in $BZ" >&2; exit 1; }
# lz4 complains about the bytes trailing the stream; the ELF check below is what counts.
tail -c +$((OFF + 1)) "$BZ" | lz4 -dc > "$OUT/vmlinux.tmp" 2>/dev/null || true
if [ "$(head -c 4 "$OUT/vmlinux.tmp" | od -A n -t x1 | tr -d ' ')" != 7f454c46 ]; then
	echo "fetch-kernel: the LZ4 stream at offset $OFF of $BZ did not decompress to an ELF" >&2
	exit 1
fi
mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
ln -sf "boot/vmlinuz-$REL" "$OUT/bzImage"
echo "$REL" > "$OUT/release"
echo "fetch-kernel: $REL in $OUT (bzImage $(stat -c %s "$BZ") bytes, vmlinux $(stat -c %s "$OUT/vmlinux") bytes)" >&2
