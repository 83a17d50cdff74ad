// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the virtio-pci transport driven as a state machine (lib/virtio_pci_fuzz.h)
 * with virtio-blk behind it, its I/O thread live, on a 64-sector disk in a memfd.
 *
 * Device options (machine byte bits 3-7): bit 3 read-only disk, bit 4 a serial number.
 * Host events (op 11): u8 n; the disk file is cut to n sectors (n < 64: I/O past the end
 * fails on the host, as on a disk that shrank under ptvm) or grows back to 64.
 *
 * FUZZ_SOURCES: devices/virtio_pci.c devices/virtio_blk.c devices/virtio.c devices/virtqueue.c
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/virtio_blk.h"
#include "tests/fuzz/lib/virtio_pci_fuzz.h"

#define DISK_SECTORS 64

static int disk_fd = -1;

static void blk_init(void)
{
	disk_fd = memfd_create("ptvm-fuzz-disk", MFD_CLOEXEC);
	if (disk_fd < 0 || ftruncate(disk_fd, DISK_SECTORS * 512))
		fuzz_fail("disk memfd");
}

static int blk_create(struct memmap *mm, uint8_t opts, struct virtio_device **out)
{
	struct virtio_blk_options o = { .readonly = opts & 1 };

	if (ftruncate(disk_fd, DISK_SECTORS * 512))
		fuzz_fail("disk size");
	snprintf(o.path, sizeof(o.path), "/proc/self/fd/%d", disk_fd);
	if (opts & 2)
		snprintf(o.serial, sizeof(o.serial), "fuzz-serial-0123456789");
	return virtio_blk_create(&o, mm, out);
}

static void blk_host_event(struct virtio_device *vdev, struct fuzz_in *in)
{
	unsigned n = fuzz_u8(in) % (DISK_SECTORS + 1);

	if (ftruncate(disk_fd, (off_t)n * 512))
		fuzz_fail("disk resize");
}

static const struct vpf_device blk = {
	.name = "virtio-blk",
	.init = blk_init,
	.create = blk_create,
	.destroy = virtio_blk_destroy,
	.host_event = blk_host_event,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vpf_init(&blk);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return vpf_run(data, size);
}
