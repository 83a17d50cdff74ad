# Suite "arm64_cli": the arm64 build's bad inputs, on the arm64 test host's real KVM (the rules of
# tests/cli/bad_input.sh: a status from 1 to 127, exactly one line on stderr that says "error"
# and names every culprit, no crash). The kernels of the other architecture first: an x86
# vmlinux and bzImage (their headers, which is all ptvm reads of them) must be named as such, in
# one line with the file; then what only the arm64 machine refuses (its GIC's vCPU limit, its
# 40-bit address space, the x86 options) and the Image checks (compressed, truncated).
# The reverse, an arm64 Image given to the x86 ptvm, is tests/cli/bad_input.sh's.
. /testhost/lib.sh

T=/tmp/arm64-cli
mkdir -p $T
G=/guest/linux

# cli_bad NAME CULPRITS CMD...: CULPRITS is a ';'-separated list the stderr line must contain
cli_bad() {
	name=$1
	culprits=$2
	shift 2
	echo "RUN $name"
	timeout -k 5 30 "$@" < /dev/null > $T/$name.out 2> $T/$name.err
	st=$?
	lines=$(wc -l < $T/$name.err)
	if [ $st -ge 124 ]; then
		th_fail "arm64-cli-$name" "status $st (timeout or signal): $(tail -n 2 $T/$name.err | tr '\n' '|')"
		return
	elif [ $st = 0 ]; then
		th_fail "arm64-cli-$name" "exit status 0 for bad input: $(tr '\n' '|' < $T/$name.err)"
		return
	elif [ "$lines" != 1 ]; then
		th_fail "arm64-cli-$name" "$lines lines on stderr, want 1: $(head -n 3 $T/$name.err | tr '\n' '|')"
		return
	elif ! grep -q error $T/$name.err; then
		th_fail "arm64-cli-$name" "the line does not say error: $(cat $T/$name.err)"
		return
	fi
	rest=$culprits
	while [ -n "$rest" ]; do
		c=${rest%%;*}
		[ "$c" = "$rest" ] && rest= || rest=${rest#*;}
		if ! grep -q -F -- "$c" $T/$name.err; then
			th_fail "arm64-cli-$name" "the error does not name '$c': $(cat $T/$name.err)"
			return
		fi
	done
	th_pass "arm64-cli-$name" "status $st: $(cat $T/$name.err)"
}

# An x86_64 vmlinux's ELF header (e_machine 62) and a bzImage's setup header ("HdrS" at 0x202),
# each in a file of 64 KiB, as the real ones start.
head -c 65536 /dev/zero > $T/vmlinux-x86
printf '\177ELF\002\001\001' | dd of=$T/vmlinux-x86 conv=notrunc 2> /dev/null
printf '\002\000\076\000' | dd of=$T/vmlinux-x86 bs=1 seek=16 conv=notrunc 2> /dev/null
head -c 65536 /dev/zero > $T/bzImage-x86
# boot_flag 0xaa55 at 0x1fe, the jump at 0x200, "HdrS" at 0x202
printf '\125\252\353\146HdrS' | dd of=$T/bzImage-x86 bs=1 seek=510 conv=notrunc 2> /dev/null
# the arm64 Image, gzip-compressed (what /boot/vmlinuz is on some distributions) and cut short
gzip -1 -c $G/Image > $T/Image.gz
head -c 1048576 $G/Image > $T/Image-1M
long=$(head -c 2048 /dev/zero | tr '\0' a)

cli_bad x86-vmlinux "$T/vmlinux-x86;an x86_64 ELF kernel;arm64" ptvm run --kernel $T/vmlinux-x86
cli_bad x86-bzimage "$T/bzImage-x86;an x86 bzImage;arm64" ptvm run --kernel $T/bzImage-x86
cli_bad image-gzip "$T/Image.gz;gzip-compressed" ptvm run --kernel $T/Image.gz
cli_bad image-truncated "$T/Image-1M;truncated" ptvm run --kernel $T/Image-1M
cli_bad kernel-missing "/nonexistent/Image" ptvm run --kernel /nonexistent/Image
cli_bad kernel-directory "$T;not a regular file" ptvm run --kernel $T
cli_bad initrd-missing "initrd;/nonexistent/initrd" ptvm run --kernel $G/Image --initrd /nonexistent/initrd
cli_bad initrd-too-big "initrd;raise --memory" ptvm run --kernel $G/Image --initrd $G/Image --memory 48M
cli_bad cmdline-2048 "--cmdline;2047" ptvm run --kernel $G/Image --cmdline "$long"
cli_bad cpus-above-gic "--cpus;arm64" ptvm run --kernel $G/Image --cpus 124
cli_bad memory-above-ipa "--memory;40-bit" ptvm run --kernel $G/Image --memory 1000G
cli_bad boot-protocol-pvh "--boot-protocol;pvh" ptvm run --kernel $G/Image --boot-protocol pvh
cli_bad debug-exit "--debug-exit" ptvm run --kernel $G/Image --debug-exit
cli_bad iommu-virtio "--iommu virtio;arm64" ptvm run --kernel $G/Image --iommu virtio
rm -rf $T
