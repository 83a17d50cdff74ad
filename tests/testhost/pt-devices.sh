# The test host's devices for the passthrough suite (tests/testhost/suites/passthrough.sh),
# sourced by run.sh (bash). All sit on the q35 root bus behind the intel-iommu, each in an IOMMU
# group of its own, after the two edu devices (so those keep 00:01.0 and 00:02.0):
#   - an NVMe controller (QEMU nvme, serial ptvm-nvme0) on a raw sparse image, PT_NVME_MIB MiB;
#     the test host's built-in nvme driver takes it at boot;
#   - two virtio-net-pci NICs with iommu_platform=on (their DMA goes through the IOMMU),
#     joined by a QEMU hub: 52:54:00:70:74:01 is the one passed through (it also carries a
#     64 KiB expansion ROM, the file rom.bin), 52:54:00:70:74:02 stays with the test host;
#   - ivshmem-plain on a sparse PT_SHM_GIB GiB file (share=on): a 64-bit prefetchable BAR2 of
#     that size, which the test host can read back through sysfs after a guest wrote it.
# The files live in $BUILD/testhost/pt/ and cost no disk until written. TH_PT_DEVICES=0 boots
# the test host without them (to measure what they cost). Sets PT_DEVICES (QEMU arguments) and
# PT_APPEND (kernel parameters that reach the suite: the ROM's sha256).
PT_DIR=$BUILD/testhost/pt
PT_NVME_MIB=${PT_NVME_MIB:-1024}
PT_SHM_GIB=${PT_SHM_GIB:-8}
PT_DEVICES=()
PT_APPEND=

# pt_rom FILE: a 64 KiB PCI expansion ROM image that Linux accepts (55 AA, a PCIR structure
# with vendor/device 1af4:1041, 128 512-byte units, last image), random bytes after the header
pt_rom() {
	{
		printf '\x55\xaa\x80'
		head -c 21 /dev/zero
		printf '\x1c\x00\x00\x00'                 # 0x18: offset of the PCIR structure
		printf 'PCIR\xf4\x1a\x41\x10\x00\x00\x18\x00\x00\x00\x00\x02' # IDs, length 0x18, class 020000
		printf '\x80\x00\x00\x00\x00\x80\x00\x00' # image length 128 x 512, code type 0, last
		head -c $((65536 - 52)) /dev/urandom
	} > "$1.tmp" && mv "$1.tmp" "$1"
}

if [ "${TH_PT_DEVICES:-1}" != 0 ]; then
	mkdir -p "$PT_DIR"
	nvme=$PT_DIR/nvme.img
	shm=$PT_DIR/ivshmem.img
	rom=$PT_DIR/rom.bin
	# sparse files: truncate only grows or shrinks them, the data the suites wrote stays
	[ "$(stat -c %s "$nvme" 2>/dev/null)" = $((PT_NVME_MIB << 20)) ] || truncate -s "${PT_NVME_MIB}M" "$nvme"
	[ "$(stat -c %s "$shm" 2>/dev/null)" = $((PT_SHM_GIB << 30)) ] || truncate -s "${PT_SHM_GIB}G" "$shm"
	[ "$(stat -c %s "$rom" 2>/dev/null)" = 65536 ] || pt_rom "$rom"
	PT_DEVICES=(
		-drive "file=$nvme,if=none,id=ptnvme,format=raw,cache=writeback,discard=unmap"
		-device nvme,drive=ptnvme,serial=ptvm-nvme0
		-netdev hubport,id=ptnet0,hubid=7 -netdev hubport,id=ptnet1,hubid=7
		-device "virtio-net-pci,netdev=ptnet0,mac=52:54:00:70:74:01,iommu_platform=on,disable-legacy=on,romfile=$rom"
		-device virtio-net-pci,netdev=ptnet1,mac=52:54:00:70:74:02,iommu_platform=on,disable-legacy=on,romfile=
		-object "memory-backend-file,id=ptshm,size=${PT_SHM_GIB}G,share=on,mem-path=$shm"
		-device ivshmem-plain,memdev=ptshm
	)
	PT_APPEND="TH_PT_ROM_SHA256=$(sha256sum "$rom" | cut -d' ' -f1)"
fi
